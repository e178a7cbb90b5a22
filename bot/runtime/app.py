"""``newsdesk run``: build every resource here, pass it in, run until a signal."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import errno
import fcntl
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import ConfigError, DiscordSettings, Settings, read_token
from bot.delivery import Deliverer, in_quiet_hours
from bot.runtime.dry_run import ConsoleSender
from bot.runtime.service import Newsdesk
from bot.store import Store, StoreError, open_store

log = logging.getLogger("bot")

NO_CREDENTIALS_HELP = (
    "newsdesk: no bot token. Set the DISCORD_TOKEN environment variable (or token_file in "
    "the config), or run `newsdesk run --dry-run` to see the posts in this terminal."
)


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("discord.gateway").setLevel(logging.WARNING)


# mallopt(3) parameters (glibc's malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, kept fixed

Mallopt = Callable[[int, int], int]


def glibc_mallopt() -> Mallopt | None:
    """The C library's mallopt(3) (glibc; a no-op in musl), or None where there is none."""
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None


def tune_malloc(environ: Mapping[str, str], mallopt: Mallopt | None) -> None:
    """Let glibc give back what a scan of a big seeds folder used.

    Measured on the 100k benchmark: idle RSS 60 → 50 MB, peak 81.6 → 78.9 MB.
    One arena: the SQLite and executor threads would each get a heap of their own, and
    what one thread frees could not serve another (the GIL serialises most allocations
    anyway). A fixed mmap threshold: glibc raises it to the size of the largest block
    freed (the scan's multi-MB sets and lists), after which such blocks land in the heap
    and stay there after use. MALLOC_ARENA_MAX / MALLOC_MMAP_THRESHOLD_ set in the
    environment win.
    """
    if mallopt is None:
        return
    if "MALLOC_ARENA_MAX" not in environ:
        mallopt(M_ARENA_MAX, 1)
    if "MALLOC_MMAP_THRESHOLD_" not in environ:
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def point_at(endpoints: DiscordSettings) -> None:
    """Talk to the configured Discord (a proxy or a compatible server in tests)."""
    import discord  # see serve()
    import yarl

    discord.http.Route.BASE = endpoints.api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(endpoints.gateway_url)


class DatabaseInUse(Exception):
    """Another ``newsdesk run`` holds the database's run lock."""

    def __init__(self, database: Path, pid: str) -> None:
        super().__init__(
            f"the database {database} is in use by another `newsdesk run` (pid {pid}):"
            " one bot per database, or every forum story is posted twice. Stop that one"
            " first, or give this one its own --db"
        )


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def hold_database(database: Path) -> int | None:
    """Take the run lock of ``database`` (``<db>.lock`` beside it, holding our pid) for
    the life of the process; returns its descriptor (None for ``:memory:``).

    One bot per database: two would each claim and post the same stories. Only ``run``
    takes it, so loads, read commands and dry runs go on beside a bot. An flock, not a
    pid file: the kernel drops it when the process ends however it ends (SIGKILL too),
    so a dead bot never blocks the next start. Raises DatabaseInUse naming the holder.
    """
    if str(database) == ":memory:":
        return None
    database.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(database)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
            raise DatabaseInUse(database, holder or "unknown") from None
        raise
    pid = f"{os.getpid()}\n".encode()
    os.pwrite(fd, pid, 0)
    os.ftruncate(fd, len(pid))
    return fd


def run(settings: Settings, args: argparse.Namespace) -> int:
    configure_logging()
    tune_malloc(os.environ, glibc_mallopt())
    token = None
    if not args.dry_run:
        try:
            token = read_token(settings)
        except ConfigError as exc:
            print(f"newsdesk: config error: {exc}", file=sys.stderr)
            return 2
        if not token:
            print(NO_CREDENTIALS_HELP, file=sys.stderr)
            return 2
    lock: int | None = None
    try:
        if token is None:
            return asyncio.run(dry_run(settings, as_json=args.json, once=args.now))
        lock = hold_database(settings.database)
        return asyncio.run(serve(settings, token))
    except DatabaseInUse as exc:
        print(f"newsdesk: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"newsdesk: database error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the database's folder; Discord unreachable at start
        print(f"newsdesk: cannot start: {exc}", file=sys.stderr)
        return 2
    finally:
        if lock is not None:
            os.close(lock)


def _on_signals(callback: object) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, callback)  # type: ignore[arg-type]


async def _open(path: Path) -> Store:
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    return await open_store(str(path))


DB_CHECK_SECONDS = 5.0  # how often a running bot checks that its database is still there


def file_identity(path: Path) -> tuple[int, int] | None:
    """The (device, inode) of the file at ``path``, or None if there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


async def watch_database(
    path: Path,
    identity: tuple[int, int] | None,
    on_lost: Callable[[str], None],
    every: float = DB_CHECK_SECONDS,
) -> None:
    """Call ``on_lost`` with what happened once the file at ``path`` is no longer the one
    the bot opened (``identity``): deleted, or replaced by another file.

    SQLite goes on writing to the file it opened, deleted or not, so without this a bot
    would post into a database nobody will see again, and after a restart on the new
    file post every story again. The store holds the file open, so its inode cannot be
    given to a new file meanwhile.
    """
    while True:
        await asyncio.sleep(every)
        try:
            now = file_identity(path)
        except OSError as exc:  # the folder became unreadable: say so, keep watching
            log.warning("cannot check the database %s: %s", path, exc)
            continue
        if now != identity:
            on_lost("deleted" if now is None else "replaced by another file")
            return


async def serve(settings: Settings, token: str) -> int:
    # Imported here, not at the top: a dry run never talks to Discord, and discord.py with
    # aiohttp, the cogs and the views cost ≈ 20 MB of a dry run's memory.
    import discord

    from bot.runtime.client import EXTENSIONS, NewsdeskBot

    point_at(settings.discord)
    # in UTC, not the machine's zone: routes carry their own, and a POSIX TZ such as
    # "CET-1CEST,M3.5.0,M10.5.0/3" is one tzlocal cannot name
    scheduler = AsyncIOScheduler(timezone=UTC)
    store = await _open(settings.database)
    identity = file_identity(settings.database) if str(settings.database) != ":memory:" else None
    lost: list[str] = []
    watch: asyncio.Task[None] | None = None
    try:
        bot = NewsdeskBot(settings, store, scheduler, extensions=EXTENSIONS)
        stopping: list[asyncio.Task[None]] = []

        def stop() -> None:
            if not stopping:
                log.info("stopping: finishing the send in flight")
                stopping.append(asyncio.create_task(bot.shutdown()))

        def database_lost(what: str) -> None:
            lost.append(what)
            log.error(
                "the database %s was %s while the bot ran: stopping. Restore it and start"
                " again (the start-up check adopts the posts the channels already show)",
                settings.database,
                what,
            )
            stop()

        _on_signals(stop)
        if identity is not None:
            watch = asyncio.create_task(watch_database(settings.database, identity, database_lost))
        try:
            async with bot:
                await bot.start(token)
        except discord.LoginFailure:
            print("newsdesk: Discord rejected the token (check DISCORD_TOKEN)", file=sys.stderr)
            return 2
        finally:
            if stopping:
                await stopping[0]
            else:
                await bot.newsdesk.stop()
    finally:
        if watch is not None:
            watch.cancel()
        await store.close()
    log.info("stopped")
    return 2 if lost else 0


async def dry_run(settings: Settings, *, as_json: bool, once: bool) -> int:
    """Run the pipeline against a throw-away copy of the store, printing each post.

    SIGINT/SIGTERM while it starts (the copy, the first load) cancels it, and the copy
    is deleted; once it runs, they stop it after the post in hand.
    """
    task = asyncio.current_task()
    done = asyncio.Event()
    serving = asyncio.Event()  # set once the schedules run: a signal then stops gently

    def stop() -> None:
        done.set()
        if not serving.is_set() and task is not None:
            task.cancel()

    _on_signals(stop)
    try:
        return await _dry_run(settings, as_json, once, done, serving)
    except asyncio.CancelledError:
        if done.is_set():
            return 0
        raise


async def _dry_run(
    settings: Settings, as_json: bool, once: bool, done: asyncio.Event, serving: asyncio.Event
) -> int:
    scheduler = AsyncIOScheduler(timezone=UTC)
    store: Store | None = None
    try:
        if settings.database.exists():
            real = await open_store(str(settings.database))
            try:
                store = await real.snapshot()
            finally:
                await real.close()
        else:
            store = await open_store(":memory:")
        deliverer = Deliverer(store, ConsoleSender(as_json=as_json), settings)
        newsdesk = Newsdesk(settings, store, scheduler, deliverer)
        await newsdesk.rescan()
        log.info("dry run: posts are printed here; nothing is sent to Discord")
        if not settings.channels:
            print("newsdesk: no channels configured in", settings.path, file=sys.stderr)
            return 2
        if once:  # each channel's run as if it were due now: quiet hours, reviews and all
            for route in settings.channels:
                if in_quiet_hours(route, datetime.now(UTC)):
                    log.info("#%s: in its quiet hours now: no post", route.name)
                await deliverer.tick(route)
            return 0
        serving.set()
        newsdesk.start()
        for route in settings.channels:
            job = scheduler.get_job(f"post:{route.id}")
            log.info(
                "#%s: %s, next run %s",
                route.name,
                route.schedule.describe(),
                job.next_run_time if job else "never",
            )
        await done.wait()
        await newsdesk.stop()
        return 0
    finally:
        if store is not None:
            await store.close()
