"""Pacing the bot's own REST calls under Discord's global limit (50 requests/s per bot).

discord.py reacts to 429s; it does not spread a burst out beforehand. When a thousand
channels are due at the same moment, that means a storm of 429s and a crawl. A token
bucket in front of every REST call the bot makes keeps it just under the limit instead.
The limit belongs to the bot (its token), not to a process: every process of one bot
draws from one bucket in the store (:class:`StoreBudget`), so together they stay under it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.config.settings import REST_PER_SECOND
from bot.store.base import Store
from bot.store.records import WHOLE, RestGrant, StoreError, bot_key, check_budget, rest_grant

log = logging.getLogger(__name__)

# Requests a second for all the bot's processes together (config: discord.rest_per_second)
REST_RATE = REST_PER_SECOND
# Tokens a bucket holds: at most this many requests go out at once, and in any second
# at most REST_RATE + REST_BURST (48 of Discord's 50, the rest for timing jitter).
REST_BURST = 3


class Budget(Protocol):
    async def take(self, want: int) -> RestGrant:
        """Up to ``want`` requests that may go out now, and how long until the next."""
        ...


class LocalBucket:
    """A token bucket in this process's memory: the store's arithmetic (see
    Store.take_rest_budget) for one process alone."""

    def __init__(
        self,
        rate: float = REST_RATE,
        burst: int = REST_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_budget(1, rate, burst)
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    async def take(self, want: int) -> RestGrant:
        check_budget(want, self.rate, self.burst)
        now = self._clock()
        elapsed = max(now - self._stamp, 0.0)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._stamp = max(self._stamp, now)
        granted = min(want, int(self._tokens + WHOLE))
        self._tokens -= granted
        return rest_grant(want, granted, self._tokens, self.rate, self._stamp)


class StoreBudget:
    """The bot's budget in the store, shared by every process using the database. While
    the store cannot answer, this process paces itself with a bucket of its own at the
    same rate (its sends fail meanwhile anyway: their claims are store writes)."""

    def __init__(
        self, store: Store, token: str, rate: float = REST_RATE, burst: int = REST_BURST
    ) -> None:
        check_budget(1, rate, burst)
        self.store, self.rate, self.burst = store, rate, burst
        self.key = bot_key(token)
        self._own = LocalBucket(rate, burst)
        self._failing = False

    async def take(self, want: int) -> RestGrant:
        try:
            grant = await self.store.take_rest_budget(self.key, want, self.rate, self.burst)
        except StoreError as exc:
            if not self._failing:
                self._failing = True
                log.warning(
                    "the shared REST budget cannot be read (%s): pacing this process alone", exc
                )
            return await self._own.take(want)
        if self._failing:
            self._failing = False
            log.info("the shared REST budget answers again")
        return grant


class Pacer:
    """Each call waits its turn for a token of ``budget`` (by default a bucket of this
    process's own); first come, first go. The callers waiting together are served by one
    take, so a burst costs the store one round trip, not one per call."""

    def __init__(
        self,
        budget: Budget | None = None,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.budget = budget if budget is not None else LocalBucket()
        self._sleep = sleep
        self._ready = 0  # tokens taken for the callers in line, not yet handed out
        self._waiting = 0  # callers in line (the one taking among them)
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when one more call may go out."""
        self._waiting += 1
        try:
            async with self._lock:
                while self._ready == 0:
                    grant = await self.budget.take(self._waiting)
                    self._ready = grant.granted
                    if grant.granted == 0:
                        await self._sleep(grant.wait)
                self._ready -= 1
        finally:
            self._waiting -= 1
