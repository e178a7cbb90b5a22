"""Prometheus metrics: what the bot did since it started, and, at each scrape, a look at
the store (stories stored and queued, when each route last posted).

Operators alert on ``newsdesk_seconds_since_last_post``: a route whose posts stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.config.settings import Route, Settings
from bot.config.shards import Split, split_routes
from bot.delivery.deliverer import Posted, Sender, SendError, Sent, current_filter, upcoming
from bot.ingest.loader import LoadReport
from bot.render.embeds import Post
from bot.store.base import Store

if TYPE_CHECKING:
    import aiohttp

QUEUE_COUNT_LIMIT = 100  # queued stories are counted up to here per route
# Queue lengths are read again at most this often: counting a queue costs the store about
# 0.2 ms per story counted, per route, and a scrape comes every 15 s or so
QUEUE_REFRESH_SECONDS = 60.0
_SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_LOAD_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The bot's metrics, in a registry of their own (none of the process's defaults
    are mixed in by accident, and tests may make as many as they like)."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings, self.clock = settings, clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.posts = Counter(
            "newsdesk_posts", "Stories posted, by channel", ["channel"], registry=r
        )
        self.failures = Counter(
            "newsdesk_send_failures",
            "Sends that failed, by channel and reason (transient, forbidden, not_found,"
            " bad_request)",
            ["channel", "reason"],
            registry=r,
        )
        self.edits = Counter(
            "newsdesk_edits", "Posted messages edited, by result (ok, failed)", ["result"],
            registry=r,
        )  # fmt: skip
        self.send_seconds = Histogram(
            "newsdesk_delivery_seconds", "Time to send one story to Discord",
            buckets=_SEND_BUCKETS, registry=r,
        )  # fmt: skip
        self.responses = Counter(
            "newsdesk_discord_responses",
            "Discord REST responses, by status (429 counted apart from other 4xx)",
            ["status"],
            registry=r,
        )
        self.rate_limited = Counter(
            "newsdesk_discord_rate_limited", "Discord REST requests answered 429", registry=r
        )
        self.gateway_latency = Gauge(
            "newsdesk_gateway_latency_seconds",
            "Time between the gateway's heartbeat and its acknowledgement (NaN before one)",
            registry=r,
        )
        self.stored = Gauge("newsdesk_stories_stored", "Stories in the store", registry=r)
        self.queued = Gauge(
            "newsdesk_stories_queued",
            f"Stories a route would post next, counted up to {QUEUE_COUNT_LIMIT}",
            ["channel"],
            registry=r,
        )
        self.since_post = Gauge(
            "newsdesk_seconds_since_last_post",
            "Seconds since a story was last posted to the route (since the bot started, if"
            " it never posted there)",
            ["channel"],
            registry=r,
        )
        self.load_seconds = Histogram(
            "newsdesk_load_seconds", "Duration of each load of the seeds folder",
            buckets=_LOAD_BUCKETS, registry=r,
        )  # fmt: skip
        self.files = Counter(
            "newsdesk_files_loaded",
            "Article files by what loads made of them (loaded, updated, duplicates, rejected)",
            ["outcome"],
            registry=r,
        )
        # With shards only: an unsharded bot's page stays as it was
        self.routes: Gauge | None = None
        if settings.shards is not None:
            shards = Gauge(
                "newsdesk_shard",
                "The gateway shards this process runs (1 per shard)",
                ["shard", "shard_count"],
                registry=r,
            )
            for shard in settings.shards.ids:
                shards.labels(str(shard), str(settings.shards.count)).set(1)
            self.routes = Gauge(
                "newsdesk_routes",
                "The config's routes: run here, on other shards, or guild not known yet",
                ["where"],
                registry=r,
            )
        # The routes as this process sees them; the bot points it at its deliverer's
        self.split: Callable[[], Split[Route]] = lambda: split_routes(
            ((route.id, route) for route in settings.channels), {}, None
        )
        self.started = clock()
        self._queues_read: float | None = None  # when the queue gauges were last read

    # -- events -----------------------------------------------------------------

    def loaded(self, report: LoadReport, seconds: float) -> None:
        self.load_seconds.observe(seconds)
        for outcome in ("loaded", "updated", "duplicates", "rejected"):
            self.files.labels(outcome).inc(report.counts[outcome])

    def response(self, status: int) -> None:
        self.responses.labels(str(status)).inc()
        if status == 429:
            self.rate_limited.inc()

    def trace_config(self) -> aiohttp.TraceConfig:
        """Counts every response of discord.py's HTTP client by status, 429s among them
        (discord.py waits those out itself, so no other part of the bot sees them)."""
        import aiohttp  # with discord.py: a dry run, which has neither, imports this module

        trace = aiohttp.TraceConfig()

        async def on_end(
            session: aiohttp.ClientSession,
            context: object,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            self.response(params.response.status)

        trace.on_request_end.append(on_end)
        return trace

    # -- at each scrape ---------------------------------------------------------

    async def render(self, store: Store, latency: float | None) -> bytes:
        """The Prometheus text, the store's gauges read now (the queues' at most every
        QUEUE_REFRESH_SECONDS)."""
        self.gateway_latency.set(latency if latency is not None else float("nan"))
        self.stored.set(await store.article_count())
        now = self.clock()
        split = self.split()
        if self.routes is not None:
            for where, those in (
                ("here", split.run), ("other_shards", split.elsewhere), ("unknown", split.unknown)
            ):  # fmt: skip
                self.routes.labels(where).set(len(those))
        routes = split.run  # another shard's routes are its process's to report
        last = await store.last_posts([route.id for route in routes])
        names = {route.name for route in routes}
        for gauge in (self.since_post, self.queued):  # routes a reload removed: gone
            shown = {s.labels["channel"] for m in gauge.collect() for s in m.samples}
            for name in shown - names:
                gauge.remove(name)
        for route in routes:
            self.since_post.labels(route.name).set(now - last.get(route.id, self.started))
        if self._queues_read is None or now - self._queues_read >= QUEUE_REFRESH_SECONDS:
            self._queues_read = now
            moment = datetime.fromtimestamp(now, UTC)
            for route in routes:
                if route.approval:  # its approved stories: few, read as the queue shows them
                    items = await upcoming(store, route, moment, QUEUE_COUNT_LIMIT)
                    queued = len(items)
                else:
                    queued = await store.queue_length(
                        await current_filter(store, route, moment), QUEUE_COUNT_LIMIT
                    )
                self.queued.labels(route.name).set(queued)
        return generate_latest(self.registry)


class MeteredSender:
    """A Sender that counts and times what it passes on to the real one."""

    def __init__(self, sender: Sender, metrics: Metrics) -> None:
        self.sender, self.metrics = sender, metrics

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        started = time.perf_counter()
        try:
            sent = await self.sender.send(route, post, nonce)
        except SendError as exc:
            self.metrics.failures.labels(route.name, exc.kind.value).inc()
            raise
        self.metrics.send_seconds.observe(time.perf_counter() - started)
        self.metrics.posts.labels(route.name).inc()
        return sent

    async def send_review(self, route: Route, post: Post, nonce: str) -> Sent:
        return await self.sender.send_review(route, post, nonce)

    async def edit(self, route: Route, message_id: int, post: Post) -> None:
        try:
            await self.sender.edit(route, message_id, post)
        except SendError:
            self.metrics.edits.labels("failed").inc()
            raise
        self.metrics.edits.labels("ok").inc()

    async def find_posted(self, route: Route, post: Post) -> Sent | None:
        return await self.sender.find_posted(route, post)

    async def recent_posts(self, route: Route) -> list[Posted]:
        return await self.sender.recent_posts(route)

    async def open_post(self, route: Route, posted: Posted) -> Posted | None:
        return await self.sender.open_post(route, posted)

    async def check_route(self, route: Route) -> str | None:
        return await self.sender.check_route(route)

    async def notify(self, text: str) -> None:
        await self.sender.notify(text)
