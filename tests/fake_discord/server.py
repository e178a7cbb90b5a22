"""``FakeDiscord``: a loopback Discord (REST under ``/api/v10`` + gateway websocket) that the
real discord.py 2.7 client logs in to. It holds the world, records every request, and has
switches for faults. REST handlers live in ``rest.py``, the websocket in ``gateway.py``;
the methods tests call come from one class per concern (``world_setup.py``,
``messages.py``, ``recording.py``, ``faults.py``, ``interactions.py``).

It runs in the event loop that calls ``await fake.start()``; the bot may be another process
(it only needs ``api_base`` and ``gateway_url``).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web

from .faults import Faults, _Rule
from .gateway import INTENT_GUILDS, MAX_GUILDS_PER_SESSION, PRIVILEGED_INTENTS, Gateway
from .interactions import FakeInteraction, InteractionDriver
from .ratelimit import RateLimitConfig, RateLimiter
from .records import RecordedRequest
from .rest import RestApi
from .world import (
    Channel,
    Clock,
    Guild,
    SnowflakeGenerator,
    User,
    channel_payload,
)


class FakeDiscord(InteractionDriver, Faults):
    """A fake Discord for one bot. See the module docstring and ``README.md`` beside it."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_name: str = "Newsdesk",
        application_id: int | None = None,
        heartbeat_interval_ms: int = 41250,
        rate_limits: RateLimitConfig | None = None,
        allowed_privileged_intents: int = PRIVILEGED_INTENTS,
        interaction_ack_timeout: float = 3.0,
    ) -> None:
        self.clock = Clock()
        self.new_id = SnowflakeGenerator(self.clock)
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.allowed_privileged_intents = allowed_privileged_intents
        self.interaction_ack_timeout = interaction_ack_timeout
        # a session (a shard, or an unsharded connection) holding more guilds is refused
        # with 4011, as Discord refuses one past 2,500; tests lower it
        self.max_guilds_per_session = MAX_GUILDS_PER_SESSION
        self.application_id = application_id or self.new_id()
        self.application_flags = 0
        self.bot_user = User(id=self.application_id, username=bot_name, bot=True)
        self.app_owner = User(id=self.new_id(), username="app-owner")
        self.users: dict[int, User] = {u.id: u for u in (self.bot_user, self.app_owner)}
        self.guilds: dict[int, Guild] = {}
        self._channels: dict[int, Channel] = {}

        # messages: payloads by id, ids per channel in creation order
        self._messages: dict[int, dict[str, Any]] = {}
        self._channel_log: dict[int, list[int]] = {}
        self._deleted: dict[int, dict[str, Any]] = {}
        self._ephemeral: set[int] = set()
        self._nonces: dict[tuple[int, int, str], tuple[int, float]] = {}
        self.crossposted: list[int] = []

        # commands: scope (None = global, else guild id) -> echoed commands
        self._commands: dict[int | None, list[dict[str, Any]]] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self.command_syncs: list[tuple[int | None, list[dict[str, Any]]]] = []

        self._interactions_by_id: dict[int, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}

        self._requests: list[RecordedRequest] = []
        self._fail_rules: list[_Rule] = []
        self._burst_rules: list[_Rule] = []
        self._slow_rules: list[_Rule] = []
        self._late_rules: list[_Rule] = []
        self._channel_status: dict[int, int] = {}
        self.rate_limits = rate_limits or RateLimitConfig()
        self.limiter = RateLimiter(self.rate_limits)
        self.rate_limited_count = 0  # 429s answered (limits and bursts)

        self.gateway = Gateway(self)
        self.rest = RestApi(self)
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeDiscord:
        """Binds 127.0.0.1 on a free port and starts serving in the running loop."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/v10/{tail:.*}", self.rest.handle)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway/resume", self.gateway.handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        """Closes every gateway socket (code 1001) and stops the HTTP server."""
        await self.gateway.close_all(1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (wrap in yarl.URL)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """What READY announces; a distinct path so tests can tell resumes apart."""
        return f"ws://127.0.0.1:{self.port}/gateway/resume"

    # ------------------------------------------------------------------ gateway

    @property
    def identify_count(self) -> int:
        return self.gateway.identify_count

    @property
    def resume_count(self) -> int:
        return self.gateway.resume_count

    @property
    def connection_count(self) -> int:
        return self.gateway.connection_count

    @property
    def identified_shards(self) -> list[list[int] | None]:
        """The ``shard`` of each IDENTIFY the fake accepted, in order (None: unsharded)."""
        return [s.shard for s in self.gateway.sessions.values()]

    @property
    def gateway_received(self) -> list[dict[str, Any]]:
        """Payloads the clients sent on the gateway (tokens masked)."""
        return self.gateway.received

    async def dispatch_channel_update(self, channel_id: int) -> None:
        channel = self._channels[channel_id]
        event = "THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE"
        await self.gateway.dispatch(event, channel_payload(channel), intent=INTENT_GUILDS)

    async def close_gateway(self, code: int | None = None, *, invalidate: bool = False) -> None:
        """Drops every gateway connection with ``code`` (default 4000: the client RESUMEs;
        ``invalidate=True`` forgets the sessions so RESUME gets op 9 and it re-IDENTIFYs)."""
        await self.gateway.close_all(4000 if code is None else code, invalidate=invalidate)
