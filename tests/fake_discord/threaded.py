"""Hosting a ``FakeDiscord`` in a background thread, for tests that block their own loop
(or have none), e.g. while running the bot with ``subprocess.run``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .server import FakeDiscord

T = TypeVar("T")


class ThreadedFakeDiscord:
    """``with ThreadedFakeDiscord() as fake: ...`` — ``fake`` is the ``FakeDiscord``.

    Everything on the fake must run in its loop: use ``call(fn, *args)`` for plain methods
    and ``run(coro)`` for coroutines, e.g. ``t.run(fake.wait_for(lambda: ..., 5))``.
    """

    def __init__(self, fake: FakeDiscord | None = None) -> None:
        self.fake = fake or FakeDiscord()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-discord", daemon=True
        )

    def start(self) -> FakeDiscord:
        self._thread.start()
        self.run(self.fake.start())
        return self.fake

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self.run(self.fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async def wrapper() -> T:
            return fn(*args, **kwargs)

        return self.run(wrapper())

    def __enter__(self) -> FakeDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
