"""Shipped data: every article file under seeds/ parses cleanly, and the problems are listed."""

from __future__ import annotations

from pathlib import Path

from bot.ingest.frontmatter import ArticleError
from bot.ingest.loader import find_files
from bot.ingest.parsing import parse_article

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def test_every_seed_parses_without_warnings() -> None:
    files, unreadable, _ = find_files([SEEDS])
    assert unreadable == []
    assert files, f"no article files under {SEEDS}"

    problems = []
    for path in files:
        try:
            result = parse_article(Path(path).read_bytes())
        except ArticleError as exc:
            problems.append(f"{path}: {exc}")
            continue
        problems.extend(f"{path}: warning: {warning}" for warning in result.warnings)

    assert problems == [], "\n".join(problems)
