"""The store's fixtures: every test here taking ``store`` runs on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store import Store, open_store


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
