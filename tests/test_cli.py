"""The `newsdesk` command line, run in-process: output, JSON documents and exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bot.cli import main

REPO = Path(__file__).resolve().parent.parent
ARTICLE_KEYS = {"id", "title", "url", "quality", "heat", "published_at", "topics", "provider"}
SEED_JSON = {
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
            code = exc.code
        out, err = self.capsys.readouterr()
        return code, out, err

    def run_json(self, *argv: str) -> dict:
        code, out, err = self.run(*argv, "--json")
        assert (code, err) == (0, "")
        return json.loads(out)


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
        },
        "problems": [
            {"path": str(broken.resolve()), "reason": "no front matter: the first line must be ---"}
        ],
        "warnings": [],
    }


def test_search_json(newsdesk: Newsdesk) -> None:
    newsdesk.run("load")
    doc = newsdesk.run_json("search", "facial recognition")
    assert doc == {"total": 1, "articles": [SEED_JSON]}
    assert set(doc["articles"][0]) == ARTICLE_KEYS
    assert newsdesk.run_json("search", '("IBM facial*') == {"total": 1, "articles": [SEED_JSON]}
    assert newsdesk.run_json("search", '"') == {"total": 0, "articles": []}
    assert newsdesk.run_json("search", "--topic", "ai") == {"total": 1, "articles": [SEED_JSON]}
    assert newsdesk.run_json("search", "--topic", "space") == {"total": 0, "articles": []}


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


def test_queue_unknown_channel_exits_2(newsdesk: Newsdesk) -> None:
    assert newsdesk.run("queue", "--channel", "nope") == (
        2,
        "",
        "newsdesk: no channel 'nope' (channels: ai-news, space)\n",
    )


def test_check_config(newsdesk: Newsdesk) -> None:
    assert newsdesk.run("check-config") == (
        0,
        f"{newsdesk.config}: ok (2 channels: ai-news, space)\n",
        "",
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
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check-config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "config/newsdesk.yaml: ok (2 channels: ai-news, daily-digest)\n",
        "",
    )


def test_the_cli_imports_neither_the_loader_nor_discord_py() -> None:
    """Only `load` needs the parsers and only `run` Discord: ≈ 5 and 20 MB for the others."""
    code = (
        "import sys, bot.cli\n"
        "heavy = [m for m in ('bot.loader', 'yaml_rs', 'discord', 'aiohttp') if m in sys.modules]\n"
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
    assert newsdesk.run_json("search", "facial recognition") == {"total": 0, "articles": []}
    shutil.copy(seed_path, newsdesk.seeds / seed_path.name)  # it comes back: loaded again
    assert newsdesk.run_json("load")["counts"] == {
        "loaded": 1,
        "updated": 0,
        "unchanged": 0,
        "duplicates": 0,
        "rejected": 0,
        "withdrawn": 0,
    }
    assert newsdesk.run_json("search", "facial recognition") == {
        "total": 1,
        "articles": [SEED_JSON],
    }
