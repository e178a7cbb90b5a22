"""What every cog shares: replying safely, the acting moderator, errors, the mod-log."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import discord
from discord import app_commands

from bot.config import Settings
from bot.embeds import Post, allowed_mentions
from bot.moderation import Actor, Record
from bot.views_render import SORRY, mod_log_line

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[None]]
CHANNEL_UNAVAILABLE = (
    "I cannot see that channel. Pick a text or forum channel that Newsdesk can read."
)


async def send(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    view: discord.ui.View | None = None,
    ephemeral: bool = True,
) -> None:
    """Answer the interaction (or follow up once it is answered); nothing ever pings."""
    kwargs: dict[str, Any] = {"ephemeral": ephemeral, "allowed_mentions": allowed_mentions()}
    if content is not None:
        kwargs["content"] = content
    if embed is not None:
        kwargs["embed"] = embed
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


async def answer_error(
    interaction: discord.Interaction, error: BaseException, logger: logging.Logger = log
) -> None:
    """Log an unexpected error with its traceback; the user gets a short, polite line."""
    original = getattr(error, "original", None) or error
    if isinstance(error, app_commands.TransformerError) and (
        error.type is discord.AppCommandOptionType.channel
    ):
        message = CHANNEL_UNAVAILABLE
    else:
        name = interaction.command.qualified_name if interaction.command else "a component"
        logger.error("%s failed", name, exc_info=original)
        message = SORRY
    try:
        await send(interaction, message)
    except discord.HTTPException:
        logger.warning("could not tell the user about the error", exc_info=True)


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


def link_buttons(post: Post) -> list[discord.ui.Button[Any]]:
    """The post's link buttons ("Read on …", "AMP")."""
    return [
        discord.ui.Button(style=discord.ButtonStyle.link, label=button.label, url=button.url)
        for button in post.buttons
    ]


def story_view(post: Post) -> discord.ui.View | None:
    """A story's link buttons as a view, or None when it has none."""
    buttons = link_buttons(post)
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view
