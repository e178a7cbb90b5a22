"""Events in the store, for real, on both backends: which stories are one event after
loads in any order, the lead, the queue taking an event once per channel; SQLite's
migration 18 and PostgreSQL's migration 5."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.ingest.urls import canonical_url, short_id
from bot.models import Article, ParseResult, Provider, Related
from bot.store import (
    DeliveryState,
    LoadItem,
    RouteFilter,
    SQLiteStore,
    Store,
    StoredArticle,
    open_store,
)
from bot.store.postgres import PostgresStore
from bot.store.postgres.connection import is_postgres_url, latest_schema
from tests.pg_server import emptied
from tests.store.conftest import fetch_sql
from tests.store.schema_support import rewind, rewind_postgres

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIGRATIONS = Path(__file__).resolve().parents[2] / "bot" / "store" / "migrations"


def story(
    url: str,
    title: str,
    quality: int = 50,
    at: datetime = T0,
    related: tuple[str, ...] = (),
) -> Article:
    canonical = canonical_url(url)
    host = url.split("/")[2]
    return Article(
        id=short_id(canonical),
        canonical_url=canonical,
        url=url,
        title=title,
        quality=quality,
        published_at=at,
        provider=Provider(host, host),
        related=tuple(Related(title="other", url=r) for r in related),
    )


def item(article: Article) -> LoadItem:
    path = "/seeds/" + article.url.split("/")[2] + ".md"
    return LoadItem(
        path, 10, 1, "sha-" + article.id, StoredArticle.from_result(ParseResult(article))
    )


NVIDIA = story("https://a.example/nv", "Nvidia to buy Arm from SoftBank for $40 billion", 60)
NVIDIA_2 = story(
    "https://b.example/nv", "Nvidia agrees to buy Arm from SoftBank for $40 billion", 80,
    T0 + timedelta(hours=5),
)  # fmt: skip
NVIDIA_3 = story(  # no title alike, but it lists the first one's URL
    "https://c.example/nv", "Chip deal of the decade", 70, T0 + timedelta(days=20),
    ("https://a.example/nv/?utm_source=feed",),
)  # fmt: skip
OTHER = story("https://d.example/x", "Microsoft to invest $10 billion in OpenAI", 90)


def events_in(path: Path) -> dict[str, str | None]:
    with closing(sqlite3.connect(path)) as db:
        return dict(db.execute("SELECT id, event_id FROM articles ORDER BY id").fetchall())


async def events_of(store: Store) -> dict[str, str | None]:
    """Each story's event as the store keeps it (its lead's id, None alone)."""
    return dict(await fetch_sql(store, "SELECT id, event_id FROM articles ORDER BY id"))


def new_target(target: str, tmp_path: Path, name: str) -> str:
    """An empty store's target: a new SQLite file, or the PostgreSQL database emptied."""
    return emptied(target) if is_postgres_url(target) else str(tmp_path / f"{name}.db")


async def test_loads_in_any_order_and_batches_make_the_same_events(
    store_target: str, tmp_path: Path
) -> None:
    expected = {
        NVIDIA.id: NVIDIA_2.id,
        NVIDIA_2.id: NVIDIA_2.id,  # quality 80: the lead
        NVIDIA_3.id: NVIDIA_2.id,
        OTHER.id: None,
    }
    stories = [NVIDIA, NVIDIA_2, NVIDIA_3, OTHER]
    for number, order in enumerate(itertools.permutations(stories)):
        store = await open_store(new_target(store_target, tmp_path, str(number)))
        # one batch; one batch a story (the first reads only the stories it may link to,
        # the others every story); one load a story (each reads only those)
        outcomes = []
        if number % 3 == 0:
            outcomes = await store.apply_load([item(a) for a in order])
        for a in order if number % 3 else ():
            outcomes += await store.apply_load([item(a)])
            if number % 3 == 2:
                store.end_load()
        store.end_load()
        try:
            assert await events_of(store) == expected, order
        finally:
            await store.close()
        merged = {o.article_id: o.merged_into for o in outcomes}
        if number % 3 == 0:  # in one batch: every story that is not its event's lead
            assert merged == {
                NVIDIA.id: NVIDIA_2.id,
                NVIDIA_2.id: None,
                NVIDIA_3.id: NVIDIA_2.id,
                OTHER.id: None,
            }


async def test_the_queue_takes_an_event_once_per_channel(store: Store) -> None:
    await store.apply_load([item(NVIDIA), item(OTHER)])
    route = RouteFilter(channel_id=7)
    assert [i.article.id for i in await store.next_for_channel(route, 5)] == [
        OTHER.id,
        NVIDIA.id,
    ]
    await store.set_delivery(NVIDIA.id, 7, DeliveryState.SENT, message_id=1)
    # a better story of the event comes after the post: it leads the event now, and
    # channel 7, which posted the event, does not take it; channel 8 does
    outcomes = await store.apply_load([item(NVIDIA_2)])
    assert [(o.status, o.merged_into) for o in outcomes] == [("loaded", None)]
    assert [i.article.id for i in await store.next_for_channel(route, 5)] == [OTHER.id]
    assert await store.queue_length(route, 5) == 1
    other_channel = RouteFilter(channel_id=8)
    assert [i.article.id for i in await store.next_for_channel(other_channel, 5)] == [
        OTHER.id,
        NVIDIA_2.id,
    ]
    assert [a.id for a in await store.review_candidates(other_channel, 5)] == [
        OTHER.id,
        NVIDIA_2.id,
    ]
    assert [a.id for a in await store.review_candidates(route, 5)] == [OTHER.id]


async def test_a_pending_delivery_of_another_story_leaves_the_event_queued(
    store: Store,
) -> None:
    await store.apply_load([item(NVIDIA)])
    await store.set_delivery(NVIDIA.id, 7, DeliveryState.PENDING)
    await store.apply_load([item(NVIDIA_2)])
    route = RouteFilter(channel_id=7)
    assert [i.article.id for i in await store.next_for_channel(route, 5)] == [NVIDIA_2.id]


async def test_the_window_bounds_the_title_rule(store_target: str, tmp_path: Path) -> None:
    late = dataclasses.replace(NVIDIA_2, published_at=T0 + timedelta(hours=80))
    for hours, merged in ((72, None), (96, late.id), (0, None)):
        store = await open_store(new_target(store_target, tmp_path, str(hours)))
        try:
            if hours != 72:  # 72 hours until told
                store.set_event_window(timedelta(hours=hours))
            await store.apply_load([item(late)])  # quality 80: it leads
            outcomes = await store.apply_load([item(NVIDIA)])
            assert [o.merged_into for o in outcomes] == [merged], hours
        finally:
            await store.close()
    # a window of 0: related URLs still link
    store = await open_store(new_target(store_target, tmp_path, "urls"))
    try:
        store.set_event_window(timedelta(0))
        await store.apply_load([item(NVIDIA_3)])  # quality 70: it leads
        assert [o.merged_into for o in await store.apply_load([item(NVIDIA)])] == [NVIDIA_3.id]
    finally:
        await store.close()


async def test_withdrawn_stories_join_no_event(store: Store) -> None:
    await store.apply_load([item(NVIDIA)])
    await store.forget_files(["/seeds/a.example.md"])
    assert await store.withdraw_orphans() == 1
    outcomes = await store.apply_load([item(NVIDIA_2)])
    assert [o.merged_into for o in outcomes] == [None]
    assert await events_of(store) == {NVIDIA.id: None, NVIDIA_2.id: None}


async def test_migration_18_keeps_every_story_and_its_id(tmp_path: Path) -> None:
    path = tmp_path / "v16.db"
    store = await SQLiteStore.open(str(path))
    await store.apply_load([item(NVIDIA), item(OTHER)])
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        rewind(db, 16)
        db.commit()
        columns = [row[1] for row in db.execute("PRAGMA table_info(articles)")]
        assert "event_id" not in columns
    store = await SQLiteStore.open(str(path))
    # stored before version 18: filed by migration 21, so a story loaded now finds its event
    outcomes = await store.apply_load([item(NVIDIA_2)])
    assert [o.merged_into for o in outcomes] == [None]  # quality 80: it leads
    assert {a.id for a in await store.get_articles([NVIDIA.id, OTHER.id])} == {
        NVIDIA.id,
        OTHER.id,
    }
    await store.close()
    assert events_in(path) == {NVIDIA.id: NVIDIA_2.id, NVIDIA_2.id: NVIDIA_2.id, OTHER.id: None}
    with closing(sqlite3.connect(path)) as db:
        newest = max(int(p.name.split("_")[0]) for p in MIGRATIONS.glob("*.sql"))
        assert db.execute("PRAGMA user_version").fetchone() == (newest,)
        keyed = db.execute(
            "SELECT id FROM articles WHERE event_keys IS NOT NULL ORDER BY id"
        ).fetchall()
        assert keyed == sorted([(NVIDIA.id,), (NVIDIA_2.id,), (OTHER.id,)])


async def test_migration_21_puts_stories_stored_before_events_in_events(tmp_path: Path) -> None:
    path = tmp_path / "v17.db"
    store = await SQLiteStore.open(str(path))
    await store.apply_load([item(NVIDIA), item(NVIDIA_2), item(NVIDIA_3), item(OTHER)])
    await store.set_delivery(NVIDIA.id, 7, DeliveryState.SENT, message_id=5)
    await store.forget_files(["/seeds/d.example.md"])
    assert await store.withdraw_orphans() == 1  # OTHER: withdrawn, joins nothing
    expected_keys = dict(
        await fetch_sql(store, "SELECT id, event_keys FROM articles WHERE source = 'file'")
    )
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        rewind(db, 17)  # before events: no event, no keys, no edit noted
        db.execute("DELETE FROM post_edits")
        db.commit()
    store = await SQLiteStore.open(str(path))  # migrated: 18 to 21
    try:
        # one event, led by the best-ranked (NVIDIA_2, quality 80), as if loaded now
        assert await events_of(store) == {
            NVIDIA.id: NVIDIA_2.id,
            NVIDIA_2.id: NVIDIA_2.id,
            NVIDIA_3.id: NVIDIA_2.id,
            OTHER.id: None,
        }
        keys = await fetch_sql(store, "SELECT id, event_keys FROM articles ORDER BY id")
        assert dict(keys) == {**expected_keys, OTHER.id: None}
        # the post of a story now in an event is edited to list every outlet
        assert [(e.article_id, e.channel_id) for e in await store.pending_edits()] == [
            (NVIDIA.id, 7)
        ]
        # and a load goes on with them
        await store.apply_load([item(OTHER)])
        assert (await events_of(store))[OTHER.id] is None
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        newest = max(int(p.name.split("_")[0]) for p in MIGRATIONS.glob("*.sql"))
        assert db.execute("PRAGMA user_version").fetchone() == (newest,)


async def test_migration_25_lists_the_merged_stories_by_rowid(tmp_path: Path) -> None:
    path = tmp_path / "v24.db"
    store = await SQLiteStore.open(str(path))
    await store.apply_load([item(NVIDIA), item(NVIDIA_2), item(NVIDIA_3), item(OTHER)])
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        rewind(db, 24)
        db.commit()
        assert (
            db.execute("SELECT name FROM sqlite_master WHERE name = 'event_members'").fetchall()
            == []
        )
    store = await SQLiteStore.open(str(path))
    try:
        assert await found(store, "nvidia") == [NVIDIA_2.id]
        assert await found(store, "chip deal") == [NVIDIA_2.id]
        assert await store.split_event(NVIDIA.id) == [NVIDIA_2.id, NVIDIA_3.id]
        assert await found(store, "nvidia") == [NVIDIA_2.id, NVIDIA.id]  # quality 80, 60
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        members = db.execute(
            "SELECT a.id, m.event_id FROM event_members m JOIN articles a ON a.rowid = m.rowid"
        ).fetchall()
        assert members == [(NVIDIA_3.id, NVIDIA_2.id)]
        assert (
            members
            == db.execute("SELECT id, event_id FROM articles WHERE event_id <> id").fetchall()
        )


async def test_a_story_of_an_event_reads_with_every_outlet(store: Store) -> None:
    from bot.curation.events import as_related

    await store.apply_load([item(NVIDIA), item(NVIDIA_2), item(NVIDIA_3), item(OTHER)])
    # the lead: the others' coverage, best first (quality 70, then 50); theirs too
    lead = dataclasses.replace(
        NVIDIA_2,
        related=(as_related(NVIDIA_3), as_related(NVIDIA)),
    )
    assert await store.get_article(NVIDIA_2.id) == lead
    assert await store.article_by_url(NVIDIA_2.canonical_url) == lead
    assert await store.get_articles([OTHER.id, NVIDIA_2.id]) == [OTHER, lead]
    route = RouteFilter(channel_id=7)
    assert [i.article for i in await store.next_for_channel(route, 5)] == [OTHER, lead]
    assert await store.review_candidates(route, 5) == [OTHER, lead]
    # a story merged into the event reads with the rest of it (NVIDIA_3 lists NVIDIA's
    # URL under another spelling: one URL, kept once)
    assert await store.get_article(NVIDIA.id) == dataclasses.replace(
        NVIDIA, related=(as_related(NVIDIA_2), as_related(NVIDIA_3))
    )


async def test_a_load_sees_the_stories_another_connection_stored(store_target: str) -> None:
    bot = await open_store(store_target)
    cli = await open_store(store_target)
    try:
        await bot.apply_load([item(OTHER)])  # the bot's index of event keys, kept
        await cli.apply_load([item(NVIDIA)])  # a command-line load beside it
        cli.end_load()
        outcomes = await bot.apply_load([item(NVIDIA_2)])
        assert [o.merged_into for o in outcomes] == [None]  # it leads
        assert await events_of(bot) == {
            NVIDIA.id: NVIDIA_2.id,
            NVIDIA_2.id: NVIDIA_2.id,
            OTHER.id: None,
        }
        # the bot's own batches go on with the index it keeps
        outcomes = await bot.apply_load([item(NVIDIA_3)])
        assert [o.merged_into for o in outcomes] == [NVIDIA_2.id]
    finally:
        await bot.close()
        await cli.close()


async def test_an_edit_that_drops_a_related_link_no_longer_links(store: Store) -> None:
    await store.apply_load([item(OTHER)])
    await store.apply_load([item(NVIDIA_3)])
    unlinked = dataclasses.replace(NVIDIA_3, related=())
    edited = LoadItem(
        item(NVIDIA_3).path, 11, 2, "sha-2", StoredArticle.from_result(ParseResult(unlinked))
    )
    assert [o.status for o in await store.apply_load([edited])] == ["updated"]
    await store.apply_load([item(NVIDIA)])
    assert await events_of(store) == {NVIDIA.id: None, NVIDIA_3.id: None, OTHER.id: None}


async def found(store: Store, query: str) -> list[str]:
    """The ids /search lists for ``query``."""
    return [a.id for a in (await store.search(query))[0]]


async def test_search_lists_an_event_once_as_its_lead(store: Store) -> None:
    await store.apply_load([item(NVIDIA), item(NVIDIA_2), item(NVIDIA_3), item(OTHER)])

    async def counted(query: str) -> tuple[list[str], int]:
        articles, total = await store.search(query)
        return [a.id for a in articles], total

    assert await counted("nvidia") == ([NVIDIA_2.id], 1)  # two stories match: one event
    assert await counted("chip deal") == ([NVIDIA_2.id], 1)  # only a merged story matches
    assert await counted("billion") == ([OTHER.id, NVIDIA_2.id], 2)
    assert [a.id for a in (await store.search(""))[0]] == [OTHER.id, NVIDIA_2.id]


async def test_search_lists_an_event_by_its_lead_titled_when_a_story_of_it_is(
    store: Store,
) -> None:
    """The lead stands for its event's matching stories: it is listed though its own text
    lacks the word, with the titled stories when another story of it has the word in its
    title, and in a topic when it is in that topic."""
    chip = "Chips deal: the chips shortage ends"
    other = dataclasses.replace(OTHER, excerpt=chip, topics=("Chips",))
    stories = [
        dataclasses.replace(NVIDIA, topics=("Deals",)),
        dataclasses.replace(NVIDIA_2, topics=("Chips", "Deals")),  # the lead: quality 80
        dataclasses.replace(NVIDIA_3, topics=("Chips",)),  # "Chip deal …": merged
        other,  # quality 90, "chips" in its excerpt only
    ]
    await store.apply_load([item(a) for a in stories])

    async def found(query: str, topic: str | None = None) -> tuple[list[str], int]:
        articles, total = await store.search(query, topic)
        return [a.id for a in articles], total

    assert await found("chip") == ([NVIDIA_2.id, OTHER.id], 2)
    assert await found("chip", "chips") == ([NVIDIA_2.id, OTHER.id], 2)
    assert await found("nvidia", "Deals") == ([NVIDIA_2.id], 1)
    assert await found("decade") == ([NVIDIA_2.id], 1)
    assert await found("decade", "chips") == ([NVIDIA_2.id], 1)
    assert await found("microsoft chip") == ([OTHER.id], 1)
    assert await found("nvidia", "chips") == ([NVIDIA_2.id], 1)  # NVIDIA_2 itself: Chips
    assert await found("chip", "deals") == ([NVIDIA_2.id], 1)  # NVIDIA_2's own tag


async def test_a_split_and_a_merge_are_kept_through_reloads(store: Store) -> None:
    await store.apply_load([item(NVIDIA), item(NVIDIA_2), item(NVIDIA_3), item(OTHER)])
    await store.set_delivery(NVIDIA_2.id, 7, DeliveryState.SENT, message_id=5)

    assert await store.split_event(NVIDIA_3.id) == [NVIDIA_2.id, NVIDIA.id]
    assert await store.split_event(NVIDIA_3.id) == []  # alone now
    assert await events_of(store) == {
        NVIDIA.id: NVIDIA_2.id,
        NVIDIA_2.id: NVIDIA_2.id,
        NVIDIA_3.id: None,
        OTHER.id: None,
    }
    assert await store.event_of(NVIDIA.id) == [NVIDIA_2.id, NVIDIA.id]
    assert await store.event_of(NVIDIA_3.id) == []
    assert await found(store, "chip deal") == [NVIDIA_3.id]  # its own event now
    assert await found(store, "nvidia") == [NVIDIA_2.id]
    assert await fetch_sql(
        store, "SELECT article_id, other_id FROM event_apart ORDER BY 1, 2"
    ) == sorted(
        [tuple(sorted((NVIDIA_3.id, NVIDIA.id))), tuple(sorted((NVIDIA_3.id, NVIDIA_2.id)))]
    )
    # the posted message of the event loses the split story's link
    assert [(e.article_id, e.channel_id) for e in await store.pending_edits()] == [(NVIDIA_2.id, 7)]
    # its file edited and loaded again: it still lists NVIDIA's URL, and stays apart
    edited = LoadItem(
        item(NVIDIA_3).path, 11, 2, "sha-2",
        StoredArticle.from_result(ParseResult(dataclasses.replace(NVIDIA_3, quality=75))),
    )  # fmt: skip
    assert [(o.status, o.merged_into) for o in await store.apply_load([edited])] == [
        ("updated", None)
    ]
    assert (await events_of(store))[NVIDIA_3.id] is None

    assert await store.merge_events(OTHER.id, NVIDIA_3.id) == OTHER.id  # quality 90
    assert await store.merge_events(NVIDIA_3.id, NVIDIA.id) == OTHER.id  # all one now
    assert await events_of(store) == {
        NVIDIA.id: OTHER.id,
        NVIDIA_2.id: OTHER.id,
        NVIDIA_3.id: OTHER.id,
        OTHER.id: OTHER.id,
    }
    assert await store.event_of(NVIDIA.id) == [OTHER.id, NVIDIA_2.id, NVIDIA_3.id, NVIDIA.id]
    assert await found(store, "nvidia") == [OTHER.id]
    assert await found(store, "chip deal") == [OTHER.id]
    # merged: the split forgotten
    assert await fetch_sql(store, "SELECT article_id, other_id FROM event_apart") == []


async def test_postgres_migration_5_keeps_every_story_and_its_id(
    new_postgres_database: str,
) -> None:
    url = new_postgres_database
    store = await PostgresStore.open(url)
    await store.apply_load([item(NVIDIA), item(OTHER)])
    await rewind_postgres(store, 4)  # the version before 5 (below it: other features')
    await store.close()
    store = await PostgresStore.open(url)
    try:
        # stored before version 5: not filed, so a story loaded now finds no event there
        outcomes = await store.apply_load([item(NVIDIA_2)])
        assert [o.merged_into for o in outcomes] == [None]
        assert [a.id for a in await store.get_articles([NVIDIA.id, OTHER.id])] == [
            NVIDIA.id,
            OTHER.id,
        ]
        assert await events_of(store) == {NVIDIA.id: None, NVIDIA_2.id: None, OTHER.id: None}
        keyed = await fetch_sql(store, "SELECT id FROM articles WHERE event_keys IS NOT NULL")
        assert keyed == [(NVIDIA_2.id,)]
        assert await fetch_sql(store, "SELECT version FROM newsdesk_schema") == [(latest_schema(),)]
    finally:
        await store.close()
