"""The storage interface and its records, free of any database detail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from bot.models import Article, ParseResult, article_from_dict, article_to_dict, to_json

COUNT_LIMIT = 1000  # search totals are counted up to here; more reads COUNT_LIMIT + 1


def count_text(total: int) -> str:
    """A search total for people: "1,000+" once it passes COUNT_LIMIT."""
    return f"{COUNT_LIMIT:,}+" if total > COUNT_LIMIT else f"{total:,}"


class StoreError(Exception):
    """A storage failure, with the driver's error chained as the cause."""


class NotFound(StoreError):
    """The article, delivery or queue entry does not exist."""


class DeliveryState(StrEnum):
    PENDING = "pending"  # chosen for the channel, waiting to be sent
    REVIEW = "review"  # waiting for a moderator's decision (approval routes)
    APPROVED = "approved"  # approved, released on the route's schedule
    SENDING = "sending"  # claimed: a send is (or was, before a crash) in flight
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class RouteFilter:
    """What a channel takes: the pure form of a route's config at one moment."""

    channel_id: int
    topics: tuple[str, ...] = ()  # models.topic_key of each; empty = every topic
    exclude_topics: tuple[str, ...] = ()  # models.topic_key of each
    min_quality: int = 0
    min_published_ts: int | None = None  # from max_age_days; None = any age


class StoredArticle(NamedTuple):
    """An article in the form the store writes it, made where its file was parsed.

    Plain values only, so that it crosses from a parser process at little cost.
    """

    id: str
    canonical_url: str
    url: str
    title: str
    excerpt: str
    provider: str | None  # the provider's name
    quality: int
    heat: int
    published_ts: int | None  # Unix seconds
    published: bool
    source: str
    topics: tuple[str, ...]  # as written
    data: str  # the whole article as JSON, in models.article_to_dict's shape
    raw: str  # a moderator's submitted fields as JSON; empty for a file (the file is the source)
    content_hash: str  # of data and raw: tells a real edit from a re-save

    @classmethod
    def of(cls, article: dict[str, Any], raw: str) -> StoredArticle:
        """From an article in JSON form (models.article_to_dict or parsing.normalise)."""
        data = to_json(article)
        digest = hashlib.sha256(data.encode())
        digest.update(b"\0")
        digest.update(raw.encode())
        published_at = article["published_at"]
        provider = article["provider"]
        return cls(
            article["id"], article["canonical_url"], article["url"], article["title"],
            article["excerpt"], provider["name"] if provider else None, article["quality"],
            article["heat"],
            int(datetime.fromisoformat(published_at).timestamp()) if published_at else None,
            article["published"], article["source"], tuple(article["topics"]),
            data, raw, digest.hexdigest(),
        )  # fmt: skip

    @classmethod
    def from_result(cls, result: ParseResult) -> StoredArticle:
        return cls.of(article_to_dict(result.article), to_json(result.raw))

    def with_id(self, article_id: str) -> StoredArticle:
        article = json.loads(self.data)
        article["id"] = article_id
        return StoredArticle.of(article, self.raw)

    def to_article(self) -> Article:
        return article_from_dict(json.loads(self.data))


class LoadItem(NamedTuple):
    """One file as the loader saw it: its stat, its hash, and the parse outcome."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    article: StoredArticle | None = None  # None: unchanged content, or rejected
    error: str | None = None  # the reason a file was rejected
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    path: str
    status: str  # loaded | updated | unchanged | duplicate | rejected
    article_id: str | None = None
    detail: str | None = None  # duplicate: the path that owns the URL; rejected: reason
    post_changed: bool = False  # its posted messages need an edit (coverage or link)
    # files kept out as duplicates of this one that it no longer gives the story of:
    # their records are forgotten, so that the loader reads them again
    released: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    article_id: str | None
    status: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    article_id: str
    channel_id: int
    state: DeliveryState
    attempts: int
    nonce: str
    message_id: int | None
    review_message_id: int | None
    decided_by: int | None
    last_error: str | None
    created_ts: int
    updated_ts: int
    sent_ts: int | None


@dataclass(frozen=True, slots=True)
class QueueItem:
    article: Article
    pinned: bool
    position: int | None  # the pin position, for pinned entries


@dataclass(frozen=True, slots=True)
class RouteState:
    channel_id: int
    paused: bool = False
    pause_reason: str | None = None
    disabled: bool = False
    disabled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    ts: int
    actor_id: int | None
    actor_name: str | None
    action: str
    channel_id: int | None
    article_id: str | None
    detail: str | None
    result: str


class Store(Protocol):
    """Everything Newsdesk keeps. All methods are coroutines; errors are StoreError."""

    async def close(self) -> None: ...
    async def snapshot(self) -> Store: ...

    # articles and files
    async def file_index(self) -> dict[str, FileRecord]: ...
    async def apply_load(self, items: list[LoadItem]) -> list[LoadOutcome]: ...
    async def file_records(self, paths: Sequence[str]) -> dict[str, FileRecord]: ...
    async def file_paths_under(
        self, folder: str, after: str = "", limit: int | None = None
    ) -> list[str]: ...
    async def forget_files(self, paths: list[str]) -> None: ...
    async def add_article(self, result: ParseResult) -> tuple[Article, bool]: ...
    async def get_article(self, article_id: str) -> Article | None: ...
    async def get_articles(self, article_ids: list[str]) -> list[Article]: ...
    async def first_seen_ts(self, article_id: str) -> int | None: ...
    async def article_count(self) -> int: ...
    async def complete_articles(self, text: str, limit: int = 25) -> list[Article]: ...
    async def search(
        self, query: str = "", topic: str | None = None, limit: int = 10, offset: int = 0
    ) -> tuple[list[Article], int]: ...  # total capped at COUNT_LIMIT + 1
    async def topics(self) -> list[tuple[str, int]]: ...
    async def complete_topics(self, text: str, limit: int = 25) -> list[tuple[str, int]]: ...
    async def latest_sent(
        self, topic: str | None = None, limit: int = 10
    ) -> list[tuple[Article, Delivery]]: ...

    # the queue
    async def next_for_channel(self, route: RouteFilter, limit: int = 1) -> list[QueueItem]: ...
    async def next_approved(self, channel_id: int, limit: int = 1) -> list[QueueItem]: ...
    async def review_candidates(self, route: RouteFilter, limit: int = 1) -> list[Article]: ...
    async def pin(
        self, channel_id: int, article_id: str, position: int | None, actor_id: int | None
    ) -> int: ...
    async def unpin(self, channel_id: int, article_id: str) -> bool: ...
    async def pins(self, channel_id: int) -> list[str]: ...

    # deliveries
    async def delivery(self, article_id: str, channel_id: int) -> Delivery | None: ...
    async def deliveries(
        self, channel_id: int | None = None, states: tuple[DeliveryState, ...] = ()
    ) -> list[Delivery]: ...
    async def set_delivery(
        self,
        article_id: str,
        channel_id: int,
        state: DeliveryState,
        *,
        expect: tuple[DeliveryState, ...] | None = None,
        message_id: int | None = None,
        review_message_id: int | None = None,
        decided_by: int | None = None,
        error: str | None = None,
        count_attempt: bool = False,
    ) -> Delivery | None: ...
    async def claim(self, article_id: str, channel_id: int) -> Delivery | None: ...
    async def retry_failed(self, channel_id: int) -> int: ...
    async def sent_for_article(self, article_id: str) -> list[Delivery]: ...
    async def pending_edits(self, limit: int = 100) -> list[Delivery]: ...
    async def edit_done(self, article_id: str, channel_id: int) -> None: ...

    # routes and audit
    async def route_state(self, channel_id: int) -> RouteState: ...
    async def set_route_state(self, state: RouteState) -> None: ...
    async def audit(
        self,
        action: str,
        result: str,
        *,
        actor_id: int | None = None,
        actor_name: str | None = None,
        channel_id: int | None = None,
        article_id: str | None = None,
        detail: str | None = None,
    ) -> None: ...
    async def audit_log(self, limit: int = 50) -> list[AuditEntry]: ...
