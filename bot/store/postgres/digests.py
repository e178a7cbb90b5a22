"""Digests in the PostgreSQL store: several stories of a channel claimed, recorded or put
back as one delivery unit (migration 002)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg

from bot.store.postgres.connection import CLOCK, PostgresBase
from bot.store.postgres.reading import DELIVERY_COLUMNS
from bot.store.records import (
    Digest,
    DigestState,
    delivery_nonce,
    digest_nonce,
    held_by_another,
)

_DIGEST_COLUMNS = (
    "g.id, g.channel_id, g.state, g.nonce, g.attempts, g.message_id, g.last_error,"
    " g.created_ts, g.sent_ts,"
    " (SELECT coalesce(array_agg(i.article_id ORDER BY i.position), '{}')"
    "  FROM digest_items i WHERE i.digest_id = g.id) AS article_ids"
)
# the stories of a SENDING digest of the channel ($1 the story, $2 the channel): claimed
# by no one else until it settles
HELD_BY_DIGEST = (
    "EXISTS (SELECT 1 FROM digest_items i JOIN digests g ON g.id = i.digest_id"
    " WHERE i.article_id = $1 AND g.channel_id = $2 AND g.state = 'sending')"
)
# the stories of digest $2 still SENDING in its channel $1: what a settle moves
_ITS_STORIES = (
    " WHERE channel_id = $1 AND state = 'sending'"
    " AND article_id IN (SELECT article_id FROM digest_items WHERE digest_id = $2)"
)


def _now() -> int:
    return int(time.time())


def _to_digest(row: asyncpg.Record) -> Digest:
    return Digest(
        id=row["id"],
        channel_id=row["channel_id"],
        state=DigestState(row["state"]),
        nonce=row["nonce"],
        article_ids=tuple(row["article_ids"]),
        attempts=row["attempts"],
        message_id=row["message_id"],
        last_error=row["last_error"],
        created_ts=row["created_ts"],
        sent_ts=row["sent_ts"],
    )


class PostgresDigests(PostgresBase):
    """Each digest of a channel and the stories it holds."""

    async def _digests(self, where: str, *args: object) -> list[Digest]:
        rows = await self._fetch(
            f"SELECT {_DIGEST_COLUMNS} FROM digests g WHERE {where} ORDER BY g.created_ts, g.id",
            *args,
        )
        return [_to_digest(r) for r in rows]

    async def claim_digest(self, channel_id: int, article_ids: Sequence[str]) -> Digest | None:
        """Claim the claimable ones of ``article_ids`` and a digest holding them, in one
        transaction. The channel's digest claims take turns (an advisory lock to the
        commit), so the second finds the first in flight; each story moves only from a
        state a claim takes, in one statement, so a single post claiming it at the same
        moment gets it or leaves it, never both."""
        now = _now()
        async with self._transaction():
            await self._execute(
                "SELECT pg_advisory_xact_lock(hashtextextended("
                "'newsdesk-digest:' || current_schema() || ':' || $1::bigint::text, 0))",
                channel_id,
            )
            in_flight = "SELECT 1 FROM digests WHERE channel_id = $1 AND state = 'sending'"
            if await self._fetchrow(in_flight, channel_id) is not None:
                return None
            claimed = []
            for article_id in dict.fromkeys(article_ids):
                stored = "SELECT 1 FROM articles WHERE id = $1 AND source <> 'withdrawn'"
                if await self._fetchrow(stored, article_id) is None:
                    continue  # withdrawn since it was chosen, or no such story
                taken = await self._execute(
                    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1,"
                    " updated_ts = $3 WHERE article_id = $1 AND channel_id = $2"
                    " AND state IN ('pending', 'approved')",
                    article_id,
                    channel_id,
                    now,
                )
                if not taken:  # no delivery yet (one in any other state stays as it is)
                    taken = await self._execute(
                        f"INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES"
                        " ($1, $2, 'sending', 1, $3, NULL, NULL, NULL, NULL, $4, $4, NULL)"
                        " ON CONFLICT DO NOTHING",
                        article_id,
                        channel_id,
                        delivery_nonce(article_id, channel_id),
                        now,
                    )
                if taken:
                    claimed.append(article_id)
            if not claimed:
                return None
            digest_id = await self._fetchval(
                "INSERT INTO digests (channel_id, state, nonce, attempts, created_ts, updated_ts,"
                f" lease_owner, lease_until) VALUES ($1, 'sending', $2, 1, $3, $3, $4,"
                f" {CLOCK} + $5) RETURNING id",
                channel_id,
                digest_nonce(channel_id, claimed),
                now,
                self.lease_owner,
                self.lease_seconds,
            )
            await self._executemany(
                "INSERT INTO digest_items (digest_id, position, article_id) VALUES ($1, $2, $3)",
                [(digest_id, n, article_id) for n, article_id in enumerate(claimed, 1)],
            )
            found = await self._digests("g.id = $1", digest_id)
        return found[0] if found else None

    async def hold_digest(self, digest_id: int) -> Digest | None:
        """One statement: of two holding at once, the second waits for the first's row
        lock, then finds the first's live lease and changes nothing."""
        held = await self._execute(
            f"UPDATE digests SET lease_owner = $2, lease_until = {CLOCK} + $3 WHERE id = $1"
            " AND state = 'sending' AND (lease_owner IS NULL OR lease_owner = $2"
            f" OR lease_until <= {CLOCK})",
            digest_id,
            self.lease_owner,
            self.lease_seconds,
        )
        found = await self._digests("g.id = $1", digest_id) if held else []
        return found[0] if found else None

    async def digests(
        self, channel_id: int | None = None, states: tuple[DigestState, ...] = ()
    ) -> list[Digest]:
        where = ["($1::bigint IS NULL OR g.channel_id = $1)"]
        if states:
            where.append("g.state = ANY($2::text[])")
        else:
            where.append("$2::text[] IS NULL")
        values = [s.value for s in states] if states else None
        return await self._digests(" AND ".join(where), channel_id, values)

    async def digest_of_message(self, channel_id: int, message_id: int) -> Digest | None:
        found = await self._digests(
            "g.channel_id = $1 AND g.message_id = $2 AND g.state = 'sent'",
            channel_id,
            message_id,
        )
        return found[0] if found else None

    async def last_digest_ts(self, channel_id: int) -> int | None:
        found = await self._fetchval(
            "SELECT max(created_ts) FROM digests WHERE channel_id = $1 AND state = 'sent'",
            channel_id,
        )
        return None if found is None else int(found)

    async def settle_digest(
        self,
        digest_id: int,
        state: DigestState | None,
        *,
        message_id: int | None = None,
        error: str | None = None,
        count_attempt: bool = False,
    ) -> Digest | None:
        """Move a SENDING digest and its stories' deliveries together, in one transaction;
        the digest's row is locked to the commit, so of two settles the second finds it
        settled (or gone)."""
        now = _now()
        async with self._transaction():
            row = await self._fetchrow(
                f"SELECT state, channel_id, lease_owner, lease_until, {CLOCK} AS now"
                " FROM digests WHERE id = $1 FOR UPDATE",
                digest_id,
            )
            if row is None or row["state"] != DigestState.SENDING.value:
                return None
            if held_by_another(
                row["lease_owner"], row["lease_until"], self.lease_owner, row["now"]
            ):
                return None  # another process holds it: only it settles it
            channel_id = row["channel_id"]
            if state is DigestState.SENT:
                await self._execute(
                    "UPDATE digests SET state = 'sent', message_id = $2, sent_ts = $3,"
                    " updated_ts = $3, last_error = NULL, lease_owner = NULL,"
                    " lease_until = NULL WHERE id = $1",
                    digest_id,
                    message_id,
                    now,
                )
                await self._execute(
                    "UPDATE deliveries SET state = 'sent', message_id = $3, sent_ts = $4,"
                    " updated_ts = $4, last_error = NULL" + _ITS_STORIES,
                    channel_id,
                    digest_id,
                    message_id,
                    now,
                )
                await self._execute(
                    "DELETE FROM queue_entries WHERE channel_id = $1"
                    " AND article_id IN (SELECT article_id FROM digest_items WHERE digest_id = $2)",
                    channel_id,
                    digest_id,
                )
            elif state is DigestState.FAILED:
                await self._execute(
                    "UPDATE digests SET state = 'failed', last_error = $2, updated_ts = $3,"
                    " lease_owner = NULL, lease_until = NULL WHERE id = $1",
                    digest_id,
                    error,
                    now,
                )
                await self._execute(
                    "UPDATE deliveries SET state = 'failed', last_error = $3, updated_ts = $4"
                    + _ITS_STORIES,
                    channel_id,
                    digest_id,
                    error,
                    now,
                )
            elif state is DigestState.SENDING:
                await self._execute(
                    "UPDATE digests SET last_error = $2, attempts = attempts + $3,"
                    " updated_ts = $4 WHERE id = $1",
                    digest_id,
                    error,
                    int(count_attempt),
                    now,
                )
                await self._execute(
                    "UPDATE deliveries SET last_error = $3, attempts = attempts + $4,"
                    " updated_ts = $5" + _ITS_STORIES,
                    channel_id,
                    digest_id,
                    error,
                    int(count_attempt),
                    now,
                )
            else:
                await self._execute(
                    "UPDATE deliveries SET state = CASE WHEN decided_by IS NULL"
                    " THEN 'pending' ELSE 'approved' END, last_error = $3, updated_ts = $4"
                    + _ITS_STORIES,
                    channel_id,
                    digest_id,
                    error,
                    now,
                )
                # its items go with it (ON DELETE CASCADE)
                await self._execute("DELETE FROM digests WHERE id = $1", digest_id)
                return None
            found = await self._digests("g.id = $1", digest_id)
        return found[0]
