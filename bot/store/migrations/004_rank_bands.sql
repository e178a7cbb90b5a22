-- Version 4: words that match many stories are ranked a band at a time.
-- A token per quality band among the full-text tags (written by sqlite.rank_tag() on
-- every load), and the ranking order (ranking.rank_key) as an index: a band holds about
-- 1% of a word's matches, so the first page no longer gathers every match first
-- (12 -> 0.4 ms for a word in 75% of 100k stories). Browsing every story uses the index.

CREATE INDEX articles_order ON articles (quality DESC, heat DESC, published_ts DESC, id);
UPDATE articles_fts SET tags = trim(tags || ' ' || (
    SELECT 'rq' || substr('00' || a.quality, -3) FROM articles a WHERE a.rowid = articles_fts.rowid
));
-- Rewriting every row left the index in many segments full of deletions: merge them.
INSERT INTO articles_fts (articles_fts) VALUES ('optimize');
