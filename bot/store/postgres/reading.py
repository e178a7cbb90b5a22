"""Reading stories from the PostgreSQL store: by id and URL, search, completion, topics."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from bot.curation.events import coverage
from bot.ingest.urls import canonical_url, id_prefix
from bot.models import Article, article_from_dict, topic_key
from bot.store.postgres import text as words_of
from bot.store.postgres.connection import PostgresBase
from bot.store.records import (
    COUNT_LIMIT,
    QUERY_CHARS,
    Delivery,
    DeliveryState,
    Headline,
    capped_query,
)

# ranking.rank_key: quality, heat, newest (an unknown time last), then id
RANK_ORDER = "{0}quality DESC, {0}heat DESC, {0}published_ts DESC NULLS LAST, {0}{1}"
DELIVERY_COLUMNS = (
    "article_id, channel_id, state, attempts, nonce, message_id, review_message_id,"
    " decided_by, last_error, created_ts, updated_ts, sent_ts"
)


def rank_order(alias: str = "", id_column: str = "id") -> str:
    return RANK_ORDER.format(f"{alias}." if alias else "", id_column)


def to_delivery(row: Sequence[Any]) -> Delivery:
    values = list(row)
    values[2] = DeliveryState(values[2])
    return Delivery(*values)


def _articles(rows: Sequence[Sequence[Any]]) -> list[Article]:
    return [article_from_dict(json.loads(r[0])) for r in rows]


class PostgresReading(PostgresBase):
    """Stories as readers see them: never a withdrawn one."""

    async def get_article(self, article_id: str) -> Article | None:
        row = await self._fetchrow(
            "SELECT data FROM articles WHERE id = $1 AND source <> 'withdrawn'", article_id
        )
        return (await self._with_events(_articles([row])))[0] if row else None

    async def article_by_url(self, canonical: str) -> Article | None:
        row = await self._fetchrow(
            "SELECT data FROM articles WHERE canonical_url = $1 AND source <> 'withdrawn'",
            canonical,
        )
        return (await self._with_events(_articles([row])))[0] if row else None

    async def get_articles(self, article_ids: list[str]) -> list[Article]:
        rows = await self._fetch(
            "SELECT data FROM articles WHERE id = ANY($1::text[]) AND source <> 'withdrawn'",
            list(article_ids),
        )
        found = {a.id: a for a in _articles(rows)}
        return await self._with_events([found[i] for i in article_ids if i in found])

    async def event_of(self, article_id: str) -> list[str]:
        rows = await self._fetch(
            "SELECT m.id FROM articles a JOIN articles m ON m.event_id = a.event_id"
            " WHERE a.id = $1 AND a.event_id IS NOT NULL AND m.source <> 'withdrawn'"
            f" ORDER BY m.id <> m.event_id, {rank_order('m')}",
            article_id,
        )
        return [r[0] for r in rows]

    async def _with_events(self, articles: list[Article]) -> list[Article]:
        """``articles`` as they are posted: a story whose event holds others carries their
        coverage too (curation.events.coverage: each URL and outlet once, best first)."""
        if not articles:
            return articles
        rows = await self._fetch(
            "SELECT a.id, m.data FROM articles a JOIN articles m ON m.event_id = a.event_id"
            " WHERE a.id = ANY($1::text[]) AND a.event_id IS NOT NULL"
            " AND m.id <> a.id AND m.source <> 'withdrawn' ORDER BY m.id",
            [a.id for a in articles],
        )
        if not rows:
            return articles
        others: dict[str, list[Article]] = {}
        for article_id, data in rows:
            others.setdefault(article_id, []).append(article_from_dict(json.loads(data)))
        return [
            dataclasses.replace(a, related=coverage(a, others[a.id])) if a.id in others else a
            for a in articles
        ]

    async def first_seen_ts(self, article_id: str) -> int | None:
        value = await self._fetchval("SELECT first_seen_ts FROM articles WHERE id = $1", article_id)
        return int(value) if value is not None else None

    async def article_count(self) -> int:
        # a row per story not withdrawn, in the narrow table
        return int(await self._fetchval("SELECT count(*) FROM search_words"))

    async def articles_by_url(self, urls: Sequence[str]) -> dict[str, Article]:
        asked: dict[str, list[str]] = {}
        for url in urls:
            try:
                asked.setdefault(canonical_url(url), []).append(url)
            except ValueError:  # no URL at all: no story has it
                continue
        found: dict[str, Article] = {}
        rows = await self._fetch(
            "SELECT canonical_url, data FROM articles WHERE canonical_url = ANY($1::text[])",
            list(asked),
        )
        for canonical, data in rows:
            article = article_from_dict(json.loads(data))
            found.update((url, article) for url in asked[canonical])
        return found

    # ------------------------------------------------------------------ completion

    async def complete_articles(self, text: str, limit: int = 25) -> list[Headline]:
        """Stories whose id starts with ``text``, then the newest with its words in their
        title (the last word as a prefix, unless a whole word typed starts with it)."""
        text = capped_query(text).strip()
        if not text:
            rows = await self._fetch(
                "SELECT id, title FROM articles WHERE source <> 'withdrawn'"
                " ORDER BY first_seen_ts DESC, quality DESC, id LIMIT $1",
                limit,
            )
            return [Headline(*row) for row in rows]
        rows = []
        if (prefix := id_prefix(text)) is not None:
            rows = await self._fetch(
                "SELECT id, title FROM articles"
                " WHERE id >= $1 AND id < $2 AND source <> 'withdrawn' ORDER BY id LIMIT $3",
                prefix, prefix + "\uffff", limit,
            )  # fmt: skip
        typed = words_of.words(text)
        if typed and len(rows) < limit:
            *whole, last = typed
            if any(word.startswith(last) for word in whole):
                last = ""
            query = words_of.tsquery(words_of.query_terms(" ".join(whole)), last)
            if query:
                rows += await self._fetch(
                    "SELECT a.id, a.title FROM (SELECT rowid FROM search_words"
                    " WHERE title_words @@ $1::tsquery ORDER BY rowid DESC LIMIT $2) newest"
                    " JOIN articles a ON a.rowid = newest.rowid ORDER BY a.quality DESC, a.id",
                    query,
                    limit,
                )
        seen: dict[str, Headline] = {}
        for article_id, title in rows:
            seen.setdefault(article_id, Headline(article_id, title))
        return list(seen.values())[:limit]

    # ------------------------------------------------------------------ search

    async def search(
        self, query: str = "", topic: str | None = None, limit: int = 10, offset: int = 0
    ) -> tuple[list[Article], int]:
        """Stories of ``topic`` with every word of ``query`` in their text: those with all
        of them in the title first, each part in ranking order.

        One statement: newsdesk_search (migration 14) gathers up to COUNT_LIMIT matches
        once from the words' index (a topic's tag among the words: one lookup), keeps each
        event once, as its lead, and orders and counts them; past COUNT_LIMIT it reads a
        page at a time in ranking order (the titled ones, then the others)."""
        query = capped_query(query)
        terms = words_of.query_terms(query)
        if query.strip() and not terms:
            return [], 0  # only punctuation: nothing can match
        key = topic_key(topic) if topic else None
        if not terms:
            return await self._browse(key, limit, offset)
        rows = await self._fetch(
            "SELECT _total, _data FROM newsdesk_search($1::tsquery, $2::tsquery, $3, $4, $5, $6)",
            words_of.tsquery(terms, topic=key), words_of.tsquery(terms), key, limit, offset,
            COUNT_LIMIT,
        )  # fmt: skip
        total = int(rows[0][0]) if rows else 0
        return _articles([row[1:] for row in rows if row[1] is not None]), total

    async def _ranked_page(
        self, stories: str, where: str, order: str, params: list[Any], limit: int, offset: int
    ) -> list[int]:
        n = len(params)
        rows = await self._fetch(
            f"SELECT w.rowid FROM {stories} WHERE {where}"
            f" ORDER BY {order} LIMIT ${n + 1} OFFSET ${n + 2}",
            *params, limit, offset,
        )  # fmt: skip
        return [r[0] for r in rows]

    async def _by_rowid(self, rowids: list[int]) -> list[Article]:
        rows = await self._fetch(
            "SELECT rowid, data FROM articles WHERE rowid = ANY($1::bigint[])", rowids
        )
        data = dict(rows)
        return [article_from_dict(json.loads(data[r])) for r in rowids if r in data]

    async def _browse(self, key: str | None, limit: int, offset: int) -> tuple[list[Article], int]:
        """Every story, or a topic's, best first (a search without words)."""
        if key is None:
            rowids = await self._ranked_page(
                "search_words w JOIN articles a ON a.rowid = w.rowid",
                "(a.event_id IS NULL OR a.event_id = a.id)",  # each event once
                rank_order("w"), [], limit, offset,
            )  # fmt: skip
            return await self._by_rowid(rowids), min(await self.article_count(), COUNT_LIMIT + 1)
        rows = await self._fetch(
            "SELECT a.data FROM article_topics t JOIN articles a ON a.rowid = t.article_rowid"
            " WHERE t.key = $1 AND (a.event_id IS NULL OR a.event_id = a.id)"
            f" ORDER BY {rank_order('t', 'article_id')} LIMIT $2 OFFSET $3",
            key,
            limit,
            offset,
        )
        found = await self._fetchval("SELECT articles FROM topic_stats WHERE key = $1", key)
        total = int(found) if found is not None else 0
        return _articles(rows), min(total, COUNT_LIMIT + 1)

    # ------------------------------------------------------------------ topics

    async def topics(self) -> list[tuple[str, int]]:
        rows = await self._fetch("SELECT name, articles FROM topic_stats ORDER BY key")
        return [(name, count) for name, count in rows]

    async def topic_named(self, text: str) -> str | None:
        name = await self._fetchval("SELECT name FROM topic_stats WHERE key = $1", topic_key(text))
        return str(name) if name is not None else None

    async def complete_topics(self, text: str, limit: int = 25) -> list[tuple[str, int]]:
        key = topic_key(text[:QUERY_CHARS])
        rows = await self._fetch(
            "SELECT name, articles FROM topic_stats WHERE key >= $1 AND key < $2"
            " ORDER BY articles DESC, key LIMIT $3",
            key, key + "\U0010ffff", limit,
        )  # fmt: skip
        if len(rows) < limit and key:
            rows += await self._fetch(
                "SELECT name, articles FROM topic_stats WHERE strpos(key, $1) > 1"
                " ORDER BY articles DESC, key LIMIT $2",
                key,
                limit - len(rows),
            )
        return [(name, count) for name, count in rows]

    async def latest_sent(
        self, topic: str | None = None, limit: int = 10
    ) -> list[tuple[Article, Delivery]]:
        params: list[Any] = [DeliveryState.SENT.value]
        topic_clause = ""
        if topic:
            topic_clause = (
                " AND EXISTS (SELECT 1 FROM article_topics t WHERE t.key = $2"
                " AND t.article_rowid = a.rowid)"
            )
            params.append(topic_key(topic))
        n = len(params)
        columns = ", ".join("d." + c.strip() for c in DELIVERY_COLUMNS.split(","))
        sql = (
            f"SELECT a.data, {columns} FROM deliveries d JOIN articles a ON a.id = d.article_id"
            f" WHERE d.state = $1{topic_clause} ORDER BY d.sent_ts DESC, a.id"
            f" LIMIT ${n + 1} OFFSET ${n + 2}"
        )
        out: list[tuple[Article, Delivery]] = []
        seen: set[str] = set()
        page, offset = limit * 4, 0
        while len(out) < limit:  # a story posted to many channels takes many rows
            rows = await self._fetch(sql, *params, page, offset)
            for row in rows:
                delivery = to_delivery(list(row)[1:])
                if delivery.article_id in seen:
                    continue
                seen.add(delivery.article_id)
                out.append((article_from_dict(json.loads(row[0])), delivery))
            if len(rows) < page:
                break
            offset += page
        return out[:limit]
