"""Scheduled route runs take turns: at most RUNS_AT_ONCE go on at once in a process, so
a thousand routes due at one tick start posting at once instead of all querying first."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config.settings import Route, Schedule, Settings
from bot.delivery.deliverer import Deliverer
from bot.delivery.protocol import Release
from bot.runtime.service import RUNS_AT_ONCE, Newsdesk
from bot.store import SQLiteStore
from tests.runtime.test_operations import Recorder


async def test_at_most_runs_at_once_routes_run_together(tmp_path: Path, store: SQLiteStore) -> None:
    routes = tuple(
        Route(id=1000 + n, name=f"r{n}", schedule=Schedule(every=timedelta(hours=1)))
        for n in range(RUNS_AT_ONCE + 8)
    )
    settings = Settings(
        path=tmp_path / "c.yaml", database=tmp_path / "d.db", seeds=tmp_path,
        channels=routes, rescan=None, watch=False,
    )  # fmt: skip
    desk = Newsdesk(settings, store, AsyncIOScheduler(), Deliverer(store, Recorder(), settings))
    running: list[int] = []
    most = 0
    go = asyncio.Event()

    async def tick(route: Route) -> list[Release]:
        nonlocal most
        running.append(route.id)
        most = max(most, len(running))
        await go.wait()
        running.remove(route.id)
        return []

    desk.tick = tick  # type: ignore[method-assign]
    runs = [asyncio.create_task(desk._scheduled_tick(route)) for route in routes]
    for _ in range(5):  # every run that can start has started
        await asyncio.sleep(0)
    assert (len(running), most) == (RUNS_AT_ONCE, RUNS_AT_ONCE) == (32, 32)
    assert running == [route.id for route in routes[:RUNS_AT_ONCE]]  # first come, first run
    go.set()
    await asyncio.gather(*runs)
    assert (running, most) == ([], RUNS_AT_ONCE)
