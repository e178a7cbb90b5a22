"""The store's records and the rules every backend shares (query caps, nonces, leases,
the REST budget's arithmetic), free of any database detail."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from bot.models import (
    Article,
    ParseResult,
    article_from_dict,
    article_to_dict,
    domain_key,
    has_words,
    in_domain,
    to_json,
    word_key,
)

COUNT_LIMIT = 1000  # search totals are counted up to here; more reads COUNT_LIMIT + 1
# What a search or an autocomplete reads of its text: each word costs a pass over the
# stories that have it, so a pasted page of common words must not cost a page of passes.
QUERY_WORDS = 8
QUERY_CHARS = 200  # as much as /search's query option takes
_QUERY_WORD = re.compile(r"\w+")


def capped_query(text: str) -> str:
    """The part of ``text`` a search or autocomplete uses: its first QUERY_CHARS
    characters, cut after their QUERY_WORDS-th word."""
    head = text[:QUERY_CHARS]
    for number, word in enumerate(_QUERY_WORD.finditer(head), 1):
        if number == QUERY_WORDS:
            return head[: word.end()]
    return head


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


# How long a claim holds a delivery for its claimer (see Store.claim): well over one send
# with its retries' backoff (RETRY_DELAYS), which the holder renews before each attempt.
LEASE_SECONDS = 60.0


def new_lease_owner() -> str:
    """An owner id for a store's claims that no other process shares (host, pid, and a
    random part for a pid reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def held_by_another(owner: str | None, until: float | None, me: str, now: float) -> bool:
    """Whether a lease stamped ``owner`` and ``until`` refuses ``me`` at ``now``: another
    process's, and not yet expired. One rule for every backend's claims and settles."""
    return owner not in (None, me) and until is not None and until > now


def delivery_nonce(article_id: str, channel_id: int) -> str:
    """The nonce of a story's delivery to a channel: the same on every attempt and in every
    backend (the channel is searched for it after a crash), at most 25 characters."""
    digest = hashlib.sha256(f"{article_id}/{channel_id}".encode()).hexdigest()
    return f"nd{digest[:23]}"


def bot_key(token: str) -> str:
    """The key of a bot's REST budget in a store: a hash of its token, never the token."""
    return hashlib.sha256(f"newsdesk-rest/{token}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RestGrant:
    """What one take from a bot's REST budget got (see Store.take_rest_budget)."""

    granted: int  # requests that may go out now: 0 up to the number asked for
    wait: float  # seconds until the bucket holds a whole token again; 0.0 if all were granted
    at: float  # the time the take counted by (Unix seconds, the store's clock)


# A token short of whole by less than this counts as whole: the refill's floating point
# (0.02 s at 50 a second makes 0.9999…) must not leave a caller waiting for a rounding.
WHOLE = 1e-9


def rest_grant(want: int, granted: int, tokens: float, rate: float, at: float) -> RestGrant:
    """The grant of a take that left ``tokens`` in a bucket refilled at ``rate``."""
    wait = 0.0 if granted >= want else max(1.0 - tokens, 0.0) / rate
    return RestGrant(granted, wait, at)


def check_budget(want: int, rate: float, burst: int) -> None:
    """Refuse a take no bucket can answer (ValueError)."""
    if want < 1 or not rate > 0 or burst < 1:
        raise ValueError(
            f"a REST budget takes want >= 1, rate > 0 and burst >= 1,"
            f" got want={want}, rate={rate}, burst={burst}"
        )


class DigestState(StrEnum):
    SENDING = "sending"  # claimed with its stories: a send is (or was) in flight
    SENT = "sent"
    FAILED = "failed"  # Discord refused it (400): its stories failed with it


def digest_nonce(channel_id: int, article_ids: Collection[str]) -> str:
    """The nonce of a digest: derived from its channel and the set of its stories, so the
    same on every attempt (and after a restore from a backup), at most 25 characters."""
    digest = hashlib.sha256(f"digest/{channel_id}/{','.join(sorted(article_ids))}".encode())
    return f"dg{digest.hexdigest()[:23]}"


@dataclass(frozen=True, slots=True)
class Digest:
    """One message listing several stories of a channel: one delivery unit."""

    id: int
    channel_id: int
    state: DigestState
    nonce: str
    article_ids: tuple[str, ...]  # in the digest's order
    attempts: int
    message_id: int | None
    last_error: str | None
    created_ts: int  # when it was claimed: the next digest takes stories first seen since
    sent_ts: int | None


@dataclass(frozen=True, slots=True)
class RouteFilter:
    """What a channel takes: the pure form of a route's config at one moment."""

    channel_id: int
    topics: tuple[str, ...] = ()  # models.topic_key of each; empty = every topic
    exclude_topics: tuple[str, ...] = ()  # models.topic_key of each
    min_quality: int = 0
    min_published_ts: int | None = None  # from max_age_days; None = any age
    require_quality: bool = False  # a story of unknown quality passes min_quality unless set
    include_published: bool = False  # also stories whose file says published: true
    # Words and providers, as written in the config (shown in reasons); the store applies
    # them to the stories its SQL chose (see screen), so they cost nothing when empty.
    include_words: tuple[str, ...] = ()
    exclude_words: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # domains; a subdomain is in its domain
    exclude_providers: tuple[str, ...] = ()
    # a digest route: only stories the store first saw at or after this (the claim of
    # its previous digest); None = any
    min_first_seen_ts: int | None = None

    @property
    def screens(self) -> bool:
        """Whether screen() can refuse a story (any word or provider filter is set)."""
        return bool(
            self.include_words or self.exclude_words or self.providers or self.exclude_providers
        )

    def screen(self, article: Article) -> str | None:
        """Why the word and provider filters refuse ``article``, naming the filter and the
        value, or None when they take it. Words and phrases are whole words of the title
        or the excerpt, in any case, accents or not (models.word_key)."""
        if self.include_words or self.exclude_words:
            texts = (word_key(article.title), word_key(article.excerpt))
            found = [
                word
                for word in self.exclude_words
                if any(has_words(text, word_key(word)) for text in texts)
            ]
            if found:
                return f"excluded by exclude_words: {_quoted(found)}"
            if self.include_words and not any(
                has_words(text, word_key(word)) for word in self.include_words for text in texts
            ):
                return (
                    f"excluded by include_words: none of {_quoted(self.include_words)}"
                    " is in its title or excerpt"
                )
        if self.providers or self.exclude_providers:
            domains = article.domains
            found = [
                d
                for d in self.exclude_providers
                if any(in_domain(h, domain_key(d)) for h in domains)
            ]
            if found:
                return f"excluded by exclude_providers: {_quoted(found)}"
            if self.providers and not any(
                in_domain(h, domain_key(d)) for d in self.providers for h in domains
            ):
                return (
                    f"excluded by providers: it comes from {', '.join(domains) or 'no domain'},"
                    f" not {_quoted(self.providers)}"
                )
        return None


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f'"{value}"' for value in values)


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
    quality: int | None  # None: unknown (the file gives none)
    heat: int
    published_ts: int | None  # Unix seconds
    published: bool
    source: str
    topics: tuple[str, ...]  # as written
    data: str  # the whole article as JSON, in models.article_to_dict's shape
    raw: str  # a moderator's submitted fields as JSON; empty for a file (the file is the source)
    content_hash: str  # of data and raw: tells a real edit from a re-save
    # what the store files it under to find its event (curation.events.store_keys)
    event_keys: tuple[int, ...] = ()

    @classmethod
    def of(cls, article: dict[str, Any], raw: str) -> StoredArticle:
        """From an article in JSON form (models.article_to_dict or parsing.normalise)."""
        from bot.curation.events import store_keys  # (events reads the store's types)

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
            store_keys(
                article["title"], article["canonical_url"], (r["url"] for r in article["related"])
            ),
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
    merged_into: str | None = None  # the lead of the event its story is now in, another
    # files kept out as duplicates of this one that it no longer gives the story of:
    # their records are forgotten, so that the loader reads them again
    released: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    article_id: str | None  # the story it gives, or for a duplicate the one it duplicates
    status: str  # ok | duplicate | rejected
    error: str | None  # rejected: the reason
    owner: str | None = None  # duplicate: the path of the file that gives the story


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
    # Only on what ``Store.claim`` returns: the claim took over a send already in flight
    # (its own earlier claim, or an expired lease of another owner): it may have arrived,
    # so the channel is looked in before sending.
    taken_over: bool = False


class Headline(NamedTuple):
    """A story as autocomplete names it: its id and title, nothing else to read."""

    id: str
    title: str


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
class ShardLease:
    """Who runs a gateway shard (``shard_id`` of ``shard_count``), until when."""

    shard_id: int
    shard_count: int
    owner: str  # the holding process's name, unique to that process's life
    expires_in: float  # seconds left by the store's clock; <= 0: expired, free to take

    def describe(self) -> str:
        return f"shard {self.shard_id} of {self.shard_count}"


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


async def screened_pages(
    route: RouteFilter, want: int, page: Callable[[int, int], Awaitable[list[Article]]]
) -> list[Article]:
    """The first ``want`` stories that route.screen() takes, read through ``page(limit,
    offset)`` (a part of the queue, in its order) a page at a time until enough pass or
    the part ends; without word or provider filters, one read of ``want``. Every backend's
    queue screens its parts so."""
    if not route.screens:
        return await page(want, 0)
    out: list[Article] = []
    size, offset = max(4 * want, 64), 0
    while True:
        rows = await page(size, offset)
        for article in rows:
            if route.screen(article) is None:
                out.append(article)
                if len(out) == want:
                    return out
        if len(rows) < size:
            return out
        offset += size
