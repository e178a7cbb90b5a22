-- Version 2: topics inside the full-text index (a topic filter is a posting-list
-- intersection, not a join), prefix indexes for autocomplete, bm25 weights as the
-- table's rank, and topic counts kept current instead of counted on every request.
-- newsdesk_topic_tag() is registered by the store before migrating.

DROP TABLE articles_fts;
CREATE VIRTUAL TABLE articles_fts USING fts5 (
    title, excerpt, topics, provider,
    tags,                               -- one opaque token per topic key
    prefix = '2 3',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO articles_fts (articles_fts, rank) VALUES ('rank', 'bm25(10.0, 4.0, 2.0, 1.0, 0.0)');
INSERT INTO articles_fts (rowid, title, excerpt, topics, provider, tags)
SELECT a.rowid, a.title, coalesce(json_extract(a.data, '$.excerpt'), ''),
       coalesce((SELECT group_concat(t.name, ' ') FROM article_topics t
                 WHERE t.article_rowid = a.rowid), ''),
       coalesce(a.provider, ''),
       coalesce((SELECT group_concat(newsdesk_topic_tag(t.key), ' ') FROM article_topics t
                 WHERE t.article_rowid = a.rowid), '')
FROM articles a;

CREATE TABLE topic_stats (
    key      TEXT PRIMARY KEY,          -- casefolded
    name     TEXT NOT NULL,             -- the first spelling seen
    articles INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO topic_stats (key, name, articles)
SELECT t.key,
       (SELECT f.name FROM article_topics f WHERE f.key = t.key ORDER BY f.article_rowid LIMIT 1),
       count(*)
FROM article_topics t GROUP BY t.key;
