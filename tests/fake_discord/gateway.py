"""The fake gateway websocket: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats,
RESUME with replay, zlib-stream compression, op 7 / op 9 and server-side closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .world import guild_create_payload, user_payload

if TYPE_CHECKING:
    from .server import FakeDiscord

log = logging.getLogger(__name__)

PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
INTENT_GUILDS = 1 << 0
REPLAY_BUFFER = 1000
MAX_GUILDS_PER_SESSION = 2500  # Discord's: a session that would hold more is closed 4011
INVALID_SHARD = 4010
SHARDING_REQUIRED = 4011


def shard_of(guild_id: int, shard_count: int) -> int:
    """Discord's formula: the shard whose session receives the guild's events."""
    return (guild_id >> 22) % shard_count


def valid_shard(shard: Any) -> bool:
    """``[shard_id, shard_count]`` with ``0 <= shard_id < shard_count``."""
    return (
        isinstance(shard, list)
        and len(shard) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
        and 0 <= shard[0] < shard[1]
    )


@dataclass
class GatewaySession:
    id: str
    intents: int
    shard: list[int] | None
    seq: int = 0
    invalid: bool = False
    buffer: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REPLAY_BUFFER))
    conn: GatewayConnection | None = None

    def wants_guild(self, guild_id: int) -> bool:
        if not self.shard:
            return True
        shard_id, count = self.shard
        return shard_of(guild_id, count) == shard_id


class GatewayConnection:
    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._lock = asyncio.Lock()
        self.session: GatewaySession | None = None

    @property
    def open(self) -> bool:
        return not self.ws.closed

    async def send(self, payload: dict[str, Any]) -> bool:
        """Sends one gateway payload; ``False`` when the socket is gone."""
        raw = json.dumps(payload, separators=(",", ":")).encode()
        async with self._lock:
            if self.ws.closed:
                return False
            try:
                if self._zlib is not None:
                    data = self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(raw.decode())
            except (ConnectionError, RuntimeError):
                return False
        return True

    async def close(self, code: int) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code)


class Gateway:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[GatewayConnection] = []
        self.received: list[dict[str, Any]] = []  # every payload clients sent (tokens masked)
        self.identify_count = 0
        self.resume_count = 0
        self.connection_count = 0
        self.heartbeat_count = 0

    # ------------------------------------------------------------------ public helpers

    @property
    def live_connections(self) -> list[GatewayConnection]:
        return [c for c in self.connections if c.open]

    async def dispatch(self, event: str, data: dict[str, Any], *, intent: int | None = None) -> int:
        """Sends a DISPATCH to every valid session (buffered for RESUME when disconnected).

        With ``intent``, sessions that did not identify with that intent are skipped.
        Returns how many live connections got it.
        """
        delivered = 0
        for session in list(self.sessions.values()):
            if session.invalid or (intent is not None and not session.intents & intent):
                continue
            guild_id = data.get("guild_id") if isinstance(data, dict) else None
            if guild_id is not None and not session.wants_guild(int(guild_id)):
                continue
            if await self.dispatch_to(session, event, data):
                delivered += 1
        return delivered

    async def close_all(self, code: int, *, invalidate: bool = False) -> None:
        for conn in self.live_connections:
            if invalidate and conn.session is not None:
                conn.session.invalid = True
            await conn.close(code)
        if invalidate:
            for session in self.sessions.values():
                session.invalid = True

    # ------------------------------------------------------------------ websocket handler

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        compress = request.query.get("compress")
        conn = GatewayConnection(ws, compress)
        self.connections.append(conn)
        self.connection_count += 1
        self.fake.notify()
        try:
            if request.query.get("v", "10") != "10":
                await conn.close(4012)
                return ws
            await conn.send(
                {
                    "op": 10,
                    "d": {"heartbeat_interval": self.fake.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                }
            )
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    try:
                        payload = json.loads(msg.data)
                    except ValueError:
                        await conn.close(4002)
                        break
                    await self._on_payload(conn, payload)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            log.debug("gateway connection closed (%s)", ws.close_code)
            self.fake.notify()
        return ws

    async def _on_payload(self, conn: GatewayConnection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        data = payload.get("d")
        self.received.append(_masked(payload))
        self.fake.notify()
        if op == 1:
            self.heartbeat_count += 1
            await conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif conn.session is None:
            await conn.close(4003)  # Not authenticated
        elif op in (3, 4):
            pass  # presence / voice state updates are only recorded
        else:
            await conn.close(4001)  # Unknown opcode

    async def _identify(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        fake = self.fake
        if conn.session is not None:
            await conn.close(4005)  # Already authenticated
            return
        if data.get("token") != fake.token:
            await conn.close(4004)  # Authentication failed
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await conn.close(4013)  # Invalid intent(s)
            return
        if intents & PRIVILEGED_INTENTS & ~fake.allowed_privileged_intents:
            await conn.close(4014)  # Disallowed intent(s)
            return
        shard = data.get("shard")
        if shard is not None and not valid_shard(shard):
            await conn.close(INVALID_SHARD)
            return
        session = GatewaySession(id=secrets.token_hex(16), intents=intents, shard=shard)
        guilds = [g for g in fake.guilds.values() if session.wants_guild(g.id)]
        if len(guilds) > fake.max_guilds_per_session:
            await conn.close(SHARDING_REQUIRED)
            return
        self.identify_count += 1
        session.conn = conn
        conn.session = session
        self.sessions[session.id] = session
        ready: dict[str, Any] = {
            "v": 10,
            "user": user_payload(fake.bot_user) | {"verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": fake.resume_gateway_url,
            "application": {"id": str(fake.application_id), "flags": fake.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ['["fake-discord-gateway",{"micros":0}]'],
        }
        if session.shard:
            ready["shard"] = session.shard
        await self.dispatch_to(session, "READY", ready)
        for guild in guilds:
            await self.dispatch_to(session, "GUILD_CREATE", guild_create_payload(guild))
        fake.notify()

    async def _resume(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if data.get("token") != self.fake.token:
            await conn.close(4004)
            return
        if session is None or session.invalid:
            await conn.send({"op": 9, "d": False, "s": None, "t": None})
            return
        if session.conn is not None and session.conn is not conn:
            await session.conn.close(4000)
        session.conn = conn
        conn.session = session
        last_seq = data.get("seq") or 0
        for payload in list(session.buffer):
            if payload["s"] > last_seq and not await conn.send(payload):
                return
        self.resume_count += 1
        await self.dispatch_to(session, "RESUMED", {"_trace": ["fake-discord-gateway"]})
        self.fake.notify()

    async def dispatch_to(self, session: GatewaySession, event: str, data: Any) -> bool:
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.buffer.append(payload)
        conn = session.conn
        if conn is None or not conn.open:
            return False
        return await conn.send(payload)


def _masked(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("d")
    if isinstance(data, dict) and "token" in data:
        return payload | {"d": data | {"token": "***"}}
    return payload
