"""What delivery talks to: the :class:`Sender` protocol, the records it passes, the
errors of its policy, and what a release comes to.

Delivery knows nothing of discord.py: the Discord sender (``bot/discord/sender.py``) and
the console one of a dry run implement :class:`Sender`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.config.settings import Route
from bot.render.digest import DIGEST_MARK
from bot.render.embeds import Post

# The guild of a channel (None: Discord did not say); may raise SendError.
GuildLookup = Callable[[int], Awaitable[int | None]]


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  # 5xx, network, unexpected 429: retry with backoff, keep queued
    FORBIDDEN = "forbidden"  # 403: pause the route
    NOT_FOUND = "not_found"  # 404 unknown channel: disable the route
    BAD_REQUEST = "bad_request"  # 400: this story fails, the next one goes on


class SendError(Exception):
    """A send that Discord refused or that did not arrive, in the terms of the policy."""

    def __init__(
        self, kind: ErrorKind, text: str, status: int | None = None, code: int | None = None
    ) -> None:
        super().__init__(text)
        self.kind, self.text, self.status, self.code = kind, text, status, code

    def describe(self) -> str:
        parts = [
            f"HTTP {self.status}" if self.status else None,
            f"code {self.code}" if self.code else None,
        ]
        prefix = " ".join(p for p in parts if p)
        return f"{prefix}: {self.text}" if prefix else self.text


@dataclass(frozen=True, slots=True)
class Sent:
    channel_id: int  # where the message lives (a forum post's thread, for forums)
    message_id: int


@dataclass(frozen=True, slots=True)
class Posted:
    """One of the bot's own posts among a channel's recent ones."""

    sent: Sent  # where it is; a forum post is recorded by its thread's id, as when sent
    urls: tuple[str, ...] = ()  # the links of its embeds (a story's link)
    nonce: str | None = None  # the nonce it was sent with, where Discord tells it
    thread_name: str | None = None  # a forum post's title
    opened: bool = True  # False: a forum post whose first message was not read yet
    footer: str | None = None  # its first embed's footer (a digest's ends with its nonce)

    def shows(self, post: Post) -> bool:
        """Whether this is ``post``, by its link or, in a forum, its title."""
        if post.embed.url is not None and post.embed.url in self.urls:
            return True
        return self.thread_name is not None and self.thread_name == post.thread_name

    def shows_digest(self, nonce: str, post: Post) -> bool:
        """Whether this is the digest sent with ``nonce``: by the nonce Discord kept, the
        one its footer ends with, or, in a forum, its title."""
        if self.nonce == nonce:
            return True
        if self.footer is not None and self.footer.endswith(DIGEST_MARK + nonce):
            return True
        return self.thread_name is not None and self.thread_name == post.thread_name


class Sender(Protocol):
    """Where posts go: Discord, or the terminal in a dry run."""

    async def send(self, route: Route, post: Post, nonce: str) -> Sent: ...
    async def send_review(self, route: Route, post: Post, nonce: str) -> Sent: ...
    async def edit(self, route: Route, message_id: int, post: Post) -> None: ...
    async def find_posted(self, route: Route, post: Post) -> Sent | None: ...
    async def recent_posts(self, route: Route) -> list[Posted]:
        """The bot's own posts among the route's channel's recent ones (the ones
        find_posted looks in), oldest first; a forum's unopened."""
        ...

    async def open_post(self, route: Route, posted: Posted) -> Posted | None:
        """A forum post with its first message's links read (None: it is gone)."""
        ...

    async def check_route(self, route: Route) -> str | None: ...
    async def notify(self, text: str) -> None: ...


class Outcome(StrEnum):
    SENT = "sent"
    RECORDED = "recorded"  # found already posted: a send cut short had arrived
    FAILED = "failed"
    DEFERRED = "deferred"  # not sent now, still queued (route paused/disabled meanwhile)
    UNAVAILABLE = "unavailable"  # Discord or the network failed: still queued, run ended
    SKIPPED = "skipped"  # not claimable any more
    ADOPTED = "adopted"  # already in the channel, unknown to the store: recorded as sent
    REVIEW = "review"  # sent to the review channel (approval routes)


@dataclass(frozen=True, slots=True)
class Release:
    article_id: str
    outcome: Outcome
    message_id: int | None = None
    error: str | None = None
