"""End to end: sharded processes on one PostgreSQL database hold their shards by leases,
and a standby takes over the shards of a process that dies (SIGKILL), against the fake
Discord. Nothing is lost or posted twice.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bot.store import PostgresStore, ShardLease
from bot.store.records import LEASE_SECONDS
from tests.e2e_support import BotProcess, FakeDiscord, Newsroom, story_file, wait_for_log
from tests.store.conftest import fetch_sql

WAIT = 30.0
COUNT = 4  # shards
LEASE, RENEW = 4.0, 1.0  # the test's lease timings (the defaults are 30 s and 10 s)
IDENTIFY_PACE = 5.0  # discord.py identifies a client's shards one per 5 s (Discord's limit)
GUILD_READY = 2.0  # and waits this long for the guilds of a shard before it is ready
SLACK = 8.0  # the start's own work (login, commands synced), on a loaded 2-core machine
# From the new holder's gateway connection to its settle of the sends in flight left by
# the dead process (its start: routes learned, channels read): well under LEASE_SECONDS,
# after which they would be settled anyway, their delivery leases run out.
SETTLE = 8.0
# The suite kills KILLS times; `bench/failover` runs the same test with 20 kills.
KILLS = int(os.environ.get("NEWSDESK_FAILOVER_KILLS", "4"))


async def in_flight(store: PostgresStore, owner: str) -> list[tuple[str, int]]:
    """The deliveries being sent under ``owner``'s delivery leases."""
    rows = await fetch_sql(
        store,
        "SELECT article_id, channel_id FROM deliveries WHERE state = 'sending'"
        " AND lease_owner = ? ORDER BY article_id, channel_id",
        owner,
    )
    return [(str(article_id), int(channel_id)) for article_id, channel_id in rows]


async def wait_until_settled(
    store: PostgresStore, sends: list[tuple[str, int]], deadline: float
) -> float:
    """Wait until none of ``sends`` is being sent any more, until ``deadline``
    (monotonic); returns when."""
    while True:
        left = [
            (a, c)
            for a, c in sends
            if (d := await store.delivery(a, c)) is not None and d.state.value == "sending"
        ]
        if not left:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"sends left in flight by a killed process not settled: {left}")
        await asyncio.sleep(0.1)


def takeover_bound(shards: int) -> float:
    """The stated time of a takeover, from the kill to the new holder's gateway
    connection for the shards taken: the lease runs out (at most LEASE after the last
    renewal), the next round of a standby (RENEW), its client's start for the ``shards``
    it holds then (the README: 60 s with the default timings, up to 4 shards)."""
    return LEASE + RENEW + IDENTIFY_PACE * (shards - 1) + GUILD_READY + SLACK


@dataclass
class Desk:
    """The fake Discord's guilds, one per shard of 4, with two routes each."""

    room: Newsroom
    routes: list[str] = field(default_factory=list)
    guilds: list[int] = field(default_factory=list)
    stories: int = 0

    def config(self, database: str) -> Path:
        return self.room.write_config(
            [{"name": name, "schedule": {"every": "1s"}} for name in self.routes],
            database=database,
            guild_ids=self.guilds,
            shards={"count": COUNT, "lease": f"{LEASE:g}s", "renew": f"{RENEW:g}s"},
        )


def desk(fake: FakeDiscord, tmp_path: Path, stories: int) -> Desk:
    room = Newsroom(fake, tmp_path)
    made = Desk(room)
    for shard in range(COUNT):
        guild = fake.add_guild(f"Guild {shard}", shard=(shard, COUNT)).id
        made.guilds.append(guild)
        if shard == 0:
            room.guild = guild
            room.channels["mod-log"] = fake.add_channel(guild, "mod-log").id
        for n in range(2):
            name = f"s{shard}-{n}"
            room.channels[name] = fake.add_channel(guild, name).id
            made.routes.append(name)
    room.seeds.mkdir()
    for n in range(stories):
        story_file(room.seeds, f"n{n:03}", 90, ["AI"])
    made.stories = stories
    return made


class Process:
    """One `newsdesk run` of the test, started again after each kill (its log per start)."""

    def __init__(self, config: Path, name: str, *args: str) -> None:
        self.config, self.name, self.args = config, name, args
        self.starts = 0
        self.bot: BotProcess | None = None

    async def start(self, *args: str) -> BotProcess:
        self.args = args or self.args
        self.starts += 1
        bot = BotProcess(self.config, *self.args)
        bot.log_path = self.config.parent / f"{self.name}-{self.starts}.log"
        self.bot = await bot.start()
        return self.bot

    @property
    def pid(self) -> int:
        assert self.bot is not None and self.bot.proc is not None
        return self.bot.proc.pid


async def leases(url: str) -> list[ShardLease]:
    store = await PostgresStore.open(url)
    try:
        return await store.shard_leases()
    finally:
        await store.close()


async def current(store: PostgresStore) -> dict[int, int]:
    """Shard → the pid of its live holder."""
    return {x.shard_id: holder_pid(x) for x in await store.shard_leases() if x.expires_in > 0}


def holder_pid(lease: ShardLease) -> int:
    return int(lease.owner.split(":")[1])  # "HOST:PID:RANDOM"


async def wait_until(found: Callable[[], Awaitable[Sequence[object]]], within: float) -> None:
    """Wait until ``found`` finds something."""
    deadline = time.monotonic() + within
    while not await found():
        if time.monotonic() > deadline:
            raise TimeoutError("never found")
        await asyncio.sleep(0.05)


async def wait_until_held(
    store: PostgresStore,
    pids: set[int],
    shards: set[int],
    since: int,
    fake: FakeDiscord,
    within: float,
) -> float:
    """Wait until each of ``shards`` is leased to a live process of ``pids`` and its new
    holder connected that shard's gateway (an IDENTIFY after the first ``since``);
    returns when (monotonic)."""
    deadline = time.monotonic() + within
    while True:
        held = {x.shard_id: x for x in await store.shard_leases() if x.expires_in > 0}
        identified = fake.identified_shards[since:]
        if all(
            s in held and holder_pid(held[s]) in pids and [s, COUNT] in identified for s in shards
        ):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"shards {sorted(shards)} not taken over: {held}, {identified}")
        await asyncio.sleep(0.1)


async def test_a_shard_held_by_a_live_process_is_refused_and_a_clean_stop_frees_it(
    fake: FakeDiscord, tmp_path: Path, postgres_url: str
) -> None:
    made = desk(fake, tmp_path, 2)
    config = made.config(postgres_url)
    first = Process(config, "first", "--shard-ids", "0,1", "--shard-count", "4")
    other = Process(config, "other", "--shard-ids", "2,3", "--shard-count", "4")
    extra: list[Process] = []  # started later: stopped too if the test fails
    await first.start()
    await other.start()
    try:
        assert first.bot is not None and other.bot is not None
        await wait_for_log(first.bot, "shards 0, 1 of 4: 4 route(s) run here", WAIT)
        await wait_for_log(other.bot, "shards 2, 3 of 4: 4 route(s) run here", WAIT)
        for name in made.routes:
            await fake.wait_for_messages(made.room.channels[name], 2, timeout=WAIT)
        third = Process(config, "third", "--shard-ids", "1,2", "--shard-count", "4")
        refused = await third.start()
        assert refused.proc is not None
        assert await asyncio.wait_for(refused.proc.wait(), WAIT) == 2
        last = refused.log().splitlines()[-1]
        host = socket.gethostname()
        assert last.startswith(
            f"newsdesk: shard 1 of 4 is held by another `newsdesk run`: shard 1 of 4 by"
            f" {host}:{first.pid}:"
        ), last
        assert f"shard 2 of 4 by {host}:{other.pid}:" in last
        assert last.endswith(
            ". Run other shard ids, or `--standby` to take over a shard when its process stops"
        )
        # a send in flight in another live process (a channel of no route here)
        outsider = await PostgresStore.open(postgres_url)
        story = await outsider._fetchval("SELECT min(id) FROM articles")
        assert await outsider.claim(story, 999) is not None
        # a standby holding nothing takes a reload of the config, and lives on
        waiting = Process(config, "standby", "--standby", "--shard-count", "4")
        extra.append(waiting)
        standby = await waiting.start()
        assert standby.proc is not None
        await wait_for_log(standby, "shards: none held of 4; watching the leases", WAIT)
        # its start left that send's lease alone: sharded runs share the database
        owner = "SELECT lease_owner FROM deliveries WHERE channel_id = 999"
        assert await outsider._fetchval(owner) == outsider.lease_owner
        await outsider.close()
        standby.proc.send_signal(signal.SIGHUP)
        await wait_for_log(standby, f"config reloaded from {config}: 8 route(s)", WAIT)
        assert await standby.stop() == 0
        # a clean stop gives its leases up at once
        assert await first.bot.stop() == 0
        assert [(x.shard_id, holder_pid(x)) for x in await leases(postgres_url)] == [
            (2, other.pid), (3, other.pid),
        ]  # fmt: skip
        assert await other.bot.stop() == 0
        assert await leases(postgres_url) == []
    finally:
        for process in (first, other, *extra):
            if process.bot is not None:
                await process.bot.__aexit__()
    for name in made.routes:
        assert sorted(made.room.titles(name)) == ["Story n000", "Story n001"]


async def test_sigkilled_processes_are_taken_over_and_every_story_posted_once(
    fake: FakeDiscord, tmp_path: Path, postgres_url: str
) -> None:
    """3 processes (shards 0, 1 and 2, 3 of 4, and a standby); a process holding shards is
    killed at a random moment, KILLS times, and started again as the next standby."""
    seed = int(os.environ.get("NEWSDESK_FAILOVER_SEED", random.randrange(1 << 32)))
    print(f"failover seed: {seed} (NEWSDESK_FAILOVER_SEED={seed} runs these kills again)")
    rng = random.Random(seed)
    made = desk(fake, tmp_path, int(os.environ.get("NEWSDESK_FAILOVER_STORIES", "40")))
    config = made.config(postgres_url)
    processes = [
        Process(config, "a", "--shard-ids", "0,1", "--shard-count", "4"),
        Process(config, "b", "--shard-ids", "2,3", "--shard-count", "4"),
        Process(config, "c", "--standby", "--shard-count", "4"),
    ]
    for process in processes:
        await process.start()
    takeovers: list[tuple[float, float]] = []  # (seconds, bound)
    settles: list[tuple[float, int]] = []  # (seconds from the kill, sends in flight)
    store = await PostgresStore.open(postgres_url)
    try:
        await wait_until_held(store, {p.pid for p in processes}, set(range(COUNT)), 0, fake, WAIT)
        for kill in range(KILLS):
            held = await current(store)
            holders = [p for p in processes if p.pid in held.values()]
            victim = rng.choice(holders)
            owner = next(x.owner for x in await store.shard_leases() if holder_pid(x) == victim.pid)
            if kill == 0:
                # Mid-send for sure: its posts are made, their replies held, so its sends
                # stay in flight, each under its delivery lease, when it is killed.
                channels = [
                    str(made.room.channels[name])
                    for name in made.routes
                    if held[int(name[1])] == victim.pid
                ]
                posts = rf"/channels/({'|'.join(channels)})/messages$"
                fake.slow_replies(10 * WAIT, posts, method="POST")
                await wait_until(partial(in_flight, store, owner), WAIT)
            else:
                await asyncio.sleep(rng.uniform(0.0, 2.0))  # mid-send, mid-start, idle
            shards = {s for s, pid in (await current(store)).items() if pid == victim.pid}
            since = len(fake.identified_shards)
            assert victim.bot is not None
            await victim.bot.kill()
            killed = time.monotonic()
            fake.clear_faults()
            sends = await in_flight(store, owner)
            assert sends or kill > 0
            live = {p.pid for p in processes if p is not victim}
            done = await wait_until_held(store, live, shards, since, fake, 2 * WAIT)
            now = await current(store)
            taker = {now[s] for s in shards}
            held_after = max(sum(pid == t for pid in now.values()) for t in taker) if taker else 1
            bound = takeover_bound(held_after)
            takeovers.append((done - killed, bound))
            # its sends in flight are settled by the new holder's start, at once: not
            # when their delivery leases run out (LEASE_SECONDS from their claims)
            settled = await wait_until_settled(store, sends, killed + bound + SETTLE)
            settles.append((settled - killed, len(sends)))
            await victim.start("--standby", "--shard-count", "4")
        # Each route posts one story a second, and a takeover settles the sends the
        # killed process left in flight: no route waits for their delivery leases.
        for name in made.routes:
            channel = made.room.channels[name]
            await fake.wait_for_messages(channel, made.stories, timeout=made.stories + WAIT)
        for process in processes:
            assert process.bot is not None
            assert await process.bot.stop() == 0
    finally:
        await store.close()
        for process in processes:
            if process.bot is not None:
                await process.bot.__aexit__()
    print(f"takeovers (s, bound): {', '.join(f'{t:.1f} ({b:g})' for t, b in takeovers)}")
    print(f"sends in flight settled (s, sends): {', '.join(f'{t:.1f} ({n})' for t, n in settles)}")
    expected = [f"Story n{n:03}" for n in range(made.stories)]
    for name in made.routes:
        titles = made.room.titles(name)
        assert sorted(titles) == expected, name  # every story, once
    assert len(takeovers) == KILLS
    assert [t <= bound for t, bound in takeovers] == [True] * KILLS, takeovers
    # what proves the settle at the takeover: each bound is short of a delivery lease
    assert max(bound for _, bound in takeovers) + SETTLE < LEASE_SECONDS
