"""The PostgreSQL store's connections, transactions, schema and life cycle."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from importlib import resources
from typing import Any, Self

import asyncpg

from bot.models import UNKNOWN_QUALITY
from bot.store.postgres import text
from bot.store.records import LEASE_SECONDS, StoreError, new_lease_owner

# Connection failures are OSError; a closed pool or a value asyncpg cannot send is an
# InterfaceError (asyncpg.DataError among them); the server's refusals are PostgresError.
DRIVER_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    asyncio.TimeoutError,
)
# ValueError: a malformed URL
_OPEN_ERRORS: tuple[type[Exception], ...] = (*DRIVER_ERRORS, ValueError, StoreError)
URL_SCHEMES = ("postgresql://", "postgres://")
DEFAULT_SCHEMA = "public"
_POOL_SIZE = 10
_CLOSE_SECONDS = 10.0
# The tables, parents first (a copy inserts in this order).
TABLES = (
    "articles", "search_words", "article_topics", "topic_stats", "files", "deliveries",
    "queue_entries", "routes", "audit_log", "post_edits", "submitted_stories",
    "submitted_channels", "orphans", "digests", "digest_items", "route_guilds",
    "event_apart", "rest_budget",
)  # fmt: skip
# The tables of the running processes' state (who runs which shard): a snapshot and a
# copy start without it.
RUNTIME_TABLES = ("shard_leases",)
# The identity columns, set past the rows copied into a table.
IDENTITIES = (("articles", "rowid"), ("audit_log", "id"), ("digests", "id"))


def is_postgres_url(target: str) -> bool:
    return target.startswith(URL_SCHEMES)


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


# the server's clock, in Unix seconds: what lease expiries are stamped and read by, the
# same for every process on the database whatever their machines' clocks
CLOCK = "extract(epoch FROM clock_timestamp())::float8"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def latest_schema() -> int:
    return max(number for number, _ in _scripts())


def _scripts() -> list[tuple[int, str]]:
    folder = resources.files("bot.store.postgres") / "migrations"
    return sorted(
        (int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    )


async def _stem_search_words(conn: asyncpg.Connection) -> None:
    """Migration 9, in its transaction: every story's search words written again, stemmed
    (text.search_words), from its stored row, through the script's stemmed_words."""
    rows: list[tuple[int, str, str]] = []
    async for rowid, title, data in conn.cursor(
        "SELECT w.rowid, a.title, a.data FROM search_words w JOIN articles a ON a.rowid = w.rowid",
        prefetch=5_000,
    ):
        article = json.loads(data)
        provider = article["provider"]["name"] if article.get("provider") else ""
        excerpt = article.get("excerpt") or ""
        rows.append((rowid, *text.search_words(title, excerpt, article["topics"], provider)))
        if len(rows) >= 10_000:
            await conn.copy_records_to_table("stemmed_words", records=rows)
            rows.clear()
    if rows:
        await conn.copy_records_to_table("stemmed_words", records=rows)
    await conn.execute(
        "UPDATE search_words w SET title_words = s.title_words::tsvector,"
        " text_words = s.text_words::tsvector FROM stemmed_words s WHERE w.rowid = s.rowid"
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection handed back to the pool needs beyond asyncpg's own rollback of
    an open transaction: nothing. The store takes no session-level state on a pooled
    connection (its advisory locks are transaction-level; the run lock has a connection of
    its own; no SET, LISTEN or cursor outlives a transaction), so asyncpg's default reset
    (unlock all, close all, unlisten, reset all) would only add a round trip to every
    statement run outside a transaction."""


def row_count(status: str) -> int:
    """The rows a statement changed, from its status ("UPDATE 3", "INSERT 0 1")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PostgresBase:
    """Connections and transactions: every task reads what is committed, except inside
    its own transaction, where it reads (and writes) through that transaction."""

    # How a story of unknown quality ranks (loading and the queues read it): see
    # PostgresLoading.rank_unknown_quality
    _unknown_quality: int = UNKNOWN_QUALITY

    def __init__(self, pool: asyncpg.Pool, url: str, schema: str) -> None:
        self._pool = pool
        self.url = url
        self.path = redact(url)  # what messages name the store by
        self.schema = schema
        self._snapshot = False  # a snapshot drops its schema on close
        self._run_lock: asyncpg.Connection | None = None  # see hold_run_lock
        self._unanalyzed: dict[str, int] = {}  # rows loads wrote per table since ANALYZE
        self.lease_owner = new_lease_owner()  # see Store.claim
        self.lease_seconds = LEASE_SECONDS
        self._current: ContextVar[asyncpg.Connection | None] = ContextVar(
            f"newsdesk_pg_{id(self)}", default=None
        )

    # ------------------------------------------------------------------ life cycle

    @classmethod
    async def open(cls, url: str, *, read_only: bool = False, schema: str = DEFAULT_SCHEMA) -> Self:
        """Connect to the database at ``url`` and bring its schema up to date (or, with
        ``read_only``, check that it is this Newsdesk's, and write nothing)."""
        settings = {"search_path": _quote(schema)}
        if read_only:
            settings["default_transaction_read_only"] = "on"
        where = redact(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=_POOL_SIZE,
                server_settings=settings,
                reset=_keep_session,
            )
        except _OPEN_ERRORS as exc:
            raise StoreError(f"cannot open the database {where}: {exc}") from exc
        store = cls(pool, url, schema)
        try:
            async with pool.acquire() as conn:
                if read_only:
                    await store._check_schema(conn)
                else:
                    await store._migrate(conn)
        except _OPEN_ERRORS as exc:
            await pool.close()
            raise StoreError(f"cannot open the database {where}: {exc}") from exc
        except BaseException:
            pool.terminate()
            raise
        return store

    async def close(self) -> None:
        try:
            if self._snapshot:
                await self._pool.execute(f"DROP SCHEMA IF EXISTS {_quote(self.schema)} CASCADE")
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot delete the snapshot {self.schema}: {exc}") from exc
        finally:
            if self._run_lock is not None:
                self._run_lock.terminate()  # (the server drops the lock with it)
                self._run_lock = None
            await self._close_pool()

    async def _close_pool(self) -> None:
        """Close the connections, once the queries in flight end; a connection still
        held (a task stopped mid-transaction) is cut after _CLOSE_SECONDS."""
        try:
            await asyncio.wait_for(self._pool.close(), _CLOSE_SECONDS)
        except TimeoutError:
            self._pool.terminate()

    async def snapshot(self) -> Self:
        """A throw-away copy in a schema of its own in the same database (the dry run's),
        as of one moment; closing it drops the schema."""
        schema = f"newsdesk_snapshot_{secrets.token_hex(6)}"
        try:
            await self._pool.execute(f"CREATE SCHEMA {_quote(schema)}")
        except DRIVER_ERRORS as exc:
            raise StoreError(f"cannot make a snapshot of {self.path}: {exc}") from exc
        copy: Self | None = None
        try:
            copy = await type(self).open(self.url, schema=schema)
            copy._snapshot = True
            async with copy._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                source = _quote(self.schema)
                for table in TABLES:
                    await conn.execute(f"INSERT INTO {table} SELECT * FROM {source}.{table}")
                for table, column in IDENTITIES:
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                        f" coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
                    )
        except BaseException as exc:
            if copy is not None:
                await copy.close()
            else:
                await self._pool.execute(f"DROP SCHEMA IF EXISTS {_quote(schema)} CASCADE")
            if isinstance(exc, DRIVER_ERRORS):
                raise StoreError(f"cannot make a snapshot of {self.path}: {exc}") from exc
            raise
        return copy

    async def backup(self, target: str) -> None:
        """Refused: PostgreSQL's own tools copy a database consistently while it is used."""
        raise StoreError(
            f"cannot back up to {target}: this store is PostgreSQL ({self.path});"
            " use pg_dump (for example `pg_dump --format=custom --file=FILE URL`), which takes a"
            " consistent copy while the bot runs"
        )

    async def _check_schema(self, conn: asyncpg.Connection) -> None:
        """A read-only store cannot migrate: its schema must be this Newsdesk's."""
        version = 0
        if await conn.fetchval("SELECT to_regclass('newsdesk_schema') IS NOT NULL"):
            found = await conn.fetchval("SELECT coalesce(max(version), 0) FROM newsdesk_schema")
            version = int(found)
        _refuse_version(version, read_only=True)

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        """Bring the schema up to date in one transaction, under a lock: of two processes
        opening one new database, the second waits and finds the work done."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('newsdesk-migrate'))")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS newsdesk_schema (version integer NOT NULL)"
            )
            found = await conn.fetchval("SELECT coalesce(max(version), 0) FROM newsdesk_schema")
            version = int(found)
            _refuse_version(version, read_only=False)
            for number, script in _scripts():
                if number > version:
                    await conn.execute(script)
                    if number == 9:
                        await _stem_search_words(conn)
                    version = number
            await conn.execute("DELETE FROM newsdesk_schema")
            await conn.execute("INSERT INTO newsdesk_schema (version) VALUES ($1)", version)

    # ------------------------------------------------------------------ helpers

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            conn = self._current.get()
            if conn is not None:
                return list(await conn.fetch(sql, *args))
            return list(await self._pool.fetch(sql, *args))
        except DRIVER_ERRORS as exc:
            raise StoreError(str(exc)) from exc

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        rows = await self._fetch(sql, *args)
        return rows[0] if rows else None

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        row = await self._fetchrow(sql, *args)
        return row[0] if row is not None else None

    async def _execute(self, sql: str, *args: Any) -> int:
        """One statement (in the current transaction, else on its own); the rows changed."""
        try:
            conn = self._current.get()
            if conn is not None:
                return row_count(await conn.execute(sql, *args))
            return row_count(await self._pool.execute(sql, *args))
        except DRIVER_ERRORS as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    async def _executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        conn = self._current.get()
        assert conn is not None, "executemany runs inside a transaction"
        try:
            await conn.executemany(sql, rows)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def _connection(self) -> asyncpg.Connection:
        """The current transaction's connection."""
        conn = self._current.get()
        assert conn is not None, "inside a transaction only"
        return conn

    @asynccontextmanager
    async def _transaction(self, *, in_turn: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """A transaction for this task (one already open is joined). ``in_turn``: loads
        and other writes that read before they write take turns with one another, across
        every process using the database (an advisory lock held to the commit)."""
        current = self._current.get()
        if current is not None:
            yield current
            return
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if in_turn:
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext('newsdesk-load:'"
                        " || current_schema()))"
                    )
                token = self._current.set(conn)
                try:
                    yield conn
                finally:
                    self._current.reset(token)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    async def hold_run_lock(self, *, shared: bool = False) -> str | None:
        """Take the database's run lock, one ``newsdesk run`` per database (as the SQLite
        store's lock file), on a connection of its own held until :meth:`close`: the
        server drops it when that connection ends, however the process ends. Returns
        None once taken, else the holder's name ("newsdesk run pid N"). ``shared``: the
        lock of a sharded run, which many hold together (each of its shards is held by
        a lease) and which keeps an unsharded run out, as that one keeps them out."""
        name = f"newsdesk run pid {os.getpid()}"
        try:
            conn = await asyncpg.connect(
                self.url,
                server_settings={"search_path": _quote(self.schema), "application_name": name},
            )
        except _OPEN_ERRORS as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from exc
        try:
            take = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
            if await conn.fetchval(f"SELECT {take}(hashtext('newsdesk-run:' || current_schema()))"):
                self._run_lock = conn
                return None
            holder = await conn.fetchval(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE 'newsdesk run pid %' AND pid <> pg_backend_pid()"
                " ORDER BY backend_start LIMIT 1"
            )
        except DRIVER_ERRORS as exc:
            await conn.close()
            raise StoreError(f"{self.path}: {exc}") from exc
        await conn.close()
        return str(holder or "another newsdesk run")

    async def writable(self) -> bool:
        try:
            refused = await self._fetchval(
                "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'"
            )
        except StoreError:
            return False
        return not refused


def _refuse_version(version: int, *, read_only: bool) -> None:
    latest = latest_schema()
    if version > latest:
        raise StoreError(
            f"its schema is version {version}, and this Newsdesk knows versions up to"
            f" {latest}: run the newer Newsdesk that wrote it"
        )
    if read_only and version == 0:
        raise StoreError("it holds no Newsdesk data: run `newsdesk load` first")
    if read_only and version < latest:
        raise StoreError(
            f"its schema is version {version}, and this Newsdesk reads version {latest}:"
            " run `newsdesk load` to bring it up to date"
        )
