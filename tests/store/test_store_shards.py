"""Shard leases in the store, on both backends: who runs which gateway shard, until when."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from bot.store import RouteState, ShardLease, SQLiteStore, Store
from bot.store.postgres import PostgresStore
from bot.store.postgres.connection import latest_schema
from tests.store.schema_support import rewind, rewind_postgres
from tests.store.test_store import SCHEMA_VERSION

LONG = 600.0  # seconds: a lease that cannot expire during a test
EXPIRED = 0.0  # a lease taken for 0 s has expired when the next call reads it


def held(leases: list[ShardLease]) -> list[tuple[int, int, str, bool]]:
    """(shard, count, owner, live) of each lease: the seconds left vary by the clock."""
    return [(x.shard_id, x.shard_count, x.owner, x.expires_in > 0) for x in leases]


async def test_leases_are_taken_all_or_none_and_name_the_holder(store: Store) -> None:
    assert await store.shard_leases() == []
    assert await store.take_shards("a", [0, 1], 4, LONG) == []
    blocked = await store.take_shards("b", [1, 2], 4, LONG)
    assert held(blocked) == [(1, 4, "a", True)]
    assert 590 < blocked[0].expires_in <= 600
    assert blocked[0].describe() == "shard 1 of 4"
    # nothing of b's was taken: shard 2 is still free
    assert held(await store.shard_leases()) == [(0, 4, "a", True), (1, 4, "a", True)]
    assert await store.take_shards("b", [2, 3], 4, LONG) == []
    assert held(await store.shard_leases()) == [
        (0, 4, "a", True), (1, 4, "a", True), (2, 4, "b", True), (3, 4, "b", True),
    ]  # fmt: skip
    # taking one's own again extends it
    assert await store.take_shards("a", [0], 4, LONG) == []


async def test_an_expired_lease_is_anyone_s_and_its_old_owner_cannot_renew_it(
    store: Store,
) -> None:
    assert await store.take_shards("a", [0], 4, EXPIRED) == []
    assert await store.take_shards("a", [1], 4, LONG) == []
    assert held(await store.shard_leases()) == [(0, 4, "a", False), (1, 4, "a", True)]
    assert await store.renew_shards("a", [0, 1], 4, LONG) == [1]
    assert await store.take_shards("standby", [0], 4, LONG) == []
    assert await store.renew_shards("a", [0, 1], 4, LONG) == [1]
    assert await store.renew_shards("standby", [0, 1], 4, LONG) == [0]
    assert held(await store.shard_leases()) == [(0, 4, "standby", True), (1, 4, "a", True)]


async def test_renewing_extends_only_the_owner_s_unexpired_leases_of_that_count(
    store: Store,
) -> None:
    assert await store.take_shards("a", [0, 1], 4, 5.0) == []
    assert await store.renew_shards("a", [0, 1, 2], 4, LONG) == [0, 1]
    assert [x.expires_in > 590 for x in await store.shard_leases()] == [True, True]
    assert await store.renew_shards("b", [0, 1], 4, LONG) == []
    assert await store.renew_shards("a", [0, 1], 8, LONG) == []
    assert await store.renew_shards("a", [], 4, LONG) == []


async def test_a_released_lease_is_free_at_once_and_others_are_kept(store: Store) -> None:
    assert await store.take_shards("a", [0, 1], 4, LONG) == []
    assert await store.take_shards("b", [2], 4, LONG) == []
    await store.release_shards("a", [1, 2])  # 2 is b's: kept
    assert held(await store.shard_leases()) == [(0, 4, "a", True), (2, 4, "b", True)]
    assert await store.take_shards("c", [1], 4, LONG) == []


async def test_a_live_lease_of_another_shard_count_blocks_every_take(store: Store) -> None:
    assert await store.take_shards("old", [1], 2, LONG) == []
    assert held(await store.take_shards("new", [0], 4, LONG)) == [(1, 2, "old", True)]
    assert held(await store.shard_leases()) == [(1, 2, "old", True)]
    # once it expired, the leases of the other count go with the first take
    assert await store.take_shards("old", [1], 2, EXPIRED) == []
    assert await store.take_shards("new", [0], 4, LONG) == []
    assert held(await store.shard_leases()) == [(0, 4, "new", True)]


async def test_sqlite_migration_23_adds_shard_leases_and_keeps_the_routes(tmp_path: Path) -> None:
    path = tmp_path / "v22.db"
    paused = RouteState(100, paused=True, pause_reason="holiday")
    store = await SQLiteStore.open(str(path))
    await store.set_route_state(paused)
    await store.set_route_guild(100, 42)
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to version 22: no shard_leases
        db.execute("DROP TABLE shard_leases")
        rewind(db, 22)

    store = await SQLiteStore.open(str(path))
    try:
        assert await store.route_state(100) == paused
        assert await store.route_guilds() == {100: 42}
        assert await store.shard_leases() == []
        assert await store.take_shards("a", [0], 2, LONG) == []
        assert held(await store.shard_leases()) == [(0, 2, "a", True)]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        columns = [row[1:3] for row in db.execute("PRAGMA table_info(shard_leases)")]
        assert columns == [
            ("shard_id", "INTEGER"), ("shard_count", "INTEGER"), ("owner", "TEXT"),
            ("expires", "REAL"),
        ]  # fmt: skip


async def test_postgresql_migration_12_adds_shard_leases_and_keeps_the_routes(
    new_postgres_database: str,
) -> None:
    paused = RouteState(100, paused=True, pause_reason="holiday")
    store = await PostgresStore.open(new_postgres_database)
    await store.set_route_state(paused)
    await store.set_route_guild(100, 42)
    await store._execute("DROP TABLE shard_leases")
    await rewind_postgres(store, 11)
    await store.close()

    store = await PostgresStore.open(new_postgres_database)
    try:
        assert await store._fetchval("SELECT version FROM newsdesk_schema") == latest_schema()
        assert await store.route_state(100) == paused
        assert await store.route_guilds() == {100: 42}
        assert await store.shard_leases() == []
        assert await store.take_shards("a", [0], 2, LONG) == []
        assert held(await store.shard_leases()) == [(0, 2, "a", True)]
    finally:
        await store.close()
