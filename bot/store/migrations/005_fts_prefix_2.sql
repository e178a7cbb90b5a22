-- Version 5: the full-text index keeps a prefix index of 2 characters, not of 2 and 3.
-- Writing 3-character prefixes took 10 of the 24 us of CPU that indexing a story cost
-- (100k stories); without them, 3-letter completions scan the terms they start: article
-- autocomplete p95 2.5 -> 2.9 ms at 100k (goal 5). No prefix index at all: 3.8 ms.
-- The unused bm25 rank setting of version 2 goes with the old table. Rebuilding the index
-- (with version 6) takes 2.3 s at start-up for 100k stories, 37 s for 1M, once.

CREATE VIRTUAL TABLE articles_fts_v5 USING fts5 (
    title, excerpt, topics, provider,
    tags,                               -- one opaque token per topic key and quality band
    prefix = '2',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO articles_fts_v5 (rowid, title, excerpt, topics, provider, tags)
SELECT rowid, title, excerpt, topics, provider, tags FROM articles_fts;
DROP TABLE articles_fts;
ALTER TABLE articles_fts_v5 RENAME TO articles_fts;
INSERT INTO articles_fts (articles_fts) VALUES ('optimize');
