"""What every REST handler of the fake shares: Discord's error bodies, the request context,
and ``RouteHelpers`` (the channel, permission and message-body checks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .gateway import INTENT_GUILDS
from .validation import is_empty_message, validate_message
from .world import (
    Channel,
    Guild,
    Perm,
    channel_payload,
    channel_permissions,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

EPHEMERAL = 1 << 6
LOADING = 1 << 7
CROSSPOSTED = 1 << 0
HAS_THREAD = 1 << 5


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


class RouteHelpers:
    """Checks shared by the route handlers; ``RestApi`` sets ``fake``."""

    fake: FakeDiscord

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
