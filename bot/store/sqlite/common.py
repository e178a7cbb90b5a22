"""What the SQLite store's modules share: driver errors, the ranking order and index
tags, the write-failure wording, chunked parameter lists."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from bot.ingest.planning import NoFreeId
from bot.ingest.urls import canonical_url
from bot.store.records import Delivery, DeliveryState, StoreError

_CHUNK = 500  # bound parameters per IN (...) list
# aiosqlite raises ValueError ("no active connection") once the store is closed
_DRIVER_ERRORS = (sqlite3.Error, ValueError)


def _now() -> int:
    return int(time.time())


def _recanonical(url: str, old: str) -> str:
    """A stored story's canonical URL by this version's rules (migration 14), from its URL;
    one this version cannot parse keeps the form it has."""
    try:
        return canonical_url(url)
    except ValueError:
        return old


def _event_keys(title: str, canonical: str, data: str) -> bytes:
    """A stored story's event keys (migration 21), as a load computes them from its title,
    canonical URL and related coverage (curation.events.store_keys)."""
    from bot.curation.events import pack_keys, store_keys  # (events reads the store's types)

    related = [item["url"] for item in json.loads(data).get("related") or ()]
    return pack_keys(store_keys(title, canonical, related))


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


_BUSY_TIMEOUT_MS = 5000  # how long a write waits for another connection's write to end
_BIG_WRITE = 500  # new or changed stories in one batch that get the write cache
_WRITE_CACHE_KIB = 64 * 1024

# Last of a queue's conditions: the others read only index columns, and this one the
# story's row, which SQLite then reads only for the stories that pass them (put first, it
# would read every candidate's row).
_NOT_WITHDRAWN = "a.source <> 'withdrawn'"

_DELIVERY_COLUMNS = (
    "article_id, channel_id, state, attempts, nonce, message_id, review_message_id,"
    " decided_by, last_error, created_ts, updated_ts, sent_ts"
)


# The errors one row of a batch can cause: a value over SQLite's length limit
# (SQLITE_TOOBIG), a constraint, a value the driver cannot bind or convert. Others (a
# database full, locked, read-only, damaged or closed) would fail any part of the batch.
_ROW_FAULTS = (sqlite3.DataError, sqlite3.IntegrityError, sqlite3.InterfaceError, OverflowError)


def _row_fault(exc: BaseException) -> bool:
    """Whether a failed batch may owe the failure to one of its rows."""
    if isinstance(exc, NoFreeId):
        return True
    return isinstance(exc.__cause__ if isinstance(exc, StoreError) else exc, _ROW_FAULTS)


def _delivery(row: Sequence[Any]) -> Delivery:
    values = list(row)
    values[2] = DeliveryState(values[2])
    return Delivery(*values)
