"""Shard leases in the SQLite store: which process runs which gateway shard.

One ``newsdesk run`` per SQLite file (its lock file), so the leases here only keep the
contract every backend keeps; the clock is this machine's.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence

from bot.store.records import ShardLease
from bot.store.sqlite.common import _marks
from bot.store.sqlite.connection import Connection


class ShardLeases(Connection):
    """Shard leases, expiring by ``time.time()``."""

    async def take_shards(
        self, owner: str, shard_ids: Sequence[int], shard_count: int, seconds: float
    ) -> list[ShardLease]:
        ids = sorted(set(shard_ids))
        async with self._write_transaction():
            now = time.time()
            cursor = await self._db.execute(
                "SELECT shard_id, shard_count, owner, expires FROM shard_leases"
                " WHERE owner <> ? AND expires > ?"
                f" AND (shard_count <> ? OR shard_id IN ({_marks(len(ids))}))"
                " ORDER BY shard_count, shard_id",
                (owner, now, shard_count, *ids),
            )
            blocking = list(await cursor.fetchall())
            await cursor.close()
            if blocking:
                return [ShardLease(r[0], r[1], r[2], r[3] - now) for r in blocking]
            await self._db.execute(
                "DELETE FROM shard_leases WHERE shard_count <> ? AND expires <= ?",
                (shard_count, now),
            )
            await self._db.executemany(
                "INSERT INTO shard_leases (shard_id, shard_count, owner, expires)"
                " VALUES (?,?,?,?) ON CONFLICT (shard_id) DO UPDATE SET"
                " shard_count = excluded.shard_count, owner = excluded.owner,"
                " expires = excluded.expires",
                [(i, shard_count, owner, now + seconds) for i in ids],
            )
        return []

    async def renew_shards(
        self, owner: str, shard_ids: Sequence[int], shard_count: int, seconds: float
    ) -> list[int]:
        ids = sorted(set(shard_ids))
        async with self._write_transaction():
            now = time.time()
            where = (
                f" WHERE owner = ? AND shard_id IN ({_marks(len(ids))})"
                " AND shard_count = ? AND expires > ?"
            )
            params = (owner, *ids, shard_count, now)
            cursor = await self._db.execute(f"SELECT shard_id FROM shard_leases{where}", params)
            renewed = sorted(row[0] for row in await cursor.fetchall())
            await cursor.close()
            await self._db.execute(
                f"UPDATE shard_leases SET expires = ?{where}", (now + seconds, *params)
            )
        return renewed

    async def release_shards(self, owner: str, shard_ids: Sequence[int]) -> None:
        ids = sorted(set(shard_ids))
        await self._write(
            f"DELETE FROM shard_leases WHERE owner = ? AND shard_id IN ({_marks(len(ids))})",
            (owner, *ids),
        )

    async def shard_leases(self) -> list[ShardLease]:
        now = time.time()
        rows = await self._all(
            "SELECT shard_id, shard_count, owner, expires FROM shard_leases"
            " ORDER BY shard_count, shard_id"
        )
        return [ShardLease(r[0], r[1], r[2], r[3] - now) for r in rows]

    async def end_leases_of(self, owners: Collection[str]) -> int:
        names = sorted(set(owners) - {self.lease_owner})
        if not names:
            return 0
        ended = 0
        async with self._write_transaction():
            now = time.time()
            for table in ("deliveries", "digests"):
                # only rows in flight carry a lease: the state index finds them
                cursor = await self._db.execute(
                    f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL"
                    f" WHERE state = 'sending' AND lease_owner IN ({_marks(len(names))})"
                    " AND NOT EXISTS (SELECT 1 FROM shard_leases AS s"
                    f" WHERE s.owner = {table}.lease_owner AND s.expires > ?)",
                    (*names, now),
                )
                ended += cursor.rowcount
                await cursor.close()
        return ended
