"""The bot's REST budget (Store.take_rest_budget) on both backends: the token bucket's
arithmetic, two stores on one database (two processes) drawing from it at once, and the
migrations that add it."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from bot.store import SQLiteStore, Store, open_store
from bot.store.postgres import PostgresStore
from bot.store.postgres.connection import latest_schema
from bot.store.records import RestGrant, bot_key
from tests.store.conftest import fetch_sql
from tests.store.schema_support import rewind, rewind_postgres
from tests.store.test_store import SCHEMA_VERSION

BOT = bot_key("the-bot-token")


async def test_a_bucket_starts_full_refills_at_its_rate_and_holds_at_most_its_burst(
    store: Store,
) -> None:
    take = store.take_rest_budget
    # rate 4 a second, burst 3: a new bucket holds 3
    assert await take(BOT, 2, 4.0, 3, now=100.0) == RestGrant(2, 0.0, 100.0)
    # 1 left: 1 of 2 granted, and the next whole token is 1/4 s away
    assert await take(BOT, 2, 4.0, 3, now=100.0) == RestGrant(1, 0.25, 100.0)
    # 1/8 s refills half a token: none granted, the rest of it 1/8 s away
    assert await take(BOT, 1, 4.0, 3, now=100.125) == RestGrant(0, 0.125, 100.125)
    assert await take(BOT, 1, 4.0, 3, now=100.25) == RestGrant(1, 0.0, 100.25)
    # ten seconds refill 40 tokens, but the bucket holds 3
    assert await take(BOT, 5, 4.0, 3, now=110.0) == RestGrant(3, 0.25, 110.0)
    # a clock gone back refills nothing, and the bucket keeps its time
    assert await take(BOT, 1, 4.0, 3, now=109.0) == RestGrant(0, 0.25, 110.0)
    assert await take(BOT, 1, 4.0, 3, now=110.5) == RestGrant(1, 0.0, 110.5)
    # another bot (token) has a bucket of its own
    other = bot_key("another-token")
    assert await take(other, 3, 4.0, 3, now=110.5) == RestGrant(3, 0.0, 110.5)
    # one row per bot, keyed by a hash of its token, never the token
    rows = await fetch_sql(store, "SELECT bot, tokens, stamp, granted FROM rest_budget")
    assert sorted(rows) == sorted([(BOT, 1.0, 110.5, 1), (other, 0.0, 110.5, 3)])
    assert hashlib.sha256(b"newsdesk-rest/the-bot-token").hexdigest() == BOT


async def test_a_take_counts_by_the_store_s_clock_when_given_none(store: Store) -> None:
    before = time.time()
    first = await store.take_rest_budget(BOT, 1, 45.0, 3)
    after = time.time()
    assert (first.granted, first.wait) == (1, 0.0)
    assert before - 0.001 <= first.at <= after + 0.001


@pytest.mark.parametrize(
    ("want", "rate", "burst"), [(0, 45.0, 3), (1, 0.0, 3), (1, -1.0, 3), (1, 45.0, 0)]
)
async def test_a_take_no_bucket_can_answer_is_refused(
    store: Store, want: int, rate: float, burst: int
) -> None:
    with pytest.raises(ValueError, match="want >= 1, rate > 0 and burst >= 1"):
        await store.take_rest_budget(BOT, want, rate, burst, now=100.0)
    assert await fetch_sql(store, "SELECT bot FROM rest_budget") == []


RATE, BURST = 40.0, 3
DRAW_SECONDS = 1.0


async def _draw(store: Store, grants: list[RestGrant], until: float) -> None:
    """Take as a sending process does: up to 2 at a time, waiting as told when refused."""
    while time.monotonic() < until:
        grant = await store.take_rest_budget(BOT, 2, RATE, BURST)
        grants.append(grant)
        if grant.granted == 0:
            await asyncio.sleep(grant.wait)


async def test_two_stores_drawing_at_once_never_exceed_the_budget(store_target: str) -> None:
    """Two stores on one database, as two processes, each drawing from 4 tasks: in every
    window between two takes, at most burst + rate × its length is granted in all."""
    first, second = await open_store(store_target), await open_store(store_target)
    try:
        grants: dict[int, list[RestGrant]] = {1: [], 2: []}
        until = time.monotonic() + DRAW_SECONDS
        await asyncio.gather(
            *(_draw(first, grants[1], until) for _ in range(4)),
            *(_draw(second, grants[2], until) for _ in range(4)),
        )
    finally:
        await first.close()
        await second.close()
    takes = sorted(grants[1] + grants[2], key=lambda g: g.at)
    for start in range(len(takes)):
        granted = 0
        for end in range(start, len(takes)):
            granted += takes[end].granted
            allowed = BURST + RATE * (takes[end].at - takes[start].at)
            assert granted <= allowed + 1e-6, (start, end, granted, allowed)
    total = sum(g.granted for g in takes)
    span = takes[-1].at - takes[0].at
    # both drew, and for the whole time: the bucket refilled many times over
    assert sum(g.granted for g in grants[1]) > 0 and sum(g.granted for g in grants[2]) > 0
    assert total >= RATE * DRAW_SECONDS / 2 and total <= BURST + RATE * span + 1e-6


async def test_migration_24_adds_the_rest_budget(tmp_path: Path) -> None:
    path = tmp_path / "v23.db"
    store = await SQLiteStore.open(str(path))
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to the version before: no rest_budget
        db.execute("DROP TABLE rest_budget")
        rewind(db, 23)

    store = await SQLiteStore.open(str(path))
    try:
        assert await store.take_rest_budget(BOT, 5, 45.0, 3, now=10.0) == RestGrant(3, 1 / 45, 10.0)
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        columns = [row[1:3] for row in db.execute("PRAGMA table_info(rest_budget)")]
        assert columns == [
            ("bot", "TEXT"),
            ("tokens", "REAL"),
            ("stamp", "REAL"),
            ("granted", "INTEGER"),
        ]


async def test_postgres_migration_13_adds_the_rest_budget(new_postgres_database: str) -> None:
    store = await PostgresStore.open(new_postgres_database)
    await store._execute("DROP TABLE rest_budget")
    await rewind_postgres(store, 12)
    await store.close()

    store = await PostgresStore.open(new_postgres_database)
    try:
        assert await store._fetchval("SELECT version FROM newsdesk_schema") == latest_schema()
        assert await store.take_rest_budget(BOT, 5, 45.0, 3, now=10.0) == RestGrant(3, 1 / 45, 10.0)
        columns = await store._fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'rest_budget'"
            " ORDER BY ordinal_position"
        )
        assert [tuple(c) for c in columns] == [
            ("bot", "text"),
            ("tokens", "double precision"),
            ("stamp", "double precision"),
            ("granted", "integer"),
        ]
    finally:
        await store.close()
