"""Digests in the PostgreSQL store: several stories of a channel claimed, recorded or put
back as one delivery unit (migration 2)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import asyncpg

from bot.store.base import (
    DeliveryState,
    Digest,
    DigestState,
    StoreError,
    delivery_nonce,
    digest_nonce,
)
from bot.store.postgres.connection import PostgresBase

_DIGEST_COLUMNS = (
    "id, channel_id, state, nonce, attempts, message_id, last_error, created_ts, sent_ts"
)
# the stories of a SENDING digest of the channel: claimed by no one else until it settles
HELD_BY_DIGEST = (
    "SELECT 1 FROM digest_items i JOIN digests g ON g.id = i.digest_id"
    " WHERE i.article_id = $1 AND g.channel_id = $2 AND g.state = 'sending'"
)
_CLAIMABLE = [DeliveryState.PENDING.value, DeliveryState.APPROVED.value]


def _now() -> int:
    return int(time.time())


class _InFlight(Exception):
    """The channel has a digest SENDING already (another claim won the race)."""


class PostgresDigests(PostgresBase):
    """Each digest of a channel and the stories it holds."""

    async def _digests(self, where: str, *params: Any) -> list[Digest]:
        rows = await self._fetch(
            f"SELECT {_DIGEST_COLUMNS}, ARRAY(SELECT i.article_id FROM digest_items i"
            " WHERE i.digest_id = digests.id ORDER BY i.position)"
            f" FROM digests WHERE {where} ORDER BY created_ts, id",
            *params,
        )
        found = []
        for row in rows:
            values = list(row)
            items = tuple(values.pop())
            values[2] = DigestState(values[2])
            values.insert(4, items)
            found.append(Digest(*values))
        return found

    async def claim_digest(self, channel_id: int, article_ids: Sequence[str]) -> Digest | None:
        """Each story goes to SENDING in a statement that checks its state, so a story is
        claimed once whoever else claims it; the unique index on digests in flight keeps
        one per channel (a claim that loses that race rolls back whole)."""
        digest_id = None
        try:
            async with self._transaction():
                in_flight = "SELECT 1 FROM digests WHERE channel_id = $1 AND state = 'sending'"
                if await self._fetchrow(in_flight, channel_id) is not None:
                    return None
                now = _now()
                claimed = []
                for article_id in dict.fromkeys(article_ids):
                    stored = "SELECT 1 FROM articles WHERE id = $1 AND source <> 'withdrawn'"
                    if await self._fetchrow(stored, article_id) is None:
                        continue  # withdrawn since it was chosen, or no such story
                    changed = await self._execute(
                        "INSERT INTO deliveries (article_id, channel_id, state, attempts, nonce,"
                        " created_ts, updated_ts) VALUES ($1, $2, 'sending', 1, $3, $4, $4)"
                        " ON CONFLICT (article_id, channel_id) DO UPDATE SET state = 'sending',"
                        " attempts = deliveries.attempts + 1, updated_ts = $4"
                        " WHERE deliveries.state = ANY($5::text[])",
                        article_id, channel_id, delivery_nonce(article_id, channel_id), now,
                        _CLAIMABLE,
                    )  # fmt: skip
                    if changed:
                        claimed.append(article_id)
                if not claimed:
                    return None
                try:
                    digest_id = await self._fetchval(
                        "INSERT INTO digests (channel_id, state, nonce, attempts, created_ts,"
                        " updated_ts) VALUES ($1, 'sending', $2, 1, $3, $3) RETURNING id",
                        channel_id,
                        digest_nonce(channel_id, claimed),
                        now,
                    )
                except StoreError as exc:
                    if isinstance(exc.__cause__, asyncpg.UniqueViolationError):
                        raise _InFlight from exc
                    raise
                await self._execute(
                    "INSERT INTO digest_items (digest_id, position, article_id)"
                    " SELECT $1, n, a FROM unnest($2::text[]) WITH ORDINALITY AS c(a, n)",
                    digest_id,
                    claimed,
                )
        except _InFlight:
            return None
        found = await self._digests("id = $1", digest_id)
        return found[0] if found else None

    async def digests(
        self, channel_id: int | None = None, states: tuple[DigestState, ...] = ()
    ) -> list[Digest]:
        where = ["true"]
        params: list[Any] = []
        if channel_id is not None:
            params.append(channel_id)
            where.append(f"channel_id = ${len(params)}")
        if states:
            params.append([s.value for s in states])
            where.append(f"state = ANY(${len(params)}::text[])")
        return await self._digests(" AND ".join(where), *params)

    async def digest_of_message(self, channel_id: int, message_id: int) -> Digest | None:
        found = await self._digests(
            "channel_id = $1 AND message_id = $2 AND state = 'sent'", channel_id, message_id
        )
        return found[0] if found else None

    async def last_digest_ts(self, channel_id: int) -> int | None:
        value = await self._fetchval(
            "SELECT max(created_ts) FROM digests WHERE channel_id = $1 AND state = 'sent'",
            channel_id,
        )
        return None if value is None else int(value)

    async def settle_digest(
        self,
        digest_id: int,
        state: DigestState | None,
        *,
        message_id: int | None = None,
        error: str | None = None,
        count_attempt: bool = False,
    ) -> Digest | None:
        """Move a SENDING digest and its stories' deliveries together, in one transaction
        (the digest's row locked: two settles take turns, the second finds it settled)."""
        items = "SELECT article_id FROM digest_items WHERE digest_id = $2"
        async with self._transaction():
            row = await self._fetchrow(
                "SELECT state, channel_id FROM digests WHERE id = $1 FOR UPDATE", digest_id
            )
            if row is None or row[0] != DigestState.SENDING.value:
                return None
            channel_id, now = row[1], _now()
            stories = f" WHERE channel_id = $1 AND state = 'sending' AND article_id IN ({items})"
            if state is DigestState.SENT:
                await self._execute(
                    "UPDATE digests SET state = 'sent', message_id = $1, sent_ts = $2,"
                    " updated_ts = $2, last_error = NULL WHERE id = $3",
                    message_id, now, digest_id,
                )  # fmt: skip
                await self._execute(
                    "UPDATE deliveries SET state = 'sent', message_id = $3, sent_ts = $4,"
                    " updated_ts = $4, last_error = NULL" + stories,
                    channel_id, digest_id, message_id, now,
                )  # fmt: skip
                await self._execute(
                    f"DELETE FROM queue_entries WHERE channel_id = $1 AND article_id IN ({items})",
                    channel_id,
                    digest_id,
                )
            elif state is DigestState.FAILED:
                await self._execute(
                    "UPDATE digests SET state = 'failed', last_error = $1, updated_ts = $2"
                    " WHERE id = $3",
                    error, now, digest_id,
                )  # fmt: skip
                await self._execute(
                    "UPDATE deliveries SET state = 'failed', last_error = $3, updated_ts = $4"
                    + stories,
                    channel_id, digest_id, error, now,
                )  # fmt: skip
            elif state is DigestState.SENDING:
                await self._execute(
                    "UPDATE digests SET last_error = $1, attempts = attempts + $2,"
                    " updated_ts = $3 WHERE id = $4",
                    error, int(count_attempt), now, digest_id,
                )  # fmt: skip
                await self._execute(
                    "UPDATE deliveries SET last_error = $3, attempts = attempts + $4,"
                    " updated_ts = $5" + stories,
                    channel_id, digest_id, error, int(count_attempt), now,
                )  # fmt: skip
            else:
                await self._execute(
                    "UPDATE deliveries SET state = CASE WHEN decided_by IS NULL"
                    " THEN 'pending' ELSE 'approved' END, last_error = $3, updated_ts = $4"
                    + stories,
                    channel_id, digest_id, error, now,
                )  # fmt: skip
                await self._execute("DELETE FROM digest_items WHERE digest_id = $1", digest_id)
                await self._execute("DELETE FROM digests WHERE id = $1", digest_id)
                return None
        return (await self._digests("id = $1", digest_id))[0]
