"""A digest route in `run --dry-run --now` and `preview --channel`: the digest as it would be
posted, and nothing recorded."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.config.settings import load_settings
from bot.delivery.deliverer import digest_post
from bot.store import SQLiteStore
from bot.store.records import digest_nonce
from tests.e2e_support import article_of, story_file

DIGEST = 4004


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for slug, quality in (("a", 70), ("b", 95), ("c", 80), ("d", 60)):
        story_file(seeds, slug, quality, ["AI"])
    story_file(seeds, "s", 99, ["Sports"])
    data = {
        "database": str(tmp_path / "nd.db"),
        "seeds": str(seeds),
        "rescan": "off",
        "channels": [
            {
                "id": DIGEST,
                "name": "digest",
                "schedule": "0 9 * * *",
                "topics": ["AI"],
                "digest": {"top": 3},
                "mention_role": 777,
            },
            {"id": 5005, "name": "single", "schedule": {"every": "1h"}, "topics": ["AI"]},
        ],
    }
    path = tmp_path / "newsdesk.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return path


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def expected_payload(config: Path, slugs: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The digest of these stories as the bot builds it, at the time the payload shows."""
    route = load_settings(config).route("digest")
    assert route is not None
    articles = [article_of(config.parent / "seeds" / f"{slug}.md") for slug in slugs]
    when = datetime.fromisoformat(payload["embeds"][0]["timestamp"])
    nonce = digest_nonce(DIGEST, [a.id for a in articles])
    return digest_post(route, articles, nonce, int(when.timestamp())).to_payload()


async def recorded(db: Path) -> tuple[list[Any], list[Any]]:
    store = await SQLiteStore.open(str(db))
    try:
        return await store.deliveries(), await store.digests()
    finally:
        await store.close()


def test_a_dry_run_prints_the_digest_once_exactly_and_records_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, capsys, "load")[0] == 0
    before = int(datetime.now(UTC).timestamp())
    code, out, _ = run(config, capsys, "run", "--dry-run", "--now", "--json")
    after = datetime.now(UTC).timestamp()
    assert code == 0
    docs = [json.loads(line) for line in out.splitlines()]
    assert [(d["channel"], d["channel_id"]) for d in docs] == [("digest", DIGEST), ("single", 5005)]
    digest = docs[0]
    assert digest["payload"] == expected_payload(config, "bca", digest["payload"])
    assert digest["nonce"] == digest_nonce(
        DIGEST, [article_of(config.parent / "seeds" / f"{s}.md").id for s in "bca"]
    )
    assert digest["payload"]["content"] == "<@&777>"
    stamp = datetime.fromisoformat(digest["payload"]["embeds"][0]["timestamp"]).timestamp()
    assert before <= stamp <= after
    assert asyncio.run(recorded(config.parent / "nd.db")) == ([], [])

    code, out, _ = run(config, capsys, "run", "--dry-run", "--now")
    assert code == 0
    text = out.split("→ #single")[0]
    assert "→ #digest\n<@&777>\n■ Top stories\n" in text
    assert (
        "  1. [Story b](https://news.example.com/b) — news.example.com · AI\n"
        "  2. [Story c](https://news.example.com/c) — news.example.com · AI\n"
        "  3. [Story a](https://news.example.com/a) — news.example.com · AI\n"
    ) in text
    assert "  3 stories · digest dg" in text


def test_preview_channel_shows_the_next_digest_or_post(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, capsys, "load")[0] == 0
    code, out, err = run(config, capsys, "preview", "--channel", "digest", "--json")
    assert (code, err) == (0, "")
    payload = json.loads(out)
    assert payload == expected_payload(config, "bca", payload)

    code, out, err = run(config, capsys, "preview", "--channel", "digest")
    assert (code, err) == (0, "")
    assert out.startswith("─" * 88 + "\n<@&777>\n■ Top stories\n  1. [Story b](")

    code, out, err = run(config, capsys, "preview", "--channel", "single")
    assert (code, err) == (0, "")
    assert "■ Story b\n  https://news.example.com/b\n" in out
    assert asyncio.run(recorded(config.parent / "nd.db")) == ([], [])

    assert run(config, capsys, "preview") == (
        2,
        "",
        "newsdesk: preview needs a story id, or --channel NAME for that channel's next post\n",
    )


def test_preview_of_a_digest_with_no_story_says_so(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in (config.parent / "seeds").glob("[abcd].md"):
        path.unlink()
    assert run(config, capsys, "load")[0] == 0
    assert run(config, capsys, "preview", "--channel", "digest") == (
        1,
        "",
        "newsdesk: #digest has no story for its next digest\n",
    )
