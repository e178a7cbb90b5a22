"""The running pipeline, with or without Discord: loader → store → scheduler → delivery."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config.reload import Reload, adopt, plan_reload
from bot.config.settings import Route, Settings
from bot.delivery.deliverer import Deliverer, Release
from bot.delivery.jobs import RESCAN_JOB, job_id, schedule_rescan, schedule_routes
from bot.ingest.loader import LoadReport, load_paths
from bot.runtime.logs import LoadProgress
from bot.runtime.watch import watch_folder
from bot.store.base import Store

log = logging.getLogger(__name__)

JOB_END_WAIT = 1.0  # seconds a job cut short may take to end (a load rolls back its batch)
# Scheduled route runs that go on at once in a process; the others wait their turn. The
# REST budget lets a few posts out at a time, so more would only wait for it; and a
# thousand routes due at one tick, all started at once, would each ask its queue and
# claim a story before the first post went out (seconds of a busy loop and database).
RUNS_AT_ONCE = 32


async def _always_ready() -> None:
    return None


class Newsdesk:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        scheduler: AsyncIOScheduler,
        deliverer: Deliverer,
        *,
        ready: Callable[[], Awaitable[object]] = _always_ready,
        on_load: Callable[[LoadReport, float], None] | None = None,
    ) -> None:
        self.settings, self.store = settings, store
        self.scheduler, self.deliverer = scheduler, deliverer
        self._ready = ready
        self._on_load = on_load  # told each load's report and seconds (metrics)
        self._logged: set[tuple[str, str]] = set()  # file problems already in the log
        self._loading = asyncio.Lock()  # one load at a time: start-up, rescans, the watcher
        self._stop_watching = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._jobs: set[asyncio.Task[Any]] = set()  # scheduled jobs running now
        self._runs = asyncio.Semaphore(RUNS_AT_ONCE)
        self._ending = False  # cut_short() ends the jobs: their end is no error

    async def rescan(self, paths: list[Path] | None = None) -> LoadReport:
        """Load new and edited seed files (``paths`` only, if given: the watcher's); edit
        posted messages whose coverage or link changed (by this load, or by one the bot
        did not do: ``newsdesk load``)."""
        async with self._loading:
            return await self._rescan(paths)

    async def _rescan(self, paths: list[Path] | None) -> LoadReport:
        started = time.monotonic()
        report = await load_paths(
            self.store, paths or [self.settings.seeds], progress=LoadProgress(log.info)
        )
        if self._on_load is not None:
            self._on_load(report, time.monotonic() - started)
        problems = set(report.problems)
        for path, reason in report.problems:
            if (path, reason) not in self._logged:  # once, not on every re-scan
                log.warning("%s: %s", path, reason)
        self._logged = problems
        if any(report.counts[name] for name in ("loaded", "updated", "rejected", "withdrawn")):
            log.info("%s: %s", self.settings.seeds, report.summary())
        if await self.store.pending_edits(1):
            await self._ready()
            edited = await self.deliverer.refresh_posted()
            log.info("edited %d posted message(s): their coverage or link changed", edited)
        return report

    async def tick(self, route: Route) -> list[Release]:
        await self._ready()
        try:
            return await self.deliverer.tick(route)
        except Exception:
            # A job must never die silently: log it and let the next run try again.
            log.exception("the run for #%s failed", route.name)
            return []

    async def safe_rescan(self) -> None:
        if self._loading.locked():  # the rescan job, while the first load runs long
            log.info("re-scanning %s: skipped, a load is running", self.settings.seeds)
            return
        try:
            await self.rescan()
        except Exception:
            log.exception("re-scanning %s failed", self.settings.seeds)

    async def load_changed(self, paths: list[Path] | None) -> None:
        """The watcher's batch: those files, or the whole folder (None). A job like the
        scheduled ones: a stop cuts it short."""
        async with self._job(f"loading the changes in {self.settings.seeds}"):
            try:
                await self.rescan(paths)
            except Exception:
                log.exception("loading the changes in %s failed", self.settings.seeds)

    def start(self) -> None:
        schedule_routes(self.scheduler, self.deliverer.routes(), self._scheduled_tick)
        schedule_rescan(self.scheduler, self.settings.rescan, self._scheduled_rescan)
        self.scheduler.start()
        if self.settings.watch:
            self._stop_watching.clear()
            self._watcher = asyncio.create_task(
                watch_folder(self.settings.seeds, self.load_changed, self._stop_watching),
                name="newsdesk-watch",
            )

    def reload(self, new: Settings) -> Reload:
        """Take a new config's routes and live keys (see config.LIVE_KEYS): jobs of
        removed routes go, added and changed ones are scheduled (and their channels
        checked before their next run); a run in progress finishes as it began."""
        change = plan_reload(self.settings, new)
        kept = {route.id for route in new.channels}
        gone = [route for route in self.settings.channels if route.id not in kept]
        old = {route.id: route for route in self.settings.channels}
        adopt(self.settings, new)
        self.deliverer.recheck(r.id for r in new.channels if old.get(r.id) != r)
        if self.scheduler.running:
            for route in gone:
                if self.scheduler.get_job(job_id(route)):
                    self.scheduler.remove_job(job_id(route))
            schedule_routes(self.scheduler, self.deliverer.routes(), self._scheduled_tick)
            if self.settings.rescan is None:
                if self.scheduler.get_job(RESCAN_JOB):
                    self.scheduler.remove_job(RESCAN_JOB)
            else:
                schedule_rescan(self.scheduler, self.settings.rescan, self._scheduled_rescan)
        return change

    def schedule_learned(self, routes: list[Route]) -> None:
        """Schedule routes found to be this process's once their guild was learned (with
        shards: after the start-up's or a reload's look-up). Routes already scheduled
        keep their next run."""
        new = [route for route in routes if self.scheduler.get_job(job_id(route)) is None]
        if new and self.scheduler.running:
            schedule_routes(self.scheduler, tuple(new), self._scheduled_tick)

    async def _scheduled_tick(self, route: Route) -> None:
        async with self._job(f"the run for #{route.name}"), self._runs:
            await self.tick(route)

    async def _scheduled_rescan(self) -> None:
        async with self._job(f"re-scanning {self.settings.seeds}"):
            await self.safe_rescan()

    @asynccontextmanager
    async def _job(self, what: str) -> AsyncIterator[None]:
        """A scheduled job, which :meth:`cut_short` may end: then it ends quietly, not as
        the traceback APScheduler logs for a job that raised (CancelledError)."""
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
        try:
            yield
        except asyncio.CancelledError:
            if not self._ending:
                raise
            log.info("stopping: %s was cut short", what)
        finally:
            if task is not None:
                self._jobs.discard(task)

    async def stop(self) -> None:
        """Stop scheduling; the send in flight is finished and recorded first.

        The deliverer is closed (no new send starts, the current one completes), then
        the jobs still running (waiting for Discord, or loading) are ended.
        """
        if self.scheduler.running:
            self.scheduler.pause()
        self._stop_watching.set()  # the watcher loads nothing more
        await self.deliverer.close()
        self.cut_short()
        if self._jobs:  # a load rolls its batch back: let it, before the store closes
            await asyncio.wait(list(self._jobs), timeout=JOB_END_WAIT)
        if self._watcher is not None:
            await asyncio.wait([self._watcher], timeout=JOB_END_WAIT)

    def cut_short(self) -> None:
        """End the scheduled jobs now, sending or not, and the scheduler: a story being
        sent stays in flight, and the next start looks for it in the channel first."""
        self._ending = True
        for task in list(self._jobs):
            task.cancel()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
