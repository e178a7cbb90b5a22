"""The load report counts the stories merged into another story's event."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.ingest.loader import load_paths
from bot.store import SQLiteStore


async def test_the_load_report_counts_merges(
    tmp_path: Path, store: SQLiteStore, write_article: Callable[..., Path]
) -> None:
    seeds = tmp_path / "seeds"
    write_article(
        seeds, "a.md", title="US to track flyers with facial recognition at 20 airports",
        publishedDateTime="2026-03-02T09:00:00Z", quality=60,
        webUrl="https://a.example/flyers",
    )  # fmt: skip
    write_article(
        seeds, "b.md", title="US to track passengers with facial recognition at 20 airports",
        publishedDateTime="2026-03-02T15:00:00Z", quality=70,
        webUrl="https://b.example/passengers",
    )  # fmt: skip
    write_article(
        seeds, "c.md", title="Airports get face scanners", quality=40,
        publishedDateTime="2026-03-20T09:00:00Z", webUrl="https://c.example/scanners",
        related=[{"title": "US to track flyers", "webUrl": "https://a.example/flyers/"}],
    )  # fmt: skip
    write_article(seeds, "d.md", title="Something else entirely", quality=90)
    report = await load_paths(store, [seeds], workers=1)
    assert report.summary() == (
        "4 loaded, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 0 withdrawn,"
        " 2 merged into another story's event"
    )
    again = await load_paths(store, [seeds], workers=1)
    assert again.summary() == (
        "0 loaded, 0 updated, 4 unchanged, 0 duplicates, 0 rejected, 0 withdrawn"
    )
