"""/search, /topics, /latest and /article: finding stories, for everyone."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.config.settings import Settings
from bot.desk import stories
from bot.discord.cogs.views import Pages
from bot.discord.ui import answer_error, link_view, send
from bot.ingest.urls import normalise_id
from bot.render.embeds import build_post
from bot.render.replies import (
    CHOICE_LIMIT,
    article_choice_name,
    latest_embed,
    no_results,
    nothing_posted,
    result_pages,
    topic_choice_name,
    topic_pages,
)
from bot.store.base import Store

if TYPE_CHECKING:
    from bot.discord.client import NewsdeskBot

log = logging.getLogger(__name__)


async def topic_choices(store: Store, current: str) -> list[app_commands.Choice[str]]:
    """Topics starting with (then containing) what was typed, with their story counts."""
    try:
        found = await store.complete_topics(current, CHOICE_LIMIT)
    except Exception:  # autocomplete must answer, even with nothing
        log.warning("topic autocomplete failed", exc_info=True)
        return []
    return [
        app_commands.Choice(name=topic_choice_name(name, count), value=name[:100])
        for name, count in found[:CHOICE_LIMIT]
    ]


async def topic_list_choices(store: Store, current: str) -> list[app_commands.Choice[str]]:
    """Completes the last of comma-separated topics: "AI, comp" → "AI, Computer Vision"."""
    head, _, last = current.rpartition(",")
    prefix = ", ".join(t.strip() for t in head.split(",") if t.strip())
    prefix = f"{prefix}, " if prefix else ""
    choices = []
    for choice in await topic_choices(store, last):
        value = f"{prefix}{choice.value}"
        if len(value) <= 100:
            choices.append(app_commands.Choice(name=value, value=value))
    return choices


async def article_choices(store: Store, current: str) -> list[app_commands.Choice[str]]:
    """Stories whose id starts with, or whose title has, what was typed."""
    try:
        found = await store.complete_articles(current, CHOICE_LIMIT)
    except Exception:  # autocomplete must answer, even with nothing
        log.warning("article autocomplete failed", exc_info=True)
        return []
    return [
        app_commands.Choice(name=article_choice_name(story.id, story.title), value=story.id)
        for story in found[:CHOICE_LIMIT]
    ]


async def pinned_choices(
    store: Store, channel_id: int, current: str
) -> list[app_commands.Choice[str]]:
    """The stories pinned to a channel that match what was typed (id prefix or title)."""
    try:
        pinned = await store.get_articles(await store.pins(channel_id))
    except Exception:  # autocomplete must answer, even with nothing
        log.warning("pinned-story autocomplete failed", exc_info=True)
        return []
    typed = current.strip().casefold()
    wanted = normalise_id(current)
    return [
        app_commands.Choice(name=article_choice_name(article.id, article.title), value=article.id)
        for article in pinned
        if article.id.startswith(wanted) or typed in article.title.casefold()
    ][:CHOICE_LIMIT]


class Stories(commands.Cog):
    """Search and read the stories Newsdesk knows."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await answer_error(interaction, error, log)

    async def _topics(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await topic_choices(self.store, current)

    async def _articles(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await article_choices(self.store, current)

    @app_commands.command(name="search", description="Find stories about a topic, best first.")
    @app_commands.describe(
        topic="The topic to search (pick from the list)",
        query="Words the stories should contain (optional)",
        limit="How many stories to show, 1 to 25 (default 10)",
        public="Share the results in this channel instead of only with you",
    )
    @app_commands.autocomplete(topic=_topics)
    async def search(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, 100],
        query: app_commands.Range[str, 1, 200] | None = None,
        limit: app_commands.Range[int, 1, 25] = 10,
        public: bool = False,
    ) -> None:
        try:
            results = await stories.search_stories(self.store, topic, query or "", limit)
        except stories.StoryError as exc:
            await send(interaction, exc.message)
            return
        if not results.articles:
            await send(interaction, no_results(results))
            return
        pages = result_pages(results, self.settings.topic_colours)
        view = Pages(
            interaction.user.id,
            [page.embed for page in pages],
            stories=[page.articles for page in pages],
            colours=self.settings.topic_colours,
        )
        await send(interaction, embed=view.embed, view=view, ephemeral=not public)
        view.interaction = interaction

    @app_commands.command(name="topics", description="Every topic with its number of stories.")
    async def topics(self, interaction: discord.Interaction) -> None:
        pages = topic_pages(await self.store.topics())
        if not pages:
            await send(interaction, "There are no topics yet: no stories are loaded.")
            return
        view = Pages(interaction.user.id, pages)
        if len(pages) == 1:
            await send(interaction, embed=view.embed)
            return
        await send(interaction, embed=view.embed, view=view)
        view.interaction = interaction

    @app_commands.command(name="latest", description="The stories Newsdesk posted most recently.")
    @app_commands.describe(topic="Only stories about this topic (optional)")
    @app_commands.autocomplete(topic=_topics)
    async def latest(
        self,
        interaction: discord.Interaction,
        topic: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        try:
            latest = await stories.latest_stories(self.store, topic)
        except stories.StoryError as exc:
            await send(interaction, exc.message)
            return
        if not latest.stories:
            await send(interaction, nothing_posted(latest))
            return
        embed = latest_embed(latest, self.settings.topic_colours, interaction.guild_id)
        await send(interaction, embed=embed)

    @app_commands.command(name="article", description="Show one story in full, as it is posted.")
    @app_commands.describe(id="The story's id, or start typing its title")
    @app_commands.autocomplete(id=_articles)
    async def article(
        self, interaction: discord.Interaction, id: app_commands.Range[str, 1, 2048]
    ) -> None:
        try:
            found = await stories.find_article(self.store, id)
        except stories.StoryError as exc:
            await send(interaction, exc.message)
            return
        post = build_post(found, colours=self.settings.topic_colours)
        await send(interaction, embed=post.embed, view=link_view(post))


async def setup(bot: NewsdeskBot) -> None:
    await bot.add_cog(Stories(bot.settings, bot.store))
