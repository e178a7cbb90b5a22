"""The SQLite store's connection: opening, migrating, copying, and the transactions
every write takes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from importlib import resources
from typing import Any, Self

import aiosqlite

from bot.models import UNKNOWN_QUALITY, topic_key
from bot.store.records import LEASE_SECONDS, StoreError, new_lease_owner
from bot.store.sqlite.common import (
    _BUSY_TIMEOUT_MS,
    _DRIVER_ERRORS,
    _WRITING,
    _event_keys,
    _recanonical,
    _statements,
    _write_failure,
    topic_tag,
)


def _clear_for_copy(target: str, partial: str) -> None:
    """Refuse an existing ``target``; remove a ``partial`` left by an earlier cut-short copy."""
    if os.path.lexists(target):
        raise FileExistsError(f"{target} already exists: choose a new file")
    if os.path.lexists(partial):
        os.remove(partial)


def _read_only_uri(path: str) -> str:
    """SQLite's URI for reading ``path`` without ever writing beside it.

    A read-only connection to a WAL database needs the -wal and -shm files: while a
    writer has the database open they exist and are shared with it (so the reader sees
    its commits). Without them SQLite would create both and, unable to checkpoint, leave
    them behind (or fail in a read-only folder); but then no writer is open, the main
    file holds every commit, and immutable=1 reads it with no -shm and no locks. A writer
    starting during such a read writes to its own WAL, not the main file, until its first
    checkpoint (1,000 pages); a read that overlaps that checkpoint may fail with a
    database error, and is run again.
    """
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    return uri if os.path.exists(path + "-wal") else uri + "&immutable=1"


def _latest_schema() -> int:
    folder = resources.files("bot.store") / "migrations"
    return max(int(e.name.split("_", 1)[0]) for e in folder.iterdir() if e.name.endswith(".sql"))


class Connection:
    """One aiosqlite connection shared by every task; the store's other parts build on it."""

    # How a story of unknown quality ranks (the loading and the queues read it): see
    # Loading.rank_unknown_quality
    _unknown_quality: int = UNKNOWN_QUALITY

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self._scratch: str | None = None  # a snapshot's temporary folder
        # One connection serves every task: writes and transactions take turns, and the
        # other tasks' reads wait while a transaction is open (they would see its rows
        # before the commit, or rows that a rollback then takes back).
        self._lock = asyncio.Lock()
        self._committed = asyncio.Event()
        self._committed.set()
        self._cache_size = -2000  # SQLite's default page cache (2 MB); open() reads it
        self.lease_owner = new_lease_owner()  # see Store.claim
        self.lease_seconds = LEASE_SECONDS

    # ------------------------------------------------------------------ life cycle

    @classmethod
    async def open(cls, path: str, *, read_only: bool = False) -> Self:
        """Open (creating and migrating as needed) the database at ``path``.

        ``read_only``: open an existing database for reading only (SQLite's mode=ro): it
        is never created, migrated or written, and a read-only file will do. Its schema
        must be this Newsdesk's; an older one is a StoreError naming the fix.
        """
        try:
            # Connected here, not by aiosqlite.connect: when that fails, aiosqlite stops its
            # worker thread without waiting for it, and the thread, reporting to a loop
            # that asyncio.run has closed meanwhile, prints "Event loop is closed".
            raw = await asyncio.to_thread(
                sqlite3.connect,
                _read_only_uri(path) if read_only else path,
                isolation_level=None,
                check_same_thread=False,  # made in this thread, used in aiosqlite's
                uri=read_only,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        db = await aiosqlite.Connection(lambda: raw, iter_chunk_size=64)
        try:
            # Only a new database takes it (before WAL fixes it): 16 KiB pages hold whole
            # story rows, where 4 KiB ones split most into an overflow page (less CPU per
            # story stored, and a smaller file than 8 KiB pages; bench/RESULTS.md). On a
            # read-only connection none of these writes.
            await db.execute("PRAGMA page_size = 16384")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await db.create_function("newsdesk_topic_tag", 1, topic_tag, deterministic=True)
            await db.create_function("newsdesk_topic_key", 1, topic_key, deterministic=True)
            await db.create_function("newsdesk_canonical_url", 2, _recanonical, deterministic=True)
            await db.create_function("newsdesk_event_keys", 3, _event_keys, deterministic=True)
            store = cls(db, path)
            store._cache_size = (await store._one("PRAGMA cache_size"))[0]
            await (store._check_schema() if read_only else store._migrate())
        except (*_DRIVER_ERRORS, StoreError) as exc:
            await db.close()  # else its worker thread keeps the process alive
            raise StoreError(f"cannot open the database {path}: {exc}") from exc
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    async def snapshot(self) -> Self:
        """A throw-away copy of this store, deleted on close (a dry run works on one).

        It is a temporary file, not memory: a large store would cost its size in RAM.
        """
        scratch = tempfile.mkdtemp(prefix="newsdesk-snapshot-")
        try:
            # VACUUM INTO writes the copy once; backup() would send it through the copy's
            # WAL: twice the writes, and more memory for a dry run.
            target = os.path.join(scratch, "snapshot.db")
            await self._db.execute("VACUUM INTO ?", (target,))
            copy = await type(self).open(target)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        copy._scratch = scratch
        return copy

    async def backup(self, target: str) -> None:
        """A consistent copy of the store at ``target`` (a new file), taken while others
        may be writing: VACUUM INTO reads one snapshot, so the copy is as of one moment.
        Written beside the target and renamed, so a cut-short copy is never taken for one."""
        partial = f"{target}.partial"
        try:
            await asyncio.to_thread(_clear_for_copy, target, partial)
            async with self._lock:  # no transaction of this connection is open meanwhile
                await self._db.execute("VACUUM INTO ?", (partial,))
            await asyncio.to_thread(os.replace, partial, target)
        except (*_DRIVER_ERRORS, OSError) as exc:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(os.remove, partial)
            raise StoreError(f"cannot back up to {target}: {exc}") from exc

    async def _check_schema(self) -> None:
        """A read-only store cannot migrate: its schema must be this Newsdesk's."""
        version = (await self._one("PRAGMA user_version"))[0]
        latest = _latest_schema()
        if version == 0:
            raise StoreError("it holds no Newsdesk data: run `newsdesk load` first")
        if version < latest:
            raise StoreError(
                f"its schema is version {version}, and this Newsdesk reads version {latest}:"
                " run `newsdesk load` to bring it up to date"
            )
        if version > latest:
            raise StoreError(
                f"its schema is version {version}, and this Newsdesk knows versions up to"
                f" {latest}: run the newer Newsdesk that wrote it"
            )

    async def _migrate(self) -> None:
        """Bring the schema up to date: each script in a write transaction that reads the
        version first, so that of two processes opening one database the second waits
        and finds the work done. A database of a newer Newsdesk is refused: this code
        would write into a schema it does not know."""
        folder = resources.files("bot.store") / "migrations"
        scripts = sorted(
            (int(entry.name.split("_", 1)[0]), entry)
            for entry in folder.iterdir()
            if entry.name.endswith(".sql")
        )
        version = (await self._one("PRAGMA user_version"))[0]
        if version > scripts[-1][0]:
            raise StoreError(
                f"its schema is version {version}, and this Newsdesk knows versions up to"
                f" {scripts[-1][0]}: run the newer Newsdesk that wrote it"
            )
        for number, entry in scripts:
            if number <= version:
                continue
            script = entry.read_text(encoding="utf-8")
            async with self._open_transaction():
                if (await self._one("PRAGMA user_version"))[0] < number:
                    for statement in _statements(script):
                        await self._db.execute(statement)
                    await self._after_migration(number)
                    await self._db.execute(f"PRAGMA user_version = {number}")

    async def _after_migration(self, version: int) -> None:
        """What migration ``version`` leaves to Python, in its transaction (see Loading)."""

    # ------------------------------------------------------------------ helpers

    async def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        await self._until_committed()
        try:
            async with self._db.execute(sql, params) as cursor:
                return await cursor.fetchone()
        except _DRIVER_ERRORS as exc:
            raise StoreError(str(exc)) from exc

    async def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        await self._until_committed()
        try:
            async with self._db.execute(sql, params) as cursor:
                return list(await cursor.fetchall())
        except _DRIVER_ERRORS as exc:
            raise StoreError(str(exc)) from exc

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the rows changed."""
        async with self._lock:
            try:
                cursor = await self._db.execute(sql, params)
                count = cursor.rowcount
                await cursor.close()
                return count
            except _DRIVER_ERRORS as exc:
                raise StoreError(_write_failure(exc, self.path)) from exc

    async def _transaction(
        self, steps: list[tuple[str, Sequence[Any] | list[Sequence[Any]]]]
    ) -> None:
        """Run statements atomically; a list of parameter tuples means executemany."""
        async with self._lock:
            await self._run_transaction(steps)

    async def _run_transaction(
        self, steps: list[tuple[str, Sequence[Any] | list[Sequence[Any]]]]
    ) -> None:
        try:
            async with self._open_transaction():
                for sql, params in steps:
                    if params and isinstance(params, list):
                        await self._db.executemany(sql, params)
                    else:
                        await self._db.execute(sql, params)
        except _DRIVER_ERRORS as exc:
            raise StoreError(_write_failure(exc, self.path)) from exc

    @asynccontextmanager
    async def _write_transaction(self) -> AsyncIterator[None]:
        """Reads and writes as one transaction, other writers waiting; a failure is a
        StoreError that names its cause and the file (_write_failure)."""
        async with self._lock:
            try:
                async with self._open_transaction():
                    yield
            except _DRIVER_ERRORS as exc:
                raise StoreError(_write_failure(exc, self.path)) from exc

    @asynccontextmanager
    async def _open_transaction(self) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on an error; the caller holds the lock.
        Meanwhile this task's reads see its writes, and other tasks' reads wait."""
        self._committed.clear()
        writing = _WRITING.set(True)
        try:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                await self._db.execute("COMMIT")
            except BaseException:
                await self._rollback()
                raise
        finally:
            _WRITING.reset(writing)
            self._committed.set()

    async def _rollback(self) -> None:
        """Roll back the open transaction, if SQLite has not done so itself.

        After SQLITE_FULL, IOERR, BUSY or NOMEM SQLite may have rolled the whole
        transaction back already; a ROLLBACK then fails ("cannot rollback - no transaction
        is active"), and that error replaced the one that says what went wrong (a full
        disk). The error that ended the transaction is the one raised, whatever this does.
        """
        if not self._db.in_transaction:
            return
        with suppress(*_DRIVER_ERRORS):  # the caller raises the first error
            await self._db.execute("ROLLBACK")

    async def _until_committed(self) -> None:
        """Wait, if another task's transaction is open: read only what is committed."""
        while not self._committed.is_set() and not _WRITING.get():
            await self._committed.wait()
