"""A reload (SIGHUP): what a new config changes, and taking its live keys into the
running bot's one Settings."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config.settings import Settings
from bot.config.shards import Shards

# What a reload (SIGHUP) changes in the running bot; the rest waits for a restart (the
# database, the folder watched, the connection to Discord and the listener are opened once)
LIVE_KEYS = (
    "channels", "rescan", "moderator_roles", "mod_log_channel", "update_posted", "topic_colours",
)  # fmt: skip
RESTART_KEYS = (
    "database", "seeds", "watch", "token_file", "guild_ids", "discord", "http_listen",
    "unknown_quality", "events", "shards",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reload:
    """What a new config changes: routes by name, and the keys that wait for a restart."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [
            f"{what} {', '.join('#' + name for name in names)}"
            for what, names in (
                ("added", self.added), ("removed", self.removed), ("changed", self.changed)
            )
            if names
        ]  # fmt: skip
        return "; ".join(parts) or "no route changed"


def plan_reload(old: Settings, new: Settings) -> Reload:
    before = {route.id: route for route in old.channels}
    after = {route.id: route for route in new.channels}
    return Reload(
        added=tuple(r.name for r in new.channels if r.id not in before),
        removed=tuple(r.name for r in old.channels if r.id not in after),
        changed=tuple(r.name for r in new.channels if r.id in before and before[r.id] != r),
        restart=tuple(k for k in RESTART_KEYS if getattr(old, k) != getattr(new, k)),
    )


def adopt(current: Settings, new: Settings) -> None:
    """Take ``new``'s live keys into ``current``, in place. Settings are immutable but
    for this one door: the running parts share one Settings and read it as they go, so
    a reload reaches all of them at once, between two of their steps."""
    for key in LIVE_KEYS:
        object.__setattr__(current, key, getattr(new, key))


def hold_shards(current: Settings, shards: Shards) -> None:
    """Set the shards the process runs now, in place (see :func:`adopt`): a process with
    shard leases takes over and loses shards as it runs, and its parts follow."""
    object.__setattr__(current, "shards", shards)
