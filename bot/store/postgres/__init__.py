"""The PostgreSQL backend of the Store protocol (asyncpg), selected by a
``postgresql://`` database URL. SQLite stays the default."""

from __future__ import annotations

from bot.store.postgres.connection import is_postgres_url, redact
from bot.store.postgres.store import PostgresStore

__all__ = ["PostgresStore", "is_postgres_url", "redact"]
