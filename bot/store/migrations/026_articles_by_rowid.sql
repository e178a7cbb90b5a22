-- Version 26: the ranking columns of each story by rowid, in an index of their own.
-- A /search without a topic puts up to a thousand matches (rowids from the full-text
-- index) in ranking order. Read from the table, each match cost a lookup of its whole row,
-- a page of its own in a file far larger than SQLite's page cache; this index holds the
-- same columns for every story in a few hundred pages. (A topic's matches are ordered
-- from article_topics, which already carries them.)

CREATE INDEX IF NOT EXISTS articles_by_rowid
ON articles (rowid, quality, heat, published_ts, id);
