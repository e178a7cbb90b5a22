-- Version 6: no table of related coverage. Nothing read it: a story's related items live
-- in its JSON (articles.data), which posts, edits and searches use. Writing its rows took
-- 4 us of CPU per story at 100k, and 48 of the 691 MB the store took.
-- Nor an index of topic rows by story: an edit deletes the old rows by their key (the
-- old topics are known), and stories are never deleted. It took 1.5 us per story.

DROP TABLE IF EXISTS related;
DROP INDEX IF EXISTS article_topics_article;
