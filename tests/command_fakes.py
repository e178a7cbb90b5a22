"""Strict fakes and shared setup for the slash-command tests.

Discord objects are ``create_autospec(..., spec_set=True)`` of discord.py's own classes:
a misspelt attribute, method or keyword argument fails the test. The store is real
(SQLite), and so is the :class:`~bot.delivery.deliverer.Deliverer`; only the :class:`Sender` that
would talk to Discord is a small recording fake.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast
from unittest import mock

import discord
import yarl
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from discord import app_commands
from discord.ext import commands

from bot.config.settings import Route, Schedule, Settings
from bot.delivery.deliverer import Deliverer, Posted, SendError, Sent
from bot.discord.client import NewsdeskBot
from bot.ingest.parsing import article_from_mapping
from bot.models import Article
from bot.render.embeds import Post
from bot.store.base import Store
from tests.fake_discord import FakeDiscord, Perm, User

P = ParamSpec("P")
CogT = TypeVar("CogT", bound=commands.Cog)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
GUILD = 9000
MOD_ROLE = 7000
MOD_LOG = 300
EVERY_30M = Schedule(every=timedelta(minutes=30))

AI = Route(id=101, name="ai-news", schedule=EVERY_30M, topics=("AI",))
DIGEST = Route(id=102, name="daily-digest", schedule=EVERY_30M)
REVIEWED = Route(id=103, name="reviewed", schedule=EVERY_30M, approval=True, review_channel=201)
UNCONFIGURED = 104  # a channel of the guild that is no Newsdesk route
REVIEW_CHANNEL = 201

# Users: a moderator by permission, a moderator by role, and a reader.
MIA = (1, "mia")  # Manage Messages in every Newsdesk channel (and #general)
ROLF = (2, "rolf")  # the moderator role, no permission anywhere
RITA = (3, "rita")  # nothing
MANAGERS = {MIA[0]}

NO_MENTIONS = discord.AllowedMentions.none().to_dict()

# A second guild with its own Newsdesk channels and moderator role, in the same config.
GUILD_B = 9100
MOD_ROLE_B = 7100
B_NEWS = Route(id=501, name="b-news", schedule=EVERY_30M)
B_REVIEWED = Route(id=502, name="b-reviewed", schedule=EVERY_30M, approval=True, review_channel=601)
B_REVIEW_CHANNEL = 601
BEA = (5, "bea")  # guild B's moderator role, and Manage Messages in its channels


def settings(
    *,
    mod_log: bool = True,
    channels: tuple[Route, ...] = (AI, DIGEST, REVIEWED),
    moderator_roles: tuple[int, ...] = (MOD_ROLE,),
) -> Settings:
    return Settings(
        path=Path("newsdesk-test.yaml"),
        database=Path(":memory:"),
        seeds=Path("seeds"),
        channels=channels,
        moderator_roles=moderator_roles,
        mod_log_channel=MOD_LOG if mod_log else None,
        topic_colours={"ai": 0x5865F2},
    )


def two_guilds(*, mod_log: bool = True) -> Settings:
    """Guild A's three routes and guild B's two, each guild with its moderator role."""
    return settings(
        mod_log=mod_log,
        channels=(AI, DIGEST, REVIEWED, B_NEWS, B_REVIEWED),
        moderator_roles=(MOD_ROLE, MOD_ROLE_B),
    )


# --------------------------------------------------------------------------- stories


def story(
    slug: str,
    title: str,
    *,
    quality: int = 50,
    topics: Iterable[str] = ("AI",),
    excerpt: str = "",
    provider: str = "Example News",
    published: str = "2024-05-01T10:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": title,
        "webUrl": f"https://news.example.com/{slug}",
        "excerpt": excerpt,
        "quality": quality,
        "topics": list(topics),
        "provider": {"name": provider, "domain": "news.example.com"},
        "publishedDateTime": published,
    }
    data.update(extra)
    return data


async def add_stories(store: Store, *stories: dict[str, Any]) -> list[Article]:
    out = []
    for data in stories:
        article, created = await store.add_article(article_from_mapping(data))
        assert created
        out.append(article)
    return out


# --------------------------------------------------------------------------- the sender


class FakeSender:
    """Records what would reach Discord; ``fail`` makes the next sends raise it."""

    __slots__ = ("_ids", "edits", "fail", "notes", "posted", "reviews", "sent")

    def __init__(self) -> None:
        self._ids = itertools.count(5000)
        self.sent: list[tuple[int, str, str]] = []  # (channel, article, nonce)
        self.posted: dict[tuple[int, str], int] = {}  # (channel, article) → message id
        self.reviews: list[tuple[int, str, str]] = []  # (route channel, article, nonce)
        self.edits: list[tuple[int, int, str]] = []
        self.notes: list[str] = []  # mod-log lines
        self.fail: SendError | None = None

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        if self.fail is not None:
            raise self.fail
        self.sent.append((route.id, post.article_id, nonce))
        message_id = self.posted[(route.id, post.article_id)] = next(self._ids)
        return Sent(route.id, message_id)

    async def send_review(self, route: Route, post: Post, nonce: str) -> Sent:
        if self.fail is not None:
            raise self.fail
        self.reviews.append((route.id, post.article_id, nonce))
        assert route.review_channel is not None
        return Sent(route.review_channel, next(self._ids))

    async def edit(self, route: Route, message_id: int, post: Post) -> None:
        self.edits.append((route.id, message_id, post.article_id))

    async def find_posted(self, route: Route, post: Post) -> Sent | None:
        message_id = self.posted.get((route.id, post.article_id))
        return None if message_id is None else Sent(route.id, message_id)

    async def recent_posts(self, route: Route) -> list[Posted]:
        return []  # a channel holds only what this sender posted, and the store knows it

    async def open_post(self, route: Route, posted: Posted) -> Posted | None:
        return posted

    async def check_route(self, route: Route) -> str | None:
        return None

    async def notify(self, text: str) -> None:
        self.notes.append(text)


async def _no_sleep(_seconds: float) -> None:
    return None


def deliverer(store: Store, sender: FakeSender, config: Settings) -> Deliverer:
    return Deliverer(store, sender, config, clock=lambda: NOW, sleep=_no_sleep, retry_delays=())


# --------------------------------------------------------------------------- Discord fakes


def role(role_id: int) -> discord.Role:
    fake = mock.create_autospec(discord.Role, instance=True, spec_set=True)
    fake.id = role_id
    return cast(discord.Role, fake)


def member(user: tuple[int, str], roles: Iterable[int] = ()) -> discord.Member:
    fake = mock.create_autospec(discord.Member, instance=True, spec_set=True)
    fake.id, fake.name = user
    fake.display_name = user[1]
    fake.roles = [role(GUILD), *(role(r) for r in roles)]
    return cast(discord.Member, fake)


def user_of(user: tuple[int, str]) -> discord.Member:
    """The member as the tests' guild knows them (ROLF has the moderator role)."""
    return member(user, (MOD_ROLE,) if user == ROLF else ())


def text_channel(channel_id: int, name: str, managers: set[int] = MANAGERS) -> discord.TextChannel:
    fake = mock.create_autospec(discord.TextChannel, instance=True, spec_set=True)
    fake.id, fake.name = channel_id, name
    fake.mention = f"<#{channel_id}>"
    fake.permissions_for.side_effect = lambda who: discord.Permissions(
        view_channel=True, send_messages=True, manage_messages=who.id in managers
    )
    return cast(discord.TextChannel, fake)


def guild_with(channels: Iterable[discord.TextChannel], guild_id: int = GUILD) -> discord.Guild:
    fake = mock.create_autospec(discord.Guild, instance=True, spec_set=True)
    fake.id = guild_id
    by_id = {c.id: c for c in channels}
    fake.get_channel.side_effect = by_id.get
    return cast(discord.Guild, fake)


def channels() -> dict[int, discord.TextChannel]:
    """The guild's channels: the three routes, one plain channel and the review channel."""
    return {
        AI.id: text_channel(AI.id, AI.name),
        DIGEST.id: text_channel(DIGEST.id, DIGEST.name),
        REVIEWED.id: text_channel(REVIEWED.id, REVIEWED.name),
        UNCONFIGURED: text_channel(UNCONFIGURED, "general"),
        REVIEW_CHANNEL: text_channel(REVIEW_CHANNEL, "review"),
    }


def channels_b() -> dict[int, discord.TextChannel]:
    """Guild B's channels: its two routes and its review channel; BEA manages them."""
    managers = {BEA[0]}
    return {
        B_NEWS.id: text_channel(B_NEWS.id, B_NEWS.name, managers),
        B_REVIEWED.id: text_channel(B_REVIEWED.id, B_REVIEWED.name, managers),
        B_REVIEW_CHANNEL: text_channel(B_REVIEW_CHANNEL, "b-review", managers),
    }


def interaction(
    user: discord.Member | discord.User,
    guild: discord.Guild | None = None,
    *,
    client: Any = None,
    message: discord.Message | None = None,
) -> Any:
    """A strict Interaction whose response remembers whether it was answered."""
    fake = mock.create_autospec(discord.Interaction, instance=True, spec_set=True)
    fake.user = user
    fake.guild = guild
    fake.guild_id = guild.id if guild is not None else None
    fake.client = client
    fake.message = message
    fake.command = None
    response = mock.create_autospec(discord.InteractionResponse, instance=True, spec_set=True)
    response.is_done.side_effect = lambda: bool(
        response.send_message.await_count
        + response.defer.await_count
        + response.edit_message.await_count
    )
    fake.response = response
    fake.followup = mock.create_autospec(discord.Webhook, instance=True, spec_set=True)
    return fake


async def invoke(
    command: app_commands.Command[CogT, P, Any],
    cog: CogT,
    interaction: Any,
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> None:
    """Run a cog's slash command as discord.py does: the cog, the interaction, then the
    options, checked against the command's own parameters.

    ``Command.callback`` is typed as a cog's method or a plain function; a cog's command
    is the method, so it is called with the cog first."""
    callback = cast(
        Callable[Concatenate[CogT, discord.Interaction[Any], P], Awaitable[object]],
        command.callback,
    )
    await callback(cog, interaction, *args, **kwargs)


# --------------------------------------------------------------------------- reading replies


def components(view: discord.ui.View | None, *, custom_ids: bool = False) -> list[Any] | None:
    """A view as Discord receives it; random custom_ids (of non-persistent views) dropped."""
    if view is None:
        return None
    rows = view.to_components()
    if not custom_ids:
        for row in rows:
            for item in row["components"]:
                item.pop("custom_id", None)
    return rows


def payload(kwargs: dict[str, Any], *, custom_ids: bool = False) -> dict[str, Any]:
    """Keyword arguments of one reply, with Discord objects turned into plain data."""
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key == "embed":
            out[key] = value.to_dict() if value is not None else None
        elif key == "allowed_mentions":
            out[key] = value.to_dict()
        elif key == "view":
            out[key] = components(value, custom_ids=custom_ids)
        else:
            out[key] = value
    return out


def reply(fake: Any, *, custom_ids: bool = False) -> dict[str, Any]:
    """The one message the interaction answered with (a response or a follow-up)."""
    calls = [
        *fake.response.send_message.await_args_list,
        *fake.followup.send.await_args_list,
    ]
    assert len(calls) == 1, f"expected one reply, got {calls}"
    assert not calls[0].args
    return payload(calls[0].kwargs, custom_ids=custom_ids)


def text_reply(content: str) -> dict[str, Any]:
    """An ephemeral text answer that pings nobody."""
    return {"content": content, "ephemeral": True, "allowed_mentions": NO_MENTIONS}


# --------------------------------------------------------------------------- a loopback Discord

TOKEN = "commands-test-token"
READY_TIMEOUT = 10.0


@dataclass
class Newsroom:
    """A guild on the loopback Discord with Newsdesk's channels and three people."""

    fake: FakeDiscord
    config: Settings
    channel: dict[str, int]  # name → id
    user: dict[str, User]  # mia (Manage Messages), rolf (moderator role), rita (nobody)


def newsroom(fake: FakeDiscord, seeds: Path) -> Newsroom:
    guild = fake.add_guild("Newsroom")
    names = ("ai-news", "reviewed", "review", "general", "mod-log")
    channel = {name: fake.add_channel(guild.id, name).id for name in names}
    editors = fake.add_role(guild.id, "editors", Perm.MANAGE_MESSAGES)
    moderators = fake.add_role(guild.id, "moderators")
    user = {
        "mia": fake.add_member(guild.id, "mia", [editors]).user,
        "rolf": fake.add_member(guild.id, "rolf", [moderators]).user,
        "rita": fake.add_member(guild.id, "rita").user,
    }
    seeds.mkdir(exist_ok=True)
    config = Settings(
        path=Path("newsdesk-test.yaml"),
        database=Path(":memory:"),
        seeds=seeds,
        rescan=None,
        channels=(
            Route(id=channel["ai-news"], name="ai-news", schedule=EVERY_30M, topics=("AI",)),
            Route(
                id=channel["reviewed"],
                name="reviewed",
                schedule=EVERY_30M,
                approval=True,
                review_channel=channel["review"],
            ),
        ),
        moderator_roles=(moderators.id,),
        mod_log_channel=channel["mod-log"],
    )
    return Newsroom(fake, config, channel, user)


@asynccontextmanager
async def running_bot(room: Newsroom, store: Store) -> AsyncIterator[NewsdeskBot]:
    """The real bot, logged in to the loopback Discord (setup_hook loads and syncs all)."""
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = room.fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(room.fake.gateway_url)
    bot = NewsdeskBot(room.config, store, AsyncIOScheduler())
    bot._connection.guild_ready_timeout = 0.05  # no 2 s wait after the last GUILD_CREATE
    task = asyncio.create_task(bot.start(TOKEN))
    try:
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, task}, timeout=READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            ready.cancel()
            task.result()  # the login or connection error
        assert ready in done, "the bot did not become ready"
        yield bot
    finally:
        await bot.shutdown()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), READY_TIMEOUT)
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
