-- Version 17 (as the SQLite store's): a story's quality may be unknown (its file gives
-- none). articles.quality stays the ranking column (the ranking indexes, search_words and
-- article_topics copy it); quality_unknown marks a story ranked as the config's
-- unknown_quality, re-ranked when that changes (rank_unknown_quality). Its data keeps
-- "quality": null. A file's story stored with 0 is re-read at the next load, which tells
-- a missing quality from a real 0. It can run again (a test rewinds a database past it).

ALTER TABLE articles ADD COLUMN IF NOT EXISTS quality_unknown boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS articles_quality_unknown ON articles (quality) WHERE quality_unknown;

UPDATE articles SET quality_unknown = true, data = jsonb_set(data::jsonb, '{quality}', 'null')::text
WHERE source = 'moderator' AND quality = 0
    AND CASE WHEN source = 'moderator' THEN raw::jsonb -> 'quality' IS NULL ELSE false END;

UPDATE files SET sha256 = '', mtime_ns = -1
WHERE status = 'ok' AND article_id IN (
    SELECT id FROM articles WHERE quality = 0 AND source = 'file'
);
