"""The sharded bot as built for ``run --shard-ids``: its client, and the routes it learns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config.settings import Route, Schedule, Settings
from bot.config.shards import Shards
from bot.delivery.deliverer import ErrorKind, SendError
from bot.discord.client import (
    LEARN_JOB,
    LEARN_RETRY_SECONDS,
    NewsdeskBot,
    ShardedNewsdeskBot,
    make_bot,
)
from bot.store import SQLiteStore

OURS = Route(id=10, name="ours", schedule=Schedule(cron="0 9 * * *"))
LATE = Route(id=11, name="late", schedule=Schedule(cron="0 9 * * *"))


def settings(tmp_path: Path, shards: Shards | None) -> Settings:
    return Settings(
        path=tmp_path / "c.yaml", database=tmp_path / "d.db", seeds=tmp_path,
        channels=(OURS, LATE), rescan=None, watch=False, shards=shards,
    )  # fmt: skip


async def test_the_bot_is_auto_sharded_only_with_shards(tmp_path: Path, store: SQLiteStore) -> None:
    plain = make_bot(settings(tmp_path, None), store, AsyncIOScheduler())
    assert type(plain) is NewsdeskBot
    assert not isinstance(plain, discord.AutoShardedClient)
    sharded = make_bot(settings(tmp_path, Shards((0, 2), 4)), store, AsyncIOScheduler())
    assert isinstance(sharded, ShardedNewsdeskBot)
    assert isinstance(sharded, discord.AutoShardedClient)
    assert (sharded.shard_ids, sharded.shard_count) == ([0, 2], 4)
    # not connected: /readyz says so
    assert sharded.gateway_problem() == "not connected to the Discord gateway"


async def test_a_guild_discord_did_not_tell_is_asked_again_later(
    tmp_path: Path, store: SQLiteStore
) -> None:
    scheduler = AsyncIOScheduler()
    bot = make_bot(settings(tmp_path, Shards((0,), 2)), store, scheduler)
    answers: dict[int, int | SendError] = {
        OURS.id: 2 << 22,  # shard 0
        LATE.id: SendError(ErrorKind.TRANSIENT, "HTTP 503 Service Unavailable", 503),
    }

    async def channel_guild(channel_id: int) -> int | None:
        answer = answers[channel_id]
        if isinstance(answer, SendError):
            raise answer
        return answer

    bot.sender.channel_guild = channel_guild  # type: ignore[method-assign]
    bot.newsdesk.start()
    try:
        before = datetime.now(UTC)
        await bot.learn_routes()
        assert sorted(job.id for job in scheduler.get_jobs()) == [LEARN_JOB, "post:10"]
        retry = scheduler.get_job(LEARN_JOB)
        assert retry is not None
        delay = retry.next_run_time - before
        assert timedelta(seconds=LEARN_RETRY_SECONDS - 1) <= delay
        assert delay <= timedelta(seconds=LEARN_RETRY_SECONDS + 1)

        answers[LATE.id] = 4 << 22  # shard 0 too: Discord answers now
        await retry.func()  # the retry, run now
        assert sorted(job.id for job in scheduler.get_jobs()) == ["post:10", "post:11"]
        assert await store.route_guilds() == {OURS.id: 2 << 22, LATE.id: 4 << 22}
    finally:
        scheduler.shutdown(wait=False)
