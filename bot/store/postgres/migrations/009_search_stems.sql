-- Version 9: search finds the English forms of a word, as on SQLite (its migration 17):
-- `coral reef` finds "Save Coral Reefs" and `coral reefs` "Save The Coral Reef". The
-- lexemes of search_words are stems from now on (bot.store.postgres.text: folded, then
-- Porter's algorithm, the one SQLite's porter tokenizer runs), in the stories and in the
-- query alike. The stems are made in Python: right after this script, in its
-- transaction, the store fills this table with every story's words stemmed and writes
-- them into search_words (connection._stem_search_words). Topic tags stay as they are.

CREATE TEMP TABLE stemmed_words (
    rowid        bigint PRIMARY KEY,
    title_words  text NOT NULL,
    text_words   text NOT NULL
) ON COMMIT DROP;
