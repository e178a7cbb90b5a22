"""The SQLite store (aiosqlite), the embedded default: the only SQL for SQLite.

One class, :class:`SQLiteStore`, in parts by concern, each a module: the connection and
its transactions, loading, reading and search, the queues (which read), deliveries,
digests, the REST budget, shard leases.
"""

from __future__ import annotations

from bot.store.sqlite.budget import Budget
from bot.store.sqlite.common import rank_tag, topic_tag
from bot.store.sqlite.deliveries import Deliveries
from bot.store.sqlite.digests import Digests
from bot.store.sqlite.loading import Loading
from bot.store.sqlite.queues import Queues
from bot.store.sqlite.reading import fts_query
from bot.store.sqlite.shards import ShardLeases

__all__ = ["SQLiteStore", "fts_query", "rank_tag", "topic_tag"]


class SQLiteStore(Loading, Queues, Deliveries, Digests, Budget, ShardLeases):
    """Newsdesk's embedded store. Open it with :meth:`open`."""
