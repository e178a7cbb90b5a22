"""What event linking costs a full load: ``python -m bench.linking [--size 100k]``.

Loads the benchmark corpus (generated and cached as ``bench.run`` does) into a new SQLite
store again and again, with event linking and without it in turn (without: the store's
linking step replaced by one that links nothing; the event keys are still computed and
stored), and prints each load's rate and the main process's CPU time, then per pair the
cost of linking: the rate lost, and the CPU added. On a shared machine the pairs, not
single loads, are what compare.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.run import OUT, SIZES, fresh_db, prepare_corpus, read_files
from bot.ingest.loader import find_files, load_paths
from bot.store import SQLiteStore, StoredArticle


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process, every thread
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _without_linking() -> Iterator[None]:
    linking = SQLiteStore._link_events

    async def link_nothing(
        self: SQLiteStore,
        fresh: list[tuple[int, StoredArticle]],
        updated: list[tuple[int, int | None, bytes | None]],
    ) -> dict[str, str]:
        return {}

    SQLiteStore._link_events = link_nothing  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        SQLiteStore._link_events = linking  # type: ignore[method-assign]


async def _load(folder: Path, db: Path) -> tuple[float, float, int]:
    """A full load of ``folder`` into a new store at ``db``: seconds, main-process CPU
    seconds, stories merged."""
    fresh_db(db)
    store = await SQLiteStore.open(str(db))
    try:
        cpu, started = _cpu(), time.perf_counter()
        report = await load_paths(store, [folder])
        return time.perf_counter() - started, _cpu() - cpu, report.counts["merged"]
    finally:
        await store.close()


async def run(size: str, pairs: int, cache: Path) -> list[tuple[bool, float, float, int]]:
    """Print and return each load: (with linking, rate, main-process CPU, merged)."""
    folder, manifest = prepare_corpus(size, cache)
    work = cache / f"work-{size}"
    work.mkdir(parents=True, exist_ok=True)
    read_files(find_files([folder]).files)  # every load then reads them from the page cache
    lost, added = [], []
    rates: dict[bool, list[float]] = {True: [], False: []}
    loads: list[tuple[bool, float, float, int]] = []
    for number in range(pairs):
        runs = {}
        for linking in (True, False) if number % 2 == 0 else (False, True):
            if linking:
                seconds, cpu, merged = await _load(folder, work / "linking.db")
            else:
                with _without_linking():
                    seconds, cpu, merged = await _load(folder, work / "linking.db")
            rate = manifest.count / seconds
            rates[linking].append(rate)
            runs[linking] = (rate, cpu)
            loads.append((linking, rate, cpu, merged))
            name = "with linking" if linking else "without"
            print(f"pair {number + 1} {name:>12}: {rate:7,.0f} art/s, main CPU {cpu:6.2f} s,"
                  f" {merged:,} merged", flush=True)  # fmt: skip
        lost.append(1 - runs[True][0] / runs[False][0])
        added.append(runs[True][1] / runs[False][1] - 1)

    def spread(values: list[float]) -> str:
        median = statistics.median(values)
        return f"median {median:+.1%} (from {min(values):+.1%} to {max(values):+.1%})"

    print(f"rate with linking: median {statistics.median(rates[True]):,.0f} art/s;"
          f" without: {statistics.median(rates[False]):,.0f} art/s")  # fmt: skip
    print(f"rate lost to linking, per pair: {spread(lost)}")
    print(f"main-process CPU added by linking, per pair: {spread(added)}")
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="100k")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=OUT)
    args = parser.parse_args()
    asyncio.run(run(args.size, args.pairs, args.cache))


if __name__ == "__main__":
    main()
