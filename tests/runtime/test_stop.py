"""SIGTERM stops `newsdesk run` with exit 0 within 10 s in every state, Discord reachable
or not, and the story in flight stays queued or in flight for the next start.

End to end: the bot as a subprocess against the fake Discord on 127.0.0.1, which the
tests stop, hang or make fail under it.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bot.ingest.loader import load_paths
from bot.store import DeliveryState, RouteFilter, SQLiteStore
from tests.e2e_support import (
    MESSAGES,
    BotProcess,
    FakeDiscord,
    Newsroom,
    article_of,
    story_file,
    wait_for_log,
)

WAIT = 30.0  # bounds for things the bot does while running, on a loaded 2-core machine
STOP_WITHIN = 10.0  # the README's promise, from the signal to the exit


async def stop_timed(bot: BotProcess) -> tuple[int, float]:
    """SIGTERM; the exit code and the seconds from the signal to the exit."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    code = await bot.stop()
    return code, loop.time() - started


async def delivery_state(db: Path, article_id: str, channel_id: int) -> DeliveryState | None:
    store = await SQLiteStore.open(str(db))
    try:
        delivery = await store.delivery(article_id, channel_id)
    finally:
        await store.close()
    return None if delivery is None else delivery.state


async def queued(db: Path, channel_id: int) -> list[str]:
    store = await SQLiteStore.open(str(db))
    try:
        return [item.article.id for item in await store.next_for_channel(RouteFilter(channel_id))]
    finally:
        await store.close()


async def wait_for_backoff(bot: BotProcess, at_least: float, timeout: float) -> float:  # noqa: ASYNC109
    """Wait until discord.py logs a gateway reconnect backoff of ``at_least`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        delays = [float(d) for d in re.findall(r"Attempting a reconnect in (\d+\.\d+)s", bot.log())]
        if any(d >= at_least for d in delays):
            return max(delays)
        if loop.time() > deadline:
            raise TimeoutError(f"no backoff of {at_least} s in {timeout} s: {delays}")
        await asyncio.sleep(0.05)


async def test_sigterm_while_the_gateway_waits_to_reconnect_to_a_discord_gone(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    story = article_of(story_file(room.seeds, "s0", 90, ["AI"])).id
    channel = room.channels["news"]
    config = room.write_config([{"name": "news", "schedule": {"every": "1h"}}])
    async with BotProcess(config) as bot:
        await wait_for_log(bot, "1 route(s) ready", WAIT)
        await fake.stop()  # the gateway closes (1001), and every reconnect is refused
        # discord.py waits a random backoff that doubles at each refusal (up to 17 min):
        # one of over 10 s, that a stop waiting for it would overrun
        await wait_for_backoff(bot, at_least=11.0, timeout=180)
        code, took = await stop_timed(bot)
    assert code == 0 and took < STOP_WITHIN, (code, took, bot.log()[-1500:])
    assert "Traceback" not in bot.log()
    assert await queued(room.db, channel) == [story]  # still queued for the next start


async def test_sigterm_while_a_send_hangs_leaves_it_in_flight_for_the_next_start(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    story = article_of(story_file(room.seeds, "s0", 90, ["AI"])).id
    channel = room.channels["news"]
    config = room.write_config([{"name": "news", "schedule": {"every": "1s"}}])
    # Discord takes the send, never answers (the look at the channel's posts, a GET, is
    # answered)
    fake.slow_responses(120.0, path_regex=MESSAGES, method="POST")
    async with BotProcess(config) as bot:
        await fake.wait_for_request("POST", MESSAGES, answered=False, timeout=WAIT)
        code, took = await stop_timed(bot)
    assert code == 0 and took < STOP_WITHIN, (code, took, bot.log()[-1500:])
    assert "Traceback" not in bot.log()
    assert await delivery_state(room.db, story, channel) is DeliveryState.SENDING

    fake.clear_faults()  # the held request finds its client gone and is dropped, undone
    async with BotProcess(config) as bot:  # the next start looks, then sends it once
        await fake.wait_for_messages(channel, 1, timeout=WAIT)
        await wait_for_log(bot, f"posted {story} to #news", WAIT)
        assert await bot.stop() == 0
    assert room.titles("news") == ["Story s0"]
    assert await delivery_state(room.db, story, channel) is DeliveryState.SENT


async def test_sigterm_while_discord_py_retries_a_5xx_send_exits_at_once(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    story = article_of(story_file(room.seeds, "s0", 90, ["AI"])).id
    channel = room.channels["news"]
    config = room.write_config([{"name": "news", "schedule": {"every": "1s"}}])
    # discord.py retries a 500 itself after 1, 3, 5, 7 s: stopped after the second 500,
    # a stop that waited for the send would take 24 s
    fake.fail_next(100, status=500, path_regex=MESSAGES, method="POST")
    async with BotProcess(config) as bot:
        await fake.wait_for_request("POST", MESSAGES, count=2, timeout=WAIT)
        code, took = await stop_timed(bot)
    assert code == 0 and took < STOP_WITHIN, (code, took, bot.log()[-1500:])
    assert "Traceback" not in bot.log()
    assert await delivery_state(room.db, story, channel) is DeliveryState.SENDING
    assert room.titles("news") == []


async def test_sigterm_while_logging_in_to_a_discord_that_never_answers(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    story = article_of(story_file(room.seeds, "s0", 90, ["AI"])).id
    channel = room.channels["news"]
    config = room.write_config([{"name": "news", "schedule": {"every": "1s"}}])
    store = await SQLiteStore.open(str(room.db))
    try:
        await load_paths(store, [room.seeds])  # queued before the start
    finally:
        await store.close()
    fake.slow_responses(120.0, path_regex=r"/users/@me$")  # the login's first request
    async with BotProcess(config) as bot:
        await fake.wait_for_request("GET", r"/users/@me$", answered=False, timeout=WAIT)
        code, took = await stop_timed(bot)
    assert code == 0 and took < STOP_WITHIN, (code, took, bot.log()[-1500:])
    assert "Traceback" not in bot.log()
    assert await queued(room.db, channel) == [story]


async def test_a_rejected_token_still_exits_2_with_one_line(tmp_path: Path) -> None:
    # the stop is now shared by every end of the connection: a login refused included
    async with FakeDiscord(token="another-token") as other:
        room = Newsroom.create(other, tmp_path, "news")
        config = room.write_config([{"name": "news", "schedule": {"every": "1s"}}])
        async with BotProcess(config) as bot:
            assert bot.proc is not None
            code = await asyncio.wait_for(bot.proc.wait(), WAIT)
    assert code == 2, bot.log()[-1500:]
    assert "newsdesk: Discord rejected the token (check DISCORD_TOKEN)\n" in bot.log()
    assert "Traceback" not in bot.log()


async def test_sigterm_while_the_gateway_reconnects_to_a_discord_that_never_answers(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    story = article_of(story_file(room.seeds, "s0", 90, ["AI"])).id
    channel = room.channels["news"]
    config = room.write_config([{"name": "news", "schedule": {"every": "1h"}}])
    held: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # the connection is taken, and nothing ever comes back

    async with BotProcess(config) as bot:
        await wait_for_log(bot, "1 route(s) ready", WAIT)
        port = fake.port
        await fake.stop()
        # Discord's address now takes connections and answers nothing (packets lost on
        # the way back): discord.py gives a gateway connection 60 s
        black_hole = await asyncio.start_server(never_answer, "127.0.0.1", port)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT
            while not held:
                assert loop.time() < deadline, "the bot never tried to reconnect"
                await asyncio.sleep(0.05)
            code, took = await stop_timed(bot)
        finally:
            for writer in held:
                writer.close()
            black_hole.close()
    assert code == 0 and took < STOP_WITHIN, (code, took, bot.log()[-1500:])
    assert "Traceback" not in bot.log()
    assert await queued(room.db, channel) == [story]
