-- Version 18: events, one story from many outlets (bot.curation.events). A story's
-- event_id is the id of its event's lead while the event holds other stories, NULL while
-- it is alone. event_keys holds the keys of events.store_keys (its title's word triples,
-- its own and its related canonical URLs) as packed integers: a load reads them into an
-- index in memory, through which a story loaded later finds the stories of its event.
-- Stories stored before this version have none until their file next changes.

ALTER TABLE articles ADD COLUMN event_id TEXT;
ALTER TABLE articles ADD COLUMN event_keys BLOB;
CREATE INDEX articles_event ON articles (event_id) WHERE event_id IS NOT NULL;

-- Pairs of stories a moderator split apart (/queue split): no load puts them in one
-- event again. The lesser id first.
CREATE TABLE event_apart (
    article_id TEXT NOT NULL,
    other_id   TEXT NOT NULL,
    PRIMARY KEY (article_id, other_id)
) WITHOUT ROWID;
CREATE INDEX event_apart_other ON event_apart (other_id);
