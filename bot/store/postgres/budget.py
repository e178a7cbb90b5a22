"""The bot's REST budget in the PostgreSQL store: one token bucket per bot, shared by
every process using the database."""

from __future__ import annotations

from bot.store.postgres.connection import PostgresBase
from bot.store.records import RestGrant, StoreError, check_budget, rest_grant

# One statement: the row is created full, or refilled and taken from under its row lock.
# Concurrent takes queue on that lock, and each computes from the row the previous one
# wrote (ON CONFLICT DO UPDATE sees the latest version), so none is granted twice. The
# clock is the server's unless the caller gives one, so every process counts alike. A
# token short by less than 1e-9 is whole (see records.WHOLE).
_TAKE = """
INSERT INTO rest_budget AS b (bot, tokens, stamp, granted)
SELECT $1, $3::float8 - least($2::int, $3::int), now.t, least($2::int, $3::int)
FROM (SELECT coalesce($5::float8, extract(epoch FROM clock_timestamp())::float8) AS t) AS now
ON CONFLICT (bot) DO UPDATE SET
    granted = least($2::int, floor(
        least($3::float8, b.tokens + greatest(0, excluded.stamp - b.stamp) * $4::float8) + 1e-9
    )::int),
    tokens = least($3::float8, b.tokens + greatest(0, excluded.stamp - b.stamp) * $4::float8)
        - least($2::int, floor(
            least($3::float8, b.tokens + greatest(0, excluded.stamp - b.stamp) * $4::float8) + 1e-9
        )::int),
    stamp = greatest(b.stamp, excluded.stamp)
RETURNING granted, tokens, stamp
"""


class PostgresBudget(PostgresBase):
    """Store.take_rest_budget."""

    async def take_rest_budget(
        self, bot: str, want: int, rate: float, burst: int, now: float | None = None
    ) -> RestGrant:
        check_budget(want, rate, burst)
        row = await self._fetchrow(_TAKE, bot, want, burst, float(rate), now)
        if row is None:  # INSERT … ON CONFLICT DO UPDATE returns its row either way
            raise StoreError(f"{self.path}: the REST budget's take returned no row")
        return rest_grant(want, row["granted"], row["tokens"], rate, row["stamp"])
