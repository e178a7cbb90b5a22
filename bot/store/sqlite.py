"""The SQLite store (aiosqlite): the only module that speaks SQL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import unicodedata
import urllib.parse
from collections.abc import AsyncIterator, Collection, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from importlib import resources
from typing import Any

import aiosqlite

from bot.ingest.urls import ID_LENGTHS, canonical_url, normalise_id, short_id
from bot.models import (
    UNKNOWN_QUALITY,
    Article,
    ParseResult,
    article_from_dict,
    topic_key,
    topic_keys,
)
from bot.store.base import (
    COUNT_LIMIT,
    QUERY_CHARS,
    AuditEntry,
    Delivery,
    DeliveryState,
    FileRecord,
    LoadItem,
    LoadOutcome,
    NotFound,
    QueueItem,
    RouteFilter,
    RouteState,
    StoredArticle,
    StoreError,
    capped_query,
)

_WORD = re.compile(r"\w+", re.UNICODE)
_ASCII_LETTERS = re.compile(r"[a-z]+")  # (a word with digits is more likely an id)
_ASCII_TOKEN = re.compile(r"[0-9A-Za-z]+")
_MARKED = re.compile("\x01([^\x02]*)\x02")
_PREFIX_BATCHES = 2  # of candidates an autocomplete checks before FTS5 merges the prefix
_CHUNK = 500  # bound parameters per IN (...) list
# aiosqlite raises ValueError ("no active connection") once the store is closed
_DRIVER_ERRORS = (sqlite3.Error, ValueError)


def _now() -> int:
    return int(time.time())


def delivery_nonce(article_id: str, channel_id: int) -> str:
    """The nonce of a delivery: the same on every attempt, at most 25 characters."""
    digest = hashlib.sha256(f"{article_id}/{channel_id}".encode()).hexdigest()
    return f"nd{digest[:23]}"


def _recanonical(url: str, old: str) -> str:
    """A stored story's canonical URL by this version's rules (migration 14), from its URL;
    one this version cannot parse keeps the form it has."""
    try:
        return canonical_url(url)
    except ValueError:
        return old


def topic_tag(key: str) -> str:
    """The full-text token standing for a topic key (one token, whatever the topic's words)."""
    return "t" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]


def rank_tag(quality: int) -> str:
    """The full-text token of a quality band (migration 4 writes the same in SQL)."""
    return f"rq{quality:03d}"


def _rank_order(alias: str = "", id_column: str = "id") -> str:
    """ranking.rank_key in SQL: quality, heat, newest (unknown time last), then id."""
    a = f"{alias}." if alias else ""
    return f"{a}quality DESC, {a}heat DESC, {a}published_ts DESC, {a}{id_column}"


# The ranking order (ranking.rank_key) in quality bands, best first; quality is 0-100 by
# the parser's rules. One query with an arm per band: the LIMIT stops it in the first
# bands that hold enough matches, and a band's matches are few to gather. An arm spans 3
# qualities: each arm runs a full-text match of its own, whose fixed cost, for words in a
# quarter of the stories, outweighed gathering a band's matches.
_BAND_WIDTH = 3
_BANDS = [range(top, max(top - _BAND_WIDTH, -1), -1) for top in range(100, -1, -_BAND_WIDTH)]
# The two full-text indexes: every text column, and the titles alone (migration 15), which
# answers "in the title" reading the titles' postings only. Both have the tags column.
_TEXT_INDEX = "articles_fts"
_TITLE_INDEX = "titles_fts"
_BAND_SEARCH = {
    index: " UNION ALL ".join(
        "SELECT * FROM (SELECT a.rowid FROM articles a INDEXED BY articles_order"
        f" WHERE a.quality BETWEEN {band[-1]} AND {band[0]} AND a.rowid IN"
        f" (SELECT rowid FROM {index} WHERE {index} MATCH ?{arm + 2})"
        " AND a.rowid NOT IN (SELECT value FROM json_each(?1))"
        f" ORDER BY {_rank_order('a')})"
        for arm, band in enumerate(_BANDS)
    )
    + f" LIMIT ?{len(_BANDS) + 2} OFFSET ?{len(_BANDS) + 3}"
    for index in (_TEXT_INDEX, _TITLE_INDEX)
}
_BAND_TAGS = [" OR ".join(f'"{rank_tag(quality)}"' for quality in band) for band in _BANDS]
# A topic's matches in ranking order: article_topics_rank read in order, each entry
# checked against the matches (gathered once); the LIMIT stops the scan.
_TOPIC_SEARCH = {
    index: "SELECT article_rowid FROM article_topics INDEXED BY article_topics_rank"
    " WHERE key = ? AND article_rowid IN"
    f" (SELECT rowid FROM {index} WHERE {index} MATCH ?)"
    " AND article_rowid NOT IN (SELECT value FROM json_each(?))"
    f" ORDER BY {_rank_order(id_column='article_id')} LIMIT ? OFFSET ?"
    for index in (_TEXT_INDEX, _TITLE_INDEX)
}
# A topic's gathered matches (a JSON array) in ranking order, as _TOPIC_SEARCH reads them.
_TOPIC_GATHER = 10 * COUNT_LIMIT
_TOPIC_GATHERED = (
    "SELECT article_rowid FROM article_topics INDEXED BY article_topics_rank"
    " WHERE key = ? AND article_rowid IN (SELECT value FROM json_each(?))"
    f" ORDER BY {_rank_order(id_column='article_id')} LIMIT ? OFFSET ?"
)
# A few matches (their rowids as a JSON array), those also in a second array first, then
# in ranking order: narrow lookups by key, no full-text work.
_ORDER_FEW = (
    " IN (SELECT value FROM json_each(?)) ORDER BY {0} IN (SELECT value FROM json_each(?)) DESC,"
    " {1} LIMIT ? OFFSET ?"
)
_TOPIC_FEW = "SELECT article_rowid FROM article_topics WHERE key = ? AND article_rowid" + (
    _ORDER_FEW.format("article_rowid", _rank_order(id_column="article_id"))
)
_ALL_FEW = "SELECT rowid FROM articles WHERE rowid" + _ORDER_FEW.format("rowid", _rank_order())


# Stories a moderator submitted for other channels than ?: kept out of its ranked queue.
_NOT_SUBMITTED_ELSEWHERE = (
    "a.id NOT IN (SELECT s.article_id FROM submitted_stories s WHERE NOT EXISTS"
    " (SELECT 1 FROM submitted_channels c WHERE c.article_id = s.article_id"
    " AND c.channel_id = ?))"
)


# The columns people's words are matched in: not tags, whose tokens stand for topics and
# quality bands (the word "rq090" found every story of quality 90).
_TEXT_COLUMNS = "{title excerpt topics provider}"
# The tags column's tokens (topic_tag, rank_tag). A column filter makes FTS5 read the
# positions of every posting it checks, so it is only set for words that could be one.
_TAG_TOKEN = re.compile(r"t[0-9a-f]{16}|rq[0-9]{3}")
_RANK_TAG = re.compile(r"\brq[0-9]{3}\b")  # rank_tag's token among a story's tags


def _title_index(words: Sequence[str]) -> str:
    """The index to match ``words`` (as _words gives them) in titles with: titles_fts, if
    each word is one token. It keeps no positions, so it refuses a phrase, which a word is
    when the tokenizer splits it (at "_", or at a character its Unicode tables do not
    know as a letter); for a word of other than ASCII letters and digits, articles_fts."""
    return _TITLE_INDEX if all(_ASCII_TOKEN.fullmatch(word) for word in words) else _TEXT_INDEX


def _in_text(words: Sequence[str]) -> str:
    """The column filter that keeps ``words`` (as _words gives them) out of the tags: none
    when no word can be a tag token. A word of other than ASCII characters keeps it, as
    the tokenizer may fold it into one (ŕq090 is rq090 without its accent); an ASCII word
    may be several tokens (rq_090 is the phrase rq 090), each checked."""
    for word in words:
        if not word.isascii() or any(
            _TAG_TOKEN.fullmatch(token) for token in _ASCII_TOKEN.findall(word)
        ):
            return f"{_TEXT_COLUMNS} : "
    return ""


def _words(text: str) -> list[str]:
    """The words of ``text`` as the index's tokenizer sees them: composed (é, not e and a
    combining accent) and lower case; not casefolded, which turns ß into ss where the
    index keeps ß."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def _marked_word_starts(marked: str, prefix: str) -> bool | None:
    """Whether a word of a title that highlight() marked (between \\x01 and \\x02) starts
    with ``prefix`` (ASCII letters and digits, lower case), or None when a marked span with
    other characters leaves it open. The tokenizer splits at every ASCII character but
    letters and digits and folds those to lower case, so each run of them read here is a
    whole word of the title: a \\x01 or \\x02 in the title itself, a separator too, can
    move a span's edges but never make a word up."""
    open_ = False
    for span in _MARKED.findall(marked):
        if span.isascii():
            if any(word.lower().startswith(prefix) for word in _ASCII_TOKEN.findall(span)):
                return True
        elif (head := span[: len(prefix)]).isascii() and head.lower() == prefix:
            return True  # (its first word, then, which starts with the prefix)
        else:
            open_ = True
    return None if open_ else False


def fts_query(text: str) -> str:
    """User text as an FTS5 query of plain words: no operator can be injected. A word said
    twice is matched once: the query asks for every word, and each costs a pass."""
    return " ".join(f'"{word}"' for word in dict.fromkeys(_words(text)))


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one at a time (executescript would commit)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""
    if statement.strip() and not all(
        line.strip().startswith("--") or not line.strip() for line in statement.splitlines()
    ):
        raise ValueError(f"an unfinished statement ends the script: {statement[:80]!r}")


def _write_failure(exc: Exception, path: str) -> str:
    """Why a write to the database at ``path`` failed, in words that name the cause.

    SQLite's own messages ("database or disk is full", "attempt to write a readonly
    database") name neither the file nor, for a full disk, which of the two is meant.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # aiosqlite's "no active connection", or an error without a code
        return f"{path}: {exc}"
    if code == sqlite3.SQLITE_FULL:
        return f"the disk holding {path} is full ({exc})"
    if code == getattr(sqlite3, "SQLITE_READONLY_DBMOVED", 1032):
        return f"{path} was moved or deleted while open ({exc})"
    if code & 0xFF == sqlite3.SQLITE_READONLY:
        return f"{path} is read-only ({exc})"
    if code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        seconds = _BUSY_TIMEOUT_MS // 1000
        return f"{path} is locked by another process ({exc}; waited {seconds} s)"
    if code & 0xFF == sqlite3.SQLITE_IOERR:
        return f"reading or writing {path} failed ({exc})"
    return f"{path}: {exc}"


def _marks(count: int) -> str:
    return ",".join("?" * count)


# Whether the current task is inside one of the store's write transactions (a context
# variable: each asyncio task sees its own value).
_WRITING: ContextVar[bool] = ContextVar("newsdesk_store_writing", default=False)


@dataclasses.dataclass
class _LoadPlan:
    """What a batch of loaded files does to the store."""

    outcomes: list[LoadOutcome] = dataclasses.field(default_factory=list)
    inserts: list[tuple[StoredArticle, str | None]] = dataclasses.field(default_factory=list)
    # (article, path, rowid, the topics it had)
    updates: list[tuple[StoredArticle, str | None, int, list[str]]] = dataclasses.field(
        default_factory=list
    )
    files: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)  # records
    touched: list[tuple[int, int, str]] = dataclasses.field(default_factory=list)  # stat only
    owners_changed: list[str] = dataclasses.field(default_factory=list)  # known files, read anew
    moved: list[str] = dataclasses.field(default_factory=list)  # stories given a new URL


_BUSY_TIMEOUT_MS = 5000  # how long a write waits for another connection's write to end
_BIG_WRITE = 500  # new or changed stories in one batch that get the write cache
_WRITE_CACHE_KIB = 64 * 1024

# Last of a queue's conditions: the others read only index columns, and this one the
# story's row, which SQLite then reads only for the stories that pass them (first, it read
# every candidate's: next story p50 0.6 -> 2.8 ms at 10k).
_NOT_WITHDRAWN = "a.source <> 'withdrawn'"

_DELIVERY_COLUMNS = (
    "article_id, channel_id, state, attempts, nonce, message_id, review_message_id,"
    " decided_by, last_error, created_ts, updated_ts, sent_ts"
)


# The errors one row of a batch can cause: a value over SQLite's length limit
# (SQLITE_TOOBIG), a constraint, a value the driver cannot bind or convert. Others (a
# database full, locked, read-only, damaged or closed) would fail any part of the batch.
_ROW_FAULTS = (sqlite3.DataError, sqlite3.IntegrityError, sqlite3.InterfaceError, OverflowError)


class _NoFreeId(StoreError):
    """Every id length of a story's URL is held by other URLs: that story's fault alone."""


def _row_fault(exc: BaseException) -> bool:
    """Whether a failed batch may owe the failure to one of its rows."""
    if isinstance(exc, _NoFreeId):
        return True
    return isinstance(exc.__cause__ if isinstance(exc, StoreError) else exc, _ROW_FAULTS)


def _delivery(row: Sequence[Any]) -> Delivery:
    values = list(row)
    values[2] = DeliveryState(values[2])
    return Delivery(*values)


def _post_changed(old: dict[str, Any], article: StoredArticle) -> bool:
    """Whether a posted message of the story would now read differently: its related
    coverage or its link changed (other edits stay out of posted messages)."""
    new = json.loads(article.data)
    return bool(old["related"] != new["related"] or old["url"] != new["url"])


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


class SQLiteStore:
    """Newsdesk's embedded store. Open it with :meth:`open`."""

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
        self._unknown_quality = UNKNOWN_QUALITY  # see rank_unknown_quality

    # ------------------------------------------------------------------ life cycle

    @classmethod
    async def open(cls, path: str, *, read_only: bool = False) -> SQLiteStore:
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
            # story rows, where 4 KiB ones split most into an overflow page: storing
            # 100k stories took 128 µs of CPU each instead of 140 (8 KiB: 126 µs, but
            # 833 MB instead of 713). On a read-only connection none of these writes.
            await db.execute("PRAGMA page_size = 16384")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await db.create_function("newsdesk_topic_tag", 1, topic_tag, deterministic=True)
            await db.create_function("newsdesk_topic_key", 1, topic_key, deterministic=True)
            await db.create_function("newsdesk_canonical_url", 2, _recanonical, deterministic=True)
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

    async def snapshot(self) -> SQLiteStore:
        """A throw-away copy of this store, deleted on close (a dry run works on one).

        It is a temporary file, not memory: a large store would cost its size in RAM.
        """
        scratch = tempfile.mkdtemp(prefix="newsdesk-snapshot-")
        try:
            # VACUUM INTO writes the copy once; backup() sent it through the copy's WAL
            # (twice the writes, and 3 MB more memory for a dry run at 100k articles).
            target = os.path.join(scratch, "snapshot.db")
            await self._db.execute("VACUUM INTO ?", (target,))
            copy = await SQLiteStore.open(target)
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
                    await self._db.execute(f"PRAGMA user_version = {number}")

    async def rank_unknown_quality(self, quality: int) -> int:
        """Rank stories of unknown quality as ``quality`` from now on, and re-rank those
        stored under another value (every ranking column: the articles, the topic index,
        both full-text indexes' band tags), in one transaction. Returns how many moved."""
        self._unknown_quality = quality
        band = rank_tag(quality)
        async with self._load_transaction(0):
            db = self._db
            found = await db.execute(
                "SELECT a.rowid, f.tags FROM articles a JOIN articles_fts f ON f.rowid = a.rowid"
                " WHERE a.quality_unknown = 1 AND a.quality <> ?",
                (quality,),
            )
            rows = list(await found.fetchall())
            retagged = [(_RANK_TAG.sub(band, tags), rowid) for rowid, tags in rows]
            rowids = [(rowid,) for rowid, _ in rows]
            await db.executemany(
                "UPDATE articles SET quality = ? WHERE rowid = ?", [(quality, r) for (r,) in rowids]
            )
            await db.executemany(
                "UPDATE article_topics SET quality = ? WHERE article_rowid = ?",
                [(quality, r) for (r,) in rowids],
            )
            await db.executemany(  # titles_fts forgets a row by its old values
                "INSERT INTO titles_fts (titles_fts, rowid, title, tags)"
                " SELECT 'delete', rowid, title, tags FROM articles_fts WHERE rowid = ?",
                rowids,
            )
            await db.executemany("UPDATE articles_fts SET tags = ? WHERE rowid = ?", retagged)
            await db.executemany(
                "INSERT INTO titles_fts (rowid, title, tags)"
                " SELECT rowid, title, tags FROM articles_fts WHERE rowid = ?",
                rowids,
            )
        return len(rows)

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

    # ------------------------------------------------------------------ files and loading

    async def file_index(self) -> dict[str, FileRecord]:
        rows = await self._all(
            "SELECT path, size, mtime_ns, sha256, article_id, status, error FROM files"
        )
        return {row[0]: FileRecord(*row) for row in rows}

    async def file_records(self, paths: Sequence[str]) -> dict[str, FileRecord]:
        """The records of those of ``paths`` that are known."""
        found: dict[str, FileRecord] = {}
        for chunk in _chunks(paths):
            rows = await self._all(
                "SELECT path, size, mtime_ns, sha256, article_id, status, error FROM files"
                f" WHERE path IN ({_marks(len(chunk))})",
                tuple(chunk),
            )
            found.update((row[0], FileRecord(*row)) for row in rows)
        return found

    async def file_paths_under(
        self, folder: str, after: str = "", limit: int | None = None
    ) -> list[str]:
        """Known file paths below ``folder`` (or equal to it) sorting after ``after``, in
        path order, at most ``limit``: a large index is read a page at a time."""
        base = folder.rstrip("/")
        rows = await self._all(
            "SELECT path FROM files WHERE (path = ? OR (path > ? AND path < ?)) AND path > ?"
            " ORDER BY path LIMIT ?",
            # "0" sorts right after "/"; LIMIT -1 is no limit
            (base, base + "/", base + "0", after, -1 if limit is None else limit),
        )
        return [r[0] for r in rows]

    async def forget_files(self, paths: list[str]) -> None:
        """Forget these files, and the duplicates kept out by them: those are read again
        (one takes the story over). The stories the files gave are noted as orphans:
        withdraw_orphans withdraws those that no file took over."""
        steps: list[tuple[str, Any]] = []
        for chunk in _chunks(paths):
            marks = _marks(len(chunk))
            steps.append(
                (
                    "INSERT OR IGNORE INTO orphans (article_id) SELECT article_id FROM files"
                    f" WHERE path IN ({marks}) AND status = 'ok' AND article_id IS NOT NULL",
                    tuple(chunk),
                )
            )
            steps.append(
                (
                    "DELETE FROM files INDEXED BY files_duplicates"
                    f" WHERE status = 'duplicate' AND error IN ({marks})",
                    tuple(chunk),
                )
            )
            steps.append((f"DELETE FROM files WHERE path IN ({marks})", tuple(chunk)))
        if steps:
            await self._transaction(steps)

    async def withdraw_orphans(self) -> int:
        """Withdraw the stories noted by forget_files that no file gives now, that came
        from a file and were never posted (sent or being sent); forget the notes."""
        if await self._one("SELECT 1 FROM orphans LIMIT 1") is None:
            return 0  # (a load that forgot no file takes no write lock)
        async with self._lock:
            try:
                async with self._open_transaction():
                    cursor = await self._db.execute(
                        "SELECT a.rowid, a.data FROM orphans o"
                        " JOIN articles a ON a.id = o.article_id"
                        " WHERE a.source = 'file' AND a.source_path IS NOT NULL"
                        " AND NOT EXISTS (SELECT 1"
                        "   FROM files f WHERE f.path = a.source_path AND (f.status = 'rejected'"
                        "   OR (f.status = 'ok' AND f.article_id = a.id)))"
                        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.article_id = a.id"
                        "   AND d.state IN (?, ?))",
                        (DeliveryState.SENT.value, DeliveryState.SENDING.value),
                    )
                    gone = [
                        (rowid, json.loads(data)["topics"])
                        for rowid, data in await cursor.fetchall()
                    ]
                    await cursor.close()
                    await self._withdraw(gone)
                    await self._db.execute("DELETE FROM orphans")
            except _DRIVER_ERRORS as exc:
                raise StoreError(f"cannot withdraw the stories of deleted files: {exc}") from exc
        return len(gone)

    async def _withdraw(self, stories: list[tuple[int, list[str]]]) -> None:
        """Withdraw these (rowid, topics): their source becomes 'withdrawn' (it was 'file'),
        they leave the full-text index and the topics, and their rows stay for their
        return (an update puts them back)."""
        db = self._db
        await db.executemany(
            "UPDATE articles SET source = 'withdrawn' WHERE rowid = ?", [(r,) for r, _ in stories]
        )
        await db.executemany(
            "DELETE FROM article_topics WHERE key = ? AND article_rowid = ?",
            [(key, rowid) for rowid, topics in stories for key in topic_keys(topics)],
        )
        await self._unindex([(r,) for r, _ in stories])
        await self._count_topics([], [topics for _, topics in stories])

    async def _existing(self, column: str, values: list[str]) -> dict[str, tuple[Any, ...]]:
        """Rows (rowid, id, canonical_url, source_path, content_hash, data, whether it is
        withdrawn) by ``column`` (id or canonical_url)."""
        found: dict[str, tuple[Any, ...]] = {}
        for chunk in _chunks(values):
            rows = await self._all(
                "SELECT rowid, id, canonical_url, source_path, content_hash, data,"
                " source = 'withdrawn'"
                f" FROM articles WHERE {column} IN ({_marks(len(chunk))})",
                tuple(chunk),
            )
            for row in rows:
                found[row[1] if column == "id" else row[2]] = tuple(row)
        return found

    async def _file_claims(self, paths: list[str]) -> dict[str, tuple[str, str | None]]:
        """Path → (status, article_id) of the files recorded among ``paths``."""
        found: dict[str, tuple[str, str | None]] = {}
        for chunk in _chunks(paths):
            rows = await self._all(
                f"SELECT path, status, article_id FROM files WHERE path IN ({_marks(len(chunk))})",
                tuple(chunk),
            )
            found.update((path, (status, ident)) for path, status, ident in rows)
        return found

    async def _stories_of(
        self, previous: dict[str, tuple[str, str | None]]
    ) -> dict[str, tuple[Any, ...]]:
        """Path → the stored story that file still gives (as :meth:`_existing` rows)."""
        ids = {path: ident for path, (status, ident) in previous.items() if status == "ok"}
        stories = await self._existing("id", [i for i in set(ids.values()) if i])
        return {
            path: stories[ident]
            for path, ident in ids.items()
            if ident in stories and stories[ident][3] == path
        }

    async def apply_load(self, items: list[LoadItem]) -> list[LoadOutcome]:
        """Store one batch of loaded files atomically and say what became of each.

        The batch is looked up and written in one write transaction: two loads of one
        database (the bot's rescan and ``newsdesk load``) take turns, and the second sees
        what the first stored.

        One file never fails a batch: a batch that the store refuses for a row (a value
        over SQLite's length limit, a constraint…) is rolled back and stored again in
        halves, in order, down to the files at fault, which are recorded as rejected with
        the store's reason. A database that is full, locked or read-only fails every part
        alike: that error is raised at once.
        """
        try:
            return await self._apply_batch(items)
        except (StoreError, OverflowError) as exc:
            if not _row_fault(exc):
                raise
            return await self._apply_halves(items, exc)

    async def _apply_halves(self, items: list[LoadItem], error: Exception) -> list[LoadOutcome]:
        """Store ``items``, which failed with ``error``, in halves: each in its own
        transaction, the second seeing what the first stored, as the whole batch would."""
        if len(items) == 1:
            return await self._reject_refused(items[0], error)
        middle = len(items) // 2
        outcomes: list[LoadOutcome] = []
        for part in (items[:middle], items[middle:]):
            try:
                outcomes += await self._apply_batch(part)
            except (StoreError, OverflowError) as exc:
                if not _row_fault(exc):
                    raise
                outcomes += await self._apply_halves(part, exc)
        return outcomes

    async def _reject_refused(self, item: LoadItem, error: Exception) -> list[LoadOutcome]:
        """The file the store refused: recorded as rejected with the store's reason, so
        that a rescan does not read it again until it changes."""
        reason = f"the store refused it: {error.__cause__ or error}"
        rejected = item._replace(article=None, error=reason, warnings=())
        try:
            return await self._apply_batch([rejected])
        except (StoreError, OverflowError) as exc:
            if not _row_fault(exc):
                raise
            return [LoadOutcome(item.path, "rejected", None, reason)]  # read again next time

    async def _apply_batch(self, items: list[LoadItem]) -> list[LoadOutcome]:
        """:meth:`apply_load` in one transaction, all or nothing."""
        parsed = sum(1 for i in items if i.article is not None)
        async with self._load_transaction(parsed):
            plan = await self._plan_load(items)
            await self._write_rows(_now(), plan.inserts, plan.updates, plan.files, plan.touched)
            released = await self._release_duplicates(plan.owners_changed, plan.moved)
            await self._edits_needed([o.article_id for o in plan.outcomes if o.post_changed])
        if not released:
            return plan.outcomes
        return [
            dataclasses.replace(o, released=tuple(released[o.path])) if o.path in released else o
            for o in plan.outcomes
        ]

    async def _plan_load(self, items: list[LoadItem]) -> _LoadPlan:
        """What becomes of each file of a batch, from the store as it is now."""
        articles = [i.article for i in items if i.article is not None]
        by_url = await self._existing("canonical_url", list({a.canonical_url for a in articles}))
        taken_ids = await self._taken_ids(articles)
        # The records of the batch's files (what each gave before) and of the files that
        # give the batch's stories now: often the same files, so one lookup.
        read = {i.path for i in items if i.article or i.error}
        claims = await self._file_claims(list(read | {e[3] for e in by_url.values() if e[3]}))
        previous = {path: claims[path] for path in read if path in claims}
        # The story a file gave before, for files whose URL is new here: an edited webUrl
        # updates that story (same id, same deliveries) instead of queueing a second one.
        before = await self._stories_of(
            {
                i.path: previous[i.path]
                for i in items
                if i.article and i.article.canonical_url not in by_url and i.path in previous
            }
        )

        plan = _LoadPlan()
        batch_owner: dict[str, tuple[str, str]] = {}  # URL → (path, story id), this batch

        for item in items:
            article = item.article
            if article is None and item.error is None:
                # same bytes as last time: only the stat changed
                plan.outcomes.append(LoadOutcome(item.path, "unchanged"))
                plan.touched.append((item.size, item.mtime_ns, item.path))
                continue
            if item.path in previous:
                plan.owners_changed.append(item.path)
            if article is None:
                plan.outcomes.append(LoadOutcome(item.path, "rejected", None, item.error))
                plan.files.append(
                    (item.path, item.size, item.mtime_ns, item.sha256, None, "rejected", item.error)
                )
                continue
            url = article.canonical_url
            existing = by_url.get(url)
            # The file that gives this URL's story: one earlier in this batch, or the story's
            # source while that file still gives it (a broken file keeps its claim).
            if url in batch_owner:
                owner, story = batch_owner[url]
            elif existing and not existing[6]:  # (a withdrawn story has no file)
                owner, story = existing[3], existing[1]
                status, ident = claims.get(owner, ("", None))
                if not (status == "rejected" or (status == "ok" and ident == story)):
                    owner = None
            else:
                owner = None
            if owner is not None and owner != item.path:
                plan.outcomes.append(LoadOutcome(item.path, "duplicate", article.id, owner))
                plan.files.append(
                    (item.path, item.size, item.mtime_ns, item.sha256, story, "duplicate", owner)
                )
                continue
            if existing:
                if existing[1] != article.id:
                    article = article.with_id(existing[1])
                if existing[6]:
                    # withdrawn: its file, or another giving it, is back; its topics and
                    # full-text row went with it
                    plan.updates.append((article, item.path, existing[0], []))
                    plan.outcomes.append(LoadOutcome(item.path, "loaded", article.id))
                elif article.content_hash == existing[4] and existing[3] == item.path:
                    plan.outcomes.append(LoadOutcome(item.path, "unchanged", article.id))
                else:
                    old = json.loads(existing[5])
                    post_changed = _post_changed(old, article)
                    plan.updates.append((article, item.path, existing[0], old["topics"]))
                    plan.outcomes.append(
                        LoadOutcome(item.path, "updated", article.id, None, post_changed)
                    )
            elif url in batch_owner:
                # the same URL twice in one batch, from the same path: keep the first
                plan.outcomes.append(LoadOutcome(item.path, "unchanged", article.id))
            elif (old_row := before.get(item.path)) is not None and old_row[2] not in batch_owner:
                article = article.with_id(old_row[1])
                taken_ids[article.id] = url
                old = json.loads(old_row[5])
                post_changed = _post_changed(old, article)
                plan.updates.append((article, item.path, old_row[0], old["topics"]))
                plan.moved.append(article.id)
                plan.outcomes.append(
                    LoadOutcome(item.path, "updated", article.id, None, post_changed)
                )
            else:
                article = self._free_id(article, taken_ids)
                taken_ids[article.id] = url
                plan.inserts.append((article, item.path))
                plan.outcomes.append(LoadOutcome(item.path, "loaded", article.id))
            batch_owner[url] = (item.path, article.id)
            plan.files.append(
                (item.path, item.size, item.mtime_ns, item.sha256, article.id, "ok", None)
            )
        return plan

    async def _edits_needed(self, article_ids: list[str | None]) -> None:
        """Note the posted messages of these stories as needing an edit (and those being
        posted right now: they were built before the change)."""
        for chunk in _chunks([i for i in article_ids if i]):
            await self._db.execute(
                "INSERT OR IGNORE INTO post_edits (article_id, channel_id)"
                " SELECT article_id, channel_id FROM deliveries"
                f" WHERE article_id IN ({_marks(len(chunk))}) AND state IN (?, ?)",
                (*chunk, DeliveryState.SENT.value, DeliveryState.SENDING.value),
            )

    async def _release_duplicates(
        self, owners: list[str], moved: list[str]
    ) -> dict[str, list[str]]:
        """Forget the records of files kept out as duplicates of one of ``owners`` that
        no longer gives their story (it gives another, is a duplicate itself, or moved
        the story to a new URL: ``moved``), so that the loader reads them again. Returns
        owner → those files."""
        released: dict[str, list[str]] = {}
        moved_ids = json.dumps(moved)
        for chunk in _chunks(owners):
            rows = await self._all(
                "SELECT d.path, d.error FROM files d INDEXED BY files_duplicates"
                f" WHERE d.status = 'duplicate' AND d.error IN ({_marks(len(chunk))})"
                " AND (d.article_id IN (SELECT value FROM json_each(?)) OR NOT coalesce(("
                "SELECT o.status = 'rejected' OR (o.status = 'ok' AND o.article_id = d.article_id)"
                " FROM files o WHERE o.path = d.error), 0))",
                (*chunk, moved_ids),
            )
            for path, owner in rows:
                released.setdefault(owner, []).append(path)
        paths = [path for found in released.values() for path in found]
        for chunk in _chunks(paths):
            await self._db.execute(
                f"DELETE FROM files WHERE path IN ({_marks(len(chunk))})", tuple(chunk)
            )
        return released

    async def _taken_ids(self, articles: Sequence[StoredArticle]) -> dict[str, str]:
        """Id → URL of the stored stories holding the ids these articles may get: each
        one's own, and where that is another URL's, the longer ones (see _free_id)."""
        found = await self._existing("id", list({a.id for a in articles}))
        taken = {ident: row[2] for ident, row in found.items()}
        collided = {
            a.canonical_url for a in articles if taken.get(a.id, a.canonical_url) != a.canonical_url
        }
        if collided:
            longer = [short_id(url, n) for url in collided for n in ID_LENGTHS[1:]]
            taken.update((k, v[2]) for k, v in (await self._existing("id", longer)).items())
        return taken

    @staticmethod
    def _free_id(article: StoredArticle, taken: dict[str, str]) -> StoredArticle:
        """The short id, made longer in the rare case another URL already has it."""
        url = article.canonical_url
        if taken.get(article.id, url) == url and len(article.id) == ID_LENGTHS[0]:
            return article  # its id is short_id(url), as parsing made it, and free
        for length in ID_LENGTHS:
            candidate = short_id(url, length)
            if taken.get(candidate, url) == url:
                return article if candidate == article.id else article.with_id(candidate)
        raise _NoFreeId(f"no free id for {url}")

    @asynccontextmanager
    async def _load_transaction(self, stories: int) -> AsyncIterator[None]:
        """One write transaction for a batch of ``stories`` (new or changed), in turn with
        every other write; rolled back if the batch fails."""
        async with self._lock:
            big = stories >= _BIG_WRITE
            try:
                if big:
                    # A big batch dirties pages all over the indexes keyed by id, URL and
                    # rank; in SQLite's default 2 MB cache they spill to the WAL over and
                    # over before the commit. 300k files: 2,874 -> 4,662 files/s. Given
                    # back right after.
                    await self._db.execute(f"PRAGMA cache_size = -{_WRITE_CACHE_KIB}")
                async with self._open_transaction():
                    yield
            except _DRIVER_ERRORS as exc:
                failure = _write_failure(exc, self.path)
                raise StoreError(f"cannot store the loaded articles: {failure}") from exc
            finally:
                if big:
                    await self._db.execute(f"PRAGMA cache_size = {self._cache_size}")
                    await self._db.execute("PRAGMA shrink_memory")

    async def _write_rows(
        self,
        now: int,
        inserts: list[tuple[StoredArticle, str | None]],
        updates: list[tuple[StoredArticle, str | None, int, list[str]]],
        file_rows: list[tuple[Any, ...]],
        touched: Sequence[tuple[int, int, str]],
    ) -> None:
        """Write a batch, inside :meth:`_load_transaction`: a statement per table, not per
        article."""
        db = self._db
        row = await (await db.execute("SELECT max(rowid) FROM articles")).fetchone()
        top = row[0] if row else None
        first = (top or 0) + 1
        new = [(first + n, a, path) for n, (a, path) in enumerate(inserts)]
        rank = self._rank_quality
        await db.executemany(
            "INSERT INTO articles (rowid, id, canonical_url, url, title, provider,"
            " quality, heat, published_ts, first_seen_ts, updated_ts, published, source,"
            " source_path, content_hash, data, raw, quality_unknown)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    rowid, a.id, a.canonical_url, a.url, a.title, a.provider, rank(a),
                    a.heat, a.published_ts, now, now, a.published, a.source, path,
                    a.content_hash, a.data, a.raw, a.quality is None,
                )
                for rowid, a, path in new
            ],
        )  # fmt: skip
        await db.executemany(
            "UPDATE articles SET canonical_url=?, url=?, title=?, provider=?,"
            " quality=?, heat=?, source = iif(source = 'withdrawn', 'file', source),"
            " published_ts=?, updated_ts=?, published=?, source_path=?,"
            " content_hash=?, data=?, raw=?, quality_unknown=? WHERE rowid=?",
            [
                (
                    a.canonical_url, a.url, a.title, a.provider, rank(a), a.heat,
                    a.published_ts, now,
                    a.published, path, a.content_hash, a.data, a.raw, a.quality is None,
                    rowid,
                )
                for a, path, rowid, _ in updates
            ],
        )  # fmt: skip
        stale = [(rowid,) for _, _, rowid, _ in updates]
        await db.executemany(
            "DELETE FROM article_topics WHERE key = ? AND article_rowid = ?",
            [(key, rowid) for _, _, rowid, old in updates for key in topic_keys(old)],
        )
        await self._unindex(stale)
        fresh = [(rowid, a) for rowid, a, _ in new] + [(u[2], u[0]) for u in updates]
        await self._children(fresh)
        await self._count_topics([a.topics for _, a in fresh], [u[3] for u in updates])
        await db.executemany(
            "INSERT INTO files (path, size, mtime_ns, sha256, article_id, status, error)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT (path) DO UPDATE SET size=excluded.size,"
            " mtime_ns=excluded.mtime_ns, sha256=excluded.sha256,"
            " article_id=excluded.article_id, status=excluded.status,"
            " error=excluded.error",
            file_rows,
        )
        await db.executemany("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", touched)

    async def _unindex(self, rowids: list[tuple[int]]) -> None:
        """Take these (rowid,) out of both full-text indexes. titles_fts keeps no text: its
        'delete' repeats the values indexed, which articles_fts still holds (a rowid not
        in it, a withdrawn story's, is in neither)."""
        await self._db.executemany(
            "INSERT INTO titles_fts (titles_fts, rowid, title, tags)"
            " SELECT 'delete', rowid, title, tags FROM articles_fts WHERE rowid = ?",
            rowids,
        )
        await self._db.executemany("DELETE FROM articles_fts WHERE rowid = ?", rowids)

    def _rank_quality(self, article: StoredArticle) -> int:
        """The quality ``article`` ranks by: its own, or unknown_quality when it has none."""
        return self._unknown_quality if article.quality is None else article.quality

    async def _children(self, fresh: list[tuple[int, StoredArticle]]) -> None:
        """Topics and the full-text rows (both indexes) of each (rowid, article)."""
        keys = {t: topic_key(t) for t in {t for _, a in fresh for t in a.topics}}
        tags = {key: topic_tag(key) for key in set(keys.values())}
        rank = self._rank_quality
        await self._db.executemany(
            "INSERT OR IGNORE INTO article_topics (article_rowid, key, name, quality, heat,"
            " published_ts, article_id) VALUES (?,?,?,?,?,?,?)",
            [
                (rowid, keys[t], t, rank(a), a.heat, a.published_ts, a.id)
                for rowid, a in fresh
                for t in a.topics
            ],
        )
        rows = [
            (
                rowid, a.title, a.excerpt, " ".join(a.topics), a.provider or "",
                " ".join([*(tags[keys[t]] for t in a.topics), rank_tag(rank(a))]),
            )
            for rowid, a in fresh
        ]  # fmt: skip
        await self._db.executemany(
            "INSERT INTO articles_fts (rowid, title, excerpt, topics, provider, tags)"
            " VALUES (?,?,?,?,?,?)",
            rows,
        )
        await self._db.executemany(
            "INSERT INTO titles_fts (rowid, title, tags) VALUES (?,?,?)",
            [(rowid, title, tags_) for rowid, title, _, _, _, tags_ in rows],
        )

    async def _count_topics(self, added: list[Sequence[str]], removed: list[Sequence[str]]) -> None:
        """Keep topic_stats current: +1 per topic of a new version, -1 per old one."""
        delta: dict[str, int] = {}
        names: dict[str, str] = {}
        for topics, sign in [(t, 1) for t in added] + [(t, -1) for t in removed]:
            # once a story per key: one stored before keys ignored accents may list
            # both "Mexico" and "México", which have one row
            for key, topic in topic_keys(topics).items():
                delta[key] = delta.get(key, 0) + sign
                names.setdefault(key, topic)
        changes = [(key, names[key], n) for key, n in delta.items() if n]
        if not changes:
            return
        await self._db.executemany(
            "INSERT INTO topic_stats (key, name, articles) VALUES (?,?,?) ON CONFLICT (key)"
            " DO UPDATE SET articles = articles + excluded.articles",
            changes,
        )
        await self._db.execute("DELETE FROM topic_stats WHERE articles <= 0")

    async def add_article(
        self, result: ParseResult, channels: Collection[int] | None = None
    ) -> tuple[Article, bool]:
        """Store a moderator-submitted article; returns it and whether it is new. With
        ``channels`` it is ranked only for those channels (a known story limited so gets
        them added; one that is not stays as it is), in the same transaction."""
        article = StoredArticle.from_result(result)
        async with self._load_transaction(1):  # not between a rescan's lookup and write
            existing = await self._existing("canonical_url", [article.canonical_url])
            row = existing.get(article.canonical_url)
            if row is not None and not row[6]:  # known, and not withdrawn
                if channels is not None:
                    await self._db.executemany(
                        "INSERT OR IGNORE INTO submitted_channels (article_id, channel_id)"
                        " SELECT article_id, ? FROM submitted_stories WHERE article_id = ?",
                        [(channel, row[1]) for channel in sorted(set(channels))],
                    )
                return article_from_dict(json.loads(row[5])), False
            if row is not None:  # withdrawn: the moderator's story takes its id and history
                article = article.with_id(row[1])
                await self._write_rows(_now(), [], [(article, None, row[0], [])], [], ())
                await self._db.execute(
                    "UPDATE articles SET source = ? WHERE rowid = ?", (article.source, row[0])
                )
            else:
                article = self._free_id(article, await self._taken_ids([article]))
                await self._write_rows(_now(), [(article, None)], [], [], ())
            if channels is not None:
                await self._db.execute(
                    "INSERT OR IGNORE INTO submitted_stories (article_id) VALUES (?)",
                    (article.id,),
                )
                await self._db.executemany(
                    "INSERT OR IGNORE INTO submitted_channels (article_id, channel_id)"
                    " VALUES (?, ?)",
                    [(article.id, channel) for channel in sorted(set(channels))],
                )
        return article.to_article(), True

    async def submitted_for(self, article_id: str) -> frozenset[int] | None:
        """The channels a submitted story is ranked for; None: it is not limited so."""
        rows = await self._all(
            "SELECT c.channel_id FROM submitted_stories s LEFT JOIN submitted_channels c"
            " ON c.article_id = s.article_id WHERE s.article_id = ?",
            (article_id,),
        )
        if not rows:
            return None
        return frozenset(r[0] for r in rows if r[0] is not None)

    # ------------------------------------------------------------------ reading articles

    async def get_article(self, article_id: str) -> Article | None:
        row = await self._one(
            "SELECT data FROM articles WHERE id = ? AND source <> 'withdrawn'", (article_id,)
        )
        return article_from_dict(json.loads(row[0])) if row else None

    async def article_by_url(self, canonical: str) -> Article | None:
        row = await self._one(
            "SELECT data FROM articles WHERE canonical_url = ? AND source <> 'withdrawn'",
            (canonical,),
        )
        return article_from_dict(json.loads(row[0])) if row else None

    async def get_articles(self, article_ids: list[str]) -> list[Article]:
        found: dict[str, Article] = {}
        for chunk in _chunks(article_ids):
            for (data,) in await self._all(
                f"SELECT data FROM articles WHERE id IN ({_marks(len(chunk))})"
                " AND source <> 'withdrawn'",
                tuple(chunk),
            ):
                article = article_from_dict(json.loads(data))
                found[article.id] = article
        return [found[i] for i in article_ids if i in found]

    async def first_seen_ts(self, article_id: str) -> int | None:
        """When the store first saw the article (Unix seconds), or None if unknown."""
        row = await self._one("SELECT first_seen_ts FROM articles WHERE id = ?", (article_id,))
        return row[0] if row else None

    async def article_count(self) -> int:
        # the withdrawn ones (few, in a partial index) apart: counting the others would
        # read every row
        sql = (
            "SELECT (SELECT count(*) FROM articles)"
            " - (SELECT count(*) FROM articles WHERE source = 'withdrawn')"
        )
        return int((await self._one(sql))[0])

    async def complete_articles(self, text: str, limit: int = 25) -> list[Article]:
        """Articles whose id starts with ``text`` or whose title has its words, as typed."""
        text = capped_query(text).strip()
        if not text:
            rows = await self._all(
                "SELECT data FROM articles WHERE source <> 'withdrawn'"
                " ORDER BY first_seen_ts DESC, quality DESC, id LIMIT ?",
                (limit,),
            )
            return [article_from_dict(json.loads(r[0])) for r in rows]
        prefix = normalise_id(text)
        rows = await self._all(
            "SELECT data FROM articles WHERE id >= ? AND id < ? AND source <> 'withdrawn'"
            " ORDER BY id LIMIT ?",
            (prefix, prefix + "\uffff", limit),
        )
        words = _words(text)
        if words and len(rows) < limit:
            # The last word is still being typed: a prefix, unless a whole word already
            # typed starts with it and so asks for more.
            *whole, last = words
            terms = [f'"{word}"' for word in dict.fromkeys(whole)]
            if any(word.startswith(last) for word in whole):
                last = ""
            found = await self._newest_titled(terms, last, limit)
            if isinstance(found, str):  # FTS5 answers, in the statement that reads them
                index = _title_index(words)
                rows += await self._all(
                    f"SELECT a.data FROM (SELECT rowid FROM {index} WHERE {index}"
                    " MATCH ? ORDER BY rowid DESC LIMIT ?) f JOIN articles a"
                    " ON a.rowid = f.rowid ORDER BY a.quality DESC, a.id",
                    (found, limit),
                )
            else:
                rows += await self._all(
                    "SELECT data FROM articles WHERE rowid IN (SELECT value FROM json_each(?))"
                    " ORDER BY quality DESC, id",
                    (json.dumps(found),),
                )
        seen: dict[str, Article] = {}
        for (data,) in rows:
            article = article_from_dict(json.loads(data))
            seen.setdefault(article.id, article)
        return list(seen.values())[:limit]

    async def _newest_titled(self, terms: list[str], prefix: str, limit: int) -> list[int] | str:
        """The rowids of the ``limit`` newest stories whose title has ``terms`` and, if
        ``prefix``, a word starting with it; or the FTS5 query that finds them.

        FTS5 answers a prefix longer than its prefix index (2 letters) by merging the whole
        lists of every word it starts, so "company" cost a pass over a quarter of the
        stories. Instead, for one word typed alone, its first 2 letters find candidates
        newest first, a batch at a time, and the title words the index marks in each tell
        whether one starts with the whole prefix. Where that cannot be told here (a marked
        word with other than ASCII letters and digits at its start, whose folding is the
        tokenizer's), or when _PREFIX_BATCHES batches are not enough (or the first finds
        too few to expect that they would be), FTS5 answers the whole query itself: such
        prefixes are rarer, and cost less to merge. With other words typed, the candidates
        of the 2 letters could be few and far between, so FTS5 answers directly too.
        """

        def in_title(*last: str) -> str:
            return "title : (" + " ".join([*terms, *last]) + ")"

        if not prefix:
            return in_title()
        direct = in_title(f'"{prefix}"*')
        if terms or len(prefix) <= 2 or not _ASCII_LETTERS.fullmatch(prefix):
            return direct
        candidates = in_title(f'"{prefix[:2]}"*')
        found: list[int] = []
        below, batch = 1 << 62, 2 * limit
        for _ in range(_PREFIX_BATCHES):
            rows = await self._all(
                "SELECT rowid, highlight(articles_fts, 0, char(1), char(2)) FROM articles_fts"
                " WHERE articles_fts MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
                (candidates, below, batch),
            )
            for rowid, marked in rows:
                starts = _marked_word_starts(marked, prefix)
                if starts is None:
                    return direct
                if starts:
                    found.append(rowid)
                    if len(found) == limit:
                        return found
            if len(rows) < batch:
                return found
            if 2 * len(found) < limit:  # at this rate, one more batch would not do
                break
            below = rows[-1][0]
        return direct

    async def search(
        self, query: str = "", topic: str | None = None, limit: int = 10, offset: int = 0
    ) -> tuple[list[Article], int]:
        """Stories of ``topic`` with every word of ``query``: those with all the words in
        their title first, then the others; each group in ranking order (ranking.rank_key).

        Each query runs the full-text match once or twice and no relevance score: bm25 reads
        every posting of every word, 20-30 ms at 1M stories. The total counts matches up to
        COUNT_LIMIT; a larger total is COUNT_LIMIT + 1.
        """
        query = capped_query(query)
        words = fts_query(query)
        if query.strip() and not words:
            return [], 0  # only punctuation: nothing can match
        key = topic_key(topic) if topic else None
        if not words:
            return await self._browse(key, limit, offset)
        scope = f'tags : "{topic_tag(key)}" AND ' if key else ""
        typed = _words(query)
        everything = f"{scope}{_in_text(typed)}({words})"
        in_title = f"{scope}title : ({words})"
        titles = _title_index(typed)
        matches = await self._matches(everything)
        if matches is not None:
            total = len(matches)
            # a subset of the matches, so as few
            titled = (await self._matches(in_title, index=titles) or []) if matches else []
            rowids = await self._order_few(key, matches, titled, limit, offset)
        else:
            total = COUNT_LIMIT + 1
            rowids = await self._search_many(key, everything, (in_title, titles), limit, offset)
        return await self._articles_by_rowid(rowids), total

    async def _search_many(
        self,
        key: str | None,
        everything: str,
        titled_in: tuple[str, str],
        limit: int,
        offset: int,
    ) -> list[int]:
        """A page of more than COUNT_LIMIT matches: titled first, each part in ranking order.

        ``titled_in`` is the match of the titled stories and the index it runs in
        (_title_index). In a topic, up to _TOPIC_GATHER titled stories are gathered once
        and the topic's stories read in ranking order against them; the full-text match
        of a subquery (_TOPIC_SEARCH) would be run again, in full, after the count."""
        in_title, titles = titled_in  # the match, and the index it is for
        most = _TOPIC_GATHER if key is not None else COUNT_LIMIT
        titled = await self._matches(in_title, most, titles)
        if titled is not None:
            rowids = await self._order_few(key, titled, [], limit, offset)
            if len(rowids) < limit:  # the page goes on past the titled stories
                rowids += await self._page_of_many(
                    key, everything, limit - len(rowids), max(0, offset - len(titled)), titled
                )
            return rowids
        rowids = await self._page_of_many(key, in_title, limit, offset, index=titles)
        if len(rowids) < limit:  # a deep page, past more than COUNT_LIMIT titled stories
            titled_count = offset + len(rowids) if rowids else await self._count(in_title, titles)
            rowids += await self._page_of_many(
                key, f"({everything}) NOT ({in_title})", limit - len(rowids),
                max(0, offset - titled_count),
            )  # fmt: skip
        return rowids

    async def _matches(
        self, match: str, most: int = COUNT_LIMIT, index: str = _TEXT_INDEX
    ) -> list[int] | None:
        """The rowids matching ``match`` in ``index``, or None when there are more than
        ``most``."""
        rows = await self._all(
            f"SELECT rowid FROM {index} WHERE {index} MATCH ? LIMIT ?", (match, most + 1)
        )
        return [rowid for (rowid,) in rows] if len(rows) <= most else None

    async def _count(self, match: str, index: str = _TEXT_INDEX) -> int:
        sql = f"SELECT count(*) FROM {index} WHERE {index} MATCH ?"
        return int((await self._one(sql, (match,)))[0])

    async def _order_few(
        self, key: str | None, rowids: list[int], first: list[int], limit: int, offset: int
    ) -> list[int]:
        """``rowids`` (at most COUNT_LIMIT, or _TOPIC_GATHER of a topic) in ranking order,
        those in ``first`` first."""
        found, ahead = json.dumps(rowids), json.dumps(first)
        if key is None:
            rows = await self._all(_ALL_FEW, (found, ahead, limit, offset))
        elif len(rowids) > COUNT_LIMIT and not first:  # many: no sort, the LIMIT stops
            rows = await self._all(_TOPIC_GATHERED, (key, found, limit, offset))
        else:
            rows = await self._all(_TOPIC_FEW, (key, found, ahead, limit, offset))
        return [rowid for (rowid,) in rows]

    async def _page_of_many(
        self,
        key: str | None,
        match: str,
        limit: int,
        offset: int,
        skip: list[int] | None = None,
        index: str = _TEXT_INDEX,
    ) -> list[int]:
        """A page of ``match``'s stories (in ``index``) but ``skip`` in ranking order, for
        many matches."""
        skipped = json.dumps(skip or [])
        if key is not None:
            rows = await self._all(_TOPIC_SEARCH[index], (key, match, skipped, limit, offset))
        else:  # the first bands hold the page
            bands = [f"({match}) AND tags : ({tags})" for tags in _BAND_TAGS]
            rows = await self._all(_BAND_SEARCH[index], (skipped, *bands, limit, offset))
        return [rowid for (rowid,) in rows]

    async def _articles_by_rowid(self, rowids: list[int]) -> list[Article]:
        rows = await self._all(
            "SELECT rowid, data FROM articles WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(rowids),),
        )
        data = dict(rows)  # a story deleted meanwhile is left out
        return [article_from_dict(json.loads(data[r])) for r in rowids if r in data]

    async def _browse(self, key: str | None, limit: int, offset: int) -> tuple[list[Article], int]:
        """Every story, or a topic's, best first (a search without words)."""
        if key is None:
            rows = await self._all(
                "SELECT a.data FROM articles a WHERE a.source <> 'withdrawn'"
                f" ORDER BY {_rank_order('a')}"
                " LIMIT ? OFFSET ?",
                (limit, offset),
            )
            total = await self.article_count()
        else:
            # In article_topics_rank's order: the page comes from the index, no sort.
            rows = await self._all(
                "SELECT a.data FROM article_topics t JOIN articles a ON a.rowid = t.article_rowid"
                f" WHERE t.key = ? ORDER BY {_rank_order('t', 'article_id')} LIMIT ? OFFSET ?",
                (key, limit, offset),
            )
            found = await self._one("SELECT articles FROM topic_stats WHERE key = ?", (key,))
            total = found[0] if found else 0
        return [article_from_dict(json.loads(r[0])) for r in rows], min(total, COUNT_LIMIT + 1)

    async def topics(self) -> list[tuple[str, int]]:
        rows = await self._all("SELECT name, articles FROM topic_stats ORDER BY key")
        return [(name, count) for name, count in rows]

    async def complete_topics(self, text: str, limit: int = 25) -> list[tuple[str, int]]:
        """Topics starting with ``text``, then topics containing it; most stories first."""
        key = topic_key(text[:QUERY_CHARS])
        rows = await self._all(
            "SELECT name, articles FROM topic_stats WHERE key >= ? AND key < ?"
            " ORDER BY articles DESC, key LIMIT ?",
            (key, key + "\U0010ffff", limit),  # (past every character, emoji too)
        )
        if len(rows) < limit and key:
            rows += await self._all(
                "SELECT name, articles FROM topic_stats WHERE instr(key, ?) > 1"
                " ORDER BY articles DESC, key LIMIT ?",
                (key, limit - len(rows)),
            )
        return [(name, count) for name, count in rows]

    async def latest_sent(
        self, topic: str | None = None, limit: int = 10
    ) -> list[tuple[Article, Delivery]]:
        params: list[Any] = [DeliveryState.SENT.value]
        topic_clause = ""
        if topic:
            topic_clause = (
                " AND EXISTS (SELECT 1 FROM article_topics t WHERE t.key = ?"
                " AND t.article_rowid = a.rowid)"
            )
            params.append(topic_key(topic))
        sql = (
            f"SELECT a.data, {', '.join('d.' + c.strip() for c in _DELIVERY_COLUMNS.split(','))}"
            " FROM deliveries d JOIN articles a ON a.id = d.article_id"
            f" WHERE d.state = ?{topic_clause} ORDER BY d.sent_ts DESC, a.id LIMIT ? OFFSET ?"
        )
        out: list[tuple[Article, Delivery]] = []
        seen: set[str] = set()
        page, offset = limit * 4, 0
        while len(out) < limit:  # a story posted to many channels takes many rows
            rows = await self._all(sql, [*params, page, offset])
            for row in rows:
                delivery = _delivery(row[1:])
                if delivery.article_id in seen:
                    continue  # the same story posted to several channels: once
                seen.add(delivery.article_id)
                out.append((article_from_dict(json.loads(row[0])), delivery))
            if len(rows) < page:
                break
            offset += page
        return out[:limit]

    # ------------------------------------------------------------------ the queue

    @staticmethod
    def _route_clauses(route: RouteFilter) -> tuple[list[str], list[Any]]:
        """The channel's filter (topics, quality, age, published) as SQL on ``articles a``.
        The word and provider filters are not in it: see _screened."""
        where = [] if route.include_published else ["a.published = 0"]
        # an unknown quality passes min_quality, unless the route requires one
        where.append(
            "a.quality >= ? AND a.quality_unknown = 0"
            if route.require_quality
            else "(a.quality >= ? OR a.quality_unknown = 1)"
        )
        params: list[Any] = [route.min_quality]
        if route.min_published_ts is not None:
            where.append("coalesce(a.published_ts, a.first_seen_ts) >= ?")
            params.append(route.min_published_ts)
        if route.topics:
            where.append(
                "EXISTS (SELECT 1 FROM article_topics t WHERE t.article_rowid = a.rowid"
                f" AND t.key IN ({_marks(len(route.topics))}))"
            )
            params.extend(route.topics)
        if route.exclude_topics:
            where.append(
                "NOT EXISTS (SELECT 1 FROM article_topics t WHERE t.article_rowid = a.rowid"
                f" AND t.key IN ({_marks(len(route.exclude_topics))}))"
            )
            params.extend(route.exclude_topics)
        # A moderator's story only where it was submitted for: the set of stories kept
        # out is read once per query, not per row.
        where.append(_NOT_SUBMITTED_ELSEWHERE)
        params.append(route.channel_id)
        return where, params

    _PINNED = (
        " FROM queue_entries q"
        " WHERE q.channel_id = ? AND NOT EXISTS (SELECT 1 FROM deliveries d"
        "   WHERE d.article_id = q.article_id AND d.channel_id = q.channel_id"
        "   AND d.state IN ('sent', 'skipped', 'failed', 'review'))"
        " AND NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = q.article_id"
        "   AND a.source = 'withdrawn')"
    )

    async def _pinned_items(self, channel_id: int, limit: int) -> list[QueueItem]:
        """Pinned stories in their order, except those done or waiting for review."""
        pinned = await self._all(
            "SELECT q.article_id, q.position" + self._PINNED
            + " ORDER BY q.position, q.added_ts LIMIT ?",
            (channel_id, limit),
        )  # fmt: skip
        return [
            QueueItem(article, True, position)
            for article, (_, position) in zip(
                await self.get_articles([r[0] for r in pinned]), pinned, strict=False
            )
        ]

    def _ranked_where(self, route: RouteFilter) -> tuple[str, list[Any]]:
        """The unpinned stories ``route`` takes, as a WHERE on ``articles a``."""
        filters, params = self._route_clauses(route)
        where = [
            *filters,
            "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.article_id = a.id"
            " AND d.channel_id = ? AND d.state NOT IN ('pending', 'sending', 'approved'))",
            "NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.article_id = a.id"
            " AND q.channel_id = ?)",
            _NOT_WITHDRAWN,
        ]
        return " AND ".join(where), [*params, route.channel_id, route.channel_id]

    @staticmethod
    def _queue_order(route: RouteFilter) -> str:
        # "published" first lets the unpublished-only query walk articles_rank
        return _rank_order("a") if route.include_published else f"a.published, {_rank_order('a')}"

    async def _screened(
        self, route: RouteFilter, sql: str, params: Sequence[Any], limit: int
    ) -> list[Article]:
        """The first ``limit`` articles of ``sql`` (ranked ``SELECT a.data ...``, no LIMIT)
        that route.screen() takes. Without word or provider filters that is one query;
        with them the rows are read a page at a time until enough pass."""
        if limit <= 0:
            return []
        if not route.screens:
            rows = await self._all(f"{sql} LIMIT ?", [*params, limit])
            return [article_from_dict(json.loads(r[0])) for r in rows]
        out: list[Article] = []
        page, offset = max(4 * limit, 64), 0
        while len(out) < limit:
            rows = await self._all(f"{sql} LIMIT ? OFFSET ?", [*params, page, offset])
            for row in rows:
                article = article_from_dict(json.loads(row[0]))
                if route.screen(article) is None:
                    out.append(article)
                    if len(out) == limit:
                        break
            if len(rows) < page:
                break
            offset += page
        return out

    async def next_for_channel(self, route: RouteFilter, limit: int = 1) -> list[QueueItem]:
        """Pinned stories in their order, then eligible ones by rank. Never a done one."""
        items = await self._pinned_items(route.channel_id, limit)
        if len(items) >= limit:
            return items
        where, params = self._ranked_where(route)
        ranked = await self._screened(
            route,
            f"SELECT a.data FROM articles a WHERE {where} ORDER BY {self._queue_order(route)}",
            params,
            limit - len(items),
        )
        items += [QueueItem(article, False, None) for article in ranked]
        return items

    async def queue_length(self, route: RouteFilter, limit: int) -> int:
        pinned = (
            await self._one(
                "SELECT count(*) FROM (SELECT 1" + self._PINNED + " LIMIT ?)",
                (route.channel_id, limit),
            )
        )[0]
        if pinned >= limit:
            return int(pinned)
        where, params = self._ranked_where(route)
        if route.screens:  # each story's words are read: only as many as the count needs
            sql = f"SELECT a.data FROM articles a WHERE {where} ORDER BY {self._queue_order(route)}"
            return int(pinned) + len(await self._screened(route, sql, params, limit - pinned))
        ranked = (
            await self._one(
                f"SELECT count(*) FROM (SELECT 1 FROM articles a WHERE {where} LIMIT ?)",
                [*params, limit - pinned],
            )
        )[0]
        return int(pinned + ranked)

    async def next_approved(self, channel_id: int, limit: int = 1) -> list[QueueItem]:
        """An approval route's queue: pinned stories, then approved ones in approval order.

        ``pending`` counts as approved here: on an approval route a delivery is only
        pending after a decision (a retried failure, or a send the channel refused).
        """
        items = await self._pinned_items(channel_id, limit)
        if len(items) >= limit:
            return items
        rows = await self._all(
            "SELECT a.data FROM deliveries d JOIN articles a ON a.id = d.article_id"
            " WHERE d.channel_id = ? AND d.state IN ('approved', 'pending')"
            " AND a.source <> 'withdrawn'"
            " AND NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.article_id = d.article_id"
            " AND q.channel_id = d.channel_id)"
            " ORDER BY d.updated_ts, d.article_id LIMIT ?",
            (channel_id, limit - len(items)),
        )
        items += [QueueItem(article_from_dict(json.loads(r[0])), False, None) for r in rows]
        return items

    async def review_candidates(self, route: RouteFilter, limit: int = 1) -> list[Article]:
        """Eligible stories never offered to the channel (no delivery, not pinned), by rank."""
        filters, params = self._route_clauses(route)
        where = [
            *filters,
            "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.article_id = a.id"
            " AND d.channel_id = ?)",
            "NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.article_id = a.id"
            " AND q.channel_id = ?)",
            _NOT_WITHDRAWN,
        ]
        return await self._screened(
            route,
            f"SELECT a.data FROM articles a WHERE {' AND '.join(where)}"
            f" ORDER BY {_rank_order('a')}",
            [*params, route.channel_id, route.channel_id],
            limit,
        )

    async def pin(
        self, channel_id: int, article_id: str, position: int | None, actor_id: int | None
    ) -> int:
        """Pin a story to a channel's queue at ``position`` (1-based; None = last)."""
        if await self.get_article(article_id) is None:
            raise NotFound(f"no article {article_id}")
        order = [a for a in await self.pins(channel_id) if a != article_id]
        index = len(order) if position is None else max(0, min(position - 1, len(order)))
        order.insert(index, article_id)
        now = _now()
        await self._transaction(
            [
                (
                    "INSERT INTO queue_entries (channel_id, article_id, position, added_by,"
                    " added_ts) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                    (channel_id, article_id, index + 1, actor_id, now),
                ),
                (
                    "UPDATE queue_entries SET position = ? WHERE channel_id = ? AND article_id = ?",
                    [(n + 1, channel_id, a) for n, a in enumerate(order)],
                ),
            ]
        )
        return index + 1

    async def unpin(self, channel_id: int, article_id: str) -> bool:
        changed = await self._write(
            "DELETE FROM queue_entries WHERE channel_id = ? AND article_id = ?",
            (channel_id, article_id),
        )
        return changed > 0

    async def pins(self, channel_id: int) -> list[str]:
        rows = await self._all(
            "SELECT article_id FROM queue_entries WHERE channel_id = ? ORDER BY position, added_ts",
            (channel_id,),
        )
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ deliveries

    async def delivery(self, article_id: str, channel_id: int) -> Delivery | None:
        row = await self._one(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE article_id = ? AND channel_id = ?",
            (article_id, channel_id),
        )
        return _delivery(row) if row else None

    async def deliveries(
        self, channel_id: int | None = None, states: tuple[DeliveryState, ...] = ()
    ) -> list[Delivery]:
        where: list[str] = []
        params: list[int | str] = []
        if channel_id is not None:
            where.append("channel_id = ?")
            params.append(channel_id)
        if states:
            where.append(f"state IN ({_marks(len(states))})")
            params.extend(s.value for s in states)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._all(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries{clause} ORDER BY updated_ts, article_id",
            params,
        )
        return [_delivery(r) for r in rows]

    async def set_delivery(
        self,
        article_id: str,
        channel_id: int,
        state: DeliveryState,
        *,
        expect: tuple[DeliveryState, ...] | None = None,
        message_id: int | None = None,
        review_message_id: int | None = None,
        decided_by: int | None = None,
        error: str | None = None,
        count_attempt: bool = False,
    ) -> Delivery | None:
        """Move a delivery to ``state`` (creating it if new), if it is in ``expect``.

        Returns the updated delivery, or None when its current state is not expected.
        The check and the change happen in one statement, so two callers cannot both win.
        """
        now = _now()
        current = await self.delivery(article_id, channel_id)
        if expect is not None and (current.state if current else None) not in (
            *expect,
            *([None] if DeliveryState.PENDING in expect else []),
        ):
            return None
        if current is None:
            changed = await self._write(
                f"INSERT INTO deliveries ({_DELIVERY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT DO NOTHING",
                (
                    article_id,
                    channel_id,
                    state.value,
                    int(count_attempt),
                    delivery_nonce(article_id, channel_id),
                    message_id,
                    review_message_id,
                    decided_by,
                    error,
                    now,
                    now,
                    now if state is DeliveryState.SENT else None,
                ),
            )
        else:
            changed = await self._write(
                "UPDATE deliveries SET state = ?, attempts = attempts + ?,"
                " message_id = coalesce(?, message_id),"
                " review_message_id = coalesce(?, review_message_id),"
                " decided_by = coalesce(?, decided_by), last_error = ?, updated_ts = ?,"
                " sent_ts = CASE WHEN ? = 'sent' THEN ? ELSE sent_ts END"
                " WHERE article_id = ? AND channel_id = ? AND state = ?",
                (
                    state.value,
                    int(count_attempt),
                    message_id,
                    review_message_id,
                    decided_by,
                    error,
                    now,
                    state.value,
                    now,
                    article_id,
                    channel_id,
                    current.state.value,
                ),
            )
        return await self.delivery(article_id, channel_id) if changed else None

    async def claim(self, article_id: str, channel_id: int) -> Delivery | None:
        """Claim a story for sending: None if it was sent, skipped or failed already.

        A delivery still ``sending`` (a crash mid-send) is handed back as it is, with the
        same nonce, so the caller resends it and Discord drops the repeat.
        """
        current = await self.delivery(article_id, channel_id)
        if current is not None and current.state is DeliveryState.SENDING:
            return current
        withdrawn = "SELECT 1 FROM articles WHERE id = ? AND source = 'withdrawn'"
        if await self._one(withdrawn, (article_id,)) is not None:
            return None  # withdrawn since it was queued: a run's later stories wait on sends
        return await self.set_delivery(
            article_id,
            channel_id,
            DeliveryState.SENDING,
            expect=(DeliveryState.PENDING, DeliveryState.APPROVED),
            count_attempt=True,
        )

    async def retry_failed(self, channel_id: int) -> int:
        return await self._write(
            "UPDATE deliveries SET state = 'pending', attempts = 0, last_error = NULL,"
            " updated_ts = ? WHERE channel_id = ? AND state = 'failed'",
            (_now(), channel_id),
        )

    async def last_posts(self, channel_ids: Sequence[int]) -> dict[int, int]:
        found = {}
        for channel_id in channel_ids:
            row = await self._one(
                "SELECT MAX(sent_ts) FROM deliveries WHERE channel_id = ? AND state = ?",
                (channel_id, DeliveryState.SENT.value),
            )
            if row[0] is not None:
                found[channel_id] = row[0]
        return found

    async def writable(self) -> bool:
        if self._lock.locked():  # this process is writing
            return True
        try:
            async with self._lock:
                await self._db.execute("BEGIN IMMEDIATE")
                await self._db.execute("ROLLBACK")
        except _DRIVER_ERRORS:
            return False
        return True

    async def pending_edits(self, limit: int = 100) -> list[Delivery]:
        """Deliveries whose posted message needs an edit (see apply_load), oldest first."""
        columns = ", ".join("d." + c.strip() for c in _DELIVERY_COLUMNS.split(","))
        rows = await self._all(
            f"SELECT {columns} FROM post_edits e JOIN deliveries d"
            " ON d.article_id = e.article_id AND d.channel_id = e.channel_id"
            " ORDER BY d.sent_ts IS NULL, d.sent_ts, d.article_id, d.channel_id LIMIT ?",
            (limit,),
        )
        return [_delivery(r) for r in rows]

    async def edit_done(self, article_id: str, channel_id: int) -> None:
        """The message is edited, or will never be: forget that it needs an edit."""
        await self._write(
            "DELETE FROM post_edits WHERE article_id = ? AND channel_id = ?",
            (article_id, channel_id),
        )

    async def articles_by_url(self, urls: Sequence[str]) -> dict[str, Article]:
        asked: dict[str, list[str]] = {}
        for url in urls:
            try:
                asked.setdefault(canonical_url(url), []).append(url)
            except ValueError:  # no URL at all (urlsplit refuses it): no story has it
                continue
        found: dict[str, Article] = {}
        for chunk in _chunks(list(asked)):
            for canonical, data in await self._all(
                "SELECT canonical_url, data FROM articles"
                f" WHERE canonical_url IN ({_marks(len(chunk))})",
                tuple(chunk),
            ):
                article = article_from_dict(json.loads(data))
                found.update((url, article) for url in asked[canonical])
        return found

    async def deliveries_of_posts(
        self, channel_id: int, message_ids: Sequence[int], nonces: Sequence[str]
    ) -> list[Delivery]:
        found: dict[tuple[str, int], Delivery] = {}
        for column, values in (("message_id", list(message_ids)), ("nonce", list(nonces))):
            for chunk in _chunks(values):
                rows = await self._all(
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE channel_id = ?"
                    f" AND {column} IN ({_marks(len(chunk))})",
                    (channel_id, *chunk),
                )
                found.update(((r[0], r[1]), _delivery(r)) for r in rows)
        return list(found.values())

    async def sent_for_article(self, article_id: str) -> list[Delivery]:
        rows = await self._all(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE article_id = ? AND state = ?"
            " ORDER BY channel_id",
            (article_id, DeliveryState.SENT.value),
        )
        return [_delivery(r) for r in rows]

    # ------------------------------------------------------------------ routes and audit

    async def route_state(self, channel_id: int) -> RouteState:
        row = await self._one(
            "SELECT channel_id, paused, pause_reason, disabled, disabled_reason FROM routes"
            " WHERE channel_id = ?",
            (channel_id,),
        )
        if row is None:
            return RouteState(channel_id)
        return RouteState(row[0], bool(row[1]), row[2], bool(row[3]), row[4])

    async def set_route_state(self, state: RouteState) -> None:
        await self._write(
            "INSERT INTO routes (channel_id, paused, pause_reason, disabled, disabled_reason,"
            " updated_ts) VALUES (?,?,?,?,?,?) ON CONFLICT (channel_id) DO UPDATE SET"
            " paused = excluded.paused, pause_reason = excluded.pause_reason,"
            " disabled = excluded.disabled, disabled_reason = excluded.disabled_reason,"
            " updated_ts = excluded.updated_ts",
            (
                state.channel_id,
                int(state.paused),
                state.pause_reason,
                int(state.disabled),
                state.disabled_reason,
                _now(),
            ),
        )

    async def audit(
        self,
        action: str,
        result: str,
        *,
        actor_id: int | None = None,
        actor_name: str | None = None,
        channel_id: int | None = None,
        article_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        await self._write(
            "INSERT INTO audit_log (ts, actor_id, actor_name, action, channel_id, article_id,"
            " detail, result) VALUES (?,?,?,?,?,?,?,?)",
            (_now(), actor_id, actor_name, action, channel_id, article_id, detail, result),
        )

    async def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        rows = await self._all(
            "SELECT id, ts, actor_id, actor_name, action, channel_id, article_id, detail, result"
            " FROM audit_log ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [AuditEntry(*r) for r in rows]
