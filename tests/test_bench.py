"""Every benchmark runs at tiny size, so none can rot. Facts only: no test asserts a time."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import corpus
from bench.run import Report, render, run_all

FIGURES = (
    "load",
    "baseline",
    "ratio",
    "reload",
    "reload_edited",
    "search",
    "search_long",
    "search_common",
    "complete_topics",
    "complete_articles",
    "complete_articles_long",
    "complete_articles_common",
    "next_story",
    "burst_rate",
    "burst_lost",
    "burst_duplicated",
    "burst_429",
    "pg_load",
    "pg_reload",
    "pg_search",
    "pg_search_common",
    "pg_next_story",
    "rss",
    "startup",
    "metrics",
    "freshness",
)
STATUSES = {"met", "**NOT met**", "not measured", "—"}


def table_rows(table: str) -> list[list[str]]:
    rows = [line.strip("|").split(" | ") for line in table.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # without the header


def test_generator_is_deterministic(tmp_path: Path) -> None:
    first = corpus.generate(tmp_path / "a", 120, seed=7)
    second = corpus.generate(tmp_path / "b", 120, seed=7)
    assert first == second
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.txt"))
    assert len(files) == 120
    for path in files:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()
    assert corpus.render(7, 3, edit=1) != corpus.render(7, 3)


async def test_tiny_run_has_every_figure_and_correct_facts(tmp_path: Path) -> None:
    report: Report = await run_all("tiny", repeat=1, cache=tmp_path)

    assert [f.key for f in report.figures] == list(FIGURES)
    rows = table_rows(render(report))
    assert [row[0] for row in rows] == [f.name for f in report.figures]
    assert all(len(row) == 4 and row[3] in STATUSES for row in rows)
    assert report.machine.split(",")[0].endswith("cores")

    manifest = report.manifest
    counts = report.figure("load").facts["counts"]
    assert counts == {"loaded": manifest.unique, "duplicates": manifest.duplicates, "rejected": 0}
    assert report.figure("search").facts["stored"] == manifest.unique
    assert report.figure("pg_search").facts["stored"] == manifest.unique  # loaded in full
    assert len(report.figure("pg_load").facts["rates"]) == 1
    pg_reload = report.figure("pg_reload").facts["counts"]  # every file known, none read again
    assert pg_reload == {
        "unchanged": manifest.unique, "duplicates": manifest.duplicates, "withdrawn": 0
    }  # fmt: skip
    reload = report.figure("reload").facts["counts"]
    assert reload.get("loaded", 0) == reload.get("updated", 0) == reload.get("rejected", 0) == 0
    assert reload["unchanged"] + reload.get("duplicates", 0) == manifest.count
    edited = report.figure("reload_edited").facts
    assert edited["counts"]["updated"] == edited["edited"] > 0

    burst = report.figure("burst_lost")
    if burst.met is None:
        assert burst.value.startswith("not measured")
    else:
        for run in burst.facts["runs"]:
            assert run["lost"] == 0 and run["duplicated"] == 0
            assert run["messages"] == run["sent_outcomes"] == run["routes"]

    service = report.figure("rss").facts
    assert service["peak_mb"] > 0 and service["startup_s"] > 0
    assert len(service["metrics_ms"]) == 50
    assert len(service["fresh_s"]) == 5  # every fresh file was loaded while the bot ran

    # A part alone, over the store the full run left: only its figures.
    queries = await run_all("tiny", repeat=1, cache=tmp_path, parts=["queries"])
    assert [f.key for f in queries.figures] == [
        "search", "search_long", "search_common", "complete_topics", "complete_articles",
        "complete_articles_long", "complete_articles_common", "next_story",
    ]  # fmt: skip
    assert queries.figure("search").facts["stored"] == manifest.unique


def test_at_1m_goals_stated_for_100k_are_shown_not_judged() -> None:
    from bench.run import Figure, goals_for_size

    def figures() -> list[Figure]:
        return [
            Figure("reload", "2. reload", "11.80 s", "≤ 2 s", False),
            Figure("search", "4. /search", "9 / 34 / 62 ms", "p95 ≤ 30 ms", False),
            Figure("burst_lost", "7b. lost", "0", "0", True),
        ]

    at_1m = figures()
    goals_for_size(at_1m, "1m")
    assert [(f.goal, f.status) for f in at_1m] == [
        ("≤ 2 s at 100k", "—"), ("p95 ≤ 30 ms", "**NOT met**"), ("0", "met"),
    ]  # fmt: skip
    at_100k = figures()
    goals_for_size(at_100k, "100k")
    assert [f.status for f in at_100k] == ["**NOT met**", "**NOT met**", "met"]


async def test_the_linking_bench_loads_in_alternating_pairs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.linking import run

    loads = await run("tiny", 2, tmp_path)
    assert [(linking, merged) for linking, _, _, merged in loads] == [
        (True, 0), (False, 0), (False, 0), (True, 0)
    ]  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        "pair 1 with linking", "pair 1      without", "pair 2      without",
        "pair 2 with linking", "rate with linking", "rate lost to linking, per pair",
        "main-process CPU added by linking, per pair",
    ]  # fmt: skip
