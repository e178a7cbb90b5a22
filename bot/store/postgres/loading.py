"""Loading files and submissions into the PostgreSQL store: COPY into the tables, or into
temporary tables and then one set-based statement per table."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any, Literal

import asyncpg

from bot.curation.events import (
    Ranked,
    pack_keys,
)
from bot.curation.linking import (
    EventPlan,
    plan_merge,
    plan_split,
)
from bot.ingest.planning import (
    FileClaim,
    FileRow,
    NoFreeId,
    StoredStory,
    Update,
    free_id,
    gather,
    plan_load,
    taken_ids,
)
from bot.models import (
    Article,
    ParseResult,
    article_from_dict,
    topic_key,
    topic_keys,
)
from bot.store.event_links import EventLinks
from bot.store.postgres import text
from bot.store.postgres.connection import PostgresBase
from bot.store.records import (
    DeliveryState,
    FileRecord,
    LoadItem,
    LoadOutcome,
    StoredArticle,
    StoreError,
)

_FILE_COLUMNS = "path, size, mtime_ns, sha256, article_id, status, error, owner"
_SENT_OR_SENDING = [DeliveryState.SENT.value, DeliveryState.SENDING.value]
# After a load, a table whose loaded rows reach both of these is analyzed at once, so that
# the next queries are planned on its new contents (autovacuum would do it up to a minute
# later). The share is autovacuum's own default (autovacuum_analyze_scale_factor); the
# floor keeps a reload of a few files from paying for an ANALYZE (a second or so at 100k
# stories), as a few rows do not change a plan.
ANALYZE_SHARE = 0.1
ANALYZE_MIN_ROWS = 1000
# A new story as COPY writes it into articles, and a changed one into load_articles.
_ARTICLE_COLUMNS = (
    "rowid", "id", "canonical_url", "url", "title", "provider", "quality", "heat",
    "published_ts", "published", "source", "source_path", "content_hash", "data", "raw",
    "quality_unknown", "event_keys", "first_seen_ts", "updated_ts",
)  # fmt: skip
# A story's search words as COPY sends them to load_words (text: the server reads each
# column as a tsvector when it writes search_words).
_WORDS_COLUMNS = ("rowid", "quality", "heat", "published_ts", "id", "title_words", "text_words")
# What the events read of a stored story (events.Ranked), then its event's lead.
_RANKED_COLUMNS = "rowid, id, title, quality, heat, published_ts, event_id"


def _now() -> int:
    return int(time.time())


def _row_fault(exc: BaseException) -> bool:
    """Whether a failed batch may owe the failure to one of its rows: a value the server
    or the driver refuses (SQLSTATE classes 22, data, and 23, constraints), or a story
    with no free id. A lost connection or a read-only database fails any part alike."""
    if isinstance(exc, NoFreeId):
        return True
    cause = exc.__cause__ if isinstance(exc, StoreError) else exc
    if isinstance(cause, asyncpg.PostgresError):
        return str(getattr(cause, "sqlstate", ""))[:2] in ("22", "23")
    return isinstance(cause, asyncpg.DataError | OverflowError)


def _article_row(
    article: StoredArticle, path: str | None, rowid: int, rank: int, now: int
) -> tuple[Any, ...]:
    """``rank``: the quality it ranks by (its own, or unknown_quality when it has none)."""
    return (
        rowid, article.id, article.canonical_url, article.url, article.title,
        article.provider, rank, article.heat, article.published_ts, article.published,
        article.source, path, article.content_hash, article.data, article.raw,
        article.quality is None, pack_keys(article.event_keys), now, now,
    )  # fmt: skip


def _words_row(article: StoredArticle, rowid: int, rank: int) -> tuple[Any, ...]:
    return (
        rowid, rank, article.heat, article.published_ts, article.id,
        *text.search_words(article.title, article.excerpt, article.topics, article.provider or ""),
    )  # fmt: skip


class PostgresLoading(EventLinks, PostgresBase):
    """apply_load, add_article, the files' records, and events."""

    def _rank_quality(self, article: StoredArticle) -> int:
        """The quality ``article`` ranks by: its own, or unknown_quality when it has none."""
        return self._unknown_quality if article.quality is None else article.quality

    async def rank_unknown_quality(self, quality: int) -> int:
        """Rank stories of unknown quality as ``quality`` from now on, and re-rank those
        stored under another value (articles, search_words, article_topics), in one
        transaction. Returns how many moved."""
        self._unknown_quality = quality
        async with self._transaction(in_turn=True) as conn:
            rows = await conn.fetch(
                "UPDATE articles SET quality = $1 WHERE quality_unknown AND quality <> $1"
                " RETURNING rowid",
                quality,
            )
            rowids = [row[0] for row in rows]
            if rowids:
                await conn.execute(
                    "UPDATE search_words SET quality = $1 WHERE rowid = ANY($2::bigint[])",
                    quality,
                    rowids,
                )
                await conn.execute(
                    "UPDATE article_topics SET quality = $1"
                    " WHERE article_rowid = ANY($2::bigint[])",
                    quality,
                    rowids,
                )
        return len(rowids)

    # ------------------------------------------------------------------ file records

    async def file_index(self) -> dict[str, FileRecord]:
        rows = await self._fetch(f"SELECT {_FILE_COLUMNS} FROM files")
        return {row[0]: FileRecord(*row) for row in rows}

    async def file_records(self, paths: Sequence[str]) -> dict[str, FileRecord]:
        rows = await self._fetch(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE path = ANY($1::text[])", list(paths)
        )
        return {row[0]: FileRecord(*row) for row in rows}

    async def file_paths_under(
        self, folder: str, after: str = "", limit: int | None = None
    ) -> list[str]:
        base = folder.rstrip("/")
        rows = await self._fetch(
            "SELECT path FROM files WHERE (path = $1 OR (path > $2 AND path < $3)) AND path > $4"
            " ORDER BY path LIMIT $5",
            # "0" sorts right after "/"; LIMIT NULL is no limit
            base, base + "/", base + "0", after, limit,
        )  # fmt: skip
        return [r[0] for r in rows]

    async def forget_files(self, paths: list[str]) -> None:
        if not paths:
            return
        async with self._transaction(in_turn=True):
            await self._execute(
                "INSERT INTO orphans (article_id) SELECT article_id FROM files"
                " WHERE path = ANY($1::text[]) AND status = 'ok' AND article_id IS NOT NULL"
                " ON CONFLICT DO NOTHING",
                paths,
            )
            await self._execute(
                "DELETE FROM files WHERE status = 'duplicate' AND owner = ANY($1::text[])", paths
            )
            await self._execute("DELETE FROM files WHERE path = ANY($1::text[])", paths)

    async def withdraw_orphans(self) -> int:
        """As the protocol says; also, as the loader calls it last, the end of a load:
        the tables the load changed much are analyzed (see ANALYZE_SHARE)."""
        withdrawn = await self._withdraw_orphans()
        await self._analyze_loaded()
        return withdrawn

    async def _analyze_loaded(self) -> None:
        """ANALYZE each table whose rows written by loads since its last ANALYZE here are
        at least ANALYZE_MIN_ROWS and ANALYZE_SHARE of the rows its statistics know."""
        tables = [t for t, n in self._unanalyzed.items() if n >= ANALYZE_MIN_ROWS]
        if not tables:
            return
        known = dict(
            await self._fetch(
                "SELECT relname, greatest(reltuples, 0) FROM pg_class"
                " WHERE oid = ANY($1::text[]::regclass[])",
                tables,
            )
        )
        for table in tables:
            if self._unanalyzed[table] >= ANALYZE_SHARE * float(known.get(table, 0)):
                await self._execute(f"ANALYZE {table}")
                self._unanalyzed[table] = 0
                if table == "search_words":
                    await self._flush_word_indexes()

    async def _flush_word_indexes(self) -> None:
        """Move the entries pending in the words' GIN indexes into the indexes proper. A
        search reads every pending entry, and a load leaves up to gin_pending_list_limit
        (4 MB) of them, which autovacuum moves up to a minute later (ANALYZE does not).
        Only the indexes' owner may: another user's load leaves them to autovacuum."""
        await self._fetch(
            "SELECT gin_clean_pending_list(c.oid) FROM pg_class c"
            " WHERE c.oid = ANY(ARRAY['search_words_text', 'search_words_title']::regclass[])"
            " AND pg_has_role(c.relowner, 'USAGE')"
        )

    def _wrote(self, table: str, rows: int) -> None:
        self._unanalyzed[table] = self._unanalyzed.get(table, 0) + rows

    async def _withdraw_orphans(self) -> int:
        if await self._fetchrow("SELECT 1 FROM orphans LIMIT 1") is None:
            return 0
        try:
            async with self._transaction(in_turn=True):
                rows = await self._fetch(
                    "SELECT a.rowid, a.data FROM orphans o JOIN articles a ON a.id = o.article_id"
                    " WHERE a.source = 'file' AND a.source_path IS NOT NULL"
                    " AND NOT EXISTS (SELECT 1 FROM files f WHERE f.path = a.source_path"
                    "   AND (f.status = 'rejected' OR (f.status = 'ok' AND f.article_id = a.id)))"
                    " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.article_id = a.id"
                    "   AND d.state = ANY($1::text[]))",
                    _SENT_OR_SENDING,
                )
                gone = [(rowid, json.loads(data)["topics"]) for rowid, data in rows]
                await self._withdraw(gone)
                await self._execute("DELETE FROM orphans")
        except StoreError as exc:
            raise StoreError(f"cannot withdraw the stories of deleted files: {exc}") from exc
        return len(gone)

    async def _withdraw(self, stories: list[tuple[int, list[str]]]) -> None:
        """Withdraw these (rowid, topics): out of the search words and the topics; their
        rows stay for their return (an update puts them back)."""
        if not stories:
            return
        await self._execute(
            "UPDATE articles SET source = 'withdrawn' WHERE rowid = ANY($1::bigint[])",
            [rowid for rowid, _ in stories],
        )
        await self._execute(
            "DELETE FROM search_words WHERE rowid = ANY($1::bigint[])",
            [rowid for rowid, _ in stories],
        )
        pairs = [(key, rowid) for rowid, topics in stories for key in topic_keys(topics)]
        await self._delete_topics(pairs)
        await self._count_topics([], [topics for _, topics in stories])

    # ------------------------------------------------------------------ planning's reads

    async def stories_by(
        self, column: Literal["id", "canonical_url"], values: Sequence[str]
    ) -> dict[str, StoredStory]:
        """The stored stories (withdrawn ones too) whose ``column`` is among ``values``,
        keyed by it (planning's :class:`~bot.ingest.planning.StoryReader`)."""
        assert column in ("id", "canonical_url")
        if not values:
            return {}
        rows = await self._fetch(
            "SELECT rowid, id, canonical_url, source_path, content_hash, data,"
            f" source = 'withdrawn' FROM articles WHERE {column} = ANY($1::text[])",
            list(values),
        )
        found: dict[str, StoredStory] = {}
        for key, ident, url, path, digest, data, withdrawn in rows:
            found[ident if column == "id" else url] = StoredStory(
                key, ident, url, path, digest, data, withdrawn
            )
        return found

    async def file_claims(self, paths: Sequence[str]) -> dict[str, FileClaim]:
        rows = await self._fetch(
            "SELECT path, status, article_id FROM files WHERE path = ANY($1::text[])", list(paths)
        )
        return {path: FileClaim(status, ident) for path, status, ident in rows}

    # ------------------------------------------------------------------ apply_load

    async def apply_load(self, items: list[LoadItem]) -> list[LoadOutcome]:
        """As the SQLite store's: one transaction, in turn with other loads; a batch the
        store refuses for a row is stored again in halves down to the files at fault."""
        try:
            return await self._apply_batch(items)
        except (StoreError, OverflowError) as exc:
            if not _row_fault(exc):
                raise
            return await self._apply_halves(items, exc)

    async def _apply_halves(self, items: list[LoadItem], error: Exception) -> list[LoadOutcome]:
        if len(items) == 1:
            return await self._reject_refused(items[0], error)
        middle = len(items) // 2
        outcomes: list[LoadOutcome] = []
        for part in (items[:middle], items[middle:]):
            try:
                outcomes += await self._apply_batch(part)
            except (StoreError, OverflowError) as exc:
                if not _row_fault(exc):
                    raise
                outcomes += await self._apply_halves(part, exc)
        return outcomes

    async def _reject_refused(self, item: LoadItem, error: Exception) -> list[LoadOutcome]:
        reason = f"the store refused it: {error.__cause__ or error}"
        rejected = item._replace(article=None, error=reason, warnings=())
        try:
            return await self._apply_batch([rejected])
        except (StoreError, OverflowError) as exc:
            if not _row_fault(exc):
                raise
            return [LoadOutcome(item.path, "rejected", None, reason)]

    async def _apply_batch(self, items: list[LoadItem]) -> list[LoadOutcome]:
        try:
            async with self._transaction(in_turn=True):
                plan = plan_load(items, await gather(self, items))
                merged = await self._write_rows(
                    _now(), plan.inserts, plan.updates, plan.files, plan.touched
                )
                released = await self._release_duplicates(plan.owners_changed, plan.moved)
                await self._edits_needed([o.article_id for o in plan.outcomes if o.post_changed])
        except BaseException as exc:
            # the index may hold what the rolled-back batch wrote: read again next time
            self._event_index = None
            if isinstance(exc, StoreError) and not isinstance(exc, NoFreeId):
                failure = f"cannot store the loaded articles: {exc}"
                raise StoreError(failure) from (exc.__cause__ or exc)
            raise
        outcomes = plan.outcomes
        if merged:
            outcomes = [
                dataclasses.replace(o, merged_into=merged[o.article_id])
                if o.article_id in merged and o.status in ("loaded", "updated")
                else o
                for o in outcomes
            ]
        if not released:
            return outcomes
        return [
            dataclasses.replace(o, released=tuple(released[o.path])) if o.path in released else o
            for o in outcomes
        ]

    async def _edits_needed(self, article_ids: list[str | None]) -> None:
        ids = [i for i in article_ids if i]
        if ids:
            await self._execute(
                "INSERT INTO post_edits (article_id, channel_id)"
                " SELECT article_id, channel_id FROM deliveries"
                " WHERE article_id = ANY($1::text[]) AND state = ANY($2::text[])"
                " ON CONFLICT DO NOTHING",
                ids,
                _SENT_OR_SENDING,
            )

    async def _release_duplicates(
        self, owners: list[str], moved: list[str]
    ) -> dict[str, list[str]]:
        released: dict[str, list[str]] = {}
        if not owners:
            return released
        rows = await self._fetch(
            "SELECT d.path, d.owner FROM files d"
            " WHERE d.status = 'duplicate' AND d.owner = ANY($1::text[])"
            " AND (d.article_id = ANY($2::text[]) OR NOT coalesce(("
            "SELECT o.status = 'rejected' OR (o.status = 'ok' AND o.article_id = d.article_id)"
            " FROM files o WHERE o.path = d.owner), false))",
            owners,
            moved,
        )
        for path, owner in rows:
            released.setdefault(owner, []).append(path)
        paths = [path for found in released.values() for path in found]
        if paths:
            await self._execute("DELETE FROM files WHERE path = ANY($1::text[])", paths)
        return released

    async def _write_rows(
        self,
        now: int,
        inserts: list[tuple[StoredArticle, str | None]],
        updates: Sequence[Update],
        file_rows: Sequence[FileRow],
        touched: Sequence[tuple[int, int, str]],
    ) -> dict[str, str]:
        """Write a batch inside a transaction: new stories COPY straight into articles, changed
        ones and every story's search words COPY into temporary tables, then a statement per
        table. Returns the stories written that are now in another's event: id → lead."""
        conn = self._connection()
        rowids: list[int] = []
        if inserts:
            rowids = [
                r[0]
                for r in await conn.fetch(
                    "SELECT nextval(pg_get_serial_sequence('articles', 'rowid'))"
                    " FROM generate_series(1, $1)",
                    len(inserts),
                )
            ]
            rowids.sort()
        new = [(rowid, a, path) for rowid, (a, path) in zip(rowids, inserts, strict=True)]
        latest: dict[int, Update] = {}
        for update in updates:
            latest[update.key] = update  # (one story updated twice in a batch: the last)
        rank = self._rank_quality
        if new:
            # straight into the table: a story's JSON written once, as it is stored
            await conn.copy_records_to_table(
                "articles",
                records=[_article_row(a, path, rowid, rank(a), now) for rowid, a, path in new],
                columns=_ARTICLE_COLUMNS,
            )
        # what the updated stories were filed under, for the event index of this load
        formerly: list[tuple[int, int | None, bytes | None]] = []
        if latest and self._event_index is not None:
            formerly = [
                (r[0], r[1], r[2])
                for r in await conn.fetch(
                    "SELECT rowid, published_ts, event_keys FROM articles"
                    " WHERE rowid = ANY($1::bigint[])",
                    list(latest),
                )
            ]
        if latest:
            # (stored as articles stores them: no compression to undo on the way)
            await conn.execute(
                "CREATE TEMP TABLE load_articles (rowid bigint, id text, canonical_url text,"
                " url text, title text, provider text, quality integer, heat integer,"
                " published_ts bigint, published boolean, source text, source_path text,"
                " content_hash text, data text, raw text, quality_unknown boolean,"
                " event_keys bytea, first_seen_ts bigint, updated_ts bigint) ON COMMIT DROP;"
                " ALTER TABLE load_articles ALTER COLUMN data SET STORAGE EXTERNAL,"
                " ALTER COLUMN raw SET STORAGE EXTERNAL"
            )
            await conn.copy_records_to_table(
                "load_articles",
                records=[
                    _article_row(u.article, u.path, u.key, rank(u.article), now)
                    for u in latest.values()
                ],
                columns=_ARTICLE_COLUMNS,
            )
            await conn.execute(
                "UPDATE articles a SET canonical_url = l.canonical_url, url = l.url,"
                " title = l.title, provider = l.provider, quality = l.quality, heat = l.heat,"
                " source = CASE WHEN a.source = 'withdrawn' THEN 'file' ELSE a.source END,"
                " published_ts = l.published_ts, updated_ts = l.updated_ts,"
                " published = l.published, source_path = l.source_path,"
                " content_hash = l.content_hash, data = l.data, raw = l.raw,"
                " quality_unknown = l.quality_unknown, event_keys = l.event_keys"
                " FROM load_articles l WHERE a.rowid = l.rowid"
            )
            await self._delete_topics(
                [(key, u.key) for u in latest.values() for key in topic_keys(u.old_topics)]
            )
        if new or latest:  # every story written is searchable (a withdrawn one back again)
            self._wrote("articles", len(new) + len(latest))
            self._wrote("search_words", len(new) + len(latest))
            await conn.execute(
                "CREATE TEMP TABLE load_words (rowid bigint, quality integer, heat integer,"
                " published_ts bigint, id text, title_words text, text_words text)"
                " ON COMMIT DROP"
            )
            await conn.copy_records_to_table(
                "load_words",
                records=[_words_row(a, rowid, rank(a)) for rowid, a, _ in new]
                + [_words_row(u.article, u.key, rank(u.article)) for u in latest.values()],
                columns=_WORDS_COLUMNS,
            )
            await conn.execute(
                "INSERT INTO search_words (rowid, quality, heat, published_ts, id, title_words,"
                " text_words) SELECT rowid, quality, heat, published_ts, id,"
                " title_words::tsvector, text_words::tsvector FROM load_words"
                " ON CONFLICT (rowid) DO UPDATE SET quality = excluded.quality,"
                " heat = excluded.heat, published_ts = excluded.published_ts, id = excluded.id,"
                " title_words = excluded.title_words, text_words = excluded.text_words"
            )
        fresh = [(rowid, a) for rowid, a, _ in new] + [(u.key, u.article) for u in latest.values()]
        await self._add_topics(fresh)
        await self._count_topics(
            [a.topics for _, a in fresh], [u.old_topics for u in latest.values()]
        )
        files: dict[str, tuple[Any, ...]] = {}
        for f in file_rows:  # (a path twice in a batch: the last record)
            files[f.path] = (f.path, f.size, f.mtime_ns, f.sha256, f.article_id, f.status,
                             f.error, f.owner)  # fmt: skip
        if files:
            await conn.execute(
                "CREATE TEMP TABLE load_files (path text, size bigint, mtime_ns bigint,"
                " sha256 text, article_id text, status text, error text, owner text)"
                " ON COMMIT DROP"
            )
            await conn.copy_records_to_table("load_files", records=list(files.values()))
            self._wrote("files", len(files))
            await conn.execute(
                f"INSERT INTO files ({_FILE_COLUMNS}) SELECT {_FILE_COLUMNS} FROM load_files"
                " ON CONFLICT (path) DO UPDATE SET size = excluded.size,"
                " mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256,"
                " article_id = excluded.article_id, status = excluded.status,"
                " error = excluded.error, owner = excluded.owner"
            )
        if touched:
            await conn.execute(
                "UPDATE files f SET size = t.size, mtime_ns = t.mtime_ns"
                " FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS t(size, mtime_ns, path)"
                " WHERE f.path = t.path",
                *(list(column) for column in zip(*touched, strict=True)),
            )
        return await self._link_events(fresh, formerly)

    # ------------------------------------------------------------------ events

    async def _write_event_plan(self, plan: EventPlan) -> None:
        """Store the leads of ``plan``, the pairs kept apart or joined again, and note the
        posts to edit."""
        if plan.leads:
            await self._execute(
                "UPDATE articles a SET event_id = c.lead"
                " FROM unnest($1::text[], $2::text[]) AS c(lead, id) WHERE a.id = c.id",
                [lead for _, lead in plan.leads],
                [i for i, _ in plan.leads],
            )
        if plan.apart:
            await self._executemany(
                "INSERT INTO event_apart (article_id, other_id) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                plan.apart,
            )
        if plan.joined:
            await self._executemany(
                "DELETE FROM event_apart WHERE article_id = $1 AND other_id = $2", plan.joined
            )
        await self._edits_needed(list(plan.edits))

    async def _event_index_checked(self) -> tuple[bool, int]:
        """Whether the event index kept is still current, and the database's version now:
        each write of event keys takes the next value of event_keys_written (in turn with
        the others, so nothing comes between the two), so the index is current when this
        one follows the value this store's last write took."""
        version = int(await self._fetchval("SELECT nextval('event_keys_written')"))
        return version == self._event_index_version + 1, version

    async def _stored_event_keys(self) -> AsyncIterator[Sequence[tuple[int, int | None, bytes]]]:
        """The stored stories' event keys (rowid, publication time, packed keys), in
        chunks. Unlike SQLite's (migration 21), no PostgreSQL database holds stories stored
        before events: its migration 5 came before the backend's first release, so every
        story here was written with its keys and none needs a backfill."""
        cursor = await self._connection().cursor(
            "SELECT rowid, published_ts, event_keys FROM articles"
            " WHERE event_keys IS NOT NULL AND source <> 'withdrawn'"
        )
        while rows := await cursor.fetch(10_000):
            yield rows

    async def _apart(self, ids: Sequence[str]) -> set[frozenset[str]]:
        """The pairs split by a moderator that hold one of ``ids``."""
        rows = await self._fetch(
            "SELECT article_id, other_id FROM event_apart WHERE article_id = ANY($1::text[])"
            " UNION SELECT article_id, other_id FROM event_apart WHERE other_id = ANY($1::text[])",
            list(ids),
        )
        return {frozenset(row) for row in rows}

    async def split_event(self, article_id: str) -> list[str]:
        """Take a story out of its event for good: it is kept apart from each other story
        of the event (no load joins them again), and the others keep their event, led by
        the best-ranked of them. Posted messages of the event are noted for an edit.
        Returns the ids it was split from, best first (empty: it was alone)."""
        async with self._transaction(in_turn=True):
            rows = await self._fetch(
                "SELECT m.rowid FROM articles a JOIN articles m ON m.event_id = a.event_id"
                " WHERE a.id = $1 AND a.event_id IS NOT NULL",
                article_id,
            )
            stories = await self._event_stories({r[0] for r in rows})
            others, plan = plan_split(article_id, stories)
            await self._write_event_plan(plan)
        return others

    async def merge_events(self, article_id: str, other_id: str) -> str:
        """Put two stories, and the events they are in, in one event for good (a split
        between any of them is forgotten). Posted messages of the event are noted for an
        edit. Returns the lead's id."""
        async with self._transaction(in_turn=True):
            rows = await self._fetch(
                "SELECT m.rowid FROM articles a JOIN articles m"
                " ON m.id = a.id OR (a.event_id IS NOT NULL AND m.event_id = a.event_id)"
                " WHERE a.id IN ($1, $2) AND a.source <> 'withdrawn'",
                article_id,
                other_id,
            )
            stories = await self._event_stories({r[0] for r in rows})
            lead, plan = plan_merge(article_id, stories)
            await self._write_event_plan(plan)
        return lead

    async def _event_stories(self, rowids: set[int]) -> dict[int, tuple[Ranked, str | None]]:
        """These stories (withdrawn ones left out) and every story of their events, by
        rowid: each as the events read it, with its event's lead."""
        found: dict[int, tuple[Ranked, str | None]] = {}
        rows = await self._fetch(
            f"SELECT {_RANKED_COLUMNS} FROM articles WHERE rowid = ANY($1::bigint[])"
            " AND source <> 'withdrawn'",
            sorted(rowids),
        )
        for rowid, *ranked, event in rows:
            found[rowid] = (Ranked(*ranked), event)
        events = sorted({event for _, event in found.values() if event is not None})
        if events:
            rows = await self._fetch(
                f"SELECT {_RANKED_COLUMNS} FROM articles WHERE event_id = ANY($1::text[])",
                events,
            )
            for rowid, *ranked, event in rows:
                found[rowid] = (Ranked(*ranked), event)
        return found

    async def _delete_topics(self, pairs: list[tuple[str, int]]) -> None:
        """Delete these (key, rowid) topic rows."""
        if pairs:
            keys, rowids = zip(*pairs, strict=True)
            await self._execute(
                "DELETE FROM article_topics t USING unnest($1::text[], $2::bigint[])"
                " AS o(key, rowid) WHERE t.key = o.key AND t.article_rowid = o.rowid",
                list(keys),
                list(rowids),
            )

    async def _add_topics(self, fresh: list[tuple[int, StoredArticle]]) -> None:
        """Each (rowid, article)'s topic rows: one per key, the first spelling's."""
        rows: dict[tuple[str, int], tuple[Any, ...]] = {}
        for rowid, a in fresh:
            for name in a.topics:
                key = topic_key(name)
                rows.setdefault(
                    (key, rowid),
                    (rowid, key, name, self._rank_quality(a), a.heat, a.published_ts, a.id),
                )
        if rows:
            self._wrote("article_topics", len(rows))
            await self._connection().copy_records_to_table(
                "article_topics",
                records=list(rows.values()),
                columns=(
                    "article_rowid", "key", "name", "quality", "heat", "published_ts",
                    "article_id",
                ),
            )  # fmt: skip

    async def _count_topics(self, added: list[Sequence[str]], removed: list[Sequence[str]]) -> None:
        """Keep topic_stats current: +1 per topic of a new version, -1 per old one."""
        delta: dict[str, int] = {}
        names: dict[str, str] = {}
        for topics, sign in [(t, 1) for t in added] + [(t, -1) for t in removed]:
            for key, topic in topic_keys(topics).items():
                delta[key] = delta.get(key, 0) + sign
                names.setdefault(key, topic)
        changes = [(key, names[key], n) for key, n in sorted(delta.items()) if n]
        if not changes:
            return
        keys, spellings, counts = zip(*changes, strict=True)
        await self._execute(
            "INSERT INTO topic_stats (key, name, articles)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::integer[])"
            " ON CONFLICT (key) DO UPDATE SET articles = topic_stats.articles + excluded.articles",
            list(keys),
            list(spellings),
            list(counts),
        )
        await self._execute("DELETE FROM topic_stats WHERE articles <= 0")

    # ------------------------------------------------------------------ submissions

    async def add_article(
        self, result: ParseResult, channels: Collection[int] | None = None
    ) -> tuple[Article, bool]:
        article = StoredArticle.from_result(result)
        async with self._transaction(in_turn=True):
            existing = await self.stories_by("canonical_url", [article.canonical_url])
            row = existing.get(article.canonical_url)
            if row is not None and not row.withdrawn:
                if channels is not None:
                    await self._execute(
                        "INSERT INTO submitted_channels (article_id, channel_id)"
                        " SELECT s.article_id, c FROM submitted_stories s,"
                        " unnest($2::bigint[]) AS c WHERE s.article_id = $1"
                        " ON CONFLICT DO NOTHING",
                        row.id,
                        sorted(set(channels)),
                    )
                return article_from_dict(json.loads(row.data)), False
            if row is not None:  # withdrawn: the moderator's story takes its id and history
                article = article.with_id(row.id)
                await self._write_rows(_now(), [], [Update(article, None, row.key, [])], [], ())
                await self._execute(
                    "UPDATE articles SET source = $1 WHERE rowid = $2", article.source, row.key
                )
            else:
                article = free_id(article, await taken_ids(self, [article]))
                await self._write_rows(_now(), [(article, None)], [], [], ())
            self.end_load()  # one story: the index is not worth keeping
            if channels is not None:
                await self._execute(
                    "INSERT INTO submitted_stories (article_id) VALUES ($1) ON CONFLICT DO NOTHING",
                    article.id,
                )
                await self._execute(
                    "INSERT INTO submitted_channels (article_id, channel_id)"
                    " SELECT $1, c FROM unnest($2::bigint[]) AS c ON CONFLICT DO NOTHING",
                    article.id,
                    sorted(set(channels)),
                )
        return article.to_article(), True

    async def submitted_for(self, article_id: str) -> frozenset[int] | None:
        rows = await self._fetch(
            "SELECT c.channel_id FROM submitted_stories s LEFT JOIN submitted_channels c"
            " ON c.article_id = s.article_id WHERE s.article_id = $1",
            article_id,
        )
        if not rows:
            return None
        return frozenset(r[0] for r in rows if r[0] is not None)
