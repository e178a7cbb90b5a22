"""Running the real bot (`python -m bot run`) against the fake Discord, for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.ingest.parsing import parse_article
from bot.models import Article
from bot.render.embeds import build_post
from tests.fake_discord import ChannelType, FakeDiscord, Perm

__all__ = ["ChannelType", "FakeDiscord", "Perm"]

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_32d180ee26e58c63.txt"
TOKEN = "e2e-secret-token-value"
MESSAGES = r"/channels/\d+/messages$"
STOP_TIMEOUT = 10.0  # the README: SIGINT/SIGTERM exits within 10 s in every state


def story_file(folder: Path, slug: str, quality: int, topics: list[str], **extra: Any) -> Path:
    """Write an article file in the seed's shape; returns its path."""
    data: dict[str, Any] = {
        "title": f"Story {slug}",
        "excerpt": f"What happened in story {slug}.",
        "webUrl": f"https://news.example.com/{slug}",
        "publishedDateTime": "2026-11-20T10:00:00Z",
        "type": "article",
        "quality": quality,
        "heat": 0,
        "published": False,
        "provider": {"name": "Example News", "domain": "news.example.com"},
        "topics": topics,
    }
    data.update(extra)
    path = folder / f"{slug}.md"
    path.write_text("---\n" + yaml.safe_dump(data, sort_keys=False) + "---\n", encoding="utf-8")
    return path


def article_of(path: Path) -> Article:
    return parse_article(path.read_bytes()).article


def expected_embeds(path: Path, mention_role: int | None = None) -> list[dict[str, Any]]:
    payload = build_post(article_of(path), mention_role=mention_role).to_payload()
    embeds: list[dict[str, Any]] = payload["embeds"]
    return embeds


@dataclass
class Newsroom:
    """A guild with a few channels on the fake, and the config that points the bot at it."""

    fake: FakeDiscord
    tmp: Path
    guild: int = 0
    channels: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls, fake: FakeDiscord, tmp: Path, *names: str) -> Newsroom:
        room = cls(fake, tmp)
        room.guild = fake.add_guild("Newsroom").id
        for name in (*names, "mod-log"):
            room.channels[name] = fake.add_channel(room.guild, name).id
        (tmp / "seeds").mkdir()
        return room

    @property
    def seeds(self) -> Path:
        return self.tmp / "seeds"

    @property
    def db(self) -> Path:
        return self.tmp / "newsdesk.db"

    def write_config(self, routes: list[dict[str, Any]], **top: Any) -> Path:
        config = {
            "database": str(self.db),
            "seeds": str(self.seeds),
            "rescan": "1s",
            "guild_ids": [self.guild],
            "mod_log_channel": self.channels["mod-log"],
            "discord": {"api_base_url": self.fake.api_base, "gateway_url": self.fake.gateway_url},
            "channels": [{"id": self.channels[r["name"]], **r} for r in routes],
            **top,
        }
        path = self.tmp / "newsdesk.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def titles(self, name: str) -> list[str]:
        return [m["embeds"][0]["title"] for m in self.fake.messages(self.channels[name])]

    def notices(self) -> list[str]:
        return [m["content"] for m in self.fake.messages(self.channels["mod-log"])]


class BotProcess:
    """`python -m bot --config FILE run` as a user runs it, with DISCORD_TOKEN set."""

    def __init__(self, config: Path, *run_args: str) -> None:
        self.config = config
        self.run_args = run_args  # after `run`: --shard-ids 0 --shard-count 2
        self.log_path = config.parent / "bot.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> BotProcess:
        env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
        env.update(DISCORD_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
        with self.log_path.open("a") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "--config", str(self.config), "run", *self.run_args,
                cwd=str(self.config.parent), env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log,
            )  # fmt: skip
        return self

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        return await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)

    async def kill(self) -> None:
        await self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def __aenter__(self) -> BotProcess:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def wait_for_log(bot: BotProcess, text: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Wait until the bot's log shows ``text`` (the bot's own signal that it got there)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while text not in bot.log():
        if loop.time() > deadline:
            raise TimeoutError(f"the bot never logged {text!r}; log:\n{bot.log()}")
        await asyncio.sleep(0.05)
