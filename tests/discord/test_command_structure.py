"""The command tree as Discord will receive it: every extension loads, names are unique,
and every name, description and option is within Discord's limits."""

from __future__ import annotations

import importlib
import re
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.discord.client import EXTENSIONS, NewsdeskBot
from bot.store import open_store
from tests import command_fakes as fx

NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
OPTION_TYPES_WITH_OPTIONS = {1, 2}  # sub-command, sub-command group

EXPECTED = {
    "search": ["topic", "query", "limit", "public"],
    "topics": [],
    "latest": ["topic"],
    "article": ["id"],
    "queue": {
        "list": ["channel"],
        "add": ["article", "channel", "position"],
        "remove": ["article", "channel"],
        "move": ["article", "channel", "position"],
        "skip": ["article", "channel"],
        "split": ["article", "channel"],
        "merge": ["article", "other", "channel"],
        "post": ["channel"],
        "pause": ["channel"],
        "resume": ["channel"],
        "retry": ["channel"],
        "why": ["article", "channel"],
        "submit": ["url", "title", "excerpt", "topics", "quality", "channel"],
    },
}


@pytest.fixture
async def tree() -> AsyncIterator[list[dict[str, Any]]]:
    store = await open_store(":memory:")
    bot = NewsdeskBot(fx.settings(), store, AsyncIOScheduler())  # never started, never logged in
    for name in EXTENSIONS:
        await bot.load_extension(name)
    yield [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    await store.close()


def test_every_extension_imports_and_has_setup() -> None:
    assert EXTENSIONS == (
        "bot.discord.cogs.stories",
        "bot.discord.cogs.queue",
        "bot.discord.cogs.approval",
    )
    for name in EXTENSIONS:
        module = importlib.import_module(name)
        assert callable(module.setup), name


def check(entry: dict[str, Any], where: str) -> None:
    assert NAME.fullmatch(entry["name"]), where
    assert 1 <= len(entry["description"]) <= 100, where
    options = entry.get("options", [])
    assert len(options) <= 25, where
    names = [o["name"] for o in options]
    assert len(names) == len(set(names)), where
    required_done = False
    for option in options:
        here = f"{where} {option['name']}"
        if option.get("type") in OPTION_TYPES_WITH_OPTIONS:
            check(option, here)
            continue
        assert NAME.fullmatch(option["name"]), here
        assert 1 <= len(option["description"]) <= 100, here
        assert len(option.get("choices", [])) <= 25, here
        # Discord wants required options before optional ones.
        if not option.get("required", False):
            required_done = True
        else:
            assert not required_done, here
        if "max_length" in option:
            assert 1 <= option.get("min_length", 0) <= option["max_length"] <= 6000, here
        if "min_value" in option:
            assert option["min_value"] <= option["max_value"], here


def shape(entry: dict[str, Any]) -> Any:
    options = entry.get("options", [])
    if options and options[0].get("type") in OPTION_TYPES_WITH_OPTIONS:
        return {o["name"]: shape(o) for o in options}
    return [o["name"] for o in options]


async def test_the_tree_is_what_discord_accepts(tree: list[dict[str, Any]]) -> None:
    names = [entry["name"] for entry in tree]
    assert len(names) == len(set(names))
    for entry in tree:
        check(entry, entry["name"])
    assert {entry["name"]: shape(entry) for entry in tree} == EXPECTED


async def test_option_limits(tree: list[dict[str, Any]]) -> None:
    by_name = {entry["name"]: entry for entry in tree}
    search = {o["name"]: o for o in by_name["search"]["options"]}
    assert (search["limit"]["min_value"], search["limit"]["max_value"]) == (1, 25)
    assert search["topic"]["autocomplete"] and search["topic"]["required"]
    assert not search["query"]["required"] and not search["public"]["required"]
    assert by_name["article"]["options"][0]["autocomplete"]
    subcommands = {o["name"]: o for o in by_name["queue"]["options"]}
    channel = {o["name"]: o for o in subcommands["post"]["options"]}["channel"]
    assert channel["type"] == discord.AppCommandOptionType.channel.value
    assert set(channel["channel_types"]) >= {
        discord.ChannelType.text.value,
        discord.ChannelType.news.value,
        discord.ChannelType.forum.value,
    }
    quality = {o["name"]: o for o in subcommands["submit"]["options"]}["quality"]
    assert (quality["min_value"], quality["max_value"]) == (0, 100)


async def test_queue_is_for_moderators_in_guilds(tree: list[dict[str, Any]]) -> None:
    by_name = {entry["name"]: entry for entry in tree}
    queue = by_name["queue"]
    assert queue["default_member_permissions"] == discord.Permissions(manage_messages=True).value
    assert queue["dm_permission"] is False
    for name in ("search", "topics", "latest", "article"):
        assert by_name[name]["default_member_permissions"] is None
