"""End to end: `newsdesk run` as a subprocess against the fake Discord on 127.0.0.1.

The real discord.py client (HTTP, rate limiter, gateway with zlib-stream), the real store
and the real scheduler; assertions on what the fake server recorded.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.render.embeds import summary_line
from bot.store import DeliveryState, RouteFilter, RouteState, SQLiteStore, open_store
from bot.store.records import delivery_nonce
from tests.e2e_support import (
    MESSAGES,
    SEED,
    TOKEN,
    BotProcess,
    ChannelType,
    FakeDiscord,
    Newsroom,
    Perm,
    article_of,
    expected_embeds,
    story_file,
    wait_for_log,
)

WAIT = 30.0  # generous bounds for a loaded 2-core CI machine; tests finish as soon as done


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The bot's database: a SQLite file, or a PostgreSQL database with nothing in it."""
    if request.param == "sqlite":
        return str(tmp_path / "newsdesk.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


async def deliveries(db: Path | str) -> dict[tuple[str, int], DeliveryState]:
    store = await open_store(str(db))
    try:
        return {(d.article_id, d.channel_id): d.state for d in await store.deliveries()}
    finally:
        await store.close()


async def route_state(db: Path, channel_id: int) -> RouteState:
    store = await SQLiteStore.open(str(db))
    try:
        return await store.route_state(channel_id)
    finally:
        await store.close()


async def test_posts_ranked_stories_with_exact_embeds_then_stops_cleanly(
    fake: FakeDiscord, tmp_path: Path, database: str
) -> None:
    room = Newsroom.create(fake, tmp_path, "ai-news", "everything")
    shutil.copy(SEED, room.seeds / SEED.name)
    top = story_file(room.seeds, "top", 95, ["AI"])
    low = story_file(room.seeds, "low", 40, ["ai"])
    story_file(room.seeds, "sport", 99, ["Sports"])
    seed = room.seeds / SEED.name
    config = room.write_config(
        [
            {"name": "ai-news", "schedule": {"every": "1s"}, "topics": ["AI"]},
            {"name": "everything", "schedule": {"every": "1s"}, "per_run": 2, "mention_role": 4242},
        ],
        database=database,
    )
    async with BotProcess(config) as bot:
        await fake.wait_for_messages(room.channels["ai-news"], 3, timeout=WAIT)
        await fake.wait_for_messages(room.channels["everything"], 4, timeout=WAIT)
        # More runs: a story written now ranks below all the others, so both routes have
        # run again by the time it is posted, and a story posted twice would be in front.
        last = story_file(room.seeds, "last", 10, ["AI"])
        await fake.wait_for_messages(room.channels["ai-news"], 4, timeout=WAIT)
        await fake.wait_for_messages(room.channels["everything"], 5, timeout=WAIT)
        assert await bot.stop() == 0

    assert room.titles("ai-news") == [
        "Story top",
        "IBM will no longer offer, develop, or research facial recognition technology",
        "Story low",
        "Story last",
    ]
    assert room.titles("everything") == [
        "Story sport",
        "Story top",
        "IBM will no longer offer, develop, or research facial recognition technology",
        "Story low",
        "Story last",
    ]
    sent = [r.json for r in fake.requests("POST", MESSAGES) if r.status == 200]
    ai = [b for b in sent if b["embeds"][0]["title"] and b.get("content") is None]
    for body, path in zip(ai, [top, seed, low, last], strict=True):
        article = article_of(path)
        assert body["embeds"] == expected_embeds(path)
        assert body["allowed_mentions"] == {"parse": []}
        assert body["nonce"] == delivery_nonce(article.id, room.channels["ai-news"])
        assert body["enforce_nonce"] is True
        provider = article.provider_name
        assert body["components"][0]["components"][0] == {
            "type": 2, "style": 5, "label": f"Read on {provider}", "url": article.url,
            "disabled": False,
        }  # fmt: skip
    pings = [b for b in sent if b.get("content") is not None]
    assert [b["content"] for b in pings] == ["<@&4242>"] * 5
    assert all(b["allowed_mentions"] == {"parse": [], "roles": [4242]} for b in pings)

    states = await deliveries(database)
    assert Counter(states.values()) == {DeliveryState.SENT: 9}
    assert TOKEN not in bot.log()
    assert "stopped" in bot.log()
    assert f", database {database}, " in bot.log()  # (the one chosen: both stores run it)


async def test_topic_roles_ping_exactly_the_roles_of_each_storys_topics(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news", "plain")
    ai_role = fake.add_role(room.guild, "AI fans").id
    space_role = fake.add_role(room.guild, "Space fans").id
    every_role = fake.add_role(room.guild, "Everything").id
    story_file(room.seeds, "both", 95, ["ai", "Space"])
    story_file(room.seeds, "ai", 90, ["AI"])
    story_file(room.seeds, "sport", 80, ["Sports"])
    roles = {"AI": ai_role, "space": space_role}
    config = room.write_config(
        [
            {"name": "news", "schedule": {"every": "1s"}, "per_run": 3, "topic_roles": roles},
            {
                "name": "plain",
                "schedule": {"every": "1s"},
                "per_run": 3,
                "mention_role": every_role,
                "topic_roles": {"AI": ai_role},
            },
        ]
    )
    async with BotProcess(config) as bot:
        await fake.wait_for_messages(room.channels["news"], 3, timeout=WAIT)
        await fake.wait_for_messages(room.channels["plain"], 3, timeout=WAIT)
        assert await bot.stop() == 0

    def sent(name: str) -> list[tuple[str, Any, Any]]:
        path = f"/channels/{room.channels[name]}/messages"
        return [
            (r.json["embeds"][0]["title"], r.json.get("content"), r.json["allowed_mentions"])
            for r in fake.requests("POST", MESSAGES)
            if r.status == 200 and r.path == path
        ]

    assert sent("news") == [
        ("Story both", f"<@&{ai_role}> <@&{space_role}>",
         {"parse": [], "roles": [ai_role, space_role]}),
        ("Story ai", f"<@&{ai_role}>", {"parse": [], "roles": [ai_role]}),
        ("Story sport", None, {"parse": []}),
    ]  # fmt: skip
    assert sent("plain") == [
        ("Story both", f"<@&{every_role}> <@&{ai_role}>",
         {"parse": [], "roles": [every_role, ai_role]}),
        ("Story ai", f"<@&{every_role}> <@&{ai_role}>",
         {"parse": [], "roles": [every_role, ai_role]}),
        ("Story sport", f"<@&{every_role}>", {"parse": [], "roles": [every_role]}),
    ]  # fmt: skip
    # what Discord made of them: exactly those roles mentioned
    assert [m["mention_roles"] for m in fake.messages(room.channels["news"])] == [
        [str(ai_role), str(space_role)], [str(ai_role)], []
    ]  # fmt: skip


async def test_rate_limits_5xx_and_a_gateway_drop_lose_and_duplicate_nothing(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "a", "b")
    for n in range(6):
        story_file(room.seeds, f"s{n}", 90 - n, ["AI"])
    config = room.write_config(
        [
            {"name": "a", "schedule": {"every": "1s"}, "per_run": 2},
            {"name": "b", "schedule": {"every": "1s"}, "per_run": 2},
        ]
    )
    fake.rate_limit_burst(4, retry_after=0.2, path_regex=MESSAGES, method="POST")
    fake.fail_next(1, status=500, path_regex=MESSAGES, method="POST")
    fake.fail_next(1, status=503, path_regex=MESSAGES, method="POST")
    async with BotProcess(config) as bot:
        await fake.wait_for_messages(room.channels["a"], 2, timeout=WAIT)
        await fake.close_gateway()
        await fake.wait_for(lambda: fake.resume_count >= 1, timeout=WAIT, what="a RESUME")
        await fake.wait_for_messages(room.channels["a"], 6, timeout=WAIT)
        await fake.wait_for_messages(room.channels["b"], 6, timeout=WAIT)
        assert await bot.stop() == 0

    expected = [f"Story s{n}" for n in range(6)]
    assert room.titles("a") == expected
    assert room.titles("b") == expected
    # Every fault was served: the burst's four 429s (its answers carry no bucket, unlike
    # those of the fake's own per-channel limits, which discord.py may also meet), the
    # 500 (retried by discord.py) and the 503 (retried by the bot).
    posts = fake.requests("POST", MESSAGES)
    burst = [r for r in posts if r.status == 429 and "X-RateLimit-Bucket" not in r.response_headers]
    assert [r.response["retry_after"] for r in burst] == [0.2] * 4
    assert sorted(r.status for r in posts if r.status in (500, 503)) == [500, 503]
    sent = [r.json["nonce"] for r in posts if r.status == 200]
    assert len(sent) == len(set(sent)) == 12  # each story once in each channel
    assert fake.resume_count == 1
    states = await deliveries(room.db)
    assert set(states.values()) == {DeliveryState.SENT} and len(states) == 12


async def test_403_pauses_its_route_404_disables_its_route_and_others_go_on(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "locked", "gone", "open")
    for n in range(3):
        story_file(room.seeds, f"s{n}", 90 - n, ["AI"])
    config = room.write_config(
        [{"name": name, "schedule": {"every": "1s"}} for name in ("locked", "gone", "open")]
    )
    fake.set_channel_status(room.channels["locked"], 403)
    fake.set_channel_status(room.channels["gone"], 404)
    async with BotProcess(config) as bot:
        await fake.wait_for_messages(room.channels["open"], 3, timeout=WAIT)
        await fake.wait_for_messages(room.channels["mod-log"], 2, timeout=WAIT)
        # More runs: two stories written now go to #open one run apart, and the three
        # routes run on one schedule, so the broken ones have run again in between; their
        # problems are not reported again.
        for n in (3, 4):
            story_file(room.seeds, f"s{n}", 90 - n, ["AI"])
        await fake.wait_for_messages(room.channels["open"], 5, timeout=WAIT)
        assert await bot.stop() == 0

    assert room.titles("open") == [f"Story s{n}" for n in range(5)]
    assert room.titles("locked") == room.titles("gone") == []
    notices = room.notices()
    assert len(notices) == 2
    assert any(n.startswith("#locked paused: the bot lacks access or permissions") for n in notices)
    assert any(n.startswith("#gone disabled: Discord does not know channel") for n in notices)
    locked = await route_state(room.db, room.channels["locked"])
    assert locked.paused and "HTTP 403 code 50013" in (locked.pause_reason or "")
    gone = await route_state(room.db, room.channels["gone"])
    assert gone.disabled and "HTTP 404 code 10003" in (gone.disabled_reason or "")
    # The stories stay queued for the broken routes: nothing was lost. (Their channels
    # refused the read of their recent posts, before any send: no delivery was made.)
    first = article_of(room.seeds / "s0.md").id
    store = await SQLiteStore.open(str(room.db))
    try:
        for name in ("locked", "gone"):
            queued = await store.next_for_channel(RouteFilter(room.channels[name]), 3)
            assert [i.article.id for i in queued] == [
                article_of(room.seeds / f"s{n}.md").id for n in range(3)
            ]
            assert await store.delivery(first, room.channels[name]) is None
    finally:
        await store.close()


async def test_sigkill_at_any_point_of_a_burst_posts_every_story_exactly_once(
    fake: FakeDiscord, tmp_path: Path, database: str
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    for n in range(6):
        story_file(room.seeds, f"s{n}", 90 - n, ["AI"])
    config = room.write_config([{"name": "news", "schedule": {"every": "1s"}}], database=database)
    channel = room.channels["news"]

    # 1. Killed after Discord stored the message but before the bot heard back.
    fake.slow_replies(3.0, path_regex=MESSAGES)
    bot = await BotProcess(config).start()
    await fake.wait_for_messages(channel, 1, timeout=WAIT)
    await bot.kill()
    fake.clear_faults()
    states = await deliveries(database)
    assert list(states.values()) == [DeliveryState.SENDING]

    # 2. Restart: that story is found in the channel and recorded, not sent again; then
    #    killed while the next send is still on its way (held before Discord acts on it).
    fake.slow_responses(3.0, path_regex=MESSAGES)
    bot = await BotProcess(config).start()
    await fake.wait_for_request("POST", MESSAGES, count=2, timeout=WAIT, answered=False)
    await bot.kill()
    # The held request finds its client gone and is dropped, undone.
    dropped = await fake.wait_for_request("POST", MESSAGES, count=2, timeout=WAIT)
    assert dropped.status == 499
    fake.clear_faults()
    assert room.titles("news") == ["Story s0"]
    first, second = (r.json["nonce"] for r in fake.requests("POST", MESSAGES))
    assert first != second  # the second POST was the next story's, not a repeat
    assert list((await deliveries(database)).values()) == [
        DeliveryState.SENT,
        DeliveryState.SENDING,
    ]

    # 3. Restart: the unsent one goes out with its nonce; killed mid-burst.
    bot = await BotProcess(config).start()
    await fake.wait_for_messages(channel, 3, timeout=WAIT)
    await bot.kill()

    # 4. Restart and finish.
    async with BotProcess(config) as bot:
        await fake.wait_for_messages(channel, 6, timeout=WAIT)
        # More runs: a story written now ranks last, so a story posted twice would be
        # posted before it.
        story_file(room.seeds, "s6", 84, ["AI"])
        await fake.wait_for_messages(channel, 7, timeout=WAIT)
        assert await bot.stop() == 0

    assert room.titles("news") == [f"Story s{n}" for n in range(7)]
    states = await deliveries(database)
    assert list(states.values()) == [DeliveryState.SENT] * 7
    # A story resent after a crash carried its first nonce: every answer for one nonce
    # names the same message, and there is one nonce per story.
    answers: dict[str, set[str]] = {}
    for request in fake.requests("POST", MESSAGES):
        if request.status == 200:
            answers.setdefault(request.json["nonce"], set()).add(request.response["id"])
    assert len(answers) == 7
    assert all(len(ids) == 1 for ids in answers.values())


async def test_new_and_edited_files_are_picked_up_while_running(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    first = story_file(room.seeds, "first", 90, ["AI"])
    config = room.write_config([{"name": "news", "schedule": {"every": "1s"}}])
    channel = room.channels["news"]
    async with BotProcess(config) as bot:
        (posted,) = await fake.wait_for_messages(channel, 1, timeout=WAIT)
        story_file(room.seeds, "second", 80, ["AI"])
        await fake.wait_for_messages(channel, 2, timeout=WAIT)

        related = [{"title": "Follow-up", "webUrl": "https://other.example.org/f",
                    "provider": {"name": "Other"}, "quality": 70}]  # fmt: skip
        story_file(room.seeds, "first", 90, ["AI"], related=related)
        edit = rf"/channels/{channel}/messages/{posted['id']}$"
        patch = await fake.wait_for_request("PATCH", edit, timeout=WAIT)
        assert await bot.stop() == 0

    assert room.titles("news") == ["Story first", "Story second"]
    assert patch.json["embeds"] == expected_embeds(first)
    assert patch.json["embeds"][0]["fields"][0]["value"] == (
        "[Follow-up](https://other.example.org/f) — Other"
    )
    assert patch.json["allowed_mentions"] == {"parse": []}


async def test_forum_posts_threads_crossposts_and_a_channel_without_embed_links(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "plain")
    forum = fake.add_channel(room.guild, "forum", ChannelType.FORUM).id
    news = fake.add_channel(room.guild, "announcements", ChannelType.ANNOUNCEMENT).id
    bare = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.READ_MESSAGE_HISTORY
    no_embeds = fake.add_channel(room.guild, "no-embeds", bot_permissions=bare).id
    room.channels.update({"forum": forum, "announcements": news, "no-embeds": no_embeds})
    path = story_file(room.seeds, "only", 90, ["AI"], title="A story worth a thread")
    config = room.write_config(
        [
            {"name": "forum", "schedule": {"every": "1s"}},
            {"name": "plain", "schedule": {"every": "1s"}, "thread": True},
            {"name": "announcements", "schedule": {"every": "1s"}, "publish": True},
            {"name": "no-embeds", "schedule": {"every": "1s"}},
        ]
    )
    async with BotProcess(config) as bot:
        post = await fake.wait_for_request("POST", rf"/channels/{forum}/threads$", timeout=WAIT)
        thread = await fake.wait_for_request("POST", r"/messages/\d+/threads$", timeout=WAIT)
        await fake.wait_for(lambda: len(fake.crossposted) == 1, timeout=WAIT, what="crosspost")
        await fake.wait_for_messages(room.channels["mod-log"], 1, timeout=WAIT)
        # More runs: two stories written now go out one run apart, and the routes run on
        # one schedule, so #no-embeds has run again in between, and was not reported again.
        story_file(room.seeds, "next", 80, ["AI"])
        story_file(room.seeds, "then", 70, ["AI"])
        await fake.wait_for_request("POST", rf"/channels/{forum}/threads$", count=3, timeout=WAIT)
        await fake.wait_for_request("POST", r"/messages/\d+/threads$", count=3, timeout=WAIT)
        await fake.wait_for(lambda: len(fake.crossposted) == 3, timeout=WAIT, what="crosspost")
        assert await bot.stop() == 0

    assert post.json["name"] == "A story worth a thread"
    assert post.json["message"]["embeds"] == expected_embeds(path)
    assert post.json["message"]["allowed_mentions"] == {"parse": []}
    assert thread.path == f"/channels/{room.channels['plain']}/messages/" + (
        f"{fake.messages(room.channels['plain'])[0]['id']}/threads"
    )
    assert thread.json["name"] == "A story worth a thread"
    assert fake.crossposted == [int(m["id"]) for m in fake.messages(news)]
    assert room.titles("announcements") == ["A story worth a thread", "Story next", "Story then"]
    assert room.notices() == ["#no-embeds skipped: the bot lacks Embed Links in #no-embeds"]
    assert fake.messages(no_embeds) == []
    states = await deliveries(room.db)
    article = article_of(path).id
    assert {c: states[(article, c)] for c in (forum, room.channels["plain"], news)} == {
        forum: DeliveryState.SENT,
        room.channels["plain"]: DeliveryState.SENT,
        news: DeliveryState.SENT,
    }
    assert (article, no_embeds) not in states


COMMANDS = {
    "search": ["topic", "query", "limit", "public"],
    "topics": [],
    "latest": ["topic"],
    "article": ["id"],
    "queue": ["list", "add", "remove", "move", "skip", "split", "merge", "post", "pause",
              "resume", "retry", "why", "submit"],
}  # fmt: skip


async def test_slash_commands_and_approval_through_the_running_bot(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "ai-news", "reviewed", "review")
    shutil.copy(SEED, room.seeds / SEED.name)
    seed = article_of(room.seeds / SEED.name)
    model = article_of(story_file(room.seeds, "model", 80, ["AI"]))
    editors = fake.add_role(room.guild, "editors", Perm.MANAGE_MESSAGES)
    mia = fake.add_member(room.guild, "mia", [editors]).user
    rita = fake.add_member(room.guild, "rita").user
    never = "0 0 1 1 *"  # no scheduled post during the test: only /queue post posts
    config = room.write_config(
        [
            {"name": "ai-news", "schedule": never, "topics": ["AI"]},
            {"name": "reviewed", "schedule": {"every": "1s"}, "approval": True,
             "review_channel": room.channels["review"]},
        ]
    )  # fmt: skip
    ai_news, review = room.channels["ai-news"], room.channels["review"]
    async with BotProcess(config) as bot:
        await wait_for_log(bot, "route(s) ready")
        synced = {
            c["name"]: [o["name"] for o in c.get("options", [])] for c in fake.commands(room.guild)
        }
        assert synced == COMMANDS

        topics = await fake.send_command("topics", channel_id=ai_news, user=rita)
        answer = (await topics.response())["data"]
        assert answer["flags"] == 64 and answer["allowed_mentions"] == {"parse": []}
        assert "AI" in answer["embeds"][0]["description"]

        search = await fake.send_command(
            "search",
            {"topic": "ai", "query": '"facial recognition*'},
            channel_id=ai_news,
            user=rita,
        )
        found = (await search.response())["data"]
        assert found["embeds"][0]["description"] == f"1. {summary_line(seed)}"

        article = await fake.send_command("article", {"id": model.id.upper()}, channel_id=ai_news,
                                          user=rita)  # fmt: skip
        assert (await article.response())["data"]["embeds"] == expected_embeds(
            room.seeds / "model.md"
        )

        refused = await fake.send_command(
            "queue", {"channel": fake.channel(ai_news)}, subcommand="post", channel_id=ai_news,
            user=rita,
        )  # fmt: skip
        assert (await refused.response())["type"] == 5  # /queue post defers first
        assert (await refused.wait_followup())["content"].startswith("Sorry, only moderators")
        assert fake.messages(ai_news) == []

        post = await fake.send_command(
            "queue", {"channel": fake.channel(ai_news)}, subcommand="post", channel_id=ai_news,
            user=mia,
        )  # fmt: skip
        assert (await post.response())["type"] == 5
        assert (await post.wait_followup())["content"].startswith(f"📰 Posted `{seed.id}`")
        (posted,) = fake.messages(ai_news)
        assert posted["embeds"] == expected_embeds(room.seeds / SEED.name)

        # Approval: candidates go to the review channel; an approved one is posted.
        requests = await fake.wait_for_messages(review, 2, timeout=WAIT)
        button = requests[0]["components"][0]["components"][0]
        assert button["custom_id"].startswith("newsdesk:review:approve:")
        approved_id = button["custom_id"].split(":")[3]
        click = await fake.send_component(button["custom_id"], message_id=int(requests[0]["id"]),
                                          channel_id=review, user=mia)  # fmt: skip
        await click.response()
        (released,) = await fake.wait_for_messages(room.channels["reviewed"], 1, timeout=WAIT)
        assert released["embeds"][0]["footer"]["text"].endswith(f"id {approved_id}")
        assert await bot.stop() == 0

    states = await deliveries(room.db)
    assert states[(seed.id, ai_news)] is DeliveryState.SENT
    assert states[(approved_id, room.channels["reviewed"])] is DeliveryState.SENT


async def test_one_guild_refusing_the_commands_does_not_stop_the_bot(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    story_file(room.seeds, "s0", 90, ["AI"])
    config = room.write_config(
        [{"name": "news", "schedule": {"every": "1s"}}],
        guild_ids=[424242424242424242, room.guild],  # a typo, or a guild that kicked it
    )
    async with BotProcess(config) as bot:
        assert bot.proc is not None
        posted = asyncio.ensure_future(fake.wait_for_messages(room.channels["news"], 1, WAIT))
        exited = asyncio.ensure_future(bot.proc.wait())
        await asyncio.wait({posted, exited}, return_when=asyncio.FIRST_COMPLETED)
        posted.cancel()
        assert not exited.done(), bot.log()[-800:]
        await wait_for_log(bot, f"synced {len(COMMANDS)} commands to guild {room.guild}", WAIT)
        assert await bot.stop() == 0
    assert room.titles("news") == ["Story s0"]
    assert "cannot sync the slash commands to guild 424242424242424242: 404 Not Found" in bot.log()
    assert fake.commands(room.guild) != []


async def test_sigterm_while_the_start_up_check_resends_records_the_send(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    from bot.ingest.loader import load_paths

    room = Newsroom.create(fake, tmp_path, "news")
    path = story_file(room.seeds, "s0", 90, ["AI"])
    article_id = article_of(path).id
    channel = room.channels["news"]
    store = await SQLiteStore.open(str(room.db))
    try:
        await load_paths(store, [room.seeds])
        await store.claim(article_id, channel)  # a crash left it in flight
    finally:
        await store.close()
    config = room.write_config([{"name": "news", "schedule": {"every": "1h"}}])
    fake.slow_replies(3.0, path_regex=MESSAGES)  # the resend arrives; its reply waits
    async with BotProcess(config) as bot:
        await fake.wait_for_messages(channel, 1, timeout=WAIT)
        assert await bot.stop() == 0
    store = await SQLiteStore.open(str(room.db))
    try:
        delivery = await store.delivery(article_id, channel)
    finally:
        await store.close()
    assert delivery is not None and delivery.state is DeliveryState.SENT
    assert delivery.message_id == int(fake.messages(channel)[0]["id"])


async def test_sigterm_while_the_commands_sync_at_start_exits_0(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    config = room.write_config([{"name": "news", "schedule": {"every": "1s"}}])
    fake.slow_responses(3.0, path_regex=r"/commands$")
    async with BotProcess(config) as bot:
        await fake.wait_for_request("PUT", r"/commands$", answered=False, timeout=WAIT)
        code = await bot.stop()
    assert code == 0, bot.log()[-800:]
    assert "Traceback" not in bot.log()


async def newsdesk(config: Path, *args: str) -> tuple[int, str, str]:
    """`python -m bot --config FILE ARGS…` to its end: (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    env.update(DISCORD_TOKEN=TOKEN)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), *args,
        cwd=str(config.parent), env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_second_run_on_one_database_refuses_while_loads_and_reads_go_on(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "sports")
    forum = fake.add_channel(room.guild, "forum", ChannelType.FORUM).id
    room.channels["forum"] = forum
    story_file(room.seeds, "s0", 90, ["AI"])
    never = "0 0 1 1 *"
    config = room.write_config(
        [
            {"name": "forum", "schedule": {"every": "1s"}, "topics": ["AI"]},
            {"name": "sports", "schedule": never, "topics": ["Sports"]},
        ],
        rescan="off",  # only the test's `newsdesk load` loads the second story
        watch=False,
    )
    threads = rf"/channels/{forum}/threads$"
    async with BotProcess(config) as bot:
        assert bot.proc is not None
        await fake.wait_for_request("POST", threads, timeout=WAIT)
        code, _, err = await newsdesk(config, "run")
        assert (code, err) == (
            2,
            f"newsdesk: the database {room.db} is in use by another `newsdesk run` (pid"
            f" {bot.proc.pid}): one bot per database, or every forum story is posted twice."
            " Stop that one first, or give this one its own --db\n",
        )
        assert (tmp_path / "newsdesk.db.lock").read_text() == f"{bot.proc.pid}\n"
        # Beside the running bot: a load, the read commands and a dry run all work.
        story_file(room.seeds, "s1", 80, ["Sports"])
        code, out, err = await newsdesk(config, "load")
        assert (code, out.split(",")[0]) == (0, "1 loaded"), err
        code, out, err = await newsdesk(config, "queue", "--json")
        assert code == 0, err
        listed = {
            c["channel"]: [a["title"] for a in c["articles"]] for c in json.loads(out)["channels"]
        }
        assert listed == {"forum": [], "sports": ["Story s1"]}
        code, out, err = await newsdesk(config, "run", "--dry-run", "--now", "--json")
        posts = [
            (d["channel"], d["payload"]["embeds"][0]["title"])
            for d in map(json.loads, out.splitlines())
        ]
        assert (code, posts) == (0, [("sports", "Story s1")]), err
        await bot.kill()  # the lock goes with the process, however it ends

    bot.log_path.unlink()  # the next bot's log alone
    async with BotProcess(config) as bot:
        await wait_for_log(bot, "route(s) ready", WAIT)
        assert await bot.stop() == 0
    assert [r.json["name"] for r in fake.requests("POST", threads)] == ["Story s0"]


@pytest.mark.parametrize("what", ["deleted", "replaced by another file"])
async def test_a_database_deleted_or_replaced_under_the_bot_stops_it_with_exit_2(
    fake: FakeDiscord, tmp_path: Path, what: str
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    story_file(room.seeds, "s0", 90, ["AI"])
    config = room.write_config([{"name": "news", "schedule": {"every": "1s"}}])
    async with BotProcess(config) as bot:
        assert bot.proc is not None
        await fake.wait_for_messages(room.channels["news"], 1, timeout=WAIT)
        if what == "deleted":
            room.db.unlink()
        else:
            fresh = await SQLiteStore.open(str(tmp_path / "fresh.db"))
            await fresh.close()
            os.replace(tmp_path / "fresh.db", room.db)
        loop = asyncio.get_running_loop()
        changed = loop.time()
        code = await asyncio.wait_for(bot.proc.wait(), 60)
        took = loop.time() - changed
    assert code == 2, bot.log()[-800:]
    assert took < 60
    assert (
        f"ERROR   bot: the database {room.db} was {what} while the bot ran: stopping."
        " Restore it and start again (the start-up check adopts the posts the channels"
        " already show)\n"
    ) in bot.log()
    assert "Traceback" not in bot.log()
    assert room.titles("news") == ["Story s0"]


async def wait_for_lines(bot: BotProcess, text: str, count: int) -> None:
    """Wait until ``count`` lines of the bot's log show ``text``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while bot.log().count(text) < count:
        assert loop.time() < deadline, f"fewer than {count} lines of {text!r}:\n{bot.log()}"
        await asyncio.sleep(0.05)


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check()`` until it holds, for at most WAIT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await check():
        assert loop.time() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


def drop_database(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


async def test_a_restored_or_fresh_database_adopts_the_posts_and_posts_nothing_twice(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    forum = fake.add_channel(room.guild, "forum", ChannelType.FORUM).id
    room.channels["forum"] = forum
    config = room.write_config(
        [
            {"name": "news", "schedule": {"every": "1s"}},
            {"name": "forum", "schedule": {"every": "1s"}},
        ]
    )
    news, threads = room.channels["news"], rf"/channels/{forum}/threads$"
    paths = [story_file(room.seeds, f"s{n}", 90 - 10 * n, ["AI"]) for n in range(3)]
    ids = [article_of(p).id for p in paths]
    for path in paths[1:]:
        path.rename(path.with_suffix(".later"))  # not an article file: not read yet

    def forum_posts() -> list[tuple[str, int]]:
        created = [r for r in fake.requests("POST", threads) if r.status == 201]
        return [(r.json["name"], int(r.response["id"])) for r in created]

    async def nothing_to_post() -> bool:
        """Every delivery recorded as sent, none queued: what a run would find."""
        store = await SQLiteStore.open(str(room.db), read_only=True)
        try:
            queued = [await store.next_for_channel(RouteFilter(c), 1) for c in (news, forum)]
            states = {d.state for d in await store.deliveries()}
        finally:
            await store.close()
        return queued == [[], []] and states == {DeliveryState.SENT}

    async def run_until(count: int, adopted: int = 0) -> None:
        async with BotProcess(config) as bot:
            await wait_for_log(bot, "route(s) ready", WAIT)
            await fake.wait_for_messages(news, count, timeout=WAIT)
            await wait_for_lines(bot, "adopted as sent, not posted again", adopted)
            await fake.wait_for(lambda: len(forum_posts()) >= count, timeout=WAIT, what="posts")
            await wait_until(nothing_to_post, "nothing left to post")
            assert await bot.stop() == 0
        bot.log_path.rename(tmp_path / f"bot-{count}-{adopted}.log")

    # 1. s0 is posted, and the database backed up; 2. s1 is posted.
    await run_until(1)
    with sqlite3.connect(room.db) as live, sqlite3.connect(tmp_path / "backup.db") as copy:
        live.backup(copy)
    paths[1].with_suffix(".later").rename(paths[1])
    await run_until(2)

    # 3. The backup is restored (it knows s0 posted, not s1), and s2 arrives: s1 is adopted
    #    (a run would have posted it before s2, which ranks lower), s2 is posted.
    drop_database(room.db)
    shutil.copy(tmp_path / "backup.db", room.db)
    paths[2].with_suffix(".later").rename(paths[2])
    await run_until(3, adopted=2)  # s1, in both channels

    # 4. A fresh database of the same files: every post is adopted, none repeated.
    drop_database(room.db)
    code, out, err = await newsdesk(config, "load")
    assert (code, out.split(",")[0]) == (0, "3 loaded"), err
    await run_until(3, adopted=6)

    assert room.titles("news") == ["Story s0", "Story s1", "Story s2"]
    assert [name for name, _ in forum_posts()] == ["Story s0", "Story s1", "Story s2"]
    messages = [int(m["id"]) for m in fake.messages(news)]
    store = await SQLiteStore.open(str(room.db))
    try:
        recorded = {
            (d.article_id, d.channel_id): (d.state, d.message_id) for d in await store.deliveries()
        }
        audit = [(e.action, e.channel_id, e.article_id, e.detail) for e in await store.audit_log()]
        latest = [article.id for article, _ in await store.latest_sent()]
    finally:
        await store.close()
    sent = DeliveryState.SENT
    assert recorded == {
        **{(i, news): (sent, m) for i, m in zip(ids, messages, strict=True)},
        **{(i, forum): (sent, t) for i, (_, t) in zip(ids, forum_posts(), strict=True)},
    }
    assert sorted(audit) == sorted(
        ("adopt", channel, article_id, f"message {message_id} already in the channel")
        for (article_id, channel), (_, message_id) in recorded.items()
    )
    assert sorted(latest) == sorted(ids)
    restored = (tmp_path / "bot-3-2.log").read_text()
    assert f"{ids[1]} is already in #news (message {messages[1]}): adopted as sent" in restored
    assert f"{ids[0]} is already in #news" not in restored  # the backup knew it


async def test_a_second_run_on_one_postgresql_database_refuses_and_the_lock_dies_with_it(
    fake: FakeDiscord, tmp_path: Path, postgres_url: str
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    story_file(room.seeds, "s0", 90, ["AI"])
    config = room.write_config(
        [{"name": "news", "schedule": {"every": "1s"}}], database=postgres_url
    )
    async with BotProcess(config) as bot:
        assert bot.proc is not None
        await fake.wait_for_messages(room.channels["news"], 1, timeout=WAIT)
        code, _, err = await newsdesk(config, "run")
        assert (code, err.splitlines()[-1]) == (  # (after the start-up line of its log)
            2,
            f"newsdesk: the database {postgres_url} is in use by another `newsdesk run` (pid"
            f" {bot.proc.pid}): one bot per database, or every forum story is posted twice."
            " Stop that one first, or give this one its own --db",
        )
        # beside the running bot, the read commands work
        code, out, err = await newsdesk(config, "queue", "--json")
        assert (code, json.loads(out)["channels"][0]["articles"]) == (0, []), err
        await bot.kill()  # the lock goes with the process's connection, however it ends

    bot.log_path.unlink()  # the next bot's log alone
    async with BotProcess(config) as bot:
        await wait_for_log(bot, "route(s) ready", WAIT)
        assert await bot.stop() == 0
