-- Version 13: the bot's REST budget (SQLite's version 24). Every process of a bot draws
-- its requests to Discord from one token bucket, so together they stay under Discord's
-- global limit. One row per bot, keyed by a hash of its token (never the token itself):
-- the tokens left at ``stamp`` (Unix seconds), and what the last take granted (returned
-- by that take, which computes it and the new count in one statement).

CREATE TABLE IF NOT EXISTS rest_budget (
    bot     text PRIMARY KEY,
    tokens  double precision NOT NULL,
    stamp   double precision NOT NULL,
    granted integer NOT NULL
);
