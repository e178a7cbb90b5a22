-- Version 19: digests. A digest route posts one message listing several stories. The
-- stories are claimed together with the digest that holds them (each delivery goes to
-- 'sending'), the message is sent once with the digest's nonce, and the digest and every
-- story in it are recorded together: a crash between two of these steps leaves the
-- digest 'sending', and whoever takes it up looks for it in the channel before sending
-- the same digest (same stories, same order, same nonce) again.

CREATE TABLE IF NOT EXISTS digests (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
    nonce       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 1,
    message_id  INTEGER,
    last_error  TEXT,
    created_ts  INTEGER NOT NULL,
    updated_ts  INTEGER NOT NULL,
    sent_ts     INTEGER
);
-- One digest in flight per channel: a run settles it before it claims the next one.
CREATE UNIQUE INDEX IF NOT EXISTS digests_in_flight ON digests (channel_id)
    WHERE state = 'sending';
CREATE INDEX IF NOT EXISTS digests_channel ON digests (channel_id, state, created_ts);
CREATE INDEX IF NOT EXISTS digests_message ON digests (channel_id, message_id)
    WHERE message_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS digest_items (
    digest_id   INTEGER NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    article_id  TEXT NOT NULL,
    PRIMARY KEY (digest_id, position)
) WITHOUT ROWID;
-- "is this story held by a digest in flight?" (claim, and the settle of single posts)
CREATE INDEX IF NOT EXISTS digest_items_article ON digest_items (article_id);
