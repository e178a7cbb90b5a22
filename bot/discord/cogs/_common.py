"""What the moderators' cogs share: the acting moderator and the mod-log.

Replies to an interaction and its errors are :mod:`bot.discord.ui`'s (the review buttons
use them too)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import discord

from bot.config.settings import Settings
from bot.desk.moderation import Actor, Record
from bot.render.replies import mod_log_line

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[None]]


def actor_for(
    interaction: discord.Interaction,
    settings: Settings,
    channels: Iterable[Any] = (),
) -> Actor:
    """The user as :class:`Actor`: their roles, and the channels of the interaction's
    guild (its Newsdesk channels and ``channels``) with those where they have Manage
    Messages, from ``channel.permissions_for``. A channel of another guild counts for
    nothing: rights are those of the guild the command was used in."""
    user = interaction.user
    guild = interaction.guild
    if not isinstance(user, discord.Member) or guild is None:
        return Actor(user.id, user.name)
    found: dict[int, Any] = {}
    wanted = [r.id for r in settings.channels]
    wanted += [c.id for c in channels if c is not None]
    for channel_id in wanted:
        channel = guild.get_channel(channel_id)  # the guild's own object, or None
        if channel is not None:
            found[channel_id] = channel
    manages = frozenset(
        channel_id
        for channel_id, channel in found.items()
        if channel.permissions_for(user).manage_messages
    )
    roles = frozenset(role.id for role in user.roles)
    return Actor(user.id, user.name, roles, manages, frozenset(found))


class ModLog:
    """Echoes moderator actions to the mod-log channel (when one is configured)."""

    def __init__(self, settings: Settings, notify: Notify) -> None:
        self.enabled = settings.mod_log_channel is not None
        self.notify = notify

    async def echo(self, record: Record | None) -> None:
        if record is None or not record.echo or not self.enabled:
            return
        try:
            await self.notify(mod_log_line(record))
        except Exception:  # the action is done either way; the log keeps the line
            log.warning("could not echo to the mod-log channel: %s", record, exc_info=True)
