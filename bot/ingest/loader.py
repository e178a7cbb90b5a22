"""Folders of article files → the store, incrementally.

A file whose size and mtime are unchanged is not read; one whose bytes hash the same is
not parsed. Parsing runs off the event loop, in worker processes for big folders.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import hashlib
import itertools
import multiprocessing
import os
import signal
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import Any, NamedTuple

from bot.ingest.frontmatter import MAX_FILE_BYTES, TOO_LARGE, ArticleError
from bot.ingest.parsing import ARTICLE_SUFFIXES, parse_file
from bot.store.base import Store
from bot.store.records import FileRecord, LoadItem, LoadOutcome, StoredArticle

IN_FLIGHT = 2 * 5000  # files handed to the parsers and not yet back, at most
BATCH = 5000  # files per store transaction: fewer commits rewrite each index page fewer times
# Once the last files are handed out, whenever the store is idle it takes what has come
# back, this many or more: little is left to store when the parsing ends. (At the end of a
# 100k load, the store used to work alone on 5,000 files for 0.45 s.)
TAIL_BATCH = 1000
# Files per task for a worker process. A worker's queued tasks must outlast the stretches
# in which the bot's process holds the GIL (building a batch's rows) and cannot hand out
# more: with 100, both cores were 92-96% busy during a load, with 500 96-98%.
CHUNK = 500
INDEX_SLICE = 2000  # files compared with the store's index at a time
PROCESS_THRESHOLD = 400  # below this many files to parse, one worker thread is enough
GC_THRESHOLD = 100_000  # new objects between the collector's passes while loading (else 700)
# Parse workers run at a lower priority (nice) than the bot's process: the event loop and
# the store, which every parsed file waits for, come first when the cores are busy.
WORKER_NICE = 10
STATUSES = ("loaded", "updated", "unchanged", "duplicates", "rejected", "withdrawn")
MERGED = "merged"  # loaded or updated stories now in another's event (counted apart)
RELEASE_ROUNDS = 3  # rounds of reading released duplicates again, in one load

Progress = Callable[[int, int], None]


@dataclass
class LoadReport:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    unsearched: int = 0  # roots, folders and names among the problems: see find_files
    warnings: list[tuple[str, str]] = field(default_factory=list)
    post_changed: list[str] = field(default_factory=list)  # ids: coverage or link changed
    # duplicates whose story's file stopped giving it: read again at the end of the load
    released: list[str] = field(default_factory=list)
    # Every stored file's outcome, when load_paths is asked to keep them (keep_outcomes).
    # The bot needs none; a 1M-file load peaked at 701 MB with them, 373 MB without.
    outcomes: list[LoadOutcome] | None = None

    def summary(self) -> str:
        """The counts, and the stories merged into another's event when there are any."""
        counts = ", ".join(f"{self.counts[name]} {name}" for name in STATUSES)
        merged = self.counts[MERGED]
        return f"{counts}, {merged} merged into another story's event" if merged else counts


class Found(NamedTuple):
    files: list[str]  # sorted
    # what could not be searched, with the reason: a missing root, a folder that cannot
    # be listed, a file or folder whose name is not UTF-8 (no path in the store or in a
    # message could hold it)
    problems: list[tuple[str, str]]
    unlisted: list[str]  # folders that exist but could not be listed


def find_files(roots: Iterable[Path]) -> Found:
    """Article files below ``roots`` (recursively, hidden entries skipped)."""
    found: list[str] = []
    missing: list[tuple[str, str]] = []
    unlisted: list[str] = []
    for root in roots:
        root = Path(root)
        if root.is_file():
            found.append(str(root.resolve()))
            continue
        if not root.is_dir():
            missing.append((str(root), "no such file or folder"))
            continue
        stack = [str(root.resolve())]
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError as exc:
                missing.append((folder, exc.strerror or str(exc)))
                unlisted.append(folder)
                continue
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if _utf8(name):
                        stack.append(entry.path)
                    else:
                        missing.append((_shown(entry.path), _NOT_UTF8))
                elif name.lower().endswith(ARTICLE_SUFFIXES):
                    if _utf8(name):
                        found.append(entry.path)
                    else:
                        missing.append((_shown(entry.path), _NOT_UTF8))
    found.sort()  # in place, and no set of every path: duplicates (nested roots) are adjacent
    files = [p for i, p in enumerate(found) if i == 0 or p != found[i - 1]]
    return Found(files, missing, unlisted)


_NOT_UTF8 = "the name is not UTF-8: rename it to load it"


def _utf8(name: str) -> bool:
    """Whether a name from the file system is UTF-8 (else it holds escaped bytes)."""
    if name.isascii():
        return True
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _shown(path: str) -> str:
    """A path with bytes that are not UTF-8 shown as \\xNN."""
    return os.fsencode(path).decode(errors="backslashreplace")


def read_one(path: str, known_sha256: str | None = None) -> LoadItem:
    """Read, hash and parse one file. Runs in a worker; never raises for a bad file.

    A file whose bytes hash to ``known_sha256`` is not parsed: it comes back with no
    result and no error, which the store counts as unchanged.
    """
    try:
        stat, data = _read_bytes(path)
    except OSError as exc:
        return LoadItem(path, 0, 0, "", None, f"cannot read: {exc.strerror or exc}")
    except _NotRead as exc:
        return LoadItem(path, exc.stat.st_size, exc.stat.st_mtime_ns, "", None, exc.reason)
    digest = hashlib.sha256(data).hexdigest()
    if digest == known_sha256:
        return LoadItem(path, stat.st_size, stat.st_mtime_ns, digest)
    try:
        parsed = parse_file(data)
        # No copy of the front matter: the file is the source, and the article keeps
        # every field (unknown ones under "extra"): a second copy would only grow the store.
        article = StoredArticle.of(parsed.article, "")
    except ArticleError as exc:
        return LoadItem(path, stat.st_size, stat.st_mtime_ns, digest, None, str(exc))
    except (RecursionError, MemoryError):
        return LoadItem(path, stat.st_size, stat.st_mtime_ns, digest, None, "too complex")
    except Exception as exc:  # a parser bug must cost one file, not the whole load
        reason = f"unexpected parser error: {type(exc).__name__}: {exc}"
        return LoadItem(path, stat.st_size, stat.st_mtime_ns, digest, None, reason)
    # Plain values only: they cross back from a worker process at little cost.
    return LoadItem(
        path, stat.st_size, stat.st_mtime_ns, digest, article, None, parsed.warnings
    )  # fmt: skip


class _NotRead(Exception):
    """A file left unread: not a regular file, or over the size bound."""

    def __init__(self, stat: os.stat_result, reason: str) -> None:
        self.stat, self.reason = stat, reason


def _read_bytes(path: str) -> tuple[os.stat_result, bytes]:
    """A file's stat and bytes, through raw system calls: open()'s file object costs more
    than the read itself for files this small.

    Never more than MAX_FILE_BYTES + 1 bytes are read, and only from a regular file: a
    named pipe would block the load, /dev/zero would never end. (Non-blocking opens a
    pipe without waiting for a writer; it changes nothing for a regular file.)
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        stat = os.fstat(fd)
        if not S_ISREG(stat.st_mode):
            raise _NotRead(stat, "not a regular file")
        if stat.st_size > MAX_FILE_BYTES:
            raise _NotRead(stat, TOO_LARGE)
        data = os.read(fd, stat.st_size + 1)
        if len(data) > stat.st_size:  # it grew since: read the rest too, up to the bound
            chunks = [data]
            while len(data) <= MAX_FILE_BYTES and (chunk := os.read(fd, 1 << 16)):
                chunks.append(chunk)
                data = b"".join(chunks)
            data = data[: MAX_FILE_BYTES + 1]  # parsing rejects it as too large
        return stat, data
    finally:
        os.close(fd)


# A LoadItem as plain tuples: they cross from a worker process at about half the cost of
# the NamedTuples, whose pickling and rebuilding run Python code for each one.
_Plain = tuple[Any, ...]


def _read_many(jobs: list[tuple[str, str | None]]) -> list[_Plain]:
    return [_plain(read_one(path, known_sha256)) for path, known_sha256 in jobs]


def _plain(item: LoadItem) -> _Plain:
    article = item.article
    return (*item[:4], None if article is None else tuple(article), *item[5:])


def _item(plain: _Plain) -> LoadItem:
    path, size, mtime_ns, sha256, article, error, warnings = plain
    stored = None if article is None else StoredArticle._make(article)
    return LoadItem(path, size, mtime_ns, sha256, stored, error, warnings)


def _known_sha256(known: FileRecord | None) -> str | None:
    """The hash under which a file need not be parsed again (a rejected one always is)."""
    return known.sha256 if known is not None and known.status != "rejected" else None


def _changed(paths: list[str], known: dict[str, FileRecord]) -> set[str]:
    """Those of ``paths`` that are new, or whose size or mtime differ from the record."""
    return {p for p in paths if _stat_changed(p, known.get(p))}


def _stat_changed(path: str, known: FileRecord | None) -> bool:
    if known is None:
        return True
    try:
        stat = os.stat(path)
    except OSError:
        return True
    return stat.st_size != known.size or stat.st_mtime_ns != known.mtime_ns


async def load_paths(
    store: Store,
    roots: Iterable[Path],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
    keep_outcomes: bool = False,
) -> LoadReport:
    """Load every article file below ``roots`` into ``store``; report what happened.

    ``keep_outcomes`` keeps each parsed file's outcome in the report's ``outcomes``.
    """
    report = LoadReport(outcomes=[] if keep_outcomes else None)
    roots = list(roots)
    loop = asyncio.get_running_loop()
    files, missing, unlisted = await loop.run_in_executor(None, find_files, roots)
    report.problems += missing
    report.unsearched = len(missing)
    # Worker processes start as soon as enough files need parsing, and boot (0.3 s) while
    # the rest of the folder is compared; a reload of unchanged files starts none.
    count = workers or min(4, os.cpu_count() or 1)
    own_pool: ProcessPoolExecutor | None = None
    try:
        # First: the duplicates of a file that is gone are then new, and read below.
        await _forget_vanished(store, roots, files, unlisted)
        # Compare in slices: a large folder's index never sits in memory at once.
        jobs: list[tuple[str, str | None]] = []  # (changed path, hash that needs no parse)
        for start in range(0, len(files), INDEX_SLICE):
            part = files[start : start + INDEX_SLICE]
            known = await store.file_records(part)
            stale = await loop.run_in_executor(None, _changed, part, known)
            jobs += [(p, _known_sha256(known.get(p))) for p in part if p in stale]  # in order
            _report_unchanged(report, [known[p] for p in part if p in known and p not in stale])
            if executor is None and count > 1 and len(jobs) >= PROCESS_THRESHOLD:
                own_pool = executor = _process_pool(count)
        if progress:
            progress(0, len(jobs))
        with _fewer_collections():
            await _parse_and_store(store, jobs, report, progress, executor)
        await _read_released(store, report, executor)
        # Last: a deleted file's story that no file of this load took over is withdrawn.
        report.counts["withdrawn"] += await store.withdraw_orphans()
    finally:
        store.end_load()
        if own_pool is not None:
            own_pool.shutdown(cancel_futures=True)
    return report


def _process_pool(count: int) -> ProcessPoolExecutor:
    """``count`` parse workers, started now (each boots a Python of its own)."""
    # spawn, not fork: the bot's process has threads (SQLite, discord.py)
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=count, mp_context=spawn, initializer=_start_worker)
    with _no_sigint():
        for _ in range(count):
            pool.submit(_ready)  # the pool starts a worker per task waiting, up to count
    return pool


@contextmanager
def _no_sigint() -> Iterator[None]:
    """Block SIGINT in this thread meanwhile: the workers it spawns keep it blocked.

    Ctrl-C reaches every process of the terminal's group. It is the load's to handle (it
    stops: exit 130); workers end with it (_end_with_parent), and each one dying of it
    printed a traceback, often from the middle of its imports. multiprocessing spawns
    its resource tracker the same way.
    """
    if not hasattr(signal, "pthread_sigmask"):  # (not on Windows)
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _start_worker() -> None:
    """A parse worker's set-up: a lower priority, and an end with its parent's."""
    if hasattr(os, "nice"):  # (not on Windows)
        os.nice(WORKER_NICE)
    _end_with_parent()


def _end_with_parent() -> None:
    """End this worker as soon as the process that started it has ended, however.

    A worker waits for tasks on a pipe whose writing end it holds itself, so a parent
    killed by SIGKILL left its workers waiting forever. A spawned child holds the reading
    end of a pipe that only its parent writes to (``parent_process()``'s sentinel): it
    reaches end-of-file when the parent's process ends, which a thread waits for here.
    Not prctl(PR_SET_PDEATHSIG): it fires when the *thread* that spawned the worker ends
    (the event loop's thread, which need not be the main one), and not on other systems.
    A parent already gone finds the pipe at its end at once: no race with the start.
    """
    parent = multiprocessing.parent_process()
    if parent is None:  # not started by multiprocessing
        return

    def watch() -> None:
        parent.join()  # no timeout: returns when the parent's end of the pipe is closed
        os._exit(1)  # nothing to save: what a worker parses, the parent (gone) stores

    threading.Thread(target=watch, name="newsdesk-parent-watch", daemon=True).start()


def _ready() -> None:
    """A worker's first task: nothing, once the worker has started."""


async def _forget_vanished(
    store: Store, roots: list[Path], files: list[str], unlisted: list[str]
) -> None:
    """Forget the store's files below ``roots`` that are no longer among ``files``,
    except those in an ``unlisted`` folder or a root that does not exist: what is there is
    unknown, not gone (a missing mount or a mistyped path must not withdraw stories)."""
    kept = tuple(folder.rstrip("/") + "/" for folder in unlisted)
    loop = asyncio.get_running_loop()
    bases = await loop.run_in_executor(
        None, lambda: [str(Path(r).resolve()) for r in roots if os.path.exists(r)]
    )
    for base in bases:
        # A page of the store's paths at a time, looked up in the sorted list of files:
        # neither the whole index nor a set of the files sits in memory at once.
        after = ""
        while page := await store.file_paths_under(base, after, INDEX_SLICE):
            vanished = [p for p in page if not _listed(files, p) and not p.startswith(kept)]
            if vanished:
                await store.forget_files(vanished)
            after = page[-1]


async def _read_released(store: Store, report: LoadReport, executor: Executor | None) -> None:
    """Read again the duplicates that a file of this load stopped keeping out (it gave
    their story another URL, or another story): one of them now gives the story.

    Each was counted as a duplicate in this load; the new reading counts instead. One
    read may release more (two files that swapped URLs): a few rounds settle it.
    """
    for _ in range(RELEASE_ROUNDS):
        released, report.released = report.released, []
        # one read later in this load has its record again: it was counted as read
        known = await store.file_records(released)
        again = sorted({p for p in released if p not in known})
        if not again:
            return
        report.counts["duplicates"] -= len(again)
        dropped = set(again)
        report.problems = [
            (path, reason)
            for path, reason in report.problems
            if not (path in dropped and reason.startswith("duplicate of "))
        ]
        await _parse_and_store(store, [(p, None) for p in again], report, None, executor)


async def _parse_and_store(
    store: Store,
    jobs: list[tuple[str, str | None]],
    report: LoadReport,
    progress: Progress | None,
    executor: Executor | None,
) -> None:
    loop = asyncio.get_running_loop()
    total, done = len(jobs), 0
    chunk = CHUNK if executor is not None else BATCH
    slices = (jobs[i : i + chunk] for i in range(0, total, chunk))
    # Parsing runs ahead of the store by at most IN_FLIGHT files: when the store is the
    # slower stage, finished articles would otherwise pile up (2 GB at 300k).
    window: deque[asyncio.Future[list[_Plain]]] = deque()
    for first in itertools.islice(slices, max(1, IN_FLIGHT // chunk)):
        window.append(loop.run_in_executor(executor, _read_many, first))
    batch: list[LoadItem] = []
    # A batch is stored while the next one arrives, and the window is kept full meanwhile:
    # the parsers never wait for the store to hand them more files.
    storing: asyncio.Future[None] | None = None
    try:
        while window:
            items = [_item(plain) for plain in await window.popleft()]
            if (following := next(slices, None)) is not None:
                window.append(loop.run_in_executor(executor, _read_many, following))
            batch.extend(items)
            done += len(items)
            idle = storing is None or storing.done()
            if len(batch) >= BATCH or (following is None and idle and len(batch) >= TAIL_BATCH):
                if storing is not None:
                    await storing  # one batch stored at a time, in order
                storing = asyncio.ensure_future(_store_batch(store, batch, report))
                batch = []
            if progress:
                progress(done, total)
        if storing is not None:
            await storing
        if batch:
            await _store_batch(store, batch, report)
    finally:
        if storing is not None:
            if not storing.done():  # the load failed or was cancelled: roll the batch back
                storing.cancel()
            await asyncio.wait([storing])
            if not storing.cancelled():
                storing.exception()  # the error that ended the load is the one raised


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while files are parsed and stored.

    Up to IN_FLIGHT parsed files are alive at once, each a handful of tuples, and the
    collector would walk them every 700 allocations, a large share of the main process's
    CPU on a big folder. Cycles are still collected, less often. A load already running keeps the
    setting; the threshold is set back after.
    """
    threshold, *older = gc.get_threshold()
    if threshold >= GC_THRESHOLD:
        yield
        return
    gc.set_threshold(GC_THRESHOLD, *older)
    try:
        yield
    finally:
        gc.set_threshold(threshold, *older)


def _listed(files: list[str], path: str) -> bool:
    """Whether ``path`` is in ``files`` (sorted)."""
    at = bisect.bisect_left(files, path)
    return at < len(files) and files[at] == path


def _report_unchanged(report: LoadReport, records: list[FileRecord]) -> None:
    """Unchanged files count as unchanged, except broken ones: they are still broken."""
    for record in records:
        if record.status == "rejected":
            report.counts["rejected"] += 1
            report.problems.append((record.path, record.error or "rejected"))
        elif record.status == "duplicate":
            report.counts["duplicates"] += 1
            report.problems.append(
                (record.path, f"duplicate of {record.owner} (same story URL); skipped")
            )
        else:
            report.counts["unchanged"] += 1


async def _store_batch(store: Store, batch: list[LoadItem], report: LoadReport) -> None:
    outcomes = await store.apply_load(batch)
    if report.outcomes is not None:
        report.outcomes += outcomes
    for outcome in outcomes:
        if outcome.post_changed and outcome.article_id:
            report.post_changed.append(outcome.article_id)
        report.released += outcome.released
        name = "duplicates" if outcome.status == "duplicate" else outcome.status
        report.counts[name] += 1
        if outcome.merged_into is not None:
            report.counts[MERGED] += 1
        if outcome.status == "rejected":
            report.problems.append((outcome.path, outcome.detail or "rejected"))
        elif outcome.status == "duplicate":
            report.problems.append(
                (outcome.path, f"duplicate of {outcome.detail} (same story URL); skipped")
            )
    for item in batch:
        report.warnings.extend((item.path, w) for w in item.warnings)
