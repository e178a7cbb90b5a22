-- Version 13: a story whose article file is deleted is withdrawn, if it was never posted
-- and no other file gives it: it leaves every queue and search, and comes back with its
-- id, pins and history when a file gives it again. Nothing is deleted: its source
-- becomes 'withdrawn' (it was 'file'; a moderator's story is never withdrawn).
-- A load notes the stories of the files it forgets (orphans) and, at its end, withdraws
-- those that no file took over; a load cut short leaves its notes to the next one.

-- the few withdrawn stories, for counting the others without reading every row
CREATE INDEX IF NOT EXISTS articles_withdrawn ON articles (id) WHERE source = 'withdrawn';

CREATE TABLE IF NOT EXISTS orphans (
    article_id TEXT PRIMARY KEY
) WITHOUT ROWID;

-- Stories whose files were deleted before this version: the next load withdraws those
-- the rule withdraws (never posted, from a file that no record still gives).
INSERT OR IGNORE INTO orphans (article_id)
SELECT a.id FROM articles a
WHERE a.source = 'file' AND a.source_path IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM files f WHERE f.path = a.source_path
    AND (f.status = 'rejected' OR (f.status = 'ok' AND f.article_id = a.id)));
