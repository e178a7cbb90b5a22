"""REST side of the fake: one aiohttp handler for ``/api/v10/...`` that records the request,
applies auth, fault switches and rate limits, then calls the route's handler."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .ratelimit import bucket_headers, too_many_headers
from .records import RecordedRequest
from .rest_channels import ChannelRoutes
from .rest_common import (
    ApiError,
    Ctx,
    Reply,
    form_error,
    leaf,
    missing_access,
    missing_permissions,
    unknown_channel,
)
from .rest_interactions import InteractionRoutes
from .world import user_payload

if TYPE_CHECKING:
    from .server import FakeDiscord

JSON_HEADERS = {"Content-Type": "application/json"}  # exactly; discord.py compares it
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout", 524: "A Timeout Occurred"}  # fmt: skip


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
    Route("GET", _C + "/messages/{message_id}", "get_message", True),  # a forum post's link
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


class RestApi(ChannelRoutes, InteractionRoutes):
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
