"""Events in the SQLite store, for real: which stories are one event after loads in any
order, the lead, the queue taking an event once per channel, migration 18."""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.ingest.urls import canonical_url, short_id
from bot.models import Article, ParseResult, Provider, Related
from bot.store import DeliveryState, LoadItem, RouteFilter, SQLiteStore, StoredArticle
from tests.store.schema_support import rewind

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


async def test_loads_in_any_order_and_batches_make_the_same_events(tmp_path: Path) -> None:
    expected = {
        NVIDIA.id: NVIDIA_2.id,
        NVIDIA_2.id: NVIDIA_2.id,  # quality 80: the lead
        NVIDIA_3.id: NVIDIA_2.id,
        OTHER.id: None,
    }
    stories = [NVIDIA, NVIDIA_2, NVIDIA_3, OTHER]
    for number, order in enumerate(itertools.permutations(stories)):
        path = tmp_path / f"{number}.db"
        store = await SQLiteStore.open(str(path))
        # one batch, then one batch a story
        if number % 2:
            outcomes = await store.apply_load([item(a) for a in order])
        else:
            outcomes = [o for a in order for o in await store.apply_load([item(a)])]
        await store.close()
        assert events_in(path) == expected, order
        merged = {o.article_id: o.merged_into for o in outcomes}
        if number % 2:  # in one batch: every story that is not its event's lead
            assert merged == {
                NVIDIA.id: NVIDIA_2.id,
                NVIDIA_2.id: None,
                NVIDIA_3.id: NVIDIA_2.id,
                OTHER.id: None,
            }


async def test_the_queue_takes_an_event_once_per_channel(store: SQLiteStore) -> None:
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
    store: SQLiteStore,
) -> None:
    await store.apply_load([item(NVIDIA)])
    await store.set_delivery(NVIDIA.id, 7, DeliveryState.PENDING)
    await store.apply_load([item(NVIDIA_2)])
    route = RouteFilter(channel_id=7)
    assert [i.article.id for i in await store.next_for_channel(route, 5)] == [NVIDIA_2.id]


async def test_withdrawn_stories_join_no_event(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    store = await SQLiteStore.open(str(path))
    await store.apply_load([item(NVIDIA)])
    await store.forget_files(["/seeds/a.example.md"])
    assert await store.withdraw_orphans() == 1
    outcomes = await store.apply_load([item(NVIDIA_2)])
    await store.close()
    assert [o.merged_into for o in outcomes] == [None]
    assert events_in(path) == {NVIDIA.id: None, NVIDIA_2.id: None}


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
    # stored before version 18: not filed, so a story loaded now finds no event there
    outcomes = await store.apply_load([item(NVIDIA_2)])
    assert [o.merged_into for o in outcomes] == [None]
    assert {a.id for a in await store.get_articles([NVIDIA.id, OTHER.id])} == {
        NVIDIA.id,
        OTHER.id,
    }
    await store.close()
    assert events_in(path) == {NVIDIA.id: None, NVIDIA_2.id: None, OTHER.id: None}
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (18,)
        keyed = db.execute("SELECT id FROM articles WHERE event_keys IS NOT NULL").fetchall()
        assert keyed == [(NVIDIA_2.id,)]


async def test_a_story_of_an_event_reads_with_every_outlet(store: SQLiteStore) -> None:
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


async def test_a_load_sees_the_stories_another_connection_stored(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    bot = await SQLiteStore.open(str(path))
    cli = await SQLiteStore.open(str(path))
    await bot.apply_load([item(OTHER)])  # the bot's index of event keys, kept
    await cli.apply_load([item(NVIDIA)])  # a command-line load beside it
    outcomes = await bot.apply_load([item(NVIDIA_2)])
    await bot.close()
    await cli.close()
    assert [o.merged_into for o in outcomes] == [None]  # it leads
    assert events_in(path) == {NVIDIA.id: NVIDIA_2.id, NVIDIA_2.id: NVIDIA_2.id, OTHER.id: None}


async def test_an_edit_that_drops_a_related_link_no_longer_links(tmp_path: Path) -> None:
    path = tmp_path / "edit.db"
    store = await SQLiteStore.open(str(path))
    await store.apply_load([item(OTHER)])
    await store.apply_load([item(NVIDIA_3)])
    unlinked = dataclasses.replace(NVIDIA_3, related=())
    edited = LoadItem(
        item(NVIDIA_3).path, 11, 2, "sha-2", StoredArticle.from_result(ParseResult(unlinked))
    )
    assert [o.status for o in await store.apply_load([edited])] == ["updated"]
    await store.apply_load([item(NVIDIA)])
    await store.close()
    assert events_in(path) == {NVIDIA.id: None, NVIDIA_3.id: None, OTHER.id: None}


async def test_search_lists_an_event_once_as_its_lead(store: SQLiteStore) -> None:
    await store.apply_load([item(NVIDIA), item(NVIDIA_2), item(NVIDIA_3), item(OTHER)])

    async def found(query: str) -> tuple[list[str], int]:
        articles, total = await store.search(query)
        return [a.id for a in articles], total

    assert await found("nvidia") == ([NVIDIA_2.id], 1)  # two stories match: one event
    assert await found("chip deal") == ([NVIDIA_2.id], 1)  # only a merged story matches
    assert await found("billion") == ([OTHER.id, NVIDIA_2.id], 2)
    assert [a.id for a in (await store.search(""))[0]] == [OTHER.id, NVIDIA_2.id]


async def test_a_split_and_a_merge_are_kept_through_reloads(tmp_path: Path) -> None:
    path = tmp_path / "split.db"
    store = await SQLiteStore.open(str(path))
    await store.apply_load([item(NVIDIA), item(NVIDIA_2), item(NVIDIA_3), item(OTHER)])
    await store.set_delivery(NVIDIA_2.id, 7, DeliveryState.SENT, message_id=5)

    assert await store.split_event(NVIDIA_3.id) == [NVIDIA_2.id, NVIDIA.id]
    assert await store.split_event(NVIDIA_3.id) == []  # alone now
    assert events_in(path) == {
        NVIDIA.id: NVIDIA_2.id,
        NVIDIA_2.id: NVIDIA_2.id,
        NVIDIA_3.id: None,
        OTHER.id: None,
    }
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
    assert events_in(path)[NVIDIA_3.id] is None

    assert await store.merge_events(OTHER.id, NVIDIA_3.id) == OTHER.id  # quality 90
    assert await store.merge_events(NVIDIA_3.id, NVIDIA.id) == OTHER.id  # all one now
    await store.close()
    assert events_in(path) == {
        NVIDIA.id: OTHER.id,
        NVIDIA_2.id: OTHER.id,
        NVIDIA_3.id: OTHER.id,
        OTHER.id: OTHER.id,
    }
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT * FROM event_apart").fetchall() == []  # merged: forgotten
