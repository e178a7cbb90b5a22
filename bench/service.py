"""The running service's figures: `newsdesk run --dry-run` over a copy of the loaded store,
with the HTTP listener on, as an operator would run it.

- start-up: from the process's start until every route is scheduled (the first load,
  an incremental rescan of the whole corpus, included);
- peak RSS once idle;
- /metrics: the time a scrape takes;
- freshness: a file written into the seeds folder → its story stored (and so queued and
  searchable, in the same transaction), seen through /metrics.
"""

from __future__ import annotations

import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench import corpus

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 900.0
SCRAPES = 50
FRESH_FILES = {"tiny": 5}  # other sizes: 20
POLL = 0.02  # seconds between /metrics reads while waiting for a fresh story


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


class DryRun:
    """`python -m bot run --dry-run` with an HTTP listener on a free port."""

    def __init__(self, work: Path, name: str, db: Path, seeds: Path, **top: Any) -> None:
        self.log = work / f"{name}.log"
        self.config = work / f"{name}.yaml"
        routes = [
            {"id": 900 + n, "name": f"news-{n}", "schedule": {"every": "1h"}, "topics": [topic]}
            for n, topic in enumerate(("AI", "Robotics", "Privacy"))
        ]
        config = {
            "database": str(db),
            "seeds": str(seeds),
            "rescan": "off",
            "http": {"listen": "127.0.0.1:0"},
            "channels": routes,
            **top,
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.started = time.monotonic()
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "--config", str(self.config), "run", "--dry-run"],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        self.base = ""

    def wait_ready(self) -> float | str:
        """Seconds until every route is scheduled, or why it never was."""
        deadline = self.started + TIMEOUT
        while True:
            text = self.log.read_text(errors="replace")
            if text.count("next run") >= 3 and "http: listening on" in text:
                found = re.search(r"http: listening on (127\.0\.0\.1:\d+)", text)
                assert found is not None
                self.base = f"http://{found.group(1)}"
                return time.monotonic() - self.started
            if self.process.poll() is not None or time.monotonic() > deadline:
                return f"the bot did not settle ({text[-600:]!r})"
            time.sleep(0.05)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.base}/metrics", timeout=30) as answer:
            return str(answer.read().decode())

    def stored(self) -> int:
        found = re.search(r"^newsdesk_stories_stored (\S+)$", self.metrics(), re.M)
        assert found is not None
        return int(float(found.group(1)))

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _copy(db: Path, to: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{to}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(db, to)
    return to


def run_service(
    db: Path, folder: Path, work: Path, stored: int, size: str, settle: float
) -> dict[str, Any]:
    """Every figure of this module, as facts; a 'problem' key if the bot never settled."""
    facts: dict[str, Any] = {"stored": stored}
    bot = DryRun(work, "service", _copy(db, work / "service.db"), folder)
    try:
        ready = bot.wait_ready()
        if isinstance(ready, str):
            return {"problem": ready}
        facts["startup_s"] = ready
        time.sleep(settle)
        facts["peak_mb"] = _status_kb(bot.process.pid, "VmHWM") / 1024
        facts["rss_mb"] = _status_kb(bot.process.pid, "VmRSS") / 1024
        scrapes = []
        for _ in range(SCRAPES):
            started = time.perf_counter()
            bot.metrics()
            scrapes.append(time.perf_counter() - started)
        facts["metrics_ms"] = sorted(s * 1000 for s in scrapes)
    finally:
        bot.stop()

    # Freshness: a bot watching a folder of its own over the same store (files written
    # into the cached corpus would change it for the next run).
    fresh = work / "fresh-seeds"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    bot = DryRun(work, "fresh", _copy(db, work / "fresh.db"), fresh)
    try:
        ready = bot.wait_ready()
        if isinstance(ready, str):
            return {"problem": ready}
        waits = []
        count = bot.stored()
        for n in range(FRESH_FILES.get(size, 20)):
            text = corpus.render(10_000_000 + n, 3)
            hidden = fresh / f".{n}.tmp"
            hidden.write_text(text, encoding="utf-8")
            started = time.perf_counter()
            hidden.rename(fresh / f"fresh-{n}.txt")  # as a sync tool or an editor lands it
            while bot.stored() == count:
                if time.perf_counter() - started > 60:
                    return {"problem": f"file {n} was never loaded"}
                time.sleep(POLL)
            waits.append(time.perf_counter() - started)
            count += 1
        facts["fresh_s"] = sorted(waits)
    finally:
        bot.stop()
    return facts


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted ``values``."""
    return values[min(len(values) - 1, max(0, round(share * len(values) + 0.5) - 1))]


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), percentile(values, 0.95), max(values)
