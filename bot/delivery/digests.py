"""Digests: one message per run listing a route's best stories.

A digest route (``digest: {top: N}``) posts one message per run listing its best stories
first seen since its previous digest, and that message is one delivery unit: its stories
are claimed together with the digest (``Store.claim_digest``), sent once with the
digest's nonce (derived from the channel and the set of its stories), and recorded
together (``Store.settle_digest``). A digest left ``sending`` by a crash or an outage is
settled before anything else in its channel: looked for among the channel's recent posts
(by its nonce, the nonce at the end of its footer, or a forum post's title) and recorded
if there, else the same digest (same stories, same nonce) is sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from bot.config.settings import Route
from bot.delivery.core import MAX_RUNS, DelivererCore, upcoming
from bot.delivery.protocol import ErrorKind, Outcome, Release, SendError, Sent
from bot.models import Article
from bot.render.digest import build_digest, digest_fit
from bot.render.embeds import Post
from bot.store.base import Store
from bot.store.records import Digest, DigestState, digest_nonce

log = logging.getLogger(__name__)


def digest_post(route: Route, articles: Sequence[Article], nonce: str, created_ts: int) -> Post:
    """The message of a digest of ``route``, timed at its claim in the route's zone."""
    when = datetime.fromtimestamp(created_ts, route.zone)
    return build_digest(articles, nonce=nonce, when=when, mention_role=route.mention_role)


async def next_digest(store: Store, route: Route, now: datetime) -> Post | None:
    """The digest ``route``'s next run would post (the one in flight, if one is), or None
    when it has no story to post; nothing is claimed (previews, dry runs)."""
    if left := await store.digests(route.id, (DigestState.SENDING,)):
        articles = await store.get_articles(list(left[0].article_ids))
        return digest_post(route, articles, left[0].nonce, left[0].created_ts)
    assert route.digest is not None
    articles = [item.article for item in await upcoming(store, route, now, route.digest.top)]
    articles = articles[: max(1, digest_fit(articles))]
    if not articles:
        return None
    nonce = digest_nonce(route.id, [a.id for a in articles])
    return digest_post(route, articles, nonce, int(now.timestamp()))


async def digest_message(store: Store, route: Route, digest: Digest) -> Post | None:
    """The message of a claimed digest, from its stories as they are now (None: they are
    gone)."""
    articles = await store.get_articles(list(digest.article_ids))
    if not articles:
        return None
    return digest_post(route, articles, digest.nonce, digest.created_ts)


class DigestSends(DelivererCore):
    """Claiming, sending and settling a route's digests."""

    async def _release_digest(self, route: Route) -> list[Release]:
        """Claim the route's best stories since its previous digest (as many as fit one
        message with their links) and send them as one digest."""
        assert route.digest is not None
        items = await self.upcoming(route, route.digest.top)
        articles = [item.article for item in items]
        articles = articles[: max(1, digest_fit(articles))]
        if not articles:
            return []
        digest = await self.store.claim_digest(route.id, [a.id for a in articles])
        if digest is None:
            return []
        return await self._send_digest(route, digest)

    async def _resume_digest(self, route: Route, digest: Digest) -> list[Release]:
        """A digest left in flight: recorded if the channel shows it, else sent again."""
        if digest.last_error is not None:  # kept after an outage: this run is an attempt
            digest = (
                await self.store.settle_digest(
                    digest.id, DigestState.SENDING, error=digest.last_error, count_attempt=True
                )
                or digest
            )
        return await self._send_digest(route, digest, look_first=True)

    async def _send_digest(
        self, route: Route, digest: Digest, *, look_first: bool = False
    ) -> list[Release]:
        """Send a claimed digest, unless ``look_first`` finds it in the channel already."""
        post = await digest_message(self.store, route, digest)
        if post is None:  # its stories are gone (cannot happen while it holds them)
            await self.store.settle_digest(digest.id, None, error="its stories are gone")
            return []
        if not look_first and (shown := self._shown_digest(route, digest, post)):
            # A new claim the channel shows already: a database restored from a backup,
            # or loaded afresh, claims the same stories again, and so the same nonce.
            await self.store.audit(
                "adopt",
                "ok",
                channel_id=route.id,
                detail=f"digest {digest.nonce}: message {shown.message_id} already in the channel",
            )
            return await self._record_digest(route, digest, shown, Outcome.ADOPTED)
        attempt = 0
        while True:
            if attempt and await self.store.hold_digest(digest.id) is None:
                # The retries outlasted the lease and another process took the digest over:
                # it looks in the channel first, and settles it, not this one.
                log.warning(
                    "the digest %s for #%s: taken over by another process, not sent again"
                    " from here", digest.nonce, route.name,
                )  # fmt: skip
                return self._releases(digest, Outcome.SKIPPED, error="taken over")
            if look_first and (found := await self._find_digest(route, digest, post)):
                return await self._record_digest(route, digest, found, Outcome.RECORDED)
            try:
                sent = await self.while_held(route, self.sender.send(route, post, digest.nonce))
            except SendError as exc:
                if exc.kind is ErrorKind.TRANSIENT and attempt < len(self.retry_delays):
                    await self._backoff(self.retry_delays[attempt])
                    if self._closing or not self.runs(route):  # (see posts.py's _send)
                        log.warning(
                            "%s: the digest %s stays in flight for #%s (%s)",
                            "stopping" if self._closing else "its shard's lease was lost",
                            digest.nonce, route.name, exc.describe(),
                        )  # fmt: skip
                        return self._releases(digest, Outcome.UNAVAILABLE, error=exc.describe())
                    attempt += 1
                    look_first = True  # the failed send may have arrived all the same
                    continue
                return await self._digest_failed(route, digest, exc)
            if sent is None:  # the shard's lease lapsed during the send (see posts.py)
                log.warning(
                    "the digest %s: its shard's lease lapsed during the send to #%s: left"
                    " in flight for the shard's next holder", digest.nonce, route.name,
                )  # fmt: skip
                return self._releases(digest, Outcome.UNAVAILABLE, error="shard lease lapsed")
            return await self._record_digest(route, digest, sent, Outcome.SENT)

    @staticmethod
    def _releases(
        digest: Digest, outcome: Outcome, message_id: int | None = None, error: str | None = None
    ) -> list[Release]:
        return [Release(a, outcome, message_id, error) for a in digest.article_ids]

    def _shown_digest(self, route: Route, digest: Digest, post: Post) -> Sent | None:
        """The digest among the channel's posts read at the route's adoption (_adopt)."""
        for posted in reversed(self._unadopted.get(route.id, [])):
            if posted.shows_digest(digest.nonce, post):
                return posted.sent
        return None

    async def _find_digest(self, route: Route, digest: Digest, post: Post) -> Sent | None:
        try:
            posts = await self.sender.recent_posts(route)
        except SendError as exc:
            log.warning(
                "cannot look in #%s for the digest %s: %s", route.name, digest.nonce, exc.describe()
            )
            return None
        for posted in reversed(posts):
            if posted.shows_digest(digest.nonce, post):
                return posted.sent
        return None

    async def _record_digest(
        self, route: Route, digest: Digest, sent: Sent, outcome: Outcome
    ) -> list[Release]:
        await self.store.settle_digest(digest.id, DigestState.SENT, message_id=sent.message_id)
        await self._recovered(route)
        if outcome in (Outcome.RECORDED, Outcome.ADOPTED):
            log.info(
                "the digest %s (%d stories) was already in #%s: recorded, not sent again",
                digest.nonce, len(digest.article_ids), route.name,
            )  # fmt: skip
        else:
            log.info(
                "posted the digest %s (%d stories: %s) to #%s (message %s)",
                digest.nonce, len(digest.article_ids), ", ".join(digest.article_ids),
                route.name, sent.message_id,
            )  # fmt: skip
        return self._releases(digest, outcome, sent.message_id)

    async def _digest_failed(self, route: Route, digest: Digest, exc: SendError) -> list[Release]:
        reason = exc.describe()
        count = len(digest.article_ids)
        if exc.kind is ErrorKind.TRANSIENT and digest.attempts < MAX_RUNS:
            # Kept in flight, not put back: the send may have arrived after all, and the
            # next run looks for it first, then sends the same digest with its nonce.
            await self.store.settle_digest(digest.id, DigestState.SENDING, error=reason)
            await self.report(
                route,
                "transient",
                f"#{route.name}: Discord did not take the digest of {count} stories "
                f"({reason}). The channel's next run looks for it, then sends it again.",
            )
            return self._releases(digest, Outcome.UNAVAILABLE, error=reason)
        if exc.kind in (ErrorKind.FORBIDDEN, ErrorKind.NOT_FOUND):
            # The channel is the problem: the stories go back to the queue.
            await self.store.settle_digest(digest.id, None, error=reason)
            await self._channel_refused(route, exc)
            return self._releases(digest, Outcome.DEFERRED, error=reason)
        await self.store.settle_digest(digest.id, DigestState.FAILED, error=reason)
        runs = f" in {digest.attempts} runs" if exc.kind is ErrorKind.TRANSIENT else ""
        await self.report(
            route,
            f"failed:{digest.nonce}",
            f"The digest of {count} stories ({', '.join(digest.article_ids)}) could not be "
            f"posted to #{route.name}{runs}: {reason}. /queue retry puts them back.",
        )
        return self._releases(digest, Outcome.FAILED, error=reason)
