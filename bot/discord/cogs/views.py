"""Interactive result lists: Previous/Next pages and a select menu that opens a story.

The components answer only the user who ran the command, and are disabled when the
view times out: 10 minutes after the last click, and always while an interaction token
that can still edit the menu is valid (15 minutes from the command or the last page turn).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import discord

from bot.discord.ui import answer_error, link_view, send
from bot.models import Article
from bot.render.embeds import allowed_mentions, build_post
from bot.render.replies import story_options

log = logging.getLogger(__name__)

VIEW_TIMEOUT = 600.0  # seconds after the last click
TOKEN_LIFE = 14 * 60.0  # an interaction token lasts 15 minutes: edit the menu before then
NOT_YOURS = "This menu isn't yours: run the command yourself to get your own."


class Pages(discord.ui.View):
    """Pre-rendered pages with Previous/Next; with ``stories``, a select that opens one."""

    def __init__(
        self,
        owner_id: int,
        pages: Sequence[discord.Embed],
        *,
        stories: Sequence[Sequence[Article]] | None = None,
        colours: Mapping[str, int] | None = None,
        timeout: float | None = VIEW_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(timeout=timeout)
        self._clock = clock
        self._token_at = clock()  # when the token of ``interaction`` was issued
        self.owner_id = owner_id
        self.pages = list(pages)
        self.stories = [list(page) for page in stories] if stories is not None else None
        self.colours = colours or {}
        self.index = 0
        # The interaction whose token edits the menu at timeout: the command's, then the
        # last page turn's (an answer that edits the menu's message).
        self.interaction: discord.Interaction | None = None
        if self.stories is None:
            self.remove_item(self.open_story)
        if len(self.pages) < 2:
            self.remove_item(self.previous)
            self.remove_item(self.next)
        self._show_page()

    @property
    def embed(self) -> discord.Embed:
        return self.pages[self.index]

    def _show_page(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1
        if self.stories is not None:
            # discord.py types a decorated select's attributes as Never
            self.open_story.options = story_options(self.stories[self.index])  # type: ignore[assignment]

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await send(interaction, NOT_YOURS)
        return False

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button | discord.ui.Select):
                item.disabled = True
        if self.interaction is not None:
            try:
                await self.interaction.edit_original_response(
                    view=self, allowed_mentions=allowed_mentions()
                )
            except discord.HTTPException:
                log.debug("could not disable an expired menu", exc_info=True)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any], /
    ) -> None:
        await answer_error(interaction, error, log)

    async def _show(self, interaction: discord.Interaction) -> None:
        self._show_page()
        await interaction.response.edit_message(
            embed=self.embed, view=self, allowed_mentions=allowed_mentions()
        )
        self.interaction, self._token_at = interaction, self._clock()
        self.timeout = VIEW_TIMEOUT

    def _within_token(self) -> None:
        """Time out before the token that edits the menu expires (a click restarts the
        10 minutes, but a story opened from the menu gives no token that can edit it)."""
        left = self._token_at + TOKEN_LIFE - self._clock()
        self.timeout = max(1.0, min(VIEW_TIMEOUT, left))

    @discord.ui.select(placeholder="Read a story in full…", row=0, min_values=1, max_values=1)
    async def open_story(
        self, interaction: discord.Interaction, select: discord.ui.Select[Pages]
    ) -> None:
        self._within_token()
        page = self.stories[self.index] if self.stories is not None else []
        chosen = select.values
        article = next((a for a in page if a.id in chosen), None)
        if article is None:
            await send(interaction, "That story is no longer on this page.")
            return
        post = build_post(article, colours=self.colours)
        await send(interaction, embed=post.embed, view=link_view(post))

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary, row=1)
    async def previous(
        self, interaction: discord.Interaction, button: discord.ui.Button[Pages]
    ) -> None:
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary, row=1)
    async def next(
        self, interaction: discord.Interaction, button: discord.ui.Button[Pages]
    ) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        await self._show(interaction)
