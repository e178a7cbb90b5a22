"""Scheduler jobs: one per route with a stable id, plus the seeds re-scan."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config.cron import cron_trigger, just_after
from bot.config.settings import Route

RESCAN_JOB = "rescan"
# Seconds a late run (the process was suspended, the loop stalled) may still start: half
# the time to the route's next run, at most an hour; later ones are dropped, not bunched.
MAX_GRACE = 3600


def job_id(route: Route) -> str:
    return f"post:{route.id}"


def trigger_for(route: Route) -> BaseTrigger:
    if route.schedule.every is not None:
        return IntervalTrigger(seconds=route.schedule.every.total_seconds(), timezone=route.zone)
    assert route.schedule.cron is not None
    return cron_trigger(route.schedule.cron, timezone=route.zone)


def grace_seconds(route: Route, now: datetime | None = None) -> int:
    """Half the time between two runs (at most MAX_GRACE): a run that late is still worth
    doing. For a cron schedule, the two runs after ``now``."""
    if route.schedule.every is not None:
        period = route.schedule.every.total_seconds()
    else:
        trigger = trigger_for(route)
        moment = now or datetime.now(UTC)
        first = trigger.get_next_fire_time(None, moment)
        second = first and trigger.get_next_fire_time(first, just_after(first))
        if first is None or second is None:
            return MAX_GRACE
        period = (second - first).total_seconds()
    return max(1, min(MAX_GRACE, int(period / 2)))


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
        IntervalTrigger(seconds=every.total_seconds(), timezone=UTC),
        id=RESCAN_JOB,
        name="re-scan the seeds folder",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(every.total_seconds()),
    )
    return RESCAN_JOB
