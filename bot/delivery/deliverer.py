"""Delivery: queued stories → channels, each exactly once, none lost.

Per (article, channel) a delivery goes ``pending → sending → sent | failed | skipped``.
On a route with ``approval: true`` a story first goes to the review channel
(``review``), and only ``approved`` ones (and moderator-pinned ones) are released.
It is claimed in the store before the send, sent with a nonce derived from the delivery
(so Discord drops a repeated send within a few minutes), and recorded after. A crash or
an error in between leaves it in ``sending``: whoever takes it up next (a run, or
:meth:`Deliverer.reconcile` at start) first looks in the channel, records the message if
it arrived, and sends only if it did not. A send that failed with a 5xx or network error
may still have arrived too (and a forum post carries no nonce), so each retry looks first.

Before a route's first send, the channel's recent posts are read once (the same ones that
are looked in above), and each of the bot's posts that shows a stored story not recorded
as sent there is recorded as sent ("adopted"): a database restored from a backup, or
started afresh, never posts again what the channel already shows.

With shards (``settings.shards``) a process runs only the routes whose channel's guild is
on its shards (:meth:`Deliverer.routes`): their guilds are learned from Discord once and
kept in the store. It leaves the others, their deliveries and edits included, to the
process of their shard.

A digest route (``digest: {top: N}``) posts one message per run listing its best stories
first seen since its previous digest, and that message is one delivery unit: its stories
are claimed together with the digest (``Store.claim_digest``), sent once with the
digest's nonce (derived from the channel and the set of its stories), and recorded
together (``Store.settle_digest``). A digest left ``sending`` by a crash or an outage is
settled before anything else in its channel: looked for among the channel's recent posts
(by its nonce, the nonce at the end of its footer, or a forum post's title) and recorded
if there, else the same digest (same stories, same nonce) is sent again.

This module knows nothing of discord.py: it talks to a :class:`Sender`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from bot.config.settings import Route, Settings
from bot.config.shards import Split, shard_of, split_routes
from bot.curation.ranking import route_filter
from bot.desk.approval import review_nonce
from bot.models import Article
from bot.render.embeds import DIGEST_MARK, Post, build_digest, build_post, digest_fit
from bot.store.base import (
    Delivery,
    DeliveryState,
    Digest,
    DigestState,
    QueueItem,
    RouteFilter,
    RouteState,
    Store,
    digest_nonce,
)

log = logging.getLogger(__name__)
_CLEARED = ("check", "transient", "adopt")  # problems reported until the route next works
# A post already in a channel is recorded as sent whatever the store said of its story
# there (nothing, queued, in review, in flight, failed, skipped): the channel shows it.
ADOPTABLE = tuple(s for s in DeliveryState if s is not DeliveryState.SENT)

RETRY_DELAYS = (1.0, 4.0, 15.0)  # seconds between attempts after a 5xx or network error
REVIEW_AHEAD = 2  # an approval route keeps this many runs' worth of stories decided or in review
# Runs in which a story's sends failed with 5xx or network errors (after RETRY_DELAYS), each
# keeping it queued and ending the run, before it is marked failed: an outage of hours
# loses nothing, and a story that Discord can never take does not block its route forever.
MAX_RUNS = 5
PENDING_EDITS = 1000  # posted messages edited per refresh at most; the rest at the next


# The guild of a channel (None: Discord did not say); may raise SendError.
GuildLookup = Callable[[int], Awaitable[int | None]]


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  # 5xx, network, unexpected 429: retry with backoff, keep queued
    FORBIDDEN = "forbidden"  # 403: pause the route
    NOT_FOUND = "not_found"  # 404 unknown channel: disable the route
    BAD_REQUEST = "bad_request"  # 400: this story fails, the next one goes on


class SendError(Exception):
    """A send that Discord refused or that did not arrive, in the terms of the policy."""

    def __init__(
        self, kind: ErrorKind, text: str, status: int | None = None, code: int | None = None
    ) -> None:
        super().__init__(text)
        self.kind, self.text, self.status, self.code = kind, text, status, code

    def describe(self) -> str:
        parts = [
            f"HTTP {self.status}" if self.status else None,
            f"code {self.code}" if self.code else None,
        ]
        prefix = " ".join(p for p in parts if p)
        return f"{prefix}: {self.text}" if prefix else self.text


@dataclass(frozen=True, slots=True)
class Sent:
    channel_id: int  # where the message lives (a forum post's thread, for forums)
    message_id: int


@dataclass(frozen=True, slots=True)
class Posted:
    """One of the bot's own posts among a channel's recent ones."""

    sent: Sent  # where it is; a forum post is recorded by its thread's id, as when sent
    urls: tuple[str, ...] = ()  # the links of its embeds (a story's link)
    nonce: str | None = None  # the nonce it was sent with, where Discord tells it
    thread_name: str | None = None  # a forum post's title
    opened: bool = True  # False: a forum post whose first message was not read yet
    footer: str | None = None  # its first embed's footer (a digest's ends with its nonce)

    def shows(self, post: Post) -> bool:
        """Whether this is ``post``, by its link or, in a forum, its title."""
        if post.embed.url is not None and post.embed.url in self.urls:
            return True
        return self.thread_name is not None and self.thread_name == post.thread_name

    def shows_digest(self, nonce: str, post: Post) -> bool:
        """Whether this is the digest sent with ``nonce``: by the nonce Discord kept, the
        one its footer ends with, or, in a forum, its title."""
        if self.nonce == nonce:
            return True
        if self.footer is not None and self.footer.endswith(DIGEST_MARK + nonce):
            return True
        return self.thread_name is not None and self.thread_name == post.thread_name


class Sender(Protocol):
    """Where posts go: Discord, or the terminal in a dry run."""

    async def send(self, route: Route, post: Post, nonce: str) -> Sent: ...
    async def send_review(self, route: Route, post: Post, nonce: str) -> Sent: ...
    async def edit(self, route: Route, message_id: int, post: Post) -> None: ...
    async def find_posted(self, route: Route, post: Post) -> Sent | None: ...
    async def recent_posts(self, route: Route) -> list[Posted]:
        """The bot's own posts among the route's channel's recent ones (the ones
        find_posted looks in), oldest first; a forum's unopened."""
        ...

    async def open_post(self, route: Route, posted: Posted) -> Posted | None:
        """A forum post with its first message's links read (None: it is gone)."""
        ...

    async def check_route(self, route: Route) -> str | None: ...
    async def notify(self, text: str) -> None: ...


class Outcome(StrEnum):
    SENT = "sent"
    RECORDED = "recorded"  # found already posted: a send cut short had arrived
    FAILED = "failed"
    DEFERRED = "deferred"  # not sent now, still queued (route paused/disabled meanwhile)
    UNAVAILABLE = "unavailable"  # Discord or the network failed: still queued, run ended
    SKIPPED = "skipped"  # not claimable any more
    ADOPTED = "adopted"  # already in the channel, unknown to the store: recorded as sent
    REVIEW = "review"  # sent to the review channel (approval routes)


@dataclass(frozen=True, slots=True)
class Release:
    article_id: str
    outcome: Outcome
    message_id: int | None = None
    error: str | None = None


async def current_filter(store: Store, route: Route, now: datetime) -> RouteFilter:
    """The route's filter at ``now``; on a digest route, only the stories first seen since
    its previous digest was claimed (the stories it left out then are not news now)."""
    flt = route_filter(route, now)
    if route.digest is None:
        return flt
    since = await store.last_digest_ts(route.id)
    return flt if since is None else replace(flt, min_first_seen_ts=since)


async def upcoming(store: Store, route: Route, now: datetime, count: int) -> list[QueueItem]:
    """The next ``count`` stories ``route`` would post, in order.

    On an approval route only pinned and approved stories are released; on a digest
    route, those first seen since its previous digest (pinned ones whenever).
    """
    if route.approval:
        return await store.next_approved(route.id, count)
    return await store.next_for_channel(await current_filter(store, route, now), count)


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


def in_quiet_hours(route: Route, now: datetime) -> bool:
    if route.quiet_hours is None:
        return False
    return route.quiet_hours.contains(now.astimezone(route.zone).time())


class Deliverer:
    """Releases stories for routes through a :class:`Sender`, following the error policy."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self.store, self.sender, self.settings = store, sender, settings
        self.clock, self.sleep, self.retry_delays = clock, sleep, tuple(retry_delays)
        self._locks: dict[int, asyncio.Lock] = {}
        self._reported: dict[tuple[int, str], str] = {}
        self._unchecked: set[int] = {r.id for r in settings.channels}
        self._broken: dict[int, str] = {}
        self._closing = False
        self._closed = asyncio.Event()  # wakes a retry's backoff when the bot stops
        # Per route, once read: the bot's posts in the channel that matched no stored
        # story yet (a story loaded later is matched to them before the route sends).
        self._unadopted: dict[int, list[Posted]] = {}
        self.guilds: dict[int, int] = {}  # channel id → guild id, as learned (with shards)
        # With shard leases: whether this process holds the lease of a shard now; asked
        # before each send, so a lease lost stops its routes at once
        self.holds: Callable[[int], bool] = lambda shard_id: True

    # ------------------------------------------------------------------ shards

    def split(self) -> Split[Route]:
        """The config's routes: run here, on other shards, guild not known yet."""
        pairs = ((route.id, route) for route in self.settings.channels)
        return split_routes(pairs, self.guilds, self.settings.shards)

    def routes(self) -> tuple[Route, ...]:
        """The routes this process runs: every one, or with shards those of its guilds
        whose shard's lease it holds."""
        return tuple(route for route in self.split().run if self.runs(route))

    def runs(self, route: Route) -> bool:
        """Whether this process may send for ``route`` now: unsharded, always; with
        shards, its guild is on a shard of this process whose lease it holds."""
        shards = self.settings.shards
        if shards is None:
            return True
        guild = self.guilds.get(route.id)
        if guild is None or not shards.owns(guild):
            return False
        return self.holds(shard_of(guild, shards.count))

    async def load_guilds(self) -> None:
        """The guilds learned before (at start, before Discord answers)."""
        if self.settings.shards is not None:
            self.guilds = await self.store.route_guilds()

    async def learn_guilds(self, lookup: GuildLookup) -> list[Route]:
        """Ask the guild of each route not known yet, and keep it; returns the routes
        found to be this process's. One that Discord does not answer for stays unknown
        (and unrun here) until asked again."""
        found: list[Route] = []
        shards = self.settings.shards
        if shards is None:
            return found
        for route in self.split().unknown:
            try:
                guild = await lookup(route.id)
            except SendError as exc:
                log.warning(
                    "#%s: cannot tell its shard, not run here: %s", route.name, exc.describe()
                )
                continue
            if guild is None:
                log.warning("#%s: channel %s is in no server: not run here", route.name, route.id)
                continue
            await self.store.set_route_guild(route.id, guild)
            self.guilds[route.id] = guild
            if shards.owns(guild):
                found.append(route)
        return found

    # ------------------------------------------------------------------ releasing

    def lock(self, channel_id: int) -> asyncio.Lock:
        return self._locks.setdefault(channel_id, asyncio.Lock())

    async def close(self) -> None:
        """Start no new send, and wait for the one in flight to be sent and recorded."""
        self._closing = True
        self._closed.set()
        for lock in list(self._locks.values()):
            async with lock:
                pass

    def recheck(self, channel_ids: Iterable[int]) -> None:
        """These routes are new or changed (a reload): check their channels again before
        their next run, as at start."""
        self._unchecked.update(channel_ids)

    async def tick(self, route: Route) -> list[Release]:
        """One scheduled run of a route: respects pause, disable and quiet hours."""
        if await self._stopped(route):
            return []
        if in_quiet_hours(route, self.clock()):
            return []
        if not await self._route_ok(route):
            return []
        results = await self.release(route, route.per_run, scheduled=True)
        if route.approval and route.review_channel is not None and self.runs(route):
            results += await self.request_reviews(route)
        return results

    async def upcoming(self, route: Route, count: int) -> list[QueueItem]:
        return await upcoming(self.store, route, self.clock(), count)

    async def release(self, route: Route, count: int, *, scheduled: bool = False) -> list[Release]:
        """Send the next ``count`` stories of ``route`` now.

        A ``scheduled`` run stops as soon as the route is paused or disabled, also between
        two stories; a moderator's /queue post is sent although the route is paused.
        """
        async with self.lock(route.id):
            if self._closing or not self.runs(route):
                return []
            if await self._adopt(route) is None:
                return []  # the channel could not be read: send nothing it may show
            if left := await self.store.digests(route.id, (DigestState.SENDING,)):
                return await self._resume_digest(route, left[0])  # this run's post
            if route.digest is not None:
                return await self._release_digest(route)
            items = await self.upcoming(route, count)
            results = []
            for item in items:
                if self._closing or not self.runs(route):
                    break
                if scheduled and await self._stopped(route):
                    break
                result = await self._deliver(route, item.article)
                results.append(result)
                if result.outcome in (Outcome.DEFERRED, Outcome.UNAVAILABLE):
                    break  # the route or Discord is broken: keep the rest queued
            return results

    async def _stopped(self, route: Route) -> bool:
        state = await self.store.route_state(route.id)
        return state.paused or state.disabled

    async def _deliver(self, route: Route, article: Article) -> Release:
        before = await self.store.delivery(article.id, route.id)
        delivery = await self.store.claim(article.id, route.id)
        if delivery is None:
            return Release(article.id, Outcome.SKIPPED)
        # Still ``sending`` from an earlier run: that send may have arrived.
        cut_short = before is not None and before.state is DeliveryState.SENDING
        return await self._send(route, article, delivery, look_first=cut_short)

    def build(self, route: Route, article: Article) -> Post:
        return build_post(
            article,
            mention_role=route.mention_role,
            topic_roles=route.topic_roles,
            colours=self.settings.topic_colours,
        )

    # ------------------------------------------------------------------ digests

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

    async def _digest_message(self, route: Route, digest: Digest) -> Post | None:
        articles = await self.store.get_articles(list(digest.article_ids))
        if not articles:
            return None
        return digest_post(route, articles, digest.nonce, digest.created_ts)

    async def _send_digest(
        self, route: Route, digest: Digest, *, look_first: bool = False
    ) -> list[Release]:
        """Send a claimed digest, unless ``look_first`` finds it in the channel already."""
        post = await self._digest_message(route, digest)
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
            if look_first and (found := await self._find_digest(route, digest, post)):
                return await self._record_digest(route, digest, found, Outcome.RECORDED)
            try:
                sent = await self.sender.send(route, post, digest.nonce)
            except SendError as exc:
                if exc.kind is ErrorKind.TRANSIENT and attempt < len(self.retry_delays):
                    await self._backoff(self.retry_delays[attempt])
                    if self._closing:
                        log.warning(
                            "stopping: the digest %s stays in flight for #%s (%s)",
                            digest.nonce, route.name, exc.describe(),
                        )  # fmt: skip
                        return self._releases(digest, Outcome.UNAVAILABLE, error=exc.describe())
                    attempt += 1
                    look_first = True  # the failed send may have arrived all the same
                    continue
                return await self._digest_failed(route, digest, exc)
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

    # ------------------------------------------------------------------ approval

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
                try:
                    sent = await self.sender.send_review(
                        route, post, review_nonce(article.id, route.id)
                    )
                except SendError as exc:
                    await self.report(
                        route,
                        "review",
                        f"Could not ask for a review of `{article.id}` for #{route.name} in "
                        f"the review channel: {exc.describe()}",
                    )
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
            if look_first and (recorded := await self._record_if_posted(route, article, post)):
                return recorded
            try:
                sent = await self.sender.send(route, post, delivery.nonce)
            except SendError as exc:
                if exc.kind is ErrorKind.TRANSIENT and attempt < len(self.retry_delays):
                    await self._backoff(self.retry_delays[attempt])
                    if self._closing:
                        # Stopping in an outage: no more tries. The story stays in flight,
                        # and the next start looks for it in the channel before sending.
                        log.warning(
                            "stopping: %s stays in flight for #%s (%s)",
                            article.id, route.name, exc.describe(),
                        )  # fmt: skip
                        return Release(article.id, Outcome.UNAVAILABLE, error=exc.describe())
                    attempt += 1
                    look_first = True  # the failed send may have arrived all the same
                    continue
                return await self._failed(route, article, delivery, exc)
            break
        await self._record_sent(route, article.id, sent.message_id)
        await self._recovered(route)
        log.info("posted %s to #%s (message %s)", article.id, route.name, sent.message_id)
        return Release(article.id, Outcome.SENT, sent.message_id)

    async def _backoff(self, seconds: float) -> None:
        """Wait before a retry, or until the bot stops."""
        waits = {
            asyncio.ensure_future(self.sleep(seconds)),
            asyncio.ensure_future(self._closed.wait()),
        }
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()

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

    async def _channel_refused(self, route: Route, exc: SendError) -> None:
        """403 pauses the route, 404 (unknown channel) disables it; reported once."""
        reason = exc.describe()
        state = await self.store.route_state(route.id)
        if exc.kind is ErrorKind.FORBIDDEN:
            state = RouteState(
                route.id,
                True,
                f"missing access or permissions ({reason})",
                state.disabled,
                state.disabled_reason,
            )
            await self.report(
                route,
                "paused",
                f"#{route.name} paused: the bot lacks "
                f"access or permissions there ({reason}). Fix the channel "
                "permissions, then /queue resume.",
            )
        else:
            state = RouteState(
                route.id, state.paused, state.pause_reason, True, f"unknown channel ({reason})"
            )
            await self.report(
                route,
                "disabled",
                f"#{route.name} disabled: Discord does "
                f"not know channel {route.id} ({reason}). Fix the id in "
                "the config and restart.",
            )
        await self.store.set_route_state(state)

    # ------------------------------------------------------------------ route health

    async def _route_ok(self, route: Route) -> bool:
        """Check a route's channel on its first run, and again while it is broken."""
        if route.id not in self._unchecked and route.id not in self._broken:
            return True
        problem = await self.sender.check_route(route)
        self._unchecked.discard(route.id)
        if problem is None:
            if self._broken.pop(route.id, None) is not None:
                await self._recovered(route)
            state = await self.store.route_state(route.id)
            if state.disabled:  # by a 404 (unknown channel): the channel answers now
                enabled = RouteState(route.id, state.paused, state.pause_reason, False, None)
                await self.store.set_route_state(enabled)
                await self.report(
                    route, "enabled", f"#{route.name} posts again: its channel answers now"
                )
            return True
        self._broken[route.id] = problem
        await self.report(route, "check", f"#{route.name} skipped: {problem}")
        return False

    async def check_routes(self) -> dict[int, str]:
        """Check every route's channel now (at start); returns the broken ones' problems."""
        for route in self.routes():
            await self._route_ok(route)
        return dict(self._broken)

    async def report(self, route: Route, key: str, text: str) -> None:
        """Log and tell the mod-log once per problem, not once per tick."""
        if self._reported.get((route.id, key)) == text:
            return
        self._reported[(route.id, key)] = text
        log.warning("%s", text)
        try:
            await self.sender.notify(text)
        except SendError as exc:
            log.warning("could not notify the mod-log channel: %s", exc.describe())

    async def _recovered(self, route: Route) -> None:
        for key in [k for k in self._reported if k[0] == route.id and k[1] in _CLEARED]:
            del self._reported[key]

    # ------------------------------------------------------------------ restart and edits

    async def reconcile(self) -> list[Release]:
        """Settle deliveries left in ``sending`` by a crash: record or resend each once."""
        results = []
        routes = {r.id: r for r in self.routes()}
        for digest in await self.store.digests(states=(DigestState.SENDING,)):
            route = routes.get(digest.channel_id)
            if route is None:
                continue  # a route removed from the config: leave it for a moderator
            async with self.lock(route.id):
                if self._closing:
                    break
                if not self.runs(route):
                    continue  # its shard's lease was lost meanwhile: its new holder settles it
                adopted = await self._adopt(route)
                if adopted is None:
                    continue  # unreadable now: the route's first run tries again
                results += adopted
                if digest not in await self.store.digests(route.id, (DigestState.SENDING,)):
                    continue  # a run settled it meanwhile
                if await self._stopped(route):
                    # Recorded if it arrived; else it waits for the first run after resume.
                    post = await self._digest_message(route, digest)
                    if post is not None and (found := await self._find_digest(route, digest, post)):
                        results += await self._record_digest(route, digest, found, Outcome.RECORDED)
                    continue
                results += await self._resume_digest(route, digest)
        # the stories of a digest still in flight are settled with it, never one by one
        held = {
            (article_id, d.channel_id)
            for d in await self.store.digests(states=(DigestState.SENDING,))
            for article_id in d.article_ids
        }
        for left in await self.store.deliveries(states=(DeliveryState.SENDING,)):
            if (left.article_id, left.channel_id) in held:
                continue
            route = routes.get(left.channel_id)
            article = await self.store.get_article(left.article_id)
            if route is None or article is None:
                # a route removed from the config: left for a moderator; one of another
                # shard: for its process, which may be sending it now
                continue
            async with self.lock(route.id):
                if self._closing:
                    break
                if not self.runs(route):
                    continue  # its shard's lease was lost meanwhile: its new holder settles it
                adopted = await self._adopt(route)
                if adopted is None:
                    continue  # unreadable now: the route's first run tries again
                results += adopted
                delivery = await self.store.delivery(article.id, route.id)
                if delivery is None or delivery.state is not DeliveryState.SENDING:
                    continue  # a run settled it meanwhile
                if await self._stopped(route):
                    # Record it if it arrived; else it waits, still 'sending', for the
                    # route's first run after /queue resume, which looks again first.
                    post = self.build(route, article)
                    if recorded := await self._record_if_posted(route, article, post):
                        results.append(recorded)
                    continue
                results.append(await self._send(route, article, delivery, look_first=True))
        return results

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
        done, ok = True, False
        post = None
        if route is not None and self.settings.update_posted and digest.message_id is not None:
            post = await self._digest_message(route, digest)
        if route is not None and post is not None and digest.message_id is not None:
            try:
                await self.sender.edit(route, digest.message_id, post)
                ok = True
            except SendError as exc:
                done = exc.kind is not ErrorKind.TRANSIENT
                log.warning(
                    "cannot edit the digest %s in #%s%s: %s",
                    digest.message_id,
                    route.name,
                    "" if done else " (tried again later)",
                    exc.describe(),
                )
        if done:
            for article_id in digest.article_ids:
                await self.store.edit_done(article_id, digest.channel_id)
        return ok

    async def _edit_posted(
        self, route: Route | None, article: Article | None, delivery: Delivery
    ) -> bool:
        """Edit one posted message (none without its route and story); False if it was
        not edited."""
        done, ok = True, False
        if (
            route is not None
            and article is not None
            and delivery.state is DeliveryState.SENT
            and delivery.message_id is not None
        ):
            try:
                await self.sender.edit(route, delivery.message_id, self.build(route, article))
                ok = True
            except SendError as exc:
                done = exc.kind is not ErrorKind.TRANSIENT
                log.warning(
                    "cannot edit message %s in #%s%s: %s",
                    delivery.message_id,
                    route.name,
                    "" if done else " (tried again later)",
                    exc.describe(),
                )
        if done:
            await self.store.edit_done(delivery.article_id, delivery.channel_id)
        return ok
