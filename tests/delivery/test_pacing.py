"""The pacer keeps calls under a rate, measured on a fake clock (no wall time); with the
store's budget, the callers waiting together share one take."""

import asyncio
import logging
from pathlib import Path

import pytest

from bot.delivery.pacing import REST_BURST, REST_RATE, LocalBucket, Pacer, StoreBudget
from bot.store import SQLiteStore
from bot.store.records import RestGrant, bot_key


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def paced(rate: float, burst: int, clock: FakeClock) -> Pacer:
    return Pacer(LocalBucket(rate, burst, clock=clock), sleep=clock.sleep)


async def test_a_burst_is_spread_out_at_the_rate() -> None:
    clock = FakeClock()
    pacer = paced(50, 2, clock)
    stamps = []
    for _ in range(102):
        await pacer.wait()
        stamps.append(clock.now)
    assert stamps[:3] == [0.0, 0.0, 0.02]
    assert clock.sleeps[:3] == [0.02, 0.02, 0.02]
    assert stamps[-1] == pytest.approx(2.0)
    # In any one-second window, at most rate + burst calls.
    for start in stamps:
        assert sum(start <= t < start + 1 for t in stamps) <= 52


async def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    pacer = paced(10, 3, clock)
    clock.now = 100.0
    for _ in range(4):
        await pacer.wait()
    assert clock.sleeps == [0.1]


async def test_concurrent_callers_go_in_turn() -> None:
    clock = FakeClock()
    pacer = paced(10, 1, clock)
    order: list[int] = []

    async def call(n: int) -> None:
        await pacer.wait()
        order.append(n)

    await asyncio.gather(*(call(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert clock.now == pytest.approx(0.4)


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        LocalBucket(rate=0)
    with pytest.raises(ValueError):
        LocalBucket(burst=0)


def test_the_default_budget_is_46_a_second_in_bursts_of_3() -> None:
    assert (REST_RATE, REST_BURST) == (46.0, 3)
    bucket = Pacer().budget
    assert isinstance(bucket, LocalBucket) and (bucket.rate, bucket.burst) == (46.0, 3)


class Counted:
    """A budget that notes what each take asked for and got."""

    def __init__(self, inner: LocalBucket) -> None:
        self.inner = inner
        self.takes: list[tuple[int, int]] = []

    async def take(self, want: int) -> RestGrant:
        grant = await self.inner.take(want)
        self.takes.append((want, grant.granted))
        return grant


async def test_callers_waiting_together_share_one_take() -> None:
    clock = FakeClock()

    async def late(seconds: float) -> None:  # a busy loop wakes a sleeper late
        await clock.sleep(seconds)
        await asyncio.sleep(0)  # the others get in line meanwhile
        clock.now += 0.2

    budget = Counted(LocalBucket(10, 3, clock=clock))
    pacer = Pacer(budget, sleep=late)
    clock.now = 5.0
    for _ in range(3):
        await pacer.wait()  # alone: one token a take, the bucket is empty after
    await asyncio.gather(*(pacer.wait() for _ in range(6)))
    # the first of six is refused; woken 0.3 s later it takes for all six in line and
    # gets the 3 tokens there are, the last three take again after one more wait
    assert budget.takes == [(1, 1), (1, 1), (1, 1), (1, 0), (6, 3), (3, 0), (3, 3)]
    assert clock.sleeps == [0.1, 0.1]


async def test_the_store_budget_is_shared_by_its_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "newsdesk.db")
    first, second = await SQLiteStore.open(path), await SQLiteStore.open(path)
    try:
        one = StoreBudget(first, "token", rate=0.001, burst=3)
        two = StoreBudget(second, "token", rate=0.001, burst=3)
        assert (await one.take(2)).granted == 2
        assert (await two.take(2)).granted == 1  # the third token, the same bucket
        refused = await one.take(1)
        assert refused.granted == 0 and refused.wait > 900  # 1/0.001 s for the next one
        # another bot's token is another bucket
        assert (await StoreBudget(second, "other", rate=0.001, burst=3).take(3)).granted == 3
        assert one.key == bot_key("token") != bot_key("other")
    finally:
        await first.close()
        await second.close()


async def test_a_store_that_cannot_answer_leaves_the_process_its_own_pace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "newsdesk.db")
    store = await SQLiteStore.open(path)
    budget = StoreBudget(store, "token", rate=0.001, burst=2)
    assert (await budget.take(1)).granted == 1
    await store.close()  # every take now fails
    with caplog.at_level(logging.INFO, logger="bot.delivery.pacing"):
        assert (await budget.take(5)).granted == 2  # its own bucket, full
        assert (await budget.take(1)).granted == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"the shared REST budget cannot be read ({path}: no active connection): pacing this"
        " process alone"
    ]
