"""The SQLite store's queues: a route's next stories in ranking order, approvals,
pins."""

from __future__ import annotations

import json
from typing import Any

from bot.models import Article, article_from_dict
from bot.store.records import (
    NotFound,
    QueueItem,
    RouteFilter,
    screened_pages,
)
from bot.store.sqlite.common import (
    _NOT_WITHDRAWN,
    _marks,
    _now,
    _rank_order,
)
from bot.store.sqlite.reading import Reading

# Stories a moderator submitted for other channels than ?: kept out of its ranked queue.
_NOT_SUBMITTED_ELSEWHERE = (
    "a.id NOT IN (SELECT s.article_id FROM submitted_stories s WHERE NOT EXISTS"
    " (SELECT 1 FROM submitted_channels c WHERE c.article_id = s.article_id"
    " AND c.channel_id = ?))"
)


# One post per event and channel: a story merged into another's event never ranks, and a
# lead ranks only while no other story of its event has been offered to the channel (a
# delivery past pending: sent, being sent, in review, skipped, failed).
_EVENT_NOT_TAKEN = (
    "(a.event_id IS NULL OR (a.event_id = a.id AND NOT EXISTS (SELECT 1 FROM articles m"
    " JOIN deliveries d ON d.article_id = m.id WHERE m.event_id = a.id AND m.id <> a.id"
    " AND d.channel_id = ? AND d.state <> 'pending')))"
)


class Queues(Reading):
    """What each channel posts next."""

    def _quality_parts(self, route: RouteFilter) -> list[tuple[str, list[Any]]]:
        """The channel's quality filter as one or two WHEREs on ``articles a``, to be read
        one after the other: the queue is the first's stories, then the second's.

        An unknown quality passes min_quality unless the route requires one, and ranks as
        unknown_quality. Below min_quality, those stories come after every known one that
        passes, so they are a second read (the slice of the ranking index at that quality)
        rather than an OR that would let the first walk the index past its bound."""
        unknown = self._unknown_quality
        if route.require_quality:
            return [("a.quality >= ? AND a.quality_unknown = 0", [route.min_quality])]
        if unknown >= route.min_quality:  # within the bound already
            return [("a.quality >= ?", [route.min_quality])]
        return [
            ("a.quality >= ?", [route.min_quality]),
            ("a.quality = ? AND a.quality_unknown = 1", [unknown]),
        ]

    def _route_clauses(self, route: RouteFilter) -> tuple[list[str], list[Any]]:
        """The channel's filter but quality (topics, age, published) as SQL on ``articles
        a``. Neither quality (see _quality_parts) nor words and providers (_screened)."""
        where = [] if route.include_published else ["a.published = 0"]
        params: list[Any] = []
        if route.min_published_ts is not None:
            where.append("coalesce(a.published_ts, a.first_seen_ts) >= ?")
            params.append(route.min_published_ts)
        if route.min_first_seen_ts is not None:
            where.append("a.first_seen_ts >= ?")
            params.append(route.min_first_seen_ts)
        if route.topics:
            where.append(
                "EXISTS (SELECT 1 FROM article_topics t WHERE t.article_rowid = a.rowid"
                f" AND t.key IN ({_marks(len(route.topics))}))"
            )
            params.extend(route.topics)
        if route.exclude_topics:
            where.append(
                "NOT EXISTS (SELECT 1 FROM article_topics t WHERE t.article_rowid = a.rowid"
                f" AND t.key IN ({_marks(len(route.exclude_topics))}))"
            )
            params.extend(route.exclude_topics)
        # A moderator's story only where it was submitted for: the set of stories kept
        # out is read once per query, not per row.
        where.append(_NOT_SUBMITTED_ELSEWHERE)
        params.append(route.channel_id)
        return where, params

    _PINNED = (
        " FROM queue_entries q"
        " WHERE q.channel_id = ? AND NOT EXISTS (SELECT 1 FROM deliveries d"
        "   WHERE d.article_id = q.article_id AND d.channel_id = q.channel_id"
        "   AND d.state IN ('sent', 'skipped', 'failed', 'review'))"
        " AND NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = q.article_id"
        "   AND a.source = 'withdrawn')"
    )

    async def _pinned_items(self, channel_id: int, limit: int) -> list[QueueItem]:
        """Pinned stories in their order, except those done or waiting for review."""
        pinned = await self._all(
            "SELECT q.article_id, q.position" + self._PINNED
            + " ORDER BY q.position, q.added_ts LIMIT ?",
            (channel_id, limit),
        )  # fmt: skip
        return [
            QueueItem(article, True, position)
            for article, (_, position) in zip(
                await self.get_articles([r[0] for r in pinned]), pinned, strict=False
            )
        ]

    def _parts(self, route: RouteFilter, rest: list[str]) -> list[tuple[str, list[Any]]]:
        """The stories ``route`` takes as WHEREs on ``articles a`` to read in turn (see
        _quality_parts), each with ``rest``, whose marks are each the channel's id."""
        filters, params = self._route_clauses(route)
        channel = [route.channel_id] * sum(clause.count("?") for clause in rest)
        return [
            (" AND ".join([quality, *filters, *rest]), [*first, *params, *channel])
            for quality, first in self._quality_parts(route)
        ]

    def _ranked_parts(self, route: RouteFilter) -> list[tuple[str, list[Any]]]:
        """The unpinned stories ``route`` takes."""
        return self._parts(
            route,
            [
                "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.article_id = a.id"
                " AND d.channel_id = ? AND d.state NOT IN ('pending', 'sending', 'approved'))",
                "NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.article_id = a.id"
                " AND q.channel_id = ?)",
                _NOT_WITHDRAWN,
                _EVENT_NOT_TAKEN,
            ],
        )

    @staticmethod
    def _queue_order(route: RouteFilter) -> str:
        # "published" first lets the unpublished-only query walk articles_rank
        return _rank_order("a") if route.include_published else f"a.published, {_rank_order('a')}"

    async def _screened(
        self, route: RouteFilter, parts: list[tuple[str, list[Any]]], order: str, limit: int
    ) -> list[Article]:
        """The first ``limit`` stories of ``parts`` (WHEREs on ``articles a``, read in
        turn, each in ``order``) that route.screen() takes. Without word or provider
        filters that is a query per part at most; with them the rows are read a page at a
        time until enough pass."""
        out: list[Article] = []
        for where, params in parts:
            if len(out) >= limit:
                break
            sql = f"SELECT a.data FROM articles a WHERE {where} ORDER BY {order}"

            async def page(
                size: int, offset: int, sql: str = sql, params: list[Any] = params
            ) -> list[Article]:
                rows = await self._all(f"{sql} LIMIT ? OFFSET ?", [*params, size, offset])
                return [article_from_dict(json.loads(r[0])) for r in rows]

            out += await screened_pages(route, limit - len(out), page)
        return out

    async def next_for_channel(self, route: RouteFilter, limit: int = 1) -> list[QueueItem]:
        """Pinned stories in their order, then eligible ones by rank. Never a done one."""
        items = await self._pinned_items(route.channel_id, limit)
        if len(items) >= limit:
            return items
        ranked = await self._screened(
            route, self._ranked_parts(route), self._queue_order(route), limit - len(items)
        )
        ranked = await self._with_events(ranked)
        items += [QueueItem(article, False, None) for article in ranked]
        return items

    async def queue_length(self, route: RouteFilter, limit: int) -> int:
        count = int(
            (
                await self._one(
                    "SELECT count(*) FROM (SELECT 1" + self._PINNED + " LIMIT ?)",
                    (route.channel_id, limit),
                )
            )[0]
        )
        parts = self._ranked_parts(route)
        if route.screens:  # each story's words are read: only as many as the count needs
            order = self._queue_order(route)
            return count + len(await self._screened(route, parts, order, limit - count))
        for where, params in parts:
            if count >= limit:
                break
            count += (
                await self._one(
                    f"SELECT count(*) FROM (SELECT 1 FROM articles a WHERE {where} LIMIT ?)",
                    [*params, limit - count],
                )
            )[0]
        return count

    async def next_approved(self, channel_id: int, limit: int = 1) -> list[QueueItem]:
        """An approval route's queue: pinned stories, then approved ones in approval order.

        ``pending`` counts as approved here: on an approval route a delivery is only
        pending after a decision (a retried failure, or a send the channel refused).
        """
        items = await self._pinned_items(channel_id, limit)
        if len(items) >= limit:
            return items
        rows = await self._all(
            "SELECT a.data FROM deliveries d JOIN articles a ON a.id = d.article_id"
            " WHERE d.channel_id = ? AND d.state IN ('approved', 'pending')"
            " AND a.source <> 'withdrawn'"
            " AND NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.article_id = d.article_id"
            " AND q.channel_id = d.channel_id)"
            " ORDER BY d.updated_ts, d.article_id LIMIT ?",
            (channel_id, limit - len(items)),
        )
        approved = await self._with_events([article_from_dict(json.loads(r[0])) for r in rows])
        items += [QueueItem(article, False, None) for article in approved]
        return items

    async def review_candidates(self, route: RouteFilter, limit: int = 1) -> list[Article]:
        """Eligible stories never offered to the channel (no delivery, not pinned), by rank."""
        parts = self._parts(
            route,
            [
                "NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.article_id = a.id"
                " AND d.channel_id = ?)",
                "NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.article_id = a.id"
                " AND q.channel_id = ?)",
                _NOT_WITHDRAWN,
                _EVENT_NOT_TAKEN,
            ],
        )
        return await self._with_events(await self._screened(route, parts, _rank_order("a"), limit))

    async def pin(
        self, channel_id: int, article_id: str, position: int | None, actor_id: int | None
    ) -> int:
        """Pin a story to a channel's queue at ``position`` (1-based; None = last)."""
        if await self.get_article(article_id) is None:
            raise NotFound(f"no article {article_id}")
        order = [a for a in await self.pins(channel_id) if a != article_id]
        index = len(order) if position is None else max(0, min(position - 1, len(order)))
        order.insert(index, article_id)
        now = _now()
        await self._transaction(
            [
                (
                    "INSERT INTO queue_entries (channel_id, article_id, position, added_by,"
                    " added_ts) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                    (channel_id, article_id, index + 1, actor_id, now),
                ),
                (
                    "UPDATE queue_entries SET position = ? WHERE channel_id = ? AND article_id = ?",
                    [(n + 1, channel_id, a) for n, a in enumerate(order)],
                ),
            ]
        )
        return index + 1

    async def unpin(self, channel_id: int, article_id: str) -> bool:
        changed = await self._write(
            "DELETE FROM queue_entries WHERE channel_id = ? AND article_id = ?",
            (channel_id, article_id),
        )
        return changed > 0

    async def pins(self, channel_id: int) -> list[str]:
        rows = await self._all(
            "SELECT article_id FROM queue_entries WHERE channel_id = ? ORDER BY position, added_ts",
            (channel_id,),
        )
        return [r[0] for r in rows]
