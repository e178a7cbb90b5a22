-- Version 7: a story's topics among its search words. Each topic key is a tag lexeme in
-- text_words (bot.store.postgres.text.topic_tag: "topic:" and the key, or "topic#" and
-- the key's SHA-256 in hex when the key is over 1,000 bytes), which no word of a query can
-- be. A search in a topic is then one lookup in search_words_text (the word's postings
-- and the topic's, intersected), instead of reading the topic's every story row to check
-- its words.

UPDATE search_words w SET text_words = w.text_words || array_to_tsvector(ARRAY(
    SELECT CASE WHEN octet_length(t.key) <= 1000 THEN 'topic:' || t.key
                ELSE 'topic#' || encode(sha256(convert_to(t.key, 'UTF8')), 'hex') END
    FROM article_topics t WHERE t.article_rowid = w.rowid
));
