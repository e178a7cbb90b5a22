"""The Discord components both the sender and the cogs use: replies to an interaction,
a story's link buttons, and the review request's Approve / Reject buttons.

Layers, each importing only those below it: the pure core and its rendering
(:mod:`bot.render.embeds`, :mod:`bot.render.replies`, …); this module; the running bot
(:mod:`bot.runtime`: client, sender); the cogs, which the client loads as extensions by
name. A review button is sent by the sender but decided by the approval cog: it finds
the cog through the client's ``review_desk`` (a :class:`ReviewDesk`), which the cog sets
when it loads and clears when it unloads.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol, runtime_checkable

import discord
from discord import app_commands

from bot.desk.approval import REVIEW_TEMPLATE, ReviewAction, review_custom_id
from bot.render.embeds import Post, allowed_mentions
from bot.render.replies import SORRY

log = logging.getLogger(__name__)

CHANNEL_UNAVAILABLE = (
    "I cannot see that channel. Pick a text or forum channel that Newsdesk can read."
)
UNAVAILABLE = "Reviews are not available right now; try again in a minute."


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


def link_buttons(post: Post) -> list[discord.ui.Button[Any]]:
    """The post's link buttons ("Read on …", "AMP")."""
    return [
        discord.ui.Button(style=discord.ButtonStyle.link, label=button.label, url=button.url)
        for button in post.buttons
    ]


def link_view(post: Post) -> discord.ui.View | None:
    """The post's link buttons as a view (link buttons need no handler), or None when it
    has none: a posted story, a story opened from a command, a decided review request."""
    buttons = link_buttons(post)
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view


class ReviewDesk(Protocol):
    """What takes a click on Approve or Reject (the approval cog)."""

    async def decide(
        self,
        interaction: discord.Interaction,
        action: ReviewAction,
        article_id: str,
        channel_id: int,
    ) -> None: ...


@runtime_checkable
class Reviewing(Protocol):
    """A client that may have a review desk (NewsdeskBot; None while the approval
    extension is not loaded)."""

    review_desk: ReviewDesk | None


class ReviewButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=REVIEW_TEMPLATE):
    """Approve or Reject one story for one channel.

    A :class:`discord.ui.DynamicItem` whose custom_id carries the action, the story and
    the channel, so a click is understood after a restart too (the approval extension
    registers it in ``setup_hook``)."""

    def __init__(self, action: ReviewAction | str, article_id: str, channel_id: int) -> None:
        self.action = ReviewAction(action)
        self.article_id, self.channel_id = article_id, channel_id
        approve = self.action is ReviewAction.APPROVE
        super().__init__(
            discord.ui.Button(
                label="Approve" if approve else "Reject",
                emoji="✅" if approve else "✖️",
                style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
                custom_id=review_custom_id(self.action, article_id, channel_id),
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ReviewButton:
        return cls(match["action"], match["article"], int(match["channel"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            client = interaction.client
            desk = client.review_desk if isinstance(client, Reviewing) else None
            if desk is None:
                await send(interaction, UNAVAILABLE)
                return
            await desk.decide(interaction, self.action, self.article_id, self.channel_id)
        except Exception as exc:  # a button has no command error handler
            await answer_error(interaction, exc, log)


def review_view(post: Post, channel_id: int) -> discord.ui.View:
    """Approve, Reject and the story's link buttons, for a review request."""
    view = discord.ui.View(timeout=None)
    view.add_item(ReviewButton(ReviewAction.APPROVE, post.article_id, channel_id))
    view.add_item(ReviewButton(ReviewAction.REJECT, post.article_id, channel_id))
    for button in link_buttons(post)[:3]:
        view.add_item(button)
    return view
