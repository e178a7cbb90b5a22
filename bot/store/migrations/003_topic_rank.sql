-- Version 3: a topic's stories in ranking order, straight from an index.
-- article_topics carries copies of its article's ranking columns (written with the
-- topics on every load), so browsing a topic reads ten index entries instead of
-- joining and sorting all of the topic's stories.
-- From this version on, articles.raw holds a file's front matter as written (the
-- exact source, where it was JSON of the parsed values), or a moderator's fields as JSON.

CREATE TABLE article_topics_v3 (
    article_rowid INTEGER NOT NULL REFERENCES articles (rowid) ON DELETE CASCADE,
    key           TEXT NOT NULL,        -- casefolded, for matching
    name          TEXT NOT NULL,        -- as written, for display
    quality       INTEGER NOT NULL,     -- the article's, as in articles_rank
    heat          INTEGER NOT NULL,
    published_ts  INTEGER,
    article_id    TEXT NOT NULL,
    PRIMARY KEY (key, article_rowid)
) WITHOUT ROWID;
INSERT INTO article_topics_v3 (article_rowid, key, name, quality, heat, published_ts, article_id)
SELECT t.article_rowid, t.key, t.name, a.quality, a.heat, a.published_ts, a.id
FROM article_topics t JOIN articles a ON a.rowid = t.article_rowid;
DROP TABLE article_topics;
ALTER TABLE article_topics_v3 RENAME TO article_topics;
CREATE INDEX article_topics_article ON article_topics (article_rowid);
CREATE INDEX article_topics_rank
    ON article_topics (key, quality DESC, heat DESC, published_ts DESC, article_id);
