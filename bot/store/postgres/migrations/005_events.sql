-- Version 5: events (SQLite's version 18), one story from many outlets
-- (bot.curation.events). A story's event_id is the id of its event's lead while the
-- event holds other stories, NULL while it is alone. event_keys holds the keys of
-- events.store_keys (events.pack_keys: 8 bytes each): a load reads them into an index in
-- memory, through which a story loaded later finds the stories of its event. Stories
-- stored before this version have none until their file next changes.

ALTER TABLE articles ADD COLUMN event_id text COLLATE "C";
ALTER TABLE articles ADD COLUMN event_keys bytea;
CREATE INDEX articles_event ON articles (event_id) WHERE event_id IS NOT NULL;

-- Pairs of stories a moderator split apart (/queue split): no load puts them in one
-- event again. The lesser id first.
CREATE TABLE event_apart (
    article_id text COLLATE "C" NOT NULL,
    other_id   text COLLATE "C" NOT NULL,
    PRIMARY KEY (article_id, other_id)
);
CREATE INDEX event_apart_other ON event_apart (other_id);

-- Taken by every write of event keys (in turn with the other loads): a store that kept
-- its index of event keys from its last batch reads it again when the sequence has moved
-- on since by more than its own write (another process loaded). SQLite's PRAGMA
-- data_version does this there.
CREATE SEQUENCE event_keys_written;
