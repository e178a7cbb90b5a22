"""The bot's REST budget in the SQLite store: one token bucket per bot in the file, so
every process that opens it (a bot, a load) draws from the same one."""

from __future__ import annotations

import time

from bot.store.records import RestGrant, StoreError, check_budget, rest_grant
from bot.store.sqlite.common import _DRIVER_ERRORS, _write_failure
from bot.store.sqlite.connection import Connection

# One statement, so one write transaction: the row is created full, or refilled and
# taken from (every right-hand side reads the row as it was). CAST truncates, which is
# floor for the non-negative counts here. A token short by less than 1e-9 is whole
# (see records.WHOLE).
_TAKE = """
INSERT INTO rest_budget AS b (bot, tokens, stamp, granted)
VALUES (?1, ?3 - min(?2, ?3), ?5, min(?2, ?3))
ON CONFLICT (bot) DO UPDATE SET
    granted = min(?2, CAST(
        min(?3, b.tokens + max(0, excluded.stamp - b.stamp) * ?4) + 1e-9 AS INTEGER
    )),
    tokens = min(?3, b.tokens + max(0, excluded.stamp - b.stamp) * ?4) - min(?2, CAST(
        min(?3, b.tokens + max(0, excluded.stamp - b.stamp) * ?4) + 1e-9 AS INTEGER
    )),
    stamp = max(b.stamp, excluded.stamp)
RETURNING granted, tokens, stamp
"""


class Budget(Connection):
    """Store.take_rest_budget."""

    async def take_rest_budget(
        self, bot: str, want: int, rate: float, burst: int, now: float | None = None
    ) -> RestGrant:
        check_budget(want, rate, burst)
        at = time.time() if now is None else now
        params = (bot, want, burst, float(rate), float(at))
        async with self._lock:
            try:
                cursor = await self._db.execute(_TAKE, params)
                # RETURNING: the statement, and its transaction, end with the cursor
                rows = list(await cursor.fetchall())
                await cursor.close()
            except _DRIVER_ERRORS as exc:
                raise StoreError(_write_failure(exc, self.path)) from exc
        if not rows:
            raise StoreError(f"{self.path}: the REST budget's take returned no row")
        granted, tokens, stamp = rows[0]
        return rest_grant(want, granted, tokens, rate, stamp)
