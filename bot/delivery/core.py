"""What every part of the deliverer shares: its state, the routes this process runs,
the route's health and how a refusal of its channel is reported, and the queue's order.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

from bot.config.settings import Route, Settings
from bot.config.shards import Split, shard_of, split_routes
from bot.curation.ranking import route_filter
from bot.delivery.protocol import ErrorKind, GuildLookup, Posted, Sender, SendError
from bot.models import Article
from bot.render.embeds import Post, build_post
from bot.store.base import Store
from bot.store.records import QueueItem, RouteFilter, RouteState

log = logging.getLogger(__name__)
T = TypeVar("T")
_CLEARED = ("check", "transient", "adopt")  # problems reported until the route next works

RETRY_DELAYS = (1.0, 4.0, 15.0)  # seconds between attempts after a 5xx or network error
# Runs in which a story's sends failed with 5xx or network errors (after RETRY_DELAYS), each
# keeping it queued and ending the run, before it is marked failed: an outage of hours
# loses nothing, and a story that Discord can never take does not block its route forever.
MAX_RUNS = 5


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


def in_quiet_hours(route: Route, now: datetime) -> bool:
    if route.quiet_hours is None:
        return False
    return route.quiet_hours.contains(now.astimezone(route.zone).time())


class DelivererCore:
    """The state and the shared steps of :class:`bot.delivery.deliverer.Deliverer`."""

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
        # With shard leases: how long this process may still count on the lease of a
        # shard, in seconds (<= 0: not held); asked before each send and bounding the
        # send itself, so a lease lost stops its routes at once (see while_held)
        self.lease_left: Callable[[int], float] = lambda shard_id: math.inf

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
        return self._left(route) > 0

    def _left(self, route: Route) -> float:
        """How long this process may still send for ``route``: unbounded unsharded; with
        shards, the time left on its shard's lease (<= 0: not its to send)."""
        shards = self.settings.shards
        if shards is None:
            return math.inf
        guild = self.guilds.get(route.id)
        if guild is None or not shards.owns(guild):
            return 0.0
        return self.lease_left(shard_of(guild, shards.count))

    async def while_held(self, route: Route, send: Awaitable[T]) -> T | None:
        """Await ``send`` (a post's requests, their REST budget's waits included) only
        while this process may count on the lease of the route's shard: once that lapses
        (it was not renewed in time) first, ``send`` is cancelled and None returned; a
        lapse that finds it done returns what it sent. So no send of this process goes
        on past the lapse: the store's lease has ``shards.renew`` seconds more, and only
        after it expires may another process take the shard and its sends in flight
        over (Store.end_leases_of) and look in the channel for them. A send racing the
        takeover would arrive after that look (a forum post, which has no nonce,
        twice). Unsharded: ``send`` as it is."""
        if self.settings.shards is None:
            return await send
        task = asyncio.ensure_future(send)
        try:
            while not task.done():
                left = self._left(route)
                if left <= 0:
                    task.cancel()
                    await asyncio.wait([task])
                    if task.cancelled():
                        return None
                    break
                await asyncio.wait([task], timeout=None if left == math.inf else left)
        finally:
            if not task.done():  # this task was cancelled (a stop): so is the send
                task.cancel()
        return task.result()

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

    async def upcoming(self, route: Route, count: int) -> list[QueueItem]:
        return await upcoming(self.store, route, self.clock(), count)

    async def _stopped(self, route: Route) -> bool:
        state = await self.store.route_state(route.id)
        return state.paused or state.disabled

    def build(self, route: Route, article: Article) -> Post:
        return build_post(
            article,
            mention_role=route.mention_role,
            topic_roles=route.topic_roles,
            colours=self.settings.topic_colours,
        )

    async def _backoff(self, seconds: float) -> None:
        """Wait before a retry, or until the bot stops."""
        waits = {
            asyncio.ensure_future(self.sleep(seconds)),
            asyncio.ensure_future(self._closed.wait()),
        }
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()

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
