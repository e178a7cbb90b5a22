-- Version 17: a story's quality may be unknown (its file gives none), and search finds
-- the forms of a word (English stemming).
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

-- Both full-text indexes stem English words (FTS5's porter tokenizer around the same
-- unicode61 one): "reef" and "reefs", "running" and "run" are one token, in the text and
-- in the query alike, so `coral reef` finds "Save Coral Reefs" and `coral reefs` "Save
-- The Coral Reef", titled first as before. The tags stay what they were: a quality band
-- token (rq050) has nothing to stem, and a topic token that ends in "e" is stemmed the
-- same way when it is written and when it is searched for, so it still stands for its
-- topic alone (two topics' tokens would have to agree in their first 14 hex digits to
-- meet). Rebuilt from the old tables, same rowids, same options as before (prefix
-- index of 2, merges 8 at a time; titles_fts as version 15 made it).

CREATE VIRTUAL TABLE articles_fts_v17 USING fts5 (
    title, excerpt, topics, provider,
    tags,                               -- one opaque token per topic key and quality band
    prefix = '2',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO articles_fts_v17 (rowid, title, excerpt, topics, provider, tags)
SELECT rowid, title, excerpt, topics, provider, tags FROM articles_fts;
DROP TABLE articles_fts;
ALTER TABLE articles_fts_v17 RENAME TO articles_fts;
INSERT INTO articles_fts (articles_fts) VALUES ('optimize');
INSERT INTO articles_fts (articles_fts, rank) VALUES ('automerge', 8);

DROP TABLE titles_fts;
CREATE VIRTUAL TABLE titles_fts USING fts5 (
    title,
    tags,                               -- as articles_fts.tags
    content = '',
    detail = column,
    columnsize = 0,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO titles_fts (rowid, title, tags) SELECT rowid, title, tags FROM articles_fts;
INSERT INTO titles_fts (titles_fts) VALUES ('optimize');
INSERT INTO titles_fts (titles_fts, rank) VALUES ('automerge', 8);
