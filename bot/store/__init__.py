"""Storage: the interface the rest of Newsdesk uses, and its SQLite implementation.

Only the modules in this package hold SQL. Callers see :class:`Store` and the plain
records below; a second backend (PostgreSQL) implements the same protocol.
"""

from __future__ import annotations

from bot.store.base import Store
from bot.store.postgres import PostgresStore, is_postgres_url
from bot.store.records import (
    LEASE_SECONDS,
    AuditEntry,
    Delivery,
    DeliveryState,
    Digest,
    DigestState,
    FileRecord,
    Headline,
    LoadItem,
    LoadOutcome,
    NotFound,
    QueueItem,
    RouteFilter,
    RouteState,
    ShardLease,
    StoredArticle,
    StoreError,
)
from bot.store.sqlite import SQLiteStore


async def open_store(
    path: str,
    *,
    read_only: bool = False,
    lease_owner: str | None = None,
    lease_seconds: float = LEASE_SECONDS,
) -> Store:
    """Open (creating and migrating as needed) the store at ``path`` (or ``:memory:``), or
    the PostgreSQL database at a ``postgresql://`` URL; ``read_only``: an existing one,
    for reading only (never created, migrated or written). Its delivery claims are
    leases of ``lease_owner`` (a new id by default) for ``lease_seconds`` (Store.claim)."""
    store: Store
    if is_postgres_url(path):
        store = await PostgresStore.open(path, read_only=read_only)
    else:
        store = await SQLiteStore.open(path, read_only=read_only)
    if lease_owner is not None:
        store.lease_owner = lease_owner
    store.lease_seconds = lease_seconds
    return store


__all__ = [
    "AuditEntry",
    "Delivery",
    "DeliveryState",
    "Digest",
    "DigestState",
    "FileRecord",
    "Headline",
    "LoadItem",
    "LoadOutcome",
    "NotFound",
    "PostgresStore",
    "QueueItem",
    "RouteFilter",
    "RouteState",
    "SQLiteStore",
    "ShardLease",
    "Store",
    "StoreError",
    "StoredArticle",
    "open_store",
]
