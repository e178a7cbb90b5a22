"""A claim is a lease (Store.claim): of several processes on one database (two Store
instances, two connections or pools), one sends a delivery; a lease that ran out is taken
over and marked so; only the holder records the outcome. Both backends."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from bot.store import DeliveryState, DigestState, SQLiteStore, Store, open_store
from bot.store.postgres import PostgresStore
from bot.store.records import (
    delivery_nonce,
    held_by_another,
)
from tests.store.conftest import fetch_sql
from tests.store.schema_support import rewind, rewind_postgres
from tests.store.test_store import SCHEMA_VERSION
from tests.store.test_store_digests import MakeArticle, stories

CHANNEL = 10
ROUNDS = 30


@pytest.fixture
async def stores(store_target: str) -> AsyncIterator[tuple[Store, Store, Store]]:
    """Three processes on one database: A and B hold leases for a minute, C's run out at
    once (a process that died or hung mid-send)."""
    opened = [
        await open_store(store_target, lease_owner="A"),
        await open_store(store_target, lease_owner="B"),
        await open_store(store_target, lease_owner="C", lease_seconds=0),
    ]
    yield opened[0], opened[1], opened[2]
    for store in opened:
        await store.close()


async def lease(store: Store, article_id: str) -> tuple[str, str | None, bool]:
    """(state, lease owner, whether the lease is stamped with an expiry)."""
    rows = await fetch_sql(
        store,
        "SELECT state, lease_owner, lease_until IS NOT NULL FROM deliveries"
        " WHERE article_id = ? AND channel_id = ?",
        article_id,
        CHANNEL,
    )
    state, owner, stamped = rows[0]
    return state, owner, bool(stamped)


async def test_claims_racing_from_two_processes_give_each_delivery_to_one(
    stores: tuple[Store, Store, Store],
) -> None:
    a, b, c = stores
    kinds = ("new", "pending", "expired")
    for n in range(ROUNDS):
        article_id = f"race{n}"
        kind = kinds[n % 3]
        if kind == "pending":
            await a.set_delivery(article_id, CHANNEL, DeliveryState.PENDING)
        elif kind == "expired":
            assert await c.claim(article_id, CHANNEL) is not None  # C dies mid-send
        got = await asyncio.gather(a.claim(article_id, CHANNEL), b.claim(article_id, CHANNEL))
        winners = [owner for owner, claimed in zip("AB", got, strict=True) if claimed]
        assert len(winners) == 1, (kind, got)
        claimed = got[0] or got[1]
        assert claimed is not None
        assert (claimed.state, claimed.attempts, claimed.taken_over) == (
            DeliveryState.SENDING,
            1,
            kind == "expired",
        )
        assert await lease(a, article_id) == ("sending", winners[0], True)


async def test_a_live_lease_is_refused_to_another_owner_and_only_its_holder_records(
    stores: tuple[Store, Store, Store],
) -> None:
    a, b, _ = stores
    claimed = await a.claim("art1", CHANNEL)
    assert claimed is not None and claimed.taken_over is False

    assert await b.claim("art1", CHANNEL) is None  # A is sending it
    assert await b.renew("art1", CHANNEL) is False
    assert (
        await b.set_delivery(
            "art1", CHANNEL, DeliveryState.SENT, expect=(DeliveryState.SENDING,), message_id=9
        )
        is None
    )
    assert await lease(a, "art1") == ("sending", "A", True)

    assert await a.renew("art1", CHANNEL) is True
    again = await a.claim("art1", CHANNEL)  # its holder gets it back, as after a restart
    assert again == replace(claimed, taken_over=True)
    sent = await a.set_delivery(
        "art1", CHANNEL, DeliveryState.SENT, expect=(DeliveryState.SENDING,), message_id=7
    )
    assert sent is not None and (sent.state, sent.message_id) == (DeliveryState.SENT, 7)
    assert await lease(a, "art1") == ("sent", None, False)  # settled: the lease ends
    assert await b.claim("art1", CHANNEL) is None
    assert await a.renew("art1", CHANNEL) is False


async def test_an_expired_lease_is_taken_over_and_the_stale_owner_records_nothing(
    stores: tuple[Store, Store, Store],
) -> None:
    _, b, c = stores
    claimed = await c.claim("art1", CHANNEL)  # C's lease runs out at once: C hung mid-send
    assert claimed is not None

    taken = await b.claim("art1", CHANNEL)
    assert taken is not None
    assert (taken.state, taken.attempts, taken.nonce, taken.taken_over) == (
        DeliveryState.SENDING,
        1,  # the same attempt, resumed
        delivery_nonce("art1", CHANNEL),
        True,  # so the deliverer looks in the channel before sending
    )
    assert await lease(b, "art1") == ("sending", "B", True)

    # C wakes up: it cannot renew, and what it records of its send changes nothing
    assert await c.renew("art1", CHANNEL) is False
    assert await c.claim("art1", CHANNEL) is None
    for state in (DeliveryState.SENT, DeliveryState.PENDING, DeliveryState.FAILED):
        stale = await c.set_delivery(
            "art1", CHANNEL, state, expect=(DeliveryState.SENDING,), message_id=1, error="x"
        )
        assert stale is None
    assert await lease(b, "art1") == ("sending", "B", True)

    sent = await b.set_delivery(
        "art1", CHANNEL, DeliveryState.SENT, expect=(DeliveryState.SENDING,), message_id=2
    )
    assert sent is not None and (sent.state, sent.message_id) == (DeliveryState.SENT, 2)
    late = await c.set_delivery(
        "art1", CHANNEL, DeliveryState.SENT, expect=(DeliveryState.SENDING,), message_id=1
    )
    assert late is None
    recorded = await b.delivery("art1", CHANNEL)
    assert recorded is not None and (recorded.state, recorded.message_id) == (
        DeliveryState.SENT,
        2,
    )


async def test_expire_leases_lets_the_next_claim_take_every_send_in_flight_over(
    stores: tuple[Store, Store, Store],
) -> None:
    a, b, _ = stores
    assert await a.claim("art1", CHANNEL) is not None
    assert await b.claim("art2", CHANNEL) is not None
    assert await b.claim("art1", CHANNEL) is None

    assert await b.expire_leases() == 1  # A's; B keeps its own
    assert await lease(b, "art1") == ("sending", None, False)
    assert await lease(b, "art2") == ("sending", "B", True)
    taken = await b.claim("art1", CHANNEL)
    assert taken is not None and taken.taken_over is True
    assert await a.claim("art1", CHANNEL) is None


async def test_sqlite_migration_22_adds_leases_and_keeps_every_delivery(tmp_path: Path) -> None:
    path = tmp_path / "v21.db"
    store = await SQLiteStore.open(str(path))
    await store.set_delivery("art1", CHANNEL, DeliveryState.SENT, message_id=42)
    await store.set_delivery("art2", CHANNEL, DeliveryState.PENDING)
    assert await store.claim("art3", CHANNEL) is not None  # in flight before the upgrade
    before = await store.deliveries()
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        rewind(db, 21)
        assert "lease_owner" not in [r[1] for r in db.execute("PRAGMA table_info(deliveries)")]

    store = await SQLiteStore.open(str(path))
    try:
        assert await store.deliveries() == before
        assert (
            await fetch_sql(store, "SELECT lease_owner, lease_until FROM deliveries")
            == [(None, None)] * 3
        )
        # the send in flight from before has no lease: the first claimer takes it over
        taken = await store.claim("art3", CHANNEL)
        assert taken is not None and taken.taken_over is True
        assert await lease(store, "art3") == ("sending", store.lease_owner, True)
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        for table in ("deliveries", "digests"):
            columns = [r[1:3] for r in db.execute(f"PRAGMA table_info({table})")][-2:]
            assert columns == [("lease_owner", "TEXT"), ("lease_until", "REAL")]


async def test_postgresql_migration_11_adds_leases_and_keeps_every_delivery(
    new_postgres_database: str,
) -> None:
    store = await PostgresStore.open(new_postgres_database)
    await store.set_delivery("art1", CHANNEL, DeliveryState.SENT, message_id=42)
    assert await store.claim("art3", CHANNEL) is not None
    before = await store.deliveries()
    await rewind_postgres(store, 10)
    await store.close()

    store = await PostgresStore.open(new_postgres_database)
    try:
        assert await store.deliveries() == before
        assert (
            await fetch_sql(store, "SELECT lease_owner, lease_until FROM deliveries")
            == [(None, None)] * 2
        )
        taken = await store.claim("art3", CHANNEL)
        assert taken is not None and taken.taken_over is True
        assert await lease(store, "art3") == ("sending", store.lease_owner, True)
        columns = await fetch_sql(
            store,
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND column_name LIKE 'lease%'"
            " ORDER BY table_name, column_name",
        )
        assert columns == [
            ("deliveries", "lease_owner", "text"),
            ("deliveries", "lease_until", "double precision"),
            ("digests", "lease_owner", "text"),
            ("digests", "lease_until", "double precision"),
        ]
    finally:
        await store.close()


async def test_a_digest_is_a_lease_too(
    stores: tuple[Store, Store, Store], make_article: MakeArticle
) -> None:
    a, b, c = stores
    made = await stories(a, make_article, 2 + ROUNDS // 3)
    digest = await a.claim_digest(CHANNEL, [made[0].id, made[1].id])
    assert digest is not None
    assert await b.hold_digest(digest.id) is None  # A is sending it
    assert await b.settle_digest(digest.id, DigestState.SENT, message_id=9) is None
    assert await b.settle_digest(digest.id, None, error="x") is None
    assert await a.hold_digest(digest.id) == digest  # renewed by its holder

    a.lease_seconds = 0
    assert await a.hold_digest(digest.id) == digest  # A's last renewal: it hangs
    a.lease_seconds = b.lease_seconds
    taken = await b.hold_digest(digest.id)
    assert taken == digest
    assert await a.hold_digest(digest.id) is None
    assert await a.settle_digest(digest.id, DigestState.FAILED, error="stale") is None
    sent = await b.settle_digest(digest.id, DigestState.SENT, message_id=2)
    assert sent is not None and (sent.state, sent.message_id) == (DigestState.SENT, 2)
    assert await fetch_sql(a, "SELECT lease_owner, lease_until FROM digests") == [(None, None)]
    assert await b.hold_digest(digest.id) is None  # settled
    assert [(d.state, d.message_id) for d in await a.deliveries(CHANNEL)] == [
        (DeliveryState.SENT, 2)
    ] * 2

    # racing to take over digests whose lease ran out: one holder each
    for n in range(ROUNDS // 3):
        claimed = await c.claim_digest(CHANNEL + 1 + n, [made[2 + n].id])
        assert claimed is not None
        got = await asyncio.gather(a.hold_digest(claimed.id), b.hold_digest(claimed.id))
        assert [g is not None for g in got].count(True) == 1, got


async def test_expire_leases_ends_digest_leases_too(
    stores: tuple[Store, Store, Store], make_article: MakeArticle
) -> None:
    a, b, _ = stores
    (story,) = await stories(a, make_article, 1)
    digest = await a.claim_digest(CHANNEL, [story.id])
    assert digest is not None
    assert await b.hold_digest(digest.id) is None
    assert await b.expire_leases() == 1
    assert await b.hold_digest(digest.id) == digest


async def test_end_leases_of_ends_those_of_named_owners_holding_no_live_shard_lease(
    store_target: str, make_article: MakeArticle
) -> None:
    """A standby S takes over shards: it names their former holders. A holds a live shard
    lease (kept), B's expired (ended), D never held one (ended: named, none live), E is
    not named (kept), and S's own are never ended."""
    opened = {o: await open_store(store_target, lease_owner=o) for o in "ABDES"}
    a, b, d, e, s = (opened[o] for o in "ABDES")
    try:
        (story,) = await stories(s, make_article, 1)
        assert await a.take_shards("A", [0], 4, 600.0) == []
        assert await b.take_shards("B", [1], 4, 0.0) == []  # B died: expired at once
        for store, article_id in ((a, "art1"), (b, "art2"), (d, "art3"), (e, "art4"), (s, "art5")):
            assert await store.claim(article_id, CHANNEL) is not None
        digest = await b.claim_digest(CHANNEL + 1, [story.id])
        assert digest is not None
        assert await s.end_leases_of([]) == 0

        assert await s.end_leases_of(["A", "B", "D", "S"]) == 3  # B's two, D's one
        assert [await lease(s, f"art{n}") for n in range(1, 6)] == [
            ("sending", "A", True),
            ("sending", None, False),
            ("sending", None, False),
            ("sending", "E", True),
            ("sending", "S", True),
        ]
        digest_lease = "SELECT lease_owner, lease_until FROM digests"
        assert await fetch_sql(s, digest_lease) == [(None, None)]
        # taken over at once, marked so (the channel is looked in first)
        taken = await s.claim("art2", CHANNEL)
        assert taken is not None and (taken.state, taken.taken_over) == (
            DeliveryState.SENDING,
            True,
        )
        assert await s.hold_digest(digest.id) == digest
        assert await s.claim("art1", CHANNEL) is None  # A is alive and sending it
        assert await s.claim("art4", CHANNEL) is None

        # B takes a shard back before it is named again: it is live, its leases stay
        assert await b.claim("art6", CHANNEL) is not None
        assert await b.take_shards("B", [2], 4, 600.0) == []
        assert await s.end_leases_of(["B"]) == 0
        assert await lease(s, "art6") == ("sending", "B", True)
    finally:
        for store in opened.values():
            await store.close()


def test_a_lease_refuses_only_another_owner_until_it_expires() -> None:
    assert held_by_another("b", 110.0, "a", 100.0) is True  # B's, live
    assert held_by_another("b", 100.0, "a", 100.0) is False  # B's, expired at that moment
    assert held_by_another("b", 90.0, "a", 100.0) is False  # B's, expired
    assert held_by_another("a", 110.0, "a", 100.0) is False  # my own
    assert held_by_another(None, None, "a", 100.0) is False  # nobody's
    assert held_by_another("b", None, "a", 100.0) is False  # no expiry written: not held
