"""The pacer keeps calls under a rate, measured on a fake clock (no wall time)."""

import asyncio

import pytest

from bot.delivery.pacing import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


async def test_a_burst_is_spread_out_at_the_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=50, burst=2, clock=clock, sleep=clock.sleep)
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
    pacer = Pacer(rate=10, burst=3, clock=clock, sleep=clock.sleep)
    clock.now = 100.0
    for _ in range(4):
        await pacer.wait()
    assert clock.sleeps == [0.1]


async def test_concurrent_callers_go_in_turn() -> None:
    clock = FakeClock()
    pacer = Pacer(rate=10, burst=1, clock=clock, sleep=clock.sleep)
    order: list[int] = []

    async def call(n: int) -> None:
        await pacer.wait()
        order.append(n)

    await asyncio.gather(*(call(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert clock.now == pytest.approx(0.4)


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(rate=0)
    with pytest.raises(ValueError):
        Pacer(burst=0)
