"""`newsdesk load` when it is killed, or when the database cannot take the load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.corpus import generate

REPO = Path(__file__).resolve().parent.parent


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


def test_parse_workers_end_within_seconds_when_the_load_is_killed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    generate(corpus, 2000)  # well over the 400 files that start worker processes
    config = write_config(tmp_path, tmp_path / "newsdesk.db")
    argv = [sys.executable, "-m", "bot", "--config", str(config), "load", str(corpus)]
    load = subprocess.Popen(
        [*argv, "--workers", "2"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    children: dict[int, tuple[str, str]] = {}
    try:
        deadline = time.monotonic() + 60
        while sum("spawn_main" in command for _, command in children.values()) < 2:
            assert load.poll() is None, "the load ended before both workers were seen"
            assert time.monotonic() < deadline, f"no two workers after 60 s: {children}"
            time.sleep(0.02)
            children = children_of(load.pid)
        load.send_signal(signal.SIGSTOP)  # held mid-load: it cannot end on its own now
        children = children_of(load.pid)  # the two workers and multiprocessing's tracker
        load.kill()
        assert load.wait(timeout=10) == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while left := [pid for pid, (started, _) in children.items() if running(pid, started)]:
            assert time.monotonic() < deadline, f"still running 10 s after the kill: {left}"
            time.sleep(0.05)
        assert sorted(kind(command) for _, command in children.values()) == [
            "resource tracker",
            "worker",
            "worker",
        ]
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
        for pid, (started, _) in children.items():  # a failed test leaves nothing behind
            if running(pid, started):
                os.kill(pid, signal.SIGKILL)
