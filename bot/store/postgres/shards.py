"""The PostgreSQL store's shard leases: which process runs which gateway shard."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import asyncpg

from bot.store.postgres.connection import PostgresBase, row_count
from bot.store.records import ShardLease

_COLUMNS = "shard_id, shard_count, owner, extract(epoch FROM expires - clock_timestamp())::float8"
# Takes and renewals take turns across every process (held to the commit): a renewal
# read as in time and a take read as expired never both succeed for one lease.
_IN_TURN = "SELECT pg_advisory_xact_lock(hashtext('newsdesk-shards:' || current_schema()))"


def _lease(row: asyncpg.Record) -> ShardLease:
    return ShardLease(row[0], row[1], row[2], float(row[3]))


class PostgresShards(PostgresBase):
    """Shard leases, timed by the database server's clock (every process's one clock)."""

    async def take_shards(
        self, owner: str, shard_ids: Sequence[int], shard_count: int, seconds: float
    ) -> list[ShardLease]:
        ids = sorted(set(shard_ids))
        async with self._transaction() as conn:
            await conn.execute(_IN_TURN)
            blocking = await conn.fetch(
                f"SELECT {_COLUMNS} FROM shard_leases WHERE owner <> $1"
                " AND expires > clock_timestamp()"
                " AND (shard_count <> $2 OR shard_id = ANY($3::integer[]))"
                " ORDER BY shard_count, shard_id",
                owner, shard_count, ids,
            )  # fmt: skip
            if blocking:
                return [_lease(row) for row in blocking]
            # expired leases of another shard count: nobody's, and they split guilds otherwise
            await conn.execute(
                "DELETE FROM shard_leases WHERE shard_count <> $1 AND expires <= clock_timestamp()",
                shard_count,
            )
            await conn.execute(
                "INSERT INTO shard_leases (shard_id, shard_count, owner, expires)"
                " SELECT id, $2, $3, clock_timestamp() + make_interval(secs => $4)"
                " FROM unnest($1::integer[]) AS id ON CONFLICT (shard_id) DO UPDATE SET"
                " shard_count = excluded.shard_count, owner = excluded.owner,"
                " expires = excluded.expires",
                ids, shard_count, owner, float(seconds),
            )  # fmt: skip
        return []

    async def renew_shards(
        self, owner: str, shard_ids: Sequence[int], shard_count: int, seconds: float
    ) -> list[int]:
        async with self._transaction() as conn:
            await conn.execute(_IN_TURN)
            rows = await conn.fetch(
                "UPDATE shard_leases SET expires = clock_timestamp() + make_interval(secs => $4)"
                " WHERE owner = $1 AND shard_id = ANY($2::integer[]) AND shard_count = $3"
                " AND expires > clock_timestamp() RETURNING shard_id",
                owner, sorted(set(shard_ids)), shard_count, float(seconds),
            )  # fmt: skip
        return sorted(row[0] for row in rows)

    async def release_shards(self, owner: str, shard_ids: Sequence[int]) -> None:
        await self._execute(
            "DELETE FROM shard_leases WHERE owner = $1 AND shard_id = ANY($2::integer[])",
            owner,
            sorted(set(shard_ids)),
        )

    async def shard_leases(self) -> list[ShardLease]:
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM shard_leases ORDER BY shard_count, shard_id"
        )
        return [_lease(row) for row in rows]

    async def end_leases_of(self, owners: Collection[str]) -> int:
        names = sorted(set(owners) - {self.lease_owner})
        if not names:
            return 0
        ended = 0
        async with self._transaction() as conn:
            # in turn with takes and renewals: an owner taking a shard back meanwhile is
            # seen live, or takes it only after its sends were ended
            await conn.execute(_IN_TURN)
            for table in ("deliveries", "digests"):
                # only rows in flight carry a lease: the state index finds them
                ended += row_count(
                    await conn.execute(
                        f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL"
                        " WHERE state = 'sending' AND lease_owner = ANY($1::text[])"
                        " AND NOT EXISTS (SELECT 1 FROM shard_leases AS s"
                        f" WHERE s.owner = {table}.lease_owner AND s.expires > clock_timestamp())",
                        names,
                    )
                )
        return ended
