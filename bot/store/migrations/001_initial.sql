-- Newsdesk schema, version 1.
-- Times are integer Unix seconds (UTC); ids are the articles' short ids.

CREATE TABLE articles (
    rowid         INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    canonical_url TEXT NOT NULL UNIQUE,
    url           TEXT NOT NULL,
    title         TEXT NOT NULL,
    provider      TEXT,
    quality       INTEGER NOT NULL,
    heat          INTEGER NOT NULL,
    published_ts  INTEGER,              -- NULL when the file gives no usable time
    first_seen_ts INTEGER NOT NULL,
    updated_ts    INTEGER NOT NULL,
    published     INTEGER NOT NULL,     -- 1: published elsewhere, never queued
    source        TEXT NOT NULL,        -- 'file' or 'moderator'
    source_path   TEXT,
    content_hash  TEXT NOT NULL,        -- of the normalised article, to tell real edits
    data          TEXT NOT NULL,        -- the normalised article as JSON
    raw           TEXT NOT NULL         -- the whole front matter as JSON: nothing is lost
);
-- The ranking order of the queue.
CREATE INDEX articles_rank ON articles (published, quality DESC, heat DESC, published_ts DESC, id);

CREATE TABLE article_topics (
    article_rowid INTEGER NOT NULL REFERENCES articles (rowid) ON DELETE CASCADE,
    key           TEXT NOT NULL,        -- casefolded, for matching
    name          TEXT NOT NULL,        -- as written, for display
    PRIMARY KEY (key, article_rowid)
) WITHOUT ROWID;
CREATE INDEX article_topics_article ON article_topics (article_rowid);

CREATE TABLE related (
    article_rowid INTEGER NOT NULL REFERENCES articles (rowid) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    title         TEXT NOT NULL,
    url           TEXT NOT NULL,
    provider      TEXT,
    quality       INTEGER,
    PRIMARY KEY (article_rowid, position)
) WITHOUT ROWID;

CREATE VIRTUAL TABLE articles_fts USING fts5 (
    title, excerpt, topics, provider,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE files (
    path       TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    article_id TEXT,                    -- NULL when the file was rejected or a duplicate
    status     TEXT NOT NULL,           -- 'ok', 'duplicate' or 'rejected'
    error      TEXT
) WITHOUT ROWID;

CREATE TABLE deliveries (
    article_id  TEXT NOT NULL,
    channel_id  INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN
                  ('pending', 'review', 'approved', 'sending', 'sent', 'failed', 'skipped')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    nonce       TEXT NOT NULL,
    message_id  INTEGER,
    review_message_id INTEGER,
    decided_by  INTEGER,
    last_error  TEXT,
    created_ts  INTEGER NOT NULL,
    updated_ts  INTEGER NOT NULL,
    sent_ts     INTEGER,
    PRIMARY KEY (article_id, channel_id)
) WITHOUT ROWID;
CREATE INDEX deliveries_channel_state ON deliveries (channel_id, state);
CREATE INDEX deliveries_sent ON deliveries (state, sent_ts);

CREATE TABLE queue_entries (
    channel_id INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    position   INTEGER NOT NULL,
    added_by   INTEGER,
    added_ts   INTEGER NOT NULL,
    PRIMARY KEY (channel_id, article_id)
) WITHOUT ROWID;

CREATE TABLE routes (
    channel_id   INTEGER PRIMARY KEY,
    paused       INTEGER NOT NULL DEFAULT 0,
    pause_reason TEXT,
    disabled     INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    updated_ts   INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    ts         INTEGER NOT NULL,
    actor_id   INTEGER,
    actor_name TEXT,
    action     TEXT NOT NULL,
    channel_id INTEGER,
    article_id TEXT,
    detail     TEXT,
    result     TEXT NOT NULL
);
