-- Version 21: the stories stored before version 18 (events) join events as if loaded now.
-- Version 18 left them without event keys, so no load could find them. Their keys are
-- computed here (newsdesk_event_keys: curation.events.store_keys of the title, canonical
-- URL and related coverage, as a load computes them); right after this script, in its
-- transaction, the store links the stories listed in temp.event_backfill as it links a
-- load's (Loading._after_migration), and drops the list. A withdrawn story gets its keys
-- when a file brings it back.

CREATE TEMP TABLE event_backfill AS
SELECT rowid AS article_rowid FROM articles WHERE event_keys IS NULL AND source <> 'withdrawn';

UPDATE articles SET event_keys = newsdesk_event_keys(title, canonical_url, data)
WHERE rowid IN (SELECT article_rowid FROM temp.event_backfill);
