"""Scheduler jobs: one per route with a stable id, plus the seeds re-scan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Route
from bot.cron import cron_trigger

RESCAN_JOB = "rescan"
MAX_GRACE = 300  # seconds a late run may still start; later ones are dropped, not bunched


def job_id(route: Route) -> str:
    return f"post:{route.id}"


def trigger_for(route: Route) -> BaseTrigger:
    if route.schedule.every is not None:
        return IntervalTrigger(seconds=route.schedule.every.total_seconds(), timezone=route.zone)
    assert route.schedule.cron is not None
    return cron_trigger(route.schedule.cron, timezone=route.zone)


def grace_seconds(route: Route) -> int:
    """Half the interval (at most MAX_GRACE): a run that late is still worth doing."""
    if route.schedule.every is not None:
        return max(1, min(MAX_GRACE, int(route.schedule.every.total_seconds() / 2)))
    return MAX_GRACE


def schedule_routes(
    scheduler: BaseScheduler,
    routes: tuple[Route, ...],
    tick: Callable[[Route], Awaitable[object]],
) -> list[str]:
    """Add (or replace) one job per route. Coalesced, one at a time, no burst after downtime."""
    ids = []
    for route in routes:
        job = scheduler.add_job(
            tick,
            trigger_for(route),
            args=(route,),
            id=job_id(route),
            name=f"post to #{route.name}",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=grace_seconds(route),
        )
        ids.append(job.id)
    return ids


def schedule_rescan(
    scheduler: BaseScheduler, every: timedelta | None, rescan: Callable[[], Awaitable[object]]
) -> str | None:
    if every is None:
        return None
    scheduler.add_job(
        rescan,
        IntervalTrigger(seconds=every.total_seconds()),
        id=RESCAN_JOB,
        name="re-scan the seeds folder",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(every.total_seconds()),
    )
    return RESCAN_JOB
