"""End to end: `newsdesk run --shard-ids … --shard-count …` against the fake Discord.

Several processes need one database that more than one `run` can share (PostgreSQL): on
SQLite one process runs, with some of the shards or all of them.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import aiohttp

from bot.store import DeliveryState, SQLiteStore
from tests.e2e_support import BotProcess, FakeDiscord, Newsroom, Perm, story_file, wait_for_log

WAIT = 30.0


def two_shards(fake: FakeDiscord, tmp_path: Path) -> tuple[Newsroom, int, int]:
    """A newsroom on shard 0 of 2 (#zero, #mod-log) and a second guild on shard 1 (#one)."""
    room = Newsroom(fake, tmp_path)
    room.guild = fake.add_guild("Zero", shard=(0, 2)).id
    for name in ("zero", "mod-log"):
        room.channels[name] = fake.add_channel(room.guild, name).id
    other = fake.add_guild("One", shard=(1, 2)).id
    room.channels["one"] = fake.add_channel(other, "one").id
    (tmp_path / "seeds").mkdir()
    for n in range(3):
        story_file(room.seeds, f"s{n}", 90 - n, ["AI"])
    return room, room.guild, other


async def sent(db: Path) -> dict[int, int]:
    """Stories recorded as sent, per channel."""
    store = await SQLiteStore.open(str(db))
    try:
        counts: dict[int, int] = {}
        for delivery in await store.deliveries(states=(DeliveryState.SENT,)):
            counts[delivery.channel_id] = counts.get(delivery.channel_id, 0) + 1
        return counts
    finally:
        await store.close()


async def route_guilds(db: Path) -> dict[int, int]:
    store = await SQLiteStore.open(str(db))
    try:
        return await store.route_guilds()
    finally:
        await store.close()


async def test_one_shard_of_two_posts_to_its_routes_and_answers_its_guilds(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room, zero, one = two_shards(fake, tmp_path)
    zero_news, one_news = room.channels["zero"], room.channels["one"]
    desk = room.channels["desk"] = fake.add_channel(zero, "desk").id
    rita = fake.add_member(zero, "rita").user
    editors = fake.add_role(zero, "editors", Perm.MANAGE_MESSAGES)
    mia = fake.add_member(zero, "mia", [editors]).user
    never = "0 0 1 1 *"  # no scheduled post during the test: only /queue post posts
    config = room.write_config(
        [
            {"name": "zero", "schedule": {"every": "1s"}},
            {"name": "one", "schedule": {"every": "1s"}},
            {"name": "desk", "schedule": never},
        ],
        guild_ids=[zero, one],
        http={"listen": "127.0.0.1:0"},
    )
    async with BotProcess(config, "--shard-ids", "0", "--shard-count", "2") as bot:
        await wait_for_log(
            bot, "shards 0 of 2: 2 route(s) run here (#zero, #desk), 1 on other shards"
        )
        await fake.wait_for_messages(zero_news, 3, timeout=WAIT)
        # Commands in its guild are answered; one in the other guild never reaches it
        topics = await fake.send_command("topics", channel_id=zero_news, user=rita)
        answer = (await topics.response())["data"]
        assert "AI" in answer["embeds"][0]["description"]
        post = await fake.send_command(
            "queue", {"channel": fake.channel(desk)}, subcommand="post", channel_id=desk, user=mia
        )
        assert (await post.wait_followup())["content"].startswith("📰 Posted `")
        elsewhere = await fake.send_command("topics", channel_id=one_news)
        # /metrics: its shard and its routes (one more #zero run: its queue is empty)
        await wait_for_log(bot, "http: listening on")
        listen = re.search(r"http: listening on (\S+)", bot.log())
        assert listen is not None
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://{listen[1]}/metrics") as resp:
                page = await resp.text()
            async with session.get(f"http://{listen[1]}/readyz") as resp:
                ready = (resp.status, await resp.text())
        assert ready == (200, "ready\n")  # its one shard is connected
        assert 'newsdesk_shard{shard="0",shard_count="2"} 1.0' in page
        assert 'newsdesk_routes{where="here"} 2.0' in page
        assert 'newsdesk_routes{where="other_shards"} 1.0' in page
        assert 'newsdesk_seconds_since_last_post{channel="zero"}' in page
        assert 'channel="one"' not in page
        assert await bot.stop() == 0

    assert room.titles("zero") == ["Story s0", "Story s1", "Story s2"]
    assert room.titles("desk") == ["Story s0"]
    assert fake.messages(one_news) == []
    assert not elsewhere.acknowledged
    assert fake.identified_shards == [[0, 2]]
    assert fake.connection_count == 1
    assert await sent(room.db) == {zero_news: 3, desk: 1}
    assert await route_guilds(room.db) == {zero_news: zero, one_news: one, desk: zero}
    # #one's guild came from one channel fetch (#zero's from the gateway's guild)
    assert len(fake.requests("GET", rf"/channels/{one_news}$")) == 1

    # A restart knows both routes' guilds from the store: it asks Discord for neither
    story_file(room.seeds, "s3", 50, ["AI"])
    async with BotProcess(config, "--shard-ids", "0", "--shard-count", "2") as bot:
        await fake.wait_for_messages(zero_news, 4, timeout=WAIT)
        await wait_for_log(
            bot, "shards 0 of 2: 2 route(s) run here (#zero, #desk), 1 on other shards"
        )
        assert await bot.stop() == 0
    assert len(fake.requests("GET", rf"/channels/{one_news}$")) == 1
    assert fake.messages(one_news) == []
    assert fake.identified_shards == [[0, 2], [0, 2]]


async def test_both_shards_in_one_process_open_two_connections_and_post_everywhere(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room, zero, one = two_shards(fake, tmp_path)
    config = room.write_config(
        [{"name": name, "schedule": {"every": "1s"}} for name in ("zero", "one")],
        guild_ids=[zero, one],
    )
    async with BotProcess(config, "--shard-ids", "0,1", "--shard-count", "2") as bot:
        await fake.wait_for_messages(room.channels["zero"], 3, timeout=WAIT)
        await fake.wait_for_messages(room.channels["one"], 3, timeout=WAIT)
        await wait_for_log(bot, "shards 0, 1 of 2: 2 route(s) run here (#zero, #one)")
        assert await bot.stop() == 0

    expected = ["Story s0", "Story s1", "Story s2"]
    assert room.titles("zero") == room.titles("one") == expected
    assert fake.identified_shards == [[0, 2], [1, 2]]
    assert fake.connection_count == 2
    assert await sent(room.db) == {room.channels["zero"]: 3, room.channels["one"]: 3}
    # every route's guild is on a shard of this process: learned from the gateway alone
    assert fake.requests("GET", r"/channels/\d+$") == []


async def test_a_route_added_by_a_reload_is_run_if_its_guild_is_on_the_shard(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room, zero, one = two_shards(fake, tmp_path)
    room.channels["late"] = fake.add_channel(zero, "late").id
    room.channels["later"] = fake.add_channel(one, "later").id
    routes = [{"name": "zero", "schedule": {"every": "1s"}}]
    config = room.write_config(routes, guild_ids=[zero, one])
    async with BotProcess(config, "--shard-ids", "0", "--shard-count", "2") as bot:
        await fake.wait_for_messages(room.channels["zero"], 3, timeout=WAIT)
        routes += [{"name": name, "schedule": {"every": "1s"}} for name in ("late", "later")]
        room.write_config(routes, guild_ids=[zero, one])
        assert bot.proc is not None
        bot.proc.send_signal(signal.SIGHUP)
        await wait_for_log(
            bot, "shards 0 of 2: 2 route(s) run here (#zero, #late), 1 on other shards"
        )
        await fake.wait_for_messages(room.channels["late"], 3, timeout=WAIT)
        assert await bot.stop() == 0

    assert room.titles("late") == ["Story s0", "Story s1", "Story s2"]
    assert fake.messages(room.channels["later"]) == []
    assert await route_guilds(room.db) == {
        room.channels["zero"]: zero,
        room.channels["late"]: zero,
        room.channels["later"]: one,
    }
