# mypy: disable-error-code="union-attr"
# (until narrowed: reads of a row the test just stored, e.g. (await store.delivery(…)).state,
# fail the test with an AttributeError if the row is missing)
"""The SQLite store, for real: migrations, loading, search, pins, deliveries, audit."""

from __future__ import annotations

import dataclasses
import functools
import json
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.desk import stories
from bot.ingest.urls import canonical_url, short_id
from bot.models import Article, ParseResult, Related
from bot.store import (
    DeliveryState,
    FileRecord,
    LoadItem,
    LoadOutcome,
    NotFound,
    RouteFilter,
    RouteState,
    SQLiteStore,
    Store,
    StoredArticle,
    StoreError,
    open_store,
)
from bot.store.postgres import loading as pg_loading
from bot.store.postgres import queue as pg_queue
from bot.store.records import QUERY_CHARS, Headline, capped_query, delivery_nonce
from bot.store.sqlite import deliveries as sqlite_deliveries
from bot.store.sqlite import topic_tag
from tests.store.conftest import run_sql
from tests.store.schema_support import rewind

MIGRATIONS = Path(__file__).resolve().parents[2] / "bot" / "store" / "migrations"
SCHEMA_VERSION = 26  # the newest migration

MakeArticle = Callable[..., Article]
CHANNEL = 100


def set_clock(monkeypatch: pytest.MonkeyPatch, now: Callable[[], int]) -> None:
    """Both stores' clocks."""
    for module in (sqlite_deliveries, pg_loading, pg_queue):
        monkeypatch.setattr(module, "_now", now)


def disk_full(store: Store) -> Exception:
    """The error each database gives for a full disk."""
    if isinstance(store, SQLiteStore):
        return sqlite3.OperationalError("database or disk is full")
    error: Exception = asyncpg.DiskFullError("database or disk is full")
    return error


async def add(store: Store, *articles: Article) -> None:
    for article in articles:
        _, new = await store.add_article(ParseResult(article))
        assert new


def headlines(*articles: Article) -> list[Headline]:
    """What autocomplete answers for these stories, in this order."""
    return [Headline(a.id, a.title) for a in articles]


def parsed(path: str, article: Article, sha: str = "sha-1", mtime_ns: int = 1) -> LoadItem:
    return LoadItem(path, 10, mtime_ns, sha, StoredArticle.from_result(ParseResult(article)))


# --------------------------------------------------------------------------- life cycle


async def test_migrations_set_user_version_and_do_not_run_twice(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    path = tmp_path / "newsdesk.db"
    store = await SQLiteStore.open(str(path))
    await add(store, make_article())
    await store.close()

    # a second run of 001_initial.sql would fail: its tables exist already
    store = await SQLiteStore.open(str(path))
    assert await store.article_count() == 1
    await store.close()

    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_database_of_a_newer_newsdesk_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    await (await SQLiteStore.open(str(path))).close()
    with closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError) as caught:
        await SQLiteStore.open(str(path))
    assert str(caught.value) == (
        f"cannot open the database {path}: its schema is version {SCHEMA_VERSION + 1}, and"
        f" this Newsdesk knows versions up to {SCHEMA_VERSION}: run the newer Newsdesk that"
        " wrote it"
    )


async def test_two_processes_opening_a_new_database_migrate_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "newsdesk.db")
    original = SQLiteStore._one
    other: list[SQLiteStore] = []
    started: list[bool] = []

    async def one(self: SQLiteStore, sql: str, params: Any = ()) -> Any:
        row = await original(self, sql, params)
        if sql == "PRAGMA user_version" and not started:
            started.append(True)
            other.append(await SQLiteStore.open(path))  # the other process migrates now
        return row

    monkeypatch.setattr(SQLiteStore, "_one", one)
    try:
        store = await SQLiteStore.open(path)  # it read version 0: every script was to run
        assert await store.article_count() == 0
        await store.close()
    finally:
        for opened in other:
            await opened.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_new_stores_get_16k_pages_and_older_ones_keep_theirs(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    older = tmp_path / "older.db"
    with closing(sqlite3.connect(older)) as db:  # as before: SQLite's default 4 KiB
        db.execute("CREATE TABLE before_newsdesk (x)")
    for path, size in ((tmp_path / "new.db", 16384), (older, 4096)):
        store = await SQLiteStore.open(str(path))
        await add(store, make_article())
        await store.close()
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA page_size").fetchone() == (size,)
            assert db.execute("SELECT count(*) FROM articles").fetchone() == (1,)


async def test_a_sqlite_error_becomes_a_store_error(sqlite_store: SQLiteStore) -> None:
    with closing(sqlite3.connect(sqlite_store.path)) as db:
        db.execute("DROP TABLE audit_log")
    with pytest.raises(StoreError, match="no such table: audit_log") as caught:
        await sqlite_store.audit_log()
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


async def test_using_a_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = await SQLiteStore.open(str(tmp_path / "closed.db"))
    await store.close()
    with pytest.raises(StoreError):
        await store.article_count()


# --------------------------------------------------------------------------- apply_load


async def test_apply_load_new_same_and_edited(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    article = make_article(title="First title")
    assert await store.apply_load([parsed("/a.txt", article)]) == [
        LoadOutcome("/a.txt", "loaded", article.id)
    ]
    assert (await store.file_index())["/a.txt"] == FileRecord(
        "/a.txt", 10, 1, "sha-1", article.id, "ok", None
    )

    # the same content parsed again (a touched file): nothing to store
    assert await store.apply_load([parsed("/a.txt", article, mtime_ns=2)]) == [
        LoadOutcome("/a.txt", "unchanged", article.id)
    ]

    edited = dataclasses.replace(article, title="Second title")
    assert await store.apply_load([parsed("/a.txt", edited, sha="sha-2")]) == [
        LoadOutcome("/a.txt", "updated", article.id, None, post_changed=False)
    ]
    assert (await store.get_article(article.id)).title == "Second title"
    assert await store.article_count() == 1
    assert (await store.file_index())["/a.txt"].sha256 == "sha-2"

    with_related = dataclasses.replace(edited, related=(Related("Other", "https://o.example/x"),))
    assert await store.apply_load([parsed("/a.txt", with_related, sha="sha-3")]) == [
        LoadOutcome("/a.txt", "updated", article.id, None, post_changed=True)
    ]


async def test_apply_load_unchanged_bytes_only_refresh_the_stat(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    article = make_article()
    await store.apply_load([parsed("/a.txt", article)])
    touched = LoadItem("/a.txt", 11, 99, "sha-1")
    assert await store.apply_load([touched]) == [LoadOutcome("/a.txt", "unchanged")]
    assert (await store.file_index())["/a.txt"] == FileRecord(
        "/a.txt", 11, 99, "sha-1", article.id, "ok", None
    )


async def test_apply_load_duplicates_and_rejections(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    article = make_article(url="https://example.com/a")
    same_story = make_article(url="https://EXAMPLE.com/a/?utm_source=x", title="Copy")
    rejected = LoadItem("/c.txt", 5, 1, "sha-c", None, "title is required")

    outcomes = await store.apply_load(
        [parsed("/a.txt", article), parsed("/b.txt", same_story), rejected]
    )

    assert outcomes == [
        LoadOutcome("/a.txt", "loaded", article.id),
        LoadOutcome("/b.txt", "duplicate", article.id, "/a.txt"),
        LoadOutcome("/c.txt", "rejected", None, "title is required"),
    ]
    index = await store.file_index()
    # a duplicate's record: the story it duplicates, and the file that gives that story
    assert index["/b.txt"] == FileRecord(
        "/b.txt", 10, 1, "sha-1", article.id, "duplicate", None, "/a.txt"
    )
    assert index["/c.txt"] == FileRecord(
        "/c.txt", 5, 1, "sha-c", None, "rejected", "title is required"
    )
    assert await store.article_count() == 1

    # in a later batch the live owner still wins
    assert await store.apply_load([parsed("/b.txt", same_story, sha="sha-b")]) == [
        LoadOutcome("/b.txt", "duplicate", article.id, "/a.txt")
    ]


async def test_apply_load_a_vanished_owner_hands_the_story_over(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    article = make_article()
    await store.apply_load([parsed("/a.txt", article)])
    await store.forget_files(["/a.txt"])
    assert await store.apply_load([parsed("/moved/a.txt", article)]) == [
        LoadOutcome("/moved/a.txt", "updated", article.id)
    ]
    assert await store.article_count() == 1
    assert set(await store.file_index()) == {"/moved/a.txt"}


async def lower_length_limit(sqlite_store: SQLiteStore, limit: int) -> None:
    """SQLite's limit on a string or blob, on the store's own connection (its thread)."""
    connection = sqlite_store._db._conn
    in_its_thread: Callable[..., Awaitable[None]] = (
        sqlite_store._db._execute
    )  # aiosqlite's, untyped
    await in_its_thread(connection.setlimit, sqlite3.SQLITE_LIMIT_LENGTH, limit)


async def test_a_row_the_store_refuses_fails_only_its_file(
    sqlite_store: SQLiteStore, make_article: MakeArticle
) -> None:
    await lower_length_limit(sqlite_store, 100_000)
    small = [make_article(url=f"https://example.com/{n}", title=f"Story {n}") for n in range(6)]
    big = make_article(url="https://example.com/big", excerpt="x" * 150_000)
    copy = make_article(url="https://example.com/big", title="A copy")
    items = [
        parsed("/0.txt", small[0]),
        parsed("/1.txt", small[1]),
        parsed("/big.txt", big),  # its stored row is over the limit
        parsed("/2.txt", small[2]),
        parsed("/copy.txt", copy),  # the big one's URL: the story is its own now
        LoadItem("/bad.txt", 5, 1, "sha-bad", None, "title is required"),
        parsed("/3.txt", small[3]),
        parsed("/4.txt", small[4]),
    ]
    refused = "the store refused it: string or blob too big"
    assert await sqlite_store.apply_load(items) == [
        LoadOutcome("/0.txt", "loaded", small[0].id),
        LoadOutcome("/1.txt", "loaded", small[1].id),
        LoadOutcome("/big.txt", "rejected", None, refused),
        LoadOutcome("/2.txt", "loaded", small[2].id),
        LoadOutcome("/copy.txt", "loaded", copy.id),
        LoadOutcome("/bad.txt", "rejected", None, "title is required"),
        LoadOutcome("/3.txt", "loaded", small[3].id),
        LoadOutcome("/4.txt", "loaded", small[4].id),
    ]
    index = await sqlite_store.file_index()
    assert index["/big.txt"] == FileRecord("/big.txt", 10, 1, "sha-1", None, "rejected", refused)
    assert index["/copy.txt"] == FileRecord("/copy.txt", 10, 1, "sha-1", copy.id, "ok", None)
    assert len(index) == 8
    assert await sqlite_store.article_count() == 6
    assert (await sqlite_store.get_article(copy.id)).title == "A copy"
    # Later batches store as before.
    assert await sqlite_store.apply_load([parsed("/5.txt", small[5])]) == [
        LoadOutcome("/5.txt", "loaded", small[5].id)
    ]


async def test_a_batch_the_database_refuses_fails_whole_and_at_once(
    sqlite_store: SQLiteStore, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [parsed(f"/{n}.txt", make_article(url=f"https://example.com/{n}")) for n in range(8)]
    await sqlite_store._db.execute("PRAGMA query_only = ON")  # as a read-only database
    tries: list[int] = []
    apply_batch = sqlite_store._apply_batch

    async def counted(batch: list[LoadItem]) -> list[LoadOutcome]:
        tries.append(len(batch))
        return await apply_batch(batch)

    monkeypatch.setattr(sqlite_store, "_apply_batch", counted)
    with pytest.raises(StoreError) as caught:
        await sqlite_store.apply_load(items)
    assert str(caught.value) == (
        f"cannot store the loaded articles: {sqlite_store.path} is read-only"
        " (attempt to write a readonly database)"
    )
    assert tries == [8]  # not split: every part would fail alike
    await sqlite_store._db.execute("PRAGMA query_only = OFF")
    assert await sqlite_store.file_index() == {}


async def test_a_longer_id_held_by_another_url_is_not_handed_out_again(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    u, v, w = "https://example.com/u", "https://example.com/v", "https://example.com/w"
    ids = [short_id(canonical_url(u), n) for n in (8, 12, 16)]
    await store.apply_load([parsed("/a.md", make_article(url=u), "a1")])
    await store.apply_load([parsed("/a.md", make_article(url=v), "a2")])  # webUrl corrected
    [b] = await store.apply_load([parsed("/b.md", make_article(url=u), "b1")])
    assert b.article_id == ids[1]  # u's short id went to v with a's story
    await store.apply_load([parsed("/b.md", make_article(url=w), "b2")])  # corrected again
    # u's 8 and 12 characters ids are held by v and w now
    outcomes = await store.apply_load([parsed("/c.md", make_article(url=u), "c1")])
    assert outcomes == [LoadOutcome("/c.md", "loaded", ids[2])]
    article, new = await store.add_article(ParseResult(make_article(url=u + "/x")))
    assert new and article.id == short_id(canonical_url(u + "/x"))
    assert await store.article_count() == 4


# --------------------------------------------------------------------------- search


SEARCH_CORPUS = {
    "apples-or-bananas": "Apples OR bananas",
    "apples": "Apples only",
    "bananas": "Bananas only",
    "applesauce": "Applesauce recipe",
    "foo": "Foo fighters tour",
    "near": "Apples near bananas",
    "not": "Apples not bananas",
    "title-x": "The title x marks the spot",
    # the word after a column filter, without the column's name: a filter let through
    # would find these too
    "x-only": "Planet x found",
    "spot-only": "Spot the difference",
    "quote": 'Say "cheese" please',
}
APPLES = {"apples-or-bananas", "apples", "near", "not"}


@pytest.fixture
async def corpus(store: SQLiteStore, make_article: MakeArticle) -> dict[str, str]:
    """Stories by slug; returns slug → id."""
    ids = {}
    for slug, title in SEARCH_CORPUS.items():
        article = make_article(url=f"https://example.com/{slug}", title=title)
        await add(store, article)
        ids[slug] = article.id
    return ids


async def found(store: SQLiteStore, ids: dict[str, str], query: str) -> set[str]:
    articles, total = await store.search(query, limit=50)
    assert total == len(articles)
    slugs = {slug for slug, ident in ids.items() if ident in {a.id for a in articles}}
    assert len(slugs) == len(articles)
    return slugs


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("apples", APPLES),
        ("APPLES", APPLES),
        ("bananas apples", {"apples-or-bananas", "near", "not"}),
        ('"', set()),
        ("'", set()),
        ("*", set()),
        ("(", set()),
        (")", set()),
        ("^", set()),
        ("!?.,;:-+", set()),
        ("-foo", {"foo"}),
        ("foo -fighters", {"foo"}),
        ("NEAR(apples bananas)", {"near"}),
        ("NEAR(apples bananas, 2)", set()),  # "2" is a word no story has
        ("apples OR bananas", {"apples-or-bananas"}),
        ("apples AND bananas", set()),
        ("apples NOT bananas", {"not"}),
        ("title:x", {"title-x"}),
        ("title : x", {"title-x"}),
        ("{title}: spot", {"title-x"}),
        ("apples*", APPLES),
        ("banan*", set()),  # not a prefix ("appl" would match: the stem of "apples")
        ('"apples', APPLES),
        ('"cheese"', {"quote"}),
        ("'cheese'", {"quote"}),
        ("^apples", APPLES),
    ],
)
async def test_search_treats_every_input_as_plain_words(
    store: SQLiteStore, corpus: dict[str, str], query: str, expected: set[str]
) -> None:
    assert await found(store, corpus, query) == expected


async def test_search_empty_query_lists_everything(
    store: SQLiteStore, corpus: dict[str, str]
) -> None:
    articles, total = await store.search("", limit=50)
    assert total == len(SEARCH_CORPUS)
    assert {a.id for a in articles} == set(corpus.values())
    page, total = await store.search("", limit=3, offset=3)
    assert total == len(SEARCH_CORPUS)
    assert [a.id for a in page] == [a.id for a in articles[3:6]]


async def test_search_lists_titled_stories_first_then_by_quality(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    def story(slug: str, title: str, quality: int, excerpt: str = "") -> Article:
        return make_article(
            url=f"https://example.com/{slug}", title=title, quality=quality, excerpt=excerpt
        )

    strong = story("strong", "Facial recognition ban", 10)
    weak = story("weak", "Recognition awards", 90, excerpt="Facial expressions of winners")
    twin_low = story("twin-low", "Recognition twins", 30)
    twin_high = story("twin-high", "Recognition twins", 70)
    fillers = [story(f"filler-{n}", f"Unrelated story {n}", 50) for n in range(6)]
    await add(store, twin_low, weak, strong, twin_high, *fillers)

    articles, total = await store.search("facial recognition")
    assert [a.id for a in articles] == [strong.id, weak.id]
    assert total == 2

    articles, _ = await store.search("recognition twins")
    assert [a.id for a in articles] == [twin_high.id, twin_low.id]


async def test_migration_26_orders_search_matches_from_an_index(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    path = tmp_path / "v25.db"
    stories = [
        make_article(url=f"https://e.org/{n}", title=f"Quarry {n}", quality=q, heat=h)
        for n, (q, h) in enumerate([(40, 1), (90, 1), (40, 7), (70, 2)])
    ]
    store = await SQLiteStore.open(str(path))
    await add(store, *stories)
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        rewind(db, 25)
        db.commit()
    store = await SQLiteStore.open(str(path))
    try:
        articles, total = await store.search("quarry")
        # quality, then heat, best first
        assert ([a.id for a in articles], total) == ([stories[i].id for i in (1, 3, 2, 0)], 4)
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        index = "SELECT sql FROM sqlite_master WHERE name = 'articles_by_rowid'"
        assert db.execute(index).fetchone() == (
            "CREATE INDEX articles_by_rowid\nON articles (rowid, quality, heat, published_ts, id)",
        )


async def test_search_by_topic_is_case_insensitive(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    ai = make_article(url="https://example.com/ai", title="Robots learn", topics=("AI",))
    ml = make_article(url="https://example.com/ml", title="Robots think", topics=("ai", "ML"))
    other = make_article(url="https://example.com/o", title="Robots rest", topics=("Space",))
    await add(store, ai, ml, other)

    for topic in ("AI", "ai", "Ai"):
        articles, total = await store.search("", topic=topic)
        assert {a.id for a in articles} == {ai.id, ml.id}
        assert total == 2
    articles, total = await store.search("think", topic="AI")
    assert [a.id for a in articles] == [ml.id]
    assert await store.search("", topic="nothing") == ([], 0)


# --------------------------------------------------------------------------- topics, completion


@pytest.fixture
async def topical(store: SQLiteStore, make_article: MakeArticle) -> list[Article]:
    articles = [
        make_article(
            url="https://example.com/1",
            title="Facial recognition ban",
            topics=("AI", "Computer Vision"),
        ),
        make_article(url="https://example.com/2", title="Robot arms", topics=("ai", "Robots")),
        make_article(url="https://example.com/3", title="Chat bots", topics=("AI",)),
    ]
    await add(store, *articles)
    return articles


async def test_topics_with_counts_and_display_spelling(
    store: SQLiteStore, topical: list[Article]
) -> None:
    assert await store.topics() == [("AI", 3), ("Computer Vision", 1), ("Robots", 1)]


async def test_a_topic_named_in_any_case_and_accents(
    store: SQLiteStore, topical: list[Article]
) -> None:
    assert [
        await store.topic_named(text) for text in ("ai", "AI", "computer vision", "RÓBOTS")
    ] == ["AI", "AI", "Computer Vision", "Robots"]
    assert [await store.topic_named(text) for text in ("", "robot", "vision")] == [None] * 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [("AI", 3), ("Computer Vision", 1), ("Robots", 1)]),
        ("co", [("Computer Vision", 1)]),
        ("CO", [("Computer Vision", 1)]),
        ("vision", [("Computer Vision", 1)]),
        ("a", [("AI", 3)]),
        ("o", [("Computer Vision", 1), ("Robots", 1)]),
        ("zz", []),
    ],
)
async def test_complete_topics(
    store: SQLiteStore, topical: list[Article], text: str, expected: list[tuple[str, int]]
) -> None:
    assert await store.complete_topics(text) == expected


async def test_complete_topics_past_the_basic_plane(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    await add(
        store,
        make_article(url="https://example.com/1", title="Space", topics=("Space",)),
        make_article(url="https://example.com/2", title="Maths", topics=("\U0001d544aths",)),
        make_article(url="https://example.com/3", title="Robots", topics=("\U0001f916 Robots",)),
    )
    assert await store.complete_topics("") == [  # by key: "maths" (𝕄 is a form of M)
        ("\U0001d544aths", 1),
        ("Space", 1),
        ("\U0001f916 Robots", 1),
    ]
    assert await store.complete_topics("\U0001f916") == [("\U0001f916 Robots", 1)]
    assert await store.complete_topics("math") == [("\U0001d544aths", 1)]


async def test_complete_articles_by_id_prefix_and_title_words(
    store: SQLiteStore, topical: list[Article]
) -> None:
    first, second, _ = topical
    assert [a.id for a in await store.complete_articles(first.id[:4])] == [first.id]
    assert [a.id for a in await store.complete_articles(first.id[:4].upper())] == [first.id]
    assert [a.id for a in await store.complete_articles("facial recog")] == [first.id]
    assert [a.id for a in await store.complete_articles("robot")] == [second.id]
    assert await store.complete_articles("zzzz") == []
    assert await store.complete_articles('"') == []
    assert await store.complete_articles("NEAR(") == []
    # nothing typed: the newest stories, best first
    seen = {a.id: await store.first_seen_ts(a.id) for a in topical}
    newest = sorted(topical, key=lambda a: (-(seen[a.id] or 0), -(a.quality or 0), a.id))
    assert [a.id for a in await store.complete_articles("")] == [a.id for a in newest]
    assert [a.id for a in await store.complete_articles("", limit=2)] == [a.id for a in newest[:2]]


def test_capped_query_keeps_the_first_words_within_the_first_characters() -> None:
    assert capped_query("one, two three four five six seven eight nine ten") == (
        "one, two three four five six seven eight"
    )
    assert capped_query("  one two  ") == "  one two  "  # fewer words: all of it
    assert capped_query("x" * 2048) == "x" * QUERY_CHARS
    assert capped_query("ab " * 100) == "ab " * 7 + "ab"


# Two stories whose titles differ only in their ninth word.
CAPPED_TITLES = ("Quantum chip makers race to build faster cheaper qubits", "phones")
EIGHT_WORDS = "quantum chip makers race to build faster cheaper"


@pytest.fixture
async def ninth_word(store: SQLiteStore, make_article: MakeArticle) -> set[str]:
    title = CAPPED_TITLES[0]
    qubits = make_article(url="https://example.com/qubits", title=title, topics=("Chips",))
    phones = make_article(
        url="https://example.com/phones",
        title=title.replace("qubits", CAPPED_TITLES[1]),
        topics=("Chips",),
    )
    await add(store, qubits, phones)
    return {qubits.id, phones.id}


async def test_search_reads_only_the_first_eight_words(
    store: SQLiteStore, ninth_word: set[str]
) -> None:
    articles, total = await store.search(EIGHT_WORDS)
    assert ({a.id for a in articles}, total) == (ninth_word, 2)
    assert await store.search(f"{EIGHT_WORDS} qubits") == (articles, 2)
    assert await store.search(f"{EIGHT_WORDS} nothing-has-this") == (articles, 2)
    pasted = (f"{EIGHT_WORDS} " * 60)[:2048]  # 2,048 characters, 8 words over and over
    assert capped_query(pasted) == EIGHT_WORDS
    assert await store.search(pasted + " zzzz") == (articles, 2)
    assert await store.search("qubits") == ([a for a in articles if "qubits" in a.title], 1)


async def test_search_results_name_the_words_used(store: SQLiteStore, ninth_word: set[str]) -> None:
    results = await stories.search_stories(store, "chips", f"{EIGHT_WORDS} qubits ten", 10)
    assert (results.topic, results.query, results.total) == ("Chips", EIGHT_WORDS, 2)
    assert {a.id for a in results.articles} == ninth_word


async def test_article_autocomplete_reads_only_the_first_eight_words(
    store: SQLiteStore, ninth_word: set[str]
) -> None:
    both = await store.complete_articles(EIGHT_WORDS)
    assert {a.id for a in both} == ninth_word
    assert await store.complete_articles(f"{EIGHT_WORDS} qubits") == both
    assert await store.complete_articles(f"{EIGHT_WORDS} zz") == both
    pasted = (f"{EIGHT_WORDS} " * 60)[:2048]
    assert await store.complete_articles(pasted + " zzzz") == both
    # the last word counted is a prefix, as when it is still being typed
    assert await store.complete_articles("quantum chip makers race to build faster che") == both
    assert [a.title for a in await store.complete_articles("cheaper qub")] == [CAPPED_TITLES[0]]


async def test_topic_autocomplete_reads_only_the_first_characters(
    store: SQLiteStore, topical: list[Article]
) -> None:
    padded = "vision".ljust(QUERY_CHARS) + "zz"
    assert await store.complete_topics(padded) == [("Computer Vision", 1)]
    assert await store.complete_topics("vision zz") == []


async def test_article_autocomplete_of_a_long_prefix_is_exact_past_many_candidates(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    """One word longer than the index's 2-letter prefixes: candidates by its first 2
    letters, newest first, 50 at a time; after 2 batches, after a first with fewer than
    13 matches, or where the tokenizer's folding decides, FTS5 answers. Every way gives
    the 25 newest matches, best first."""

    def story(n: int, title: str) -> Article:
        return make_article(url=f"https://example.com/{n}", title=title, quality=n % 7 * 10)

    def best(articles: list[Article]) -> list[str]:
        return [a.id for a in sorted(articles, key=lambda a: (-(a.quality or 0), a.id))]

    older = [story(n, f"Company news {n}") for n in range(40)]
    await add(store, *older)
    # the newest 50: 20 "Company" among 30 "Cold", so a second batch finds the other 5
    mixed = [
        story(n, f"Company news {n}" if n % 5 in (0, 2) else f"Cold coffee {n}")
        for n in range(100, 150)
    ]
    await add(store, *mixed)
    companies = older + [a for a in mixed if a.title.startswith("Company")]
    assert [a.id for a in await store.complete_articles("company")] == best(companies[-25:])
    assert [a.id for a in await store.complete_articles("COMPAN")] == best(companies[-25:])
    assert [a.id for a in await store.complete_articles("news compan")] == best(companies[-25:])
    # A title the index folds (Ć is c to it), or whose marks cannot be read: FTS5 decides.
    odd = [story(300, "Ćompany odd"), story(301, "Company\x01 marked"), story(302, "Kompany")]
    await add(store, odd[0])
    assert [a.id for a in await store.complete_articles("company")] == best(
        [*companies[-24:], odd[0]]
    )
    await add(store, *odd[1:])
    assert [a.id for a in await store.complete_articles("company")] == best(
        [*companies[-23:], *odd[:2]]
    )
    # 100 newer stories that only start alike: FTS5 merges the prefix itself.
    await add(store, *(story(n, f"Cold coffee {n}") for n in range(400, 500)))
    assert [a.id for a in await store.complete_articles("company")] == best(
        [*companies[-23:], *odd[:2]]
    )
    assert [a.id for a in await store.complete_articles("comp")] == best(
        [*companies[-23:], *odd[:2]]
    )


# --------------------------------------------------------------------------- pins


async def test_pin_order_and_position_clamping(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    a, b, c, d, e = (make_article(url=f"https://example.com/{n}") for n in "abcde")
    await add(store, a, b, c, d, e)

    assert await store.pin(CHANNEL, a.id, None, 1) == 1
    assert await store.pin(CHANNEL, b.id, None, 1) == 2
    assert await store.pin(CHANNEL, c.id, 1, 1) == 1
    assert await store.pins(CHANNEL) == [c.id, a.id, b.id]

    assert await store.pin(CHANNEL, d.id, 99, 1) == 4  # clamped to the end
    assert await store.pin(CHANNEL, e.id, -3, 1) == 1  # clamped to the front
    assert await store.pins(CHANNEL) == [e.id, c.id, a.id, b.id, d.id]

    assert await store.pin(CHANNEL, d.id, 2, 1) == 2  # moving a pin keeps one entry
    assert await store.pins(CHANNEL) == [e.id, d.id, c.id, a.id, b.id]
    assert await store.pins(CHANNEL + 1) == []

    assert await store.unpin(CHANNEL, c.id) is True
    assert await store.unpin(CHANNEL, c.id) is False
    assert await store.pins(CHANNEL) == [e.id, d.id, a.id, b.id]


async def test_pin_an_unknown_article(store: SQLiteStore) -> None:
    with pytest.raises(NotFound):
        await store.pin(CHANNEL, "nosuchid", None, 1)


# --------------------------------------------------------------------------- deliveries


async def test_claim_a_new_delivery(store: SQLiteStore) -> None:
    claimed = await store.claim("art1", CHANNEL)
    assert claimed is not None
    assert claimed.state is DeliveryState.SENDING
    assert claimed.attempts == 1
    assert claimed.nonce == delivery_nonce("art1", CHANNEL)
    assert len(claimed.nonce) <= 25
    assert claimed.message_id is None
    assert claimed.sent_ts is None
    assert await store.delivery("art1", CHANNEL) == claimed


async def test_a_sending_delivery_is_handed_back_to_its_holder_as_taken_over(
    store: SQLiteStore,
) -> None:
    first = await store.claim("art1", CHANNEL)
    again = await store.claim("art1", CHANNEL)
    assert first is not None and first.taken_over is False
    assert again == replace(first, taken_over=True)  # same attempt, same nonce: look first
    assert again.attempts == 1


@pytest.mark.parametrize("state", [DeliveryState.PENDING, DeliveryState.APPROVED])
async def test_claim_from_pending_or_approved(store: SQLiteStore, state: DeliveryState) -> None:
    await store.set_delivery("art1", CHANNEL, state)
    claimed = await store.claim("art1", CHANNEL)
    assert claimed.state is DeliveryState.SENDING
    assert claimed.attempts == 1
    assert claimed.nonce == delivery_nonce("art1", CHANNEL)


@pytest.mark.parametrize(
    "state",
    [DeliveryState.SENT, DeliveryState.SKIPPED, DeliveryState.FAILED, DeliveryState.REVIEW],
)
async def test_claim_refused(store: SQLiteStore, state: DeliveryState) -> None:
    before = await store.set_delivery("art1", CHANNEL, state)
    assert await store.claim("art1", CHANNEL) is None
    assert await store.delivery("art1", CHANNEL) == before


async def test_delivery_life_and_a_stable_nonce(store: SQLiteStore) -> None:
    claimed = await store.claim("art1", CHANNEL)
    failed = await store.set_delivery(
        "art1",
        CHANNEL,
        DeliveryState.FAILED,
        expect=(DeliveryState.SENDING,),
        error="503 Service Unavailable",
    )
    assert (failed.state, failed.last_error, failed.attempts) == (
        DeliveryState.FAILED,
        "503 Service Unavailable",
        1,
    )
    assert await store.retry_failed(CHANNEL) == 1  # ...with a fresh count of attempts
    retried = await store.claim("art1", CHANNEL)
    assert (retried.state, retried.attempts, retried.last_error) == (
        DeliveryState.SENDING,
        1,
        None,
    )
    sent = await store.set_delivery(
        "art1", CHANNEL, DeliveryState.SENT, expect=(DeliveryState.SENDING,), message_id=555
    )
    assert (sent.state, sent.message_id, sent.attempts) == (DeliveryState.SENT, 555, 1)
    assert sent.sent_ts is not None
    assert claimed.nonce == failed.nonce == retried.nonce == sent.nonce
    assert await store.claim("art1", CHANNEL) is None


def test_nonce_per_article_and_channel() -> None:
    nonces = {delivery_nonce(a, c) for a in ("art1", "art2") for c in (1, 2, 10**18)}
    assert len(nonces) == 6
    assert all(len(n) <= 25 for n in nonces)
    assert delivery_nonce("art1", 1) == delivery_nonce("art1", 1)


async def test_set_delivery_with_an_unexpected_state_changes_nothing(store: SQLiteStore) -> None:
    sent = await store.set_delivery("art1", CHANNEL, DeliveryState.SENT, message_id=7)
    result = await store.set_delivery(
        "art1", CHANNEL, DeliveryState.SENDING, expect=(DeliveryState.PENDING,)
    )
    assert result is None
    assert await store.delivery("art1", CHANNEL) == sent
    # expecting PENDING also accepts "no delivery yet"
    fresh = await store.set_delivery(
        "art2", CHANNEL, DeliveryState.SENDING, expect=(DeliveryState.PENDING,)
    )
    assert fresh.state is DeliveryState.SENDING
    # expecting anything else does not create one
    assert (
        await store.set_delivery(
            "art3", CHANNEL, DeliveryState.SENT, expect=(DeliveryState.SENDING,)
        )
        is None
    )
    assert await store.delivery("art3", CHANNEL) is None


async def test_retry_failed_only_touches_failed_in_that_channel(store: SQLiteStore) -> None:
    await store.set_delivery("a", CHANNEL, DeliveryState.FAILED, error="x")
    await store.set_delivery("b", CHANNEL, DeliveryState.FAILED, error="y")
    await store.set_delivery("c", CHANNEL + 1, DeliveryState.FAILED, error="z")
    await store.set_delivery("d", CHANNEL, DeliveryState.SENT)

    assert await store.retry_failed(CHANNEL) == 2
    states = {
        (d.article_id, d.channel_id): (d.state, d.last_error) for d in await store.deliveries()
    }
    assert states == {
        ("a", CHANNEL): (DeliveryState.PENDING, None),
        ("b", CHANNEL): (DeliveryState.PENDING, None),
        ("c", CHANNEL + 1): (DeliveryState.FAILED, "z"),
        ("d", CHANNEL): (DeliveryState.SENT, None),
    }
    assert await store.retry_failed(CHANNEL) == 0


# --------------------------------------------------------------------------- routes and audit


async def test_route_state_survives_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "routes.db")
    paused = RouteState(CHANNEL, paused=True, pause_reason="holiday")
    disabled = RouteState(CHANNEL + 1, disabled=True, disabled_reason="403 Missing Access")
    store = await SQLiteStore.open(path)
    assert await store.route_state(CHANNEL) == RouteState(CHANNEL)
    await store.set_route_state(paused)
    await store.set_route_state(disabled)
    await store.close()

    store = await SQLiteStore.open(path)
    try:
        assert await store.route_state(CHANNEL) == paused
        assert await store.route_state(CHANNEL + 1) == disabled
        await store.set_route_state(RouteState(CHANNEL))
        assert await store.route_state(CHANNEL) == RouteState(CHANNEL)
    finally:
        await store.close()


async def test_route_guilds_survive_a_reopen(store_target: str) -> None:
    big = 1_234_567_890_123_456_789  # a real snowflake's size: more than 32 bits
    store = await open_store(store_target)
    assert await store.route_guilds() == {}
    await store.set_route_guild(CHANNEL, big)
    await store.set_route_guild(CHANNEL + 1, 7)
    await store.set_route_guild(CHANNEL + 1, 8)  # a mistyped id fixed: the later one counts
    await store.close()

    store = await open_store(store_target)
    try:
        assert await store.route_guilds() == {CHANNEL: big, CHANNEL + 1: 8}
        assert await store.route_state(CHANNEL) == RouteState(CHANNEL)  # no route row made
    finally:
        await store.close()


async def test_migration_20_adds_route_guilds_and_keeps_the_routes(tmp_path: Path) -> None:
    path = tmp_path / "v16.db"
    paused = RouteState(CHANNEL, paused=True, pause_reason="holiday")
    store = await SQLiteStore.open(str(path))
    await store.set_route_state(paused)
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to version 16: no route_guilds
        db.execute("DROP TABLE route_guilds")
        rewind(db, 16)

    store = await SQLiteStore.open(str(path))
    try:
        assert await store.route_state(CHANNEL) == paused
        assert await store.route_guilds() == {}
        await store.set_route_guild(CHANNEL, 42)
        assert await store.route_guilds() == {CHANNEL: 42}
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        columns = [row[1:3] for row in db.execute("PRAGMA table_info(route_guilds)")]
        assert columns == [
            ("channel_id", "INTEGER"),
            ("guild_id", "INTEGER"),
            ("learned_ts", "INTEGER"),
        ]


async def test_audit_log_newest_first(store: SQLiteStore) -> None:
    await store.audit("pin", "ok", actor_id=1, actor_name="mod", channel_id=CHANNEL, article_id="a")
    await store.audit("skip", "refused", detail="not allowed")
    entries = await store.audit_log()
    assert [
        (e.action, e.result, e.actor_id, e.actor_name, e.channel_id, e.article_id, e.detail)
        for e in entries
    ] == [
        ("skip", "refused", None, None, None, None, "not allowed"),
        ("pin", "ok", 1, "mod", CHANNEL, "a", None),
    ]
    assert entries[0].id > entries[1].id
    assert [e.action for e in await store.audit_log(limit=1)] == ["skip"]


async def test_a_snapshot_is_a_separate_copy_removed_on_close(
    sqlite_store: SQLiteStore, make_article: Callable[..., Article]
) -> None:
    article = make_article()
    await sqlite_store.add_article(ParseResult(article))
    copy = await sqlite_store.snapshot()
    scratch = Path(copy.path).parent
    assert scratch.is_dir() and Path(copy.path).name == "snapshot.db"
    assert await copy.get_article(article.id) == article

    await copy.set_delivery(article.id, 7, DeliveryState.SENT, message_id=1)
    assert await sqlite_store.delivery(article.id, 7) is None
    assert (await copy.delivery(article.id, 7)).state is DeliveryState.SENT

    await copy.close()
    assert not scratch.exists()
    assert await sqlite_store.get_article(article.id) == article


async def test_a_version_1_database_is_migrated_with_its_search_index_rebuilt(
    tmp_path: Path, make_article: Callable[..., Article]
) -> None:
    from bot.models import article_to_dict, to_json

    path = tmp_path / "v1.db"
    migrations = MIGRATIONS
    article = make_article(topics=("Space", "AI"), title="Rockets and robots")
    first = (migrations / "001_initial.sql").read_text()
    with closing(sqlite3.connect(path)) as db:
        db.executescript(first)
        rewind(db, 1)
        db.execute(
            "INSERT INTO articles (rowid, id, canonical_url, url, title, provider, quality,"
            " heat, published_ts, first_seen_ts, updated_ts, published, source, source_path,"
            " content_hash, data, raw) VALUES (7,?,?,?,?,?,?,?,NULL,0,0,0,'file',NULL,'h',?,'{}')",
            (article.id, article.canonical_url, article.url, article.title,
             article.provider_name, article.quality, article.heat,
             to_json(article_to_dict(article))),
        )  # fmt: skip
        db.executemany(
            "INSERT INTO article_topics (article_rowid, key, name) VALUES (7, ?, ?)",
            [("space", "Space"), ("ai", "AI")],
        )
        db.commit()

    store = await SQLiteStore.open(str(path))
    try:
        assert await store.topics() == [("AI", 1), ("Space", 1)]
        assert await store.search("robots", "space") == ([article], 1)
        assert await store.search("robots", "sports") == ([], 0)
        assert await store.search("", "space") == ([article], 1)  # migration 3's index
        assert await store.complete_articles("rock") == headlines(article)
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        # version 6: the write-only table of related items is gone (the JSON keeps them),
        # and so is the index of topic rows by story
        gone = "SELECT name FROM sqlite_master WHERE name IN ('related', 'article_topics_article')"
        assert db.execute(gone).fetchall() == []


async def test_search_totals_stop_counting_past_the_limit(
    store: SQLiteStore, make_article: Callable[..., Article]
) -> None:
    from bot.store.records import COUNT_LIMIT, count_text

    items = [
        parsed(f"/s/{n}.md", make_article(
            url=f"https://example.com/{n}", title=f"Alpha story {n}", topics=("AI",),
            quality=n % 100,
        ), f"h{n}")
        for n in range(COUNT_LIMIT + 5)
    ]  # fmt: skip
    await store.apply_load(items)
    found, total = await store.search("alpha")
    assert (len(found), total, count_text(total)) == (10, COUNT_LIMIT + 1, "1,000+")
    # So many matches: best stories first, through the ranking index.
    from bot.curation.ranking import rank

    assert found == rank([i.article.to_article() for i in items])[:10]
    assert [a.quality for a in found] == [99] * 10
    found, total = await store.search("", "ai", limit=3)
    assert [a.quality for a in found] == [99, 99, 99]
    assert total == COUNT_LIMIT + 1
    assert (await store.search("alpha 1003"))[1] == 1
    assert count_text(12) == "12"
    assert await store.topics() == [("AI", COUNT_LIMIT + 5)]


async def test_common_words_page_through_every_ranking_band_in_order(
    store: SQLiteStore, make_article: Callable[..., Article]
) -> None:
    from bot.curation.ranking import rank
    from bot.store.records import COUNT_LIMIT

    items = [
        parsed(f"/s/{n}.md", make_article(
            url=f"https://example.com/{n}", title=f"Beta story {n}", quality=(n * 37) % 101,
            heat=n % 3, published=n % 9 == 0,
        ), f"h{n}")
        for n in range(COUNT_LIMIT + 50)
    ]  # fmt: skip
    await store.apply_load(items)
    ranked = rank([i.article.to_article() for i in items])
    assert any(a.published for a in ranked[:30])  # ranked like the others, as when browsing
    for offset, limit in [(0, 10), (7, 25), (940, 30), (len(ranked) - 5, 10)]:
        found, total = await store.search("beta", limit=limit, offset=offset)
        assert total == COUNT_LIMIT + 1
        assert [a.id for a in found] == [a.id for a in ranked[offset : offset + limit]]
    # an edit moves a story to another band
    lifted = dataclasses.replace(ranked[-1], quality=100, published=False, heat=99)
    path = f"/s/{lifted.url.rsplit('/', 1)[1]}.md"
    assert (await store.apply_load([parsed(path, lifted, "h-new", mtime_ns=2)]))[0].status == (
        "updated"
    )
    assert (await store.search("beta", limit=1))[0] == [lifted]


TIERED = 1300  # stories in the tiered corpus; "AI" is on 1,040 of them


def tiered_story(make_article: Callable[..., Article], n: int) -> Article:
    """Story ``n`` of a corpus where each word's stories, and those with it in the title,
    are known by construction (see test_search_puts_titled_stories_first_at_every_size)."""
    title = [f"Story {n}", "gamma" if n % 7 == 0 else "", "omega" if n < 1050 else ""]
    excerpt = ["gamma" if n % 7 else "", "omega" if n >= 1050 else ""]
    if n % 50 in (0, 1):  # 0: a "Space" story, 1 and 2: "AI" stories
        title.append("delta")
    elif n % 50 == 2:
        excerpt.append("delta")
    return make_article(
        url=f"https://example.com/t{n}", title=" ".join(filter(None, title)),
        excerpt=" ".join(filter(None, excerpt)), quality=(n * 37) % 101, heat=n % 3,
        topics=("AI",) if n % 5 else ("Space",),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("query", "topic"),
    [
        ("gamma", None),  # 1,300 matches, 186 titled
        ("gamma", "AI"),  # 1,040 matches, 148 titled
        ("omega", None),  # 1,300 matches, 1,050 titled: both parts many
        ("omega gamma", "ai"),  # 1,040 matches, 120 titled
        ("delta", None),  # 78 matches, 52 titled
        ("delta", "AI"),  # 52 matches, 26 titled
    ],
)
async def test_search_puts_titled_stories_first_at_every_size(
    store: SQLiteStore, make_article: Callable[..., Article], query: str, topic: str | None
) -> None:
    from bot.curation.ranking import rank_key
    from bot.store.records import COUNT_LIMIT

    stories = [tiered_story(make_article, n) for n in range(TIERED)]
    await store.apply_load([parsed(f"/t/{a.id}.md", a, a.id) for a in stories])
    words = query.split()

    def has(text: str) -> bool:
        return all(word in text.split() for word in words)

    matching = [
        a for a in stories
        if has(f"{a.title} {a.excerpt}") and (topic is None or topic.upper() in a.topics)
    ]  # fmt: skip
    expected = sorted(matching, key=lambda a: (not has(a.title), rank_key(a)))
    total = len(expected) if len(expected) <= COUNT_LIMIT else COUNT_LIMIT + 1
    titled = sum(has(a.title) for a in expected)
    pages = [(0, 10), (0, 25), (titled - 4, 10), (titled - 1, 1), (titled, 3)]
    pages += [(990, 30), (len(expected) - 5, 10), (len(expected) + 3, 5)]
    for offset, limit in pages:
        found, count = await store.search(query, topic, limit=limit, offset=max(0, offset))
        want = expected[max(0, offset) : max(0, offset) + limit]
        assert ([a.id for a in found], count) == ([a.id for a in want], total), (offset, limit)
    assert titled and len(expected) > titled  # both parts are on some page


async def test_search_in_a_topic_with_more_titled_stories_than_the_count_limit(
    store: SQLiteStore, make_article: Callable[..., Article]
) -> None:
    """1,150 "AI" stories with "kappa" in the title and 100 with it in the excerpt only
    (and 50 in another topic): the titled part alone passes COUNT_LIMIT."""
    from bot.curation.ranking import rank_key
    from bot.store.records import COUNT_LIMIT

    def story(n: int) -> Article:
        titled = n < 1200
        return make_article(
            url=f"https://example.com/k{n}", title=f"Story {n}" + (" kappa" if titled else ""),
            excerpt="" if titled else "kappa", quality=(n * 37) % 101, heat=n % 3,
            topics=("Space",) if n % 24 == 0 else ("AI",),
        )  # fmt: skip

    stories = [story(n) for n in range(1300)]
    await store.apply_load([parsed(f"/k/{a.id}.md", a, a.id) for a in stories])
    expected = sorted(
        (a for a in stories if "AI" in a.topics),
        key=lambda a: ("kappa" not in a.title, rank_key(a)),
    )
    titled = sum("kappa" in a.title for a in expected)
    assert (len(expected), titled) == (1245, 1150) and titled > COUNT_LIMIT
    for offset, limit in [(0, 10), (0, 25), (990, 30), (titled - 4, 10), (titled, 3)]:
        found, count = await store.search("kappa", "ai", limit=limit, offset=offset)
        want = expected[offset : offset + limit]
        assert ([a.id for a in found], count) == ([a.id for a in want], COUNT_LIMIT + 1)


async def test_topic_counts_follow_edits(
    store: SQLiteStore, make_article: Callable[..., Article]
) -> None:
    first = make_article(topics=("Space", "AI"))
    await store.apply_load([parsed("/s/a.md", first, "sha-1")])
    await store.apply_load([parsed("/s/b.md", make_article(url="https://e.org/b", topics=("AI",)))])
    assert await store.topics() == [("AI", 2), ("Space", 1)]
    edited = dataclasses.replace(first, topics=("ai", "Robots"))
    (outcome,) = await store.apply_load([parsed("/s/a.md", edited, "sha-2", mtime_ns=2)])
    assert outcome.status == "updated"
    assert await store.topics() == [("AI", 2), ("Robots", 1)]
    assert await store.search("", "space") == ([], 0)
    assert [a.id for a in (await store.search("", "robots"))[0]] == [first.id]


async def test_file_records_and_paths_under_a_folder(
    store: SQLiteStore, make_article: Callable[..., Article]
) -> None:
    await store.apply_load(
        [
            parsed("/news/a.md", make_article(url="https://e.org/a")),
            parsed("/news/sub/b.md", make_article(url="https://e.org/b")),
            parsed("/news2/c.md", make_article(url="https://e.org/c")),
        ]
    )
    records = await store.file_records(["/news/a.md", "/nowhere.md"])
    assert list(records) == ["/news/a.md"]
    assert records["/news/a.md"].status == "ok"
    assert sorted(await store.file_paths_under("/news")) == ["/news/a.md", "/news/sub/b.md"]
    assert await store.file_paths_under("/news/a.md") == ["/news/a.md"]
    # pages, in path order
    assert await store.file_paths_under("/news", "", 1) == ["/news/a.md"]
    assert await store.file_paths_under("/news", "/news/a.md", 1) == ["/news/sub/b.md"]
    assert await store.file_paths_under("/news", "/news/sub/b.md", 1) == []


async def test_a_topic_browses_in_ranking_order_after_edits(
    store: SQLiteStore, make_article: Callable[..., Article]
) -> None:
    made = {
        name: make_article(url=f"https://e.org/{name}", topics=("AI",), quality=q, heat=h)
        for name, q, h in [("low", 10, 0), ("mid", 50, 0), ("hot", 50, 9), ("top", 90, 0)]
    }
    await store.apply_load([parsed(f"/s/{n}.md", a) for n, a in made.items()])
    browse = await store.search("", "ai")
    assert [a.id for a in browse[0]] == [made[n].id for n in ("top", "hot", "mid", "low")]
    assert browse[1] == 4
    # An edit moves the story within its topic: the topic rows follow the article's rank.
    lifted = dataclasses.replace(made["low"], quality=95)
    await store.apply_load([parsed("/s/low.md", lifted, "sha-2", mtime_ns=2)])
    found, _ = await store.search("", "ai", limit=2, offset=1)
    assert [a.id for a in found] == [made["top"].id, made["hot"].id]
    assert (await store.search("", "ai", limit=1))[0] == [lifted]


async def test_migration_4_writes_the_bands_the_loader_writes(
    tmp_path: Path, make_article: Callable[..., Article]
) -> None:
    from bot.curation.ranking import rank
    from bot.store.records import COUNT_LIMIT

    path = tmp_path / "v3.db"
    store = await SQLiteStore.open(str(path))
    articles = [
        make_article(url=f"https://e.org/{n}", title=f"Gamma {n}", quality=(n * 13) % 101)
        for n in range(COUNT_LIMIT + 20)
    ]
    await store.apply_load([parsed(f"/s/{n}.md", a) for n, a in enumerate(articles)])
    expected = (await store.search("gamma", limit=30, offset=5))[0]
    await store.close()
    assert [a.id for a in expected] == [a.id for a in rank(articles)[5:35]]
    with closing(sqlite3.connect(path)) as db:  # back to version 3: no bands
        db.execute("UPDATE articles_fts SET tags = ''")
        db.execute("DROP INDEX articles_order")
        rewind(db, 3)
        db.commit()

    store = await SQLiteStore.open(str(path))
    try:
        assert (await store.search("gamma", limit=30, offset=5))[0] == expected
    finally:
        await store.close()


async def test_migration_5_keeps_every_story_searchable_with_2_character_prefixes(
    tmp_path: Path, make_article: Callable[..., Article]
) -> None:
    from bot.curation.ranking import rank

    path = tmp_path / "v4.db"
    store = await SQLiteStore.open(str(path))
    articles = [
        make_article(url=f"https://e.org/{n}", title=f"Rocket {n} launch", topics=("Space",))
        for n in range(30)
    ]
    await store.apply_load([parsed(f"/s/{n}.md", a) for n, a in enumerate(articles)])
    expected = [
        await store.search("rocket", "space", limit=50),
        await store.complete_articles("rocket la"),
        await store.complete_articles("ro"),
    ]
    await store.close()
    assert expected[0] == (rank(articles), 30)
    assert len(expected[1]) == len(expected[2]) == 25  # completions: the first 25
    with closing(sqlite3.connect(path)) as db:  # back to version 4's table: prefix = '2 3'
        db.executescript(
            "CREATE VIRTUAL TABLE v4 USING fts5 (title, excerpt, topics, provider, tags,"
            " prefix = '2 3', tokenize = 'unicode61 remove_diacritics 2');"
            "INSERT INTO v4 (rowid, title, excerpt, topics, provider, tags)"
            " SELECT rowid, title, excerpt, topics, provider, tags FROM articles_fts;"
            "DROP TABLE articles_fts; ALTER TABLE v4 RENAME TO articles_fts;"
        )
        rewind(db, 4)

    store = await SQLiteStore.open(str(path))
    try:
        assert [
            await store.search("rocket", "space", limit=50),
            await store.complete_articles("rocket la"),
            await store.complete_articles("ro"),
        ] == expected
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        (table,) = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'articles_fts'"
        ).fetchone()
        assert "prefix = '2'" in table and "'2 3'" not in table
        assert db.execute("SELECT count(*) FROM articles_fts").fetchone() == (30,)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_the_full_text_index_merges_8_segments_at_a_time_in_new_and_older_stores(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    # migration 7; FTS5 keeps the setting in the index's own config table
    automerge = "SELECT v FROM articles_fts_config WHERE k = 'automerge'"
    path = tmp_path / "newsdesk.db"
    store = await SQLiteStore.open(str(path))
    await add(store, make_article())
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute(automerge).fetchone() == (8,)
        db.executescript(  # as version 6 left it: FTS5's default, 4
            "DELETE FROM articles_fts_config WHERE k = 'automerge';"
        )
        rewind(db, 6)
        assert db.execute(automerge).fetchone() is None

    store = await SQLiteStore.open(str(path))
    try:
        assert await store.search("", limit=5) == ([make_article()], 1)
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute(automerge).fetchone() == (8,)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_migration_8_makes_spellings_that_differ_in_accents_one_topic(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    from bot.store.sqlite import rank_tag, topic_tag

    path = tmp_path / "v7.db"
    mx = "M\u00e9xico"
    accented = make_article(url="https://e.org/a", title="Vote a", topics=(mx,), quality=80)
    plain = make_article(url="https://e.org/b", title="Vote b", topics=("Mexico", "Politics"))
    both = make_article(url="https://e.org/c", title="Vote c", topics=("MEXICO", mx), quality=60)
    zurich = make_article(url="https://e.org/d", title="Lake", topics=("Z\u00fcrich",))
    store = await SQLiteStore.open(str(path))
    await store.apply_load(
        [parsed(f"/s/{n}.md", a) for n, a in enumerate((accented, plain, both, zurich))]
    )
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to version 7: keys were casefolded
        rows = db.execute("SELECT rowid, data, quality, heat, published_ts, id FROM articles")
        old_rows: list[tuple[Any, ...]] = []
        stats: dict[str, list[Any]] = {}
        for rowid, data, quality, heat, published_ts, article_id in sorted(rows.fetchall()):
            keys = {t.casefold(): t for t in json.loads(data)["topics"]}
            for key, name in keys.items():
                old_rows.append((rowid, key, name, quality, heat, published_ts, article_id))
                stats.setdefault(key, [name, 0])[1] += 1
            tags = " ".join([*map(topic_tag, keys), rank_tag(quality)])
            db.execute("UPDATE articles_fts SET tags = ? WHERE rowid = ?", (tags, rowid))
        db.execute("DELETE FROM article_topics")
        db.executemany("INSERT INTO article_topics VALUES (?,?,?,?,?,?,?)", old_rows)
        db.execute("DELETE FROM topic_stats")
        counts = [(key, name, n) for key, (name, n) in stats.items()]
        db.executemany("INSERT INTO topic_stats VALUES (?,?,?)", counts)
        rewind(db, 7)
        db.commit()
        assert len(old_rows) == 6 and len(stats) == 4  # méxico and mexico apart

    store = await SQLiteStore.open(str(path))
    try:
        # one topic under the name its unaccented key had; the story with both counts once
        assert await store.topics() == [("Mexico", 3), ("Politics", 1), ("Z\u00fcrich", 1)]
        assert await store.search("", mx) == ([accented, both, plain], 3)
        assert await store.search("vote", "mexico") == ([accented, both, plain], 3)
        assert await store.search("lake", "ZURICH") == ([zurich], 1)
        route = RouteFilter(channel_id=1, topics=("mexico",), exclude_topics=("politics",))
        assert [i.article for i in await store.next_for_channel(route, 5)] == [accented, both]
        assert await store.complete_topics("m\u00e9x") == [("Mexico", 3)]
        # a later edit counts the story once: one row, one count
        edited = dataclasses.replace(both, title="Vote c2")
        await store.apply_load([parsed("/s/2.md", edited, "sha-2")])
        assert await store.topics() == [("Mexico", 3), ("Politics", 1), ("Z\u00fcrich", 1)]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        recount = "SELECT key, count(*) FROM article_topics GROUP BY key ORDER BY key"
        assert db.execute(recount).fetchall() == [("mexico", 3), ("politics", 1), ("zurich", 1)]


async def test_search_finds_words_the_way_the_index_folds_them(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    street = make_article(url="https://example.com/1", title="Straße gesperrt")
    mexico = make_article(url="https://example.com/2", title="México elige")
    await add(store, street, mexico)
    assert await store.search("Straße") == ([street], 1)
    assert await store.search("STRASSE") == ([], 0)  # ß is not ss to the index
    assert await store.complete_articles("Straß") == headlines(street)
    assert await store.search("Me\u0301xico") == ([mexico], 1)  # é as e + accent
    assert await store.search("mexico") == ([mexico], 1)


async def test_search_words_never_match_the_index_s_own_tokens(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    from bot.store.sqlite import rank_tag, topic_tag

    story = make_article(title="Plain story", quality=90, topics=("Space",))
    await add(store, story)
    assert await store.search(rank_tag(90)) == ([], 0)
    assert await store.search(topic_tag("space")) == ([], 0)
    assert await store.search("plain", "space") == ([story], 1)


async def test_latest_lists_limit_stories_when_each_went_to_many_channels(
    store: SQLiteStore, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    stories = [make_article(url=f"https://example.com/{n}", title=f"Story {n}") for n in range(3)]
    await add(store, *stories)
    for n, story in enumerate(stories):
        set_clock(monkeypatch, functools.partial(int, 1_000 + n))  # () -> 1000 + n
        for channel in range(1, 10):
            await store.set_delivery(story.id, channel, DeliveryState.SENT, message_id=channel)
    latest = await store.latest_sent(limit=2)
    assert [(a.id, d.sent_ts) for a, d in latest] == [(stories[2].id, 1002), (stories[1].id, 1001)]
    latest = await store.latest_sent(limit=5)  # most recent first: the order is the point
    assert [a.id for a, _ in latest] == [stories[2].id, stories[1].id, stories[0].id]


async def test_a_batch_that_fails_half_way_leaves_nothing_behind(
    store: SQLiteStore, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = make_article(url="https://example.com/1", topics=("AI",))
    await store.apply_load([parsed("/s/1.md", first)])
    before = (await store.file_index(), await store.topics(), await store.search(""))
    batch = [
        parsed("/s/1.md", dataclasses.replace(first, title="Edited", topics=("Space",)), "sha-2"),
        parsed("/s/2.md", make_article(url="https://example.com/2", topics=("AI",))),
    ]
    count_topics = store._count_topics

    async def full(*args: Any) -> None:  # after the rows, before the counts
        raise disk_full(store)

    monkeypatch.setattr(store, "_count_topics", full)
    with pytest.raises(StoreError) as caught:
        await store.apply_load(batch)
    assert str(caught.value) == (
        f"cannot store the loaded articles: {store.path}: database or disk is full"
    )
    assert (await store.file_index(), await store.topics(), await store.search("")) == before

    monkeypatch.setattr(store, "_count_topics", count_topics)
    outcomes = await store.apply_load(batch)  # the same batch, once the disk has room
    assert [o.status for o in outcomes] == ["updated", "loaded"]
    assert await store.topics() == [("AI", 1), ("Space", 1)]


async def test_other_tasks_never_read_a_load_before_it_commits(
    sqlite_store: SQLiteStore, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    story = make_article(topics=("AI",))
    halfway, resume = asyncio.Event(), asyncio.Event()

    async def fail_halfway(*args: Any) -> None:  # the rows are written, not committed
        halfway.set()
        await resume.wait()
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlite_store, "_count_topics", fail_halfway)
    load = asyncio.create_task(sqlite_store.apply_load([parsed("/a.md", story)]))
    await halfway.wait()
    # a scheduled run and /article, meanwhile: they wait for the transaction to end
    reads = asyncio.gather(
        sqlite_store.next_for_channel(RouteFilter(100)), sqlite_store.get_article(story.id)
    )
    await asyncio.sleep(0.05)
    assert not reads.done()
    resume.set()
    with pytest.raises(StoreError):
        await load
    assert list(await reads) == [[], None]  # what the rollback left: nothing


# --------------------------------------------------------------------------- submitted stories


def queue_of(channel: int, **filters: Any) -> RouteFilter:
    return RouteFilter(channel_id=channel, **filters)


async def queued(store: SQLiteStore, channel: int) -> tuple[list[str], list[str]]:
    """The channel's ranked queue and review candidates, as ids."""
    ranked = [i.article.id for i in await store.next_for_channel(queue_of(channel), 10)]
    review = [a.id for a in await store.review_candidates(queue_of(channel), 10)]
    return ranked, review


async def test_a_story_submitted_for_some_channels_is_ranked_only_there(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    path = str(tmp_path / "scope.db")
    store = await SQLiteStore.open(path)
    scoop = make_article(url="https://e.org/scoop", title="Scoop", quality=100, source="moderator")
    hidden = make_article(url="https://e.org/hidden", title="Hidden", quality=99)
    plain = make_article(url="https://e.org/plain", title="Plain", quality=10)
    try:
        assert await store.add_article(ParseResult(scoop), [1, 2]) == (scoop, True)
        assert await store.add_article(ParseResult(hidden), []) == (hidden, True)
        await store.apply_load([parsed("/s/plain.md", plain)])
        assert await store.submitted_for(scoop.id) == frozenset({1, 2})
        assert await store.submitted_for(hidden.id) == frozenset()
        assert await store.submitted_for(plain.id) is None
        for channel in (1, 2):
            assert await queued(store, channel) == ([scoop.id, plain.id], [scoop.id, plain.id])
        assert await queued(store, 3) == ([plain.id], [plain.id])
        # a pin places it anywhere; search lists both
        await store.pin(3, hidden.id, None, 7)
        assert await queued(store, 3) == ([hidden.id, plain.id], [plain.id])
        assert await store.search("") == ([scoop, hidden, plain], 3)
        # a known story limited so gets the channels added; a file's story stays open
        assert await store.add_article(ParseResult(scoop), [3]) == (scoop, False)
        assert await store.submitted_for(scoop.id) == frozenset({1, 2, 3})
        assert await store.add_article(ParseResult(plain), [4]) == (plain, False)
        assert await store.submitted_for(plain.id) is None
        # a rescan of other files changes nothing of it
        other = make_article(url="https://e.org/other", title="Other", quality=5)
        await store.apply_load([parsed("/s/other.md", other)])
    finally:
        await store.close()
    store = await SQLiteStore.open(path)
    try:
        assert await queued(store, 4) == ([plain.id, other.id], [plain.id, other.id])
        assert await queued(store, 3) == (
            [hidden.id, scoop.id, plain.id, other.id],
            [scoop.id, plain.id, other.id],
        )
        # A file that gives the story makes it every channel's, as any story from a file.
        given = dataclasses.replace(scoop, title="Scoop, from a file", source="file")
        (outcome,) = await store.apply_load([parsed("/s/scoop.md", given)])
        assert (outcome.status, outcome.article_id) == ("updated", scoop.id)
        assert await store.submitted_for(scoop.id) is None
        assert (await queued(store, 4))[0] == [scoop.id, plain.id, other.id]
    finally:
        await store.close()


async def test_migration_11_limits_stories_submitted_before_it(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    path = tmp_path / "v10.db"
    pinned = make_article(url="https://e.org/p", title="Pinned", quality=90, source="moderator")
    moving = make_article(url="https://e.org/m", title="Moving", quality=80, source="moderator")
    idle = make_article(url="https://e.org/i", title="Idle", quality=70, source="moderator")
    filed = make_article(url="https://e.org/f", title="Filed", quality=60, source="moderator")
    plain = make_article(url="https://e.org/x", title="Plain", quality=50)
    store = await SQLiteStore.open(str(path))
    for article in (pinned, moving, idle, filed):
        await store.add_article(ParseResult(article))
    await store.apply_load([parsed("/s/f.md", filed), parsed("/s/x.md", plain)])
    await store.pin(1, pinned.id, None, 7)
    for state, channel in [("review", 2), ("approved", 3), ("sending", 4), ("pending", 5)]:
        await store.set_delivery(moving.id, channel, DeliveryState(state))
    await store.set_delivery(moving.id, 6, DeliveryState.SENT, message_id=9)
    await store.set_delivery(moving.id, 8, DeliveryState.SKIPPED)
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to version 10
        db.executescript(
            "DROP TRIGGER submitted_story_from_a_file; DROP TABLE submitted_channels;"
            " DROP TABLE submitted_stories;"
        )
        rewind(db, 10)
        ids = db.execute("SELECT id FROM articles ORDER BY rowid").fetchall()
    store = await SQLiteStore.open(str(path))
    try:
        assert await store.submitted_for(pinned.id) == frozenset({1})
        assert await store.submitted_for(moving.id) == frozenset({2, 3, 4, 5})
        assert await store.submitted_for(idle.id) == frozenset()
        assert await store.submitted_for(filed.id) is None  # a file gives it
        assert await store.submitted_for(plain.id) is None
        assert (await queued(store, 1))[0] == [pinned.id, filed.id, plain.id]
        assert (await queued(store, 5))[0] == [moving.id, filed.id, plain.id]
        assert (await queued(store, 9))[0] == [filed.id, plain.id]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT id FROM articles ORDER BY rowid").fetchall() == ids


async def test_submitting_a_withdrawn_storys_url_brings_it_back_as_the_moderators(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    story = make_article(url="https://example.com/w", title="From a file", topics=("AI",))
    await store.apply_load([parsed("/s/w.md", story)])
    await store.pin(CHANNEL, story.id, None, 77)
    await store.forget_files(["/s/w.md"])  # its file was deleted
    assert await store.withdraw_orphans() == 1
    assert await store.get_article(story.id) is None

    submitted = make_article(
        url="https://example.com/w?utm_source=x", title="Submitted", topics=("Space",)
    )
    kept, new = await store.add_article(ParseResult(dataclasses.replace(submitted, id="x")))

    assert (kept.id, kept.title, new) == (story.id, "Submitted", True)
    assert await store.get_article(story.id) == kept
    assert await store.pins(CHANNEL) == [story.id]
    assert await store.topics() == [("Space", 1)]
    assert await store.search("submitted") == ([kept], 1)
    # a moderator's story now: no later load withdraws it
    await store.forget_files(["/s/w.md"])
    assert await store.withdraw_orphans() == 0


async def test_migration_13_notes_the_stories_of_files_deleted_before(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    path = tmp_path / "v12.db"
    kept, gone, posted = (
        make_article(url=f"https://e.org/{name}", title=name, topics=("AI",))
        for name in ("kept", "gone", "posted")
    )
    submitted = make_article(url="https://e.org/submitted", title="submitted", source="moderator")
    store = await SQLiteStore.open(str(path))
    await store.apply_load([parsed(f"/s/{a.title}.md", a) for a in (kept, gone, posted)])
    await add(store, submitted)
    await store.set_delivery(posted.id, CHANNEL, DeliveryState.SENT, message_id=5)
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to version 12: deleted files forgotten
        db.executescript(
            "DELETE FROM files WHERE path IN ('/s/gone.md', '/s/posted.md');"
            " DROP TABLE orphans; DROP INDEX articles_withdrawn;"
        )
        rewind(db, 12)

    store = await SQLiteStore.open(str(path))
    try:
        assert await store.article_count() == 4  # nothing changes until a load ends
        assert await store.withdraw_orphans() == 1
        assert [a.title for a in (await store.search(""))[0]] == ["kept", "posted", "submitted"]
        assert await store.get_article(gone.id) is None
        assert await store.topics() == [("AI", 2)]
        assert await store.withdraw_orphans() == 0  # the notes are gone
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT source FROM articles ORDER BY rowid").fetchall() == [
            ("file",),
            ("withdrawn",),
            ("file",),
            ("moderator",),
        ]


async def test_migration_14_makes_urls_that_differ_only_in_encoding_one_story(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    from bot.desk.stories import find_article

    path = tmp_path / "v13.db"

    def old(url: str, title: str, **fields: Any) -> Article:
        # as version 13 stored it: the canonical URL kept the path's and host's encoding
        before = url.replace("BÜCHER", "bücher")
        return make_article(url=url, canonical_url=before, id=short_id(before), title=title,
                            **fields)  # fmt: skip

    tilde_a = old("https://e.org/%7Eann/x", "tilde a", topics=("AI",))
    tilde_b = old("https://e.org/~ann/x", "tilde b", topics=("AI", "Space"))
    idn_c = old("https://BÜCHER.example/a", "idn c", topics=("Books",))
    idn_d = old("https://xn--bcher-kva.example/a", "idn d", topics=("Books",))
    hex_e = old("https://e.org/a%2fb", "hex e")
    hex_f = old("https://e.org/a%2Fb", "hex f")
    accent = old("https://e.org/caf%c3%a9", "accent")
    plain = old("https://e.org/plain", "plain")
    stories = (tilde_a, tilde_b, idn_c, idn_d, hex_e, hex_f, accent, plain)
    assert len({a.canonical_url for a in stories}) == 8  # eight stories in version 13
    store = await SQLiteStore.open(str(path))
    await store.apply_load([parsed(f"/s/{n}.md", a) for n, a in enumerate(stories)])
    await store.apply_load([parsed("/s/9.md", dataclasses.replace(idn_d, title="dup"))])
    sent = DeliveryState.SENT
    await store.set_delivery(tilde_b.id, 1, sent, message_id=11)  # b posted: b is kept
    await store.pin(2, tilde_a.id, None, 77)  # a's pin and skip move to b
    await store.set_delivery(tilde_a.id, 4, DeliveryState.SKIPPED)
    await store.set_delivery(tilde_b.id, 4, DeliveryState.PENDING)
    await store.pin(2, idn_d.id, None, 77)  # neither posted: c, the first stored, is kept
    await store.set_delivery(idn_d.id, 5, DeliveryState.APPROVED, decided_by=77)
    await store.set_delivery(hex_e.id, 1, sent, message_id=21)  # both posted: e, the first
    await store.set_delivery(hex_f.id, 1, sent, message_id=31)
    await store.set_delivery(hex_f.id, 2, sent, message_id=32)
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        rewind(db, 13)
        db.execute("UPDATE articles SET first_seen_ts = 1000 + rowid")
        db.commit()

    store = await SQLiteStore.open(str(path))
    try:
        rows = await store._all("SELECT id, canonical_url, title FROM articles ORDER BY rowid")
        assert rows == [
            (tilde_b.id, "https://e.org/~ann/x", "tilde b"),
            (idn_c.id, "https://xn--bcher-kva.example/a", "idn c"),
            (hex_e.id, "https://e.org/a%2Fb", "hex e"),
            (accent.id, "https://e.org/caf%C3%A9", "accent"),
            (plain.id, "https://e.org/plain", "plain"),
        ]
        # every story kept its id; the JSON says the new URL too
        assert (await store.get_article(accent.id)).canonical_url == "https://e.org/caf%C3%A9"
        assert await store.get_article(plain.id) == plain
        deliveries = [
            (d.article_id, d.channel_id, d.state.value, d.message_id, d.nonce)
            for d in await store.deliveries()
        ]
        assert sorted(deliveries) == sorted([
            (tilde_b.id, 1, "sent", 11, delivery_nonce(tilde_b.id, 1)),
            (tilde_b.id, 4, "skipped", None, delivery_nonce(tilde_a.id, 4)),
            (idn_c.id, 5, "approved", None, delivery_nonce(idn_d.id, 5)),
            (hex_e.id, 1, "sent", 21, delivery_nonce(hex_e.id, 1)),
            (hex_e.id, 2, "sent", 32, delivery_nonce(hex_f.id, 2)),
        ])  # fmt: skip
        assert await store.pins(2) == [tilde_b.id, idn_c.id]
        # nothing sent comes back in a queue
        for channel in (1, 2):
            queued = [i.article.id for i in await store.next_for_channel(RouteFilter(channel), 9)]
            assert hex_e.id not in queued
        assert tilde_b.id not in [
            i.article.id for i in await store.next_for_channel(RouteFilter(1), 9)
        ]
        assert [i.article.id for i in await store.next_approved(5, 9)] == [idn_c.id]
        assert await store.topics() == [("AI", 1), ("Books", 1), ("Space", 1)]
        assert await store.search("tilde") == ([await store.get_article(tilde_b.id)], 1)
        files = {
            p: (r.status, r.article_id, r.owner) for p, r in (await store.file_index()).items()
        }
        assert files == {  # a merged story's file is read again at the next load
            "/s/1.md": ("ok", tilde_b.id, None),
            "/s/2.md": ("ok", idn_c.id, None),
            "/s/4.md": ("ok", hex_e.id, None),
            "/s/6.md": ("ok", accent.id, None),
            "/s/7.md": ("ok", plain.id, None),
            "/s/9.md": ("duplicate", idn_c.id, "/s/3.md"),
        }
        merges = [(e.action, e.article_id, e.detail) for e in await store.audit_log()]
        assert sorted(merges) == sorted([
            ("store.merge", tilde_b.id,
             f"merged {tilde_a.id}: the same URL once decoded (https://e.org/~ann/x)"),
            ("store.merge", idn_c.id,
             f"merged {idn_d.id}: the same URL once decoded (https://xn--bcher-kva.example/a)"),
            ("store.merge", hex_e.id,
             f"merged {hex_f.id}: the same URL once decoded (https://e.org/a%2Fb)"),
        ])  # fmt: skip
        # read again, a merged story's file is a duplicate of the kept story's
        again = make_article(url="https://e.org/%7eann/x", title="tilde a")
        [outcome] = await store.apply_load([parsed("/s/0.md", again)])
        assert outcome == LoadOutcome("/s/0.md", "duplicate", again.id, "/s/1.md")
        # and any spelling of a URL finds its story
        assert (await find_article(store, "https://bücher.example/a/")).id == idn_c.id
        assert (await find_article(store, "https://e.org/café")).id == accent.id
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_a_story_withdrawn_after_it_was_queued_is_not_claimed(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    first, second = (make_article(url=f"https://example.com/{n}") for n in (1, 2))
    await store.apply_load([parsed("/s/1.md", first), parsed("/s/2.md", second)])
    queued = [i.article.id for i in await store.next_for_channel(RouteFilter(CHANNEL), 2)]
    assert sorted(queued) == sorted([first.id, second.id])
    # while the run sends the first, a load withdraws the second (its file was deleted)
    await store.forget_files(["/s/2.md"])
    assert await store.withdraw_orphans() == 1

    assert (await store.claim(first.id, CHANNEL)).state is DeliveryState.SENDING
    assert await store.claim(second.id, CHANNEL) is None
    assert await store.delivery(second.id, CHANNEL) is None


async def test_queue_length_counts_what_next_for_channel_returns(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    stories = [
        make_article(url=f"https://example.com/{n}", quality=90 - n, topics=("AI",))
        for n in range(6)
    ]
    await store.apply_load([parsed(f"/s/{n}.md", a) for n, a in enumerate(stories)])
    await store.pin(CHANNEL, stories[5].id, None, None)
    await store.set_delivery(stories[0].id, CHANNEL, DeliveryState.SENT, message_id=1)
    await store.set_delivery(stories[1].id, CHANNEL, DeliveryState.SKIPPED)
    route = RouteFilter(channel_id=CHANNEL, topics=("ai",))
    for limit in (1, 2, 4, 10):
        queue = await store.next_for_channel(route, limit)
        assert await store.queue_length(route, limit) == len(queue)
    assert await store.queue_length(route, 10) == 4  # one pinned, three ranked
    assert await store.queue_length(RouteFilter(channel_id=CHANNEL, min_quality=89), 10) == 1


async def test_a_story_with_no_free_id_fails_only_its_file(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    # every id length of one URL held by other URLs: stories keep the ids first given
    # to them, so after webUrl corrections the ids of a URL may belong to others
    crowded = canonical_url("https://example.com/crowded")
    holders = [make_article(url=f"https://example.com/holder-{n}") for n in range(3)]
    await store.apply_load([parsed(f"/h{n}.txt", a) for n, a in enumerate(holders)])
    for holder, length in zip(holders, (8, 12, 16), strict=True):
        await run_sql(
            store,
            "UPDATE articles SET id = ? WHERE canonical_url = ?",
            short_id(crowded, length),
            holder.canonical_url,
        )
    before, after = (make_article(url=f"https://example.com/{n}") for n in ("a", "b"))
    outcomes = await store.apply_load(
        [
            parsed("/a.txt", before),
            parsed("/crowded.txt", make_article(url="https://example.com/crowded")),
            parsed("/b.txt", after),
        ]
    )
    reason = f"the store refused it: no free id for {crowded}"
    assert outcomes == [
        LoadOutcome("/a.txt", "loaded", before.id),
        LoadOutcome("/crowded.txt", "rejected", None, reason),
        LoadOutcome("/b.txt", "loaded", after.id),
    ]


# --------------------------------------------------------------------------- title index


async def titled_rowids(sqlite_store: SQLiteStore, word: str) -> list[int]:
    rows = await sqlite_store._all(
        "SELECT rowid FROM titles_fts WHERE titles_fts MATCH ? ORDER BY rowid", (f"title : {word}",)
    )
    return [rowid for (rowid,) in rows]


async def rowid_of(sqlite_store: SQLiteStore, article: Article) -> int:
    return int(
        (await sqlite_store._one("SELECT rowid FROM articles WHERE id = ?", (article.id,)))[0]
    )


async def test_the_title_index_follows_edits_withdrawals_and_returns(
    sqlite_store: SQLiteStore, make_article: MakeArticle
) -> None:
    """Migration 15's titles_fts holds no text: an edit or a withdrawal must take the old
    title out of it, or an old title word would still put a story among the titled ones."""
    rockets = make_article(url="https://e.org/x", title="Alpha rockets", quality=90)
    moons = make_article(url="https://e.org/y", title="Alpha moons", quality=40)
    beta = make_article(url="https://e.org/z", title="Beta alpha", quality=60)
    files = {"/s/x.md": rockets, "/s/y.md": moons, "/s/z.md": beta}
    await sqlite_store.apply_load([parsed(p, a) for p, a in files.items()])
    assert await sqlite_store.search("alpha") == ([rockets, beta, moons], 3)

    edited = dataclasses.replace(rockets, title="Rockets again", excerpt="alpha inside")
    await sqlite_store.apply_load([parsed("/s/x.md", edited, sha="sha-2")])
    assert await sqlite_store.search("alpha") == ([beta, moons, edited], 3)
    assert await sqlite_store.complete_articles("alph") == headlines(beta, moons)
    assert await sqlite_store.complete_articles("rockets ag") == headlines(edited)
    assert await titled_rowids(sqlite_store, "alpha") == [await rowid_of(sqlite_store, moons),
                                                   await rowid_of(sqlite_store, beta)]  # fmt: skip

    await sqlite_store.forget_files(["/s/z.md"])
    assert await sqlite_store.withdraw_orphans() == 1
    assert await sqlite_store.search("alpha") == ([moons, edited], 2)
    assert await sqlite_store.complete_articles("alph") == headlines(moons)
    assert await sqlite_store.search("beta") == ([], 0)
    assert await titled_rowids(sqlite_store, "beta") == []

    await sqlite_store.apply_load([parsed("/s/z.md", beta)])  # its file is back
    assert await sqlite_store.search("alpha") == ([beta, moons, edited], 3)
    assert await sqlite_store.complete_articles("alph") == headlines(beta, moons)
    assert await titled_rowids(sqlite_store, "beta") == [await rowid_of(sqlite_store, beta)]
    assert await titled_rowids(sqlite_store, "rockets") == [await rowid_of(sqlite_store, edited)]


async def test_migration_15_indexes_the_titles_of_the_stories_searched(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    from bot.curation.ranking import rank_key
    from bot.store.records import COUNT_LIMIT

    path = tmp_path / "v14.db"
    # more "omega" stories than COUNT_LIMIT: the titled part is read from the new index
    stories = [
        make_article(
            url=f"https://e.org/{n}", title=f"Story {n}" + (" omega" if n % 3 else ""),
            excerpt="" if n % 3 else "omega", quality=(n * 37) % 101,
            topics=("AI",) if n % 2 else ("Space",),
        )
        for n in range(COUNT_LIMIT + 200)
    ]  # fmt: skip
    gone = make_article(url="https://e.org/gone", title="Gone omega", quality=100)
    store = await SQLiteStore.open(str(path))
    await store.apply_load([parsed(f"/s/{n}.md", a) for n, a in enumerate([*stories, gone])])
    await store.forget_files([f"/s/{len(stories)}.md"])
    assert await store.withdraw_orphans() == 1
    expected = {
        (query, topic, offset): await store.search(query, topic, limit=20, offset=offset)
        for query in ("omega", "omega story")
        for topic in (None, "AI")
        for offset in (0, 790, 795)
    }
    completions = await store.complete_articles("story omeg")
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to version 14: no title index
        db.execute("DROP TABLE titles_fts")
        rewind(db, 14)
        db.commit()

    store = await SQLiteStore.open(str(path))
    try:
        titled = [await rowid_of(store, a) for a in stories if "omega" in a.title]
        assert await titled_rowids(store, "omega") == titled  # not the withdrawn story's
        ai = await store._all(
            "SELECT rowid FROM titles_fts WHERE titles_fts MATCH ? ORDER BY rowid",
            (f'tags : "{topic_tag("ai")}" AND title : omega',),
        )
        assert [r for (r,) in ai] == [
            await rowid_of(store, a) for a in stories if "omega" in a.title and "AI" in a.topics
        ]
        for (query, topic, offset), page in expected.items():
            assert await store.search(query, topic, limit=20, offset=offset) == page
        ranked = sorted(stories, key=lambda a: ("omega" not in a.title, rank_key(a)))
        assert expected[("omega", None, 0)] == (ranked[:20], COUNT_LIMIT + 1)
        assert expected[("omega", None, 790)] == (ranked[790:810], COUNT_LIMIT + 1)
        assert await store.complete_articles("story omeg") == completions
        assert len(completions) == 25
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


async def test_search_words_that_fold_into_the_index_s_own_tokens_match_nothing(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    """Words that cannot be a tag token are matched in every column (no column filter);
    these can, once the tokenizer has folded or split them."""
    from bot.store.sqlite import rank_tag

    story = make_article(title="Plain story", quality=90, topics=("Space",))
    await add(store, story)
    assert await store.search("ŕq090") == ([], 0)  # rq090 without its accent
    assert await store.search("r\u0301q090") == ([], 0)  # the accent as a combining mark
    assert await store.search("RQ090") == ([], 0)
    assert await store.search(f"{topic_tag('space')}_{rank_tag(90)}") == ([], 0)  # a phrase
    assert await store.search(f"plain {rank_tag(90)}") == ([], 0)
    assert await store.search("plain story", "space") == ([story], 1)
    assert await store.search("ŕq090 plain") == ([], 0)


async def test_words_the_tokenizer_splits_are_phrases_in_titles_too(
    store: SQLiteStore, make_article: MakeArticle
) -> None:
    """titles_fts keeps no positions and refuses phrases: a word that is one (foo_bar is
    the phrase foo bar) is matched in titles by articles_fts."""
    titled = make_article(url="https://e.org/t", title="Foo bar news", quality=10)
    apart = make_article(url="https://e.org/a", title="Bar and foo", quality=90)
    excerpt = make_article(url="https://e.org/e", title="News", excerpt="foo bar", quality=50)
    await add(store, titled, apart, excerpt)
    assert await store.search("foo_bar") == ([titled, excerpt], 2)
    assert await store.search("news foo_bar") == ([titled, excerpt], 2)
    assert await store.complete_articles("foo_ba") == headlines(titled)
    assert await store.complete_articles("news foo_b") == headlines(titled)
    assert await store.search("foo bar") == ([apart, titled, excerpt], 3)
    assert await store.complete_articles("bar fo") == headlines(apart, titled)


async def test_migration_16_moves_a_duplicates_owner_out_of_error(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    path = tmp_path / "v15.db"
    story = make_article(url="https://e.org/a")
    store = await SQLiteStore.open(str(path))
    await store.apply_load([parsed("/s/a.md", story), parsed("/s/copy.md", story)])
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to version 15: the owner in error
        rewind(db, 15)
        duplicates = "SELECT path, error FROM files WHERE status = 'duplicate'"
        assert db.execute(duplicates).fetchall() == [("/s/copy.md", "/s/a.md")]

    store = await SQLiteStore.open(str(path))
    try:
        assert (await store.file_index())["/s/copy.md"] == FileRecord(
            "/s/copy.md", 10, 1, "sha-1", story.id, "duplicate", None, "/s/a.md"
        )
        await store.forget_files(["/s/a.md"])  # the owner's duplicates are read again
        assert await store.file_index() == {}
    finally:
        await store.close()


async def test_migration_17_tells_unknown_quality_from_0_at_the_next_load(
    tmp_path: Path, write_article: Callable[..., Path]
) -> None:
    """Before 17 a file without quality was stored with 0. Migration 17 cannot tell those
    from a real 0, so it has the files of stories of quality 0 read again: the next load
    makes the first unknown (same id, same rowid) and keeps the second at 0. A moderator's
    story without a quality is told apart at once: its submitted fields are kept."""
    from bot.ingest.loader import load_paths

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write_article(seeds, "none.md", topics=["Oceans"])  # no quality
    write_article(seeds, "zero.md", quality=0, topics=["Oceans"])
    write_article(seeds, "good.md", quality=70, topics=["Oceans"])
    path = tmp_path / "v16.db"
    store = await SQLiteStore.open(str(path))
    await load_paths(store, [seeds])
    submitted = ParseResult(
        Article(
            "",
            "https://m.example/s",
            "https://m.example/s",
            "Mod story",
            quality=None,
            source="moderator",
        ),
        raw={"url": "https://m.example/s", "title": "Mod story"},
    )
    submitted = dataclasses.replace(
        submitted,
        article=dataclasses.replace(
            submitted.article, id=short_id(canonical_url("https://m.example/s"))
        ),
    )
    mod, _ = await store.add_article(submitted)
    ids = {row[0]: (row[1], row[2]) for row in await store._all(
        "SELECT title, id, rowid FROM articles"
    )}  # fmt: skip
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to version 16: unknown stored as 0
        unknown = "SELECT data, raw FROM articles WHERE quality_unknown = 1"
        for data, raw in db.execute(unknown).fetchall():
            old = json.loads(data) | {"quality": 0}
            stored = StoredArticle.of(old, raw)
            db.execute(
                "UPDATE articles SET quality = 0, data = ?, content_hash = ? WHERE id = ?",
                (stored.data, stored.content_hash, old["id"]),
            )
        db.execute("UPDATE articles_fts SET tags = replace(tags, 'rq050', 'rq000')")
        rewind(db, 16)
        db.commit()

    store = await SQLiteStore.open(str(path))
    try:
        none, zero, good = (ids[f"Story {s}"][0] for s in ("none", "zero", "good"))
        # the moderator's story is unknown at once; the files of 0 wait for their load
        listed = await store.get_articles([none, zero, good, mod.id])
        assert [(a.id, a.quality) for a in listed] == [
            (none, 0), (zero, 0), (good, 70), (mod.id, None)
        ]  # fmt: skip
        records = await store.file_index()
        assert sorted((Path(p).name, r.sha256 == "") for p, r in records.items()) == [
            ("good.md", False), ("none.md", True), ("zero.md", True)
        ]  # fmt: skip
        assert await store.rank_unknown_quality(50) == 1  # the moderator's story, as 50
        report = await load_paths(store, [seeds])
        assert report.summary() == (
            "0 loaded, 1 updated, 2 unchanged, 0 duplicates, 0 rejected, 0 withdrawn"
        )
        listed = await store.get_articles([none, zero, good, mod.id])
        assert [(a.id, a.quality) for a in listed] == [
            (none, None), (zero, 0), (good, 70), (mod.id, None)
        ]  # fmt: skip
        rows = await store._all("SELECT title, id, rowid FROM articles")
        assert {row[0]: (row[1], row[2]) for row in rows} == ids  # ids and rowids kept
        # the unknown one ranks as 50 everywhere: between 70 and 0
        assert [a.id for a in (await store.search("story", "oceans"))[0]] == [good, none, zero]
        assert [i.article.id for i in await store.next_for_channel(RouteFilter(1), 5)] == [
            good, mod.id, none, zero
        ]  # fmt: skip
    finally:
        await store.close()


async def test_search_finds_the_forms_of_a_word_titles_first(
    store: Store, make_article: MakeArticle
) -> None:
    plural = make_article(url="https://e.org/1", title="Help Save Coral Reefs", quality=40)
    single = make_article(url="https://e.org/2", title="Save The Coral Reef", quality=30)
    # better ranked, but the words are only in its excerpt: after the titled ones
    aside = make_article(
        url="https://e.org/3", title="Ocean news", excerpt="coral reefs bleach", quality=90
    )
    other = make_article(url="https://e.org/4", title="Coral Gables votes", quality=95)
    await add(store, plural, single, aside, other)
    for query in ("coral reef", "coral reefs", "CORAL REEFS", "Reef coral"):
        assert await store.search(query) == ([plural, single, aside], 3), query
    assert await store.search("reefer") == ([], 0)  # another word, not a form of "reef"
    # autocomplete: the last word still a prefix, the others whole words in any form
    assert await store.complete_articles("coral reefs") == headlines(plural, single)
    assert await store.complete_articles("coral re") == headlines(plural, single)
    assert await store.complete_articles("reef") == headlines(plural, single)
    # a word typed past its stem ("runni" of "running", indexed as "run"), after another
    running = make_article(url="https://e.org/5", title="Coral is running out", quality=20)
    await add(store, running)
    assert await store.complete_articles("coral runni") == headlines(running)
    assert await store.complete_articles("coral savi") == headlines(plural, single)  # save, saving
    assert await store.complete_articles("coral rover") == []


async def test_migration_17_stems_both_full_text_indexes_keeping_rowids(
    tmp_path: Path, make_article: MakeArticle
) -> None:
    path = tmp_path / "v16.db"
    reefs = make_article(url="https://e.org/1", title="Save Coral Reefs", topics=("Oceans",))
    reef = make_article(url="https://e.org/2", title="Save The Coral Reef", topics=("Oceans",))
    store = await SQLiteStore.open(str(path))
    await store.apply_load([parsed(f"/s/{n}.md", a) for n, a in enumerate([reefs, reef])])
    rowids = [await rowid_of(store, a) for a in (reefs, reef)]
    await store.close()
    with closing(sqlite3.connect(path)) as db:  # back to version 16: unstemmed indexes
        db.executescript(
            "CREATE VIRTUAL TABLE v16 USING fts5 (title, excerpt, topics, provider, tags,"
            " prefix = '2', tokenize = 'unicode61 remove_diacritics 2');"
            "INSERT INTO v16 (rowid, title, excerpt, topics, provider, tags)"
            " SELECT rowid, title, excerpt, topics, provider, tags FROM articles_fts;"
            "DROP TABLE articles_fts; ALTER TABLE v16 RENAME TO articles_fts;"
            "DROP TABLE titles_fts;"
            "CREATE VIRTUAL TABLE titles_fts USING fts5 (title, tags, content = '',"
            " detail = column, columnsize = 0, tokenize = 'unicode61 remove_diacritics 2');"
            "INSERT INTO titles_fts (rowid, title, tags) SELECT rowid, title, tags"
            " FROM articles_fts;"
        )
        rewind(db, 16)
        db.commit()
        assert db.execute("SELECT count(*) FROM titles_fts('title : reef')").fetchone() == (1,)

    store = await SQLiteStore.open(str(path))
    try:
        assert [await rowid_of(store, a) for a in (reefs, reef)] == rowids
        assert await titled_rowids(store, "reef") == rowids
        assert await titled_rowids(store, "reefs") == rowids
        # (equal quality: by id)
        assert await store.search("coral reef", "oceans") == ([reef, reefs], 2)
        assert await store.search("coral reefs", "oceans") == ([reef, reefs], 2)
        automerge = "SELECT v FROM {}_config WHERE k = 'automerge'"
        for table in ("articles_fts", "titles_fts"):
            assert await store._one(automerge.format(table)) == (8,), table
            assert (await store._one(f"SELECT sql FROM sqlite_master WHERE name = '{table}'"))[
                0
            ].count("tokenize = 'porter unicode61 remove_diacritics 2'") == 1
    finally:
        await store.close()


async def test_curation_filters_and_unknown_quality_in_the_queue(
    store: Store, make_article: MakeArticle
) -> None:
    """Words, providers, include_published and unknown quality, on both backends."""

    def story(slug: str, quality: int | None, **fields: Any) -> Article:
        return make_article(url=f"https://news.example.com/{slug}", quality=quality, **fields)

    top = story("top", 90, title="Crypto rally")
    picked = story("picked", 80, published=True)
    mid = story("mid", 60, excerpt="the central bank acts")
    unknown = story("unknown", None, title="Chips")
    low = story("low", 20)
    for article in (top, picked, mid, unknown, low):
        await store.add_article(ParseResult(article))

    async def queued(**fields: Any) -> list[str]:
        flt = RouteFilter(CHANNEL, **fields)
        ids = [i.article.id for i in await store.next_for_channel(flt, 10)]
        assert await store.queue_length(flt, 10) == len(ids)
        assert [a.id for a in await store.review_candidates(flt, 10)] == ids
        return ids

    assert await queued() == [top.id, mid.id, unknown.id, low.id]  # unknown as 50
    assert await queued(include_published=True) == [top.id, picked.id, mid.id, unknown.id, low.id]
    assert await queued(exclude_words=("crypto", "Central Bank")) == [unknown.id, low.id]
    assert await queued(include_words=("chips",)) == [unknown.id]
    assert await queued(exclude_providers=("example.com",)) == []
    assert await queued(min_quality=70) == [top.id, unknown.id]  # unknown passes, after
    assert await queued(min_quality=70, require_quality=True) == [top.id]
    assert await store.rank_unknown_quality(95) == 1
    assert await queued() == [unknown.id, top.id, mid.id, low.id]
    assert await store.rank_unknown_quality(95) == 0
    assert (await store.get_article(unknown.id)) == unknown
