"""REST side of the fake: one aiohttp handler for ``/api/v10/...`` that records the request,
applies auth, fault switches and rate limits, then calls the route's handler."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .gateway import INTENT_GUILDS
from .interactions import (
    ALLOWED_CALLBACKS,
    INTERACTION_TOKEN_TTL,
    NOT_EMULATED_CALLBACKS,
    CallbackType,
    FakeInteraction,
    InteractionType,
)
from .ratelimit import bucket_headers, too_many_headers
from .records import RecordedRequest
from .validation import is_empty_message, validate_message
from .world import (
    MESSAGEABLE_TYPES,
    Channel,
    ChannelType,
    Guild,
    Perm,
    channel_payload,
    channel_permissions,
    user_payload,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

JSON_HEADERS = {"Content-Type": "application/json"}  # exactly; discord.py compares it
EPHEMERAL = 1 << 6
LOADING = 1 << 7
CROSSPOSTED = 1 << 0
HAS_THREAD = 1 << 5
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout", 524: "A Timeout Occurred"}  # fmt: skip


class ApiError(Exception):
    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code}
        if errors is not None:
            self.body["errors"] = errors


def form_error(errors: dict[str, Any]) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", errors)


def leaf(code: str, message: str) -> dict[str, Any]:
    """One entry of Discord's ``errors`` tree."""
    return {"_errors": [{"code": code, "message": message}]}


def unknown_channel() -> ApiError:
    return ApiError(404, 10003, "Unknown Channel")


def unknown_message() -> ApiError:
    return ApiError(404, 10008, "Unknown Message")


def missing_access() -> ApiError:
    return ApiError(403, 50001, "Missing Access")


def missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


def empty_message() -> ApiError:
    return ApiError(400, 50006, "Cannot send an empty message")


@dataclass
class Reply:
    status: int
    body: Any = None


@dataclass
class Ctx:
    request: web.Request
    params: dict[str, str]
    body: Any

    @property
    def query(self) -> dict[str, str]:
        return dict(self.request.query)

    def flag(self, name: str) -> bool:
        return self.request.query.get(name, "").lower() in ("1", "true")

    def id(self, name: str) -> int:
        try:
            return int(self.params[name])
        except ValueError:
            message = f'Value "{self.params[name]}" is not snowflake.'
            raise form_error({name: leaf("NUMBER_TYPE_COERCE", message)}) from None

    def json_object(self) -> dict[str, Any]:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise form_error(
                leaf("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            )
        return self.body


@dataclass
class Route:
    method: str
    template: str
    handler: str
    auth: bool  # bot token required (and counted against the global limit)
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        self.regex = re.compile(f"^{pattern}$")

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


_C = "/channels/{channel_id}"
_WH = "/webhooks/{webhook_id}/{webhook_token}"
ROUTES = [
    Route("GET", "/users/@me", "get_me", True),
    Route("GET", "/oauth2/applications/@me", "get_application", True),
    Route("GET", "/gateway/bot", "get_gateway_bot", True),
    Route("PUT", "/applications/{application_id}/commands", "put_commands", True),
    Route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", "put_commands", True),
    Route("GET", _C, "get_channel", True),
    Route("GET", _C + "/messages", "history", True),
    Route("POST", _C + "/messages", "create_message", True),
    Route("PATCH", _C + "/messages/{message_id}", "edit_message", True),
    Route("POST", _C + "/messages/{message_id}/crosspost", "crosspost", True),
    Route("POST", _C + "/messages/{message_id}/threads", "thread_from_message", True),
    Route("POST", _C + "/threads", "create_thread", True),
    Route("POST", "/interactions/{webhook_id}/{webhook_token}/callback", "callback", False),
    Route("POST", _WH, "followup", False),
    Route("PATCH", _WH + "/messages/{message_id}", "edit_webhook_message", False),
]


def json_response(status: int, body: Any, headers: dict[str, str]) -> web.Response:
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status, body=json.dumps(body).encode(), headers=JSON_HEADERS | headers
    )


class UnsupportedBody(Exception):
    """A body the fake does not take (Newsdesk uploads no files)."""


async def read_body(request: web.Request) -> Any:
    """The JSON body; a multipart body (file uploads) is refused, see ``UnsupportedBody``."""
    if request.content_type.startswith("multipart/"):
        raise UnsupportedBody(request.content_type)
    raw = await request.read()
    return json.loads(raw) if raw else None


class RestApi:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    # ------------------------------------------------------------------ plumbing

    async def handle(self, request: web.Request) -> web.Response:
        fake = self.fake
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        path = "/" + request.match_info["tail"]
        rec = RecordedRequest(
            request.method, path, dict(request.query), None, headers, fake.clock.time()
        )
        fake.record(rec)
        status, body, extra = await self._answer(request, rec)
        rec.status, rec.response, rec.response_headers = status, body, extra
        if status == 429:
            fake.rate_limited_count += 1
        fake.notify()
        late = fake.reply_delay_for(request.method, path)
        if late:
            await asyncio.sleep(late)
        return json_response(status, body, extra)

    async def _answer(
        self, request: web.Request, rec: RecordedRequest
    ) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        method, path = request.method, rec.path
        try:
            rec.json = await read_body(request)
        except ValueError:
            return 400, {"message": "The request body contains invalid JSON.", "code": 50109}, {}
        except UnsupportedBody:
            return 400, {"message": "fake Discord: file uploads are not emulated", "code": 0}, {}
        delay = fake.delay_for(method, path)
        if delay:
            await asyncio.sleep(delay)
            if request.transport is None or request.transport.is_closing():
                return 499, {"message": "client closed the request", "code": 0}, {}
        found = next(
            ((r, m) for r in ROUTES if r.method == method and (m := r.regex.match(path))), None
        )
        if found is None:
            return 404, {"message": "404: Not Found", "code": 0}, {}
        route, match = found
        rec.route = route.key
        params = match.groupdict()
        if route.auth and request.headers.get("Authorization") != f"Bot {fake.token}":
            return 401, {"message": "401: Unauthorized", "code": 0}, {}
        rule = fake.take_burst(method, path)
        if rule is not None:
            return self._too_many(rule.retry_after, rule.scope)
        rule = fake.take_failure(method, path)
        if rule is not None:
            reason = REASONS.get(rule.status, "Error")
            return rule.status, {"message": f"{rule.status}: {reason}", "code": 0}, {}
        extra: dict[str, str] = {}
        if fake.rate_limits.enabled:
            if route.auth:
                retry = fake.limiter.check_global()
                if retry is not None:
                    return self._too_many(retry, "global")
            major = "+".join(
                params[k]
                for k in ("channel_id", "guild_id", "webhook_id", "webhook_token")
                if k in params
            )
            state = fake.limiter.hit(route.key, major)
            extra = bucket_headers(state)
            if state.limited:
                status, body, headers = self._too_many(state.reset_after, "user")
                return status, body, extra | headers
        forced = fake.channel_status(int(params["channel_id"])) if "channel_id" in params else None
        if forced == 403:
            return 403, missing_permissions().body, extra
        if forced == 404:
            return 404, unknown_channel().body, extra
        ctx = Ctx(request, params, rec.json)
        try:
            reply: Reply = await getattr(self, route.handler)(ctx)
        except ApiError as exc:
            return exc.status, exc.body, extra
        return reply.status, reply.body, extra

    @staticmethod
    def _too_many(retry_after: float, scope: str) -> tuple[int, Any, dict[str, str]]:
        body = {
            "message": "You are being rate limited.",
            "retry_after": round(retry_after, 3),
            "global": scope == "global",
        }
        return 429, body, too_many_headers(retry_after, scope)

    # ------------------------------------------------------------------ helpers

    def _channel(self, ctx: Ctx) -> tuple[Guild, Channel]:
        channel = self.fake.channel(ctx.id("channel_id"))
        if channel is None:
            raise unknown_channel()
        return self.fake.guild_of(channel), channel

    def _perms(self, guild: Guild, channel: Channel) -> int:
        perms = channel_permissions(guild, self.fake.bot_member(guild), channel)
        if not perms & Perm.VIEW_CHANNEL:
            raise missing_access()
        return perms

    def _message_in(self, channel: Channel, ctx: Ctx) -> dict[str, Any]:
        message_id = ctx.id("message_id")
        message = self.fake.get_message(message_id)
        if message is None or int(message["channel_id"]) != channel.id:
            raise unknown_message()
        if self.fake.is_ephemeral(message_id):  # only reachable through the interaction webhook
            raise unknown_message()
        return message

    def _guild(self, ctx: Ctx) -> Guild:
        guild = self.fake.guilds.get(ctx.id("guild_id"))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    def _check_message_body(self, body: dict[str, Any], prefix: str | None = None) -> None:
        errors = validate_message(body) or {}
        allowed = body.get("allowed_mentions") or {}
        for kind in ("users", "roles"):
            if kind in allowed.get("parse", []) and allowed.get(kind):
                message = f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.'
                errors["allowed_mentions"] = leaf(
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE", message
                )
        if errors:
            raise form_error({prefix: errors} if prefix else errors)
        if is_empty_message(body):
            raise empty_message()

    async def _echo_thread(self, thread: Channel) -> None:
        data = channel_payload(thread) | {"newly_created": True}
        await self.fake.gateway.dispatch("THREAD_CREATE", data, intent=INTENT_GUILDS)

    # ------------------------------------------------------------------ users, app, gateway

    async def get_me(self, ctx: Ctx) -> Reply:
        me = user_payload(self.fake.bot_user)
        return Reply(
            200, me | {"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None}
        )

    async def get_application(self, ctx: Ctx) -> Reply:
        fake = self.fake
        return Reply(
            200,
            {
                "id": str(fake.application_id),
                "name": fake.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": fake.application_flags,
                "owner": user_payload(fake.app_owner),
                "team": None,
                "bot": user_payload(fake.bot_user),
                "rpc_origins": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "tags": [],
                "install_params": None,
                "custom_install_url": None,
                "integration_types_config": {"0": {}},
                "approximate_guild_count": len(fake.guilds),
                "approximate_user_install_count": 0,
                "hook": True,
            },
        )

    async def get_gateway_bot(self, ctx: Ctx) -> Reply:
        limit = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
        return Reply(200, {"url": self.fake.gateway_url, "shards": 1, "session_start_limit": limit})

    # ------------------------------------------------------------------ application commands

    def _command_scope(self, ctx: Ctx) -> int | None:
        if ctx.id("application_id") != self.fake.application_id:
            raise missing_access()
        if "guild_id" in ctx.params:
            return self._guild(ctx).id
        return None

    async def put_commands(self, ctx: Ctx) -> Reply:
        fake = self.fake
        scope = self._command_scope(ctx)
        body = ctx.body
        if not isinstance(body, list):
            raise form_error(leaf("BASE_TYPE_ARRAY", "Must be an array."))
        errors: dict[str, Any] = {}
        seen: set[tuple[int, str]] = set()
        for index, command in enumerate(body):
            problems = _command_errors(command, seen)
            if problems:
                errors[str(index)] = problems
        counts = {t: sum(1 for c in body if c.get("type", 1) == t) for t in (1, 2, 3)}
        if counts[1] > 100 or counts[2] > 15 or counts[3] > 15:
            too_many = leaf("APPLICATION_COMMANDS_TOO_MANY", "Too many application commands.")
            errors.update(too_many)
        if errors:
            raise form_error(errors)
        previous = {(c["type"], c["name"]): c for c in fake.commands(scope)}
        echoed = []
        for command in body:
            ctype = command.get("type", 1)
            result: dict[str, Any] = {
                "id": str(fake.command_id(scope, ctype, command["name"])),
                "application_id": str(fake.application_id),
                "version": "",
                "type": ctype,
                "name": command["name"],
                "description": command.get("description", ""),
                "default_member_permissions": command.get("default_member_permissions"),
                "nsfw": command.get("nsfw", False),
                "name_localizations": command.get("name_localizations"),
                "description_localizations": command.get("description_localizations"),
                "contexts": command.get("contexts"),
                "integration_types": command.get("integration_types", [0]),
            }
            if scope is None:
                result["dm_permission"] = command.get("dm_permission", True)
            else:
                result["guild_id"] = str(scope)
            if command.get("options"):
                result["options"] = json.loads(json.dumps(command["options"]))
            old = previous.get((ctype, command["name"]))
            same = old is not None and {**old, "version": ""} == result
            result["version"] = old["version"] if same and old else str(fake.new_id())
            echoed.append(result)
        fake.set_commands(scope, echoed, body)
        return Reply(200, echoed)

    # ------------------------------------------------------------------ channels and messages

    async def get_channel(self, ctx: Ctx) -> Reply:
        guild, channel = self._channel(ctx)
        self._perms(guild, channel)
        return Reply(200, channel_payload(channel))

    def _require_send(self, guild: Guild, channel: Channel) -> int:
        perms = self._perms(guild, channel)
        if channel.type not in MESSAGEABLE_TYPES:
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        needed = Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
        if not perms & needed:
            raise missing_permissions()
        return perms

    async def history(self, ctx: Ctx) -> Reply:
        guild, channel = self._channel(ctx)
        perms = self._perms(guild, channel)
        try:
            limit = int(ctx.query.get("limit", 50))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise form_error(
                {"limit": leaf("NUMBER_TYPE_MAX", "int value should be less than or equal to 100.")}
            )
        if not perms & Perm.READ_MESSAGE_HISTORY:
            return Reply(200, [])
        messages = self.fake.messages(channel.id)  # oldest first
        query = ctx.query
        if "around" in query:
            around = int(query["around"])
            older = [m for m in messages if int(m["id"]) <= around][-(limit - limit // 2) :]
            newer = [m for m in messages if int(m["id"]) > around][: limit // 2]
            page = older + newer
        elif "after" in query:
            page = [m for m in messages if int(m["id"]) > int(query["after"])][:limit]
        else:
            if "before" in query:
                messages = [m for m in messages if int(m["id"]) < int(query["before"])]
            page = messages[-limit:]
        return Reply(200, list(reversed(page)))

    async def create_message(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        perms = self._require_send(guild, channel)
        body = ctx.json_object()
        self._check_message_body(body)
        if body.get("embeds") and not perms & Perm.EMBED_LINKS:
            raise missing_permissions()
        ref = body.get("message_reference")
        if (
            ref
            and ref.get("fail_if_not_exists", True)
            and fake.get_message(int(ref.get("message_id") or 0)) is None
        ):
            raise form_error(
                {"message_reference": leaf("MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")}
            )
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            earlier = fake.recall_nonce(channel.id, fake.bot_user.id, str(nonce))
            if earlier is not None:
                if fake.is_deleted(earlier):
                    raise unknown_message()
                return Reply(200, fake.get_message(earlier))
        message = fake.store_message(channel, body)
        if nonce is not None:
            fake.remember_nonce(channel.id, fake.bot_user.id, str(nonce), int(message["id"]))
        return Reply(200, message)

    async def edit_message(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        self._perms(guild, channel)
        message = self._message_in(channel, ctx)
        body = ctx.json_object()
        errors = validate_message(body)
        if errors:
            raise form_error(errors)
        merged = fake.merged_message(int(message["id"]), body)
        if is_empty_message(merged):
            raise empty_message()
        fake.replace_message(merged)
        return Reply(200, merged)

    async def crosspost(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        perms = self._perms(guild, channel)
        if channel.type != ChannelType.ANNOUNCEMENT:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        message = self._message_in(channel, ctx)
        if not perms & Perm.SEND_MESSAGES:  # the bot's own message (others need MANAGE_MESSAGES)
            raise missing_permissions()
        if message["flags"] & CROSSPOSTED:
            raise ApiError(400, 40033, "This message has already been crossposted.")
        message["flags"] |= CROSSPOSTED
        fake.crossposted.append(int(message["id"]))
        fake.notify()
        return Reply(200, message)

    def _thread_name(self, body: dict[str, Any]) -> str:
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise form_error(
                {"name": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")}
            )
        return name

    def _archive_duration(self, body: dict[str, Any]) -> int:
        duration = body.get("auto_archive_duration") or 1440
        if duration not in (60, 1440, 4320, 10080):
            raise form_error(
                {
                    "auto_archive_duration": leaf(
                        "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}."
                    )
                }
            )
        return int(duration)

    async def thread_from_message(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        perms = self._perms(guild, channel)
        if channel.type not in (ChannelType.TEXT, ChannelType.ANNOUNCEMENT):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        message = self._message_in(channel, ctx)
        if not perms & Perm.CREATE_PUBLIC_THREADS:
            raise missing_permissions()
        if message["flags"] & HAS_THREAD:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        body = ctx.json_object()
        kind = (
            ChannelType.ANNOUNCEMENT_THREAD
            if channel.type == ChannelType.ANNOUNCEMENT
            else ChannelType.PUBLIC_THREAD
        )
        thread = fake.add_thread(channel, self._thread_name(body), id=int(message["id"]), type=kind)
        thread.auto_archive_duration = self._archive_duration(body)
        message["flags"] |= HAS_THREAD
        message["thread"] = channel_payload(thread)
        fake.notify()
        await self._echo_thread(thread)
        return Reply(201, channel_payload(thread))

    async def create_thread(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        perms = self._perms(guild, channel)
        body = ctx.json_object()
        if channel.type in (ChannelType.FORUM, ChannelType.MEDIA):
            if not perms & Perm.SEND_MESSAGES:
                raise missing_permissions()
            name = self._thread_name(body)
            duration = self._archive_duration(body)
            first = body.get("message")
            if not isinstance(first, dict):
                raise form_error({"message": leaf("BASE_TYPE_REQUIRED", "This field is required")})
            self._check_message_body(first, prefix="message")
            if first.get("embeds") and not perms & Perm.EMBED_LINKS:
                raise missing_permissions()
            known_tags = {t["id"] for t in channel.available_tags}
            tags = [str(t) for t in body.get("applied_tags") or []]
            if any(t not in known_tags for t in tags):
                raise form_error({"applied_tags": leaf("FORUM_TAG_UNKNOWN", "Unknown tag")})
            thread = fake.add_thread(channel, name)
            thread.auto_archive_duration = duration
            thread.applied_tags = [int(t) for t in tags]
            starter = fake.store_message(thread, first, message_id=thread.id)
            channel.last_message_id = thread.id
            await self._echo_thread(thread)
            return Reply(201, channel_payload(thread) | {"message": starter})
        if channel.type not in (ChannelType.TEXT, ChannelType.ANNOUNCEMENT):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        kind = int(body.get("type") or ChannelType.PRIVATE_THREAD)
        needed = (
            Perm.CREATE_PRIVATE_THREADS
            if kind == ChannelType.PRIVATE_THREAD
            else Perm.CREATE_PUBLIC_THREADS
        )
        if not perms & needed:
            raise missing_permissions()
        thread = fake.add_thread(channel, self._thread_name(body), type=kind)
        thread.auto_archive_duration = self._archive_duration(body)
        await self._echo_thread(thread)
        return Reply(201, channel_payload(thread))

    # ------------------------------------------------------------------ interactions

    def _interaction_extra(self, inter: FakeInteraction) -> dict[str, Any]:
        fake = self.fake
        user = inter.payload["member"]["user"]
        meta: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user,
            "authorizing_integration_owners": inter.payload["authorizing_integration_owners"],
        }
        extra: dict[str, Any] = {
            "webhook_id": str(fake.application_id),
            "application_id": str(fake.application_id),
            "interaction_metadata": meta,
            "type": 20 if inter.type == InteractionType.APPLICATION_COMMAND else 0,
        }
        if inter.type == InteractionType.APPLICATION_COMMAND:
            meta["name"] = inter.payload["data"]["name"]
            extra["interaction"] = {
                "id": str(inter.id),
                "type": inter.type,
                "name": meta["name"],
                "user": user,
            }
        return extra

    async def callback(self, ctx: Ctx) -> Reply:
        fake = self.fake
        inter = fake.interaction_by_id(ctx.id("webhook_id"))
        if inter is None or inter.token != ctx.params["webhook_token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        if inter.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if fake.clock.time() - inter.created_at > fake.interaction_ack_timeout:
            raise ApiError(404, 10062, "Unknown interaction")
        body = ctx.json_object()
        cb_type = body.get("type")
        if cb_type not in ALLOWED_CALLBACKS.get(inter.type, set()):
            raise form_error(
                {
                    "type": leaf(
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Interaction response type {cb_type} is not valid for this interaction.",
                    )
                }
            )
        if cb_type in NOT_EMULATED_CALLBACKS:
            reason = f"fake Discord: {NOT_EMULATED_CALLBACKS[cb_type]} are not emulated"
            raise ApiError(400, 0, reason)
        data = body.get("data") or {}
        channel = fake.channel(inter.channel_id)
        assert channel is not None
        message: dict[str, Any] | None = None
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        if cb_type == CallbackType.CHANNEL_MESSAGE:
            self._check_message_body(data, prefix="data")
            extra = self._interaction_extra(inter)
            message = fake.store_message(channel, data, extra=extra, ephemeral=ephemeral)
            inter.original_message_id = int(message["id"])
        elif cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            extra = self._interaction_extra(inter) | {
                "flags": LOADING | (EPHEMERAL if ephemeral else 0)
            }
            message = fake.store_message(channel, {}, extra=extra, ephemeral=ephemeral)
            inter.original_message_id = int(message["id"])
            inter.original_loading = True
        elif cb_type in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            source = inter.payload.get("message")
            if source is None:
                raise ApiError(400, 50035, "Invalid Form Body")
            inter.original_message_id = int(source["id"])
            if cb_type == CallbackType.UPDATE_MESSAGE:
                errors = validate_message(data)
                if errors:
                    raise form_error({"data": errors})
                message = fake.replace_message(fake.merged_message(int(source["id"]), data))
        elif cb_type == CallbackType.AUTOCOMPLETE_RESULT:
            choices = data.get("choices") or []
            if len(choices) > 25 or any(
                not 1 <= len(str(c.get("name", ""))) <= 100 for c in choices
            ):
                raise form_error(
                    {
                        "data": {
                            "choices": leaf(
                                "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                            )
                        }
                    }
                )
        inter.callbacks.append(body)
        fake.notify()
        if not ctx.flag("with_response"):
            return Reply(204)
        info: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        result: dict[str, Any] = {"interaction": info}
        if message is not None:
            info.update(
                response_message_id=message["id"],
                response_message_loading=cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE,
                response_message_ephemeral=ephemeral,
            )
            result["resource"] = {"type": cb_type, "message": message}
        return Reply(200, result)

    def _webhook_interaction(self, ctx: Ctx) -> FakeInteraction:
        fake = self.fake
        inter = fake.interaction_by_token(ctx.params["webhook_token"])
        if ctx.id("webhook_id") != fake.application_id or inter is None or not inter.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        if fake.clock.time() - inter.created_at > INTERACTION_TOKEN_TTL:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return inter

    async def followup(self, ctx: Ctx) -> Reply:
        fake = self.fake
        inter = self._webhook_interaction(ctx)
        body = ctx.json_object()
        self._check_message_body(body)
        original = inter.original_message
        if inter.original_loading and original is not None:
            # The first follow-up after a deferred response fills in the "thinking" message.
            flags = int(body.get("flags") or 0) & ~EPHEMERAL
            message = fake.merged_message(int(original["id"]), body | {"flags": flags})
            message["flags"] |= original["flags"] & EPHEMERAL
            message["edited_timestamp"] = None
            fake.replace_message(message)
            inter.original_loading = False
        else:
            channel = fake.channel(inter.channel_id)
            assert channel is not None
            ephemeral = bool(int(body.get("flags") or 0) & EPHEMERAL)
            extra = self._interaction_extra(inter)
            message = fake.store_message(channel, body, extra=extra, ephemeral=ephemeral)
        inter.followups.append(body)
        inter.followup_message_ids.append(int(message["id"]))
        fake.notify()
        return Reply(200, message) if ctx.flag("wait") else Reply(204)

    def _webhook_target(self, inter: FakeInteraction, ctx: Ctx) -> int:
        raw = ctx.params["message_id"]
        if raw == "@original":
            target = inter.original_message_id
        else:
            target = ctx.id("message_id")
            if target not in inter.followup_message_ids and target != inter.original_message_id:
                target = None
        if target is None or self.fake.get_message(target) is None:
            raise unknown_message()
        return target

    async def edit_webhook_message(self, ctx: Ctx) -> Reply:
        fake = self.fake
        inter = self._webhook_interaction(ctx)
        target = self._webhook_target(inter, ctx)
        body = ctx.json_object()
        errors = validate_message(body)
        if errors:
            raise form_error(errors)
        merged = fake.merged_message(target, body)
        if is_empty_message(merged):
            raise empty_message()
        fake.replace_message(merged)
        if target == inter.original_message_id:
            inter.original_edits.append(body)
            inter.original_loading = False
        fake.notify()
        return Reply(200, merged)


def _command_errors(command: Any, seen: set[tuple[int, str]]) -> dict[str, Any]:
    if not isinstance(command, dict):
        return leaf("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    errors: dict[str, Any] = {}
    ctype = command.get("type", 1)
    name = command.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        errors["name"] = leaf("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
    elif ctype == 1 and (not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower()):
        errors["name"] = leaf("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    elif (ctype, name) in seen:
        errors["name"] = leaf(
            "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
        )
    else:
        seen.add((ctype, name))
    description = command.get("description", "")
    if ctype == 1 and not 1 <= len(description or "") <= 100:
        errors["description"] = leaf("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
    if ctype in (2, 3) and description:
        errors["description"] = leaf(
            "APPLICATION_COMMAND_DESCRIPTION_NOT_ALLOWED",
            "Context menu commands cannot have description",
        )
    if len(command.get("options") or []) > 25:
        errors["options"] = leaf("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    return errors
