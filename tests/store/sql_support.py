"""Setup in either backend's SQL, for what no method of the store does."""

from __future__ import annotations

import re
from typing import Any

from bot.store import PostgresStore, SQLiteStore, Store


async def run_sql(store: Store, sql: str, *params: Any) -> None:
    """Setup that no method of the store makes (``?`` for each value), in its own SQL."""
    if isinstance(store, SQLiteStore):
        await store._db.execute(sql, params)
        await store._db.commit()
    else:
        assert isinstance(store, PostgresStore)
        numbers = iter(range(1, len(params) + 1))
        await store._execute(re.sub(r"\?", lambda _: f"${next(numbers)}", sql), *params)
