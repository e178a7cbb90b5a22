"""The running pipeline, with or without Discord: loader → store → scheduler → delivery."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import Route, Settings
from bot.delivery import Deliverer, Release
from bot.loader import LoadReport, load_paths
from bot.runtime.jobs import schedule_rescan, schedule_routes
from bot.store.base import Store

log = logging.getLogger(__name__)


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
    ) -> None:
        self.settings, self.store = settings, store
        self.scheduler, self.deliverer = scheduler, deliverer
        self._ready = ready
        self._logged: set[tuple[str, str]] = set()  # file problems already in the log
        self._loading = asyncio.Lock()  # one load at a time: start-up, the rescan job

    async def rescan(self) -> LoadReport:
        """Load new and edited seed files; edit posted messages whose coverage or link
        changed (by this load, or by one the bot did not do: ``newsdesk load``)."""
        async with self._loading:
            return await self._rescan()

    async def _rescan(self) -> LoadReport:
        report = await load_paths(self.store, [self.settings.seeds])
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

    def start(self) -> None:
        schedule_routes(self.scheduler, self.settings.channels, self.tick)
        schedule_rescan(self.scheduler, self.settings.rescan, self.safe_rescan)
        self.scheduler.start()

    async def stop(self) -> None:
        """Stop scheduling; the send in flight is finished and recorded first.

        APScheduler cancels running jobs when it shuts down, so the deliverer is closed
        (no new send starts, the current one completes) before the scheduler goes.
        """
        if self.scheduler.running:
            self.scheduler.pause()
        await self.deliverer.close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
