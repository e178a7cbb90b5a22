"""Adoption: the bot's posts already in a channel are recorded, never posted again.

Before a route's first send, the channel's recent posts are read once (the same ones that
a send cut short is looked for in), and each of the bot's posts that shows a stored story
not recorded as sent there is recorded as sent ("adopted"): a database restored from a
backup, or started afresh, never posts again what the channel already shows.
"""

from __future__ import annotations

import logging

from bot.config.settings import Route
from bot.delivery.core import DelivererCore
from bot.delivery.protocol import ErrorKind, Outcome, Posted, Release, SendError
from bot.store.records import DeliveryState

log = logging.getLogger(__name__)
# A post already in a channel is recorded as sent whatever the store said of its story
# there (nothing, queued, in review, in flight, failed, skipped): the channel shows it.
ADOPTABLE = tuple(s for s in DeliveryState if s is not DeliveryState.SENT)


class Adoption(DelivererCore):
    """Reading a route's channel once and adopting the posts it shows."""

    async def adopt_posts(self) -> list[Release]:
        """The start-up check of every working route: adopt the posts its channel
        shows (see :meth:`_adopt`). A route whose check failed is adopted at its first
        run once its channel answers."""
        results: list[Release] = []
        for route in self.routes():
            if route.id in self._broken:
                continue
            async with self.lock(route.id):
                if self._closing:
                    break
                results += await self._adopt(route) or []
        return results

    async def _adopt(self, route: Route) -> list[Release] | None:
        """Record as sent every post of the bot's in the route's channel that shows a
        stored story not recorded as sent there; the caller holds the route's lock.

        The channel's recent posts are read once (one request; a forum post not recorded
        is opened for its link); those that match no story yet are kept and matched
        again before each later send, so a story loaded after the read is found too.
        None if the channel could not be read: nothing is sent there until it can be.
        """
        left = self._unadopted.get(route.id)
        if left is None:
            try:
                left = await self._unrecorded_posts(route)
            except SendError as exc:
                if exc.kind in (ErrorKind.FORBIDDEN, ErrorKind.NOT_FOUND):
                    await self._channel_refused(route, exc)  # as a send would have
                    return None
                await self.report(
                    route,
                    "adopt",
                    f"#{route.name}: cannot read the channel's recent posts "
                    f"({exc.describe()}); nothing is posted there until it can be read",
                )
                return None
            await self._recovered(route)
        if not left:
            self._unadopted[route.id] = []
            return []
        left, adopted = await self._record_posts(route, left)
        self._unadopted[route.id] = left
        return adopted

    async def _unrecorded_posts(self, route: Route) -> list[Posted]:
        """The channel's recent posts of the bot's that the store does not record as a
        sent message there, forum posts opened (SendError if the channel cannot be read)."""
        posts = await self.sender.recent_posts(route)
        known = await self.store.deliveries_of_posts(
            route.id, [p.sent.message_id for p in posts], []
        )
        recorded = {d.message_id for d in known if d.state is DeliveryState.SENT}
        unrecorded = []
        for posted in posts:
            if posted.sent.message_id in recorded:
                continue
            if not posted.opened:
                opened = await self.sender.open_post(route, posted)
                if opened is None:
                    continue  # deleted meanwhile
                posted = opened
            unrecorded.append(posted)
        return unrecorded

    async def _record_posts(
        self, route: Route, posts: list[Posted]
    ) -> tuple[list[Posted], list[Release]]:
        """Adopt those of ``posts`` that show a stored story (by nonce, else link);
        returns the posts that match none, and the adoptions."""
        nonces = [p.nonce for p in posts if p.nonce]
        by_nonce = {
            d.nonce: d.article_id
            for d in await self.store.deliveries_of_posts(route.id, [], nonces)
        }
        by_url = await self.store.articles_by_url([u for p in posts for u in p.urls])
        left, adopted = [], []
        for posted in posts:
            article_id = by_nonce.get(posted.nonce or "") or next(
                (by_url[u].id for u in posted.urls if u in by_url), None
            )
            if article_id is None:
                left.append(posted)
                continue
            message_id = posted.sent.message_id
            before = await self.store.delivery(article_id, route.id)
            recorded = await self.store.set_delivery(
                article_id, route.id, DeliveryState.SENT, expect=ADOPTABLE, message_id=message_id
            )
            if recorded is None:
                continue  # recorded as sent already, with another message of the channel
            await self.store.unpin(route.id, article_id)
            await self.store.audit(
                "adopt",
                "ok",
                channel_id=route.id,
                article_id=article_id,
                detail=f"message {message_id} already in the channel",
            )
            log.info(
                "%s is already in #%s (message %s): adopted as sent, not posted again",
                article_id, route.name, message_id,
            )  # fmt: skip
            # one left in flight by a crash had arrived: recorded, as the settle says
            cut_short = before is not None and before.state is DeliveryState.SENDING
            outcome = Outcome.RECORDED if cut_short else Outcome.ADOPTED
            adopted.append(Release(article_id, outcome, message_id))
        return left, adopted
