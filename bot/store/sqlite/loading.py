"""Loading into the SQLite store: files and stories written as planned by
:mod:`bot.ingest.planning`, withdrawals, moderators' submissions."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, cast

from bot.curation.events import (
    Ranked,
    pack_keys,
    unpack_keys,
    wanted_keys,
)
from bot.curation.linking import (
    EventPlan,
    Filed,
    link_events,
    plan_merge,
    plan_split,
)
from bot.ingest.planning import (
    FileClaim,
    FileRow,
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
from bot.store.records import (
    DeliveryState,
    FileRecord,
    LoadItem,
    LoadOutcome,
    StoredArticle,
    StoreError,
)
from bot.store.sqlite.common import (
    _BIG_WRITE,
    _DRIVER_ERRORS,
    _WRITE_CACHE_KIB,
    _chunks,
    _marks,
    _now,
    _row_fault,
    _write_failure,
    rank_tag,
    topic_tag,
)
from bot.store.sqlite.connection import Connection

_RANK_TAG = re.compile(r"\brq[0-9]{3}\b")  # rank_tag's token among a story's tags


class Loading(EventLinks, Connection):
    """Files, the stories they give, and their indexes."""

    # ------------------------------------------------------------------ files and loading

    async def file_index(self) -> dict[str, FileRecord]:
        rows = await self._all(
            "SELECT path, size, mtime_ns, sha256, article_id, status, error, owner FROM files"
        )
        return {row[0]: FileRecord(*row) for row in rows}

    async def file_records(self, paths: Sequence[str]) -> dict[str, FileRecord]:
        """The records of those of ``paths`` that are known."""
        found: dict[str, FileRecord] = {}
        for chunk in _chunks(paths):
            rows = await self._all(
                "SELECT path, size, mtime_ns, sha256, article_id, status, error, owner"
                f" FROM files WHERE path IN ({_marks(len(chunk))})",
                tuple(chunk),
            )
            found.update((row[0], FileRecord(*row)) for row in rows)
        return found

    async def file_paths_under(
        self, folder: str, after: str = "", limit: int | None = None
    ) -> list[str]:
        """Known file paths below ``folder`` (or equal to it) sorting after ``after``, in
        path order, at most ``limit``: a large index is read a page at a time."""
        base = folder.rstrip("/")
        rows = await self._all(
            "SELECT path FROM files WHERE (path = ? OR (path > ? AND path < ?)) AND path > ?"
            " ORDER BY path LIMIT ?",
            # "0" sorts right after "/"; LIMIT -1 is no limit
            (base, base + "/", base + "0", after, -1 if limit is None else limit),
        )
        return [r[0] for r in rows]

    async def forget_files(self, paths: list[str]) -> None:
        """Forget these files, and the duplicates kept out by them: those are read again
        (one takes the story over). The stories the files gave are noted as orphans:
        withdraw_orphans withdraws those that no file took over."""
        steps: list[tuple[str, Any]] = []
        for chunk in _chunks(paths):
            marks = _marks(len(chunk))
            steps.append(
                (
                    "INSERT OR IGNORE INTO orphans (article_id) SELECT article_id FROM files"
                    f" WHERE path IN ({marks}) AND status = 'ok' AND article_id IS NOT NULL",
                    tuple(chunk),
                )
            )
            steps.append(
                (
                    "DELETE FROM files INDEXED BY files_duplicates"
                    f" WHERE status = 'duplicate' AND owner IN ({marks})",
                    tuple(chunk),
                )
            )
            steps.append((f"DELETE FROM files WHERE path IN ({marks})", tuple(chunk)))
        if steps:
            await self._transaction(steps)

    async def withdraw_orphans(self) -> int:
        """Withdraw the stories noted by forget_files that no file gives now, that came
        from a file and were never posted (sent or being sent); forget the notes."""
        if await self._one("SELECT 1 FROM orphans LIMIT 1") is None:
            return 0  # (a load that forgot no file takes no write lock)
        async with self._lock:
            try:
                async with self._open_transaction():
                    cursor = await self._db.execute(
                        "SELECT a.rowid, a.data FROM orphans o"
                        " JOIN articles a ON a.id = o.article_id"
                        " WHERE a.source = 'file' AND a.source_path IS NOT NULL"
                        " AND NOT EXISTS (SELECT 1"
                        "   FROM files f WHERE f.path = a.source_path AND (f.status = 'rejected'"
                        "   OR (f.status = 'ok' AND f.article_id = a.id)))"
                        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.article_id = a.id"
                        "   AND d.state IN (?, ?))",
                        (DeliveryState.SENT.value, DeliveryState.SENDING.value),
                    )
                    gone = [
                        (rowid, json.loads(data)["topics"])
                        for rowid, data in await cursor.fetchall()
                    ]
                    await cursor.close()
                    await self._withdraw(gone)
                    await self._db.execute("DELETE FROM orphans")
            except _DRIVER_ERRORS as exc:
                raise StoreError(f"cannot withdraw the stories of deleted files: {exc}") from exc
        return len(gone)

    async def _withdraw(self, stories: list[tuple[int, list[str]]]) -> None:
        """Withdraw these (rowid, topics): their source becomes 'withdrawn' (it was 'file'),
        they leave the full-text index and the topics, and their rows stay for their
        return (an update puts them back)."""
        db = self._db
        await db.executemany(
            "UPDATE articles SET source = 'withdrawn' WHERE rowid = ?", [(r,) for r, _ in stories]
        )
        await db.executemany(
            "DELETE FROM article_topics WHERE key = ? AND article_rowid = ?",
            [(key, rowid) for rowid, topics in stories for key in topic_keys(topics)],
        )
        await self._unindex([(r,) for r, _ in stories])
        await self._count_topics([], [topics for _, topics in stories])

    async def stories_by(
        self, column: Literal["id", "canonical_url"], values: Sequence[str]
    ) -> dict[str, StoredStory]:
        """The stored stories (withdrawn ones too) whose ``column`` is among ``values``,
        keyed by it (planning's :class:`~bot.ingest.planning.StoryReader`)."""
        found: dict[str, StoredStory] = {}
        for chunk in _chunks(values):
            rows = await self._all(
                "SELECT rowid, id, canonical_url, source_path, content_hash, data,"
                " source = 'withdrawn'"
                f" FROM articles WHERE {column} IN ({_marks(len(chunk))})",
                tuple(chunk),
            )
            for key, ident, url, path, digest, data, withdrawn in rows:
                story = StoredStory(key, ident, url, path, digest, data, bool(withdrawn))
                found[ident if column == "id" else url] = story
        return found

    async def file_claims(self, paths: Sequence[str]) -> dict[str, FileClaim]:
        """The claims of those of ``paths`` that are recorded."""
        found: dict[str, FileClaim] = {}
        for chunk in _chunks(paths):
            rows = await self._all(
                f"SELECT path, status, article_id FROM files WHERE path IN ({_marks(len(chunk))})",
                tuple(chunk),
            )
            found.update((path, FileClaim(status, ident)) for path, status, ident in rows)
        return found

    async def apply_load(self, items: list[LoadItem]) -> list[LoadOutcome]:
        """Store one batch of loaded files atomically and say what became of each.

        The batch is looked up and written in one write transaction: two loads of one
        database (the bot's rescan and ``newsdesk load``) take turns, and the second sees
        what the first stored.

        One file never fails a batch: a batch that the store refuses for a row (a value
        over SQLite's length limit, a constraint…) is rolled back and stored again in
        halves, in order, down to the files at fault, which are recorded as rejected with
        the store's reason. A database that is full, locked or read-only fails every part
        alike: that error is raised at once.
        """
        try:
            return await self._apply_batch(items)
        except (StoreError, OverflowError) as exc:
            if not _row_fault(exc):
                raise
            return await self._apply_halves(items, exc)

    async def _apply_halves(self, items: list[LoadItem], error: Exception) -> list[LoadOutcome]:
        """Store ``items``, which failed with ``error``, in halves: each in its own
        transaction, the second seeing what the first stored, as the whole batch would."""
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
        """The file the store refused: recorded as rejected with the store's reason, so
        that a rescan does not read it again until it changes."""
        reason = f"the store refused it: {error.__cause__ or error}"
        rejected = item._replace(article=None, error=reason, warnings=())
        try:
            return await self._apply_batch([rejected])
        except (StoreError, OverflowError) as exc:
            if not _row_fault(exc):
                raise
            return [LoadOutcome(item.path, "rejected", None, reason)]  # read again next time

    async def _apply_batch(self, items: list[LoadItem]) -> list[LoadOutcome]:
        """:meth:`apply_load` in one transaction, all or nothing."""
        parsed = sum(1 for i in items if i.article is not None)
        async with self._load_transaction(parsed):
            plan = plan_load(items, await gather(self, items))
            merged = await self._write_rows(
                _now(), plan.inserts, plan.updates, plan.files, plan.touched
            )
            released = await self._release_duplicates(plan.owners_changed, plan.moved)
            await self._edits_needed([o.article_id for o in plan.outcomes if o.post_changed])
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
        """Note the posted messages of these stories as needing an edit (and those being
        posted right now: they were built before the change)."""
        for chunk in _chunks([i for i in article_ids if i]):
            await self._db.execute(
                "INSERT OR IGNORE INTO post_edits (article_id, channel_id)"
                " SELECT article_id, channel_id FROM deliveries"
                f" WHERE article_id IN ({_marks(len(chunk))}) AND state IN (?, ?)",
                (*chunk, DeliveryState.SENT.value, DeliveryState.SENDING.value),
            )

    async def _release_duplicates(
        self, owners: list[str], moved: list[str]
    ) -> dict[str, list[str]]:
        """Forget the records of files kept out as duplicates of one of ``owners`` that
        no longer gives their story (it gives another, is a duplicate itself, or moved
        the story to a new URL: ``moved``), so that the loader reads them again. Returns
        owner → those files."""
        released: dict[str, list[str]] = {}
        moved_ids = json.dumps(moved)
        for chunk in _chunks(owners):
            rows = await self._all(
                "SELECT d.path, d.owner FROM files d INDEXED BY files_duplicates"
                f" WHERE d.status = 'duplicate' AND d.owner IN ({_marks(len(chunk))})"
                " AND (d.article_id IN (SELECT value FROM json_each(?)) OR NOT coalesce(("
                "SELECT o.status = 'rejected' OR (o.status = 'ok' AND o.article_id = d.article_id)"
                " FROM files o WHERE o.path = d.owner), 0))",
                (*chunk, moved_ids),
            )
            for path, owner in rows:
                released.setdefault(owner, []).append(path)
        paths = [path for found in released.values() for path in found]
        for chunk in _chunks(paths):
            await self._db.execute(
                f"DELETE FROM files WHERE path IN ({_marks(len(chunk))})", tuple(chunk)
            )
        return released

    @asynccontextmanager
    async def _load_transaction(self, stories: int) -> AsyncIterator[None]:
        """One write transaction for a batch of ``stories`` (new or changed), in turn with
        every other write; rolled back if the batch fails."""
        async with self._lock:
            big = stories >= _BIG_WRITE
            try:
                if big:
                    # A big batch dirties pages all over the indexes keyed by id, URL and
                    # rank; in SQLite's default 2 MB cache they would spill to the WAL
                    # over and over before the commit. Given back right after.
                    await self._db.execute(f"PRAGMA cache_size = -{_WRITE_CACHE_KIB}")
                async with self._open_transaction():
                    yield
            except _DRIVER_ERRORS as exc:
                failure = _write_failure(exc, self.path)
                raise StoreError(f"cannot store the loaded articles: {failure}") from exc
            finally:
                if big:
                    await self._db.execute(f"PRAGMA cache_size = {self._cache_size}")
                    await self._db.execute("PRAGMA shrink_memory")

    async def _write_rows(
        self,
        now: int,
        inserts: list[tuple[StoredArticle, str | None]],
        updates: Sequence[Update],
        file_rows: Sequence[FileRow],
        touched: Sequence[tuple[int, int, str]],
    ) -> dict[str, str]:
        """Write a batch, inside :meth:`_load_transaction`: a statement per table, not per
        article. Returns the stories written that are now in another's event: id → lead."""
        db = self._db
        row = await (await db.execute("SELECT max(rowid) FROM articles")).fetchone()
        top = row[0] if row else None
        first = (top or 0) + 1
        new = [(first + n, a, path) for n, (a, path) in enumerate(inserts)]
        rank = self._rank_quality
        await db.executemany(
            "INSERT INTO articles (rowid, id, canonical_url, url, title, provider,"
            " quality, heat, published_ts, first_seen_ts, updated_ts, published, source,"
            " source_path, content_hash, data, raw, event_keys, quality_unknown)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    rowid, a.id, a.canonical_url, a.url, a.title, a.provider, rank(a),
                    a.heat, a.published_ts, now, now, a.published, a.source, path,
                    a.content_hash, a.data, a.raw, pack_keys(a.event_keys),
                    a.quality is None,
                )
                for rowid, a, path in new
            ],
        )  # fmt: skip
        # what the updated stories were filed under, for the event index of this load
        formerly: list[tuple[int, int | None, bytes | None]] = []
        if updates and self._event_index is not None:
            for chunk in _chunks([u.key for u in updates]):
                cursor = await db.execute(
                    "SELECT rowid, published_ts, event_keys FROM articles"
                    f" WHERE rowid IN ({_marks(len(chunk))})",
                    tuple(chunk),
                )
                formerly += [(row[0], row[1], row[2]) for row in await cursor.fetchall()]
                await cursor.close()
        await db.executemany(
            "UPDATE articles SET canonical_url=?, url=?, title=?, provider=?,"
            " quality=?, heat=?, source = iif(source = 'withdrawn', 'file', source),"
            " published_ts=?, updated_ts=?, published=?, source_path=?,"
            " content_hash=?, data=?, raw=?, event_keys=?, quality_unknown=? WHERE rowid=?",
            [
                (
                    a.canonical_url, a.url, a.title, a.provider, rank(a), a.heat,
                    a.published_ts, now,
                    a.published, path, a.content_hash, a.data, a.raw,
                    pack_keys(a.event_keys), a.quality is None, rowid,
                )
                for a, path, rowid in ((u.article, u.path, u.key) for u in updates)
            ],
        )  # fmt: skip
        await db.executemany(
            "DELETE FROM article_topics WHERE key = ? AND article_rowid = ?",
            [(key, u.key) for u in updates for key in topic_keys(u.old_topics)],
        )
        await self._unindex([(u.key,) for u in updates])
        fresh = [(rowid, a) for rowid, a, _ in new] + [(u.key, u.article) for u in updates]
        await self._children(fresh)
        await self._count_topics([a.topics for _, a in fresh], [u.old_topics for u in updates])
        await db.executemany(
            "INSERT INTO files (path, size, mtime_ns, sha256, article_id, status, error, owner)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (path) DO UPDATE SET size=excluded.size,"
            " mtime_ns=excluded.mtime_ns, sha256=excluded.sha256,"
            " article_id=excluded.article_id, status=excluded.status,"
            " error=excluded.error, owner=excluded.owner",
            [
                (f.path, f.size, f.mtime_ns, f.sha256, f.article_id, f.status, f.error, f.owner)
                for f in file_rows
            ],
        )
        await db.executemany("UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?", touched)
        return await self._link_events(fresh, formerly)

    async def _write_event_plan(self, plan: EventPlan) -> None:
        """Store the leads of ``plan``, the pairs kept apart or joined again, and note the
        posts to edit."""
        db = self._db
        await db.executemany(
            "UPDATE articles SET event_id = ? WHERE id = ?", [(lead, i) for i, lead in plan.leads]
        )
        await db.executemany(
            "INSERT OR IGNORE INTO event_apart (article_id, other_id) VALUES (?, ?)", plan.apart
        )
        await db.executemany(
            "DELETE FROM event_apart WHERE article_id = ? AND other_id = ?", plan.joined
        )
        await self._edits_needed(list(plan.edits))

    async def _event_index_checked(self) -> tuple[bool, int]:
        """Whether the event index kept is still current, and the database's version now:
        PRAGMA data_version changes with the commits of other connections (a load beside
        the bot), not with ours."""
        cursor = await self._db.execute("PRAGMA data_version")
        row = await cursor.fetchone()
        await cursor.close()
        version = int(row[0]) if row else -1
        return version == self._event_index_version, version

    async def _stored_event_keys(self) -> AsyncIterator[Sequence[tuple[int, int | None, bytes]]]:
        """The stored stories' event keys (rowid, publication time, packed keys), in
        chunks."""
        cursor = await self._db.execute(
            "SELECT rowid, published_ts, event_keys FROM articles"
            " WHERE event_keys IS NOT NULL AND source <> 'withdrawn'"
        )
        while rows := await cursor.fetchmany(10_000):
            yield cast(list[tuple[int, int | None, bytes]], rows)
        await cursor.close()

    async def _after_migration(self, version: int) -> None:
        """Migration 21: link the stories stored before events existed (their keys just
        computed, their rowids in temp.event_backfill) as a load links the stories it
        writes, by the default window (the config's is given after the store opens)."""
        if version != 21:
            return
        rows = await self._all_in_transaction(
            "SELECT a.rowid, a.id, a.published_ts, a.event_keys FROM temp.event_backfill b"
            " JOIN articles a ON a.rowid = b.article_rowid ORDER BY a.rowid",
            (),
        )
        await self._db.execute("DROP TABLE temp.event_backfill")
        fresh = [(Filed(rowid, ts, unpack_keys(keys)), ident) for rowid, ident, ts, keys in rows]
        if fresh:
            index = await self._current_event_index(
                {f.rowid for f, _ in fresh}, [], wanted_keys(f.keys for f, _ in fresh)
            )
            await self._write_event_plan(await link_events(self, index, fresh))
            self.end_load()

    async def _apart(self, ids: Sequence[str]) -> set[frozenset[str]]:
        """The pairs split by a moderator that hold one of ``ids``."""
        found: set[frozenset[str]] = set()
        for chunk in _chunks(ids):
            marks = _marks(len(chunk))
            cursor = await self._db.execute(
                f"SELECT article_id, other_id FROM event_apart WHERE article_id IN ({marks})"
                f" UNION SELECT article_id, other_id FROM event_apart WHERE other_id IN ({marks})",
                (*chunk, *chunk),
            )
            found.update(frozenset(row) for row in await cursor.fetchall())
            await cursor.close()
        return found

    async def split_event(self, article_id: str) -> list[str]:
        """Take a story out of its event for good: it is kept apart from each other story
        of the event (no load joins them again), and the others keep their event, led by
        the best-ranked of them. Posted messages of the event are noted for an edit.
        Returns the ids it was split from, best first (empty: it was alone)."""
        async with self._load_transaction(1):
            rows = await self._all_in_transaction(
                "SELECT m.rowid FROM articles a JOIN articles m ON m.event_id = a.event_id"
                " WHERE a.id = ? AND a.event_id IS NOT NULL",
                (article_id,),
            )
            stories = await self._event_stories({r[0] for r in rows})
            others, plan = plan_split(article_id, stories)
            await self._write_event_plan(plan)
        return others

    async def merge_events(self, article_id: str, other_id: str) -> str:
        """Put two stories, and the events they are in, in one event for good (a split
        between any of them is forgotten). Posted messages of the event are noted for an
        edit. Returns the lead's id."""
        async with self._load_transaction(1):
            rows = await self._all_in_transaction(
                "SELECT m.rowid FROM articles a JOIN articles m"
                " ON m.id = a.id OR (a.event_id IS NOT NULL AND m.event_id = a.event_id)"
                " WHERE a.id IN (?, ?) AND a.source <> 'withdrawn'",
                (article_id, other_id),
            )
            stories = await self._event_stories({r[0] for r in rows})
            lead, plan = plan_merge(article_id, stories)
            await self._write_event_plan(plan)
        return lead

    async def _all_in_transaction(self, sql: str, params: Sequence[Any]) -> list[Any]:
        cursor = await self._db.execute(sql, params)
        rows = list(await cursor.fetchall())
        await cursor.close()
        return rows

    async def _event_stories(self, rowids: set[int]) -> dict[int, tuple[Ranked, str | None]]:
        """These stories (withdrawn ones left out) and every story of their events, by
        rowid: each as the events read it, with its event's lead."""
        found: dict[int, tuple[Ranked, str | None]] = {}
        columns = "rowid, id, title, quality, heat, published_ts, event_id"
        for chunk in _chunks(sorted(rowids)):
            cursor = await self._db.execute(
                f"SELECT {columns} FROM articles WHERE rowid IN ({_marks(len(chunk))})"
                " AND source <> 'withdrawn'",
                tuple(chunk),
            )
            for rowid, *ranked, event in await cursor.fetchall():
                found[rowid] = (Ranked(*ranked), event)
            await cursor.close()
        events = sorted({event for _, event in found.values() if event is not None})
        for chunk in _chunks(events):
            cursor = await self._db.execute(
                f"SELECT {columns} FROM articles WHERE event_id IN ({_marks(len(chunk))})",
                tuple(chunk),
            )
            for rowid, *ranked, event in await cursor.fetchall():
                found[rowid] = (Ranked(*ranked), event)
            await cursor.close()
        return found

    async def _unindex(self, rowids: list[tuple[int]]) -> None:
        """Take these (rowid,) out of both full-text indexes. titles_fts keeps no text: its
        'delete' repeats the values indexed, which articles_fts still holds (a rowid not
        in it, a withdrawn story's, is in neither)."""
        await self._db.executemany(
            "INSERT INTO titles_fts (titles_fts, rowid, title, tags)"
            " SELECT 'delete', rowid, title, tags FROM articles_fts WHERE rowid = ?",
            rowids,
        )
        await self._db.executemany("DELETE FROM articles_fts WHERE rowid = ?", rowids)

    def _rank_quality(self, article: StoredArticle) -> int:
        """The quality ``article`` ranks by: its own, or unknown_quality when it has none."""
        return self._unknown_quality if article.quality is None else article.quality

    async def rank_unknown_quality(self, quality: int) -> int:
        """Rank stories of unknown quality as ``quality`` from now on, and re-rank those
        stored under another value (every ranking column: the articles, the topic index,
        both full-text indexes' band tags), in one transaction. Returns how many moved."""
        self._unknown_quality = quality
        band = rank_tag(quality)
        async with self._load_transaction(0):
            db = self._db
            found = await db.execute(
                "SELECT a.rowid, f.tags FROM articles a JOIN articles_fts f ON f.rowid = a.rowid"
                " WHERE a.quality_unknown = 1 AND a.quality <> ?",
                (quality,),
            )
            rows = list(await found.fetchall())
            retagged = [(_RANK_TAG.sub(band, tags), rowid) for rowid, tags in rows]
            rowids = [(rowid,) for rowid, _ in rows]
            await db.executemany(
                "UPDATE articles SET quality = ? WHERE rowid = ?", [(quality, r) for (r,) in rowids]
            )
            await db.executemany(
                "UPDATE article_topics SET quality = ? WHERE article_rowid = ?",
                [(quality, r) for (r,) in rowids],
            )
            await db.executemany(  # titles_fts forgets a row by its old values
                "INSERT INTO titles_fts (titles_fts, rowid, title, tags)"
                " SELECT 'delete', rowid, title, tags FROM articles_fts WHERE rowid = ?",
                rowids,
            )
            await db.executemany("UPDATE articles_fts SET tags = ? WHERE rowid = ?", retagged)
            await db.executemany(
                "INSERT INTO titles_fts (rowid, title, tags)"
                " SELECT rowid, title, tags FROM articles_fts WHERE rowid = ?",
                rowids,
            )
        return len(rows)

    async def _children(self, fresh: list[tuple[int, StoredArticle]]) -> None:
        """Topics and the full-text rows (both indexes) of each (rowid, article)."""
        keys = {t: topic_key(t) for t in {t for _, a in fresh for t in a.topics}}
        tags = {key: topic_tag(key) for key in set(keys.values())}
        rank = self._rank_quality
        await self._db.executemany(
            "INSERT OR IGNORE INTO article_topics (article_rowid, key, name, quality, heat,"
            " published_ts, article_id) VALUES (?,?,?,?,?,?,?)",
            [
                (rowid, keys[t], t, rank(a), a.heat, a.published_ts, a.id)
                for rowid, a in fresh
                for t in a.topics
            ],
        )
        rows = [
            (
                rowid, a.title, a.excerpt, " ".join(a.topics), a.provider or "",
                " ".join([*(tags[keys[t]] for t in a.topics), rank_tag(rank(a))]),
            )
            for rowid, a in fresh
        ]  # fmt: skip
        await self._db.executemany(
            "INSERT INTO articles_fts (rowid, title, excerpt, topics, provider, tags)"
            " VALUES (?,?,?,?,?,?)",
            rows,
        )
        await self._db.executemany(
            "INSERT INTO titles_fts (rowid, title, tags) VALUES (?,?,?)",
            [(rowid, title, tags_) for rowid, title, _, _, _, tags_ in rows],
        )

    async def _count_topics(self, added: list[Sequence[str]], removed: list[Sequence[str]]) -> None:
        """Keep topic_stats current: +1 per topic of a new version, -1 per old one."""
        delta: dict[str, int] = {}
        names: dict[str, str] = {}
        for topics, sign in [(t, 1) for t in added] + [(t, -1) for t in removed]:
            # once a story per key: one stored before keys ignored accents may list
            # both "Mexico" and "México", which have one row
            for key, topic in topic_keys(topics).items():
                delta[key] = delta.get(key, 0) + sign
                names.setdefault(key, topic)
        changes = [(key, names[key], n) for key, n in delta.items() if n]
        if not changes:
            return
        await self._db.executemany(
            "INSERT INTO topic_stats (key, name, articles) VALUES (?,?,?) ON CONFLICT (key)"
            " DO UPDATE SET articles = articles + excluded.articles",
            changes,
        )
        await self._db.execute("DELETE FROM topic_stats WHERE articles <= 0")

    async def add_article(
        self, result: ParseResult, channels: Collection[int] | None = None
    ) -> tuple[Article, bool]:
        """Store a moderator-submitted article; returns it and whether it is new. With
        ``channels`` it is ranked only for those channels (a known story limited so gets
        them added; one that is not stays as it is), in the same transaction."""
        article = StoredArticle.from_result(result)
        async with self._load_transaction(1):  # not between a rescan's lookup and write
            existing = await self.stories_by("canonical_url", [article.canonical_url])
            row = existing.get(article.canonical_url)
            if row is not None and not row.withdrawn:
                if channels is not None:
                    await self._db.executemany(
                        "INSERT OR IGNORE INTO submitted_channels (article_id, channel_id)"
                        " SELECT article_id, ? FROM submitted_stories WHERE article_id = ?",
                        [(channel, row.id) for channel in sorted(set(channels))],
                    )
                return article_from_dict(json.loads(row.data)), False
            if row is not None:  # withdrawn: the moderator's story takes its id and history
                article = article.with_id(row.id)
                await self._write_rows(_now(), [], [Update(article, None, row.key, [])], [], ())
                await self._db.execute(
                    "UPDATE articles SET source = ? WHERE rowid = ?", (article.source, row.key)
                )
            else:
                article = free_id(article, await taken_ids(self, [article]))
                await self._write_rows(_now(), [(article, None)], [], [], ())
            self.end_load()  # one story: the index is not worth keeping
            if channels is not None:
                await self._db.execute(
                    "INSERT OR IGNORE INTO submitted_stories (article_id) VALUES (?)",
                    (article.id,),
                )
                await self._db.executemany(
                    "INSERT OR IGNORE INTO submitted_channels (article_id, channel_id)"
                    " VALUES (?, ?)",
                    [(article.id, channel) for channel in sorted(set(channels))],
                )
        return article.to_article(), True
