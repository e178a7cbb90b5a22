"""`newsdesk load` when it is killed, or when the database cannot take the load."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import yaml

import bot.cli
from bench.corpus import generate
from bot.store import SQLiteStore, open_store

REPO = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, db: Path) -> Path:
    config = tmp_path / "newsdesk.yaml"
    config.write_text(yaml.safe_dump({"database": str(db), "seeds": str(tmp_path)}))
    return config


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (state, ppid, …), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rpartition(")")[2].split()


def children_of(parent: int) -> dict[int, tuple[str, str]]:
    """The processes whose parent is ``parent``: {pid: (start time, command line)}."""
    found: dict[int, tuple[str, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None or int(fields[1]) != parent:
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found[int(entry)] = (fields[19], command)  # field 22 of stat: the start time
    return found


def running(pid: int, started: str) -> bool:
    """Whether that process (not a later one with its pid) exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[19] == started and fields[0] != "Z"


def kind(command: str) -> str:
    if "multiprocessing.spawn import spawn_main" in command:
        return "worker"
    if "multiprocessing.resource_tracker import main" in command:
        return "resource tracker"
    return command


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class BigLoads:
    """`python -m bot load` of 2,000 generated files, over the 400 that start worker
    processes, with two workers; whatever a test leaves running is killed after it."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.corpus = tmp_path / "corpus"
        generate(self.corpus, 2000)
        self.config = write_config(tmp_path, tmp_path / "newsdesk.db")
        self.loads: list[subprocess.Popen[str]] = []
        self.children: dict[int, tuple[str, str]] = {}

    def start(self, **popen: Any) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "bot", "--config", str(self.config), "load"]
        load = subprocess.Popen(
            [*argv, str(self.corpus), "--workers", "2"],
            cwd=REPO,
            text=True,
            # Ctrl-C's default action, as a terminal gives it: a test run started in the
            # background (`cmd &` in a script) hands its children SIGINT ignored, and
            # Python then never raises KeyboardInterrupt
            preexec_fn=_default_sigint,
            **popen,
        )
        self.loads.append(load)
        return load

    def wait_for_workers(self, load: subprocess.Popen[str]) -> list[int]:
        """The pids of the load's two workers, as soon as both exist."""
        deadline = time.monotonic() + 60
        while True:
            children = self.children_now(load)
            workers = [pid for pid, (_, command) in children.items() if kind(command) == "worker"]
            if len(workers) == 2:
                break
            assert load.poll() is None, "the load ended before both workers were seen"
            assert time.monotonic() < deadline, "no two workers after 60 s"
            time.sleep(0.02)
        return workers

    def children_now(self, load: subprocess.Popen[str]) -> dict[int, tuple[str, str]]:
        found = children_of(load.pid)
        self.children.update(found)
        return found

    def cleanup(self) -> None:
        for load in self.loads:
            if load.poll() is None:
                load.kill()
                load.wait()
        for pid, (started, _) in self.children.items():
            if running(pid, started):
                os.kill(pid, signal.SIGKILL)


def wait_until_gone(children: dict[int, tuple[str, str]], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while left := [pid for pid, (started, _) in children.items() if running(pid, started)]:
        assert time.monotonic() < deadline, f"still running after {seconds} s: {left}"
        time.sleep(0.05)


@pytest.fixture
def big_loads(tmp_path: Path) -> Iterator[BigLoads]:
    loads = BigLoads(tmp_path)
    try:
        yield loads
    finally:
        loads.cleanup()


def test_parse_workers_end_within_seconds_when_the_load_is_killed(big_loads: BigLoads) -> None:
    load = big_loads.start(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    big_loads.wait_for_workers(load)
    load.send_signal(signal.SIGSTOP)  # held mid-load: it cannot end on its own now
    children = big_loads.children_now(load)  # the two workers and multiprocessing's tracker
    load.kill()
    assert load.wait(timeout=10) == -signal.SIGKILL
    wait_until_gone(children, 10)
    assert sorted(kind(command) for _, command in children.values()) == [
        "resource tracker",
        "worker",
        "worker",
    ]


def test_ctrl_c_reaching_the_parse_workers_changes_nothing(big_loads: BigLoads) -> None:
    load = big_loads.start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for worker in big_loads.wait_for_workers(load):
        os.kill(worker, signal.SIGINT)  # a worker dying of it broke the pool
    out, err = load.communicate(timeout=120)
    assert (load.returncode, out) == (
        0,
        "1976 loaded, 0 updated, 0 unchanged, 24 duplicates, 0 rejected, 0 withdrawn\n",
    )
    assert "Traceback" not in err


def test_ctrl_c_stops_a_load_quietly_with_exit_130_and_its_workers_end(
    big_loads: BigLoads, tmp_path: Path
) -> None:
    err = tmp_path / "stderr"
    with err.open("w") as stderr:  # a file: a worker left behind would hold a pipe open
        # its own process group, as a terminal gives a command
        load = big_loads.start(stdout=subprocess.PIPE, stderr=stderr, start_new_session=True)
    big_loads.wait_for_workers(load)
    children = big_loads.children_now(load)
    os.killpg(load.pid, signal.SIGINT)  # Ctrl-C: to every process of the group
    out, _ = load.communicate(timeout=30)
    wait_until_gone(children, 10)
    # no traceback of a worker interrupted mid-import, no "Future exception was never
    # retrieved" of its broken pool
    assert (load.returncode, out, err.read_text()) == (130, "", "")


class Desk:
    """A config and a database in tmp_path, and 40 article files; ``load`` runs the CLI
    in-process with the store that ``open_store`` gives."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.db = tmp_path / "newsdesk.db"
        self.corpus = tmp_path / "corpus"
        generate(self.corpus, 40)  # none a duplicate (the 46th is)
        self.config = write_config(tmp_path, self.db)
        asyncio.run(_create(self.db))  # the schema, as a first run leaves it

    def load(self) -> tuple[int, str, str]:
        code = bot.cli.main(["--config", str(self.config), "load", str(self.corpus)])
        out, err = self.capsys.readouterr()
        return code, out, err

    def stored(self) -> tuple[int, int]:
        with closing(sqlite3.connect(self.db)) as db:
            return (
                db.execute("SELECT count(*) FROM articles").fetchone()[0],
                db.execute("SELECT count(*) FROM files").fetchone()[0],
            )


async def _create(path: Path) -> None:
    store = await SQLiteStore.open(str(path))
    await store.close()


@pytest.fixture
def desk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Desk:
    return Desk(tmp_path, capsys)


def test_a_full_disk_during_a_load_is_named_with_the_path_and_exits_2(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:

    async def with_a_full_disk(path: str, read_only: bool = False) -> SQLiteStore:
        store = await SQLiteStore.open(path)
        # SQLite's own bound on the file: a write past it fails as a full disk does
        # (SQLITE_FULL, "database or disk is full"), two 16 KiB pages from here
        pages = (await store._one("PRAGMA page_count"))[0]
        await store._db.execute(f"PRAGMA max_page_count = {pages + 2}")
        return store

    monkeypatch.setattr(bot.cli, "open_store", with_a_full_disk)
    assert desk.load() == (
        2,
        "",
        "newsdesk: database error: cannot store the loaded articles:"
        f" the disk holding {desk.db} is full (database or disk is full)\n",
    )
    assert desk.stored() == (0, 0)  # the batch was rolled back whole

    monkeypatch.setattr(bot.cli, "open_store", open_store)  # room on the disk again
    assert desk.load() == (
        0,
        "40 loaded, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 0 withdrawn\n",
        "",
    )
    assert desk.stored() == (40, 40)


def test_a_read_only_database_during_a_load_is_named_with_the_path_and_exits_2(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def read_only(path: str, read_only: bool = False) -> SQLiteStore:
        # opened read-only, as SQLite opens a file it may not write (chmod would not
        # stop root, who runs the tests in CI)
        db = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        return SQLiteStore(db, path)

    monkeypatch.setattr(bot.cli, "open_store", read_only)
    assert desk.load() == (
        2,
        "",
        "newsdesk: database error: cannot store the loaded articles:"
        f" {desk.db} is read-only (attempt to write a readonly database)\n",
    )
    assert desk.stored() == (0, 0)


def test_a_locked_database_stops_a_load_with_exit_2_naming_the_path(desk: Desk) -> None:
    # Another process holds the write lock; the load waits for it (5 s), then gives up.
    with closing(sqlite3.connect(desk.db, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(desk.config), "load", str(desk.corpus)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        waited = time.monotonic() - started
        other.execute("ROLLBACK")
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "newsdesk: database error: cannot store the loaded articles:"
        f" {desk.db} is locked by another process (database is locked; waited 5 s)\n",
    )
    assert 5 <= waited < 30
    assert desk.stored() == (0, 0)
