"""``FakeDiscord``: a loopback Discord (REST under ``/api/v10`` + gateway websocket) that the
real discord.py 2.7 client logs in to. It holds the world, records every request, and has
switches for faults. REST handlers live in ``rest.py``, the websocket in ``gateway.py``.

It runs in the event loop that calls ``await fake.start()``; the bot may be another process
(it only needs ``api_base`` and ``gateway_url``).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from .gateway import INTENT_GUILDS, PRIVILEGED_INTENTS, Gateway
from .interactions import FakeInteraction, InteractionType
from .ratelimit import RateLimitConfig, RateLimiter
from .records import RecordedRequest
from .rest import RestApi
from .world import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    THREAD_TYPES,
    Channel,
    ChannelType,
    Clock,
    Guild,
    Member,
    Overwrite,
    Perm,
    Role,
    SnowflakeGenerator,
    User,
    channel_payload,
    channel_permissions,
    iso,
    member_payload,
    role_payload,
    snowflake_time,
    user_payload,
)

T = TypeVar("T")

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
NONCE_TTL = 600.0  # seconds of fake time Discord remembers an enforced nonce


@dataclass
class _Rule:
    remaining: int
    path_re: re.Pattern[str] | None
    method: str | None
    status: int = 500
    retry_after: float = 0.0
    scope: str = "user"
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_re is None or bool(self.path_re.search(path))


class FakeDiscord:
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

    # ------------------------------------------------------------------ world setup

    def add_user(self, username: str, *, bot: bool = False, id: int | None = None) -> User:
        user = User(id=id or self.new_id(), username=username, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        id: int | None = None,
        owner: User | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        features: Iterable[str] = (),
    ) -> Guild:
        """A guild the bot is in: @everyone role, the bot's managed role and member, an owner.

        The bot's guild permissions are ``everyone_permissions | bot_permissions``.
        """
        guild_id = id or self.new_id()
        owner = owner or self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        now = self.clock.time()
        guild = Guild(
            id=guild_id, name=name, owner_id=owner.id, features=list(features), joined_at=now
        )
        guild.roles[guild_id] = Role(guild_id, guild_id, "@everyone", everyone_permissions)
        bot_role = Role(
            self.new_id(), guild_id, self.bot_user.username, bot_permissions, position=1,
            managed=True, bot_id=self.bot_user.id,
        )  # fmt: skip
        guild.roles[bot_role.id] = bot_role
        guild.members[owner.id] = Member(owner, guild_id, joined_at=now)
        guild.members[self.bot_user.id] = Member(
            self.bot_user, guild_id, roles=[bot_role.id], joined_at=now
        )
        self.guilds[guild_id] = guild
        return guild

    def add_channel(
        self,
        guild_id: int,
        name: str,
        type: int = ChannelType.TEXT,
        *,
        bot_permissions: int | None = None,
        parent_id: int | None = None,
        topic: str | None = None,
        overwrites: Iterable[Overwrite] = (),
        available_tags: Iterable[dict[str, Any]] = (),
        id: int | None = None,
    ) -> Channel:
        """A guild channel. ``bot_permissions`` makes the bot's permissions in it exactly
        that value (a member overwrite allowing it and denying everything else)."""
        guild = self.guilds[guild_id]
        channel = Channel(
            id=id or self.new_id(),
            guild_id=guild_id,
            name=name,
            type=type,
            position=len(guild.channels),
            parent_id=parent_id,
            topic=topic,
            overwrites=list(overwrites),
            available_tags=[
                {"id": str(t.get("id") or self.new_id()), "name": t["name"], "moderated": False,
                 "emoji_id": None, "emoji_name": None}
                for t in available_tags
            ],
        )  # fmt: skip
        guild.channels[channel.id] = channel
        self._channels[channel.id] = channel
        if bot_permissions is not None:
            self.set_bot_permissions(channel.id, bot_permissions)
        return channel

    def add_role(
        self, guild_id: int, name: str, permissions: int = 0, *, id: int | None = None
    ) -> Role:
        guild = self.guilds[guild_id]
        role = Role(id or self.new_id(), guild_id, name, permissions, position=len(guild.roles))
        guild.roles[role.id] = role
        return role

    def add_member(
        self,
        guild_id: int,
        user: User | str,
        roles: Iterable[Role | int] = (),
        permissions: int | None = None,
        *,
        nick: str | None = None,
    ) -> Member:
        """A guild member. ``permissions`` (if given) replaces the role-derived guild perms."""
        if isinstance(user, str):
            user = self.add_user(user)
        self.users[user.id] = user
        role_ids = [r.id if isinstance(r, Role) else int(r) for r in roles]
        member = Member(
            user, guild_id, roles=role_ids, nick=nick, joined_at=self.clock.time(),
            permissions=permissions,
        )  # fmt: skip
        self.guilds[guild_id].members[user.id] = member
        return member

    def set_bot_permissions(self, channel_id: int, permissions: int | None) -> None:
        """Bot's exact permissions in a channel (``None`` removes the override). Call
        ``await dispatch_channel_update(channel_id)`` to tell a connected bot."""
        channel = self._channels[channel_id]
        channel.overwrites = [
            o for o in channel.overwrites if not (o.type == 1 and o.id == self.bot_user.id)
        ]
        if permissions is not None:
            channel.overwrites.append(
                Overwrite(self.bot_user.id, 1, allow=permissions, deny=Perm.ALL & ~permissions)
            )

    def channel(self, channel_id: int) -> Channel | None:
        return self._channels.get(channel_id)

    def guild_of(self, channel: Channel) -> Guild:
        return self.guilds[channel.guild_id]

    def bot_member(self, guild: Guild) -> Member:
        return guild.members[self.bot_user.id]

    def bot_permissions_in(self, channel_id: int) -> int:
        channel = self._channels[channel_id]
        guild = self.guild_of(channel)
        return channel_permissions(guild, self.bot_member(guild), channel)

    def add_thread(
        self, parent: Channel, name: str, *, id: int | None = None, type: int = 11
    ) -> Channel:
        """Registers a thread channel (used by the REST handlers)."""
        thread = Channel(
            id=id or self.new_id(), guild_id=parent.guild_id, name=name, type=type,
            parent_id=parent.id, owner_id=self.bot_user.id, created_at=self.clock.time(),
        )  # fmt: skip
        self.guilds[parent.guild_id].channels[thread.id] = thread
        self._channels[thread.id] = thread
        return thread

    def advance_time(self, seconds: float) -> None:
        """Moves the fake clock (nonce memory, interaction token expiry, timestamps)."""
        self.clock.advance(seconds)

    # ------------------------------------------------------------------ messages

    def store_message(
        self,
        channel: Channel,
        body: dict[str, Any],
        *,
        message_id: int | None = None,
        extra: dict[str, Any] | None = None,
        ephemeral: bool = False,
    ) -> dict[str, Any]:
        """Builds the bot's message from a request body and stores it."""
        mid = message_id or self.new_id()
        guild = self.guild_of(channel)
        flags = int(body.get("flags") or 0) & ~(1 << 7)
        message: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "author": user_payload(self.bot_user),
            "content": body.get("content") or "",
            "timestamp": iso(snowflake_time(mid)),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [_normalize_embed(e) for e in body.get("embeds") or []],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": flags,
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if channel.type in THREAD_TYPES:
            message["position"] = channel.message_count
        self._apply_mentions(message, body, guild)
        ref = body.get("message_reference")
        if ref:
            message["type"] = 19
            message["message_reference"] = {
                "type": 0, "message_id": str(ref.get("message_id")),
                "channel_id": str(ref.get("channel_id") or channel.id),
                "guild_id": str(guild.id),
            }  # fmt: skip
            referenced = self._messages.get(int(ref.get("message_id") or 0))
            message["referenced_message"] = referenced
        if extra:
            message.update(extra)
        self._messages[mid] = message
        if ephemeral:
            self._ephemeral.add(mid)
        else:
            self._channel_log.setdefault(channel.id, []).append(mid)
            channel.last_message_id = mid
            channel.message_count += 1
        self.notify()
        return message

    def _apply_mentions(self, message: dict[str, Any], body: dict[str, Any], guild: Guild) -> None:
        content = message["content"]
        allowed = body.get("allowed_mentions")
        parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse", []))
        users_allowed = {int(u) for u in (allowed or {}).get("users", [])}
        roles_allowed = {int(r) for r in (allowed or {}).get("roles", [])}
        for uid in dict.fromkeys(int(x) for x in re.findall(r"<@!?(\d+)>", content)):
            if uid in self.users and ("users" in parse or uid in users_allowed):
                entry = user_payload(self.users[uid])
                if uid in guild.members:
                    entry["member"] = member_payload(guild.members[uid], with_user=False)
                message["mentions"].append(entry)
        for rid in dict.fromkeys(int(x) for x in re.findall(r"<@&(\d+)>", content)):
            if rid in guild.roles and ("roles" in parse or rid in roles_allowed):
                message["mention_roles"].append(str(rid))
        if re.search(r"@(everyone|here)", content) and "everyone" in parse:
            member = guild.members.get(self.bot_user.id)
            channel = self._channels[int(message["channel_id"])]
            if (
                member is not None
                and channel_permissions(guild, member, channel) & Perm.MENTION_EVERYONE
            ):
                message["mention_everyone"] = True

    def merged_message(self, message_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """What a stored message becomes after an edit body (not stored yet)."""
        old = self._messages[int(message_id)]
        new = dict(old)
        if "content" in body:
            new["content"] = body["content"] or ""
        if "embeds" in body:
            new["embeds"] = [_normalize_embed(e) for e in body["embeds"] or []]
        if "components" in body:
            new["components"] = body["components"] or []
        if "flags" in body:
            editable = (1 << 2) | (1 << 15)  # SUPPRESS_EMBEDS, IS_COMPONENTS_V2
            new["flags"] = (old["flags"] & ~editable) | (int(body["flags"] or 0) & editable)
        new["flags"] &= ~(1 << 7)  # an edit ends a deferred "thinking" state
        if "content" in body or "allowed_mentions" in body:
            channel = self._channels[int(old["channel_id"])]
            new.update(mentions=[], mention_roles=[], mention_everyone=False)
            self._apply_mentions(new, {"allowed_mentions": body.get("allowed_mentions")} | new,
                                 self.guild_of(channel))  # fmt: skip
        new["edited_timestamp"] = iso(self.clock.time())
        return new

    def replace_message(self, message: dict[str, Any]) -> dict[str, Any]:
        self._messages[int(message["id"])] = message
        self.notify()
        return message

    def get_message(self, message_id: int) -> dict[str, Any] | None:
        """A stored message (ephemeral ones included), ``None`` if unknown or deleted."""
        return self._messages.get(int(message_id))

    def delete_message(self, message_id: int) -> dict[str, Any] | None:
        message = self._messages.pop(int(message_id), None)
        if message is not None:
            self._deleted[int(message_id)] = message
            log = self._channel_log.get(int(message["channel_id"]), [])
            if int(message_id) in log:
                log.remove(int(message_id))
            self.notify()
        return message

    def messages(self, channel_id: int, *, include_ephemeral: bool = False) -> list[dict[str, Any]]:
        """Stored (not deleted) messages of a channel, oldest first."""
        ids = list(self._channel_log.get(int(channel_id), []))
        if include_ephemeral:
            ids += [
                m for m in self._ephemeral
                if m in self._messages and int(self._messages[m]["channel_id"]) == int(channel_id)
            ]  # fmt: skip
            ids.sort()
        return [self._messages[i] for i in ids]

    def deleted_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self._deleted.values() if int(m["channel_id"]) == int(channel_id)]

    def sent_payloads(self, channel_id: int) -> list[Any]:
        """JSON bodies of the 2xx ``POST /channels/{id}/messages`` requests, in order (a
        nonce-deduplicated repeat is listed here but creates no second message)."""
        path = f"/channels/{int(channel_id)}/messages"
        return [
            r.json
            for r in self._requests
            if r.method == "POST" and r.path == path and r.status is not None and r.status < 300
        ]

    def remember_nonce(self, channel_id: int, author_id: int, nonce: str, message_id: int) -> None:
        self._nonces[(channel_id, author_id, nonce)] = (message_id, self.clock.time())

    def recall_nonce(self, channel_id: int, author_id: int, nonce: str) -> int | None:
        found = self._nonces.get((channel_id, author_id, nonce))
        if found is None or self.clock.time() - found[1] > NONCE_TTL:
            return None
        return found[0]

    def is_ephemeral(self, message_id: int) -> bool:
        return int(message_id) in self._ephemeral

    def is_deleted(self, message_id: int) -> bool:
        return int(message_id) in self._deleted

    # ------------------------------------------------------------------ commands

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The commands last synced for a guild (or globally when ``guild_id`` is None)."""
        return list(self._commands.get(guild_id, []))

    def set_commands(
        self, scope: int | None, commands: list[dict[str, Any]], sent: list[dict[str, Any]]
    ) -> None:
        self._commands[scope] = commands
        self.command_syncs.append((scope, sent))
        self.notify()

    def command_id(self, scope: int | None, type: int, name: str) -> int:
        key = (scope, type, name)
        if key not in self._command_ids:
            self._command_ids[key] = self.new_id()
        return self._command_ids[key]

    def find_command(self, name: str, guild_id: int | None) -> dict[str, Any] | None:
        for scope in (guild_id, None):
            for command in self._commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command
        return None

    # ------------------------------------------------------------------ recording

    def record(self, rec: RecordedRequest) -> None:
        self._requests.append(rec)
        self.notify()

    def requests(
        self, method: str | None = None, path_regex: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded REST requests, optionally filtered (``path_regex`` uses ``re.search``)."""
        pattern = re.compile(path_regex) if path_regex else None
        return [
            r
            for r in self._requests
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
        ]

    def notify(self) -> None:
        """Wakes every ``wait_for``; called on any recorded change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        what: str = "",
    ) -> T:
        """Returns ``predicate()`` as soon as it is truthy, re-checking on every change at the
        fake (request, message, gateway payload). Raises ``TimeoutError`` naming the last
        requests. Bot-side effects after its last request (a handler's own state) do not
        wake it: await those with asyncio primitives in the test."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._changed
                    result = predicate()
                    if result:
                        return result
                    await event.wait()
        except TimeoutError:
            recent = "\n".join(f"  {r.method} {r.path} -> {r.status}" for r in self._requests[-10:])
            raise TimeoutError(
                f"FakeDiscord.wait_for({what or 'predicate'}) timed out after {timeout}s; "
                f"last requests:\n{recent or '  (none)'}"
            ) from None

    async def wait_for_request(
        self,
        method: str,
        path_regex: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        answered: bool = True,
    ) -> RecordedRequest:
        """The ``count``-th answered (or, ``answered=False``, arrived) request matching."""

        def done() -> list[RecordedRequest]:
            found = [
                r for r in self.requests(method, path_regex) if r.status is not None or not answered
            ]
            return found if len(found) >= count else []

        found = await self.wait_for(done, timeout, what=f"{method} {path_regex} x{count}")
        return found[count - 1]

    async def wait_for_messages(
        self,
        channel_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Waits until the channel holds at least ``count`` messages; returns them all."""
        return await self.wait_for(
            lambda: self.messages(channel_id) if len(self.messages(channel_id)) >= count else [],
            timeout,
            what=f"{count} message(s) in {channel_id}",
        )

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        path_regex: str | None = None,
        *,
        method: str | None = None,
    ) -> None:
        """The next ``n`` matching requests get ``status`` (after auth, before rate limits).
        Note discord.py retries 500/502/504/524 (sleeping 1 s, 3 s, ...) but not 503."""
        self._fail_rules.append(_Rule(n, _compile(path_regex), method, status=status))

    def rate_limit_burst(
        self,
        n: int = 1,
        retry_after: float = 0.1,
        path_regex: str | None = None,
        *,
        method: str | None = None,
        scope: str = "user",
    ) -> None:
        """The next ``n`` matching requests get a 429 (``scope``: user, global or shared)."""
        self._burst_rules.append(
            _Rule(n, _compile(path_regex), method, status=429, retry_after=retry_after, scope=scope)
        )

    def set_channel_status(self, channel_id: int, status: int | None) -> None:
        """Every ``/channels/{channel_id}...`` request answers 403 (50013) or 404 (10003)."""
        if status is None:
            self._channel_status.pop(int(channel_id), None)
        elif status in (403, 404):
            self._channel_status[int(channel_id)] = status
        else:
            raise ValueError("status must be 403, 404 or None")

    def slow_responses(self, seconds: float, path_regex: str | None = None) -> None:
        """Delays matching requests by ``seconds`` before acting on them; ``seconds=0``
        clears all delays. A request whose client is gone by then is dropped, undone."""
        if seconds <= 0:
            self._slow_rules.clear()
            self._late_rules.clear()
        else:
            self._slow_rules.append(_Rule(-1, _compile(path_regex), None, seconds=seconds))

    def slow_replies(self, seconds: float, path_regex: str | None = None) -> None:
        """Carries out matching requests at once but holds the reply for ``seconds``.

        A client killed meanwhile has had its request done without seeing the answer.
        """
        self._late_rules.append(_Rule(-1, _compile(path_regex), None, seconds=seconds))

    def reply_delay_for(self, method: str, path: str) -> float:
        return sum(r.seconds for r in self._late_rules if r.matches(method, path))

    def clear_faults(self) -> None:
        self._fail_rules.clear()
        self._burst_rules.clear()
        self._slow_rules.clear()
        self._late_rules.clear()
        self._channel_status.clear()

    def delay_for(self, method: str, path: str) -> float:
        """Seconds ``slow_responses`` adds to this request."""
        return sum(r.seconds for r in self._slow_rules if r.matches(method, path))

    def take_burst(self, method: str, path: str) -> _Rule | None:
        return self.take_rule(self._burst_rules, method, path)

    def take_failure(self, method: str, path: str) -> _Rule | None:
        return self.take_rule(self._fail_rules, method, path)

    def take_rule(self, rules: list[_Rule], method: str, path: str) -> _Rule | None:
        for rule in rules:
            if rule.remaining != 0 and rule.matches(method, path):
                if rule.remaining > 0:
                    rule.remaining -= 1
                return rule
        return None

    def channel_status(self, channel_id: int) -> int | None:
        return self._channel_status.get(channel_id)

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

    # ------------------------------------------------------------------ interactions

    def _context(
        self, guild_id: int | None, channel_id: int | None, user: User | None
    ) -> tuple[Guild, Channel, Member]:
        if guild_id is None:
            if channel_id is not None:
                guild_id = self._channels[channel_id].guild_id
            else:
                guild_id = next(iter(self.guilds))
        guild = self.guilds[guild_id]
        if channel_id is None:
            channel_id = next(
                c.id
                for c in guild.channels.values()
                if c.type in (ChannelType.TEXT, ChannelType.ANNOUNCEMENT)
            )
        channel = self._channels[channel_id]
        user = user or self.users[guild.owner_id]
        member = guild.members.get(user.id) or self.add_member(guild.id, user)
        return guild, channel, member

    async def send_interaction(
        self,
        type: int,
        data: dict[str, Any],
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user: User | None = None,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Sends a complete INTERACTION_CREATE with ``data`` as given."""
        if not any(c.session for c in self.gateway.live_connections):
            raise RuntimeError("no identified gateway connection to send the interaction to")
        guild, channel, member = self._context(guild_id, channel_id, user)
        perms = channel_permissions(guild, member, channel)
        interaction_id = self.new_id()
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type,
            "token": f"fake-interaction-{secrets.token_hex(24)}",
            "version": 1,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": guild.locale, "features": guild.features},
            "channel_id": str(channel.id),
            "channel": channel_payload(channel) | {"permissions": str(perms)},
            "member": member_payload(member) | {"permissions": str(perms)},
            "app_permissions": str(self.bot_permissions_in(channel.id)),
            "locale": locale,
            "guild_locale": guild.locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
        }
        if message is not None:
            payload["message"] = message
        interaction = FakeInteraction(self, payload, created_at=self.clock.time())
        self._interactions_by_id[interaction.id] = interaction
        self._interactions_by_token[interaction.token] = interaction
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def send_command(
        self,
        name: str,
        options: dict[str, Any] | list[dict[str, Any]] | None = None,
        *,
        subcommand: str | None = None,
        group: str | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user: User | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A slash command (type 2). ``options`` as ``{name: value}`` (types taken from the
        synced command, else from the value: bool/int/float/str, User, Channel, Role) or as
        raw option dicts. Resolved users/channels/roles are filled in."""
        return await self._command_interaction(
            InteractionType.APPLICATION_COMMAND, name, options, None, subcommand, group,
            guild_id, channel_id, user, locale,
        )  # fmt: skip

    async def send_autocomplete(
        self,
        name: str,
        options: dict[str, Any] | list[dict[str, Any]],
        focused: str,
        *,
        subcommand: str | None = None,
        group: str | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user: User | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """An autocomplete request (type 4) with option ``focused`` marked."""
        return await self._command_interaction(
            InteractionType.AUTOCOMPLETE, name, options, focused, subcommand, group,
            guild_id, channel_id, user, locale,
        )  # fmt: skip

    async def send_component(
        self,
        custom_id: str,
        *,
        message_id: int | None = None,
        channel_id: int | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
        user: User | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A component click/select (type 3) on a stored message (by default the newest
        message in the channel that has a component with ``custom_id``)."""
        message = self._component_message(custom_id, message_id, channel_id)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
            if component_type != 3:  # string selects carry no resolved data on Discord
                data["resolved"] = {}
        return await self.send_interaction(
            InteractionType.MESSAGE_COMPONENT, data, channel_id=int(message["channel_id"]),
            user=user, message=message, locale=locale,
        )  # fmt: skip

    def interaction_by_id(self, interaction_id: int) -> FakeInteraction | None:
        return self._interactions_by_id.get(interaction_id)

    def interaction_by_token(self, token: str) -> FakeInteraction | None:
        return self._interactions_by_token.get(token)

    def _component_message(
        self, custom_id: str, message_id: int | None, channel_id: int | None
    ) -> dict[str, Any]:
        if message_id is not None:
            message = self.get_message(message_id)
            if message is None:
                raise KeyError(f"no stored message {message_id}")
            return message
        candidates = (
            self.messages(channel_id, include_ephemeral=True)
            if channel_id is not None
            else sorted(self._messages.values(), key=lambda m: int(m["id"]))
        )
        for candidate in candidates[::-1]:
            if custom_id in _custom_ids(candidate.get("components") or []):
                return candidate
        raise KeyError(f"no stored message has a component with custom_id {custom_id!r}")

    async def _command_interaction(
        self,
        type: int,
        name: str,
        options: dict[str, Any] | list[dict[str, Any]] | None,
        focused: str | None,
        subcommand: str | None,
        group: str | None,
        guild_id: int | None,
        channel_id: int | None,
        user: User | None,
        locale: str,
    ) -> FakeInteraction:
        guild, channel, member = self._context(guild_id, channel_id, user)
        command = self.find_command(name, guild.id)
        definitions = _option_definitions(command, group, subcommand)
        resolved: dict[str, dict[str, Any]] = {}
        if isinstance(options, list):
            leaf = [dict(o) for o in options]
        else:
            leaf = []
            for opt_name, value in (options or {}).items():
                opt_type = definitions.get(opt_name) or _infer_option_type(value)
                leaf.append(
                    {"name": opt_name, "type": opt_type,
                     "value": self._option_value(value, opt_type, guild, member, resolved)}
                )  # fmt: skip
        for opt in leaf:
            if focused is not None and opt["name"] == focused:
                opt["focused"] = True
        nested: list[dict[str, Any]] = leaf
        if subcommand is not None:
            nested = [{"type": 1, "name": subcommand, "options": nested}]
        if group is not None:
            nested = [{"type": 2, "name": group, "options": nested}]
        scope = guild.id if command is not None and command.get("guild_id") else None
        data: dict[str, Any] = {
            "id": str(command["id"] if command else self.command_id(scope, 1, name)),
            "name": name,
            "type": 1,
            "options": nested,
        }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        return await self.send_interaction(
            type, data, guild_id=guild.id, channel_id=channel.id, user=member.user, locale=locale
        )

    def _option_value(
        self, value: Any, opt_type: int, guild: Guild, member: Member, resolved: dict[str, Any]
    ) -> Any:
        if isinstance(value, User | Channel | Role):
            value = value.id
        if opt_type not in (6, 7, 8, 9):
            return value
        key = str(int(value))
        ident = int(value)
        if opt_type in (6, 9) and ident in self.users:
            resolved.setdefault("users", {})[key] = user_payload(self.users[ident])
            if ident in guild.members:
                resolved.setdefault("members", {})[key] = member_payload(
                    guild.members[ident], with_user=False
                ) | {"permissions": str(channel_permissions(guild, guild.members[ident], None))}
        if opt_type == 7 and ident in self._channels:
            channel = self._channels[ident]
            perms = channel_permissions(guild, member, channel)
            resolved.setdefault("channels", {})[key] = channel_payload(channel) | {
                "permissions": str(perms)
            }
        if opt_type in (8, 9) and ident in guild.roles:
            resolved.setdefault("roles", {})[key] = role_payload(guild.roles[ident])
        return key


def _compile(path_regex: str | None) -> re.Pattern[str] | None:
    return re.compile(path_regex) if path_regex else None


def _normalize_embed(embed: dict[str, Any]) -> dict[str, Any]:
    result = dict(embed)
    result.setdefault("type", "rich")
    return result


def _custom_ids(components: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for comp in components:
        if comp.get("custom_id"):
            found.add(comp["custom_id"])
        found |= _custom_ids(comp.get("components") or [])
    return found


def _option_definitions(
    command: dict[str, Any] | None, group: str | None, subcommand: str | None
) -> dict[str, int]:
    if command is None:
        return {}
    options = command.get("options") or []
    for wanted in (group, subcommand):
        if wanted is None:
            continue
        match = next((o for o in options if o.get("name") == wanted), None)
        options = (match or {}).get("options") or []
    return {o["name"]: int(o["type"]) for o in options if "name" in o and "type" in o}


def _infer_option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, User):
        return 6
    if isinstance(value, Channel):
        return 7
    if isinstance(value, Role):
        return 8
    return 3
