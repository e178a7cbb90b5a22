"""Deliveries in the SQLite store: claims and their states, edits of posted
messages, route state and the audit log."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace

from bot.ingest.urls import canonical_url
from bot.models import Article, article_from_dict
from bot.store.records import (
    AuditEntry,
    Delivery,
    DeliveryState,
    RouteState,
    delivery_nonce,
    held_by_another,
)
from bot.store.sqlite.common import (
    _DELIVERY_COLUMNS,
    _DRIVER_ERRORS,
    _chunks,
    _delivery,
    _marks,
    _now,
)
from bot.store.sqlite.connection import Connection
from bot.store.sqlite.digests import HELD_BY_DIGEST

_CLAIMABLE = (DeliveryState.PENDING.value, DeliveryState.APPROVED.value)
_WITHDRAWN = "SELECT 1 FROM articles WHERE id = ? AND source = 'withdrawn'"


class Deliveries(Connection):
    """Each story's delivery to each channel, and what moderators did."""

    async def delivery(self, article_id: str, channel_id: int) -> Delivery | None:
        row = await self._one(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE article_id = ? AND channel_id = ?",
            (article_id, channel_id),
        )
        return _delivery(row) if row else None

    async def deliveries(
        self, channel_id: int | None = None, states: tuple[DeliveryState, ...] = ()
    ) -> list[Delivery]:
        where: list[str] = []
        params: list[int | str] = []
        if channel_id is not None:
            where.append("channel_id = ?")
            params.append(channel_id)
        if states:
            where.append(f"state IN ({_marks(len(states))})")
            params.extend(s.value for s in states)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = await self._all(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries{clause} ORDER BY updated_ts, article_id",
            params,
        )
        return [_delivery(r) for r in rows]

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
        """Move a delivery to ``state`` (creating it if new), if it is in ``expect``.

        Returns the updated delivery, or None when its current state is not expected.
        The check and the change happen in one statement, so two callers cannot both win.
        """
        now = _now()
        current = await self.delivery(article_id, channel_id)
        if expect is not None and (current.state if current else None) not in (
            *expect,
            *([None] if DeliveryState.PENDING in expect else []),
        ):
            return None
        if current is None:
            changed = await self._write(
                f"INSERT INTO deliveries ({_DELIVERY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT DO NOTHING",
                (
                    article_id,
                    channel_id,
                    state.value,
                    int(count_attempt),
                    delivery_nonce(article_id, channel_id),
                    message_id,
                    review_message_id,
                    decided_by,
                    error,
                    now,
                    now,
                    now if state is DeliveryState.SENT else None,
                ),
            )
        else:
            changed = await self._write(
                "UPDATE deliveries SET state = ?, attempts = attempts + ?,"
                " message_id = coalesce(?, message_id),"
                " review_message_id = coalesce(?, review_message_id),"
                " decided_by = coalesce(?, decided_by), last_error = ?, updated_ts = ?,"
                " sent_ts = CASE WHEN ? = 'sent' THEN ? ELSE sent_ts END,"
                " lease_owner = CASE WHEN ? = 'sending' THEN lease_owner END,"
                " lease_until = CASE WHEN ? = 'sending' THEN lease_until END"
                " WHERE article_id = ? AND channel_id = ? AND state = ?"
                # another owner's live lease: only its holder records the outcome
                " AND (state <> 'sending' OR lease_owner IS NULL OR lease_owner = ?"
                " OR lease_until <= ?)",
                (
                    state.value,
                    int(count_attempt),
                    message_id,
                    review_message_id,
                    decided_by,
                    error,
                    now,
                    state.value,
                    now,
                    state.value,
                    state.value,
                    article_id,
                    channel_id,
                    current.state.value,
                    self.lease_owner,
                    time.time(),
                ),
            )
        return await self.delivery(article_id, channel_id) if changed else None

    async def claim(self, article_id: str, channel_id: int) -> Delivery | None:
        """Claim a story for sending, as a lease of this store's owner (Store.claim).

        Read and changed in one write transaction (BEGIN IMMEDIATE): of two connections
        claiming at once, the second waits for the first's commit and reads its lease.
        """
        now, held = time.time(), f"EXISTS ({HELD_BY_DIGEST})"
        until, taken_over = now + self.lease_seconds, False
        async with self._write_transaction():
            row = await self._one(
                f"SELECT {held}, d.state, d.lease_owner, d.lease_until FROM (SELECT 1)"
                " LEFT JOIN deliveries d ON d.article_id = ? AND d.channel_id = ?",
                (article_id, channel_id, article_id, channel_id),
            )
            held_by_digest, state, owner, expiry = row
            if held_by_digest:
                return None  # a digest in flight holds it: settled with the digest
            if state == DeliveryState.SENDING.value:
                if held_by_another(owner, expiry, self.lease_owner, now):
                    return None  # another process is sending it
                taken_over = True
                await self._db.execute(
                    "UPDATE deliveries SET lease_owner = ?, lease_until = ?"
                    " WHERE article_id = ? AND channel_id = ?",
                    (self.lease_owner, until, article_id, channel_id),
                )
            elif state is not None and state not in _CLAIMABLE:
                return None
            elif await self._one(_WITHDRAWN, (article_id,)) is not None:
                return None  # withdrawn since it was queued
            elif state is None:
                await self._db.execute(
                    f"INSERT INTO deliveries ({_DELIVERY_COLUMNS}, lease_owner,"
                    " lease_until)"
                    " VALUES (?,?,'sending',1,?,NULL,NULL,NULL,NULL,?,?,NULL,?,?)",
                    (
                        article_id,
                        channel_id,
                        delivery_nonce(article_id, channel_id),
                        int(now),
                        int(now),
                        self.lease_owner,
                        until,
                    ),
                )
            else:
                await self._db.execute(
                    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1,"
                    " last_error = NULL, updated_ts = ?, lease_owner = ?,"
                    " lease_until = ? WHERE article_id = ? AND channel_id = ?",
                    (int(now), self.lease_owner, until, article_id, channel_id),
                )
        claimed = await self.delivery(article_id, channel_id)
        assert claimed is not None
        return replace(claimed, taken_over=taken_over)

    async def renew(self, article_id: str, channel_id: int) -> bool:
        return bool(
            await self._write(
                "UPDATE deliveries SET lease_until = ? WHERE article_id = ? AND channel_id = ?"
                " AND state = 'sending' AND lease_owner = ?",
                (time.time() + self.lease_seconds, article_id, channel_id, self.lease_owner),
            )
        )

    async def expire_leases(self) -> int:
        ended = 0
        for table in ("deliveries", "digests"):
            ended += await self._write(
                f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL"
                " WHERE lease_owner IS NOT NULL AND lease_owner <> ?",
                (self.lease_owner,),
            )
        return ended

    async def retry_failed(self, channel_id: int) -> int:
        return await self._write(
            "UPDATE deliveries SET state = 'pending', attempts = 0, last_error = NULL,"
            " updated_ts = ? WHERE channel_id = ? AND state = 'failed'",
            (_now(), channel_id),
        )

    async def last_posts(self, channel_ids: Sequence[int]) -> dict[int, int]:
        found = {}
        for channel_id in channel_ids:
            row = await self._one(
                "SELECT MAX(sent_ts) FROM deliveries WHERE channel_id = ? AND state = ?",
                (channel_id, DeliveryState.SENT.value),
            )
            if row[0] is not None:
                found[channel_id] = row[0]
        return found

    async def writable(self) -> bool:
        if self._lock.locked():  # this process is writing
            return True
        try:
            async with self._lock:
                await self._db.execute("BEGIN IMMEDIATE")
                await self._db.execute("ROLLBACK")
        except _DRIVER_ERRORS:
            return False
        return True

    async def pending_edits(self, limit: int = 100) -> list[Delivery]:
        """Deliveries whose posted message needs an edit (see apply_load), oldest first."""
        columns = ", ".join("d." + c.strip() for c in _DELIVERY_COLUMNS.split(","))
        rows = await self._all(
            f"SELECT {columns} FROM post_edits e JOIN deliveries d"
            " ON d.article_id = e.article_id AND d.channel_id = e.channel_id"
            " ORDER BY d.sent_ts IS NULL, d.sent_ts, d.article_id, d.channel_id LIMIT ?",
            (limit,),
        )
        return [_delivery(r) for r in rows]

    async def edit_done(self, article_id: str, channel_id: int) -> None:
        """The message is edited, or will never be: forget that it needs an edit."""
        await self._write(
            "DELETE FROM post_edits WHERE article_id = ? AND channel_id = ?",
            (article_id, channel_id),
        )

    async def articles_by_url(self, urls: Sequence[str]) -> dict[str, Article]:
        asked: dict[str, list[str]] = {}
        for url in urls:
            try:
                asked.setdefault(canonical_url(url), []).append(url)
            except ValueError:  # no URL at all (urlsplit refuses it): no story has it
                continue
        found: dict[str, Article] = {}
        for chunk in _chunks(list(asked)):
            for canonical, data in await self._all(
                "SELECT canonical_url, data FROM articles"
                f" WHERE canonical_url IN ({_marks(len(chunk))})",
                tuple(chunk),
            ):
                article = article_from_dict(json.loads(data))
                found.update((url, article) for url in asked[canonical])
        return found

    async def deliveries_of_posts(
        self, channel_id: int, message_ids: Sequence[int], nonces: Sequence[str]
    ) -> list[Delivery]:
        found: dict[tuple[str, int], Delivery] = {}
        for column, values in (("message_id", list(message_ids)), ("nonce", list(nonces))):
            for chunk in _chunks(values):
                rows = await self._all(
                    f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE channel_id = ?"
                    f" AND {column} IN ({_marks(len(chunk))})",
                    (channel_id, *chunk),
                )
                found.update(((r[0], r[1]), _delivery(r)) for r in rows)
        return list(found.values())

    async def sent_for_article(self, article_id: str) -> list[Delivery]:
        rows = await self._all(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE article_id = ? AND state = ?"
            " ORDER BY channel_id",
            (article_id, DeliveryState.SENT.value),
        )
        return [_delivery(r) for r in rows]

    # ------------------------------------------------------------------ routes and audit

    async def route_state(self, channel_id: int) -> RouteState:
        row = await self._one(
            "SELECT channel_id, paused, pause_reason, disabled, disabled_reason FROM routes"
            " WHERE channel_id = ?",
            (channel_id,),
        )
        if row is None:
            return RouteState(channel_id)
        return RouteState(row[0], bool(row[1]), row[2], bool(row[3]), row[4])

    async def set_route_state(self, state: RouteState) -> None:
        await self._write(
            "INSERT INTO routes (channel_id, paused, pause_reason, disabled, disabled_reason,"
            " updated_ts) VALUES (?,?,?,?,?,?) ON CONFLICT (channel_id) DO UPDATE SET"
            " paused = excluded.paused, pause_reason = excluded.pause_reason,"
            " disabled = excluded.disabled, disabled_reason = excluded.disabled_reason,"
            " updated_ts = excluded.updated_ts",
            (
                state.channel_id,
                int(state.paused),
                state.pause_reason,
                int(state.disabled),
                state.disabled_reason,
                _now(),
            ),
        )

    async def route_guilds(self) -> dict[int, int]:
        rows = await self._all("SELECT channel_id, guild_id FROM route_guilds")
        return {channel_id: guild_id for channel_id, guild_id in rows}

    async def set_route_guild(self, channel_id: int, guild_id: int) -> None:
        await self._write(
            "INSERT INTO route_guilds (channel_id, guild_id, learned_ts) VALUES (?,?,?)"
            " ON CONFLICT (channel_id) DO UPDATE SET guild_id = excluded.guild_id,"
            " learned_ts = excluded.learned_ts",
            (channel_id, guild_id, _now()),
        )

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
        await self._write(
            "INSERT INTO audit_log (ts, actor_id, actor_name, action, channel_id, article_id,"
            " detail, result) VALUES (?,?,?,?,?,?,?,?)",
            (_now(), actor_id, actor_name, action, channel_id, article_id, detail, result),
        )

    async def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        rows = await self._all(
            "SELECT id, ts, actor_id, actor_name, action, channel_id, article_id, detail, result"
            " FROM audit_log ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [AuditEntry(*r) for r in rows]
