"""What ``FakeDiscord`` recorded, and waiting for it: every REST request, and a change
signal that wakes ``wait_for`` whenever the fake's state moves."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import TypeVar

from .records import RecordedRequest

T = TypeVar("T")


class Recording:
    """Recorded requests and ``wait_for``; ``FakeDiscord`` sets the state in its ``__init__``."""

    _requests: list[RecordedRequest]
    _changed: asyncio.Event

    def record(self, rec: RecordedRequest) -> None:
        self._requests.append(rec)
        self.notify()

    def requests(
        self, method: str | None = None, path_regex: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded REST requests, optionally filtered (``path_regex`` uses ``re.search``)."""
        pattern = re.compile(path_regex) if path_regex else None
        return [
            r
            for r in self._requests
            if (method is None or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
        ]

    def notify(self) -> None:
        """Wakes every ``wait_for``; called on any recorded change."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], T],
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        what: str = "",
    ) -> T:
        """Returns ``predicate()`` as soon as it is truthy, re-checking on every change at the
        fake (request, message, gateway payload). Raises ``TimeoutError`` naming the last
        requests. Bot-side effects after its last request (a handler's own state) do not
        wake it: await those with asyncio primitives in the test."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    event = self._changed
                    result = predicate()
                    if result:
                        return result
                    await event.wait()
        except TimeoutError:
            recent = "\n".join(f"  {r.method} {r.path} -> {r.status}" for r in self._requests[-10:])
            raise TimeoutError(
                f"FakeDiscord.wait_for({what or 'predicate'}) timed out after {timeout}s; "
                f"last requests:\n{recent or '  (none)'}"
            ) from None

    async def wait_for_request(
        self,
        method: str,
        path_regex: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        answered: bool = True,
    ) -> RecordedRequest:
        """The ``count``-th answered (or, ``answered=False``, arrived) request matching."""

        def done() -> list[RecordedRequest]:
            found = [
                r for r in self.requests(method, path_regex) if r.status is not None or not answered
            ]
            return found if len(found) >= count else []

        found = await self.wait_for(done, timeout, what=f"{method} {path_regex} x{count}")
        return found[count - 1]
