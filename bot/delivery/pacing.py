"""Pacing the bot's own REST calls under Discord's global limit (50 requests/s per bot).

discord.py reacts to 429s; it does not spread a burst out beforehand. When a thousand
channels are due at the same moment, that means a storm of 429s and a crawl. A token
bucket in front of every delivery call keeps the bot just under the limit instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

GLOBAL_RATE = 48.0  # requests per second: under Discord's 50, leaving room for the rest
GLOBAL_BURST = 2  # so the first second stays under 50 as well


class Pacer:
    """At most ``rate`` calls per second on average, ``burst`` at once; first come, first go."""

    def __init__(
        self,
        rate: float = GLOBAL_RATE,
        burst: int = GLOBAL_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def wait(self) -> None:
        """Return when one more call may go out."""
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1
