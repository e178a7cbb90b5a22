"""Finding stories for everyone: the core behind /search, /topics, /latest and /article.

Free of discord.py. Messages in :class:`StoryError` are fit to show a user as they are:
text that came from a user or a file is quoted in a code span, so it renders literally.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from bot.models import Article
from bot.store.base import Delivery, Store
from bot.urls import ID_LENGTHS, canonical_url, is_http_url, normalise_id, short_id

MAX_SUGGESTIONS = 5
_NOT_ID = re.compile(r"[^0-9a-z]")


class StoryError(Exception):
    """A request that cannot be answered; ``message`` is polite and safe to show."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownTopic(StoryError):
    def __init__(self, topic: str, suggestions: list[str]) -> None:
        self.topic, self.suggestions = topic, suggestions
        if suggestions:
            names = ", ".join(code(s) for s in suggestions)
            text = f"There is no topic {code(topic)}. Did you mean {names}?"
        else:
            text = f"There is no topic {code(topic)}. /topics lists every topic."
        super().__init__(text)


def code(text: str, limit: int = 100) -> str:
    """``text`` as one inline code span: shown literally, whatever it contains."""
    flat = " ".join(text.split()).replace("`", "ˋ")[:limit]
    return f"`{flat}`" if flat else "`(empty)`"


@dataclass(frozen=True, slots=True)
class SearchResults:
    topic: str  # the topic as stored (its display spelling)
    query: str
    articles: tuple[Article, ...]
    total: int  # every match, not only the ones returned


@dataclass(frozen=True, slots=True)
class Latest:
    topic: str | None
    stories: tuple[tuple[Article, Delivery], ...]


def fold_topic(text: str) -> str:
    """A topic as matched by people: any case, accents or Unicode form ("mexico" is
    "México"), white space squeezed."""
    decomposed = unicodedata.normalize("NFKD", " ".join(text.split()))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


async def resolve_topic(store: Store, text: str) -> str:
    """The stored spelling of topic ``text`` (any case or accents), or :class:`UnknownTopic`.

    A topic spelled exactly so (but for case) wins over one that differs in accents.
    """
    wanted = unicodedata.normalize("NFC", " ".join(text.split())).casefold()
    known = await store.topics()
    for name, _count in known:
        if unicodedata.normalize("NFC", name).casefold() == wanted:
            return name
    by_key: dict[str, str] = {}
    for name, _count in known:
        by_key.setdefault(fold_topic(name), name)
    folded = fold_topic(text)
    if folded in by_key:
        return by_key[folded]
    close = difflib.get_close_matches(folded, list(by_key), n=MAX_SUGGESTIONS, cutoff=0.6)
    if not close:  # a word of a longer topic name ("vision" → "Computer Vision")
        close = [key for key in by_key if folded and folded in key][:MAX_SUGGESTIONS]
    raise UnknownTopic(text, [by_key[key] for key in close])


async def complete_topics(store: Store, text: str, limit: int) -> list[tuple[str, int]]:
    """Topics starting with, then containing, ``text``, with their story counts.

    The store matches by case; when that leaves room, topics that match but for accents
    or Unicode form follow ("mex" → "México").
    """
    found = await store.complete_topics(text, limit)
    folded = fold_topic(text)
    if len(found) >= limit or not folded:
        return found
    seen = {name for name, _ in found}
    known = [(n, c) for n, c in await store.topics() if n not in seen]
    keyed = [(fold_topic(n), n, c) for n, c in known]
    starts = [(n, c) for key, n, c in keyed if key.startswith(folded)]
    within = [(n, c) for key, n, c in keyed if folded in key and not key.startswith(folded)]
    more = sorted(starts, key=lambda t: -t[1]) + sorted(within, key=lambda t: -t[1])
    return found + more[: limit - len(found)]


async def search_stories(store: Store, topic: str, query: str, limit: int) -> SearchResults:
    """Stories of ``topic`` with the words of ``query``: titled with them first, then ranked."""
    name = await resolve_topic(store, topic)
    articles, total = await store.search(query, name, limit)
    return SearchResults(name, query.strip(), tuple(articles), total)


async def latest_stories(store: Store, topic: str | None, limit: int = 10) -> Latest:
    name = await resolve_topic(store, topic) if topic and topic.strip() else None
    return Latest(name, tuple(await store.latest_sent(name, limit)))


async def find_article(store: Store, text: str) -> Article:
    """The story a person means by ``text``: its id as typed, or its URL."""
    raw = text.strip()
    ident = normalise_id(raw)
    if ident and not _NOT_ID.search(ident):
        article = await store.get_article(ident)
        if article is not None:
            return article
    if is_http_url(raw):
        canonical = canonical_url(raw)
        for length in ID_LENGTHS:
            article = await store.get_article(short_id(canonical, length))
            if article is not None and article.canonical_url == canonical:
                return article
        raise StoryError("No story has that link. /queue submit adds a new one.")
    if not raw:
        raise StoryError("That is not a story id. Start typing a title and pick a story.")
    raise StoryError(
        f"No story has the id {code(raw, 40)}. Start typing a title or an id and pick a story."
    )
