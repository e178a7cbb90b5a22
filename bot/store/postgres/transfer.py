"""`newsdesk migrate-store`: a SQLite store's contents copied into a PostgreSQL one.

Everything is copied in one PostgreSQL transaction: a copy cut short leaves nothing. A
second run copies only what the target lacks, and a row the target has already (a story
by id or URL, a delivery, a pin, a file, a digest by channel, nonce and claim time…) is
kept as the target has it: the bot may have gone on from there on PostgreSQL, and a
delivery must never go back to a state that would send it again.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import urllib.parse
from dataclasses import dataclass
from typing import Any

import asyncpg

from bot.store.postgres import text
from bot.store.postgres.connection import DRIVER_ERRORS, PostgresBase, row_count
from bot.store.postgres.store import PostgresStore
from bot.store.records import StoreError
from bot.store.sqlite import SQLiteStore

# Table → its columns, as both schemas name them; copied as they are (after articles).
_PLAIN = {
    "files": ("path", "size", "mtime_ns", "sha256", "article_id", "status", "error", "owner"),
    "deliveries": (
        "article_id", "channel_id", "state", "attempts", "nonce", "message_id",
        "review_message_id", "decided_by", "last_error", "created_ts", "updated_ts", "sent_ts",
    ),
    "queue_entries": ("channel_id", "article_id", "position", "added_by", "added_ts"),
    "routes": (
        "channel_id", "paused", "pause_reason", "disabled", "disabled_reason", "updated_ts",
    ),
    "post_edits": ("article_id", "channel_id"),
    "submitted_stories": ("article_id",),
    "submitted_channels": ("article_id", "channel_id"),
    "orphans": ("article_id",),
    "event_apart": ("article_id", "other_id"),
}  # fmt: skip
_BOOLEANS = {("routes", "paused"), ("routes", "disabled")}
_ARTICLE_COLUMNS = (
    "rowid", "id", "canonical_url", "url", "title", "provider", "quality", "heat",
    "published_ts", "first_seen_ts", "updated_ts", "published", "source", "source_path",
    "content_hash", "data", "raw", "quality_unknown", "event_id", "event_keys",
)  # fmt: skip
_TOPIC_COLUMNS = ("article_id", "key", "name", "quality", "heat", "published_ts")
_AUDIT_COLUMNS = (
    "id", "ts", "actor_id", "actor_name", "action", "channel_id", "article_id", "detail",
    "result",
)  # fmt: skip
_DIGEST_COLUMNS = (
    "id", "channel_id", "state", "nonce", "attempts", "message_id", "last_error",
    "created_ts", "updated_ts", "sent_ts",
)  # fmt: skip
_DIGEST_ITEM_COLUMNS = ("digest_id", "position", "article_id")


@dataclass(frozen=True, slots=True)
class Copied:
    """Rows found in the SQLite store, and rows added to PostgreSQL, by table."""

    found: dict[str, int]
    added: dict[str, int]


def _read_sqlite(path: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row to copy, read in one read transaction (one moment of the store)."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        db.execute("BEGIN")
        rows = {
            table: db.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
            for table, columns in _PLAIN.items()
        }
        rows["articles"] = db.execute(
            f"SELECT {', '.join(_ARTICLE_COLUMNS)} FROM articles ORDER BY rowid"
        ).fetchall()
        rows["article_topics"] = db.execute(
            "SELECT article_id, key, name, quality, heat, published_ts FROM article_topics"
        ).fetchall()
        rows["topic_stats"] = db.execute("SELECT key, name, articles FROM topic_stats").fetchall()
        rows["audit_log"] = db.execute(
            f"SELECT {', '.join(_AUDIT_COLUMNS)} FROM audit_log ORDER BY id"
        ).fetchall()
        rows["digests"] = db.execute(
            f"SELECT {', '.join(_DIGEST_COLUMNS)} FROM digests ORDER BY id"
        ).fetchall()
        rows["digest_items"] = db.execute(
            f"SELECT {', '.join(_DIGEST_ITEM_COLUMNS)} FROM digest_items"
            " ORDER BY digest_id, position"
        ).fetchall()
        db.execute("ROLLBACK")
    return rows


def _article_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A SQLite article row with its search words (none for a withdrawn story)."""
    values = dict(zip(_ARTICLE_COLUMNS, row, strict=True))
    values["published"] = bool(values["published"])
    values["quality_unknown"] = bool(values["quality_unknown"])
    if values["source"] == "withdrawn":
        words: tuple[str | None, str | None] = (None, None)
    else:
        article = json.loads(values["data"])
        provider = article["provider"]["name"] if article.get("provider") else ""
        words = text.search_words(
            values["title"], article.get("excerpt") or "", article["topics"], provider or ""
        )
    return (*(values[c] for c in _ARTICLE_COLUMNS), *words)


async def copy_sqlite_store(sqlite_path: str, url: str) -> Copied:
    """Copy the SQLite store at ``sqlite_path`` (brought up to date first) into the
    PostgreSQL database at ``url`` (made or brought up to date); see the module's
    docstring for a second run."""
    if not await asyncio.to_thread(os.path.isfile, sqlite_path):
        raise StoreError(f"no SQLite store at {sqlite_path}")
    await (await SQLiteStore.open(sqlite_path)).close()  # its schema up to date
    try:
        rows = await asyncio.to_thread(_read_sqlite, sqlite_path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read {sqlite_path}: {exc}") from exc
    target = await PostgresStore.open(url)
    try:
        return await _write(target, rows)
    finally:
        await target.close()


async def _write(target: PostgresBase, rows: dict[str, list[tuple[Any, ...]]]) -> Copied:
    found = {table: len(found) for table, found in rows.items()}
    added: dict[str, int] = {}
    try:
        async with target._transaction(in_turn=True) as conn:
            added["articles"] = await _articles(conn, rows)
            for table, columns in _PLAIN.items():
                values = [
                    tuple(
                        bool(v) if (table, c) in _BOOLEANS else v
                        for c, v in zip(columns, row, strict=True)
                    )
                    for row in rows[table]
                ]
                added[table] = await _insert_new(conn, table, columns, values)
            added["audit_log"] = await _audit(conn, rows["audit_log"])
            added["digests"], added["digest_items"] = await _digests(conn, rows)
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('articles', 'rowid'),"
                " coalesce((SELECT max(rowid) FROM articles), 0) + 1, false)"
            )
            # stories filed under event keys: a bot on this database reads its index again
            await conn.execute("SELECT nextval('event_keys_written')")
    except StoreError as exc:
        raise StoreError(f"cannot copy into {target.path}: {exc}") from exc
    except DRIVER_ERRORS as exc:
        raise StoreError(f"cannot copy into {target.path}: {exc}") from exc
    return Copied(found, added)


async def _insert_new(
    conn: asyncpg.Connection, table: str, columns: tuple[str, ...], values: list[tuple[Any, ...]]
) -> int:
    """Insert the rows the table lacks (by its keys); those it has stay as they are."""
    if not values:
        return 0
    staging = f"copy_{table}"
    await conn.execute(
        f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {', '.join(columns)}"
        f" FROM {table} WITH NO DATA"
    )
    await conn.copy_records_to_table(staging, records=values, columns=columns)
    status = await conn.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)}"
        f" FROM {staging} ON CONFLICT DO NOTHING"
    )
    return int(status.rsplit(" ", 1)[-1])


async def _articles(conn: asyncpg.Connection, rows: dict[str, list[tuple[Any, ...]]]) -> int:
    """The stories the target lacks (by id and by URL), in their SQLite order, with
    their topics; then every topic's count, from the topics stored."""
    columns = (*_ARTICLE_COLUMNS, "title_words", "text_words")
    await conn.execute(
        "CREATE TEMP TABLE copy_articles (rowid bigint, id text, canonical_url text, url text,"
        " title text, provider text, quality integer, heat integer, published_ts bigint,"
        " first_seen_ts bigint, updated_ts bigint, published boolean, source text,"
        " source_path text, content_hash text, data text, raw text, quality_unknown boolean,"
        " event_id text, event_keys bytea, title_words text, text_words text) ON COMMIT DROP"
    )
    await conn.copy_records_to_table(
        "copy_articles", records=[_article_row(r) for r in rows["articles"]], columns=columns
    )
    # A first copy keeps the SQLite rowids (the stories' order); later ones take new ones.
    first = await conn.fetchval("SELECT NOT EXISTS (SELECT 1 FROM articles)")
    rowid = "c.rowid" if first else "nextval(pg_get_serial_sequence('articles', 'rowid'))"
    new_ids = [
        r[0]
        for r in await conn.fetch(
            "INSERT INTO articles (rowid, id, canonical_url, url, title, provider, quality,"
            " heat, published_ts, first_seen_ts, updated_ts, published, source, source_path,"
            " content_hash, data, raw, quality_unknown, event_id, event_keys)"
            f" SELECT {rowid}, c.id, c.canonical_url, c.url, c.title, c.provider, c.quality,"
            " c.heat, c.published_ts, c.first_seen_ts, c.updated_ts, c.published, c.source,"
            " c.source_path, c.content_hash, c.data, c.raw, c.quality_unknown, c.event_id,"
            " c.event_keys"
            " FROM copy_articles c"
            " WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = c.id"
            " OR a.canonical_url = c.canonical_url) ORDER BY c.rowid"
            " RETURNING id"
        )
    ]
    new = set(new_ids)
    await conn.execute(
        "INSERT INTO search_words (rowid, quality, heat, published_ts, id, title_words,"
        " text_words) SELECT a.rowid, a.quality, a.heat, a.published_ts, a.id,"
        " c.title_words::tsvector, c.text_words::tsvector FROM copy_articles c"
        " JOIN articles a ON a.id = c.id WHERE a.id = ANY($1::text[])"
        " AND c.title_words IS NOT NULL",
        new_ids,
    )
    topics = [row for row in rows["article_topics"] if row[0] in new]
    if topics:
        await conn.execute(
            "CREATE TEMP TABLE copy_topics (article_id text, key text, name text,"
            " quality integer, heat integer, published_ts bigint) ON COMMIT DROP"
        )
        await conn.copy_records_to_table("copy_topics", records=topics, columns=_TOPIC_COLUMNS)
        await conn.execute(
            "INSERT INTO article_topics (article_rowid, key, name, quality, heat, published_ts,"
            " article_id) SELECT a.rowid, t.key, t.name, t.quality, t.heat, t.published_ts,"
            " t.article_id FROM copy_topics t JOIN articles a ON a.id = t.article_id"
            " ON CONFLICT DO NOTHING"
        )
    # counts from the topics stored; a key keeps the name it has, else SQLite's
    names = {key: name for key, name, _ in rows["topic_stats"]}
    await conn.execute(
        "INSERT INTO topic_stats (key, name, articles)"
        " SELECT t.key, coalesce(s.name, n.name, min(t.name)), count(*)"
        " FROM article_topics t LEFT JOIN topic_stats s ON s.key = t.key"
        " LEFT JOIN unnest($1::text[], $2::text[]) AS n(key, name) ON n.key = t.key"
        " GROUP BY t.key, s.name, n.name"
        " ON CONFLICT (key) DO UPDATE SET articles = excluded.articles",
        list(names),
        list(names.values()),
    )
    return len(new_ids)


async def _audit(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> int:
    """The audit entries the target lacks, by id; then its ids go on after the last."""
    added = await _insert_new(conn, "audit_log", _AUDIT_COLUMNS, rows)
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('audit_log', 'id'),"
        " coalesce((SELECT max(id) FROM audit_log), 0) + 1, false)"
    )
    return added


async def _digests(
    conn: asyncpg.Connection, rows: dict[str, list[tuple[Any, ...]]]
) -> tuple[int, int]:
    """The digests the target lacks (by channel, nonce and claim time) with their
    stories; a first copy keeps SQLite's ids, later ones take new ones. A digest in
    flight in a channel that has one in flight on PostgreSQL already is left out (the
    bot went on there), and so are its stories."""
    if not rows["digests"]:
        return 0, 0
    await conn.execute(
        "CREATE TEMP TABLE copy_digests (id bigint, channel_id bigint, state text,"
        " nonce text, attempts integer, message_id bigint, last_error text,"
        " created_ts bigint, updated_ts bigint, sent_ts bigint, new_id bigint)"
        " ON COMMIT DROP"
    )
    await conn.copy_records_to_table(
        "copy_digests", records=rows["digests"], columns=_DIGEST_COLUMNS
    )
    first = await conn.fetchval("SELECT NOT EXISTS (SELECT 1 FROM digests)")
    new_id = "id" if first else "nextval(pg_get_serial_sequence('digests', 'id'))"
    await conn.execute(
        f"UPDATE copy_digests c SET new_id = {new_id} WHERE NOT EXISTS (SELECT 1 FROM"
        " digests g WHERE g.channel_id = c.channel_id AND g.nonce = c.nonce"
        " AND g.created_ts = c.created_ts)"
    )
    inserted = [
        r[0]
        for r in await conn.fetch(
            "INSERT INTO digests (id, channel_id, state, nonce, attempts, message_id,"
            " last_error, created_ts, updated_ts, sent_ts) SELECT new_id, channel_id, state,"
            " nonce, attempts, message_id, last_error, created_ts, updated_ts, sent_ts"
            " FROM copy_digests WHERE new_id IS NOT NULL ORDER BY id"
            " ON CONFLICT DO NOTHING RETURNING id"
        )
    ]
    items = 0
    if inserted and rows["digest_items"]:
        await conn.execute(
            "CREATE TEMP TABLE copy_digest_items (digest_id bigint, position integer,"
            " article_id text) ON COMMIT DROP"
        )
        await conn.copy_records_to_table(
            "copy_digest_items", records=rows["digest_items"], columns=_DIGEST_ITEM_COLUMNS
        )
        items = row_count(
            await conn.execute(
                "INSERT INTO digest_items (digest_id, position, article_id)"
                " SELECT c.new_id, i.position, i.article_id FROM copy_digest_items i"
                " JOIN copy_digests c ON c.id = i.digest_id WHERE c.new_id = ANY($1::bigint[])",
                inserted,
            )
        )
    await conn.execute(
        "SELECT setval(pg_get_serial_sequence('digests', 'id'),"
        " coalesce((SELECT max(id) FROM digests), 0) + 1, false)"
    )
    return len(inserted), items
