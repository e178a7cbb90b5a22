-- Version 25: the stories merged into another's event, by rowid, beside their lead.
-- /search shows each event once, as its lead: for up to a thousand matching rowids it asks
-- which were merged. articles.event_id, added after the large data and raw columns, sits
-- on each row's overflow pages, so that question read every match's whole row. This
-- table answers it from one small B-tree; the triggers keep it to articles.event_id,
-- whichever statement writes it (articles are withdrawn, never deleted, but a delete is
-- followed too).

CREATE TABLE IF NOT EXISTS event_members (
    rowid    INTEGER PRIMARY KEY,   -- articles.rowid of a story in another story's event
    event_id TEXT NOT NULL          -- that event's lead (articles.event_id)
);

INSERT OR REPLACE INTO event_members (rowid, event_id)
SELECT rowid, event_id FROM articles WHERE event_id IS NOT NULL AND event_id <> id;

CREATE TRIGGER IF NOT EXISTS event_member_inserted
AFTER INSERT ON articles
WHEN NEW.event_id IS NOT NULL AND NEW.event_id <> NEW.id
BEGIN
    INSERT OR REPLACE INTO event_members (rowid, event_id) VALUES (NEW.rowid, NEW.event_id);
END;

CREATE TRIGGER IF NOT EXISTS event_member_updated
AFTER UPDATE OF event_id, id ON articles
BEGIN
    DELETE FROM event_members WHERE rowid = OLD.rowid;
    INSERT INTO event_members (rowid, event_id)
    SELECT NEW.rowid, NEW.event_id WHERE NEW.event_id IS NOT NULL AND NEW.event_id <> NEW.id;
END;

CREATE TRIGGER IF NOT EXISTS event_member_deleted
AFTER DELETE ON articles
BEGIN
    DELETE FROM event_members WHERE rowid = OLD.rowid;
END;
