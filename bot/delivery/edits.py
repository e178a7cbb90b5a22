"""Edits of posted messages whose story's related coverage or link changed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.config.settings import Route
from bot.delivery.core import DelivererCore
from bot.delivery.digests import digest_message
from bot.delivery.protocol import ErrorKind, SendError
from bot.models import Article
from bot.render.embeds import Post
from bot.store.records import Delivery, DeliveryState, Digest

log = logging.getLogger(__name__)
PENDING_EDITS = 1000  # posted messages edited per refresh at most; the rest at the next


class Edits(DelivererCore):
    """Keeping posted messages up to date with their stories."""

    async def refresh_posted(self) -> int:
        """Edit the posted messages whose story's related coverage or link changed (the
        store keeps the list). An edit that fails for a moment (5xx, network) is tried
        again next time; one Discord refuses (a deleted message: 404) is dropped, as are
        all of them with ``update_posted: false``. Returns the messages edited."""
        routes = {r.id: r for r in self.settings.channels}
        elsewhere = routes.keys() - {r.id for r in self.routes()}  # other shards' (or unknown)
        pending = await self.store.pending_edits(PENDING_EDITS)  # the rest next time
        wanted = list({d.article_id for d in pending}) if self.settings.update_posted else []
        stories = {a.id: a for a in await self.store.get_articles(wanted)}  # once each
        edited = 0
        digests: set[int] = set()  # edited (or dropped) in this refresh
        for delivery in pending:
            if delivery.state is DeliveryState.SENDING:
                continue  # being posted, from the story as it was: edited once sent
            if delivery.channel_id in elsewhere:
                continue  # its shard's process edits it
            route = routes.get(delivery.channel_id)
            digest = None
            if delivery.state is DeliveryState.SENT and delivery.message_id is not None:
                digest = await self.store.digest_of_message(
                    delivery.channel_id, delivery.message_id
                )
            if digest is not None:  # one line of a digest: the digest is edited, once
                if digest.id not in digests:
                    digests.add(digest.id)
                    edited += await self._edit_digest(route, digest)
                continue
            if await self._edit_posted(route, stories.get(delivery.article_id), delivery):
                edited += 1
        return edited

    async def _edit_digest(self, route: Route | None, digest: Digest) -> bool:
        """Edit a posted digest from its stories as they are now (none without its route
        or with ``update_posted: false``); False if it was not edited."""
        post = None
        if route is not None and self.settings.update_posted and digest.message_id is not None:
            post = await digest_message(self.store, route, digest)
        stories = [(article_id, digest.channel_id) for article_id in digest.article_ids]
        return await self._edit(route, digest.message_id, post, "the digest", stories)

    async def _edit_posted(
        self, route: Route | None, article: Article | None, delivery: Delivery
    ) -> bool:
        """Edit one posted message (none without its route and story); False if it was
        not edited."""
        post = None
        if route is not None and article is not None and delivery.state is DeliveryState.SENT:
            post = self.build(route, article)
        stories = [(delivery.article_id, delivery.channel_id)]
        return await self._edit(route, delivery.message_id, post, "message", stories)

    async def _edit(
        self,
        route: Route | None,
        message_id: int | None,
        post: Post | None,
        what: str,
        stories: Sequence[tuple[str, int]],
    ) -> bool:
        """Edit ``message_id`` to ``post`` (nothing to edit if any of them is None), then
        mark the pending edits of ``stories`` (article id, channel id) done, unless the edit
        failed for a moment (5xx, network): they are tried again next time. False if it
        was not edited."""
        done, ok = True, False
        if route is not None and message_id is not None and post is not None:
            try:
                await self.sender.edit(route, message_id, post)
                ok = True
            except SendError as exc:
                done = exc.kind is not ErrorKind.TRANSIENT
                log.warning(
                    "cannot edit %s %s in #%s%s: %s",
                    what,
                    message_id,
                    route.name,
                    "" if done else " (tried again later)",
                    exc.describe(),
                )
        if done:
            for article_id, channel_id in stories:
                await self.store.edit_done(article_id, channel_id)
        return ok
