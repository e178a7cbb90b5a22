"""Gateway shards: which guilds, and so which routes, one process serves.

Discord gives each guild to one shard, ``(guild_id >> 22) % shard_count``; a process
opens the gateway for its shards only and runs the routes whose channel is in one of
their guilds. Pure functions: the routes' guilds are learned and stored elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

MAX_SHARD_COUNT = 1 << 16  # far past Discord's largest bots; a typo, not a plan, beyond


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives ``guild_id``'s events (Discord's formula)."""
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class Shards:
    """The shards one process runs: ``ids`` (sorted, each in ``0..count-1``) of ``count``."""

    ids: tuple[int, ...]
    count: int

    def owns(self, guild_id: int) -> bool:
        return shard_of(guild_id, self.count) in self.ids

    def describe(self) -> str:
        return f"{', '.join(map(str, self.ids))} of {self.count}"


def shards_problem(ids: Iterable[int], count: int) -> str | None:
    """Why ``ids`` of ``count`` shards cannot be run, or None."""
    ids = list(ids)
    if not 1 <= count <= MAX_SHARD_COUNT:
        return f"the shard count must be between 1 and {MAX_SHARD_COUNT}, got {count}"
    if not ids:
        return "expected at least one shard id"
    outside = [i for i in ids if not 0 <= i < count]
    if outside:
        return (
            f"shard ids run from 0 to {count - 1} (the shard count is {count}),"
            f" got {', '.join(map(str, outside))}"
        )
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        return f"shard id {', '.join(map(str, twice))} given twice"
    return None


def make_shards(ids: Iterable[int] | None, count: int) -> Shards:
    """``ids`` of ``count`` shards (every shard when ``ids`` is None). Raises ValueError
    with the reason when they cannot be run."""
    ids = list(range(count)) if ids is None else list(ids)
    problem = shards_problem(ids, count)
    if problem is not None:
        raise ValueError(problem)
    return Shards(tuple(sorted(ids)), count)


def parse_shard_ids(text: str) -> list[int]:
    """``"0,1"`` (spaces allowed) → [0, 1]. Raises ValueError with the reason."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdecimal() for part in parts):
        raise ValueError(f"expected shard ids separated by commas, like 0,1, got {text!r}")
    return [int(part) for part in parts]


R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Split(Generic[R]):
    """Routes (any keyed by channel id) as one process sees them."""

    run: tuple[R, ...]  # on its shards: it runs them
    elsewhere: tuple[R, ...]  # on other shards: another process does
    unknown: tuple[R, ...]  # their guild is not known yet


def split_routes(
    channel_ids: Iterable[tuple[int, R]], guilds: Mapping[int, int], shards: Shards | None
) -> Split[R]:
    """Which of the routes (``(channel id, route)`` pairs) a process with ``shards`` runs,
    given each channel's guild (``guilds``: channel id → guild id). Without shards it runs
    them all, guild known or not."""
    run: list[R] = []
    elsewhere: list[R] = []
    unknown: list[R] = []
    for channel_id, route in channel_ids:
        guild = guilds.get(channel_id)
        if shards is None:
            run.append(route)
        elif guild is None:
            unknown.append(route)
        elif shards.owns(guild):
            run.append(route)
        else:
            elsewhere.append(route)
    return Split(tuple(run), tuple(elsewhere), tuple(unknown))
