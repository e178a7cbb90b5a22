"""The PostgreSQL store's queues, pins, deliveries, routes and audit log."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.models import Article, article_from_dict
from bot.store.postgres.connection import CLOCK
from bot.store.postgres.digests import HELD_BY_DIGEST
from bot.store.postgres.reading import DELIVERY_COLUMNS, PostgresReading, rank_order, to_delivery
from bot.store.records import (
    AuditEntry,
    Delivery,
    DeliveryState,
    NotFound,
    QueueItem,
    RouteFilter,
    RouteState,
    delivery_nonce,
    held_by_another,
    screened_pages,
)

_PINNED = (
    " FROM queue_entries q"
    " WHERE q.channel_id = $1 AND NOT EXISTS (SELECT 1 FROM deliveries d"
    "   WHERE d.article_id = q.article_id AND d.channel_id = q.channel_id"
    "   AND d.state IN ('sent', 'skipped', 'failed', 'review'))"
    " AND NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = q.article_id"
    "   AND a.source = 'withdrawn')"
)


# One post per event and channel: a story merged into another's event never ranks, and a
# lead ranks only while no other story of its event has been offered to the channel (a
# delivery past pending: sent, being sent, in review, skipped, failed).
_EVENT_NOT_TAKEN = (
    "(a.event_id IS NULL OR (a.event_id = a.id AND NOT EXISTS (SELECT 1 FROM articles m"
    " JOIN deliveries d ON d.article_id = m.id WHERE m.event_id = a.id AND m.id <> a.id"
    " AND d.channel_id = {0} AND d.state <> 'pending')))"
)


_CLAIMABLE = (DeliveryState.PENDING.value, DeliveryState.APPROVED.value)
_WITHDRAWN = "SELECT 1 FROM articles WHERE id = $1 AND source = 'withdrawn'"


def _now() -> int:
    return int(time.time())


class _Params:
    """Bound values, each added where the SQL names it ($1, $2…)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _quality_parts(route: RouteFilter, unknown: int) -> list[tuple[str, list[int]]]:
    """The route's quality filter as one or two clauses ("{}" for each value) whose
    stories are read in turn (see the SQLite store's Queues._quality_parts): a story of
    unknown quality passes min_quality unless the route requires one, ranked as
    ``unknown`` (unknown_quality); below min_quality, after every known one that passes."""
    if route.require_quality:
        return [("a.quality >= {} AND NOT a.quality_unknown", [route.min_quality])]
    if unknown >= route.min_quality:
        return [("a.quality >= {}", [route.min_quality])]
    return [
        ("a.quality >= {}", [route.min_quality]),
        ("a.quality = {} AND a.quality_unknown", [unknown]),
    ]


def _route_parts(route: RouteFilter, unknown: int, *, offered: bool) -> list[tuple[str, list[Any]]]:
    """_route_where for each of _quality_parts: (WHERE, its values) to read in turn."""
    parts = []
    for clause, values in _quality_parts(route, unknown):
        bind = _Params()
        quality = clause.format(*(bind(v) for v in values))
        parts.append((_route_where(route, bind, offered=offered, quality=quality), bind.values))
    return parts


def _route_where(route: RouteFilter, bind: _Params, *, offered: bool, quality: str) -> str:
    """The stories ``route`` takes (unpinned), as a WHERE on ``articles a``: its filter
    (topics, ``quality``, age, published, where a submission may go); ``offered``: also
    those with a delivery in a state that still queues (pending, sending, approved). Not
    the word and provider filters (route.screen, applied to the rows read)."""
    where = [quality] if route.include_published else ["NOT a.published", quality]
    if route.min_published_ts is not None:
        where.append(f"coalesce(a.published_ts, a.first_seen_ts) >= {bind(route.min_published_ts)}")
    if route.min_first_seen_ts is not None:
        where.append(f"a.first_seen_ts >= {bind(route.min_first_seen_ts)}")
    if route.topics:
        where.append(
            "EXISTS (SELECT 1 FROM article_topics t WHERE t.article_rowid = a.rowid"
            f" AND t.key = ANY({bind(list(route.topics))}::text[]))"
        )
    if route.exclude_topics:
        where.append(
            "NOT EXISTS (SELECT 1 FROM article_topics t WHERE t.article_rowid = a.rowid"
            f" AND t.key = ANY({bind(list(route.exclude_topics))}::text[]))"
        )
    channel = bind(route.channel_id)
    where.append(
        "a.id NOT IN (SELECT s.article_id FROM submitted_stories s WHERE NOT EXISTS"
        " (SELECT 1 FROM submitted_channels c WHERE c.article_id = s.article_id"
        f" AND c.channel_id = {channel}))"
    )
    done = " AND d.state NOT IN ('pending', 'sending', 'approved')" if offered else ""
    where += [
        f"NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.article_id = a.id"
        f" AND d.channel_id = {channel}{done})",
        f"NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.article_id = a.id"
        f" AND q.channel_id = {channel})",
        "a.source <> 'withdrawn'",
        _EVENT_NOT_TAKEN.format(channel),
    ]
    return " AND ".join(where)


class PostgresQueue(PostgresReading):
    """What each channel posts next, and what became of each story in each channel."""

    async def _pinned_items(self, channel_id: int, limit: int) -> list[QueueItem]:
        pinned = await self._fetch(
            "SELECT q.article_id, q.position" + _PINNED
            + " ORDER BY q.position, q.added_ts LIMIT $2",
            channel_id, limit,
        )  # fmt: skip
        if not pinned:
            return []
        articles = {a.id: a for a in await self.get_articles([r[0] for r in pinned])}
        return [
            QueueItem(articles[ident], True, position)
            for ident, position in pinned
            if ident in articles
        ]

    async def _screened(
        self, route: RouteFilter, parts: list[tuple[str, list[Any]]], order: str, limit: int
    ) -> list[Article]:
        """The first ``limit`` stories of ``parts`` (read in turn, each in ``order``) that
        route.screen() takes; with word or provider filters, a page at a time."""
        out: list[Article] = []
        for where, values in parts:
            if len(out) >= limit:
                break
            n = len(values)
            sql = f"SELECT a.data FROM articles a WHERE {where} ORDER BY {order}"

            async def page(
                size: int, offset: int, sql: str = sql, n: int = n, values: list[Any] = values
            ) -> list[Article]:
                rows = await self._fetch(
                    f"{sql} LIMIT ${n + 1} OFFSET ${n + 2}", *values, size, offset
                )
                return [article_from_dict(json.loads(r[0])) for r in rows]

            out += await screened_pages(route, limit - len(out), page)
        return out

    @staticmethod
    def _queue_order(route: RouteFilter) -> str:
        return rank_order("a") if route.include_published else f"a.published, {rank_order('a')}"

    async def next_for_channel(self, route: RouteFilter, limit: int = 1) -> list[QueueItem]:
        items = await self._pinned_items(route.channel_id, limit)
        if len(items) >= limit:
            return items
        parts = _route_parts(route, self._unknown_quality, offered=True)
        ranked = await self._with_events(
            await self._screened(route, parts, self._queue_order(route), limit - len(items))
        )
        items += [QueueItem(article, False, None) for article in ranked]
        return items

    async def queue_length(self, route: RouteFilter, limit: int) -> int:
        count = int(
            await self._fetchval(
                "SELECT count(*) FROM (SELECT 1" + _PINNED + " LIMIT $2) pinned",
                route.channel_id,
                limit,
            )
        )
        parts = _route_parts(route, self._unknown_quality, offered=True)
        if route.screens:  # each story's words are read: only as many as the count needs
            order = self._queue_order(route)
            return count + len(await self._screened(route, parts, order, limit - count))
        for where, values in parts:
            if count >= limit:
                break
            count += int(
                await self._fetchval(
                    f"SELECT count(*) FROM (SELECT 1 FROM articles a WHERE {where}"
                    f" LIMIT ${len(values) + 1}) ranked",
                    *values,
                    limit - count,
                )
            )
        return count

    async def next_approved(self, channel_id: int, limit: int = 1) -> list[QueueItem]:
        """Pinned stories, then approved ones (pending counts as approved: on an approval
        route a delivery is pending only after a decision) in approval order."""
        items = await self._pinned_items(channel_id, limit)
        if len(items) >= limit:
            return items
        rows = await self._fetch(
            "SELECT a.data FROM deliveries d JOIN articles a ON a.id = d.article_id"
            " WHERE d.channel_id = $1 AND d.state IN ('approved', 'pending')"
            " AND a.source <> 'withdrawn'"
            " AND NOT EXISTS (SELECT 1 FROM queue_entries q WHERE q.article_id = d.article_id"
            " AND q.channel_id = d.channel_id)"
            " ORDER BY d.updated_ts, d.article_id LIMIT $2",
            channel_id,
            limit - len(items),
        )
        approved = await self._with_events([article_from_dict(json.loads(r[0])) for r in rows])
        items += [QueueItem(article, False, None) for article in approved]
        return items

    async def review_candidates(self, route: RouteFilter, limit: int = 1) -> list[Article]:
        parts = _route_parts(route, self._unknown_quality, offered=False)
        return await self._with_events(await self._screened(route, parts, rank_order("a"), limit))

    # ------------------------------------------------------------------ pins

    async def pin(
        self, channel_id: int, article_id: str, position: int | None, actor_id: int | None
    ) -> int:
        if await self.get_article(article_id) is None:
            raise NotFound(f"no article {article_id}")
        async with self._transaction():
            # the channel's pins, locked until the commit: two pins take turns
            await self._fetch(
                "SELECT 1 FROM queue_entries WHERE channel_id = $1 FOR UPDATE", channel_id
            )
            order = [a for a in await self.pins(channel_id) if a != article_id]
            index = len(order) if position is None else max(0, min(position - 1, len(order)))
            order.insert(index, article_id)
            await self._execute(
                "INSERT INTO queue_entries (channel_id, article_id, position, added_by, added_ts)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                channel_id, article_id, index + 1, actor_id, _now(),
            )  # fmt: skip
            await self._execute(
                "UPDATE queue_entries q SET position = o.n FROM unnest($2::text[])"
                " WITH ORDINALITY AS o(article_id, n)"
                " WHERE q.channel_id = $1 AND q.article_id = o.article_id",
                channel_id,
                order,
            )
        return index + 1

    async def unpin(self, channel_id: int, article_id: str) -> bool:
        changed = await self._execute(
            "DELETE FROM queue_entries WHERE channel_id = $1 AND article_id = $2",
            channel_id,
            article_id,
        )
        return changed > 0

    async def pins(self, channel_id: int) -> list[str]:
        rows = await self._fetch(
            "SELECT article_id FROM queue_entries WHERE channel_id = $1"
            " ORDER BY position, added_ts",
            channel_id,
        )
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ deliveries

    async def delivery(self, article_id: str, channel_id: int) -> Delivery | None:
        row = await self._fetchrow(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE article_id = $1 AND channel_id = $2",
            article_id,
            channel_id,
        )
        return to_delivery(row) if row else None

    async def deliveries(
        self, channel_id: int | None = None, states: tuple[DeliveryState, ...] = ()
    ) -> list[Delivery]:
        bind = _Params()
        where: list[str] = []
        if channel_id is not None:
            where.append(f"channel_id = {bind(channel_id)}")
        if states:
            where.append(f"state = ANY({bind([s.value for s in states])}::text[])")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._fetch(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries{clause} ORDER BY updated_ts, article_id",
            *bind.values,
        )
        return [to_delivery(r) for r in rows]

    async def set_delivery(
        self,
        article_id: str,
        channel_id: int,
        state: DeliveryState,
        *,
        expect: tuple[DeliveryState, ...] | None = None,
        message_id: int | None = None,
        review_message_id: int | None = None,
        decided_by: int | None = None,
        error: str | None = None,
        count_attempt: bool = False,
    ) -> Delivery | None:
        """The check and the change in one statement: of two callers expecting the same
        state, one changes the row and the other finds it changed (or, for a new delivery,
        the row inserted)."""
        now = _now()
        current = await self.delivery(article_id, channel_id)
        if expect is not None and (current.state if current else None) not in (
            *expect,
            *([None] if DeliveryState.PENDING in expect else []),
        ):
            return None
        if current is None:
            changed = await self._execute(
                f"INSERT INTO deliveries ({DELIVERY_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)"
                " ON CONFLICT DO NOTHING",
                article_id, channel_id, state.value, int(count_attempt),
                delivery_nonce(article_id, channel_id), message_id, review_message_id,
                decided_by, error, now, now if state is DeliveryState.SENT else None,
            )  # fmt: skip
        else:
            changed = await self._execute(
                "UPDATE deliveries SET state = $1, attempts = attempts + $2,"
                " message_id = coalesce($3, message_id),"
                " review_message_id = coalesce($4, review_message_id),"
                " decided_by = coalesce($5, decided_by), last_error = $6, updated_ts = $7,"
                " sent_ts = CASE WHEN $1 = 'sent' THEN $7 ELSE sent_ts END,"
                " lease_owner = CASE WHEN $1 = 'sending' THEN lease_owner END,"
                " lease_until = CASE WHEN $1 = 'sending' THEN lease_until END"
                " WHERE article_id = $8 AND channel_id = $9 AND state = $10"
                # another owner's live lease: only its holder records the outcome
                " AND (state <> 'sending' OR lease_owner IS NULL OR lease_owner = $11"
                f" OR lease_until <= {CLOCK})",
                state.value, int(count_attempt), message_id, review_message_id, decided_by,
                error, now, article_id, channel_id, current.state.value, self.lease_owner,
            )  # fmt: skip
        return await self.delivery(article_id, channel_id) if changed else None

    async def claim(self, article_id: str, channel_id: int) -> Delivery | None:
        """A lease of this store's owner (Store.claim), in one transaction: the row is
        read ``FOR UPDATE SKIP LOCKED``, so a claim that meets one another is making
        returns None at once rather than waiting; a new delivery is inserted with ON
        CONFLICT DO NOTHING, so of two inserting at once one gets it. Expiries are by the
        server's clock, which every process shares."""
        taken_over = False
        async with self._transaction():
            row = await self._fetchrow(
                f"SELECT {HELD_BY_DIGEST}, d.state, d.lease_owner, d.lease_until, {CLOCK}"
                " FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT * FROM deliveries"
                " WHERE article_id = $1 AND channel_id = $2 FOR UPDATE SKIP LOCKED) d ON true",
                article_id,
                channel_id,
            )
            assert row is not None
            held_by_digest, state, owner, expiry, now = row
            until = now + self.lease_seconds
            if held_by_digest:
                return None  # a digest in flight holds it: settled with the digest
            if state == DeliveryState.SENDING.value:
                if held_by_another(owner, expiry, self.lease_owner, now):
                    return None  # another process is sending it
                taken_over = True
                await self._execute(
                    "UPDATE deliveries SET lease_owner = $3, lease_until = $4"
                    " WHERE article_id = $1 AND channel_id = $2",
                    article_id, channel_id, self.lease_owner, until,
                )  # fmt: skip
            elif state is not None and state not in _CLAIMABLE:
                return None
            elif await self._fetchrow(_WITHDRAWN, article_id) is not None:
                return None  # withdrawn since it was queued
            elif state is None:
                # no row, or one locked by a claim in progress: then the insert finds it
                # there (after that claim commits) and inserts nothing
                inserted = await self._execute(
                    f"INSERT INTO deliveries ({DELIVERY_COLUMNS}, lease_owner, lease_until)"
                    " VALUES ($1, $2, 'sending', 1, $3, NULL, NULL, NULL, NULL, $4, $4, NULL,"
                    " $5, $6) ON CONFLICT DO NOTHING",
                    article_id, channel_id, delivery_nonce(article_id, channel_id),
                    int(now), self.lease_owner, until,
                )  # fmt: skip
                if not inserted:
                    return None
            else:
                await self._execute(
                    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1,"
                    " last_error = NULL, updated_ts = $3, lease_owner = $4, lease_until = $5"
                    " WHERE article_id = $1 AND channel_id = $2",
                    article_id, channel_id, int(now), self.lease_owner, until,
                )  # fmt: skip
            claimed = await self.delivery(article_id, channel_id)
        assert claimed is not None
        return replace(claimed, taken_over=taken_over)

    async def renew(self, article_id: str, channel_id: int) -> bool:
        renewed = await self._execute(
            f"UPDATE deliveries SET lease_until = {CLOCK} + $4"
            " WHERE article_id = $1 AND channel_id = $2 AND state = 'sending'"
            " AND lease_owner = $3",
            article_id, channel_id, self.lease_owner, self.lease_seconds,
        )  # fmt: skip
        return bool(renewed)

    async def expire_leases(self) -> int:
        ended = 0
        for table in ("deliveries", "digests"):
            ended += await self._execute(
                f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL"
                " WHERE lease_owner IS NOT NULL AND lease_owner <> $1",
                self.lease_owner,
            )
        return ended

    async def retry_failed(self, channel_id: int) -> int:
        return await self._execute(
            "UPDATE deliveries SET state = 'pending', attempts = 0, last_error = NULL,"
            " updated_ts = $1 WHERE channel_id = $2 AND state = 'failed'",
            _now(),
            channel_id,
        )

    async def last_posts(self, channel_ids: Sequence[int]) -> dict[int, int]:
        rows = await self._fetch(
            "SELECT channel_id, max(sent_ts) FROM deliveries"
            " WHERE channel_id = ANY($1::bigint[]) AND state = 'sent' AND sent_ts IS NOT NULL"
            " GROUP BY channel_id",
            list(channel_ids),
        )
        return {channel: int(ts) for channel, ts in rows}

    async def pending_edits(self, limit: int = 100) -> list[Delivery]:
        columns = ", ".join("d." + c.strip() for c in DELIVERY_COLUMNS.split(","))
        rows = await self._fetch(
            f"SELECT {columns} FROM post_edits e JOIN deliveries d"
            " ON d.article_id = e.article_id AND d.channel_id = e.channel_id"
            " ORDER BY d.sent_ts IS NULL, d.sent_ts, d.article_id, d.channel_id LIMIT $1",
            limit,
        )
        return [to_delivery(r) for r in rows]

    async def edit_done(self, article_id: str, channel_id: int) -> None:
        await self._execute(
            "DELETE FROM post_edits WHERE article_id = $1 AND channel_id = $2",
            article_id,
            channel_id,
        )

    async def deliveries_of_posts(
        self, channel_id: int, message_ids: Sequence[int], nonces: Sequence[str]
    ) -> list[Delivery]:
        rows = await self._fetch(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE channel_id = $1"
            " AND (message_id = ANY($2::bigint[]) OR nonce = ANY($3::text[]))",
            channel_id,
            list(message_ids),
            list(nonces),
        )
        return [to_delivery(r) for r in rows]

    async def sent_for_article(self, article_id: str) -> list[Delivery]:
        rows = await self._fetch(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE article_id = $1 AND state = $2"
            " ORDER BY channel_id",
            article_id,
            DeliveryState.SENT.value,
        )
        return [to_delivery(r) for r in rows]

    # ------------------------------------------------------------------ routes and audit

    async def route_state(self, channel_id: int) -> RouteState:
        row = await self._fetchrow(
            "SELECT channel_id, paused, pause_reason, disabled, disabled_reason FROM routes"
            " WHERE channel_id = $1",
            channel_id,
        )
        if row is None:
            return RouteState(channel_id)
        return RouteState(row[0], bool(row[1]), row[2], bool(row[3]), row[4])

    async def set_route_state(self, state: RouteState) -> None:
        await self._execute(
            "INSERT INTO routes (channel_id, paused, pause_reason, disabled, disabled_reason,"
            " updated_ts) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (channel_id) DO UPDATE SET"
            " paused = excluded.paused, pause_reason = excluded.pause_reason,"
            " disabled = excluded.disabled, disabled_reason = excluded.disabled_reason,"
            " updated_ts = excluded.updated_ts",
            state.channel_id, state.paused, state.pause_reason, state.disabled,
            state.disabled_reason, _now(),
        )  # fmt: skip

    async def route_guilds(self) -> dict[int, int]:
        rows = await self._fetch("SELECT channel_id, guild_id FROM route_guilds")
        return {row[0]: row[1] for row in rows}

    async def set_route_guild(self, channel_id: int, guild_id: int) -> None:
        await self._execute(
            "INSERT INTO route_guilds (channel_id, guild_id, learned_ts) VALUES ($1, $2, $3)"
            " ON CONFLICT (channel_id) DO UPDATE SET guild_id = excluded.guild_id,"
            " learned_ts = excluded.learned_ts",
            channel_id, guild_id, _now(),
        )  # fmt: skip

    async def audit(
        self,
        action: str,
        result: str,
        *,
        actor_id: int | None = None,
        actor_name: str | None = None,
        channel_id: int | None = None,
        article_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        await self._execute(
            "INSERT INTO audit_log (ts, actor_id, actor_name, action, channel_id, article_id,"
            " detail, result) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            _now(), actor_id, actor_name, action, channel_id, article_id, detail, result,
        )  # fmt: skip

    async def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        rows = await self._fetch(
            "SELECT id, ts, actor_id, actor_name, action, channel_id, article_id, detail, result"
            " FROM audit_log ORDER BY id DESC LIMIT $1",
            limit,
        )
        return [AuditEntry(*r) for r in rows]
