"""What ``check-config`` tells beyond the file's own values: whether ``run`` would work
on this machine (folders, token, channels) and when each channel would post next."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.config.cron import just_after
from bot.config.settings import ConfigError, Route, Settings
from bot.config.token import read_token
from bot.delivery.jobs import trigger_for


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)  # ``run`` would fail or post nowhere
    notes: list[str] = field(default_factory=list)  # worth knowing, not wrong


def _writable_folder(path: Path) -> str | None:
    """Why a database could not be created or written at ``path``, or None."""
    if path.exists():
        if path.is_dir():
            return f"{path} is a folder, not a database file"
        return None if os.access(path, os.R_OK | os.W_OK) else f"{path} is not writable"
    folder = path.parent
    while not folder.exists():  # run creates the missing folders: the first existing one
        if folder == folder.parent:
            break
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"folder {folder} is not writable"
    return None


def next_runs(route: Route, now: datetime, count: int = 3) -> list[datetime]:
    """The route's next ``count`` run times in its own zone, as a start at ``now`` would
    schedule them (an interval counts from the start)."""
    if route.schedule.every is not None:
        return [
            (now + route.schedule.every * n).astimezone(route.zone) for n in range(1, count + 1)
        ]
    trigger = trigger_for(route)
    runs: list[datetime] = []
    previous = None
    moment = now
    while len(runs) < count:
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        runs.append(fire.astimezone(route.zone))
        previous, moment = fire, just_after(fire)
    return runs


def check(settings: Settings, now: datetime, environ: dict[str, str]) -> Findings:
    found = Findings()
    if not settings.seeds.is_dir():
        found.problems.append(f"seeds: no folder at {settings.seeds}")
    why = _writable_folder(settings.database) if settings.database_url is None else None
    if why:
        found.problems.append(f"database: {why}")
    if not settings.channels:
        found.problems.append("channels: none configured: the bot would post nowhere")
    try:
        token = read_token(settings, environ)
    except ConfigError as exc:
        found.problems.append(f"{exc.key}: {exc.expected}")
    else:
        if token is None:
            found.notes.append(
                "no token: `newsdesk run` needs DISCORD_TOKEN or token_file (a dry run needs none)"
            )
    for route in settings.channels:
        times = ", ".join(t.strftime("%a %Y-%m-%d %H:%M") for t in next_runs(route, now))
        found.notes.append(
            f"#{route.name}: {route.schedule.describe()}; next runs ({route.timezone}): {times}"
        )
    return found
