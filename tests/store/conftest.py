"""The store tests' fixtures: ``store`` runs a test on both backends; ``sqlite_store``
(or a test opening SQLite files itself) tests what only SQLite has: its files, PRAGMAs,
FTS5 index and the migrations of its older versions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.store import SQLiteStore, Store, open_store
from bot.store.postgres import PostgresStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "newsdesk.db")
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
async def store(store_target: str) -> AsyncIterator[Store]:
    """A real store, migrated, empty: SQLite in a file, or a fresh PostgreSQL database."""
    opened = await open_store(store_target)
    yield opened
    await opened.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(str(tmp_path / "newsdesk.db"))
    yield opened
    await opened.close()


async def fetch_sql(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows that no method of the store reads (``?`` for each value), in its own SQL."""
    if isinstance(store, SQLiteStore):
        cursor = await store._db.execute(sql, params)
        rows = await cursor.fetchall()
        await cursor.close()
        return [tuple(row) for row in rows]
    assert isinstance(store, PostgresStore)
    numbers = iter(range(1, len(params) + 1))
    found = await store._fetch(re.sub(r"\?", lambda _: f"${next(numbers)}", sql), *params)
    return [tuple(row) for row in found]


async def run_sql(store: Store, sql: str, *params: Any) -> None:
    """Setup that no method of the store makes (``?`` for each value), in its own SQL."""
    if isinstance(store, SQLiteStore):
        await store._db.execute(sql, params)
        await store._db.commit()
    else:
        assert isinstance(store, PostgresStore)
        numbers = iter(range(1, len(params) + 1))
        await store._execute(re.sub(r"\?", lambda _: f"${next(numbers)}", sql), *params)
