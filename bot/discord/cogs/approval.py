"""Approval mode's decisions: what a click on Approve / Reject on a review request does.

The buttons (:class:`bot.discord.ui.ReviewButton`) are registered when this extension
loads (in ``setup_hook``), so a click is understood after a restart too; they reach this
cog through the bot's ``review_desk``, set here and cleared when the extension unloads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.config.settings import Settings
from bot.delivery.deliverer import Deliverer
from bot.desk.approval import ReviewAction
from bot.desk.moderation import Moderation, ModerationError
from bot.discord.cogs._common import ModLog, Notify, actor_for
from bot.discord.ui import ReviewButton, link_view, send
from bot.render.embeds import allowed_mentions, build_post
from bot.render.replies import decision_text
from bot.store.base import Store

if TYPE_CHECKING:
    from bot.discord.client import NewsdeskBot


class Approval(commands.Cog):
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
        await interaction.response.edit_message(
            content=decision_text(decided),
            view=link_view(post),  # after the decision only the link buttons stay
            allowed_mentions=allowed_mentions(),
        )
        await self.mod_log.echo(decided.record)


async def setup(bot: NewsdeskBot) -> None:
    cog = Approval(bot.settings, bot.store, bot.deliverer, bot.deliverer.sender.notify)
    await bot.add_cog(cog)
    bot.review_desk = cog
    bot.add_dynamic_items(ReviewButton)


async def teardown(bot: NewsdeskBot) -> None:
    bot.remove_dynamic_items(ReviewButton)
    bot.review_desk = None
