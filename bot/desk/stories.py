"""Finding stories for everyone: the core behind /search, /topics, /latest and /article.

Free of discord.py. Messages in :class:`StoryError` are fit to show a user as they are:
text that came from a user or a file is quoted in a code span, so it renders literally.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from bot.ingest.urls import canonical_url, is_http_url, normalise_id
from bot.models import Article, topic_key
from bot.store.base import Store
from bot.store.records import Delivery, capped_query

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


async def resolve_topic(store: Store, text: str) -> str:
    """The stored spelling of topic ``text``, which matches in any case, with or without
    accents (models.topic_key), or :class:`UnknownTopic` with the closest topics."""
    name = await store.topic_named(text)
    if name is not None:
        return name
    # unknown: the closest of every topic (read only now, as a search needs one topic)
    by_key = {topic_key(name): name for name, _count in await store.topics()}
    wanted = topic_key(text)
    close = difflib.get_close_matches(wanted, list(by_key), n=MAX_SUGGESTIONS, cutoff=0.6)
    if not close:  # a word of a longer topic name ("vision" → "Computer Vision")
        close = [key for key in by_key if wanted and wanted in key][:MAX_SUGGESTIONS]
    raise UnknownTopic(text, [by_key[key] for key in close])


async def search_stories(store: Store, topic: str, query: str, limit: int) -> SearchResults:
    """Stories of ``topic`` with the words of ``query``: titled with them first, then ranked.
    The results name the query as it was used: capped_query(query)."""
    name = await resolve_topic(store, topic)
    articles, total = await store.search(query, name, limit)
    return SearchResults(name, capped_query(query).strip(), tuple(articles), total)


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
        article = await store.article_by_url(canonical_url(raw))
        if article is not None:
            return article
        raise StoryError("No story has that link. /queue submit adds a new one.")
    if not raw:
        raise StoryError("That is not a story id. Start typing a title and pick a story.")
    raise StoryError(
        f"No story has the id {code(raw, 40)}. Start typing a title or an id and pick a story."
    )
