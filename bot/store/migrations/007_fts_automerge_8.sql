-- Version 7: the full-text index merges its segments 8 at a time, not 4 (FTS5's default).
-- A merge rewrites the segments it joins, so merging fewer, larger groups writes less:
-- storing 100k stories (the store alone, 4 runs each) took 54.0-58.9 us of CPU per story
-- instead of 58.8-61.5, and a full load of 100k files 72.8 instead of 75.1 us per file in
-- the bot's process (4 loads each, means). Between merges the index can hold more
-- segments, but at 100k it held no more (10: levels of 3 and 7, against 4, 3 and 3), and
-- the queries measured alike (/search p95 4.4-5.2 ms, goal 10). Only later writes merge
-- this way; nothing is rewritten now.

INSERT INTO articles_fts (articles_fts, rank) VALUES ('automerge', 8);
