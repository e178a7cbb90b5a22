"""Delivery: queued stories → channels, each exactly once, none lost.

:class:`Deliverer` runs a route: it settles what a crash left in flight, adopts the posts
its channel shows already, then releases its next stories one by one (``posts.py``) or as
one digest (``digests.py``), and later edits what it posted (``edits.py``). Start-up
adoption is ``adoption.py``; what every part shares (state, shards, route health) is
``core.py``; the :class:`Sender` it talks to and its records are ``protocol.py``.

With shards (``settings.shards``) a process runs only the routes whose channel's guild is
on its shards (:meth:`Deliverer.routes`): their guilds are learned from Discord once and
kept in the store. It leaves the others, their deliveries and edits included, to the
process of their shard.

This package knows nothing of discord.py: it talks to a :class:`Sender`.
"""

from __future__ import annotations

from bot.config.settings import Route
from bot.delivery.adoption import ADOPTABLE, Adoption
from bot.delivery.core import MAX_RUNS, RETRY_DELAYS, current_filter, in_quiet_hours, upcoming
from bot.delivery.digests import DigestSends, digest_message, digest_post, next_digest
from bot.delivery.edits import PENDING_EDITS, Edits
from bot.delivery.posts import REVIEW_AHEAD, StorySends
from bot.delivery.protocol import (
    ErrorKind,
    GuildLookup,
    Outcome,
    Posted,
    Release,
    Sender,
    SendError,
    Sent,
)
from bot.store.records import DeliveryState, DigestState

# What the rest of the bot imports from here; each is defined in the module named above.
__all__ = [
    "ADOPTABLE",
    "MAX_RUNS",
    "PENDING_EDITS",
    "RETRY_DELAYS",
    "REVIEW_AHEAD",
    "Deliverer",
    "ErrorKind",
    "GuildLookup",
    "Outcome",
    "Posted",
    "Release",
    "SendError",
    "Sender",
    "Sent",
    "current_filter",
    "digest_post",
    "in_quiet_hours",
    "next_digest",
    "upcoming",
]


class Deliverer(StorySends, DigestSends, Adoption, Edits):
    """Releases stories for routes through a :class:`Sender`, following the error policy."""

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
                held = await self.store.hold_digest(left[0].id)
                if held is None:
                    return []  # another process is sending the channel's digest
                return await self._resume_digest(route, held)  # this run's post
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
                # Held as a lease: None while another process holds a live one.
                if (holding := await self.store.hold_digest(digest.id)) is None:
                    continue
                digest = holding
                if await self._stopped(route):
                    # Recorded if it arrived; else it waits for the first run after resume.
                    post = await digest_message(self.store, route, digest)
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
                # Taken as a lease: None while another process holds a live one (it is
                # sending it now, or the first claim after its lease runs out settles it).
                delivery = await self.store.claim(article.id, route.id)
                if delivery is None:
                    continue
                if await self._stopped(route):
                    # Record it if it arrived; else it waits, still 'sending', for the
                    # route's first run after /queue resume, which looks again first.
                    post = self.build(route, article)
                    if recorded := await self._record_if_posted(route, article, post):
                        results.append(recorded)
                    continue
                results.append(await self._send(route, article, delivery, look_first=True))
        return results
