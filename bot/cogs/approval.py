"""Approval mode's buttons: Approve / Reject on each review request.

The buttons are :class:`discord.ui.DynamicItem`\\ s whose custom_id carries the action,
the story and the channel, so a click is understood after a restart too. They are
registered when this extension loads (in ``setup_hook``).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.approval import REVIEW_TEMPLATE, ReviewAction, review_custom_id
from bot.cogs._common import ModLog, Notify, actor_for, answer_error, link_buttons, send
from bot.config import Settings
from bot.delivery import Deliverer
from bot.embeds import Post, allowed_mentions, build_post
from bot.moderation import Moderation, ModerationError
from bot.store.base import Store
from bot.views_render import decision_text

if TYPE_CHECKING:
    from bot.runtime.client import NewsdeskBot

log = logging.getLogger(__name__)

COG_NAME = "Approval"
UNAVAILABLE = "Reviews are not available right now; try again in a minute."


class ReviewButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=REVIEW_TEMPLATE):
    """Approve or Reject one story for one channel."""

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
            # By name, not by class: load_extension executes this module afresh, so the
            # class of a button built elsewhere may differ from the loaded cog's.
            cog = interaction.client.get_cog(COG_NAME)  # type: ignore[attr-defined]
            if cog is None or not hasattr(cog, "decide"):
                await send(interaction, UNAVAILABLE)
                return
            await cog.decide(interaction, self.action, self.article_id, self.channel_id)
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


def decided_view(post: Post) -> discord.ui.View | None:
    """After the decision only the link buttons stay."""
    buttons = link_buttons(post)
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    return view


class Approval(commands.Cog, name=COG_NAME):
    """Decisions on review requests."""

    def __init__(
        self, settings: Settings, store: Store, deliverer: Deliverer, notify: Notify
    ) -> None:
        self.settings = settings
        self.desk = Moderation(store, settings, deliverer)
        self.mod_log = ModLog(settings, notify)

    async def decide(
        self,
        interaction: discord.Interaction,
        action: ReviewAction,
        article_id: str,
        channel_id: int,
    ) -> None:
        """Record the decision and show it on the review message, without the buttons."""
        actor = actor_for(interaction, self.settings)
        try:
            decided = await self.desk.decide(actor, action, article_id, channel_id)
        except ModerationError as exc:
            await send(interaction, exc.message)
            await self.mod_log.echo(exc.record)
            return
        post = build_post(decided.article, colours=self.settings.topic_colours)
        view = decided_view(post)
        await interaction.response.edit_message(
            content=decision_text(decided),
            view=view,
            allowed_mentions=allowed_mentions(),
        )
        await self.mod_log.echo(decided.record)


async def setup(bot: NewsdeskBot) -> None:
    await bot.add_cog(Approval(bot.settings, bot.store, bot.deliverer, bot.deliverer.sender.notify))
    bot.add_dynamic_items(ReviewButton)


async def teardown(bot: NewsdeskBot) -> None:
    bot.remove_dynamic_items(ReviewButton)
