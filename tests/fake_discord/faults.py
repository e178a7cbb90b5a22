"""Fault switches of ``FakeDiscord``: forced errors, 429 bursts, channel-wide 403/404,
slow requests and late replies. ``rest.py`` asks them before routing each request."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class _Rule:
    remaining: int
    path_re: re.Pattern[str] | None
    method: str | None
    status: int = 500
    retry_after: float = 0.0
    scope: str = "user"
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_re is None or bool(self.path_re.search(path))


class Faults:
    """The fault switches; ``FakeDiscord`` holds the rules (set in its ``__init__``)."""

    _fail_rules: list[_Rule]
    _burst_rules: list[_Rule]
    _slow_rules: list[_Rule]
    _late_rules: list[_Rule]
    _channel_status: dict[int, int]

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        path_regex: str | None = None,
        *,
        method: str | None = None,
    ) -> None:
        """The next ``n`` matching requests get ``status`` (after auth, before rate limits).
        Note discord.py retries 500/502/504/524 (sleeping 1 s, 3 s, ...) but not 503."""
        self._fail_rules.append(_Rule(n, _compile(path_regex), method, status=status))

    def rate_limit_burst(
        self,
        n: int = 1,
        retry_after: float = 0.1,
        path_regex: str | None = None,
        *,
        method: str | None = None,
        scope: str = "user",
    ) -> None:
        """The next ``n`` matching requests get a 429 (``scope``: user, global or shared)."""
        self._burst_rules.append(
            _Rule(n, _compile(path_regex), method, status=429, retry_after=retry_after, scope=scope)
        )

    def set_channel_status(self, channel_id: int, status: int | None) -> None:
        """Every ``/channels/{channel_id}...`` request answers 403 (50013) or 404 (10003)."""
        if status is None:
            self._channel_status.pop(int(channel_id), None)
        elif status in (403, 404):
            self._channel_status[int(channel_id)] = status
        else:
            raise ValueError("status must be 403, 404 or None")

    def slow_responses(
        self, seconds: float, path_regex: str | None = None, method: str | None = None
    ) -> None:
        """Delays matching requests by ``seconds`` before acting on them; ``seconds=0``
        clears all delays. A request whose client is gone by then is dropped, undone."""
        if seconds <= 0:
            self._slow_rules.clear()
            self._late_rules.clear()
        else:
            self._slow_rules.append(_Rule(-1, _compile(path_regex), method, seconds=seconds))

    def slow_replies(
        self, seconds: float, path_regex: str | None = None, method: str | None = None
    ) -> None:
        """Carries out matching requests at once but holds the reply for ``seconds``.

        A client killed meanwhile has had its request done without seeing the answer.
        """
        self._late_rules.append(_Rule(-1, _compile(path_regex), method, seconds=seconds))

    def reply_delay_for(self, method: str, path: str) -> float:
        return sum(r.seconds for r in self._late_rules if r.matches(method, path))

    def clear_faults(self) -> None:
        self._fail_rules.clear()
        self._burst_rules.clear()
        self._slow_rules.clear()
        self._late_rules.clear()
        self._channel_status.clear()

    def delay_for(self, method: str, path: str) -> float:
        """Seconds ``slow_responses`` adds to this request."""
        return sum(r.seconds for r in self._slow_rules if r.matches(method, path))

    def take_burst(self, method: str, path: str) -> _Rule | None:
        return self.take_rule(self._burst_rules, method, path)

    def take_failure(self, method: str, path: str) -> _Rule | None:
        return self.take_rule(self._fail_rules, method, path)

    def take_rule(self, rules: list[_Rule], method: str, path: str) -> _Rule | None:
        for rule in rules:
            if rule.remaining != 0 and rule.matches(method, path):
                if rule.remaining > 0:
                    rule.remaining -= 1
                return rule
        return None

    def channel_status(self, channel_id: int) -> int | None:
        return self._channel_status.get(channel_id)


def _compile(path_regex: str | None) -> re.Pattern[str] | None:
    return re.compile(path_regex) if path_regex else None
