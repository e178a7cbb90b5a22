-- Version 14: URLs that differ only in encoding are one story (bot.urls.canonical_url:
-- %7E is ~, %2f is %2F, é is %C3%A9, an internationalised host is its punycode). Every
-- story's canonical URL is worked out again from its URL; every story keeps its id.
-- Stories that now share a canonical URL become one. The one kept is a posted one (sent
-- or being sent) if there is one, else one not withdrawn, else the first stored; per
-- channel it takes the delivery that went furthest among them (sent, being sent,
-- skipped, failed, approved, in review, pending; its own on a tie), so a story sent to a
-- channel stays sent there and nothing is posted again. Their pins and pending edits
-- move to it; their files are read again by the next load (a duplicate of the kept
-- story's file, or its file if it has none); the audit log records each merge.
-- newsdesk_canonical_url() is registered by the store before migrating.

CREATE TEMP TABLE recanonical (rid INTEGER PRIMARY KEY, id TEXT, old TEXT, new TEXT);
INSERT INTO recanonical (rid, id, old, new)
SELECT rid, id, old, new FROM (
    SELECT rowid AS rid, id, canonical_url AS old,
           newsdesk_canonical_url(url, canonical_url) AS new
    FROM articles)
WHERE new <> old;
CREATE INDEX temp.recanonical_new ON recanonical (new);
-- the stories that already have the new form of a changed one's URL
INSERT OR IGNORE INTO recanonical (rid, id, old, new)
SELECT rowid, id, canonical_url, canonical_url FROM articles
WHERE canonical_url IN (SELECT new FROM recanonical);

CREATE TEMP TABLE ranked AS
SELECT r.rid AS rid, r.id AS id, r.new AS new, row_number() OVER (
    PARTITION BY r.new
    ORDER BY EXISTS (SELECT 1 FROM deliveries d WHERE d.article_id = r.id
                     AND d.state IN ('sent', 'sending')) DESC,
             a.source = 'withdrawn', a.first_seen_ts, r.rid) AS n
FROM recanonical r JOIN articles a ON a.rowid = r.rid
WHERE r.new IN (SELECT new FROM recanonical GROUP BY new HAVING count(*) > 1);

CREATE TEMP TABLE merges AS
SELECT g.rid AS gone_rid, g.id AS gone, k.id AS keep, g.new AS url
FROM ranked g JOIN ranked k ON k.new = g.new AND k.n = 1
WHERE g.n > 1;

-- Every story of a group, with the one kept
CREATE TEMP TABLE members AS
SELECT keep AS id, keep FROM merges UNION SELECT gone, keep FROM merges;

CREATE TEMP TABLE merged_deliveries AS
SELECT * FROM (
    SELECT m.keep AS keep, d.channel_id, d.state, d.attempts, d.nonce, d.message_id,
           d.review_message_id, d.decided_by, d.last_error, d.created_ts, d.updated_ts,
           d.sent_ts,
           row_number() OVER (
               PARTITION BY m.keep, d.channel_id
               ORDER BY CASE d.state WHEN 'sent' THEN 0 WHEN 'sending' THEN 1
                        WHEN 'skipped' THEN 2 WHEN 'failed' THEN 3 WHEN 'approved' THEN 4
                        WHEN 'review' THEN 5 ELSE 6 END,
                        d.article_id <> m.keep, d.created_ts, d.article_id) AS n
    FROM members m JOIN deliveries d ON d.article_id = m.id)
WHERE n = 1;
DELETE FROM deliveries WHERE article_id IN (SELECT id FROM members);
-- (each keeps its nonce: a send in flight is looked for under the nonce it was sent with)
INSERT INTO deliveries (article_id, channel_id, state, attempts, nonce, message_id,
                        review_message_id, decided_by, last_error, created_ts, updated_ts,
                        sent_ts)
SELECT keep, channel_id, state, attempts, nonce, message_id, review_message_id, decided_by,
       last_error, created_ts, updated_ts, sent_ts
FROM merged_deliveries;

CREATE TEMP TABLE merged_pins AS
SELECT * FROM (
    SELECT m.keep AS keep, q.channel_id, q.position, q.added_by, q.added_ts,
           row_number() OVER (
               PARTITION BY m.keep, q.channel_id
               ORDER BY q.article_id <> m.keep, q.position, q.added_ts, q.article_id) AS n
    FROM members m JOIN queue_entries q ON q.article_id = m.id)
WHERE n = 1;
DELETE FROM queue_entries WHERE article_id IN (SELECT id FROM members);
INSERT INTO queue_entries (channel_id, article_id, position, added_by, added_ts)
SELECT channel_id, keep, position, added_by, added_ts FROM merged_pins;

INSERT OR IGNORE INTO post_edits (article_id, channel_id)
SELECT m.keep, e.channel_id FROM merges m JOIN post_edits e ON e.article_id = m.gone;
DELETE FROM post_edits WHERE article_id IN (SELECT gone FROM merges);
DELETE FROM orphans WHERE article_id IN (SELECT gone FROM merges);

-- A merged story's file is read again; the files kept out as its duplicates now
-- duplicate the story kept.
DELETE FROM files WHERE status = 'ok' AND article_id IN (SELECT gone FROM merges);
UPDATE files SET article_id = (SELECT m.keep FROM merges m WHERE m.gone = files.article_id)
WHERE status = 'duplicate' AND article_id IN (SELECT gone FROM merges);

INSERT INTO audit_log (ts, actor_id, actor_name, action, channel_id, article_id, detail,
                       result)
SELECT CAST(strftime('%s', 'now') AS INTEGER), NULL, NULL, 'store.merge', NULL, keep,
       'merged ' || gone || ': the same URL once decoded (' || url || ')', 'ok'
FROM merges ORDER BY keep, gone;

-- The merged stories go, with their topics (counted down) and full-text rows.
UPDATE topic_stats SET articles = articles - (
    SELECT count(*) FROM article_topics t
    WHERE t.key = topic_stats.key AND t.article_rowid IN (SELECT gone_rid FROM merges))
WHERE key IN (SELECT t.key FROM article_topics t
              WHERE t.article_rowid IN (SELECT gone_rid FROM merges));
DELETE FROM topic_stats WHERE articles <= 0;
DELETE FROM article_topics WHERE article_rowid IN (SELECT gone_rid FROM merges);
DELETE FROM articles_fts WHERE rowid IN (SELECT gone_rid FROM merges);
DELETE FROM articles WHERE rowid IN (SELECT gone_rid FROM merges);

-- The new canonical URLs, in two steps: no row holds another's new URL meanwhile.
UPDATE articles SET canonical_url = 'migrating:' || rowid
WHERE rowid IN (SELECT rid FROM recanonical WHERE new <> old);
UPDATE articles SET
    canonical_url = (SELECT r.new FROM recanonical r WHERE r.rid = articles.rowid),
    data = json_set(data, '$.canonical_url',
                    (SELECT r.new FROM recanonical r WHERE r.rid = articles.rowid))
WHERE rowid IN (SELECT rid FROM recanonical WHERE new <> old);

DROP TABLE members;
DROP TABLE merged_deliveries;
DROP TABLE merged_pins;
DROP TABLE merges;
DROP TABLE ranked;
DROP TABLE recanonical;
