-- Version 15: a second full-text index, of the titles alone with the tags (topic and
-- quality band tokens) beside them, for "every word in the title" (search's first part,
-- and article autocomplete). articles_fts answers that by reading every posting of each
-- word, in any column and with its positions, to keep the title ones: for the commonest
-- title words, in 15-30% of the titles and 40-65% of the excerpts (100k generated stories),
-- that was most of a search. Here a word's postings are its titles, and detail = column
-- keeps which column a word is in but not where: all that matching plain words (no
-- phrases, no NEAR) needs. It holds no text (content = ''): a story leaves it by a
-- 'delete' that repeats the values indexed, which the store reads from articles_fts
-- before deleting the story's row there. Both indexes hold the same rowids, titles and
-- tags; this one is built from the other (and so again if an older migration is rerun).

DROP TABLE IF EXISTS titles_fts;
CREATE VIRTUAL TABLE titles_fts USING fts5 (
    title,
    tags,                               -- as articles_fts.tags
    content = '',
    detail = column,
    columnsize = 0,                     -- no token counts per row: nothing here ranks by them
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO titles_fts (rowid, title, tags) SELECT rowid, title, tags FROM articles_fts;
INSERT INTO titles_fts (titles_fts) VALUES ('optimize');
INSERT INTO titles_fts (titles_fts, rank) VALUES ('automerge', 8);  -- as migration 7
