"""The `newsdesk` command line, run in-process: output, JSON documents and exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.config.checks import check
from bot.config.settings import load_settings
from bot.store import SQLiteStore, StoreError
from tests.store.schema_support import rewind

REPO = Path(__file__).resolve().parent.parent
ARTICLE_KEYS = {"id", "title", "url", "quality", "heat", "published_at", "topics", "provider"}
SEED_JSON: dict[str, Any] = {
    "id": "j80stkmk",
    "title": "IBM will no longer offer, develop, or research facial recognition technology",
    "url": "https://www.theverge.com/2020/6/8/21284683/"
    "ibm-no-longer-general-purpose-facial-recognition-analysis-software",
    "quality": 86,
    "heat": -1,
    "published_at": "2020-06-09T00:55:00+00:00",
    "topics": ["Computer Vision", "AI"],
    "provider": "The Verge",
}


class Newsdesk:
    """A config, a database and a seeds folder in tmp_path; ``run`` calls main()."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.seeds = tmp_path / "seeds"
        self.seeds.mkdir()
        self.db = tmp_path / "data" / "newsdesk.db"
        self.config = tmp_path / "newsdesk.yaml"
        channels = [
            {"id": 1001, "name": "ai-news", "schedule": {"every": "30m"}, "topics": ["ai"]},
            {"id": 1002, "name": "space", "schedule": "0 9 * * *", "topics": ["Space"]},
        ]
        data = {"database": str(self.db), "seeds": str(self.seeds), "channels": channels}
        self.config.write_text(yaml.safe_dump(data), encoding="utf-8")

    def run(self, *argv: str) -> tuple[int, str, str]:
        try:
            code = main(["--config", str(self.config), *argv])
        except SystemExit as exc:  # argparse
            assert isinstance(exc.code, int)
            code = exc.code
        out, err = self.capsys.readouterr()
        return code, out, err

    def run_json(self, *argv: str) -> dict[str, Any]:
        code, out, err = self.run(*argv, "--json")
        assert (code, err) == (0, "")
        answer: dict[str, Any] = json.loads(out)
        return answer


@pytest.fixture
def newsdesk(tmp_path: Path, capsys: pytest.CaptureFixture[str], seed_path: Path) -> Newsdesk:
    desk = Newsdesk(tmp_path, capsys)
    shutil.copy(seed_path, desk.seeds / seed_path.name)
    return desk


@pytest.fixture
def broken(newsdesk: Newsdesk) -> Path:
    path = newsdesk.seeds / "broken.txt"
    path.write_text("no front matter here\n")
    return path


def test_load_prints_the_summary(newsdesk: Newsdesk) -> None:
    assert newsdesk.run("load") == (
        0,
        "1 loaded, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 0 withdrawn\n",
        "",
    )
    assert newsdesk.run("load") == (
        0,
        "0 loaded, 0 updated, 1 unchanged, 0 duplicates, 0 rejected, 0 withdrawn\n",
        "",
    )


def test_load_reports_problems_on_stderr(
    newsdesk: Newsdesk, broken: Path, write_article: Callable[..., Path]
) -> None:
    warned = write_article(newsdesk.seeds, "warned.md", ampWebUrl="ftp://example.com/a")
    code, out, err = newsdesk.run("load")
    assert (code, out) == (
        0,
        "2 loaded, 0 updated, 0 unchanged, 0 duplicates, 1 rejected, 0 withdrawn\n",
    )
    assert err == (
        f"{broken.resolve()}: no front matter: the first line must be ---\n"
        f"{warned.resolve()}: warning: ampWebUrl: not an http(s) URL, dropped:"
        " 'ftp://example.com/a'\n"
    )


def test_load_strict_exits_1_when_a_file_is_rejected(newsdesk: Newsdesk, broken: Path) -> None:
    code, out, _ = newsdesk.run("load", "--strict")
    assert (code, out) == (
        1,
        "1 loaded, 0 updated, 0 unchanged, 0 duplicates, 1 rejected, 0 withdrawn\n",
    )


def test_load_strict_fails_again_while_the_file_stays_broken(
    newsdesk: Newsdesk, broken: Path
) -> None:
    newsdesk.run("load")
    code, out, err = newsdesk.run("load", "--strict")
    assert (code, out) == (
        1,
        "0 loaded, 0 updated, 1 unchanged, 0 duplicates, 1 rejected, 0 withdrawn\n",
    )
    assert err == f"{broken.resolve()}: no front matter: the first line must be ---\n"


def test_load_strict_passes_on_clean_files(newsdesk: Newsdesk) -> None:
    assert newsdesk.run("load", "--strict")[0] == 0


def test_load_a_missing_path(newsdesk: Newsdesk, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert newsdesk.run("load", str(missing)) == (
        0,
        "0 loaded, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 0 withdrawn\n",
        f"{missing}: no such file or folder\n",
    )
    assert newsdesk.run("load", "--strict", str(missing))[0] == 1


def test_load_strict_exits_1_when_a_folder_cannot_be_listed(
    newsdesk: Newsdesk, unlistable: Callable[[str], None]
) -> None:
    (newsdesk.seeds / "locked").mkdir()
    unlistable("locked")
    assert newsdesk.run("load", "--strict") == (
        1,
        "1 loaded, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 0 withdrawn\n",
        f"{(newsdesk.seeds / 'locked').resolve()}: Permission denied\n",
    )


def test_preview_with_an_unknown_channel_exits_2(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    assert newsdesk.run("preview", "j80stkmk", "--channel", "ai-newz") == (
        2,
        "",
        "newsdesk: no channel 'ai-newz' (channels: ai-news, space)\n",
    )
    code, out, err = newsdesk.run("preview", "j80stkmk", "--channel", "ai-news")
    assert (code, err) == (0, "")
    assert "IBM will no longer offer" in out


def test_preview_with_a_channel_says_which_filter_keeps_the_story_out(
    newsdesk: Newsdesk,
) -> None:
    config = yaml.safe_load(newsdesk.config.read_text())
    config["channels"][0] |= {"exclude_words": ["facial recognition"], "topic_roles": {"AI": 9}}
    newsdesk.config.write_text(yaml.safe_dump(config), encoding="utf-8")
    newsdesk.run("load")
    code, out, err = newsdesk.run("preview", "j80stkmk", "--channel", "ai-news")
    assert (code, err) == (0, "")
    assert out.endswith('not queued in #ai-news: excluded by exclude_words: "facial recognition"\n')
    code, out, err = newsdesk.run("preview", "j80stkmk", "--channel", "ai-news", "--json")
    payload = json.loads(out)
    assert (code, payload["content"], payload["allowed_mentions"]) == (
        0,
        "<@&9>",
        {"roles": [9], "parse": []},
    )
    assert err == (
        'newsdesk: not queued in #ai-news: excluded by exclude_words: "facial recognition"\n'
    )


def test_load_json(newsdesk: Newsdesk, broken: Path) -> None:
    code, out, _ = newsdesk.run("load", "--json")
    assert code == 0
    assert json.loads(out) == {
        "counts": {
            "loaded": 1,
            "updated": 0,
            "unchanged": 0,
            "duplicates": 0,
            "rejected": 1,
            "withdrawn": 0,
            "merged": 0,
        },
        "problems": [
            {"path": str(broken.resolve()), "reason": "no front matter: the first line must be ---"}
        ],
        "warnings": [],
    }


def test_search_json(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    one = {"total": 1, "capped": False, "articles": [SEED_JSON]}
    doc = newsdesk.run_json("search", "facial recognition")
    assert doc == one
    assert set(doc["articles"][0]) == ARTICLE_KEYS
    assert newsdesk.run_json("search", '("IBM facial*') == one
    assert newsdesk.run_json("search", '"') == {"total": 0, "capped": False, "articles": []}
    assert newsdesk.run_json("search", "--topic", "ai") == one


def test_search_an_unknown_topic_suggests_the_closest(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    assert newsdesk.run("search", "--topic", "computer visoin") == (
        1,
        "",
        "newsdesk: no topic 'computer visoin' (did you mean: Computer Vision?)\n",
    )
    assert newsdesk.run("search", "--topic", "space", "--json") == (
        1,
        "",
        "newsdesk: no topic 'space' (`newsdesk topics` lists them)\n",
    )


def test_search_json_says_when_its_total_is_capped(
    newsdesk: Newsdesk, write_article: Callable[..., Path]
) -> None:
    for n in range(1001):
        write_article(newsdesk.seeds, f"s{n:04}.txt", title=f"Common words {n}")
    newsdesk.run("load")
    doc = newsdesk.run_json("search", "common", "--limit", "2")
    assert (doc["total"], doc["capped"], len(doc["articles"])) == (1000, True, 2)
    assert newsdesk.run("search", "common", "--limit", "1")[1].endswith("1 of 1,000+ matching\n")


def test_topics_json(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    assert newsdesk.run_json("topics") == {
        "topics": [{"topic": "AI", "articles": 1}, {"topic": "Computer Vision", "articles": 1}]
    }


def test_queue_json(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    doc = newsdesk.run_json("queue")
    assert doc == {
        "channels": [
            {
                "channel": "ai-news",
                "channel_id": 1001,
                "paused": False,
                "disabled": False,
                "articles": [SEED_JSON | {"pinned": False}],
            },
            {
                "channel": "space",
                "channel_id": 1002,
                "paused": False,
                "disabled": False,
                "articles": [],
            },
        ]
    }
    # the listing keys, plus whether a moderator pinned the story
    assert set(doc["channels"][0]["articles"][0]) == ARTICLE_KEYS | {"pinned"}
    assert newsdesk.run_json("queue", "--channel", "#space")["channels"][0]["channel"] == "space"


def test_queue_table(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    code, out, err = newsdesk.run("queue", "--channel", "ai-news")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "#ai-news — every 30m"
    assert lines[1].split() == ["#", "ID", "Q", "HEAT", "PUBLISHED", "PROVIDER", "TOPICS", "TITLE"]
    assert lines[2].startswith("1  j80stkmk  86  -1    2020-06-09  The Verge  Computer Vision, AI")


def test_a_file_without_quality_is_listed_as_unknown_and_queued_as_unknown_quality(
    newsdesk: Newsdesk, write_article: Callable[..., Path]
) -> None:
    # min_quality 50 on #ai-news: a story of unknown quality passes it
    config = yaml.safe_load(newsdesk.config.read_text())
    config["channels"][0]["min_quality"] = 50
    config["unknown_quality"] = 90
    newsdesk.config.write_text(yaml.safe_dump(config), encoding="utf-8")
    write_article(newsdesk.seeds, "older.md", topics=["AI"], publishedDateTime="2020-01-01")
    newsdesk.run("load")
    code, out, err = newsdesk.run("queue", "--channel", "ai-news")
    assert (code, err) == (0, "")
    # ranked as 90: above the seed's 86
    assert [line.split()[:3] for line in out.splitlines()[2:] if line] == [
        ["1", "s1zx58x3", "unknown"],
        ["2", "j80stkmk", "86"],
    ]
    [first, _] = newsdesk.run_json("queue", "--channel", "ai-news")["channels"][0]["articles"]
    assert (first["id"], first["quality"]) == ("s1zx58x3", None)


def test_the_event_window_of_the_config_decides_a_load(
    newsdesk: Newsdesk, write_article: Callable[..., Path]
) -> None:
    # one headline rewritten, published 80 hours apart: one event with a 96-hour window
    title = "Nvidia to buy Arm from SoftBank for $40 billion"
    write_article(newsdesk.seeds, "a.md", title=title, publishedDateTime="2026-03-02T09:00:00Z")
    write_article(
        newsdesk.seeds, "b.md", title="Nvidia agrees to buy Arm from SoftBank for $40 billion",
        publishedDateTime="2026-03-05T17:00:00Z",
    )  # fmt: skip
    config = yaml.safe_load(newsdesk.config.read_text())
    config["events"] = {"window_hours": 96}
    newsdesk.config.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert newsdesk.run_json("load")["counts"]["merged"] == 1


def test_queue_unknown_channel_exits_2(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    assert newsdesk.run("queue", "--channel", "nope") == (
        2,
        "",
        "newsdesk: no channel 'nope' (channels: ai-news, space)\n",
    )


def check_config_out(config: Path, before: datetime, after: datetime) -> set[str]:
    """What check-config prints of a valid config, as run at ``before`` or ``after``."""
    settings = load_settings(config)
    head = f"{settings.path}: ok (2 channels: {', '.join(r.name for r in settings.channels)})\n"
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    return {
        head + "".join(f"  {note}\n" for note in check(settings, now, env).notes)
        for now in (before, after)
    }


def test_check_config(newsdesk: Newsdesk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    before = datetime.now(UTC)
    code, out, err = newsdesk.run("check-config")
    assert (code, err) == (0, "")
    assert out in check_config_out(newsdesk.config, before, datetime.now(UTC))
    assert out.splitlines()[1] == (
        "  no token: `newsdesk run` needs DISCORD_TOKEN or token_file (a dry run needs none)"
    )


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["queue", "--limit", "0"],
        ["queue", "--limit", "many"],
        ["search", "--limit", "1001"],
        ["load", "--workers", "two"],
        ["load", "--workers", "0"],
        ["load", "--workers", "65"],
        ["topics", "--nope"],
    ],
)
def test_usage_errors_exit_2(newsdesk: Newsdesk, argv: list[str]) -> None:
    code, out, err = newsdesk.run(*argv)
    assert (code, out) == (2, "")
    assert err.startswith("usage: newsdesk")


def test_python_m_bot_check_config() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    before = datetime.now(UTC)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check-config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert (done.returncode, done.stderr) == (0, "")
    shipped = Path("config/newsdesk.yaml")
    with contextlib.chdir(REPO):
        assert done.stdout in check_config_out(shipped, before, datetime.now(UTC))


def test_the_cli_imports_neither_the_loader_nor_discord_py() -> None:
    """Only `load` needs the parsers and only `run` Discord: ≈ 5 and 20 MB for the others."""
    code = (
        "import sys, bot.cli\n"
        "slow = ('bot.ingest.loader', 'yaml_rs', 'discord', 'aiohttp')\n"
        "heavy = [m for m in slow if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_a_corrupt_database_exits_2_with_a_database_error(tmp_path: Path) -> None:
    # a subprocess, so that a hang at exit fails the test instead of the suite
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"this is not a database" * 100)
    config = tmp_path / "newsdesk.yaml"
    config.write_text(yaml.safe_dump({"database": str(db), "seeds": str(tmp_path)}))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), "topics"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        f"newsdesk: database error: cannot open the database {db}: file is not a database\n",
    )


def test_queue_of_an_approval_route_lists_only_approved_stories(
    newsdesk: Newsdesk, tmp_path: Path
) -> None:
    import asyncio

    from bot.store import DeliveryState, SQLiteStore

    data = yaml.safe_load(newsdesk.config.read_text())
    data["channels"].append(
        {"id": 1003, "name": "reviewed", "schedule": {"every": "1h"}, "approval": True,
         "review_channel": 1004}
    )  # fmt: skip
    newsdesk.config.write_text(yaml.safe_dump(data), encoding="utf-8")
    newsdesk.run("load")
    assert newsdesk.run_json("queue", "--channel", "reviewed")["channels"][0]["articles"] == []

    async def approve() -> None:
        store = await SQLiteStore.open(str(newsdesk.db))
        await store.set_delivery(SEED_JSON["id"], 1003, DeliveryState.APPROVED)
        await store.close()

    asyncio.run(approve())
    listed = newsdesk.run_json("queue", "--channel", "reviewed")["channels"][0]["articles"]
    assert listed == [SEED_JSON | {"pinned": False}]


# --------------------------------------------------------------------------- hostile text

ESC_TITLE = "Evil \x1b]0;pwned\x07\x1b[2J title \u202edesrever"
SHOWN_TITLE = "Evil \\u001b]0;pwned\\u0007\\u001b[2J title \\u202edesrever"
UNSAFE = (*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0)), "\u202a", "\u202e", "\u2066")


@pytest.fixture
def hostile(newsdesk: Newsdesk, write_article: Callable[..., Path]) -> Newsdesk:
    """One story whose title, provider, topic and excerpt carry terminal escapes and a
    bidi override, loaded beside the seed."""
    write_article(
        newsdesk.seeds,
        "hostile.md",
        title=ESC_TITLE,
        webUrl="https://example.com/hostile",
        quality=99,
        provider={"name": "Prov\x1b[31m\u2066"},
        topics=["AI", "Bad\x9b2J\u202etopic"],
        excerpt="Ex\x7fcerpt \u2028<t:0:R>",
    )
    assert newsdesk.run("load")[0] == 0
    return newsdesk


def _raw(text: str) -> list[str]:
    """The characters of ``text`` a terminal would act on (line breaks aside)."""
    return [c for c in text if c in UNSAFE and c != "\n"]


def test_listings_show_control_characters_and_bidi_overrides_escaped(hostile: Newsdesk) -> None:
    provider, topic = "Prov\\u001b[31m\\u2066", "Bad\\u009b2J\\u202etopic"
    assert hostile.run("search", "--topic", "ai") == (
        0,
        f"ID        Q   HEAT  PUBLISHED   PROVIDER              TOPICS                      TITLE\n"
        f"22bnqc0s  99  0     unknown     {provider}  AI, {topic}  {SHOWN_TITLE}\n"
        "j80stkmk  86  -1    2020-06-09  The Verge             Computer Vision, AI         "
        "IBM will no longer offer, develop, or research facial recognition technology\n"
        "2 of 2 matching\n",
        "",
    )
    code, out, err = hostile.run("queue", "--channel", "ai-news")
    assert (code, err) == (0, "")
    assert out.splitlines()[:3] == [
        "#ai-news — every 30m",
        "#  ID        Q   HEAT  PUBLISHED   PROVIDER              TOPICS"
        "                      TITLE",
        f"1  22bnqc0s  99  0     unknown     {provider}  AI, {topic}  {SHOWN_TITLE}",
    ]
    assert hostile.run("topics") == (
        0,
        "TOPIC                   ARTICLES\n"
        "AI                      2\n"
        f"{topic}  1\n"
        "Computer Vision         1\n",
        "",
    )


def test_preview_shows_control_characters_and_bidi_overrides_escaped(hostile: Newsdesk) -> None:
    rule = "─" * 88
    assert hostile.run("preview", "22bnqc0s") == (
        0,
        f"{rule}\n"
        "[Prov\\u001b[31m\\u2066]\n"
        f"■ {SHOWN_TITLE}\n"
        "  https://example.com/hostile\n"
        "  Ex\\u007fcerpt <t:0:R>\n"
        "  AI · Bad\\u009b2J\\u202etopic · id 22bnqc0s\n"
        "  [Read on Prov\\u001b[31m\\u2066] https://example.com/hostile\n"
        f"{rule}\n",
        "",
    )


def test_json_escapes_what_json_dumps_leaves_raw(hostile: Newsdesk) -> None:
    """json.dumps(ensure_ascii=False) writes DEL, C1 controls and bidi overrides as they
    are; --json writes them as JSON escapes: the same document, safe on a terminal."""
    for argv in (["search"], ["queue"], ["topics"], ["preview", "22bnqc0s"]):
        code, out, err = hostile.run(*argv, "--json")
        assert (code, err, _raw(out)) == (0, "", []), argv
    assert hostile.run_json("search", "--topic", "ai")["articles"][0] == {
        "id": "22bnqc0s",
        "title": ESC_TITLE,
        "url": "https://example.com/hostile",
        "quality": 99,
        "heat": 0,
        "published_at": None,
        "topics": ["AI", "Bad\x9b2J\u202etopic"],
        "provider": "Prov\x1b[31m\u2066",
    }
    assert '"Bad\\u009b2J\\u202etopic"' in hostile.run("topics", "--json")[1]


def test_a_rejected_file_whose_path_holds_an_escape_is_reported_escaped(
    newsdesk: Newsdesk,
) -> None:
    bad = newsdesk.seeds / "bad\x1b[2J\u202e.md"
    bad.write_text("no front matter\n")
    shown = f"{newsdesk.seeds.resolve()}/bad\\u001b[2J\\u202e.md"
    assert newsdesk.run("load") == (
        0,
        "1 loaded, 0 updated, 0 unchanged, 0 duplicates, 1 rejected, 0 withdrawn\n",
        f"{shown}: no front matter: the first line must be ---\n",
    )


def test_the_dry_run_and_its_log_show_hostile_text_escaped(hostile: Newsdesk) -> None:
    """Through `python -m bot`: the logging the run configures escapes a rejected file's
    path, and the posts printed escape the story's text."""
    bad = hostile.seeds / "bad\x1b]0;x\x07.md"
    bad.write_text("no front matter\n")
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(hostile.config), "run", "--dry-run", "--now"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert (_raw(done.stdout), _raw(done.stderr)) == ([], [])
    warning = next(line for line in done.stderr.splitlines() if "WARNING" in line)
    assert warning.split(" ", 2)[2] == (
        f"WARNING bot.runtime.service: {hostile.seeds.resolve()}/bad\\u001b]0;x\\u0007.md: "
        "no front matter: the first line must be ---"
    )
    rule = "─" * 88
    assert done.stdout.startswith(
        f"{rule}\n"
        "→ #ai-news\n"
        "[Prov\\u001b[31m\\u2066]\n"
        f"■ {SHOWN_TITLE}\n"
        "  https://example.com/hostile\n"
        "  Ex\\u007fcerpt <t:0:R>\n"
        "  AI · Bad\\u009b2J\\u202etopic · id 22bnqc0s\n"
        "  [Read on Prov\\u001b[31m\\u2066] https://example.com/hostile\n"
        f"{rule}\n"
    )


def test_the_log_formatter_keeps_a_traceback_s_line_breaks_only() -> None:
    import logging

    from bot.render.console import EscapingFormatter

    try:
        raise ValueError("bad \x1b[2J\nvalue")
    except ValueError:
        record = logging.LogRecord(
            "bot", logging.WARNING, __file__, 1, "%s: %s", ("a\x1b]0;x\x07", "b\nc"), sys.exc_info()
        )
    lines = EscapingFormatter("%(levelname)s %(message)s").format(record).split("\n")
    assert lines[0] == "WARNING a\\u001b]0;x\\u0007: b\\u000ac"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-2:] == ["ValueError: bad \\u001b[2J", "value"]


# --------------------------------------------------------------------------- operations


def test_version_and_help_with_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert (done.value.code, capsys.readouterr().out) == (0, "newsdesk 0.1.0\n")
    with pytest.raises(SystemExit):
        main(["queue", "--help"])
    assert "stories per channel (default: 5)" in " ".join(capsys.readouterr().out.split())


def test_invite_url_asks_for_exactly_what_the_config_needs(
    newsdesk: Newsdesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    view, send, embed, history, threads = 1 << 10, 1 << 11, 1 << 14, 1 << 16, 1 << 35
    base = view | send | embed | history
    assert newsdesk.run("invite-url", "--client-id", "4242") == (
        0,
        "https://discord.com/oauth2/authorize?client_id=4242"
        f"&scope=bot+applications.commands&permissions={base}\n",
        f"permissions: View Channel, Send Messages, Embed Links, Read Message History"
        f" (integer {base})\nintents: Guilds only (no privileged intent to enable)\n",
    )
    data = yaml.safe_load(newsdesk.config.read_text())
    data["channels"][1]["thread"] = True
    newsdesk.config.write_text(yaml.safe_dump(data))
    # the application id is the token's first part, base64-encoded
    monkeypatch.setenv("DISCORD_TOKEN", "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gsecret.t0k3n")
    code, out, err = newsdesk.run("invite-url")
    assert (code, out) == (
        0,
        "https://discord.com/oauth2/authorize?client_id=123456789012345678"
        f"&scope=bot+applications.commands&permissions={base | threads}\n",
    )
    assert "Create Public Threads" in err
    assert "t0k3n" not in out + err
    monkeypatch.delenv("DISCORD_TOKEN")
    code, out, err = newsdesk.run("invite-url")
    assert (code, out) == (2, "")
    assert err.startswith("newsdesk: give --client-id")


def test_backup_is_a_consistent_copy_while_another_connection_writes(
    newsdesk: Newsdesk, tmp_path: Path
) -> None:
    import sqlite3

    from bot.store import SQLiteStore

    assert newsdesk.run("load")[0] == 0
    writer = sqlite3.connect(newsdesk.db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM articles")  # not committed: the copy must not see it
    copy = tmp_path / "copies" / "backup.db"
    copy.parent.mkdir()
    try:
        assert newsdesk.run("backup", str(copy)) == (
            0,
            f"{newsdesk.db} backed up to {copy}\n",
            "",
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert sorted(p.name for p in copy.parent.iterdir()) == ["backup.db"]

    async def stories_in(path: Path) -> tuple[list[str], int]:
        restored = await SQLiteStore.open(str(path))
        try:
            found = await restored.get_articles(["j80stkmk"])
            return [a.id for a in found], await restored.article_count()
        finally:
            await restored.close()

    assert asyncio.run(stories_in(copy)) == (["j80stkmk"], 1)
    assert newsdesk.run("backup", str(copy)) == (
        2,
        "",
        f"newsdesk: database error: cannot back up to {copy}: {copy} already exists:"
        " choose a new file\n",
    )


def _newsdesk(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        cwd=REPO, stderr=subprocess.PIPE, text=True, timeout=60, check=False, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        ["queue"],
        ["search", "ibm", "--json"],
        ["topics"],
        ["preview", "j80stkmk"],
        ["load", "--json"],
        ["check-config"],
        ["run", "--dry-run", "--now"],
    ],
)
def test_a_reader_gone_before_the_output_ends_the_command_quietly(
    newsdesk: Newsdesk, command: list[str]
) -> None:
    newsdesk.run("load")
    read, write = os.pipe()
    os.close(read)  # every write to stdout now fails: EPIPE
    try:
        done = _newsdesk("--config", str(newsdesk.config), *command, stdout=write)
    finally:
        os.close(write)
    # 141, as a shell reports cat or grep ended by SIGPIPE; no traceback, no
    # "Exception ignored"; the dry run's log lines are all that stderr has
    assert done.returncode == 141
    assert [line for line in done.stderr.splitlines() if " INFO " not in line] == []


def test_a_reader_that_stops_after_one_line(
    newsdesk: Newsdesk, write_article: Callable[..., Path]
) -> None:
    for n in range(1000):
        write_article(newsdesk.seeds, f"s{n:04}.md", topics=["AI"])
    assert newsdesk.run("load")[0] == 0
    argv = ["--config", str(newsdesk.config), "search", "--limit", "1000", "--json"]
    with subprocess.Popen(
        [sys.executable, "-m", "bot", *argv],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as reader:  # fmt: skip
        assert reader.stdout is not None and reader.stderr is not None
        assert reader.stdout.readline() == b"{\n"  # of ≈ 250 KB: more than the pipe holds
        reader.stdout.close()  # as `| head -1` does
        assert (reader.wait(timeout=60), reader.stderr.read()) == (141, b"")


COMMANDS_OPENING_THE_STORE = [
    ["load"],
    ["queue"],
    ["search", "ibm"],
    ["topics"],
    ["preview", "j80stkmk"],
    ["run", "--dry-run", "--now"],
    ["run"],
]


@pytest.mark.parametrize("command", COMMANDS_OPENING_THE_STORE)
@pytest.mark.parametrize("where", ["under a file", "a folder", "a device"])
def test_a_database_path_that_cannot_be_opened_is_one_line_and_exit_2(
    newsdesk: Newsdesk,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    command: list[str],
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    (tmp_path / "file").write_text("")
    (tmp_path / "folder").mkdir()
    file = tmp_path / "file"
    db, reason = {
        "under a file": (file / "data" / "nd.db", f"{file} is not a folder"),
        "a folder": (tmp_path / "folder", "it is a folder"),
        "a device": (Path("/dev/null"), "it is not a regular file"),
    }[where]  # fmt: skip
    assert newsdesk.run("--db", str(db), *command) == (
        2,
        "",
        f"newsdesk: cannot open the database {db}: {reason}\n",
    )
    assert (tmp_path / "file").read_bytes() == b""
    assert list((tmp_path / "folder").iterdir()) == []


@pytest.mark.parametrize(
    ("db", "command", "reason"),
    [
        ("/proc/nd.db", ["load"], "unable to open database file"),
        ("/proc/self/status", ["load"], "unable to open database file"),
        ("/proc/self/status", ["run", "--dry-run", "--now"], "unable to open database file"),
        ("/proc/self/status", ["topics"], "it holds no Newsdesk data: run `newsdesk load` first"),
        ("/proc/self/status", ["queue"], "it holds no Newsdesk data: run `newsdesk load` first"),
    ],
)
def test_a_database_sqlite_cannot_open_is_one_line_and_exit_2(
    newsdesk: Newsdesk, db: str, command: list[str], reason: str
) -> None:
    assert newsdesk.run("--db", db, *command) == (
        2,
        "",
        f"newsdesk: database error: cannot open the database {db}: {reason}\n",
    )


def test_a_database_that_cannot_be_opened_never_prints_event_loop_is_closed(
    newsdesk: Newsdesk,
) -> None:
    # aiosqlite's worker thread used to report the failed connect to the loop that
    # asyncio.run had closed meanwhile: a traceback on most runs
    code = (
        "from bot.cli import main\n"
        "DB = '/proc/nd.db'\n"
        "for _ in range(20):\n"
        f"    assert main(['--config', {str(newsdesk.config)!r}, '--db', DB, 'load']) == 2\n"
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    line = "newsdesk: database error: cannot open the database /proc/nd.db: "
    line += "unable to open database file\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, "", line * 20)


READ_COMMANDS = [["queue"], ["search", "ibm"], ["topics"], ["preview", "j80stkmk"]]


@pytest.mark.parametrize("command", READ_COMMANDS)
def test_read_commands_never_create_a_database(newsdesk: Newsdesk, command: list[str]) -> None:
    assert newsdesk.run(*command) == (
        2,
        "",
        f"newsdesk: no database at {newsdesk.db} — run `newsdesk load` first\n",
    )
    assert not newsdesk.db.parent.exists()


def test_read_commands_leave_the_database_as_it_was(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")

    def state() -> tuple[list[str], bytes, int]:
        names = sorted(p.name for p in newsdesk.db.parent.iterdir())
        return names, newsdesk.db.read_bytes(), newsdesk.db.stat().st_mtime_ns

    before = state()
    assert before[0] == ["newsdesk.db"]
    for command in READ_COMMANDS:
        code, out, err = newsdesk.run(*command)
        assert (code, err) == (0, ""), command
        assert "j80stkmk" in out or "AI" in out
        # no -wal or -shm file left: a read-only connection could not delete them
        assert state() == before, command


def _schema_version(db: Path) -> int:
    with closing(sqlite3.connect(db)) as connection:
        return int(connection.execute("PRAGMA user_version").fetchone()[0])


def test_read_commands_leave_an_older_schema_for_load_to_migrate(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    latest = _schema_version(newsdesk.db)
    with closing(sqlite3.connect(newsdesk.db)) as connection:
        rewind(connection, latest - 1)
    before = newsdesk.db.read_bytes()
    assert newsdesk.run("topics") == (
        2,
        "",
        f"newsdesk: database error: cannot open the database {newsdesk.db}: its schema is"
        f" version {latest - 1}, and this Newsdesk reads version {latest}: run `newsdesk load`"
        " to bring it up to date\n",
    )
    assert (_schema_version(newsdesk.db), newsdesk.db.read_bytes()) == (latest - 1, before)


def test_read_commands_see_what_a_running_writer_committed(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    folder = newsdesk.db.parent

    async def beside_a_writer() -> tuple[list[str], subprocess.CompletedProcess[str]]:
        writer = await SQLiteStore.open(str(newsdesk.db))
        try:
            # in the writer's WAL, not yet in the database file
            await writer.pin(1001, "j80stkmk", None, actor_id=7)
            files = sorted(p.name for p in folder.iterdir())
            argv = ["--config", str(newsdesk.config), "queue", "--channel", "ai-news", "--json"]
            read = await asyncio.to_thread(_newsdesk, *argv, stdout=subprocess.PIPE)
            assert await writer.unpin(1001, "j80stkmk")  # the writer still writes
        finally:
            await writer.close()
        return files, read

    files, read = asyncio.run(beside_a_writer())
    assert files == ["newsdesk.db", "newsdesk.db-shm", "newsdesk.db-wal"]
    assert (read.returncode, read.stderr) == (0, "")
    assert json.loads(read.stdout)["channels"][0]["articles"] == [SEED_JSON | {"pinned": True}]
    assert sorted(p.name for p in folder.iterdir()) == ["newsdesk.db"]


@pytest.mark.parametrize("beside_a_writer", [False, True])
async def test_a_read_only_store_refuses_every_write(tmp_path: Path, beside_a_writer: bool) -> None:
    path = str(tmp_path / "nd.db")
    await (await SQLiteStore.open(path)).close()
    writer = await SQLiteStore.open(path) if beside_a_writer else None
    reader = await SQLiteStore.open(path, read_only=True)
    try:
        with pytest.raises(StoreError) as refused:
            await reader.audit("test", "ok")
        assert str(refused.value) == f"{path} is read-only (attempt to write a readonly database)"
        assert await reader.audit_log() == []
    finally:
        await reader.close()
        if writer is not None:
            await writer.close()
    assert sorted(os.listdir(tmp_path)) == ["nd.db"]


async def test_a_read_only_open_of_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nd.db"
    with pytest.raises(
        StoreError, match=r"^cannot open the database .*: unable to open database file$"
    ):
        await SQLiteStore.open(str(path), read_only=True)
    assert os.listdir(tmp_path) == []


async def test_a_read_only_open_takes_any_file_name(tmp_path: Path) -> None:
    # the name goes into a file: URI, where ?, # and % would cut or change it
    folder = tmp_path / "a?b #c%41 é"
    folder.mkdir()
    path = str(folder / "nd.db")
    writer = await SQLiteStore.open(path)
    await writer.audit("test", "ok")
    await writer.close()
    reader = await SQLiteStore.open(path, read_only=True)
    try:
        assert [(e.action, e.result) for e in await reader.audit_log()] == [("test", "ok")]
    finally:
        await reader.close()
    assert os.listdir(folder) == ["nd.db"]


def test_a_write_error_on_stdout_is_one_line_and_exit_2(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    with open("/dev/full", "w") as full:  # every write: ENOSPC, as on a full disk
        done = _newsdesk("--config", str(newsdesk.config), "topics", stdout=full)
    assert (done.returncode, done.stderr) == (
        2,
        "newsdesk: [Errno 28] No space left on device\n",
    )


def test_a_command_started_with_stdout_closed_prints_nothing_and_succeeds(
    newsdesk: Newsdesk,
) -> None:
    newsdesk.run("load")
    done = _newsdesk(
        "--config", str(newsdesk.config), "topics", preexec_fn=lambda: os.close(1)
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")


def test_load_counts_the_stories_withdrawn_with_their_deleted_files(
    newsdesk: Newsdesk, seed_path: Path
) -> None:
    newsdesk.run("load")
    (newsdesk.seeds / seed_path.name).unlink()
    assert newsdesk.run("load") == (
        0,
        "0 loaded, 0 updated, 0 unchanged, 0 duplicates, 0 rejected, 1 withdrawn\n",
        "",
    )
    assert newsdesk.run_json("search", "facial recognition") == {
        "total": 0,
        "capped": False,
        "articles": [],
    }
    shutil.copy(seed_path, newsdesk.seeds / seed_path.name)  # it comes back: loaded again
    assert newsdesk.run_json("load")["counts"] == {
        "loaded": 1,
        "updated": 0,
        "unchanged": 0,
        "duplicates": 0,
        "rejected": 0,
        "withdrawn": 0,
        "merged": 0,
    }
    assert newsdesk.run_json("search", "facial recognition") == {
        "total": 1,
        "capped": False,
        "articles": [SEED_JSON],
    }
