-- Version 8: a route's age limit (max_age_days) as an index. The queue's order is the
-- ranking index (articles_rank), and a route that takes only recent stories walked it
-- past every older one (38,000 story rows for one story a day old at 100k). With this
-- index the planner reads a recent window's stories from it and sorts those few; and
-- ANALYZE keeps statistics of the expression, so it knows how few they are (without
-- them it guessed a third of the stories for any limit).

CREATE INDEX IF NOT EXISTS articles_age ON articles ((coalesce(published_ts, first_seen_ts)));
