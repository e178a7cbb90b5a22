-- Version 14: /search in one round trip, planned for its words; story rows written
-- without compression; a route's age limit indexed with the quality.
--
-- newsdesk_search runs a whole search on the server (the store's search() states what it
-- finds): the matches gathered once, each event kept once as its lead, titled first and
-- ranked, the page's stories read, and the count. Run from the client, that took five to
-- seven statements, each a round trip. The function's statements are planned for the
-- words asked each time (plan_cache_mode): a prepared statement's generic plan gathers
-- the matches of any words from the words' index, which for words in a third of the
-- stories reads their every posting where a scan of the table finds the first thousand
-- matches at once; for a rare word or a topic's tag it is the index that is quick.
--
-- articles.data and raw are stored as they are, out of line, without compression (as
-- SQLite stores them): a story's JSON compressed by a quarter only, and compressing it
-- took a third of the server's time in a load. Rows written before keep their form.

ALTER TABLE articles ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE articles ALTER COLUMN raw SET STORAGE EXTERNAL;

-- The queue of a route with an age limit and a minimum quality: the planner joined the
-- age index's few recent stories with the ranking index's many above the quality (a
-- bitmap of 64,000 rows for 600 at 100k). With the quality in the age index, it reads
-- the recent stories of that quality from it alone. It replaces migration 8's index.
CREATE INDEX IF NOT EXISTS articles_age_quality
    ON articles ((coalesce(published_ts, first_seen_ts)), quality);
DROP INDEX IF EXISTS articles_age;

-- Stories with every word of _match (_tagged: the same words and the topic's tag, when
-- _topic is a topic key), titled first then in ranking order, each event once as its
-- lead: rows (_total, _data), a story's JSON each in order, and one row with _data NULL
-- when the page is empty. _total counts the matches up to _most, else is _most + 1.
CREATE OR REPLACE FUNCTION newsdesk_search(
    _tagged tsquery, _match tsquery, _topic text, _limit integer, _offset integer,
    _most integer
) RETURNS TABLE (_total integer, _data text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $search$
#variable_conflict use_column
DECLARE
    _ids bigint[];
    _titled boolean[];
    _quality integer[];
    _heat integer[];
    _published bigint[];
    _sid text[];
    _merged bigint[];
    _leads bigint[];
    _page bigint[];
    _count integer;
BEGIN
    -- up to _most + 1 matches, with what ranks them: one lookup in the words' index
    -- (a topic's tag among the words), or a scan for words most stories have
    SELECT array_agg(w.rowid), array_agg(w.titled), array_agg(w.quality),
           array_agg(w.heat), array_agg(w.published_ts), array_agg(w.id)
    INTO _ids, _titled, _quality, _heat, _published, _sid
    FROM (SELECT s.rowid, s.title_words @@ _match AS titled, s.quality, s.heat,
                 s.published_ts, s.id
          FROM search_words s WHERE s.text_words @@ _tagged LIMIT _most + 1) w;
    _count := coalesce(cardinality(_ids), 0);

    IF _count <= _most THEN
        -- each event once, as its lead: the matches merged into another's event
        SELECT array_agg(a.rowid), array_agg(l.rowid) INTO _merged, _leads
        FROM articles a JOIN articles l ON l.id = a.event_id
        WHERE a.rowid = ANY(_ids) AND a.event_id <> a.id AND l.source <> 'withdrawn';
        IF _merged IS NULL THEN
            -- every match leads its event or is alone, and is in the topic (its tag)
            RETURN QUERY
            SELECT _count, a.data
            FROM (SELECT f.rowid, f.titled, f.quality, f.heat, f.published, f.id
                  FROM unnest(_ids, _titled, _quality, _heat, _published, _sid)
                       AS f(rowid, titled, quality, heat, published, id)
                  ORDER BY f.titled DESC, f.quality DESC, f.heat DESC,
                           f.published DESC NULLS LAST, f.id COLLATE "C"
                  LIMIT _limit OFFSET _offset) p
            JOIN articles a ON a.rowid = p.rowid
            ORDER BY p.titled DESC, p.quality DESC, p.heat DESC,
                     p.published DESC NULLS LAST, p.id COLLATE "C";
        ELSE
            -- a lead is titled when a story of its event that matched is; counted
            -- whatever its topics, listed when it is in the topic
            SELECT count(DISTINCT coalesce(m.lead, f.rowid)) INTO _count
            FROM unnest(_ids) AS f(rowid)
            LEFT JOIN unnest(_merged, _leads) AS m(rowid, lead) ON m.rowid = f.rowid;
            RETURN QUERY
            SELECT _count, a.data
            FROM (SELECT l.rowid, l.titled, w.quality, w.heat, w.published_ts, w.id
                  FROM (SELECT coalesce(m.lead, f.rowid) AS rowid, bool_or(f.titled) AS titled
                        FROM unnest(_ids, _titled) AS f(rowid, titled)
                        LEFT JOIN unnest(_merged, _leads) AS m(rowid, lead)
                             ON m.rowid = f.rowid
                        GROUP BY 1) l
                  JOIN search_words w ON w.rowid = l.rowid
                  WHERE _topic IS NULL OR EXISTS (SELECT 1 FROM article_topics t
                      WHERE t.key = _topic AND t.article_rowid = l.rowid)
                  ORDER BY l.titled DESC, w.quality DESC, w.heat DESC,
                           w.published_ts DESC NULLS LAST, w.id
                  LIMIT _limit OFFSET _offset) p
            JOIN articles a ON a.rowid = p.rowid
            ORDER BY p.titled DESC, p.quality DESC, p.heat DESC,
                     p.published_ts DESC NULLS LAST, p.id;
        END IF;
        IF NOT FOUND THEN
            RETURN QUERY SELECT _count, NULL::text;
        END IF;
        RETURN;
    END IF;

    -- More: a page read in ranking order, the titled stories first, then the others;
    -- each story of the page merged into another's event replaced by its lead, once.
    IF _topic IS NULL THEN
        _page := ARRAY(
            SELECT w.rowid FROM search_words w WHERE w.title_words @@ _match
            ORDER BY w.quality DESC, w.heat DESC, w.published_ts DESC NULLS LAST, w.id
            LIMIT _limit OFFSET _offset);
        IF cardinality(_page) < _limit THEN
            SELECT count(*) INTO _count FROM search_words w WHERE w.title_words @@ _match;
            _page := _page || ARRAY(
                SELECT w.rowid FROM search_words w
                WHERE w.text_words @@ _match AND NOT (w.title_words @@ _match)
                ORDER BY w.quality DESC, w.heat DESC, w.published_ts DESC NULLS LAST, w.id
                LIMIT _limit - cardinality(_page) OFFSET greatest(0, _offset - _count));
        END IF;
    ELSE
        -- a topic's stories are read from the topic's rows: few, where a word can be in
        -- most stories
        _page := ARRAY(
            SELECT w.rowid FROM article_topics t JOIN search_words w ON w.rowid = t.article_rowid
            WHERE w.title_words @@ _match AND t.key = _topic
            ORDER BY t.quality DESC, t.heat DESC, t.published_ts DESC NULLS LAST, t.article_id
            LIMIT _limit OFFSET _offset);
        IF cardinality(_page) < _limit THEN
            SELECT count(*) INTO _count
            FROM article_topics t JOIN search_words w ON w.rowid = t.article_rowid
            WHERE w.title_words @@ _match AND t.key = _topic;
            _page := _page || ARRAY(
                SELECT w.rowid
                FROM article_topics t JOIN search_words w ON w.rowid = t.article_rowid
                WHERE w.text_words @@ _match AND NOT (w.title_words @@ _match)
                      AND t.key = _topic
                ORDER BY t.quality DESC, t.heat DESC, t.published_ts DESC NULLS LAST,
                         t.article_id
                LIMIT _limit - cardinality(_page) OFFSET greatest(0, _offset - _count));
        END IF;
    END IF;
    RETURN QUERY
    SELECT _most + 1, a.data
    FROM (SELECT DISTINCT ON (d.lead) d.lead, d.at
          FROM (SELECT coalesce(l.rowid, p.rowid) AS lead, p.at
                FROM unnest(_page) WITH ORDINALITY AS p(rowid, at)
                LEFT JOIN articles x ON x.rowid = p.rowid AND x.event_id <> x.id
                LEFT JOIN articles l ON l.id = x.event_id AND l.source <> 'withdrawn') d
          ORDER BY d.lead, d.at) e
    JOIN articles a ON a.rowid = e.lead
    ORDER BY e.at;
    IF NOT FOUND THEN
        RETURN QUERY SELECT _most + 1, NULL::text;
    END IF;
END;
$search$;
