-- Version 18: events, one story from many outlets (bot.curation.events). A story's
-- event_id is the id of its event's lead while the event holds other stories, NULL while
-- it is alone. event_keys files each story under the keys of events.store_keys: its
-- title's word triples at its publication time (ts), its own and its related canonical
-- URLs (ts 0); a story loaded later finds the stories of its event through them, in any
-- order. Stories stored before this version are filed when their file next changes.

ALTER TABLE articles ADD COLUMN event_id TEXT;
CREATE INDEX articles_event ON articles (event_id) WHERE event_id IS NOT NULL;
CREATE TABLE event_keys (
    key           INTEGER NOT NULL,
    ts            INTEGER NOT NULL,
    article_rowid INTEGER NOT NULL,
    PRIMARY KEY (key, ts, article_rowid)
) WITHOUT ROWID;
CREATE INDEX event_keys_article ON event_keys (article_rowid);
