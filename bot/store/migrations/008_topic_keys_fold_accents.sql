-- Version 8: a topic's key ignores accents and Unicode form as well as case
-- (bot.models.topic_key), so a channel's `topics: [Mexico]`, /search and the counts take
-- "México" too. Spellings that now share a key become one topic. Only rows whose key
-- changes are rewritten. newsdesk_topic_key() and newsdesk_topic_tag() are registered by
-- the store before migrating.

CREATE TEMP TABLE refolded AS
SELECT DISTINCT article_rowid FROM article_topics WHERE key <> newsdesk_topic_key(name);

-- A story that lists two spellings of one topic keeps one row for it: the update skips
-- the second row (the key is taken), which is then deleted.
UPDATE OR IGNORE article_topics SET key = newsdesk_topic_key(name)
WHERE article_rowid IN (SELECT article_rowid FROM refolded);
DELETE FROM article_topics
WHERE article_rowid IN (SELECT article_rowid FROM refolded) AND key <> newsdesk_topic_key(name);

-- The full-text row's topic tags follow the keys (the quality band tag is kept).
UPDATE articles_fts SET tags = trim(
    coalesce((SELECT group_concat(newsdesk_topic_tag(t.key), ' ') FROM article_topics t
              WHERE t.article_rowid = articles_fts.rowid), '')
    || ' ' || (SELECT 'rq' || substr('00' || a.quality, -3) FROM articles a
               WHERE a.rowid = articles_fts.rowid))
WHERE rowid IN (SELECT article_rowid FROM refolded);

-- Counts per key, recounted; a key keeps the name it had, else its commonest spelling.
CREATE TEMP TABLE topic_names AS SELECT key, name FROM topic_stats;
DELETE FROM topic_stats;
INSERT INTO topic_stats (key, name, articles)
SELECT t.key,
       coalesce((SELECT n.name FROM topic_names n WHERE n.key = t.key),
                (SELECT f.name FROM article_topics f WHERE f.key = t.key
                 GROUP BY f.name ORDER BY count(*) DESC, f.name LIMIT 1)),
       count(*)
FROM article_topics t GROUP BY t.key;

DROP TABLE topic_names;
DROP TABLE refolded;
