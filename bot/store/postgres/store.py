"""The PostgreSQL store: every method of the Store protocol, by concern in the modules
of this package."""

from __future__ import annotations

from bot.store.postgres.budget import PostgresBudget
from bot.store.postgres.digests import PostgresDigests
from bot.store.postgres.loading import PostgresLoading
from bot.store.postgres.queue import PostgresQueue
from bot.store.postgres.shards import PostgresShards


class PostgresStore(
    PostgresLoading, PostgresQueue, PostgresDigests, PostgresBudget, PostgresShards
):
    """Newsdesk's store in a PostgreSQL database (asyncpg). Open it with :meth:`open`
    and a ``postgresql://`` URL; ``backup`` is refused (pg_dump copies a live database)."""
