-- Version 10: posted messages that need an edit (their story's related coverage or link
-- changed), kept until the bot has edited them: a load by `newsdesk load`, or an edit
-- that failed for a moment, is no longer forgotten.

CREATE TABLE IF NOT EXISTS post_edits (
    article_id TEXT NOT NULL,
    channel_id INTEGER NOT NULL,
    PRIMARY KEY (article_id, channel_id)
) WITHOUT ROWID;
