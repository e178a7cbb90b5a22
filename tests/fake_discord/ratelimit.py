"""Discord-like rate limiting: fixed-window buckets per route and major parameter, plus a
global per-second limit. Uses the real monotonic clock (discord.py sleeps in real time)."""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass


@dataclass
class RateLimitConfig:
    """Limits as ``(requests, per_seconds)``. Tests may change any field at any time."""

    enabled: bool = True
    message_send: tuple[int, float] = (5, 5.0)  # POST /channels/{id}/messages, per channel
    crosspost: tuple[int, float] = (10, 3600.0)  # publishing in announcement channels, per channel
    default: tuple[int, float] = (50, 1.0)  # every other route, per route + major parameter
    global_per_second: int = 50  # all bot-token requests (interaction routes are exempt)


@dataclass
class BucketState:
    limit: int
    remaining: int
    reset_after: float
    reset_at: float  # unix time
    bucket: str
    limited: bool


class _Window:
    def __init__(self, limit: int, per: float) -> None:
        self.limit = limit
        self.per = per
        self.count = 0
        self.ends = 0.0

    def hit(self, now: float) -> bool:
        """Counts a request; ``False`` when the window is already full."""
        if now >= self.ends:
            self.count = 0
            self.ends = now + self.per
        if self.count >= self.limit:
            return False
        self.count += 1
        return True


def bucket_hash(template: str) -> str:
    return hashlib.blake2b(template.encode(), digest_size=16).hexdigest()


class RateLimiter:
    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global = _Window(config.global_per_second, 1.0)

    def limit_for(self, template: str) -> tuple[int, float]:
        if template == "POST /channels/{channel_id}/messages":
            return self.config.message_send
        if template == "POST /channels/{channel_id}/messages/{message_id}/crosspost":
            return self.config.crosspost
        return self.config.default

    def check_global(self) -> float | None:
        """Counts one request against the global limit; returns retry_after when over it."""
        now = time.monotonic()
        self._global.limit = self.config.global_per_second
        if self._global.hit(now):
            return None
        return max(self._global.ends - now, 0.001)

    def hit(self, template: str, major: str) -> BucketState:
        limit, per = self.limit_for(template)
        key = (template, major)
        window = self._windows.get(key)
        if window is None or (window.limit, window.per) != (limit, per):
            window = self._windows[key] = _Window(limit, per)
        now = time.monotonic()
        ok = window.hit(now)
        # rounded up to the millisecond, so a client sleeping this long finds a new window
        reset_after = math.ceil(max(window.ends - now, 0.0) * 1000) / 1000
        return BucketState(
            limit=limit,
            remaining=max(limit - window.count, 0),
            reset_after=reset_after,
            reset_at=time.time() + reset_after,
            bucket=bucket_hash(template),
            limited=not ok,
        )


def bucket_headers(state: BucketState) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(state.limit),
        "X-RateLimit-Remaining": str(state.remaining),
        "X-RateLimit-Reset": f"{state.reset_at:.3f}",
        "X-RateLimit-Reset-After": f"{state.reset_after:.3f}",
        "X-RateLimit-Bucket": state.bucket,
    }


def too_many_headers(retry_after: float, scope: str) -> dict[str, str]:
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Scope": scope,
    }
    if scope == "global":
        headers["X-RateLimit-Global"] = "true"
    return headers
