"""One story to one channel: claim, send, record, and the error policy.

Per (article, channel) a delivery goes ``pending → sending → sent | failed | skipped``.
On a route with ``approval: true`` a story first goes to the review channel
(``review``), and only ``approved`` ones (and moderator-pinned ones) are released.
It is claimed in the store before the send, sent with a nonce derived from the delivery
(so Discord drops a repeated send within a few minutes), and recorded after. A crash or
an error in between leaves it in ``sending``: whoever takes it up next (a run, or
:meth:`Deliverer.reconcile` at start) first looks in the channel, records the message if
it arrived, and sends only if it did not. A send that failed with a 5xx or network error
may still have arrived too (and a forum post carries no nonce), so each retry looks first.
"""

from __future__ import annotations

import logging

from bot.config.settings import Route
from bot.curation.ranking import route_filter
from bot.delivery.core import MAX_RUNS, DelivererCore
from bot.delivery.protocol import ErrorKind, Outcome, Release, SendError
from bot.desk.approval import review_nonce
from bot.models import Article
from bot.render.embeds import Post, build_post
from bot.store.records import Delivery, DeliveryState

log = logging.getLogger(__name__)
REVIEW_AHEAD = 2  # an approval route keeps this many runs' worth of stories decided or in review


class StorySends(DelivererCore):
    """Releasing stories one by one, and asking for reviews on approval routes."""

    async def _deliver(self, route: Route, article: Article) -> Release:
        delivery = await self.store.claim(article.id, route.id)
        if delivery is None:  # sent or skipped meanwhile, or another process is sending it
            return Release(article.id, Outcome.SKIPPED)
        # Still ``sending`` from an earlier run, or from a process whose lease ran out:
        # that send may have arrived.
        return await self._send(route, article, delivery, look_first=delivery.taken_over)

    async def request_reviews(self, route: Route) -> list[Release]:
        """Send new candidates of an approval route to its review channel.

        The route keeps ``REVIEW_AHEAD × per_run`` stories approved or in review, so the
        review channel is not flooded while moderators are away. A candidate is recorded
        as ``review`` only once its review message exists (the send carries a nonce, so a
        crash in between cannot post the request twice within Discord's nonce window).
        """
        async with self.lock(route.id):
            if self._closing:
                return []
            waiting = await self.store.deliveries(
                route.id,
                (DeliveryState.REVIEW, DeliveryState.APPROVED, DeliveryState.PENDING),
            )
            room = REVIEW_AHEAD * route.per_run - len(waiting)
            if room <= 0:
                return []
            flt = route_filter(route, self.clock())
            results = []
            for article in await self.store.review_candidates(flt, room):
                post = build_post(article, colours=self.settings.topic_colours)
                review = self.sender.send_review(route, post, review_nonce(article.id, route.id))
                try:
                    sent = await self.while_held(route, review)
                except SendError as exc:
                    await self.report(
                        route,
                        "review",
                        f"Could not ask for a review of `{article.id}` for #{route.name} in "
                        f"the review channel: {exc.describe()}",
                    )
                    break
                if sent is None:
                    # The shard's lease lapsed during the send (see _send): its next
                    # holder asks for the reviews, and a forum takes no nonce.
                    log.warning(
                        "%s: its shard's lease lapsed during the review request for #%s",
                        article.id, route.name,
                    )  # fmt: skip
                    break
                await self.store.set_delivery(
                    article.id,
                    route.id,
                    DeliveryState.REVIEW,
                    expect=(DeliveryState.PENDING,),
                    review_message_id=sent.message_id,
                )
                log.info("sent %s for review for #%s", article.id, route.name)
                results.append(Release(article.id, Outcome.REVIEW, sent.message_id))
            return results

    async def _send(
        self, route: Route, article: Article, delivery: Delivery, *, look_first: bool = False
    ) -> Release:
        """Send a claimed story, unless ``look_first`` finds it already in the channel."""
        post = self.build(route, article)
        attempt = 0
        while True:
            if attempt and not await self.store.renew(article.id, route.id):
                # The retries outlasted the lease and another process took the send over:
                # it looks in the channel first, and records the outcome, not this one.
                log.warning(
                    "%s for #%s: taken over by another process, not sent again from here",
                    article.id, route.name,
                )  # fmt: skip
                return Release(article.id, Outcome.SKIPPED, error="taken over")
            if look_first and (recorded := await self._record_if_posted(route, article, post)):
                return recorded
            try:
                sent = await self.while_held(route, self.sender.send(route, post, delivery.nonce))
            except SendError as exc:
                if exc.kind is ErrorKind.TRANSIENT and attempt < len(self.retry_delays):
                    await self._backoff(self.retry_delays[attempt])
                    if self._closing or not self.runs(route):
                        # Stopping in an outage, or the shard's lease lost meanwhile: no
                        # more tries. The story stays in flight, and the next start (or
                        # the shard's next holder) looks for it in the channel first.
                        log.warning(
                            "%s: %s stays in flight for #%s (%s)",
                            "stopping" if self._closing else "its shard's lease was lost",
                            article.id, route.name, exc.describe(),
                        )  # fmt: skip
                        return Release(article.id, Outcome.UNAVAILABLE, error=exc.describe())
                    attempt += 1
                    look_first = True  # the failed send may have arrived all the same
                    continue
                return await self._failed(route, article, delivery, exc)
            if sent is None:
                # The shard's lease lapsed during the send: cut, it stays in flight, and
                # the shard's next holder looks in the channel for it before sending.
                log.warning(
                    "%s: its shard's lease lapsed during the send to #%s: left in flight"
                    " for the shard's next holder", article.id, route.name,
                )  # fmt: skip
                return Release(article.id, Outcome.UNAVAILABLE, error="shard lease lapsed")
            break
        await self._record_sent(route, article.id, sent.message_id)
        await self._recovered(route)
        log.info("posted %s to #%s (message %s)", article.id, route.name, sent.message_id)
        return Release(article.id, Outcome.SENT, sent.message_id)

    async def _record_sent(self, route: Route, article_id: str, message_id: int) -> None:
        await self.store.set_delivery(
            article_id, route.id, DeliveryState.SENT,
            expect=(DeliveryState.SENDING,), message_id=message_id,
        )  # fmt: skip
        await self.store.unpin(route.id, article_id)

    async def _record_if_posted(self, route: Route, article: Article, post: Post) -> Release | None:
        """Record the story as sent if it is in the route's channel already."""
        try:
            found = await self.sender.find_posted(route, post)
        except SendError as exc:
            log.warning("cannot look in #%s for %s: %s", route.name, article.id, exc.describe())
            return None
        if found is None:
            return None
        await self._record_sent(route, article.id, found.message_id)
        log.info("%s was already in #%s: recorded, not sent again", article.id, route.name)
        return Release(article.id, Outcome.RECORDED, found.message_id)

    async def _requeue(self, route: Route, delivery: Delivery, reason: str) -> None:
        """Put a claimed story back in the queue, approved again if it had been approved."""
        back = DeliveryState.APPROVED if delivery.decided_by is not None else DeliveryState.PENDING
        await self.store.set_delivery(
            delivery.article_id, route.id, back, expect=(DeliveryState.SENDING,), error=reason
        )

    async def _failed(
        self, route: Route, article: Article, delivery: Delivery, exc: SendError
    ) -> Release:
        reason = exc.describe()
        if exc.kind is ErrorKind.TRANSIENT and delivery.attempts < MAX_RUNS:
            # Discord or the network is down, most likely for every story: keep this one
            # queued and end the run; the route's next run tries again.
            await self._requeue(route, delivery, reason)
            await self.report(
                route,
                "transient",
                f"#{route.name}: Discord did not take story `{article.id}` ({reason}). It "
                "stays queued; the channel's next run tries again.",
            )
            return Release(article.id, Outcome.UNAVAILABLE, error=reason)
        if exc.kind in (ErrorKind.FORBIDDEN, ErrorKind.NOT_FOUND):
            # The channel is the problem, not the story: keep the story queued.
            await self._requeue(route, delivery, reason)
            await self._channel_refused(route, exc)
            return Release(article.id, Outcome.DEFERRED, error=reason)
        await self.store.set_delivery(
            article.id,
            route.id,
            DeliveryState.FAILED,
            expect=(DeliveryState.SENDING,),
            error=reason,
        )
        runs = f" in {delivery.attempts} runs" if exc.kind is ErrorKind.TRANSIENT else ""
        await self.report(
            route,
            f"failed:{article.id}",
            f"Story `{article.id}` could not be "
            f"posted to #{route.name}{runs}: {reason}. /queue retry puts it back.",
        )
        return Release(article.id, Outcome.FAILED, error=reason)
