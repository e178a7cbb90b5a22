-- Version 23: who runs each gateway shard, until when (PostgreSQL's version 12). One
-- `newsdesk run` per SQLite file (its lock file), so here the leases only keep the one
-- contract of every backend. Expiry in Unix seconds with a fraction.

CREATE TABLE IF NOT EXISTS shard_leases (
    shard_id    INTEGER PRIMARY KEY,
    shard_count INTEGER NOT NULL,
    owner       TEXT NOT NULL,
    expires     REAL NOT NULL
);
