-- Version 17: a story's quality may be unknown (its file gives none).
-- articles.quality stays the ranking column (articles_rank, articles_order, the topic
-- index and the full-text band tags all read it); quality_unknown = 1 marks a story whose
-- quality is unknown, ranked as the config's unknown_quality: the store re-ranks such
-- stories when that setting changes (SQLiteStore.rank_unknown_quality), and the story's
-- data keeps "quality": null. Adding a column with a default rewrites no row.

ALTER TABLE articles ADD COLUMN quality_unknown INTEGER NOT NULL DEFAULT 0;
CREATE INDEX articles_quality_unknown ON articles (quality) WHERE quality_unknown = 1;

-- A moderator's story keeps the fields they gave (raw): one without a quality is unknown.
-- Its ranking columns are set by the re-ranking that follows every writable open.
UPDATE articles SET quality_unknown = 1, data = json_set(data, '$.quality', NULL)
WHERE source = 'moderator' AND quality = 0 AND json_extract(raw, '$.quality') IS NULL;

-- A file's story stored with quality 0 may have had none (the old parser wrote 0 for a
-- missing one): its file is read again at the next load, which tells. The stat and hash
-- kept for it no longer match, so the loader parses it; an unchanged story stays as it is.
UPDATE files SET sha256 = '', mtime_ns = -1
WHERE status = 'ok' AND article_id IN (
    SELECT id FROM articles WHERE quality = 0 AND source = 'file'
);
