"""Interactions the fake sent over the gateway, and what the bot answered to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import FakeDiscord


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

    fake: FakeDiscord
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
