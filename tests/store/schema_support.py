"""Databases of an older schema, made from a current one for migration tests."""

from __future__ import annotations

import sqlite3

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
}


def rewind(db: sqlite3.Connection, version: int) -> None:
    """Set ``db`` back to schema ``version``: the undoable migrations above it undone, newest
    first, and its user_version set (the tests undo the rest themselves)."""
    current = int(db.execute("PRAGMA user_version").fetchone()[0])
    for number in sorted(UNDO, reverse=True):
        if version < number <= current:
            db.executescript(UNDO[number])
    db.execute(f"PRAGMA user_version = {version}")
