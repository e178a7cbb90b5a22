"""Running Newsdesk as a service: the HTTP listener (/healthz, /readyz, /metrics), the
healthcheck command a container runs, and the metrics' exact values."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
from watchfiles import Change

from bot.config.settings import Route, Schedule, Settings
from bot.config.shards import Shards
from bot.curation.ranking import route_filter
from bot.delivery.deliverer import Deliverer, ErrorKind, Posted, SendError, Sent
from bot.ingest.loader import load_paths
from bot.render.embeds import Post, build_post
from bot.runtime.logs import LoadProgress
from bot.runtime.metrics import MeteredSender, Metrics
from bot.runtime.watch import article_paths, watch_folder
from bot.store import DeliveryState, RouteFilter, SQLiteStore
from tests.e2e_support import BotProcess, FakeDiscord, Newsroom, story_file, wait_for_log

WAIT = 30.0
T = TypeVar("T")
NEWS = Route(id=501, name="news", schedule=Schedule(cron="0 9 * * *"))
QUIET = Route(id=502, name="quiet", schedule=Schedule(cron="0 9 * * *"), topics=("Space",))


class Recorder:
    """A Sender that answers as told: a message id, or a SendError."""

    def __init__(self) -> None:
        self.answers: list[Sent | SendError] = []

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        answer = self.answers.pop(0)
        if isinstance(answer, SendError):
            raise answer
        return answer

    async def send_review(self, route: Route, post: Post, nonce: str) -> Sent:
        raise AssertionError("not used")

    async def edit(self, route: Route, message_id: int, post: Post) -> None:
        answer = self.answers.pop(0)
        if isinstance(answer, SendError):
            raise answer

    async def find_posted(self, route: Route, post: Post) -> Sent | None:
        return None

    async def recent_posts(self, route: Route) -> list[Posted]:
        return []

    async def open_post(self, route: Route, posted: Posted) -> Posted | None:
        return None

    async def check_route(self, route: Route) -> str | None:
        return None

    async def notify(self, text: str) -> None:
        return None


def samples(text: str) -> dict[str, float]:
    """The metric lines of a Prometheus page, name{labels} → value."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


async def test_metrics_count_sends_edits_loads_and_read_the_store(
    tmp_path: Path, store: SQLiteStore
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for n in range(3):
        story_file(seeds, f"s{n}", 90 - n, ["AI"])
    (seeds / "broken.md").write_text("no front matter\n")
    clock = [1_000_000.0]
    settings = Settings(
        path=tmp_path / "c.yaml", database=tmp_path / "d.db", seeds=seeds, channels=(NEWS, QUIET)
    )
    metrics = Metrics(settings, clock=lambda: clock[0])
    report = await load_paths(store, [seeds])
    metrics.loaded(report, 0.3)

    recorder = Recorder()
    sender = MeteredSender(recorder, metrics)
    article = (await store.next_for_channel(_filter(NEWS)))[0].article
    post = build_post(article)
    recorder.answers = [Sent(501, 9001), SendError(ErrorKind.TRANSIENT, "HTTP 503"), Sent(501, 1)]
    assert await sender.send(NEWS, post, "n1") == Sent(501, 9001)
    with pytest.raises(SendError):
        await sender.send(NEWS, post, "n2")
    await sender.edit(NEWS, 9001, post)
    await store.set_delivery(article.id, NEWS.id, DeliveryState.SENT, message_id=9001)
    sent = await store.delivery(article.id, NEWS.id)
    assert sent is not None and sent.sent_ts is not None
    sent_ts = sent.sent_ts
    for status in (200, 429, 429, 503):
        metrics.response(status)

    clock[0] = sent_ts + 42.0
    page = samples((await metrics.render(store, latency=0.125)).decode())
    assert {k: v for k, v in page.items() if not k.startswith("newsdesk_delivery_seconds")} == {
        'newsdesk_posts_total{channel="news"}': 1.0,
        'newsdesk_send_failures_total{channel="news",reason="transient"}': 1.0,
        'newsdesk_edits_total{result="ok"}': 1.0,
        'newsdesk_discord_responses_total{status="200"}': 1.0,
        'newsdesk_discord_responses_total{status="429"}': 2.0,
        'newsdesk_discord_responses_total{status="503"}': 1.0,
        "newsdesk_discord_rate_limited_total": 2.0,
        "newsdesk_gateway_latency_seconds": 0.125,
        "newsdesk_stories_stored": 3.0,
        'newsdesk_stories_queued{channel="news"}': 2.0,
        'newsdesk_stories_queued{channel="quiet"}': 0.0,
        'newsdesk_seconds_since_last_post{channel="news"}': 42.0,
        # never posted there: since the bot started
        'newsdesk_seconds_since_last_post{channel="quiet"}': sent_ts + 42.0 - 1_000_000.0,
        'newsdesk_load_seconds_bucket{le="0.1"}': 0.0,
        'newsdesk_load_seconds_bucket{le="0.5"}': 1.0,
        'newsdesk_load_seconds_bucket{le="1.0"}': 1.0,
        'newsdesk_load_seconds_bucket{le="2.5"}': 1.0,
        'newsdesk_load_seconds_bucket{le="5.0"}': 1.0,
        'newsdesk_load_seconds_bucket{le="10.0"}': 1.0,
        'newsdesk_load_seconds_bucket{le="30.0"}': 1.0,
        'newsdesk_load_seconds_bucket{le="60.0"}': 1.0,
        'newsdesk_load_seconds_bucket{le="300.0"}': 1.0,
        'newsdesk_load_seconds_bucket{le="+Inf"}': 1.0,
        "newsdesk_load_seconds_count": 1.0,
        "newsdesk_load_seconds_sum": 0.3,
        'newsdesk_files_loaded_total{outcome="loaded"}': 3.0,
        'newsdesk_files_loaded_total{outcome="updated"}': 0.0,
        'newsdesk_files_loaded_total{outcome="duplicates"}': 0.0,
        'newsdesk_files_loaded_total{outcome="rejected"}': 1.0,
        **_created(page),
    }
    assert page["newsdesk_delivery_seconds_count"] == 1.0  # the one that arrived


async def test_metrics_of_a_sharded_process_show_its_shards_and_only_its_routes(
    tmp_path: Path, store: SQLiteStore
) -> None:
    elsewhere = Route(id=503, name="elsewhere", schedule=Schedule(cron="0 9 * * *"))
    unknown = Route(id=504, name="unknown", schedule=Schedule(cron="0 9 * * *"))
    settings = Settings(
        path=tmp_path / "c.yaml", database=tmp_path / "d.db", seeds=tmp_path,
        channels=(NEWS, QUIET, elsewhere, unknown), shards=Shards((0, 2), 4),
    )  # fmt: skip
    deliverer = Deliverer(store, Recorder(), settings)
    # guild ids on shards 0, 2 and 1 of 4 (a snowflake's shard is its time's millisecond)
    deliverer.guilds = {NEWS.id: 4 << 22, QUIET.id: 2 << 22, elsewhere.id: 1 << 22}
    metrics = Metrics(settings, clock=lambda: 1_000_000.0)
    metrics.split = deliverer.split
    page = samples((await metrics.render(store, latency=None)).decode())
    ours = {k: v for k, v in page.items() if "shard" in k or "route" in k or "channel=" in k}
    assert ours == {
        'newsdesk_shard{shard="0",shard_count="4"}': 1.0,
        'newsdesk_shard{shard="2",shard_count="4"}': 1.0,
        'newsdesk_routes{where="here"}': 2.0,
        'newsdesk_routes{where="other_shards"}': 1.0,
        'newsdesk_routes{where="unknown"}': 1.0,
        'newsdesk_stories_queued{channel="news"}': 0.0,
        'newsdesk_stories_queued{channel="quiet"}': 0.0,
        'newsdesk_seconds_since_last_post{channel="news"}': 0.0,
        'newsdesk_seconds_since_last_post{channel="quiet"}': 0.0,
    }
    # an unsharded bot's page has neither family, not even their HELP lines
    plain = (await Metrics(replace(settings, shards=None)).render(store, None)).decode()
    assert "newsdesk_shard" not in plain and "newsdesk_routes" not in plain


async def test_a_sharded_process_schedules_only_its_routes(
    tmp_path: Path, store: SQLiteStore
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.runtime.service import Newsdesk

    later = Route(id=505, name="later", schedule=Schedule(cron="0 9 * * *"))
    settings = Settings(
        path=tmp_path / "c.yaml", database=tmp_path / "d.db", seeds=tmp_path,
        channels=(NEWS, QUIET), rescan=None, watch=False, shards=Shards((1,), 2),
    )  # fmt: skip
    await store.set_route_guild(NEWS.id, 1 << 22)  # learned by an earlier run: shard 1
    await store.set_route_guild(QUIET.id, 2 << 22)  # shard 0: another process's
    deliverer = Deliverer(store, Recorder(), settings)
    scheduler = AsyncIOScheduler()
    desk = Newsdesk(settings, store, scheduler, deliverer)
    await deliverer.load_guilds()  # before Discord answers
    desk.start()
    try:
        assert [job.id for job in scheduler.get_jobs()] == ["post:501"]
        desk.reload(replace(settings, channels=(NEWS, QUIET, later)))
        assert [job.id for job in scheduler.get_jobs()] == ["post:501"]  # not known yet

        async def lookup(channel_id: int) -> int | None:
            return 3 << 22  # shard 1

        desk.schedule_learned(await deliverer.learn_guilds(lookup))
        assert sorted(job.id for job in scheduler.get_jobs()) == ["post:501", "post:505"]
    finally:
        scheduler.shutdown(wait=False)


def _created(page: dict[str, float]) -> dict[str, float]:
    """prometheus-client's *_created samples (when each series began): any value."""
    return {k: v for k, v in page.items() if "_created" in k and "delivery_seconds" not in k}


def _filter(route: Route) -> RouteFilter:
    return route_filter(route, datetime.now(UTC))


# --------------------------------------------------------------------------- end to end


LISTENING = re.compile(r"http: listening on (127\.0\.0\.1:\d+)")


def listener(log: str) -> str:
    """The base URL of the HTTP listener a bot's log says it opened."""
    found = LISTENING.search(log)
    assert found is not None, log
    return f"http://{found.group(1)}"


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        return answer.status, await answer.text()


async def until(check: Callable[[], Awaitable[T | None]], timeout: float = WAIT) -> T:  # noqa: ASYNC109
    """Poll ``check()`` (a coroutine function) until it returns something true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := await check()):
        if loop.time() > deadline:
            raise TimeoutError(f"{check} never held")
        await asyncio.sleep(0.05)
    return result


async def test_health_readiness_metrics_and_the_healthcheck_command(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    story_file(room.seeds, "top", 95, ["AI"])
    config = room.write_config(
        [{"name": "news", "schedule": {"every": "1s"}}], http={"listen": "127.0.0.1:0"}
    )
    async with BotProcess(config) as bot:
        await wait_for_log(bot, "http: listening on 127.0.0.1:", WAIT)
        # one start-up line says what runs; no word of voice, which Newsdesk has not
        assert (
            f"newsdesk 0.1.0 starting: config {config}, database {room.db}, 1 route(s)"
            " (#news), shards: all\n"
        ) in bot.log()
        assert "voice" not in bot.log()
        base = listener(bot.log())
        assert await get(f"{base}/healthz") == (200, "ok\n")
        await until(lambda: _is(get(f"{base}/readyz"), (200, "ready\n")))
        await until(lambda: _posted(fake, room))

        async def metrics() -> dict[str, float]:
            status, text = await get(f"{base}/metrics")
            assert status == 200
            return samples(text)

        page = await until(
            lambda: _when(metrics(), lambda p: p.get('newsdesk_posts_total{channel="news"}'))
        )
        assert page['newsdesk_posts_total{channel="news"}'] == 1.0
        assert page["newsdesk_stories_stored"] == 1.0
        assert page['newsdesk_stories_queued{channel="news"}'] == 0.0
        assert page['newsdesk_files_loaded_total{outcome="loaded"}'] == 1.0
        assert page["newsdesk_discord_rate_limited_total"] == 0.0
        assert page['newsdesk_discord_responses_total{status="200"}'] >= 1.0
        assert 0.0 <= page['newsdesk_seconds_since_last_post{channel="news"}'] < WAIT

        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bot", "--config", str(config), "healthcheck", "--ready",
             "--url", base],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert (done.returncode, done.stdout, done.stderr) == (0, "ready\n", "")
        assert await bot.stop() == 0
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "--config", str(config), "healthcheck", "--url", base],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"newsdesk: {base}/healthz: ")


async def write_until_seen(write: Callable[[], object], seen: Callable[[], bool]) -> None:
    """``write()``, and again every half second until ``seen()``, for at most WAIT seconds:
    awatch sets its watches up in a thread of its own and tells no one when they are
    ready, so a file written before is never announced."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        write()
        again = loop.time() + 0.5
        while loop.time() < again:
            if seen():
                return
            await asyncio.sleep(0.05)
        assert loop.time() < deadline, "the watch never saw the file written"


async def _is(answer: Awaitable[tuple[int, str]], expected: tuple[int, str]) -> bool | None:
    return await answer == expected or None


async def _when(value: Awaitable[T], test: Callable[[T], object]) -> T | None:
    result = await value
    return result if test(result) else None


async def _posted(fake: FakeDiscord, room: Newsroom) -> bool | None:
    return len(fake.messages(room.channels["news"])) == 1 or None


async def test_readyz_is_503_with_the_reason_while_the_gateway_is_down(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    config = room.write_config(
        [{"name": "news", "schedule": "0 9 * * *"}], http={"listen": "127.0.0.1:0"}
    )
    async with BotProcess(config) as bot:
        await wait_for_log(bot, "http: listening on 127.0.0.1:", WAIT)
        base = listener(bot.log())
        await until(lambda: _is(get(f"{base}/readyz"), (200, "ready\n")))
        await fake.stop()  # Discord is gone: the gateway drops, and cannot come back
        await until(
            lambda: _is(get(f"{base}/readyz"), (503, "not connected to the Discord gateway\n"))
        )
        assert await get(f"{base}/healthz") == (200, "ok\n")  # alive all the same
        assert await bot.stop() == 0


# --------------------------------------------------------------------------- logs


def test_load_progress_speaks_every_few_seconds_and_at_the_end_of_a_long_load() -> None:
    lines: list[str] = []
    now = [0.0]
    progress = LoadProgress(lines.append, every=5.0, clock=lambda: now[0])
    for done, at in ((0, 0.0), (500, 2.0), (1500, 5.5), (2000, 7.0), (9000, 10.6), (10000, 11)):
        now[0] = at
        progress(done, 10000)
    assert lines == [
        "loading: 1,500 of 10,000 files",
        "loading: 9,000 of 10,000 files",
        "loading: 10,000 of 10,000 files",
    ]
    short: list[str] = []
    quick = LoadProgress(short.append, every=5.0, clock=lambda: 1.0)
    quick(0, 10)
    quick(10, 10)
    assert short == []  # a load shorter than the interval says nothing


def test_json_logs_one_object_per_line_and_the_level_from_the_environment(
    tmp_path: Path,
) -> None:
    room_seeds = tmp_path / "seeds"
    room_seeds.mkdir()
    story_file(room_seeds, "top", 95, ["AI"])
    config = tmp_path / "newsdesk.yaml"
    config.write_text(
        "seeds: seeds\ndatabase: nd.db\nchannels:\n  - {id: 1, name: news, schedule: '0 9 * * *'}\n"
    )
    argv = [sys.executable, "-m", "bot", "--config", str(config), "--log-format", "json"]
    done = subprocess.run(
        [*argv, "run", "--dry-run", "--now"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert entries and all(set(e) == {"ts", "level", "logger", "message"} for e in entries)
    assert {
        "level": "INFO",
        "logger": "bot",
        "message": ("dry run: posts are printed here; nothing is sent to Discord"),
    } in [{k: e[k] for k in ("level", "logger", "message")} for e in entries]
    quiet = subprocess.run(
        [*argv, "run", "--dry-run", "--now"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "NEWSDESK_LOG_LEVEL": "warning"},
    )  # fmt: skip
    assert (quiet.returncode, quiet.stderr) == (0, "")


# --------------------------------------------------------------------------- new files


def test_which_changes_load_files_and_which_the_whole_folder(tmp_path: Path) -> None:
    root = tmp_path / "seeds"
    (root / "sub").mkdir(parents=True)
    a = story_file(root, "a", 90, ["AI"])
    b = story_file(root / "sub", "b", 90, ["AI"])
    (root / ".a.md.swp").write_text("x")
    (root / "notes.json").write_text("{}")
    changes = {
        (Change.added, str(a)),
        (Change.modified, str(b)),
        (Change.modified, str(a)),
        (Change.added, str(root / ".a.md.swp")),
        (Change.added, str(root / "notes.json")),
    }
    assert article_paths(root, changes) == [a, b]
    assert article_paths(root, {(Change.added, str(root / ".a.md.swp"))}) == []
    assert article_paths(root, {(Change.added, str(a)), (Change.deleted, str(b))}) is None
    assert article_paths(root, {(Change.added, str(root / "sub"))}) is None


async def test_the_watcher_loads_what_is_written_and_stops_when_asked(tmp_path: Path) -> None:
    root = tmp_path / "seeds"
    root.mkdir()
    batches: list[list[Path] | None] = []
    stop = asyncio.Event()

    async def load(paths: list[Path] | None) -> None:
        batches.append(paths)

    watcher = asyncio.create_task(watch_folder(root, load, stop))
    written = root / "new.md"
    await write_until_seen(lambda: story_file(root, "new", 90, ["AI"]), lambda: bool(batches))
    seen = len(batches)  # one, or more if it was written again as the watch saw it
    assert batches == [[written]] * seen
    written.unlink()
    await until(lambda: _when(asyncio.sleep(0, batches), lambda b: b[-1] is None))
    assert batches == [[written]] * (len(batches) - 1) + [None]
    stop.set()
    await asyncio.wait_for(watcher, WAIT)


async def test_a_file_written_while_the_bot_runs_is_posted_without_a_rescan(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "news")
    config = room.write_config([{"name": "news", "schedule": {"every": "1s"}}], rescan="off")
    async with BotProcess(config) as bot:
        await wait_for_log(bot, "route(s) ready", WAIT)
        await write_until_seen(
            lambda: story_file(room.seeds, "fresh", 90, ["AI"]), lambda: "1 loaded" in bot.log()
        )
        await until(lambda: _posted(fake, room))
        assert room.titles("news") == ["Story fresh"]
        assert await bot.stop() == 0


async def test_a_dry_run_serves_health_and_metrics_too(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    story_file(seeds, "top", 95, ["AI"])
    config = tmp_path / "newsdesk.yaml"
    config.write_text(
        "seeds: seeds\ndatabase: nd.db\nrescan: off\nhttp: {listen: '127.0.0.1:0'}\n"
        "channels:\n  - {id: 1, name: news, schedule: '0 9 * * *'}\n"
    )
    log = tmp_path / "dry.log"
    with log.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(config), "run", "--dry-run",
            stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:

        async def listening() -> str | None:
            text = log.read_text()
            return listener(text) if LISTENING.search(text) else None

        base = await until(listening)
        assert await until(lambda: _is(get(f"{base}/readyz"), (200, "ready\n")))
        status, text = await get(f"{base}/metrics")
        assert status == 200
        page = samples(text)
        assert (
            page["newsdesk_stories_stored"],
            page['newsdesk_stories_queued{channel="news"}'],
        ) == (
            1.0,
            1.0,
        )
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), WAIT) == 0


# --------------------------------------------------------------------------- reload


async def test_sighup_applies_a_new_config_and_refuses_a_broken_one(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    room = Newsroom.create(fake, tmp_path, "old", "new")
    for n in range(4):
        story_file(room.seeds, f"s{n}", 90 - n, ["AI"])
    config = room.write_config([{"name": "old", "schedule": {"every": "1s"}}])
    async with BotProcess(config) as bot:
        await until(lambda: _count(fake, room, "old", 1))
        # "old" goes, "new" comes: a reload, no restart
        room.write_config([{"name": "new", "schedule": {"every": "1s"}}])
        assert bot.proc is not None
        bot.proc.send_signal(signal.SIGHUP)
        await wait_for_log(bot, "config reloaded from", WAIT)
        await until(lambda: _count(fake, room, "new", 2))
        posted_old = len(fake.messages(room.channels["old"]))
        await until(lambda: _count(fake, room, "new", 3))  # a second more of runs
        assert len(fake.messages(room.channels["old"])) == posted_old  # its job is gone
        assert "added #new; removed #old" in bot.log()

        # a broken config is refused, every error logged, and the bot runs on
        config.write_text(config.read_text().replace("rescan:", "rescn:"))
        bot.proc.send_signal(signal.SIGHUP)
        await wait_for_log(bot, "still running with the config as it was", WAIT)
        assert "config reload refused: " in bot.log()
        assert "rescn: unknown key (did you mean rescan?)" in bot.log()
        await until(lambda: _count(fake, room, "new", 4))
        assert await bot.stop() == 0


async def _count(fake: FakeDiscord, room: Newsroom, name: str, count: int) -> bool | None:
    return len(fake.messages(room.channels[name])) >= count or None
