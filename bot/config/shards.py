"""Gateway shards: which guilds, and so which routes, one process serves.

Discord gives each guild to one shard, ``(guild_id >> 22) % shard_count``; a process
opens the gateway for its shards only and runs the routes whose channel is in one of
their guilds. Pure functions: the routes' guilds are learned and stored elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

MAX_SHARD_COUNT = 1 << 16  # far past Discord's largest bots; a typo, not a plan, beyond
# A process holds its shards by a lease in the database (PostgreSQL: several processes,
# one database): taken for LEASE_SECONDS, renewed every RENEW_SECONDS. A lease not
# renewed (the process died, or lost the database) expires, and a standby takes it over.
LEASE_SECONDS = 30.0
RENEW_SECONDS = 10.0


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives ``guild_id``'s events (Discord's formula)."""
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True, slots=True)
class Shards:
    """The shards one process runs: ``ids`` (sorted, each in ``0..count-1``) of ``count``;
    a ``standby`` starts with none and takes over those whose lease expired. ``lease``
    and ``renew``: the lease's length and how often it is renewed, in seconds."""

    ids: tuple[int, ...]
    count: int
    standby: bool = False
    lease: float = LEASE_SECONDS
    renew: float = RENEW_SECONDS

    def owns(self, guild_id: int) -> bool:
        return shard_of(guild_id, self.count) in self.ids

    def describe(self) -> str:
        if not self.ids:
            return f"none of {self.count} (standby)"
        standby = " (standby)" if self.standby else ""
        return f"{', '.join(map(str, self.ids))} of {self.count}{standby}"

    def holding(self, ids: Iterable[int]) -> Shards:
        """The same process holding ``ids`` now (a standby that took some over)."""
        return replace(self, ids=tuple(sorted(ids)))


def shards_problem(
    ids: Iterable[int],
    count: int,
    *,
    standby: bool = False,
    lease: float = LEASE_SECONDS,
    renew: float = RENEW_SECONDS,
) -> str | None:
    """Why ``ids`` of ``count`` shards cannot be run, or None."""
    ids = list(ids)
    if not 1 <= count <= MAX_SHARD_COUNT:
        return f"the shard count must be between 1 and {MAX_SHARD_COUNT}, got {count}"
    if standby and ids:
        return "a standby starts with no shard: give it no shard ids"
    if not ids and not standby:
        return "expected at least one shard id"
    if not 0 < renew <= lease / 3:
        # the process counts on its lease until lease - renew after a renewal: that must
        # outlast the next renewal with room to spare, and leave a send in flight time
        return (
            f"the shard lease of {lease:g} s is renewed every {renew:g} s: renew at most"
            " every third of the lease (as 10s for 30s)"
        )
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


def make_shards(
    ids: Iterable[int] | None,
    count: int,
    *,
    standby: bool = False,
    lease: float = LEASE_SECONDS,
    renew: float = RENEW_SECONDS,
) -> Shards:
    """``ids`` of ``count`` shards (every shard when ``ids`` is None; none for a
    ``standby``). Raises ValueError with the reason when they cannot be run."""
    if ids is None:
        ids = [] if standby else list(range(count))
    ids = list(ids)
    problem = shards_problem(ids, count, standby=standby, lease=lease, renew=renew)
    if problem is not None:
        raise ValueError(problem)
    return Shards(tuple(sorted(ids)), count, standby, lease, renew)


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
