-- Version 20: the guild of each route's channel, learned from Discord. A sharded process
-- runs the routes whose guild is on its shards ((guild_id >> 22) % shard_count); kept
-- here, a restart knows which before Discord answers. A channel never changes guild.

CREATE TABLE IF NOT EXISTS route_guilds (
    channel_id INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    learned_ts INTEGER NOT NULL
);
