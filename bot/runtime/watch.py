"""New and edited article files within seconds: the seeds folder is watched through the
file system's notifications (watchfiles: inotify on Linux), the periodic rescan kept as
the fallback for what notifications miss (network file systems, an exhausted watch
limit, a folder made after the start)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from watchfiles import Change, awatch

from bot.ingest.parsing import ARTICLE_SUFFIXES

log = logging.getLogger(__name__)

DEBOUNCE_MS = 200  # changes this close together are loaded as one batch
# How often the watch thread wakes to see whether it should stop: its only cost while
# nothing changes (every 50 ms, watchfiles' default, cost ~0.15% of a core)
STEP_MS = 500


def article_paths(root: Path, changes: Iterable[tuple[Change, str]]) -> list[Path] | None:
    """The article files added or modified, as the loader would find them; None when the
    changes need a look at the whole folder (a file or folder deleted or moved away)."""
    paths: set[Path] = set()
    for change, name in changes:
        path = Path(name)
        if change == Change.deleted:
            return None
        try:
            parts = path.relative_to(root).parts
        except ValueError:
            return None
        if any(part.startswith(".") for part in parts):
            continue  # hidden, as a scan skips it: an editor's swap file
        if path.is_dir():
            return None  # a folder moved in: its files were never announced one by one
        if path.name.lower().endswith(ARTICLE_SUFFIXES) and path.is_file():
            paths.add(path)
    return sorted(paths)


async def watch_folder(
    root: Path,
    load: Callable[[list[Path] | None], Awaitable[object]],
    stop: asyncio.Event,
) -> None:
    """Call ``load(paths)`` for each batch of changes below ``root`` (``None``: load the
    whole folder) until ``stop`` is set. Returns at once if the folder cannot be watched."""
    root = await asyncio.to_thread(root.resolve)
    try:
        async for changes in awatch(
            root, stop_event=stop, debounce=DEBOUNCE_MS, step=STEP_MS, recursive=True
        ):
            paths = await asyncio.to_thread(article_paths, root, changes)
            if paths == []:
                continue
            await load(paths)
    except (OSError, RuntimeError) as exc:  # no such folder; the inotify watch limit
        log.warning(
            "cannot watch %s for new files (%s): the periodic rescan picks them up", root, exc
        )
