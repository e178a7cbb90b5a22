"""End to end, a digest route: `newsdesk run` against the fake Discord posts one message per
run listing its stories, and SIGKILL at either side of the send neither loses nor repeats
the digest. Each runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config.settings import load_settings
from bot.delivery.deliverer import digest_post
from bot.store import DeliveryState, Digest, DigestState, open_store
from bot.store.records import digest_nonce
from tests.e2e_support import (
    MESSAGES,
    BotProcess,
    FakeDiscord,
    Newsroom,
    article_of,
    story_file,
    wait_for_log,
)

WAIT = 30.0  # generous bounds for a loaded 2-core machine; tests finish as soon as done
POSTS = "POST"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The bot's database: a SQLite file, or a PostgreSQL database with nothing in it."""
    if request.param == "sqlite":
        return str(tmp_path / "newsdesk.db")
    url: str = request.getfixturevalue("postgres_url")
    return url


async def stored(
    db: str, channel_id: int
) -> tuple[dict[str, tuple[DeliveryState, int | None]], list[Digest]]:
    """The channel's deliveries (by story) and digests."""
    store = await open_store(db)
    try:
        deliveries = {
            d.article_id: (d.state, d.message_id) for d in await store.deliveries(channel_id)
        }
        return deliveries, await store.digests(channel_id)
    finally:
        await store.close()


def lines(message: dict[str, Any]) -> list[str]:
    """A posted digest's lines (its one embed's description)."""
    (embed,) = message["embeds"]
    return str(embed["description"]).split("\n")


async def test_a_digest_route_posts_one_message_listing_its_stories(
    fake: FakeDiscord, tmp_path: Path, database: str
) -> None:
    room = Newsroom.create(fake, tmp_path, "digest", "single")
    paths = [story_file(room.seeds, f"s{n}", 90 - n, ["AI"]) for n in range(4)]
    config = room.write_config(
        [
            {"name": "digest", "schedule": {"every": "1s"}, "digest": {"top": 10}},
            {"name": "single", "schedule": {"every": "1s"}},
        ],
        database=database,
    )
    channel = room.channels["digest"]
    async with BotProcess(config) as bot:
        (first,) = await fake.wait_for_messages(channel, 1, timeout=WAIT)
        await fake.wait_for_messages(room.channels["single"], 4, timeout=WAIT)
        # later runs post nothing until a story arrives; then a digest of it alone
        late = story_file(room.seeds, "late", 10, ["AI"])
        _, second = await fake.wait_for_messages(channel, 2, timeout=WAIT)
        assert await bot.stop() == 0

    articles = [article_of(p) for p in paths]
    deliveries, digests = await stored(database, channel)
    one, two = digests
    route = load_settings(config).route("digest")
    assert route is not None
    assert one.article_ids == tuple(a.id for a in articles)
    expected = digest_post(route, articles, one.nonce, one.created_ts).to_payload()
    assert first["embeds"] == expected["embeds"]
    assert lines(first) == [
        f"{n + 1}. [Story s{n}](https://news.example.com/s{n}) — news.example.com · AI"
        for n in range(4)
    ]
    assert lines(second) == [
        "1. [Story late](https://news.example.com/late) — news.example.com · AI"
    ]
    assert len(fake.messages(channel)) == 2
    posts = [r.json for r in fake.requests(POSTS, MESSAGES) if r.status == 200]
    digest_posts = [p for p in posts if p["embeds"][0].get("title") == "Top stories"]
    assert [p["nonce"] for p in digest_posts] == [one.nonce, two.nonce]
    assert one.nonce == digest_nonce(channel, [a.id for a in articles])
    assert (one.state, one.message_id, two.state, two.message_id) == (
        DigestState.SENT, int(first["id"]), DigestState.SENT, int(second["id"]),
    )  # fmt: skip
    for article in articles:
        assert deliveries[article.id] == (DeliveryState.SENT, int(first["id"]))
    assert deliveries[article_of(late).id] == (DeliveryState.SENT, int(second["id"]))


async def test_sigkill_before_and_after_the_send_neither_loses_nor_repeats_the_digest(
    fake: FakeDiscord, tmp_path: Path, database: str
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    paths = [story_file(room.seeds, f"s{n}", 90 - n, ["AI"]) for n in range(3)]
    articles = [article_of(p) for p in paths]
    config = room.write_config(
        [{"name": "news", "schedule": {"every": "1s"}, "digest": {}}], database=database
    )
    channel = room.channels["news"]
    nonce = digest_nonce(channel, [a.id for a in articles])

    # 1. Killed between the claim and the send: the request is held before Discord acts
    #    on it, and dropped, undone, when the bot dies.
    fake.slow_responses(3.0, path_regex=MESSAGES, method=POSTS)
    bot = await BotProcess(config).start()
    held = await fake.wait_for_request(POSTS, MESSAGES, timeout=WAIT, answered=False)
    assert held.json["nonce"] == nonce
    await bot.kill()
    dropped = await fake.wait_for_request(POSTS, MESSAGES, timeout=WAIT)
    assert dropped.status == 499
    fake.clear_faults()
    assert fake.messages(channel) == []
    deliveries, (claimed,) = await stored(database, channel)
    assert (claimed.state, claimed.nonce) == (DigestState.SENDING, nonce)
    assert deliveries == {a.id: (DeliveryState.SENDING, None) for a in articles}

    # 2. Killed between the send and the record: the restart sends the same digest (a
    #    better story written meanwhile waits for the next one); Discord stores it, and
    #    the bot dies before it hears back.
    best = story_file(room.seeds, "best", 99, ["AI"])
    fake.slow_replies(3.0, path_regex=MESSAGES)
    bot = await BotProcess(config).start()
    (posted,) = await fake.wait_for_messages(channel, 1, timeout=WAIT)
    await bot.kill()
    fake.clear_faults()
    assert posted["nonce"] == nonce
    deliveries, digests = await stored(database, channel)
    assert [(d.state, d.nonce) for d in digests] == [(DigestState.SENDING, nonce)]
    assert {deliveries[a.id] for a in articles} == {(DeliveryState.SENDING, None)}

    # 3. Restart: the digest is found in the channel and recorded, not sent again; the
    #    next run posts the story that came meanwhile, alone.
    async with BotProcess(config) as bot:
        await wait_for_log(bot, "was already in #news: recorded, not sent again", WAIT)
        _, second = await fake.wait_for_messages(channel, 2, timeout=WAIT)
        assert await bot.stop() == 0

    assert len(fake.messages(channel)) == 2
    assert lines(posted) == [
        f"{n + 1}. [Story s{n}](https://news.example.com/s{n}) — news.example.com · AI"
        for n in range(3)
    ]
    assert lines(second) == [
        "1. [Story best](https://news.example.com/best) — news.example.com · AI"
    ]
    # the first digest was sent twice (dropped undone, then stored), never a third time
    sent = [(r.json["nonce"], r.status) for r in fake.requests(POSTS, MESSAGES)]
    later = digest_nonce(channel, [article_of(best).id])
    assert sent == [(nonce, 499), (nonce, 200), (later, 200)]
    deliveries, (one, two) = await stored(database, channel)
    assert (one.state, one.message_id, one.attempts) == (DigestState.SENT, int(posted["id"]), 1)
    assert (two.state, two.article_ids) == (DigestState.SENT, (article_of(best).id,))
    for article in articles:
        assert deliveries[article.id] == (DeliveryState.SENT, int(posted["id"]))
    assert deliveries[article_of(best).id] == (DeliveryState.SENT, int(second["id"]))
