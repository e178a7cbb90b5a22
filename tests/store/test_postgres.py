"""What only the PostgreSQL store has: its schema table, its connections and
transactions, snapshots in a schema, the refusal to back up, URLs with passwords. The
Store protocol's behaviour is tested on both backends in test_store.py."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.ingest.loader import load_paths
from bot.models import Article, ParseResult
from bot.store import (
    DeliveryState,
    LoadItem,
    LoadOutcome,
    QueueItem,
    RouteFilter,
    RouteState,
    StoredArticle,
    StoreError,
    open_store,
)
from bot.store.postgres import PostgresStore, redact
from bot.store.postgres.connection import latest_schema
from tests.store.schema_support import rewind_postgres

MakeArticle = Callable[..., Article]


def parsed(path: str, article: Article) -> LoadItem:
    return LoadItem(path, 10, 1, "sha-1", StoredArticle.from_result(ParseResult(article)))


@pytest.fixture
async def store(postgres_url: str) -> AsyncIterator[PostgresStore]:
    opened = await PostgresStore.open(postgres_url)
    yield opened
    await opened.close()


async def admin(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_the_schema_version_is_kept_in_a_table_and_migrations_run_once(
    new_postgres_database: str,
) -> None:
    # two processes opening one new database: the second waits and finds the work done
    first, second = await asyncio.gather(
        PostgresStore.open(new_postgres_database), PostgresStore.open(new_postgres_database)
    )
    await first.close()
    await second.close()
    assert await admin(new_postgres_database, "SELECT version FROM newsdesk_schema") == (
        latest_schema()
    )
    assert await admin(new_postgres_database, "SELECT count(*) FROM newsdesk_schema") == 1


async def test_a_database_of_a_newer_newsdesk_is_refused(new_postgres_database: str) -> None:
    await admin(
        new_postgres_database, f"UPDATE newsdesk_schema SET version = {latest_schema() + 1}"
    )
    with pytest.raises(StoreError) as caught:
        await PostgresStore.open(new_postgres_database)
    assert str(caught.value) == (
        f"cannot open the database {new_postgres_database}: its schema is version"
        f" {latest_schema() + 1}, and this Newsdesk knows versions up to {latest_schema()}:"
        " run the newer Newsdesk that wrote it"
    )


async def test_read_only_never_creates_the_schema(new_postgres_database: str) -> None:
    await admin(new_postgres_database, "DROP TABLE newsdesk_schema")
    with pytest.raises(StoreError, match="it holds no Newsdesk data: run `newsdesk load` first"):
        await open_store(new_postgres_database, read_only=True)
    exists = "SELECT to_regclass('newsdesk_schema') IS NOT NULL"
    assert await admin(new_postgres_database, exists) is False


async def test_a_url_s_password_never_shows_in_an_error() -> None:
    url = "postgresql://newsdesk:s3cret-word@127.0.0.1:1/newsdesk"  # nothing listens there
    assert redact(url) == "postgresql://newsdesk:***@127.0.0.1:1/newsdesk"
    with pytest.raises(StoreError) as caught:
        await open_store(url)
    assert str(caught.value).startswith(
        "cannot open the database postgresql://newsdesk:***@127.0.0.1:1/newsdesk: "
    )
    assert "s3cret" not in str(caught.value)


async def test_one_run_lock_per_database_released_when_its_holder_closes(
    postgres_url: str,
) -> None:
    first, second = await PostgresStore.open(postgres_url), await PostgresStore.open(postgres_url)
    try:
        assert await first.hold_run_lock() is None
        assert await second.hold_run_lock() == f"newsdesk run pid {os.getpid()}"
        await first.close()
        assert await second.hold_run_lock() is None
    finally:
        await first.close()
        await second.close()


async def test_backup_is_refused_with_the_tool_to_use(store: PostgresStore) -> None:
    with pytest.raises(StoreError) as caught:
        await store.backup("/tmp/newsdesk-backup.db")
    assert str(caught.value) == (
        f"cannot back up to /tmp/newsdesk-backup.db: this store is PostgreSQL ({store.path});"
        " use pg_dump (for example `pg_dump --format=custom --file=FILE URL`), which takes a"
        " consistent copy while the bot runs"
    )


async def test_a_snapshot_is_a_separate_copy_dropped_on_close(
    store: PostgresStore, make_article: MakeArticle, postgres_url: str
) -> None:
    article = make_article(topics=("AI",))
    await store.add_article(ParseResult(article))
    await store.audit("pin", "ok", actor_id=1)
    copy = await store.snapshot()
    assert copy.schema.startswith("newsdesk_snapshot_")
    assert await copy.get_article(article.id) == article
    assert await copy.search("story") == ([article], 1)
    assert [e.action for e in await copy.audit_log()] == ["pin"]

    await copy.set_delivery(article.id, 7, DeliveryState.SENT, message_id=1)
    other = make_article(url="https://example.com/other", title="Other")
    await copy.add_article(ParseResult(other))  # its ids go on from the original's
    await copy.audit("skip", "ok")
    assert await store.delivery(article.id, 7) is None
    assert await store.get_article(other.id) is None
    assert (await copy.delivery(article.id, 7)).state is DeliveryState.SENT  # type: ignore[union-attr]
    assert [e.id for e in await copy.audit_log()] == [2, 1]

    await copy.close()
    schemas = f"SELECT count(*) FROM pg_namespace WHERE nspname = '{copy.schema}'"
    assert await admin(postgres_url, schemas) == 0
    assert await store.get_article(article.id) == article


async def test_a_snapshot_copies_the_digests_and_their_ids_go_on(
    store: PostgresStore, make_article: MakeArticle
) -> None:
    made = [make_article(url=f"https://example.com/{n}", title=f"Story {n}") for n in range(3)]
    for article in made:
        await store.add_article(ParseResult(article))
    digest = await store.claim_digest(7, [made[0].id, made[1].id])
    assert digest is not None
    copy = await store.snapshot()
    try:
        assert await copy.digests() == [digest]  # in flight: a dry run does not claim anew
        assert await copy.claim(made[0].id, 7) is None
        other = await copy.claim_digest(8, [made[2].id])
        assert other is not None and other.id == digest.id + 1
        assert await store.digests() == [digest]
    finally:
        await copy.close()


async def test_a_row_the_store_refuses_fails_only_its_file(
    store: PostgresStore, make_article: MakeArticle
) -> None:
    small = [make_article(url=f"https://example.com/{n}", title=f"Story {n}") for n in range(4)]
    nul = make_article(
        url="https://example.com/nul", title="a NUL \x00 byte"
    )  # PostgreSQL's text refuses it
    items = [
        parsed("/0.txt", small[0]),
        parsed("/1.txt", small[1]),
        parsed("/nul.txt", nul),
        parsed("/2.txt", small[2]),
        parsed("/3.txt", small[3]),
    ]
    outcomes = await store.apply_load(items)
    reason = outcomes[2].detail
    assert reason is not None and reason.startswith("the store refused it: ")
    assert "0x00" in reason
    assert outcomes == [
        LoadOutcome("/0.txt", "loaded", small[0].id),
        LoadOutcome("/1.txt", "loaded", small[1].id),
        LoadOutcome("/nul.txt", "rejected", None, reason),
        LoadOutcome("/2.txt", "loaded", small[2].id),
        LoadOutcome("/3.txt", "loaded", small[3].id),
    ]
    assert (await store.file_index())["/nul.txt"].status == "rejected"
    assert await store.article_count() == 4


async def test_a_batch_a_read_only_database_refuses_fails_whole_and_at_once(
    new_postgres_database: str, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = [parsed(f"/{n}.txt", make_article(url=f"https://example.com/{n}")) for n in range(8)]
    database = new_postgres_database.rsplit("/", 1)[1]
    await admin(
        new_postgres_database, f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'
    )
    store = await PostgresStore.open(new_postgres_database, read_only=True)
    try:
        tries: list[int] = []
        apply_batch = store._apply_batch

        async def counted(batch: list[LoadItem]) -> list[LoadOutcome]:
            tries.append(len(batch))
            return await apply_batch(batch)

        monkeypatch.setattr(store, "_apply_batch", counted)
        with pytest.raises(StoreError, match="read-only transaction"):
            await store.apply_load(items)
        assert tries == [8]  # not split: every part would fail alike
        assert await store.writable() is False
        assert await store.file_index() == {}
    finally:
        await store.close()


async def test_other_tasks_read_only_what_is_committed_without_waiting(
    store: PostgresStore, make_article: MakeArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = make_article(topics=("AI",))
    halfway, resume = asyncio.Event(), asyncio.Event()

    async def fail_halfway(*args: Any) -> None:  # the rows are written, not committed
        halfway.set()
        await resume.wait()
        raise asyncpg.DiskFullError("could not extend file")

    monkeypatch.setattr(store, "_count_topics", fail_halfway)
    load = asyncio.create_task(store.apply_load([parsed("/a.md", story)]))
    await halfway.wait()
    # a scheduled run and /article meanwhile: answered at once, from what is committed
    assert await store.next_for_channel(RouteFilter(100)) == []
    assert await store.get_article(story.id) is None
    assert not load.done()
    resume.set()
    with pytest.raises(StoreError, match="could not extend file"):
        await load
    assert await store.get_article(story.id) is None


async def test_version_3_adds_route_guilds_and_keeps_the_routes(
    new_postgres_database: str,
) -> None:
    store = await PostgresStore.open(new_postgres_database)
    await store.set_route_state(RouteState(100, paused=True, pause_reason="holiday"))
    await rewind_postgres(store, 2)
    await store.close()
    await admin(new_postgres_database, "DROP TABLE route_guilds")

    store = await PostgresStore.open(new_postgres_database)
    try:
        assert await store.route_state(100) == RouteState(100, paused=True, pause_reason="holiday")
        assert await store.route_guilds() == {}
        await store.set_route_guild(100, 42)
        assert await store.route_guilds() == {100: 42}
    finally:
        await store.close()
    latest = await admin(new_postgres_database, "SELECT version FROM newsdesk_schema")
    assert latest == latest_schema()


async def test_a_big_load_is_analyzed_at_its_end_and_a_small_one_is_not(
    new_postgres_database: str, make_article: MakeArticle
) -> None:
    # autovacuum off here: only the store's own ANALYZE may fill the statistics
    tables = ("articles", "search_words", "article_topics", "files")
    for table in tables:
        await admin(new_postgres_database, f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
    store = await PostgresStore.open(new_postgres_database)

    def items(numbers: range) -> list[LoadItem]:
        return [
            parsed(f"/{n}.txt", make_article(url=f"https://example.com/{n}", topics=["AI"]))
            for n in numbers
        ]

    async def known_rows() -> dict[str, float]:
        return {
            table: await admin(
                new_postgres_database, f"SELECT reltuples FROM pg_class WHERE relname = '{table}'"
            )
            for table in tables
        }

    async def pending_pages() -> list[int]:
        # (cleaning a list is the one way to read its length without an extension)
        return [
            await admin(new_postgres_database, f"SELECT gin_clean_pending_list('{index}')")
            for index in ("search_words_text", "search_words_title")
        ]

    try:
        await store.apply_load(items(range(600)))
        await store.apply_load(items(range(600, 1200)))
        assert await known_rows() == dict.fromkeys(tables, -1.0)  # never analyzed yet
        assert await store.withdraw_orphans() == 0  # a load's last step
        assert await known_rows() == dict.fromkeys(tables, 1200.0)
        # and the words' entries are in their indexes: none left pending for searches
        assert await pending_pages() == [0, 0]
        await store.apply_load(items(range(1200, 1300)))  # under 1,000 rows: no ANALYZE
        await store.withdraw_orphans()
        assert await known_rows() == dict.fromkeys(tables, 1200.0)
    finally:
        await store.close()


async def test_migration_7_puts_each_story_s_topic_tags_among_its_search_words(
    new_postgres_database: str, make_article: MakeArticle
) -> None:
    long_topic = "Ω" * 600  # a key of 1,200 bytes: tagged by its hash
    made = [
        make_article(url="https://example.com/a", title="Rust compiler", topics=("AI", "Rust")),
        make_article(url="https://example.com/b", title="Rust borrow", topics=("Café Culture",)),
        make_article(url="https://example.com/c", title="Rust tooling", topics=(long_topic,)),
        make_article(url="https://example.com/d", title="Rust nothing"),
    ]
    store = await PostgresStore.open(new_postgres_database)
    await store.apply_load([parsed(f"/{n}.txt", a) for n, a in enumerate(made)])
    words_sql = "SELECT id, text_words::text FROM search_words ORDER BY id"
    loaded = await store._fetch(words_sql)
    # the words as version 6 kept them: no tags
    await store._execute(
        "UPDATE search_words SET text_words = ts_delete(text_words, ARRAY(SELECT word"
        " FROM unnest(text_words) AS u(word) WHERE word LIKE 'topic:%' OR word LIKE 'topic#%'))"
    )
    untagged = await store._fetch(words_sql)
    await rewind_postgres(store, 6)
    await store.close()
    assert untagged != loaded

    store = await PostgresStore.open(new_postgres_database)
    try:
        assert await store._fetchval("SELECT version FROM newsdesk_schema") == latest_schema()
        assert await store._fetch(words_sql) == loaded  # as a load writes them
        a, b, c, _ = made
        assert await store.get_articles([x.id for x in made]) == made  # ids kept
        assert await store.search("rust", "ai") == ([a], 1)
        assert await store.search("rust", "cafe culture") == ([b], 1)
        assert await store.search("rust", long_topic.lower()) == ([c], 1)
        assert [x.id for x in (await store.search("rust"))[0]] == sorted(x.id for x in made)
    finally:
        await store.close()


async def test_migration_8_indexes_the_queue_s_age_limit_and_keeps_the_queue(
    new_postgres_database: str, make_article: MakeArticle
) -> None:
    made = [
        make_article(
            url=f"https://example.com/{n}", quality=q, published_at=datetime(2026, n, 1, tzinfo=UTC)
        )
        for n, q in ((1, 90), (2, 40), (3, 70))
    ]
    store = await PostgresStore.open(new_postgres_database)
    await store.apply_load([parsed(f"/{n}.txt", a) for n, a in enumerate(made)])
    route = RouteFilter(7, min_published_ts=int(datetime(2026, 2, 1, tzinfo=UTC).timestamp()))
    before = await store.next_for_channel(route, 5)
    await rewind_postgres(store, 7)
    await store._execute("DROP INDEX IF EXISTS articles_age")
    await store.close()

    store = await PostgresStore.open(new_postgres_database)
    try:
        assert await store._fetchval("SELECT version FROM newsdesk_schema") == latest_schema()
        # (migration 14 puts the quality beside it)
        assert await store._fetch(
            "SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'articles_age%'"
            " AND schemaname = current_schema()"
        ) == [
            (
                f"CREATE INDEX articles_age_quality ON {store.schema}.articles USING btree"
                " (COALESCE(published_ts, first_seen_ts), quality)",
            )
        ]
        assert [i.article.id for i in before] == [made[2].id, made[1].id]
        assert await store.next_for_channel(route, 5) == before
    finally:
        await store.close()


async def test_migration_9_stems_every_story_s_search_words(
    new_postgres_database: str, make_article: MakeArticle
) -> None:
    reefs = make_article(
        url="https://example.com/a", title="Save Coral Reefs", excerpt="Divers are running",
        topics=("Oceans",),
    )  # fmt: skip
    reef = make_article(url="https://example.com/b", title="Save The Coral Reef", topics=("AI",))
    store = await PostgresStore.open(new_postgres_database)
    await store.apply_load([parsed(f"/{n}.txt", a) for n, a in enumerate([reefs, reef])])
    words_sql = "SELECT id, title_words::text, text_words::text FROM search_words ORDER BY id"
    rowids = await store._fetch("SELECT id, rowid FROM articles ORDER BY id")
    loaded = await store._fetch(words_sql)
    # the words as version 8 kept them: folded, not stemmed, tagged with their topics
    await store._execute(
        "UPDATE search_words w SET title_words = to_tsvector('simple', a.title),"
        " text_words = to_tsvector('simple', a.title || ' ' || (a.data::json->>'excerpt'))"
        " || array_to_tsvector(ARRAY(SELECT 'topic:' || t.key FROM article_topics t"
        " WHERE t.article_rowid = w.rowid)) FROM articles a WHERE a.rowid = w.rowid"
    )
    assert await store.search("coral reef") == ([reef], 1)  # "reefs" is another word
    await rewind_postgres(store, 8)
    await store.close()

    store = await PostgresStore.open(new_postgres_database)
    try:
        assert await store._fetchval("SELECT version FROM newsdesk_schema") == latest_schema()
        assert await store._fetch("SELECT id, rowid FROM articles ORDER BY id") == rowids
        assert await store._fetch(words_sql) == loaded  # as a load writes them
        assert [tuple(r) for r in loaded] == sorted(
            [
                (
                    reefs.id,
                    "'coral':2 'reef':3 'save':1",
                    "'ar':7 'coral':2 'diver':6 'ocean':11 'reef':3 'run':8 'save':1"
                    " 'topic:oceans'",
                ),
                (
                    reef.id,
                    "'coral':3 'reef':4 'save':1 'the':2",
                    "'ai':9 'coral':3 'reef':4 'save':1 'the':2 'topic:ai'",
                ),
            ]
        )
        for query in ("coral reef", "coral reefs"):
            assert await store.search(query) == ([reefs, reef], 2), query
        assert await store.search("reef run", "oceans") == ([reefs], 1)
    finally:
        await store.close()


async def test_migration_14_searches_in_one_statement_and_stores_stories_uncompressed(
    new_postgres_database: str, make_article: MakeArticle
) -> None:
    made = [
        make_article(url=f"https://example.com/{n}", title=f"Rust {n}", quality=q, topics=t)
        for n, (q, t) in enumerate([(90, ("AI",)), (40, ("AI", "Rust")), (70, ("Rust",))])
    ]
    store = await PostgresStore.open(new_postgres_database)
    await store.apply_load([parsed(f"/{n}.txt", a) for n, a in enumerate(made)])
    rowids = await store._fetch("SELECT id, rowid FROM articles ORDER BY id")
    await rewind_postgres(store, 13)
    await store.close()

    store = await PostgresStore.open(new_postgres_database)
    try:
        assert await store._fetchval("SELECT version FROM newsdesk_schema") == latest_schema()
        assert await store._fetch("SELECT id, rowid FROM articles ORDER BY id") == rowids
        storage = await store._fetch(
            "SELECT attname, attstorage::text FROM pg_attribute"
            " WHERE attrelid = 'articles'::regclass"
            " AND attname IN ('data', 'raw') ORDER BY attname"
        )
        assert [tuple(row) for row in storage] == [("data", "e"), ("raw", "e")]
        assert await store._fetch(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'articles_age%'"
            " AND schemaname = current_schema()"
        ) == [("articles_age_quality",)]
        assert await store.search("rust") == ([made[0], made[2], made[1]], 3)
        assert await store.search("rust", "ai") == ([made[0], made[1]], 2)
        assert await store.search("rust 2", "ai") == ([], 0)
        assert await store.search("rust", "ai", offset=2) == ([], 2)
    finally:
        await store.close()


async def statements_sent(store: PostgresStore, work: Callable[[], Awaitable[object]]) -> list[str]:
    """The statements ``work`` sends to the server, on any of the store's pooled
    connections (each one logged: the pool opened in full)."""
    sent: list[str] = []
    held = [await store._pool.acquire() for _ in range(store._pool.get_max_size())]
    for conn in held:
        conn.add_query_logger(lambda logged: sent.append(logged.query))
    for conn in held:
        await store._pool.release(conn)
    sent.clear()
    await work()
    return sent


async def test_a_statement_outside_a_transaction_is_one_round_trip(store: PostgresStore) -> None:
    # a connection handed back to the pool is not reset (asyncpg's default sends a
    # statement of its own after each one): the store keeps no session state on them
    assert await statements_sent(store, store.article_count) == [
        "SELECT count(*) FROM search_words"
    ]


async def test_a_search_is_one_statement(store: PostgresStore, make_article: MakeArticle) -> None:
    made = [
        make_article(url=f"https://example.com/{n}", title=f"Rust {n}", topics=("AI",))
        for n in range(3)
    ]
    await store.apply_load([parsed(f"/{n}.txt", a) for n, a in enumerate(made)])
    queries: list[tuple[str, str | None]] = [("rust", None), ("rust 1", "ai"), ("go", None)]
    for query, topic in queries:

        async def search(query: str = query, topic: str | None = topic) -> object:
            return await store.search(query, topic)

        sent = await statements_sent(store, search)
        assert [s.split("(", 1)[0] for s in sent] == ["SELECT _total, _data FROM newsdesk_search"]


async def test_a_route_s_next_story_takes_three_statements(
    store: PostgresStore, make_article: MakeArticle
) -> None:
    made = [make_article(url=f"https://example.com/{n}", quality=n) for n in range(3)]
    await store.apply_load([parsed(f"/{n}.txt", a) for n, a in enumerate(made)])
    route = RouteFilter(7)
    found: list[list[QueueItem]] = []

    async def next_story() -> None:
        found.append(await store.next_for_channel(route, 2))

    sent = await statements_sent(store, next_story)
    assert [a.article.id for a in found[0]] == [made[2].id, made[1].id]
    # the pins (none: no read of their stories), the route's stories, their events'
    assert [s.split(" FROM ", 1)[0] for s in sent] == [
        "SELECT q.article_id, q.position",
        "SELECT a.data",
        "SELECT a.id, m.data",
    ]


async def test_load_paths_loads_a_folder_into_postgresql(
    store: PostgresStore, tmp_path: Path, write_article: Callable[..., Path]
) -> None:
    for n in range(3):
        write_article(tmp_path, f"{n}.md", topics=["AI"])
    report = await load_paths(store, [tmp_path])
    assert (report.counts["loaded"], report.counts["withdrawn"]) == (3, 0)
    assert await store.article_count() == 3


async def test_sharded_runs_share_the_run_lock_and_keep_an_unsharded_one_out(
    postgres_url: str,
) -> None:
    first, second, alone = [await PostgresStore.open(postgres_url) for _ in range(3)]
    try:
        assert await first.hold_run_lock(shared=True) is None
        assert await second.hold_run_lock(shared=True) is None
        assert await alone.hold_run_lock() == f"newsdesk run pid {os.getpid()}"
        await first.close()
        await second.close()
        assert await alone.hold_run_lock() is None
        late = await PostgresStore.open(postgres_url)
        try:
            assert await late.hold_run_lock(shared=True) == f"newsdesk run pid {os.getpid()}"
        finally:
            await late.close()
    finally:
        for store in (first, second, alone):
            await store.close()
