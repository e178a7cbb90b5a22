-- Version 12: who runs each gateway shard, until when. A sharded `newsdesk run` takes the
-- leases of its shards at start and renews them; a standby takes over a shard whose
-- lease expired (its process died or lost the database). Runtime state only: not copied
-- by snapshots or migrate-store.

CREATE TABLE IF NOT EXISTS shard_leases (
    shard_id    integer PRIMARY KEY,
    shard_count integer NOT NULL,
    owner       text NOT NULL,
    expires     timestamptz NOT NULL
);
