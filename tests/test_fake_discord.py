"""Self-tests of the fake Discord, driving the real discord.py client against it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands

from tests.fake_discord import (
    ChannelType,
    FakeDiscord,
    Perm,
)
from tests.fake_discord.validation import validate_message

READY_TIMEOUT = 5.0


@dataclass
class World:
    guild_id: int
    news: int
    announce: int
    forum: int
    readonly: int
    hidden: int
    no_embeds: int


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(token="test-token")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    guild = fake.add_guild("Newsroom")
    read_only = Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY
    return World(
        guild_id=guild.id,
        news=fake.add_channel(guild.id, "news").id,
        announce=fake.add_channel(guild.id, "announcements", ChannelType.ANNOUNCEMENT).id,
        forum=fake.add_channel(
            guild.id, "stories", ChannelType.FORUM, available_tags=[{"name": "politics"}]
        ).id,
        readonly=fake.add_channel(guild.id, "read-only", bot_permissions=read_only).id,
        hidden=fake.add_channel(guild.id, "hidden", bot_permissions=0).id,
        no_embeds=fake.add_channel(
            guild.id, "no-embeds", bot_permissions=read_only | Perm.SEND_MESSAGES
        ).id,
    )


@pytest.fixture
def pointed_at_fake(fake: FakeDiscord) -> Iterator[None]:
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


def make_client(**options: Any) -> discord.Client:
    options.setdefault("intents", discord.Intents.default())
    # discord.py waits guild_ready_timeout (2 s by default) after the last GUILD_CREATE
    return discord.Client(guild_ready_timeout=0.05, **options)


@asynccontextmanager
async def running(client: discord.Client, token: str = "test-token") -> AsyncIterator[None]:
    task = asyncio.create_task(client.start(token))
    try:
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, task}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            ready.cancel()
            task.result()  # raises the login/connect error
        assert ready in done, "client did not become ready"
        yield
    finally:
        await client.close()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), READY_TIMEOUT)


@pytest_asyncio.fixture
async def client(
    fake: FakeDiscord, world: World, pointed_at_fake: None
) -> AsyncIterator[discord.Client]:
    bot = make_client(allowed_mentions=discord.AllowedMentions.none())
    async with running(bot):
        yield bot


def channel(client: discord.Client, channel_id: int) -> Any:
    found = client.get_channel(channel_id)
    assert found is not None
    return found


# ----------------------------------------------------------------------------- login, gateway


@pytest.mark.asyncio
async def test_login_ready_and_guild_create(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    assert client.user is not None and client.user.id == fake.bot_user.id
    assert client.application_id == fake.application_id
    guild = client.get_guild(world.guild_id)
    assert guild is not None and guild.name == "Newsroom" and guild.me is not None
    assert isinstance(guild.get_channel(world.news), discord.TextChannel)
    assert channel(client, world.announce).type is discord.ChannelType.news
    assert isinstance(guild.get_channel(world.forum), discord.ForumChannel)
    perms = channel(client, world.readonly).permissions_for(guild.me)
    assert perms.read_messages and perms.read_message_history
    assert not perms.send_messages and not perms.embed_links
    assert channel(client, world.hidden).permissions_for(guild.me).value == 0
    news_perms = channel(client, world.news).permissions_for(guild.me)
    assert news_perms.send_messages and news_perms.embed_links
    # startup REST calls of a plain Client, and a real zlib-stream gateway
    assert [(r.method, r.path) for r in fake.requests()] == [
        ("GET", "/users/@me"),
        ("GET", "/oauth2/applications/@me"),
    ]
    assert fake.identify_count == 1 and fake.connection_count == 1
    assert fake.gateway.connections[0].compress == "zlib-stream"
    identify = next(p for p in fake.gateway_received if p["op"] == 2)
    assert identify["d"]["token"] == "***"
    assert identify["d"]["intents"] == discord.Intents.default().value


@pytest.mark.asyncio
async def test_bad_token_is_login_failure(
    fake: FakeDiscord, world: World, pointed_at_fake: None
) -> None:
    bot = make_client()
    with pytest.raises(discord.LoginFailure):
        await bot.login("wrong-token")
    await bot.close()
    assert fake.requests("GET", "/users/@me")[0].status == 401


@pytest.mark.asyncio
async def test_close_gateway_resumes_and_replays(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    resumed = asyncio.Event()

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    await fake.close_gateway()
    # Sent while the bot is disconnected: buffered and replayed on RESUME.
    news = fake.channel(world.news)
    assert news is not None
    news.name = "renamed-while-away"
    await fake.dispatch_channel_update(world.news)
    await asyncio.wait_for(resumed.wait(), READY_TIMEOUT)
    assert fake.resume_count == 1 and fake.identify_count == 1 and fake.connection_count == 2
    assert channel(client, world.news).name == "renamed-while-away"
    resume_conn = fake.gateway.connections[-1]
    assert resume_conn.session is not None
    # and it keeps working
    await channel(client, world.news).send("still here")
    assert fake.messages(world.news)[-1]["content"] == "still here"


@pytest.mark.asyncio
async def test_invalidated_session_identifies_again(
    fake: FakeDiscord, client: discord.Client
) -> None:
    client.before_identify_hook = no_identify_wait  # type: ignore[method-assign]
    await fake.close_gateway(invalidate=True)
    await fake.wait_for(lambda: fake.identify_count == 2, READY_TIMEOUT, what="re-identify")
    assert fake.resume_count == 0
    assert any(p["op"] == 6 for p in fake.gateway_received)  # it tried to resume first


# ----------------------------------------------------------------------------- commands


@pytest.mark.asyncio
async def test_command_sync_stored_exactly(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    tree = app_commands.CommandTree(client)
    guild = discord.Object(world.guild_id)

    @tree.command(name="post", description="Post a story now")
    @app_commands.describe(story="Story id")
    async def post(interaction: discord.Interaction, story: int, silent: bool = False) -> None:
        pass

    news = app_commands.Group(name="news", description="News desk")

    @news.command(name="queue", description="Show the queue")
    async def queue(interaction: discord.Interaction) -> None:
        pass

    tree.add_command(news, guild=guild)

    synced_global = await tree.sync()
    synced_guild = await tree.sync(guild=guild)

    sent_global = fake.command_syncs[0][1]
    assert sent_global == [c.to_dict(tree) for c in tree.get_commands()]
    stored = fake.commands()
    assert [c["name"] for c in stored] == ["post"]
    assert stored[0]["options"] == sent_global[0]["options"]
    assert stored[0]["application_id"] == str(fake.application_id)
    assert stored[0]["dm_permission"] is True and stored[0]["type"] == 1
    assert [c.id for c in synced_global] == [int(stored[0]["id"])]
    guild_stored = fake.commands(world.guild_id)
    assert guild_stored[0]["guild_id"] == str(world.guild_id)
    assert guild_stored[0]["options"][0]["name"] == "queue"
    assert synced_guild[0].id == int(guild_stored[0]["id"])
    # re-syncing the same commands keeps ids and versions, like Discord
    again = await tree.sync()
    assert again[0].id == synced_global[0].id
    assert fake.commands()[0]["version"] == stored[0]["version"]


# ----------------------------------------------------------------------------- sending


@pytest.mark.asyncio
async def test_send_embed_exact_payload(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    embed = discord.Embed(title="Big story", description="It happened", url="https://example.org/s")
    embed.add_field(name="Source", value="Wire")
    message = await channel(client, world.news).send("Read this", embed=embed)

    (payload,) = fake.sent_payloads(world.news)
    assert payload == {
        "content": "Read this",
        "embeds": [embed.to_dict()],
        "nonce": payload["nonce"],
        "enforce_nonce": True,
        "tts": False,
        "allowed_mentions": {"parse": []},
        "components": [],
    }
    assert isinstance(payload["nonce"], str) and len(payload["nonce"]) <= 25
    (stored,) = fake.messages(world.news)
    assert int(stored["id"]) == message.id
    assert stored["embeds"][0]["title"] == "Big story" and stored["embeds"][0]["type"] == "rich"
    assert message.embeds[0].fields[0].value == "Wire"
    request = fake.requests("POST", r"/messages$")[0]
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers


@pytest.mark.asyncio
async def test_repeated_nonce_returns_same_message(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    news = channel(client, world.news)
    first = await news.send("once", nonce="story-42")
    second = await news.send("once again", nonce="story-42")
    assert second.id == first.id and second.content == "once"
    assert len(fake.messages(world.news)) == 1
    assert len(fake.sent_payloads(world.news)) == 2
    # a deleted message's nonce answers 404 (discord.NotFound), as documented by discord.py
    fake.delete_message(first.id)  # as a moderator would
    with pytest.raises(discord.NotFound):
        await news.send("once more", nonce="story-42")
    # after Discord forgets the nonce (minutes), it posts again
    fake.advance_time(11 * 60)
    third = await news.send("fresh", nonce="story-42")
    assert third.id != first.id


@pytest.mark.asyncio
async def test_oversize_embed_is_400_invalid_form_body(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    with pytest.raises(discord.HTTPException) as caught:
        await channel(client, world.news).send(embed=discord.Embed(title="x" * 257))
    assert caught.value.status == 400 and caught.value.code == 50035
    body = fake.requests("POST", r"/messages$")[-1].response
    assert body["errors"]["embeds"]["0"]["title"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    assert fake.messages(world.news) == []


@pytest.mark.asyncio
async def test_empty_message_is_50006(world: World, client: discord.Client) -> None:
    with pytest.raises(discord.HTTPException) as caught:
        await channel(client, world.news).send()
    assert caught.value.status == 400 and caught.value.code == 50006


# ----------------------------------------------------------------------------- failures


@pytest.mark.asyncio
async def test_429_burst_is_retried_and_sent_once(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    fake.rate_limit_burst(2, retry_after=0.05, path_regex=r"/messages$")
    await channel(client, world.news).send("after a 429")
    assert len(fake.messages(world.news)) == 1
    statuses = [r.status for r in fake.requests("POST", r"/messages$")]
    assert statuses == [429, 429, 200]
    assert fake.rate_limited_count == 2
    first = fake.requests("POST", r"/messages$")[0]
    assert first.response == {
        "message": "You are being rate limited.",
        "retry_after": 0.05,
        "global": False,
    }
    assert first.response_headers["Via"] == "1.1 google"
    assert first.response_headers["X-RateLimit-Scope"] == "user"


@pytest.mark.asyncio
async def test_global_429_is_retried(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    fake.rate_limit_burst(1, retry_after=0.05, scope="global")
    await channel(client, world.news).send("global")
    first = fake.requests("POST", r"/messages$")[0]
    assert first.status == 429 and first.response["global"] is True
    assert first.response_headers["X-RateLimit-Global"] == "true"
    assert len(fake.messages(world.news)) == 1


@pytest.mark.asyncio
async def test_500_is_retried_by_discord_py(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    fake.fail_next(1, status=500, path_regex=r"/messages$")  # discord.py sleeps 1 s, then retries
    await channel(client, world.news).send("eventually")
    assert [r.status for r in fake.requests("POST", r"/messages$")] == [500, 200]
    assert len(fake.messages(world.news)) == 1


@pytest.mark.asyncio
async def test_503_is_not_retried(fake: FakeDiscord, world: World, client: discord.Client) -> None:
    fake.fail_next(1, status=503)
    with pytest.raises(discord.DiscordServerError):
        await channel(client, world.news).send("nope")
    assert fake.messages(world.news) == []


@pytest.mark.asyncio
async def test_forced_403_and_404(fake: FakeDiscord, world: World, client: discord.Client) -> None:
    news = channel(client, world.news)
    fake.set_channel_status(world.news, 403)
    with pytest.raises(discord.Forbidden) as forbidden:
        await news.send("x")
    assert forbidden.value.code == 50013
    fake.set_channel_status(world.news, 404)
    with pytest.raises(discord.NotFound) as not_found:
        await news.send("x")
    assert not_found.value.code == 10003
    fake.set_channel_status(world.news, None)
    await news.send("back")
    assert len(fake.messages(world.news)) == 1


@pytest.mark.asyncio
async def test_permissions_are_enforced(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    with pytest.raises(discord.Forbidden) as no_send:
        await channel(client, world.readonly).send("x")
    assert no_send.value.code == 50013
    with pytest.raises(discord.Forbidden) as no_view:
        await channel(client, world.hidden).send("x")
    assert no_view.value.code == 50001
    with pytest.raises(discord.Forbidden):
        await channel(client, world.no_embeds).send(embed=discord.Embed(title="t"))
    await channel(client, world.no_embeds).send("plain text is fine")
    with pytest.raises(discord.NotFound) as unknown:
        await client.http.send_message(123, params=discord.http.handle_message_parameters("x"))
    assert unknown.value.code == 10003


@pytest.mark.asyncio
async def test_channel_bucket_slows_discord_py_down(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    fake.rate_limits.message_send = (5, 0.5)
    news = channel(client, world.news)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(news.send(f"burst {i}") for i in range(7)))
    elapsed = loop.time() - started
    assert sorted(m["content"] for m in fake.messages(world.news)) == [
        f"burst {i}" for i in range(7)
    ]
    assert fake.rate_limited_count <= 1
    posts = fake.requests("POST", r"/messages$")
    headers = posts[0].response_headers
    assert headers["X-RateLimit-Limit"] == "5" and headers["X-RateLimit-Remaining"] == "4"
    assert {"X-RateLimit-Reset", "X-RateLimit-Reset-After", "X-RateLimit-Bucket"} <= headers.keys()
    assert any(p.response_headers.get("X-RateLimit-Remaining") == "0" for p in posts)
    assert elapsed >= 0.3  # it waited for the bucket to reset instead of hammering


@pytest.mark.asyncio
async def test_edit_then_deleted_by_a_moderator(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    message = await channel(client, world.news).send("draft")
    edited = await message.edit(content="final", embed=discord.Embed(title="Final"))
    stored = fake.get_message(message.id)
    assert stored is not None and stored["content"] == "final" and stored["edited_timestamp"]
    assert edited.embeds[0].title == "Final"
    with pytest.raises(discord.HTTPException) as emptied:
        await message.edit(content=None, embeds=[])
    assert emptied.value.code == 50006
    fake.delete_message(message.id)
    assert fake.messages(world.news) == []
    assert [m["content"] for m in fake.deleted_messages(world.news)] == ["final"]
    with pytest.raises(discord.NotFound) as gone:
        await message.edit(content="too late")
    assert gone.value.code == 10008


@pytest.mark.asyncio
async def test_auto_sharded_client(fake: FakeDiscord, world: World, pointed_at_fake: None) -> None:
    bot = discord.AutoShardedClient(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    async with running(bot):
        assert bot.get_guild(world.guild_id) is not None
    assert fake.requests("GET", "/gateway/bot$")[0].status == 200
    identify = next(p for p in fake.gateway_received if p["op"] == 2)
    assert identify["d"]["shard"] == [0, 1]


async def no_identify_wait(shard_id: int | None, *, initial: bool = False) -> None:
    pass  # discord.py sleeps 5 s before every IDENTIFY but the first


@pytest.mark.asyncio
async def test_each_shard_gets_its_guilds_and_their_events(
    fake: FakeDiscord, pointed_at_fake: None
) -> None:
    zero = fake.add_guild("Zero", shard=(0, 2))
    one = fake.add_guild("One", shard=(1, 2))
    assert ((zero.id >> 22) % 2, (one.id >> 22) % 2) == (0, 1)
    fake.add_channel(zero.id, "news-zero")
    fake.add_channel(one.id, "news-one")
    bot = discord.AutoShardedClient(
        intents=discord.Intents.default(), guild_ready_timeout=0.05, shard_ids=[0, 1], shard_count=2
    )
    bot.before_identify_hook = no_identify_wait  # type: ignore[method-assign]
    async with running(bot):
        assert bot.get_guild(zero.id) is not None and bot.get_guild(one.id) is not None
    assert fake.identified_shards == [[0, 2], [1, 2]]
    assert fake.connection_count == 2
    for session, guild in zip(fake.gateway.sessions.values(), (zero, one), strict=True):
        ready, *rest = list(session.buffer)
        assert ready["t"] == "READY" and ready["d"]["shard"] == session.shard
        assert ready["d"]["guilds"] == [{"id": str(guild.id), "unavailable": True}]
        assert [(p["t"], p["d"]["id"]) for p in rest] == [("GUILD_CREATE", str(guild.id))]


@pytest.mark.asyncio
async def test_one_shard_receives_only_its_guilds_interactions(
    fake: FakeDiscord, pointed_at_fake: None
) -> None:
    zero = fake.add_guild("Zero", shard=(0, 2))
    one = fake.add_guild("One", shard=(1, 2))
    zero_news = fake.add_channel(zero.id, "news")
    one_news = fake.add_channel(one.id, "news")
    bot = discord.AutoShardedClient(
        intents=discord.Intents.default(), guild_ready_timeout=0.05, shard_ids=[0], shard_count=2
    )
    tree = app_commands.CommandTree(bot)
    seen: list[int | None] = []

    @tree.command(name="ping", description="Answers")
    async def ping(interaction: discord.Interaction) -> None:
        seen.append(interaction.guild_id)
        await interaction.response.send_message("pong")

    async with running(bot):
        assert bot.get_guild(zero.id) is not None and bot.get_guild(one.id) is None
        answered = await fake.send_command("ping", channel_id=zero_news.id)
        await fake.wait_for(lambda: answered.acknowledged, READY_TIMEOUT, what="the answer")
        unanswered = await fake.send_command("ping", channel_id=one_news.id)
        # the channel update of guild one, sent after the command, does not reach it either
        await fake.dispatch_channel_update(one_news.id)
        await fake.dispatch_channel_update(zero_news.id)
        session = next(iter(fake.gateway.sessions.values()))
        events = [(p["t"], p["d"].get("guild_id")) for p in list(session.buffer)[2:]]
    assert fake.identified_shards == [[0, 2]]
    assert seen == [zero.id]
    assert not unanswered.acknowledged
    assert events == [
        ("INTERACTION_CREATE", str(zero.id)),
        ("CHANNEL_UPDATE", str(zero.id)),
    ]


@pytest.mark.asyncio
async def test_identify_without_shard_gets_every_guild(
    fake: FakeDiscord, pointed_at_fake: None
) -> None:
    zero = fake.add_guild("Zero", shard=(0, 2))
    one = fake.add_guild("One", shard=(1, 2))
    bot = make_client()
    async with running(bot):
        assert {g.id for g in bot.guilds} == {zero.id, one.id}
    assert fake.identified_shards == [None]
    ready = next(iter(fake.gateway.sessions.values())).buffer[0]
    assert ready["t"] == "READY" and "shard" not in ready["d"]


async def raw_identify(fake: FakeDiscord, **fields: Any) -> tuple[str, Any]:
    """One IDENTIFY on a raw websocket: ("dispatch", READY's d) or ("close", the code)."""
    identify = {"op": 2, "d": {"token": "test-token", "intents": 1, "properties": {}} | fields}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json") as ws,
    ):
        hello = await ws.receive_json(timeout=READY_TIMEOUT)
        assert hello["op"] == 10
        await ws.send_json(identify)
        msg = await ws.receive(timeout=READY_TIMEOUT)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return "dispatch", msg.json()["d"]
        return "close", ws.close_code


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "shard", [[2, 2], [3, 2], [0, 0], [-1, 2], [0], [0, 1, 2], ["0", "1"], [True, 2], "0,1"]
)
async def test_invalid_shard_is_closed_4010(fake: FakeDiscord, shard: Any) -> None:
    fake.add_guild("Zero", shard=(0, 2))
    assert await raw_identify(fake, shard=shard) == ("close", 4010)
    assert fake.identify_count == 0 and fake.identified_shards == []


@pytest.mark.asyncio
async def test_too_many_guilds_for_one_session_is_closed_4011(fake: FakeDiscord) -> None:
    fake.max_guilds_per_session = 1
    zero = fake.add_guild("Zero", shard=(0, 2))
    fake.add_guild("One", shard=(1, 2))
    assert await raw_identify(fake) == ("close", 4011)
    kind, ready = await raw_identify(fake, shard=[0, 2])
    assert kind == "dispatch" and ready["shard"] == [0, 2]
    assert ready["guilds"] == [{"id": str(zero.id), "unavailable": True}]
    assert fake.identified_shards == [[0, 2]]


BOT_SCRIPT = """
import asyncio, sys
import discord, yarl

api_base, gateway, token, channel_id = sys.argv[1:]
discord.http.Route.BASE = api_base
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)

@client.event
async def on_ready():
    await client.get_channel(int(channel_id)).send("hello from a subprocess")
    await client.close()

client.run(token, log_handler=None)
"""


@pytest.mark.asyncio
async def test_bot_in_a_subprocess(fake: FakeDiscord, world: World, tmp_path: Any) -> None:
    script = tmp_path / "bot.py"
    script.write_text(BOT_SCRIPT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), fake.api_base, fake.gateway_url, "test-token", str(world.news)
    )
    try:
        messages = await fake.wait_for_messages(world.news, 1, timeout=20)
        assert messages[0]["content"] == "hello from a subprocess"
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.asyncio
async def test_mentions_follow_allowed_mentions(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    reporter = fake.add_member(world.guild_id, "reporter").user
    desk = fake.add_role(world.guild_id, "desk")
    news = channel(client, world.news)
    quiet = await news.send(f"<@{reporter.id}> quiet")  # the client's default: none()
    loud = await news.send(
        f"<@{reporter.id}> <@&{desk.id}> loud",
        allowed_mentions=discord.AllowedMentions(users=True, roles=[discord.Object(desk.id)]),
    )
    assert quiet.mentions == [] and quiet.raw_role_mentions == []
    assert [u.id for u in loud.mentions] == [reporter.id]
    assert fake.messages(world.news)[-1]["mention_roles"] == [str(desk.id)]


# ------------------------------------------------------------------ threads, forum, history


@pytest.mark.asyncio
async def test_forum_post_thread_and_crosspost(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    forum = channel(client, world.forum)
    tag = forum.available_tags[0]
    created = await forum.create_thread(name="Big story", content="Body", applied_tags=[tag])
    assert created.thread.id == created.message.id and created.thread.parent_id == world.forum
    assert fake.messages(created.thread.id)[0]["content"] == "Body"
    thread = fake.channel(created.thread.id)
    assert thread is not None and thread.applied_tags == [tag.id]
    body = fake.requests("POST", r"/threads$")[0].json
    assert body["name"] == "Big story" and body["message"]["content"] == "Body"

    announce = channel(client, world.announce)
    message = await announce.send("Breaking")
    await message.publish()
    assert fake.crossposted == [message.id]
    with pytest.raises(discord.HTTPException) as twice:
        await message.publish()
    assert twice.value.code == 40033

    thread = await message.create_thread(name="Discuss")
    assert thread.id == message.id and thread.type is discord.ChannelType.news_thread
    await thread.send("in thread")
    assert fake.messages(thread.id)[0]["content"] == "in thread"
    await fake.wait_for(lambda: client.get_channel(thread.id), what="THREAD_CREATE")


@pytest.mark.asyncio
async def test_history_newest_first(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    fake.rate_limits.message_send = (10, 5.0)  # six sends without waiting for the bucket
    news = channel(client, world.news)
    seeded = [await news.send(f"m{i}") for i in range(5)]
    newest = [m.content async for m in news.history(limit=3)]
    assert newest == ["m4", "m3", "m2"]
    after = [m.content async for m in news.history(after=seeded[1], oldest_first=True)]
    assert after == ["m2", "m3", "m4"]
    raw = fake.requests("GET", r"/messages$")[0]
    assert raw.query == {"limit": "3"}
    reply = await seeded[0].reply("re")
    assert reply.reference is not None and reply.reference.message_id == seeded[0].id


# ----------------------------------------------------------------------------- interactions


@pytest.mark.asyncio
async def test_slash_command_ephemeral_reply(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    tree = app_commands.CommandTree(client)
    calls: list[tuple[int, bool]] = []

    @tree.command(name="post", description="Post a story")
    async def post(interaction: discord.Interaction, story: int, silent: bool = False) -> None:
        calls.append((story, silent))
        await interaction.response.send_message(f"Posting {story}", ephemeral=True)

    await tree.sync()
    interaction = await fake.send_command(
        "post", {"story": 42, "silent": True}, channel_id=world.news
    )
    response = await interaction.response(timeout=5)
    assert calls == [(42, True)]
    assert response == {
        "type": 4,
        "data": {
            "tts": False,
            "content": "Posting 42",
            "flags": 64,
            "allowed_mentions": {"parse": []},
        },
    }
    callback = fake.requests("POST", r"/callback$")[0]
    assert callback.query == {"with_response": "1"} and callback.status == 200
    assert callback.response["resource"]["message"]["flags"] == 64
    assert fake.messages(world.news) == []  # ephemeral: not in the channel
    assert fake.messages(world.news, include_ephemeral=True)[0]["content"] == "Posting 42"


@pytest.mark.asyncio
async def test_subcommand_with_channel_option(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    tree = app_commands.CommandTree(client)
    seen: list[Any] = []
    group = app_commands.Group(name="desk", description="Desk")

    @group.command(name="route", description="Route stories")
    async def route(interaction: discord.Interaction, target: discord.TextChannel) -> None:
        seen.append(target)
        await interaction.response.send_message(f"to {target.mention}")

    tree.add_command(group, guild=discord.Object(world.guild_id))
    await tree.sync(guild=discord.Object(world.guild_id))
    target = fake.channel(world.announce)
    interaction = await fake.send_command("desk", {"target": target}, subcommand="route")
    await interaction.response()
    assert seen[0].id == world.announce
    assert interaction.payload["data"]["guild_id"] == str(world.guild_id)
    original = interaction.original_message
    assert original is not None and original["content"] == f"to <#{world.announce}>"


@pytest.mark.asyncio
async def test_defer_then_followup_and_edit(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    tree = app_commands.CommandTree(client)

    @tree.command(name="slow", description="Slow one")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("done")
        await interaction.edit_original_response(content="done (edited)")
        await interaction.followup.send("extra", wait=True)

    interaction = await fake.send_command("slow", channel_id=world.news)
    last = await fake.wait_for_request("POST", r"^/webhooks/", count=2)  # the handler's last call
    assert last.status == 200 and last.query["wait"] == "1"
    assert interaction.callbacks[0]["type"] == 5
    assert [f["content"] for f in interaction.followups] == ["done", "extra"]
    assert interaction.original_edits[0]["content"] == "done (edited)"
    # the first follow-up filled in the "thinking" message; the second was a new message
    assert interaction.followup_message_ids[0] == interaction.original_message_id
    assert [m["content"] for m in fake.messages(world.news)] == ["done (edited)", "extra"]
    original = interaction.original_message
    assert original is not None and not original["flags"] & 128  # no longer "thinking"


@pytest.mark.asyncio
async def test_component_interaction(
    fake: FakeDiscord, world: World, client: discord.Client
) -> None:
    clicked: list[int] = []

    class Approve(discord.ui.View):
        @discord.ui.button(label="Approve", custom_id="approve:1")
        async def approve(
            self, interaction: discord.Interaction, button: discord.ui.Button[Approve]
        ) -> None:
            clicked.append(interaction.user.id)
            await interaction.response.edit_message(content="Approved", view=None)

    message = await channel(client, world.news).send("Story 1?", view=Approve())
    moderator = fake.add_member(world.guild_id, "mod").user
    interaction = await fake.send_component("approve:1", user=moderator)
    response = await interaction.response()
    assert response["type"] == 7 and response["data"]["content"] == "Approved"
    assert clicked == [moderator.id]
    stored = fake.get_message(message.id)
    assert stored is not None and (stored["content"], stored["components"]) == ("Approved", [])
    assert interaction.payload["message"]["id"] == str(message.id)


@pytest.mark.asyncio
async def test_autocomplete(fake: FakeDiscord, client: discord.Client) -> None:
    tree = app_commands.CommandTree(client)

    async def complete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"{current}-{i}", value=f"v{i}") for i in range(2)]

    @tree.command(name="feed", description="Pick a feed")
    @app_commands.autocomplete(name=complete)
    async def feed(interaction: discord.Interaction, name: str) -> None:
        pass

    await tree.sync()
    interaction = await fake.send_autocomplete("feed", {"name": "wor"}, focused="name")
    response = await interaction.response()
    assert response == {
        "type": 8,
        "data": {"choices": [{"name": "wor-0", "value": "v0"}, {"name": "wor-1", "value": "v1"}]},
    }


@pytest.mark.asyncio
async def test_second_ack_is_rejected(fake: FakeDiscord, client: discord.Client) -> None:
    tree = app_commands.CommandTree(client)
    codes: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @tree.command(name="twice", description="Acks twice")
    async def twice(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        route = discord.http.Route(
            "POST",
            "/interactions/{interaction_id}/{token}/callback",
            interaction_id=interaction.id,
            token=interaction.token,
        )
        try:  # discord.py itself refuses a second response, so go around it
            await interaction.client.http.request(route, json={"type": 4, "data": {"content": "x"}})
        except discord.HTTPException as exc:
            codes.set_result(exc.code)

    interaction = await fake.send_command("twice")
    assert await asyncio.wait_for(codes, READY_TIMEOUT) == 40060
    assert len(interaction.callbacks) == 1


@pytest.mark.asyncio
async def test_late_ack_is_unknown_interaction(fake: FakeDiscord, client: discord.Client) -> None:
    tree = app_commands.CommandTree(client)
    codes: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @tree.command(name="late", description="Answers too late")
    async def late(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("too late")
        except discord.NotFound as exc:
            codes.set_result(exc.code)

    interaction = await fake.send_command("late")
    fake.advance_time(3.5)  # before the bot could answer: Discord's 3 s window has passed
    assert await asyncio.wait_for(codes, READY_TIMEOUT) == 10062
    assert not interaction.acknowledged


# ----------------------------------------------------------------------------- raw HTTP and helpers


@pytest.mark.asyncio
async def test_raw_http_contract(fake: FakeDiscord, world: World) -> None:
    auth = {"Authorization": "Bot test-token"}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake.api_base}/users/@me", headers=auth) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
            assert int(resp.headers["X-RateLimit-Limit"]) > 0
        async with session.get(f"{fake.api_base}/users/@me") as resp:
            assert resp.status == 401
        async with session.get(f"{fake.api_base}/gateway/bot", headers=auth) as resp:
            data = await resp.json()
            assert data["url"] == fake.gateway_url and data["shards"] == 1
        async with session.get(f"{fake.api_base}/nope", headers=auth) as resp:
            assert resp.status == 404
        fake.rate_limits.enabled = False
        async with session.get(f"{fake.api_base}/users/@me", headers=auth) as resp:
            assert resp.status == 200 and "X-RateLimit-Limit" not in resp.headers
    assert fake.requests(path_regex="nope")[0].route is None


@pytest.mark.asyncio
async def test_global_limit(fake: FakeDiscord, world: World) -> None:
    fake.rate_limits.global_per_second = 3
    auth = {"Authorization": "Bot test-token"}
    async with aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(4):
            async with session.get(f"{fake.api_base}/users/@me", headers=auth) as resp:
                statuses.append(resp.status)
                last = resp
    assert statuses == [200, 200, 200, 429]
    assert last.headers["X-RateLimit-Scope"] == "global"
    assert fake.rate_limited_count == 1


@pytest.mark.asyncio
async def test_global_limit_is_shared_by_every_connection_of_the_token(
    fake: FakeDiscord, world: World
) -> None:
    """Two processes of one bot (two HTTP connections, other routes) share the 50/s."""
    fake.rate_limits.global_per_second = 3
    auth = {"Authorization": "Bot test-token"}
    statuses: list[tuple[str, int, str | None]] = []
    async with aiohttp.ClientSession() as first, aiohttp.ClientSession() as second:
        for name, session, path in (
            ("first", first, "/users/@me"),
            ("second", second, "/oauth2/applications/@me"),
            ("first", first, f"/channels/{world.news}"),
            ("second", second, f"/channels/{world.forum}"),
        ):
            async with session.get(fake.api_base + path, headers=auth) as resp:
                statuses.append((name, resp.status, resp.headers.get("X-RateLimit-Scope")))
    assert statuses == [
        ("first", 200, None),
        ("second", 200, None),
        ("first", 200, None),
        ("second", 429, "global"),
    ]


@pytest.mark.asyncio
async def test_interaction_routes_are_outside_the_global_limit(
    fake: FakeDiscord, world: World
) -> None:
    """As Discord: responses to interactions (no bot token) count against no global limit."""
    fake.rate_limits.global_per_second = 2
    auth = {"Authorization": "Bot test-token"}
    hook = f"/webhooks/{fake.application_id}/no-such-token"
    statuses: list[tuple[str, int]] = []
    async with aiohttp.ClientSession() as session:
        for method, path, headers in (
            ("GET", "/users/@me", auth),
            ("POST", "/interactions/1/no-such-token/callback", {}),
            ("POST", hook, {}),
            ("PATCH", hook + "/messages/@original", {}),
            ("GET", "/users/@me", auth),  # the second of 2: the three above were not counted
            ("GET", "/users/@me", auth),
        ):
            body = {"type": 4, "data": {"content": "hi"}} if method != "GET" else None
            async with session.request(
                method, fake.api_base + path, headers=headers, json=body
            ) as resp:
                statuses.append((f"{method} {path}", resp.status))
    assert [status for _, status in statuses] == [200, 404, 404, 404, 200, 429]
    assert fake.rate_limited_count == 1


@pytest.mark.asyncio
async def test_wait_for_times_out_with_context(fake: FakeDiscord) -> None:
    with pytest.raises(TimeoutError, match="nothing"):
        await fake.wait_for(lambda: False, timeout=0.05, what="nothing")


def test_validation_rules() -> None:
    def errors(body: dict[str, Any]) -> dict[str, Any]:
        return validate_message(body) or {}

    assert errors({"content": "x" * 2000}) == {}
    assert "content" in errors({"content": "x" * 2001})
    assert "embeds" in errors({"embeds": [{"title": "t"}] * 11})
    assert "description" in errors({"embeds": [{"description": "d" * 4097}]})["embeds"]["0"]
    assert (
        "fields"
        in errors({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]})["embeds"]["0"]
    )
    field_errors = errors({"embeds": [{"fields": [{"name": "n" * 257, "value": "v" * 1025}]}]})
    assert field_errors["embeds"]["0"]["fields"]["0"].keys() == {"name", "value"}
    assert "footer" in errors({"embeds": [{"footer": {"text": "f" * 2049}}]})["embeds"]["0"]
    assert "author" in errors({"embeds": [{"author": {"name": "a" * 257}}]})["embeds"]["0"]
    big = [{"description": "d" * 4000}, {"description": "d" * 2001}]
    assert errors({"embeds": big})["embeds"]["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"
    assert "url" in errors({"embeds": [{"url": "ftp://x"}]})["embeds"]["0"]
    assert errors({"embeds": [{"image": {"url": "attachment://a.png"}}]}) == {}
    assert (
        "thumbnail" in errors({"embeds": [{"thumbnail": {"url": "javascript:x"}}]})["embeds"]["0"]
    )
    button = {"type": 2, "style": 1, "custom_id": "c", "label": "l"}
    row = {"type": 1, "components": [button]}
    assert errors({"components": [row] * 5}) == {}
    assert "components" in errors({"components": [row] * 6})
    assert errors({"components": [{"type": 1, "components": [button] * 6}]})
    assert errors({"components": [{"type": 1, "components": [button | {"custom_id": "c" * 101}]}]})
    assert errors({"components": [{"type": 1, "components": [button | {"label": "l" * 81}]}]})
    link = {"type": 2, "style": 5, "label": "Read"}
    assert errors({"components": [{"type": 1, "components": [link]}]})
    assert errors(
        {"components": [{"type": 1, "components": [link | {"url": "https://x", "custom_id": "c"}]}]}
    )
    assert errors({"components": [{"type": 1, "components": [link | {"url": "https://x"}]}]}) == {}
    longest = "https://x.example/" + "a" * (512 - 18)
    assert errors({"components": [{"type": 1, "components": [link | {"url": longest}]}]}) == {}
    too_long = {"type": 1, "components": [link | {"url": longest + "a"}]}
    assert errors({"components": [too_long]}) == {
        "components": {"0": {"components": {"0": {"url": {"_errors": [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 512 or fewer in length."}
        ]}}}}}
    }  # fmt: skip
