"""Databases of an older schema, made from a current one for migration tests."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.postgres import PostgresStore

# What a migration added that running it again would refuse (a column added twice): undone
# when a test sets a database back to before it. A migration that can run twice needs none.
UNDO = {
    16: "DROP INDEX files_duplicates; UPDATE files SET error = owner WHERE status = 'duplicate';"
    " ALTER TABLE files DROP COLUMN owner;"
    " CREATE INDEX files_duplicates ON files (error) WHERE status = 'duplicate';",
    17: "DROP INDEX articles_quality_unknown; ALTER TABLE articles DROP COLUMN quality_unknown;",
    18: "DROP TABLE event_apart; DROP INDEX articles_event;"
    " ALTER TABLE articles DROP COLUMN event_id;"
    " ALTER TABLE articles DROP COLUMN event_keys;",
    26: "DROP INDEX articles_by_rowid;",
    25: "DROP TRIGGER event_member_inserted; DROP TRIGGER event_member_updated;"
    " DROP TRIGGER event_member_deleted; DROP TABLE event_members;",
    22: "ALTER TABLE deliveries DROP COLUMN lease_owner;"
    " ALTER TABLE deliveries DROP COLUMN lease_until;"
    " ALTER TABLE digests DROP COLUMN lease_owner; ALTER TABLE digests DROP COLUMN lease_until;",
}


def rewind(db: sqlite3.Connection, version: int) -> None:
    """Set ``db`` back to schema ``version``: the undoable migrations above it undone, newest
    first, and its user_version set (the tests undo the rest themselves)."""
    current = int(db.execute("PRAGMA user_version").fetchone()[0])
    for number in sorted(UNDO, reverse=True):
        if version < number <= current:
            db.executescript(UNDO[number])
    db.execute(f"PRAGMA user_version = {version}")


# The same for the PostgreSQL store's migrations (bot/store/postgres/migrations).
POSTGRES_UNDO = {
    2: "DROP TABLE digest_items; DROP TABLE digests;",
    5: "DROP SEQUENCE event_keys_written; DROP TABLE event_apart; DROP INDEX articles_event;"
    " ALTER TABLE articles DROP COLUMN event_id; ALTER TABLE articles DROP COLUMN event_keys;",
    11: "ALTER TABLE deliveries DROP COLUMN lease_owner, DROP COLUMN lease_until;"
    " ALTER TABLE digests DROP COLUMN lease_owner, DROP COLUMN lease_until;",
    14: "DROP FUNCTION newsdesk_search; ALTER TABLE articles ALTER COLUMN data SET STORAGE"
    " EXTENDED, ALTER COLUMN raw SET STORAGE EXTENDED; DROP INDEX articles_age_quality;"
    " CREATE INDEX articles_age ON articles ((coalesce(published_ts, first_seen_ts)));",
}


async def rewind_postgres(store: PostgresStore, version: int) -> None:
    """Set the PostgreSQL ``store`` back to schema ``version``: the migrations above it
    undone, newest first, and newsdesk_schema set."""
    current = int(await store._fetchval("SELECT max(version) FROM newsdesk_schema"))
    async with store._transaction():
        for number in sorted(POSTGRES_UNDO, reverse=True):
            if version < number <= current:
                await store._execute(POSTGRES_UNDO[number])
        await store._execute("UPDATE newsdesk_schema SET version = $1", version)
