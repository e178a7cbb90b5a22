"""`newsdesk run`: the dry run and the start-up checks, through the real CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.ingest.parsing import parse_article
from bot.render.console import WIDTH
from bot.render.embeds import build_post
from bot.store import DeliveryState, SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "seeds" / "000_32d180ee26e58c63.txt"

CONFIG = """\
database: {db}
seeds: {seeds}
rescan: off
channels:
  - id: 11
    name: ai-news
    schedule: {{every: 30m}}
    topics: [ai]
  - id: 22
    name: pings
    schedule: "0 9 * * *"
    mention_role: 777
  - id: 33
    name: sports
    schedule: {{every: 1h}}
    topics: [Sports]
"""


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds / SEED.name)
    config = tmp_path / "newsdesk.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "data" / "nd.db", seeds=seeds))
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return config


def test_dry_run_now_prints_the_exact_payloads_and_writes_no_database(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(setup), "run", "--dry-run", "--now", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    article = parse_article(SEED.read_bytes()).article
    assert [(doc["channel"], doc["channel_id"]) for doc in lines] == [
        ("ai-news", 11),
        ("pings", 22),
    ]
    assert lines[0]["payload"] == build_post(article).to_payload()
    assert lines[1]["payload"] == build_post(article, mention_role=777).to_payload()
    assert not (setup.parent / "data" / "nd.db").exists()


def test_dry_run_text_is_readable(setup: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(setup), "run", "--dry-run", "--now"]) == 0
    out = capsys.readouterr().out
    assert (
        "→ #ai-news\n[The Verge]\n■ IBM will no longer offer, develop, or research facial "
        "recognition technology\n" in out
    )
    assert "  [Read on The Verge] https://www.theverge.com/2020/6/8/21284683/" in out
    assert out.count("→ #") == 2
    # Shown as Discord shows it: markdown escapes are not printed.
    assert "  IBM firmly opposes and will not condone uses of any [facial recognition]" in out


def test_a_dry_run_never_imports_discord_py(setup: Path) -> None:
    """discord.py and aiohttp are ≈ 20 MB of a dry run's memory; it must not need them."""
    code = (
        "import sys\n"
        "from bot.cli import main\n"
        f"assert main(['--config', {str(setup)!r}, 'run', '--dry-run', '--now']) == 0\n"
        "heavy = sorted(m for m in ('discord', 'aiohttp') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "■ " in done.stdout  # it did print a post


def test_malloc_tuning_leaves_the_environment_s_choice_alone() -> None:
    from bot.runtime.app import M_ARENA_MAX, M_MMAP_THRESHOLD, glibc_mallopt, tune_malloc

    calls: list[tuple[int, int]] = []

    def mallopt(param: int, value: int) -> int:
        calls.append((param, value))
        return 1

    tune_malloc({}, mallopt)
    assert calls == [(M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, 128 * 1024)]
    calls.clear()
    tune_malloc({"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "65536"}, mallopt)
    assert calls == []
    tune_malloc({}, None)  # no glibc: nothing to do
    if sys.platform == "linux":
        assert glibc_mallopt() is not None


def test_dry_run_never_changes_the_real_delivery_state(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = setup.parent / "data" / "nd.db"
    assert main(["--config", str(setup), "load"]) == 0
    article_id = parse_article(SEED.read_bytes()).article.id

    async def mark_sent() -> None:
        store = await SQLiteStore.open(str(db))
        await store.set_delivery(article_id, 11, DeliveryState.SENT, message_id=5)
        await store.close()

    asyncio.run(mark_sent())
    before = db.read_bytes()
    capsys.readouterr()

    assert main(["--config", str(setup), "run", "--dry-run", "--now", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [doc["channel"] for doc in lines] == ["pings"]  # already sent to ai-news

    async def deliveries() -> list[tuple[str, int, str]]:
        store = await SQLiteStore.open(str(db))
        rows = [(d.article_id, d.channel_id, d.state.value) for d in await store.deliveries()]
        await store.close()
        return rows

    assert asyncio.run(deliveries()) == [(article_id, 11, "sent")]
    assert db.read_bytes() == before


def test_run_without_a_token_explains_and_exits_2(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(setup), "run"]) == 2
    err = capsys.readouterr().err
    assert "DISCORD_TOKEN" in err
    assert "--dry-run" in err


def test_an_unreadable_token_file_is_a_config_error_without_the_token(
    setup: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = setup.parent / "token"
    setup.write_text(setup.read_text() + f"token_file: {secret}\n")
    assert main(["--config", str(setup), "run"]) == 2
    err = capsys.readouterr().err
    assert f"{setup}: token_file: cannot be read" in err


async def test_a_rescan_logs_a_broken_file_once_not_on_every_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.config.settings import Settings
    from bot.delivery.deliverer import Deliverer
    from bot.runtime.dry_run import ConsoleSender
    from bot.runtime.service import Newsdesk

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    broken = seeds / "broken.md"
    broken.write_text("no front matter\n")
    settings = Settings(path=tmp_path / "c.yaml", database=tmp_path / "d.db", seeds=seeds)
    store = await SQLiteStore.open(":memory:")
    try:
        desk = Newsdesk(settings, store, AsyncIOScheduler(),
                        Deliverer(store, ConsoleSender(), settings))  # fmt: skip
        for _ in range(3):
            await desk.rescan()
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warnings == [f"{broken}: no front matter: the first line must be ---"]
    finally:
        await store.close()


@pytest.mark.parametrize("tz", ["UTC0", "CET-1CEST,M3.5.0,M10.5.0/3"])
def test_a_posix_tz_variable_does_not_stop_the_bot(setup: Path, tz: str) -> None:
    # glibc reads these; tzlocal cannot name them (the scheduler used to ask it, and the
    # traceback left the store's thread running: the process never exited)
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"} | {"TZ": tz}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(setup), "run", "--dry-run", "--now"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    posted = done.stdout.count("IBM will no longer offer")  # to #ai-news and #pings
    assert (done.returncode, posted) == (0, 2), done.stderr


def test_a_database_folder_that_cannot_be_made_is_a_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    config = tmp_path / "newsdesk.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "file" / "data" / "nd.db", seeds=tmp_path))
    monkeypatch.setenv("DISCORD_TOKEN", "not-used")
    assert main(["--config", str(config), "run"]) == 2
    assert capsys.readouterr().err == (
        f"newsdesk: cannot open the database {tmp_path / 'file' / 'data' / 'nd.db'}:"
        f" {tmp_path / 'file'} is not a folder\n"
    )


def test_sigterm_while_a_dry_run_starts_leaves_no_copy_of_the_database(
    setup: Path, tmp_path: Path
) -> None:
    import time

    seeds = tmp_path / "seeds"
    for n in range(2000):
        (seeds / f"s{n}.md").write_text(f"---\ntitle: T{n}\nwebUrl: https://e.example/{n}\n---\n")
    assert main(["--config", str(setup), "load"]) == 0
    for n in range(2000, 4000):  # the dry run's first load has these to read
        (seeds / f"s{n}.md").write_text(f"---\ntitle: T{n}\nwebUrl: https://e.example/{n}\n---\n")
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"} | {"TMPDIR": str(scratch)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(setup), "run", "--dry-run"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(3000):
            if list(scratch.glob("newsdesk-snapshot-*/snapshot.db")):
                break
            time.sleep(0.01)
        else:
            pytest.fail("no copy of the database was made")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert (proc.returncode, list(scratch.iterdir())) == (0, []), err


async def test_the_rescan_job_never_loads_beside_a_load_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    import bot.ingest.loader
    import bot.runtime.service as service
    from bot.config.settings import Settings
    from bot.delivery.deliverer import Deliverer
    from bot.runtime.dry_run import ConsoleSender

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "a.md").write_text("---\ntitle: A\nwebUrl: https://e.example/a\n---\n")
    running, most, gate, entered = 0, 0, asyncio.Event(), asyncio.Event()
    real = bot.ingest.loader.load_paths  # what the service calls

    async def load_paths(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        entered.set()
        try:
            await gate.wait()
            return await real(*args, **kwargs)
        finally:
            running -= 1

    monkeypatch.setattr(service, "load_paths", load_paths)
    settings = Settings(path=tmp_path / "c.yaml", database=tmp_path / "d.db", seeds=seeds)
    store = await SQLiteStore.open(str(tmp_path / "d.db"))
    try:
        sender = ConsoleSender()
        desk = service.Newsdesk(
            settings, store, AsyncIOScheduler(), Deliverer(store, sender, settings)
        )
        first = asyncio.create_task(desk.safe_rescan())  # the start-up load
        await asyncio.wait_for(entered.wait(), 10)
        await asyncio.wait_for(desk.safe_rescan(), 10)  # the job fires meanwhile: skipped
        gate.set()
        await first
        assert (most, await store.article_count()) == (1, 1)
    finally:
        await store.close()


def test_dry_run_now_does_what_a_run_due_now_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    hour = datetime.now(UTC).hour
    quiet = f"{(hour - 1) % 24:02}:00-{(hour + 2) % 24:02}:00"  # now, with an hour's margin
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(SEED, seeds / SEED.name)
    config = tmp_path / "newsdesk.yaml"
    config.write_text(
        f"database: {tmp_path / 'nd.db'}\nseeds: {seeds}\nrescan: off\nchannels:\n"
        "  - {id: 11, name: reviewed, schedule: {every: 30m}, approval: true,"
        " review_channel: 99}\n"
        f"  - {{id: 22, name: night, schedule: {{every: 30m}}, quiet_hours: '{quiet}'}}\n"
        "  - {id: 33, name: day, schedule: {every: 30m}}\n"
    )
    assert main(["--config", str(config), "run", "--dry-run", "--now", "--json"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # a review request for the approval channel, nothing in its quiet hours, a post by day
    assert [(d.get("review"), d["channel_id"]) for d in docs] == [("reviewed", 11), (None, 33)]


@pytest.mark.parametrize("flags", [["--now"], ["--json"], ["--json", "--now"]])
def test_now_or_json_without_dry_run_is_a_usage_error(
    setup: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
) -> None:
    # with a token, the real bot would start (and post) in place of the dry run meant
    monkeypatch.setenv("DISCORD_TOKEN", "not-used")
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(setup), "run", *flags])
    flag = "--now" if "--now" in flags else "--json"
    error = f"{flag} needs --dry-run (no post is sent without it)"
    assert (exited.value.code, capsys.readouterr()) == (
        2,
        ("", f"{RUN_USAGE}newsdesk run: error: {error}\n"),
    )
    assert not (setup.parent / "data").exists()


RUN_USAGE = (
    "usage: newsdesk run [-h] [--dry-run] [--json] [--now] [--shard-ids 0,1]\n"
    "                    [--shard-count N] [--standby]\n"
)


@pytest.mark.parametrize(
    ("flags", "error"),
    [
        (
            ["--shard-ids", "0,4", "--shard-count", "4"],
            "--shard-ids/--shard-count: shard ids run from 0 to 3 (the shard count is 4), got 4",
        ),
        (
            ["--shard-ids", "1,0,1", "--shard-count", "4"],
            "--shard-ids/--shard-count: shard id 1 given twice",
        ),
        (
            ["--shard-count", "0"],
            "--shard-ids/--shard-count: the shard count must be between 1 and 65536, got 0",
        ),
        (
            ["--shard-ids", "0,1"],
            "--shard-ids needs --shard-count (how many shards the bot has in all)",
        ),
        (
            ["--shard-ids", "0;1", "--shard-count", "4"],
            "argument --shard-ids: expected shard ids separated by commas, like 0,1, got '0;1'",
        ),
        (
            ["--shard-ids", "-1", "--shard-count", "4"],
            "argument --shard-ids: expected shard ids separated by commas, like 0,1, got '-1'",
        ),
        (["--standby"], "--standby needs --shard-count (how many shards the bot has in all)"),
        (
            ["--standby", "--shard-ids", "0", "--shard-count", "4"],
            "--standby starts with no shard: give it --shard-count only",
        ),
    ],
)
def test_bad_shard_flags_are_a_usage_error(
    setup: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    error: str,
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "not-used")
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(setup), "run", *flags])
    assert (exited.value.code, capsys.readouterr()) == (
        2,
        ("", f"{RUN_USAGE}newsdesk run: error: {error}\n"),
    )
    assert not (setup.parent / "data").exists()


@pytest.mark.parametrize(
    ("flags", "shards"),
    [
        (["--shard-ids", "1", "--shard-count", "2"], "1 of 2"),
        (["--shard-count", "3"], "0, 1, 2 of 3"),
    ],
)
def test_a_dry_run_says_it_ignores_the_shards(
    setup: Path, capsys: pytest.CaptureFixture[str], flags: list[str], shards: str
) -> None:
    """It knows no guild, so it shows every route; the flags reach the settings."""
    assert main(["--config", str(setup), "run", "--dry-run", "--now", *flags]) == 0
    out, err = capsys.readouterr()
    assert out.count("→ #") == 2
    assert f"dry run: shards {shards} ignored; every route is shown\n" in err


def test_a_standby_on_a_sqlite_file_is_refused_with_what_to_do(
    setup: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "not-used")
    assert main(["--config", str(setup), "run", "--standby", "--shard-count", "4"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "newsdesk: a standby takes over the shards of other `newsdesk run` processes on the"
        " same database, and a SQLite file serves one: set `database: postgresql://…` (or"
        " NEWSDESK_DATABASE_URL), or run without --standby"
    )
    assert not (setup.parent / "data").exists()


def test_a_dry_run_whose_reader_goes_away_stops_quietly(
    tmp_path: Path, write_article: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeds = tmp_path / "seeds"
    for n in range(30):  # a post a second for longer than the test waits
        write_article(seeds, f"s{n:02}.md", topics=["AI"])
    config = tmp_path / "newsdesk.yaml"
    config.write_text(
        f"database: {tmp_path / 'nd.db'}\nseeds: {seeds}\nrescan: off\n"
        "channels:\n  - {id: 11, name: ai-news, schedule: {every: 1s}, topics: [ai]}\n"
    )
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    dry_run = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run", "--dry-run"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert dry_run.stdout is not None
        assert dry_run.stdout.readline() == "─" * WIDTH + "\n"  # the first post's rule
        dry_run.stdout.close()  # as `| head -1` does
        # it ends at its next post, not running on and logging a failed run every second
        _, logged = dry_run.communicate(timeout=30)
    finally:
        dry_run.kill()
        dry_run.wait()
    assert dry_run.returncode == 141
    assert [line for line in logged.splitlines() if " INFO " not in line] == []


def test_run_refuses_a_database_whose_run_lock_is_held(
    setup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.runtime.app import DatabaseInUse, hold_database

    db = tmp_path / "data" / "nd.db"
    held = hold_database(db)  # as a running bot holds it (another open file: flock conflicts)
    assert held is not None
    try:
        assert (tmp_path / "data" / "nd.db.lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(DatabaseInUse, match=rf"\(pid {os.getpid()}\)"):
            hold_database(db)
        monkeypatch.setenv("DISCORD_TOKEN", "not-used")
        assert main(["--config", str(setup), "run"]) == 2
        assert capsys.readouterr().err == (
            f"newsdesk: the database {db} is in use by another `newsdesk run` (pid"
            f" {os.getpid()}): one bot per database, or every forum story is posted twice."
            " Stop that one first, or give this one its own --db\n"
        )
        assert main(["--config", str(setup), "run", "--dry-run", "--now"]) == 0  # beside it
    finally:
        os.close(held)
    again = hold_database(db)  # released with the descriptor
    assert again is not None
    os.close(again)


async def test_the_database_watch_reports_a_deleted_then_a_replaced_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.runtime.app as app
    from bot.runtime.app import file_identity, watch_database

    db = tmp_path / "nd.db"
    db.write_bytes(b"")
    seen: list[str] = []
    with db.open("rb"):  # held open, as SQLite holds it: its inode cannot be reused
        identity = file_identity(db)
        db.unlink()
        await asyncio.wait_for(watch_database(db, identity, seen.append, every=0.01), 5)
        (tmp_path / "other.db").write_bytes(b"")
        os.replace(tmp_path / "other.db", db)
        await asyncio.wait_for(watch_database(db, identity, seen.append, every=0.01), 5)
    assert seen == ["deleted", "replaced by another file"]
    checked = asyncio.Queue[tuple[int, int] | None]()

    def counted(path: Path) -> tuple[int, int] | None:
        found = file_identity(path)
        checked.put_nowait(found)
        return found

    monkeypatch.setattr(app, "file_identity", counted)
    same = asyncio.ensure_future(watch_database(db, file_identity(db), seen.append, every=0.01))
    for _ in range(5):  # five checks of the same file all along: nothing to report
        assert await asyncio.wait_for(checked.get(), 5) == file_identity(db)
    assert not same.done()
    same.cancel()
    assert seen == ["deleted", "replaced by another file"]
