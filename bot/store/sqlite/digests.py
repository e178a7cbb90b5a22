"""Digests in the SQLite store: several stories of a channel claimed, recorded or put
back as one delivery unit (migration 019)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bot.store.records import (
    DeliveryState,
    Digest,
    DigestState,
    delivery_nonce,
    digest_nonce,
    held_by_another,
)
from bot.store.sqlite.common import (
    _DELIVERY_COLUMNS,
    _marks,
    _now,
)
from bot.store.sqlite.connection import Connection

_DIGEST_COLUMNS = (
    "id, channel_id, state, nonce, attempts, message_id, last_error, created_ts, sent_ts"
)
# the stories of a SENDING digest of the channel: claimed by no one else until it settles
HELD_BY_DIGEST = (
    "SELECT 1 FROM digest_items i JOIN digests g ON g.id = i.digest_id"
    " WHERE i.article_id = ? AND g.channel_id = ? AND g.state = 'sending'"
)


class Digests(Connection):
    """Each digest of a channel and the stories it holds."""

    async def _digests(self, where: str, params: Sequence[Any]) -> list[Digest]:
        rows = await self._all(
            f"SELECT {_DIGEST_COLUMNS} FROM digests WHERE {where} ORDER BY created_ts, id",
            params,
        )
        found = []
        for row in rows:
            items = await self._all(
                "SELECT article_id FROM digest_items WHERE digest_id = ? ORDER BY position",
                (row[0],),
            )
            values = list(row)
            values[2] = DigestState(values[2])
            values.insert(4, tuple(r[0] for r in items))
            found.append(Digest(*values))
        return found

    async def claim_digest(self, channel_id: int, article_ids: Sequence[str]) -> Digest | None:
        """Claim the claimable ones of ``article_ids`` and a digest holding them, at once."""
        digest_id = None
        async with self._write_transaction():
            in_flight = "SELECT 1 FROM digests WHERE channel_id = ? AND state = 'sending'"
            if await self._one(in_flight, (channel_id,)) is not None:
                return None
            now = _now()
            claimed = []
            for article_id in dict.fromkeys(article_ids):
                stored = "SELECT 1 FROM articles WHERE id = ? AND source <> 'withdrawn'"
                if await self._one(stored, (article_id,)) is None:
                    continue  # withdrawn since it was chosen, or no such story
                row = await self._one(
                    "SELECT state FROM deliveries WHERE article_id = ? AND channel_id = ?",
                    (article_id, channel_id),
                )
                if row is None:
                    await self._db.execute(
                        f"INSERT INTO deliveries ({_DELIVERY_COLUMNS})"
                        " VALUES (?,?,'sending',1,?,NULL,NULL,NULL,NULL,?,?,NULL)",
                        (article_id, channel_id, delivery_nonce(article_id, channel_id), now, now),
                    )
                elif row[0] in (DeliveryState.PENDING.value, DeliveryState.APPROVED.value):
                    await self._db.execute(
                        "UPDATE deliveries SET state = 'sending', attempts = attempts + 1,"
                        " updated_ts = ? WHERE article_id = ? AND channel_id = ?",
                        (now, article_id, channel_id),
                    )
                else:
                    continue
                claimed.append(article_id)
            if not claimed:
                return None
            cursor = await self._db.execute(
                "INSERT INTO digests (channel_id, state, nonce, attempts, created_ts, updated_ts,"
                " lease_owner, lease_until) VALUES (?, 'sending', ?, 1, ?, ?, ?, ?)",
                (
                    channel_id,
                    digest_nonce(channel_id, claimed),
                    now,
                    now,
                    self.lease_owner,
                    time.time() + self.lease_seconds,
                ),
            )
            digest_id = cursor.lastrowid
            await cursor.close()
            await self._db.executemany(
                "INSERT INTO digest_items (digest_id, position, article_id) VALUES (?, ?, ?)",
                [(digest_id, n, article_id) for n, article_id in enumerate(claimed, 1)],
            )
        found = await self._digests("id = ?", (digest_id,))
        return found[0] if found else None

    async def hold_digest(self, digest_id: int) -> Digest | None:
        now = time.time()
        held = await self._write(
            "UPDATE digests SET lease_owner = ?, lease_until = ? WHERE id = ?"
            " AND state = 'sending' AND (lease_owner IS NULL OR lease_owner = ?"
            " OR lease_until <= ?)",
            (self.lease_owner, now + self.lease_seconds, digest_id, self.lease_owner, now),
        )
        found = await self._digests("id = ?", (digest_id,)) if held else []
        return found[0] if found else None

    async def digests(
        self, channel_id: int | None = None, states: tuple[DigestState, ...] = ()
    ) -> list[Digest]:
        where: list[str] = ["1"]
        params: list[int | str] = []
        if channel_id is not None:
            where.append("channel_id = ?")
            params.append(channel_id)
        if states:
            where.append(f"state IN ({_marks(len(states))})")
            params.extend(s.value for s in states)
        return await self._digests(" AND ".join(where), params)

    async def digest_of_message(self, channel_id: int, message_id: int) -> Digest | None:
        found = await self._digests(
            "channel_id = ? AND message_id = ? AND state = 'sent'", (channel_id, message_id)
        )
        return found[0] if found else None

    async def last_digest_ts(self, channel_id: int) -> int | None:
        row = await self._one(
            "SELECT max(created_ts) FROM digests WHERE channel_id = ? AND state = 'sent'",
            (channel_id,),
        )
        return None if row is None or row[0] is None else int(row[0])

    async def settle_digest(
        self,
        digest_id: int,
        state: DigestState | None,
        *,
        message_id: int | None = None,
        error: str | None = None,
        count_attempt: bool = False,
    ) -> Digest | None:
        """Move a SENDING digest and its stories' deliveries together, in one transaction."""
        items = "SELECT article_id FROM digest_items WHERE digest_id = ?"
        async with self._write_transaction():
            row = await self._one(
                "SELECT state, channel_id, lease_owner, lease_until FROM digests WHERE id = ?",
                (digest_id,),
            )
            if row is None or row[0] != DigestState.SENDING.value:
                return None
            if held_by_another(row[2], row[3], self.lease_owner, time.time()):
                return None  # another process holds it: only it settles it
            channel_id, now = row[1], _now()
            stories = (
                f" WHERE channel_id = ? AND state = 'sending' AND article_id IN ({items})",
                (channel_id, digest_id),
            )
            if state is DigestState.SENT:
                await self._db.execute(
                    "UPDATE digests SET state = 'sent', message_id = ?, sent_ts = ?,"
                    " updated_ts = ?, last_error = NULL, lease_owner = NULL,"
                    " lease_until = NULL WHERE id = ?",
                    (message_id, now, now, digest_id),
                )
                await self._db.execute(
                    "UPDATE deliveries SET state = 'sent', message_id = ?, sent_ts = ?,"
                    " updated_ts = ?, last_error = NULL" + stories[0],
                    (message_id, now, now, *stories[1]),
                )
                await self._db.execute(
                    f"DELETE FROM queue_entries WHERE channel_id = ? AND article_id IN ({items})",
                    (channel_id, digest_id),
                )
            elif state is DigestState.FAILED:
                await self._db.execute(
                    "UPDATE digests SET state = 'failed', last_error = ?, updated_ts = ?,"
                    " lease_owner = NULL, lease_until = NULL WHERE id = ?",
                    (error, now, digest_id),
                )
                await self._db.execute(
                    "UPDATE deliveries SET state = 'failed', last_error = ?, updated_ts = ?"
                    + stories[0],
                    (error, now, *stories[1]),
                )
            elif state is DigestState.SENDING:
                await self._db.execute(
                    "UPDATE digests SET last_error = ?, attempts = attempts + ?, updated_ts = ?"
                    " WHERE id = ?",
                    (error, int(count_attempt), now, digest_id),
                )
                await self._db.execute(
                    "UPDATE deliveries SET last_error = ?, attempts = attempts + ?,"
                    " updated_ts = ?" + stories[0],
                    (error, int(count_attempt), now, *stories[1]),
                )
            else:
                await self._db.execute(
                    "UPDATE deliveries SET state = CASE WHEN decided_by IS NULL"
                    " THEN 'pending' ELSE 'approved' END, last_error = ?, updated_ts = ?"
                    + stories[0],
                    (error, now, *stories[1]),
                )
                await self._db.execute("DELETE FROM digest_items WHERE digest_id = ?", (digest_id,))
                await self._db.execute("DELETE FROM digests WHERE id = ?", (digest_id,))
                return None
        return (await self._digests("id = ?", (digest_id,)))[0]
