"""Scheduler jobs: stable ids, coalescing, no burst after downtime."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.base import BaseExecutor, run_coroutine_job
from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config.settings import Route, Schedule
from bot.delivery.jobs import (
    MAX_GRACE,
    RESCAN_JOB,
    grace_seconds,
    job_id,
    schedule_rescan,
    schedule_routes,
)

EVERY = Route(1, "fast", Schedule(every=timedelta(seconds=90)))
CRON = Route(2, "daily", Schedule(cron="0 9 * * 1-5"), timezone="Europe/Berlin")


async def noop(*_: object) -> None:
    return None


async def test_one_job_per_route_with_a_stable_id_and_no_duplicates_on_reload() -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    assert schedule_routes(scheduler, (EVERY, CRON), noop) == ["post:1", "post:2"]
    schedule_routes(scheduler, (EVERY, CRON), noop)  # a reload replaces, never duplicates
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert sorted(jobs) == ["post:1", "post:2"]
    fast, daily = jobs["post:1"], jobs["post:2"]
    assert (fast.coalesce, fast.max_instances, fast.misfire_grace_time) == (True, 1, 45)
    assert (daily.coalesce, daily.max_instances, daily.misfire_grace_time) == (True, 1, MAX_GRACE)
    assert isinstance(fast.trigger, IntervalTrigger)
    assert fast.trigger.interval == timedelta(seconds=90)
    assert isinstance(daily.trigger, CronTrigger)
    assert str(daily.trigger.timezone) == "Europe/Berlin"
    assert str(daily.trigger) == (
        "cron[month='*', day='*', day_of_week='mon,tue,wed,thu,fri', hour='9', minute='0']"
    )
    assert fast.args == (EVERY,)


def test_grace_is_half_the_interval_capped() -> None:
    assert job_id(EVERY) == "post:1"
    assert grace_seconds(Route(3, "x", Schedule(every=timedelta(seconds=1)))) == 1
    assert grace_seconds(Route(3, "x", Schedule(every=timedelta(minutes=30)))) == 900
    assert grace_seconds(Route(3, "x", Schedule(every=timedelta(hours=2)))) == MAX_GRACE == 3600


@pytest.mark.parametrize(
    ("cron", "grace"),
    [("*/5 * * * *", 150), ("0 9-17 * * 1-5", 1800), ("0 9 * * 1-5", 3600), ("0 9 1 1 *", 3600)],
)
def test_a_cron_routes_grace_is_half_the_time_between_its_runs(cron: str, grace: int) -> None:
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    route = Route(3, "x", Schedule(cron=cron), timezone="Europe/Berlin")
    assert grace_seconds(route, monday) == grace


@pytest.mark.parametrize(("late", "ran"), [(400, True), (3300, True), (3900, False)])
async def test_a_daily_run_missed_by_minutes_still_happens(late: int, ran: bool) -> None:
    """The process was suspended through 09:00 and resumed ``late`` seconds after (the
    grace is an hour: 5 minutes of margin either side for the real clock APScheduler reads)."""
    calls: list[Route] = []

    async def tick(route: Route) -> None:
        calls.append(route)

    route = Route(3, "daily", Schedule(cron="0 9 * * *"))
    scheduler = AsyncIOScheduler(timezone=UTC)
    schedule_routes(scheduler, (route,), tick)
    job = scheduler.get_job("post:3")
    due = datetime.now(UTC) - timedelta(seconds=late)
    events = await run_coroutine_job(job, "default", [due], "test")
    assert [e.code for e in events] == [EVENT_JOB_EXECUTED if ran else EVENT_JOB_MISSED]
    assert calls == ([route] if ran else [])


async def test_rescan_job_is_optional() -> None:
    scheduler = AsyncIOScheduler(timezone=UTC)
    assert schedule_rescan(scheduler, None, noop) is None
    assert scheduler.get_jobs() == []
    assert schedule_rescan(scheduler, timedelta(minutes=5), noop) == RESCAN_JOB
    (job,) = scheduler.get_jobs()
    assert (job.id, job.coalesce, job.max_instances) == ("rescan", True, 1)


async def test_missed_runs_after_downtime_coalesce_into_one() -> None:
    """Five periods were missed (the bot was down): one run is submitted, not a burst."""
    submitted: list[list[datetime]] = []

    class Recorder(BaseExecutor):  # type: ignore[misc]  # APScheduler 3 ships no types
        def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
            submitted.append(run_times)
            woke.set()

    woke = asyncio.Event()
    route = Route(9, "busy", Schedule(every=timedelta(seconds=60)))
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_executor(Recorder(), "default")
    schedule_routes(scheduler, (route,), noop)
    scheduler.start(paused=True)
    try:
        now = datetime.now(UTC)
        scheduler.get_job("post:9").modify(next_run_time=now - timedelta(seconds=299))
        scheduler.resume()  # the scheduler wakes up and processes the due job
        await asyncio.wait_for(woke.wait(), timeout=10)
        assert len(submitted) == 1
        assert len(submitted[0]) == 1  # coalesced: the latest missed time only
        assert now - timedelta(seconds=60) < submitted[0][0] <= now
    finally:
        scheduler.shutdown(wait=False)


def test_an_hourly_routes_grace_in_the_hour_clocks_go_back_is_still_half_an_hour() -> None:
    route = Route(3, "x", Schedule(cron="0 * * * *"), timezone="Europe/Berlin")
    in_the_repeated_hour = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert grace_seconds(route, in_the_repeated_hour) == 1800
