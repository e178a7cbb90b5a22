"""The store's digests: several stories of a channel claimed, recorded or put back as one,
on both backends (``store``); the migrations that add them, per backend, at the end."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from bot.models import Article, ParseResult
from bot.store import (
    Delivery,
    DeliveryState,
    Digest,
    DigestState,
    RouteFilter,
    SQLiteStore,
    Store,
)
from bot.store.postgres import PostgresStore
from bot.store.postgres.connection import latest_schema
from bot.store.records import delivery_nonce, digest_nonce
from tests.store.conftest import run_sql
from tests.store.schema_support import rewind, rewind_postgres
from tests.store.test_store import SCHEMA_VERSION

MakeArticle = Callable[..., Article]
CHANNEL = 10


async def stories(store: Store, make_article: MakeArticle, count: int) -> list[Article]:
    made = [
        make_article(url=f"https://e.org/{n}", title=f"Story {n}", quality=90 - n)
        for n in range(count)
    ]
    for article in made:
        await store.add_article(ParseResult(article))
    return made


async def states(store: Store, channel_id: int = CHANNEL) -> dict[str, tuple[str, int]]:
    return {d.article_id: (d.state.value, d.attempts) for d in await store.deliveries(channel_id)}


async def delivery(store: Store, article_id: str, channel_id: int = CHANNEL) -> Delivery:
    found = await store.delivery(article_id, channel_id)
    assert found is not None
    return found


def test_the_nonce_is_the_channel_and_the_set_of_stories() -> None:
    nonce = digest_nonce(10, ["b", "a"])
    assert nonce == digest_nonce(10, ["a", "b"])  # a set: the order does not count
    assert len(nonce) == 25 and nonce.startswith("dg")
    assert nonce != digest_nonce(11, ["a", "b"])
    assert nonce != digest_nonce(10, ["a", "b", "c"])


async def test_a_claim_takes_the_claimable_stories_together_in_order(
    store: Store, make_article: MakeArticle
) -> None:
    a, b, c, d, e = await stories(store, make_article, 5)
    await store.set_delivery(b.id, CHANNEL, DeliveryState.SENT, message_id=7)
    await store.set_delivery(c.id, CHANNEL, DeliveryState.SKIPPED)
    await store.set_delivery(d.id, CHANNEL, DeliveryState.APPROVED, decided_by=5)
    await store.set_delivery(e.id, 99, DeliveryState.SENT, message_id=8)  # another channel

    digest = await store.claim_digest(CHANNEL, [e.id, b.id, c.id, d.id, a.id, e.id])
    assert digest is not None
    assert digest == Digest(
        id=digest.id,
        channel_id=CHANNEL,
        state=DigestState.SENDING,
        nonce=digest_nonce(CHANNEL, [e.id, d.id, a.id]),
        article_ids=(e.id, d.id, a.id),
        attempts=1,
        message_id=None,
        last_error=None,
        created_ts=digest.created_ts,
        sent_ts=None,
    )
    assert await states(store) == {
        a.id: ("sending", 1),
        b.id: ("sent", 0),
        c.id: ("skipped", 0),
        d.id: ("sending", 1),
        e.id: ("sending", 1),
    }
    # each story keeps its own delivery nonce; the digest's is the one sent
    assert (await delivery(store, a.id)).nonce == delivery_nonce(a.id, CHANNEL)
    assert await store.digests(CHANNEL, (DigestState.SENDING,)) == [digest]
    assert await store.digests(99) == []


async def test_one_digest_in_flight_per_channel_and_its_stories_are_held(
    store: Store, make_article: MakeArticle
) -> None:
    a, b, c = await stories(store, make_article, 3)
    first = await store.claim_digest(CHANNEL, [a.id])
    assert first is not None
    assert await store.claim_digest(CHANNEL, [b.id]) is None  # settle the first one first
    assert await store.delivery(b.id, CHANNEL) is None  # nothing claimed
    assert await store.claim(a.id, CHANNEL) is None  # held by the digest, not handed back
    other = await store.claim_digest(11, [a.id, c.id])  # another channel is its own
    assert other is not None and other.article_ids == (a.id, c.id)
    assert await store.claim_digest(CHANNEL, []) is None


async def test_a_claim_of_nothing_claimable_claims_nothing(
    store: Store, make_article: MakeArticle
) -> None:
    (a,) = await stories(store, make_article, 1)
    await store.set_delivery(a.id, CHANNEL, DeliveryState.FAILED, error="x")
    assert await store.claim_digest(CHANNEL, [a.id, "nosuchid"]) is None
    assert await store.digests() == []
    assert await states(store) == {a.id: ("failed", 0)}


async def test_sent_records_the_digest_and_every_story_with_one_message(
    store: Store, make_article: MakeArticle
) -> None:
    a, b, c = await stories(store, make_article, 3)
    await store.pin(CHANNEL, b.id, None, 5)
    assert await store.last_digest_ts(CHANNEL) is None
    digest = await store.claim_digest(CHANNEL, [b.id, a.id])
    assert digest is not None
    sent = await store.settle_digest(digest.id, DigestState.SENT, message_id=555)
    assert sent is not None
    assert (sent.state, sent.message_id, sent.article_ids) == (DigestState.SENT, 555, (b.id, a.id))
    assert sent.sent_ts is not None and sent.sent_ts >= digest.created_ts
    for article in (a, b):
        recorded = await delivery(store, article.id)
        assert (recorded.state, recorded.message_id, recorded.attempts) == (
            DeliveryState.SENT,
            555,
            1,
        )
    assert await store.pins(CHANNEL) == []  # posted: no longer pinned
    assert await store.delivery(c.id, CHANNEL) is None
    assert await store.last_digest_ts(CHANNEL) == digest.created_ts
    assert await store.digest_of_message(CHANNEL, 555) == sent
    assert await store.digest_of_message(CHANNEL, 556) is None
    assert await store.digest_of_message(11, 555) is None
    # settled once: a second settle finds it no longer in flight
    assert await store.settle_digest(digest.id, DigestState.SENT, message_id=556) is None
    assert (await delivery(store, a.id)).message_id == 555
    # and the channel may claim its next digest
    assert await store.claim_digest(CHANNEL, [c.id]) is not None


async def test_dropped_puts_the_stories_back_as_they_were_decided(
    store: Store, make_article: MakeArticle
) -> None:
    a, b = await stories(store, make_article, 2)
    await store.set_delivery(b.id, CHANNEL, DeliveryState.APPROVED, decided_by=5)
    digest = await store.claim_digest(CHANNEL, [a.id, b.id])
    assert digest is not None
    assert await store.settle_digest(digest.id, None, error="HTTP 403: Missing Access") is None
    assert await store.digests() == []
    assert await store.last_digest_ts(CHANNEL) is None
    first, second = await delivery(store, a.id), await delivery(store, b.id)
    assert (first.state, first.last_error, first.attempts) == (
        DeliveryState.PENDING,
        "HTTP 403: Missing Access",
        1,
    )
    assert (second.state, second.decided_by) == (DeliveryState.APPROVED, 5)
    queued = await store.next_for_channel(RouteFilter(CHANNEL), 5)
    assert [item.article.id for item in queued] == [a.id, b.id]


async def test_failed_and_still_in_flight(store: Store, make_article: MakeArticle) -> None:
    a, b = await stories(store, make_article, 2)
    digest = await store.claim_digest(CHANNEL, [a.id, b.id])
    assert digest is not None
    kept = await store.settle_digest(
        digest.id, DigestState.SENDING, error="HTTP 503: Service Unavailable", count_attempt=True
    )
    assert kept is not None
    assert (kept.state, kept.attempts, kept.last_error) == (
        DigestState.SENDING,
        2,
        "HTTP 503: Service Unavailable",
    )
    assert await states(store) == {a.id: ("sending", 2), b.id: ("sending", 2)}
    failed = await store.settle_digest(digest.id, DigestState.FAILED, error="HTTP 400: bad")
    assert failed is not None and failed.state is DigestState.FAILED
    assert await states(store) == {a.id: ("failed", 2), b.id: ("failed", 2)}
    assert (await delivery(store, a.id)).last_error == "HTTP 400: bad"
    assert await store.claim(a.id, CHANNEL) is None  # failed: /queue retry puts it back
    assert await store.retry_failed(CHANNEL) == 2
    assert await store.claim_digest(CHANNEL, [a.id]) is not None


async def test_a_story_a_moderator_settled_meanwhile_is_left_as_it_is(
    store: Store, make_article: MakeArticle
) -> None:
    a, b = await stories(store, make_article, 2)
    digest = await store.claim_digest(CHANNEL, [a.id, b.id])
    assert digest is not None
    await store.set_delivery(b.id, CHANNEL, DeliveryState.SKIPPED)
    assert await store.settle_digest(digest.id, DigestState.SENT, message_id=9) is not None
    assert await states(store) == {a.id: ("sent", 1), b.id: ("skipped", 1)}


async def test_the_queue_since_a_moment_leaves_pinned_stories_in(
    store: Store, make_article: MakeArticle
) -> None:
    a, b, c = await stories(store, make_article, 3)
    await run_sql(store, "UPDATE articles SET first_seen_ts = 1000 WHERE id = ?", a.id)
    await run_sql(store, "UPDATE articles SET first_seen_ts = 2000 WHERE id IN (?, ?)", b.id, c.id)
    await store.pin(CHANNEL, a.id, None, 5)
    since = RouteFilter(CHANNEL, min_first_seen_ts=2000)
    assert [i.article.id for i in await store.next_for_channel(since, 5)] == [a.id, b.id, c.id]
    await store.unpin(CHANNEL, a.id)
    assert [i.article.id for i in await store.next_for_channel(since, 5)] == [b.id, c.id]
    assert await store.queue_length(since, 5) == 2
    later = RouteFilter(CHANNEL, min_first_seen_ts=2001)
    assert await store.next_for_channel(later, 5) == []


async def test_claims_of_one_channel_at_once_make_one_digest(
    store: Store, make_article: MakeArticle
) -> None:
    made = await stories(store, make_article, 12)
    channels = range(CHANNEL, CHANNEL + 6)
    # two claims per channel at once, each of its own story: one digest in flight each
    results = await asyncio.gather(
        *(
            store.claim_digest(channel, [made[2 * n + k].id])
            for n, channel in enumerate(channels)
            for k in (0, 1)
        )
    )
    for n, channel in enumerate(channels):
        pair = results[2 * n : 2 * n + 2]
        assert sum(digest is not None for digest in pair) == 1
        (won,) = [digest for digest in pair if digest is not None]
        assert await store.digests(channel) == [won]
        assert await states(store, channel) == {won.article_ids[0]: ("sending", 1)}


async def test_a_single_claim_and_a_digest_claim_at_once_take_each_story_once(
    store: Store, make_article: MakeArticle
) -> None:
    made = await stories(store, make_article, 8)
    ids = [a.id for a in made]
    await store.set_delivery(ids[0], CHANNEL, DeliveryState.PENDING)
    digest, singles = await asyncio.gather(
        store.claim_digest(CHANNEL, ids),
        asyncio.gather(*(store.claim(i, CHANNEL) for i in ids)),
    )
    alone = {d.article_id for d in singles if d is not None}
    held = set(digest.article_ids) if digest is not None else set()
    assert alone.isdisjoint(held)
    assert alone | held == set(ids)
    assert await states(store) == {i: ("sending", 1) for i in ids}
    # and after: a held story is not handed to a single post, one taken alone is
    for article_id in ids:
        again = await store.claim(article_id, CHANNEL)
        assert (again is None) == (article_id in held)


# --------------------------------------------------------------------------- migrations


async def test_migration_19_adds_digests_and_keeps_every_story_and_delivery(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    path = tmp_path / "v18.db"
    store = await SQLiteStore.open(str(path))
    a, b = await stories(store, make_article, 2)
    await store.set_delivery(a.id, CHANNEL, DeliveryState.SENT, message_id=42)
    before = await store.deliveries()
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to the version before 19
        rewind(db, 18)
        db.executescript("DROP TABLE digest_items; DROP TABLE digests;")

    store = await SQLiteStore.open(str(path))
    try:
        assert await store.get_articles([a.id, b.id]) == [a, b]  # ids kept
        assert await store.deliveries() == before
        assert await store.digests() == []
        assert await store.last_digest_ts(CHANNEL) is None
        digest = await store.claim_digest(CHANNEL, [a.id, b.id])
        assert digest is not None and digest.article_ids == (b.id,)
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        indexes = {
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'digests'"
            )
        }
        assert {"digests_in_flight", "digests_channel", "digests_message"} <= indexes


async def test_postgresql_migration_2_adds_digests_and_keeps_every_story_and_delivery(
    new_postgres_database: str, make_article: MakeArticle
) -> None:
    url = new_postgres_database
    store = await PostgresStore.open(url)
    a, b = await stories(store, make_article, 2)
    await store.set_delivery(a.id, CHANNEL, DeliveryState.SENT, message_id=42)
    before = await store.deliveries()
    await rewind_postgres(store, 1)  # the version before 2
    await store.close()

    store = await PostgresStore.open(url)
    try:
        assert await store.get_articles([a.id, b.id]) == [a, b]  # ids kept
        assert await store.deliveries() == before
        assert await store.digests() == []
        assert await store.last_digest_ts(CHANNEL) is None
        digest = await store.claim_digest(CHANNEL, [a.id, b.id])
        assert digest is not None and digest.article_ids == (b.id,)
        assert await store._fetchval("SELECT version FROM newsdesk_schema") == latest_schema()
        indexes = {
            r[0]
            for r in await store._fetch(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'digests'"
                " AND schemaname = current_schema()"
            )
        }
        assert indexes == {
            "digests_pkey",
            "digests_in_flight",
            "digests_channel",
            "digests_message",
        }
    finally:
        await store.close()
