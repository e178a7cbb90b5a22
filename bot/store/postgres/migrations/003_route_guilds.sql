-- Version 3: the guild of each route's channel, learned from Discord (SQLite's version
-- 20). A sharded process runs the routes whose guild is on its shards; kept here, a
-- restart knows which before Discord answers. A channel never changes guild.

CREATE TABLE IF NOT EXISTS route_guilds (
    channel_id bigint PRIMARY KEY,
    guild_id   bigint NOT NULL,
    learned_ts bigint NOT NULL
);
