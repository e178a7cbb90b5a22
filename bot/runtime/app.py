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
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import version
from bot.config.reload import Reload, adopt, hold_shards
from bot.config.settings import ConfigError, DiscordSettings, Settings, load_settings
from bot.config.shards import Shards
from bot.config.token import read_token
from bot.delivery.deliverer import Deliverer, in_quiet_hours
from bot.delivery.pacing import Pacer, StoreBudget
from bot.runtime.dry_run import ConsoleSender
from bot.runtime.logs import configure_logging, quiet_voice_warnings
from bot.runtime.metrics import MeteredSender, Metrics
from bot.runtime.service import Newsdesk
from bot.runtime.shard_leases import ShardKeeper, ShardsHeld
from bot.store import PostgresStore, Store, StoreError, open_store

if TYPE_CHECKING:
    from bot.discord.client import NewsdeskBot
    from bot.runtime.http import HealthServer, Probes

log = logging.getLogger("bot")

NO_CREDENTIALS_HELP = (
    "newsdesk: no bot token. Set the DISCORD_TOKEN environment variable (or token_file in "
    "the config), or run `newsdesk run --dry-run` to see the posts in this terminal."
)

STANDBY_NEEDS_POSTGRES = (
    "newsdesk: a standby takes over the shards of other `newsdesk run` processes on the"
    " same database, and a SQLite file serves one: set `database: postgresql://…` (or"
    " NEWSDESK_DATABASE_URL), or run without --standby"
)

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

    def __init__(self, database: Path | str, pid: str) -> None:
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
    configure_logging(args.log_level, args.log_format)
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
            return asyncio.run(
                dry_run(settings, as_json=args.json, once=args.now, database=args.db)
            )
        if settings.database_url is None:  # (a SQLite file: one bot per file)
            if settings.shards is not None and settings.shards.standby:
                print(STANDBY_NEEDS_POSTGRES, file=sys.stderr)
                return 2
            lock = hold_database(settings.database)
        shards = settings.shards if getattr(args, "shard_count", None) is not None else None
        return asyncio.run(serve(settings, token, database=args.db, shards=shards))
    except (DatabaseInUse, ShardsHeld) as exc:
        print(f"newsdesk: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"newsdesk: database error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # a dry run's reader went away (`| head`): cli.main() ends quietly
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


def _on_reload(
    newsdesk: Newsdesk,
    database: Path | None,
    after: Callable[[], object],
    shards: Shards | None = None,
) -> None:
    """SIGHUP reads the config again (``database`` and ``shards``: the command line's --db
    and --shard-ids/--shard-count, which keep their say); ``after()`` then lets the caller
    act on the new settings."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[Reload | None]] = set()  # held, or the task may be collected

    def reload() -> None:
        task = asyncio.create_task(reload_config(newsdesk, database, after, shards))
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)


async def reload_config(
    newsdesk: Newsdesk,
    database: Path | None,
    after: Callable[[], object] = lambda: None,
    shards: Shards | None = None,
) -> Reload | None:
    """Apply the config file as it is now; a config with errors is refused, every error
    logged, and the running one kept."""
    path = newsdesk.settings.path
    try:
        new = await asyncio.to_thread(load_settings, path, database, shards=shards)
    except ConfigError as exc:
        for problem in getattr(exc, "problems", [exc]):
            log.error("config reload refused: %s", problem)
        log.error("config reload refused: still running with the config as it was")
        return None
    change = newsdesk.reload(new)
    after()
    log.info(
        "config reloaded from %s: %d route(s); %s",
        path, len(newsdesk.settings.channels), change.describe(),
    )  # fmt: skip
    for key in change.restart:
        log.warning("config reload: %s changed; that takes a restart", key)
    return change


async def _open(settings: Settings) -> Store:
    path = settings.database
    if settings.database_url is None and str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    return await open_store(settings.store_target)


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


async def serve(
    settings: Settings, token: str, database: Path | None = None, shards: Shards | None = None
) -> int:
    """Run the bot until a signal. With shards, the process holds their leases (see
    shard_leases.py) and its gateway connection follows the shards it holds: a client
    for those, built again when it takes one over or loses one (``shards``: unused, the
    shards come from ``settings``; kept for callers)."""
    # Imported here, not at the top: a dry run never talks to Discord, and discord.py with
    # aiohttp, the cogs and the views cost ≈ 20 MB of a dry run's memory.
    from bot.runtime.http import HealthServer

    point_at(settings.discord)
    quiet_voice_warnings()
    log.info(
        "newsdesk %s starting: config %s, database %s, %d route(s) (%s), shards: %s",
        version(),
        settings.path,
        settings.database_name,
        len(settings.channels),
        ", ".join(f"#{route.name}" for route in settings.channels) or "none",
        settings.shards.describe() if settings.shards else "all",
    )
    store = await _open(settings)
    keeper: ShardKeeper | None = None
    try:
        if isinstance(store, PostgresStore):
            # One unsharded bot per database, as SQLite's lock file; sharded ones share
            # the lock (each shard is held by a lease), and keep an unsharded one out.
            holder = await store.hold_run_lock(shared=settings.shards is not None)
            if holder is not None:
                raise DatabaseInUse(
                    settings.database_name, holder.removeprefix("newsdesk run pid ")
                )
        if settings.shards is not None:
            # one owner id for its shard and delivery leases: the name in both tables
            keeper = ShardKeeper(store, settings.shards, owner=store.lease_owner)
            await keeper.start()
        await store.rank_unknown_quality(settings.unknown_quality)
        # This process holds the database's run lock alone (the file lock, or PostgreSQL's
        # advisory one unshared): whoever held a delivery's lease is dead, so the start-up
        # settle takes those sends over now rather than after their leases run out. Not
        # so for sharded runs on PostgreSQL, which share the lock: other live processes
        # hold leases, and a dead one's run out by themselves.
        sharing = isinstance(store, PostgresStore) and settings.shards is not None
        if not sharing and (ended := await store.expire_leases()):
            log.info("%d send(s) in flight from a previous run: settled now", ended)
        store.set_event_window(settings.events.window)
    except BaseException:
        await store.close()
        raise
    health: HealthServer | None = None
    # a SQLite file moved or deleted under the bot stops it (a PostgreSQL server has no file)
    identity = (
        file_identity(settings.database)
        if settings.database_url is None and str(settings.database) != ":memory:"
        else None
    )
    lost: list[str] = []
    watch: asyncio.Task[None] | None = None
    keeping: asyncio.Task[None] | None = None
    stopping = asyncio.Event()
    # one REST budget for the bot, in the store: every process using the database draws
    # from it, so together they stay under Discord's global limit
    pacer = Pacer(StoreBudget(store, token, settings.discord.rest_per_second))
    client = _Client(settings, store, token, Metrics(settings), database, keeper, stopping, pacer)
    try:
        if settings.http_listen is not None:
            health = HealthServer(settings.http_listen, store, client.metrics, client.probes())
            await health.start()

        def stop() -> None:
            if not stopping.is_set():
                log.info("stopping: finishing the send in flight")
                stopping.set()

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
        if keeper is not None:
            keeping = asyncio.create_task(keeper.run(), name="newsdesk-shard-leases")
        while not stopping.is_set():
            if keeper is not None:
                keeper.changed.clear()
                hold_shards(settings, keeper.running())
                if not keeper.held():  # a standby, or every lease lost: watch the leases
                    log.info("shards: none held of %d; watching the leases", keeper.shards.count)
                    _on_standby_reload(settings, database)  # no client to take SIGHUP
                    await _first(stopping.wait(), keeper.changed.wait())
                    continue
            code = await client.run()
            if code is not None:
                return code
    finally:
        if keeping is not None:
            keeping.cancel()
            await asyncio.wait([keeping])
        if keeper is not None:
            await keeper.release()  # the client is down: nothing of theirs is in flight
        if watch is not None:
            watch.cancel()
        if health is not None:
            await health.stop()
        await store.close()
    log.info("stopped")
    return 2 if lost else 0


def _on_standby_reload(settings: Settings, database: Path | None) -> None:
    """SIGHUP while no client runs: the config's live keys are taken into ``settings``
    (a refused config is logged and the running one kept), for the client of the shards
    taken over next. A client, once started, handles SIGHUP itself."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()  # held, or the task may be collected

    async def reload() -> None:
        try:
            new = await asyncio.to_thread(
                load_settings, settings.path, database, shards=settings.shards
            )
        except ConfigError as exc:
            for problem in getattr(exc, "problems", [exc]):
                log.error("config reload refused: %s", problem)
            return
        adopt(settings, new)
        log.info("config reloaded from %s: %d route(s)", settings.path, len(settings.channels))

    def on_signal() -> None:
        task = asyncio.create_task(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_signal)


async def _first(*waits: Coroutine[Any, Any, object]) -> None:
    """Wait until the first of ``waits`` ends; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class _Client:
    """The Discord client of a running process, one after another: a sharded process
    builds a new one when the shards it holds change.

    discord.py's AutoShardedClient fixes its shard ids when it connects (launch_shards
    reads them once; the ready event counts the shards against them), and an empty list
    means every shard. So a process that takes over a shard, or loses one, closes its
    client and starts a new one for the shards it holds: the same start as a process
    started with those shards (commands synced, guilds learned, the channels' posts
    adopted, and deliveries left in flight settled by looking in the channel first). Its
    other shards reconnect meanwhile, a few seconds, which a takeover can spare.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        token: str,
        metrics: Metrics,
        database: Path | None,
        keeper: ShardKeeper | None,
        stopping: asyncio.Event,
        pacer: Pacer,
    ) -> None:
        self.settings, self.store, self.token, self.metrics = settings, store, token, metrics
        self.database, self.keeper, self.stopping = database, keeper, stopping
        self.pacer = pacer  # one for the process: its clients come one after another
        self.bot: NewsdeskBot | None = None

    def probes(self) -> Probes:
        """/readyz of whichever client runs now; a standby holding no shard is ready."""
        from bot.runtime.http import Probes

        def gateway() -> str | None:
            return self.bot.gateway_problem() if self.bot is not None else None

        def scheduler() -> str | None:
            return self.bot.probes().scheduler() if self.bot is not None else None

        def latency() -> float | None:
            return self.bot.probes().latency() if self.bot is not None else None

        return Probes(gateway, scheduler, latency)

    async def run(self) -> int | None:
        """Run a client until a stop, the connection's end (then the exit code), or a
        change of the shards held (then None: the caller starts the next)."""
        import discord

        from bot.discord.client import EXTENSIONS, make_bot

        settings = self.settings
        # in UTC, not the machine's zone: routes carry their own, and a POSIX TZ such as
        # "CET-1CEST,M3.5.0,M10.5.0/3" is one tzlocal cannot name
        scheduler = AsyncIOScheduler(timezone=UTC)
        bot = make_bot(
            settings, self.store, scheduler, extensions=EXTENSIONS, metrics=self.metrics,
            pacer=self.pacer,
        )  # fmt: skip
        if self.keeper is not None:
            bot.deliverer.lease_left = self.keeper.left  # a lease lost stops its routes at once
        self.bot = bot
        # Log in and hold the gateway: it returns when the connection ends for good, or
        # never while Discord is unreachable (discord.py retries with a backoff of up to
        # 17 min, and close() does not wake it). A stop cancels it, then the bot stops
        # within its bound (client.SEND_GRACE + client.CLOSE_GRACE).
        connection = asyncio.create_task(bot.start(self.token), name="newsdesk-discord")
        learning: set[asyncio.Task[None]] = set()  # held, or the task may be collected

        def reloaded() -> None:
            bot.sender.mod_log_channel = settings.mod_log_channel
            if settings.shards is not None and bot.is_ready():  # routes added: whose are they?
                task = asyncio.create_task(bot.learn_routes(), name="newsdesk-learn-routes")
                learning.add(task)
                task.add_done_callback(learning.discard)

        # the shards it runs keep their say (a standby's are the ones it took over)
        _on_reload(bot.newsdesk, self.database, reloaded, settings.shards)
        changed = self.keeper.changed.wait() if self.keeper is not None else asyncio.Future()
        ending = [asyncio.ensure_future(self.stopping.wait()), asyncio.ensure_future(changed)]
        try:
            await asyncio.wait([connection, *ending], return_when=asyncio.FIRST_COMPLETED)
            if not connection.done():
                if not self.stopping.is_set():
                    assert self.keeper is not None
                    log.info(
                        "shards: now %s: starting the gateway connection again",
                        self.keeper.running().describe(),
                    )
                connection.cancel()  # sends go over REST, which stays open until shutdown
                await asyncio.wait([connection])
            elif not self.stopping.is_set():
                connection.result()  # how the connection ended, if not by a stop
                self.stopping.set()  # it ended for good: so does the process
            elif not connection.cancelled():
                connection.exception()  # it ended as the stop began: the stop is what counts
        except discord.LoginFailure:
            print("newsdesk: Discord rejected the token (check DISCORD_TOKEN)", file=sys.stderr)
            return 2
        finally:
            for task in ending:
                task.cancel()
            await bot.shutdown()
            self.bot = None
        return None


async def dry_run(
    settings: Settings, *, as_json: bool, once: bool, database: Path | None = None
) -> int:
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
        return await _dry_run(settings, as_json, once, done, serving, database)
    except asyncio.CancelledError:
        if done.is_set():
            return 0
        raise


class _Printer(ConsoleSender):
    """The dry run's console. When the reader of its output goes away (`| head`), the
    run ends (``done``) with 141 as cli.main() ends a closed pipe, where each channel's
    run would fail with a traceback and the dry run go on printing to no one."""

    def __init__(self, as_json: bool, done: asyncio.Event) -> None:
        super().__init__(as_json=as_json)
        self.done = done
        self.exit_code = 0

    def _print(self, text: str) -> None:
        if self.exit_code:
            return
        try:
            super()._print(text)
        except BrokenPipeError:
            self.exit_code = 128 + signal.SIGPIPE
            self.done.set()


async def _dry_run(
    settings: Settings,
    as_json: bool,
    once: bool,
    done: asyncio.Event,
    serving: asyncio.Event,
    database: Path | None = None,
) -> int:
    scheduler = AsyncIOScheduler(timezone=UTC)
    store: Store | None = None
    health: HealthServer | None = None
    if settings.shards is not None:  # it knows no guild: it cannot tell the shards apart
        log.info("dry run: shards %s ignored; every route is shown", settings.shards.describe())
        settings = replace(settings, shards=None)
    try:
        if settings.database_url is not None or settings.database.exists():
            real = await open_store(settings.store_target)
            try:
                store = await real.snapshot()
            finally:
                await real.close()
        else:
            store = await open_store(":memory:")
        await store.rank_unknown_quality(settings.unknown_quality)  # the copy, not the file
        store.set_event_window(settings.events.window)
        metrics = Metrics(settings)
        printer = _Printer(as_json, done)
        deliverer = Deliverer(store, MeteredSender(printer, metrics), settings)
        newsdesk = Newsdesk(settings, store, scheduler, deliverer, on_load=metrics.loaded)
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
            return printer.exit_code
        serving.set()
        newsdesk.start()
        _on_reload(newsdesk, database, lambda: None)
        if settings.http_listen is not None and not once:
            from bot.runtime.http import HealthServer  # aiohttp's server: only when asked

            health = HealthServer(settings.http_listen, store, metrics, dry_run_probes(scheduler))
            await health.start()
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
        return printer.exit_code
    finally:
        if health is not None:
            await health.stop()
        if store is not None:
            await store.close()


def dry_run_probes(scheduler: AsyncIOScheduler) -> Probes:
    """A dry run has no gateway: it is ready while its store and schedules are."""
    from bot.runtime.http import Probes, scheduler_running

    return Probes(
        gateway=lambda: None, scheduler=scheduler_running(scheduler), latency=lambda: None
    )
