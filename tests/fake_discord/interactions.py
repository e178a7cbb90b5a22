"""Interactions the fake sent over the gateway, and what the bot answered to them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .messages import MessageStore
from .world import (
    Channel,
    ChannelType,
    Guild,
    Member,
    Role,
    User,
    channel_payload,
    channel_permissions,
    member_payload,
    role_payload,
    user_payload,
)

if TYPE_CHECKING:
    from .gateway import Gateway


ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # announced in every interaction
INTERACTION_TOKEN_TTL = 15 * 60.0  # follow-ups and edits work this long after the interaction


class InteractionType:
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4


class CallbackType:
    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9
    PREMIUM_REQUIRED = 10
    LAUNCH_ACTIVITY = 12


# Which callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    InteractionType.PING: {CallbackType.PONG},
    InteractionType.APPLICATION_COMMAND: {4, 5, 9, 10, 12},
    InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 10, 12},
    InteractionType.AUTOCOMPLETE: {CallbackType.AUTOCOMPLETE_RESULT},
}
# Discord accepts these, the fake does not emulate them (Newsdesk opens no modal, needs no
# premium or activity): answered 400 so that a bot starting to use one notices.
NOT_EMULATED_CALLBACKS = {
    CallbackType.MODAL: "modals",
    CallbackType.PREMIUM_REQUIRED: "premium prompts",
    CallbackType.LAUNCH_ACTIVITY: "activities",
}


@dataclass
class FakeInteraction:
    """One INTERACTION_CREATE sent to the bot, with everything it answered.

    ``callbacks`` holds accepted callback bodies (Discord takes one), ``followups`` the
    bodies POSTed to ``/webhooks/{app}/{token}``, ``original_edits`` the PATCH bodies sent
    to ``.../messages/@original``.
    """

    fake: InteractionDriver
    payload: dict[str, Any]
    created_at: float
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    followup_message_ids: list[int] = field(default_factory=list)
    original_edits: list[dict[str, Any]] = field(default_factory=list)
    original_message_id: int | None = None
    original_loading: bool = False  # a deferred "thinking" message not filled in yet

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def token(self) -> str:
        return str(self.payload["token"])

    @property
    def type(self) -> int:
        return int(self.payload["type"])

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])

    @property
    def acknowledged(self) -> bool:
        return bool(self.callbacks)

    @property
    def original_message(self) -> dict[str, Any] | None:
        if self.original_message_id is None:
            return None
        return self.fake.get_message(self.original_message_id)

    async def response(self, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The callback body (``{"type": ..., "data": ...}``) once the bot has sent it."""
        await self.fake.wait_for(lambda: self.callbacks, timeout, what="interaction callback")
        return self.callbacks[0]

    async def wait_followup(self, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The ``count``-th follow-up body, waiting for it if needed."""
        await self.fake.wait_for(
            lambda: len(self.followups) >= count, timeout, what=f"follow-up #{count}"
        )
        return self.followups[count - 1]


class InteractionDriver(MessageStore):
    """Synced commands and the interactions a test sends to the bot; methods of
    ``FakeDiscord``, which sets the state in its ``__init__``."""

    application_id: int
    gateway: Gateway
    _commands: dict[int | None, list[dict[str, Any]]]  # scope (None: global) -> echoed
    _command_ids: dict[tuple[int | None, int, str], int]
    command_syncs: list[tuple[int | None, list[dict[str, Any]]]]
    _interactions_by_id: dict[int, FakeInteraction]
    _interactions_by_token: dict[str, FakeInteraction]

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
