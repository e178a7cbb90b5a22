"""/queue …: moderators see and steer each channel's queue.

Discord hides the group from members without Manage Messages (``default_permissions``),
but guild admins can change that, so :mod:`bot.desk.moderation` checks the rights again on
every call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.config.settings import Settings
from bot.delivery.deliverer import Deliverer
from bot.desk.moderation import Moderation, ModerationError, QueueResult
from bot.discord.cogs._common import ModLog, Notify, actor_for
from bot.discord.cogs.stories import article_choices, pinned_choices, topic_list_choices
from bot.discord.ui import answer_error, send
from bot.render.replies import moderation_reply
from bot.store.base import Store

if TYPE_CHECKING:
    from bot.discord.client import NewsdeskBot

log = logging.getLogger(__name__)

Channel = discord.TextChannel | discord.ForumChannel
CHANNEL_HELP = "A Newsdesk channel (one configured to receive stories)"
ARTICLE_HELP = "The story's id, or start typing its title"


@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
class Queue(
    commands.GroupCog,
    group_name="queue",
    group_description="Moderators: see and steer what Newsdesk posts in each channel",
):
    """The /queue group."""

    def __init__(
        self, settings: Settings, store: Store, deliverer: Deliverer, notify: Notify
    ) -> None:
        super().__init__()
        self.settings, self.store = settings, store
        self.desk = Moderation(store, settings, deliverer)
        self.mod_log = ModLog(settings, notify)

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await answer_error(interaction, error, log)

    async def _run(
        self,
        interaction: discord.Interaction,
        action: Callable[[], Awaitable[QueueResult]],
        *,
        defer: bool = False,
    ) -> None:
        """Run one core action and answer with its result (always only to the moderator)."""
        if defer:
            await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result = await action()
        except ModerationError as exc:
            await send(interaction, exc.message)
            await self.mod_log.echo(exc.record)
            return
        reply = moderation_reply(result, interaction.guild_id)
        await send(interaction, reply.content, embed=reply.embed)
        await self.mod_log.echo(result.record)

    # Autocomplete answers moderators only (nothing for others), like the commands.

    def _moderates(self, interaction: discord.Interaction) -> bool:
        return self.desk.allowed(actor_for(interaction, self.settings), None)

    async def _articles(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if not self._moderates(interaction):
            return []
        return await article_choices(self.store, current)

    async def _pinned(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """For remove and move: the chosen channel's pinned stories (all, before one is),
        if the user moderates that channel."""
        # Autocomplete gets the channel as a bare id (no resolved data): actor_for looks
        # it up in the interaction's guild, and a channel of another guild counts nothing.
        channel = getattr(interaction.namespace, "channel", None)
        if channel is None:
            return await self._articles(interaction, current)
        if not self.desk.allowed(actor_for(interaction, self.settings, [channel]), channel.id):
            return []
        return await pinned_choices(self.store, channel.id, current)

    async def _topics(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if not self._moderates(interaction):
            return []
        return await topic_list_choices(self.store, current)

    @app_commands.command(name="list", description="The next stories of a channel, or of all.")
    @app_commands.describe(channel="Only this channel (default: every channel you moderate)")
    async def list_(self, interaction: discord.Interaction, channel: Channel | None = None) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        channel_id = channel.id if channel is not None else None
        # Every channel's queue takes a query each: answered after a "thinking…" reply.
        await self._run(
            interaction, lambda: self.desk.list_queue(actor, channel_id), defer=channel is None
        )

    @app_commands.command(name="add", description="Pin a story to a channel's queue.")
    @app_commands.describe(
        article=ARTICLE_HELP,
        channel=CHANNEL_HELP,
        position="Its place among the pinned stories, 1 = next (default: last)",
    )
    @app_commands.autocomplete(article=_articles)
    async def add(
        self,
        interaction: discord.Interaction,
        article: app_commands.Range[str, 1, 2048],
        channel: Channel,
        position: app_commands.Range[int, 1, 100] | None = None,
    ) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.add(actor, article, channel.id, position))

    @app_commands.command(name="remove", description="Unpin a story from a channel's queue.")
    @app_commands.describe(article=ARTICLE_HELP, channel=CHANNEL_HELP)
    @app_commands.autocomplete(article=_pinned)
    async def remove(
        self,
        interaction: discord.Interaction,
        article: app_commands.Range[str, 1, 2048],
        channel: Channel,
    ) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.remove(actor, article, channel.id))

    @app_commands.command(name="move", description="Move a story to another place in the queue.")
    @app_commands.describe(
        article=ARTICLE_HELP, channel=CHANNEL_HELP, position="Its new place, 1 = next"
    )
    @app_commands.autocomplete(article=_pinned)
    async def move(
        self,
        interaction: discord.Interaction,
        article: app_commands.Range[str, 1, 2048],
        channel: Channel,
        position: app_commands.Range[int, 1, 100],
    ) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.move(actor, article, channel.id, position))

    @app_commands.command(name="skip", description="Never post a story in a channel.")
    @app_commands.describe(article=ARTICLE_HELP, channel=CHANNEL_HELP)
    @app_commands.autocomplete(article=_articles)
    async def skip(
        self,
        interaction: discord.Interaction,
        article: app_commands.Range[str, 1, 2048],
        channel: Channel,
    ) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.skip(actor, article, channel.id))

    @app_commands.command(
        name="split", description="Take a story out of the event it was merged into."
    )
    @app_commands.describe(article=ARTICLE_HELP, channel=CHANNEL_HELP)
    @app_commands.autocomplete(article=_articles)
    async def split(
        self,
        interaction: discord.Interaction,
        article: app_commands.Range[str, 1, 2048],
        channel: Channel,
    ) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.split(actor, article, channel.id))

    @app_commands.command(name="merge", description="Make two stories one event, posted once.")
    @app_commands.describe(
        article=ARTICLE_HELP, other="The other story: its id, link or title.", channel=CHANNEL_HELP
    )
    @app_commands.autocomplete(article=_articles, other=_articles)
    async def merge(
        self,
        interaction: discord.Interaction,
        article: app_commands.Range[str, 1, 2048],
        other: app_commands.Range[str, 1, 2048],
        channel: Channel,
    ) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.merge(actor, article, other, channel.id))

    @app_commands.command(name="post", description="Post a channel's next story now.")
    @app_commands.describe(channel=CHANNEL_HELP)
    async def post(self, interaction: discord.Interaction, channel: Channel) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.post_now(actor, channel.id), defer=True)

    @app_commands.command(name="pause", description="Stop a channel's scheduled posts.")
    @app_commands.describe(channel=CHANNEL_HELP)
    async def pause(self, interaction: discord.Interaction, channel: Channel) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.pause(actor, channel.id))

    @app_commands.command(name="resume", description="Restart a paused channel's posts.")
    @app_commands.describe(channel=CHANNEL_HELP)
    async def resume(self, interaction: discord.Interaction, channel: Channel) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.resume(actor, channel.id))

    @app_commands.command(name="retry", description="Put a channel's failed stories back.")
    @app_commands.describe(channel=CHANNEL_HELP)
    async def retry(self, interaction: discord.Interaction, channel: Channel) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.retry(actor, channel.id))

    @app_commands.command(name="why", description="Why a story has not been posted in a channel.")
    @app_commands.describe(article=ARTICLE_HELP, channel=CHANNEL_HELP)
    @app_commands.autocomplete(article=_articles)
    async def why(
        self,
        interaction: discord.Interaction,
        article: app_commands.Range[str, 1, 2048],
        channel: Channel,
    ) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        await self._run(interaction, lambda: self.desk.why(actor, article, channel.id))

    @app_commands.command(name="submit", description="Add a story that is not in the seed files.")
    @app_commands.describe(
        url="The story's web address (http or https)",
        title="The story's headline",
        excerpt="A short summary (optional)",
        topics="Topics, separated by commas (optional)",
        quality="Quality from 0 to 100 (default: unknown)",
        channel="Also pin it to this channel's queue (optional)",
    )
    @app_commands.autocomplete(topics=_topics)
    async def submit(
        self,
        interaction: discord.Interaction,
        url: app_commands.Range[str, 1, 2048],
        title: app_commands.Range[str, 1, 300],
        excerpt: app_commands.Range[str, 1, 2000] | None = None,
        topics: app_commands.Range[str, 1, 300] | None = None,
        quality: app_commands.Range[int, 0, 100] | None = None,
        channel: Channel | None = None,
    ) -> None:
        actor = actor_for(interaction, self.settings, [channel])
        channel_id = channel.id if channel is not None else None
        await self._run(
            interaction,
            lambda: self.desk.submit(actor, url, title, excerpt, topics, quality, channel_id),
            defer=True,
        )


async def setup(bot: NewsdeskBot) -> None:
    await bot.add_cog(Queue(bot.settings, bot.store, bot.deliverer, bot.deliverer.sender.notify))
