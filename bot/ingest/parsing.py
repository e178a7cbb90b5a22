"""Article files → :class:`Article` values. Pure: text in, value (or a reason) out."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple, cast

from bot.ingest.frontmatter import (
    KNOWN_KEYS,
    MAX_FILE_BYTES,
    TOO_LARGE,
    ArticleError,
    decode,
    load_front_matter,
    split_front_matter,
)
from bot.ingest.urls import canonical_url, is_http_url, short_id
from bot.models import ParseResult, article_from_dict, iso_time, json_default, topic_key

ARTICLE_SUFFIXES = (".txt", ".md", ".markdown")

MAX_RELATED = 100
# A related item's quality is the outlet's own score: above 100 is common in real archives,
# so it is kept as written (embeds order by it clamped to 100).
MAX_RELATED_QUALITY = 2**53
MAX_TOPICS = 50
MAX_IMAGES = 20
MAX_DIMENSION = 100_000  # pixels, an image's width or height
MAX_TEXT = 20_000  # characters kept of a title, excerpt or name


# --------------------------------------------------------------------------- field rules


def _squeezed(text: str) -> str:
    """The text rule: white space runs become one space, at most MAX_TEXT characters."""
    return " ".join(text.split())[:MAX_TEXT]


class _Fields:
    """Collects warnings while fields are normalised."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def text(self, value: Any, key: str, required: bool = False) -> str:
        if value.__class__ is str and value:  # the common case first
            return _squeezed(value)
        if value is None or value == "":
            if required:
                raise ArticleError(f"{key} is required")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            if required:
                raise ArticleError(f"{key} must be text, not {type(value).__name__}")
            self.warn(f"{key}: expected text, got {type(value).__name__}; ignored")
            return ""
        return _squeezed(str(value))

    def optional_text(self, value: Any, key: str) -> str | None:
        if value.__class__ is str:  # the common case first
            return _squeezed(value) or None
        return self.text(value, key) or None

    def url(self, value: Any, key: str, required: bool = False) -> str | None:
        if value.__class__ is str and is_http_url(value):  # the common case first
            return value.strip()
        if value is None or value == "":
            if required:
                raise ArticleError(f"{key} is required")
            return None
        if is_http_url(value):
            return str(value).strip()
        shown = repr(value)[:80]
        if required:
            raise ArticleError(f"{key} must be an http(s) URL, got {shown}")
        self.warn(f"{key}: not an http(s) URL, dropped: {shown}")
        return None

    def integer(
        self, value: Any, key: str, default: int, low: int | None = None, high: int | None = None
    ) -> int:
        number: int | None = None
        if value.__class__ is int:  # the common case first
            number = value
        elif value is None or value == "":
            return default
        elif isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                parsed = float(value.strip())
            except ValueError:
                parsed = math.nan
            if math.isfinite(parsed) and parsed.is_integer():
                number = int(parsed)
        if number is None:
            raise ArticleError(f"{key} must be an integer, got {repr(value)[:40]}")
        if (low is not None and number < low) or (high is not None and number > high):
            raise ArticleError(f"{key} must be between {low} and {high}, got {number}")
        return number

    def boolean(self, value: Any, key: str) -> bool:
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
            return value.strip().lower() in ("true", "yes")
        raise ArticleError(f"{key} must be true or false, got {repr(value)[:40]}")

    def timestamp(self, value: Any, key: str) -> datetime | None:
        if value is None or value == "":
            return None
        moment: datetime | None = None
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime.combine(value, time(), tzinfo=UTC)
        elif isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                moment = None
        if moment is None:
            self.warn(f"{key}: not a date and time, treated as unknown: {repr(value)[:60]}")
            return None
        return _utc(moment)

    def items(self, value: Any, key: str, limit: int) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            value = [value]
        if len(value) > limit:
            self.warn(f"{key}: {len(value)} entries, kept the first {limit}")
        return cast(list[Any], value)[:limit]

    def images(self, value: Any, key: str) -> list[dict[str, Any]]:
        out = []
        for index, item in enumerate(self.items(value, key, MAX_IMAGES)):
            if item.__class__ is dict and (plain := _plain_image(item)) is not None:
                out.append(plain)  # the common case first
                continue
            where = f"{key}[{index}]"
            if isinstance(item, str):
                item = {"url": item}
            if not isinstance(item, dict):
                self.warn(f"{where}: expected a mapping with a url; dropped")
                continue
            url = self.url(item.get("url"), f"{where}.url")
            if url is None:
                continue
            out.append(
                {
                    "url": url,
                    "width": self._dimension(item.get("width"), f"{where}.width"),
                    "height": self._dimension(item.get("height"), f"{where}.height"),
                    "title": self.optional_text(item.get("title"), f"{where}.title"),
                }
            )
        return out

    def _dimension(self, value: Any, key: str) -> int | None:
        if _plain_dimension(value):
            return cast(int | None, value)  # the common cases first
        try:
            number = self.integer(value, key, default=-1, low=0, high=MAX_DIMENSION)
        except ArticleError as exc:
            self.warn(f"{exc}; ignored")
            return None
        return None if number < 0 else number

    def provider(self, value: Any, key: str) -> dict[str, Any] | None:
        if value.__class__ is dict and (plain := _plain_provider(value)) is not None:
            return plain  # the common case first
        if value is None:
            return None
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            self.warn(f"{key}: expected a mapping; ignored")
            return None
        name = self.text(value.get("name"), f"{key}.name")
        domain = self.optional_text(value.get("domain"), f"{key}.domain")
        if not name:
            name = domain or ""
        if not name:
            return None
        return {
            "name": name,
            "domain": domain,
            "images": self.images(value.get("images"), f"{key}.images"),
        }

    def topics(self, value: Any) -> list[str]:
        seen: dict[str, str] = {}
        for item in self.items(value, "topics", MAX_TOPICS):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.warn(f"topics: {repr(item)[:40]} is not text; dropped")
                continue
            topic = " ".join(str(item).split())[:100]
            if topic:
                seen.setdefault(topic_key(topic), topic)
        return list(seen.values())

    def related(self, value: Any) -> list[dict[str, Any]]:
        out = []
        for index, item in enumerate(self.items(value, "related", MAX_RELATED)):
            if item.__class__ is dict and (plain := _plain_related(item)) is not None:
                out.append(plain)  # the common case first
                continue
            where = f"related[{index}]"
            if not isinstance(item, dict):
                self.warn(f"{where}: expected a mapping; dropped")
                continue
            url = self.url(item.get("webUrl") or item.get("url"), f"{where}.webUrl")
            if url is None:
                if not item.get("webUrl") and not item.get("url"):
                    self.warn(f"{where}: no webUrl; dropped")
                continue
            try:
                quality = self.integer(
                    item.get("quality"), f"{where}.quality", -1, 0, MAX_RELATED_QUALITY
                )
            except ArticleError as exc:
                self.warn(f"{exc}; ignored")
                quality = -1
            out.append(
                {
                    "title": self.text(item.get("title"), f"{where}.title") or url,
                    "url": url,
                    "excerpt": self.text(item.get("excerpt"), f"{where}.excerpt"),
                    "amp_url": self.url(item.get("ampWebUrl"), f"{where}.ampWebUrl"),
                    "published_at": iso_time(
                        self.timestamp(item.get("publishedDateTime"), f"{where}.publishedDateTime")
                    ),
                    "provider": self.provider(item.get("provider"), f"{where}.provider"),
                    "quality": None if quality < 0 else quality,
                    "images": self.images(item.get("images"), f"{where}.images"),
                }
            )
        return _once_per_url(out)


def _known(quality: int) -> int | None:
    """A missing quality (-1 from integer's default) is unknown, not 0."""
    return None if quality < 0 else quality


def _once_per_url(related: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each related URL once (canonical form: one outlet's story listed under two
    headlines is one link): the first entry is kept, headline and all."""
    if len(related) < 2:
        return related
    seen: set[str] = set()
    out = []
    for item in related:
        key = canonical_url(item["url"])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


# ---------------------------------------------------------------------- plain values
# The usual image, provider and related item needs no rule but white space. These build
# one directly, at about half the cost, or return None, and _Fields applies the
# rules; tests/ingest/test_parsing.py holds the two equal.


def _utc(moment: datetime) -> datetime:
    """A time in UTC; a time without a zone is taken as UTC."""
    if moment.tzinfo is UTC:
        return moment
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _plain_dimension(value: Any) -> bool:
    """Absent, or a whole number of pixels in range: kept as it is."""
    return value is None or (value.__class__ is int and 0 <= value <= MAX_DIMENSION)


def _plain_image(item: dict[str, Any]) -> dict[str, Any] | None:
    url, width, height, title = (
        item.get("url"),
        item.get("width"),
        item.get("height"),
        item.get("title"),
    )
    if (
        url.__class__ is str
        and is_http_url(url)
        and _plain_dimension(width)
        and _plain_dimension(height)
    ):
        if title.__class__ is str:
            title = _squeezed(title) or None
        elif title is not None:
            return None
        return {"url": url.strip(), "width": width, "height": height, "title": title}
    return None


def _plain_images(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return []
    if value.__class__ is not list or len(value) > MAX_IMAGES:
        return None
    out = []
    for item in value:
        if item.__class__ is not dict or (image := _plain_image(item)) is None:
            return None
        out.append(image)
    return out


def _plain_provider(value: dict[str, Any]) -> dict[str, Any] | None:
    name, domain = value.get("name"), value.get("domain")
    if name.__class__ is not str or (domain is not None and domain.__class__ is not str):
        return None
    name = _squeezed(name)
    images = _plain_images(value.get("images"))
    if not name or images is None:
        return None
    domain = (domain and _squeezed(domain)) or None
    return {"name": name, "domain": domain, "images": images}


def _plain_related(item: dict[str, Any]) -> dict[str, Any] | None:
    url = item.get("webUrl") or item.get("url")
    title, excerpt, amp = item.get("title"), item.get("excerpt"), item.get("ampWebUrl")
    moment, provider, quality = (
        item.get("publishedDateTime"),
        item.get("provider"),
        item.get("quality"),
    )
    if not (
        url.__class__ is str
        and is_http_url(url)
        and (title is None or title.__class__ is str)
        and (excerpt is None or excerpt.__class__ is str)
        and (amp is None or (amp.__class__ is str and is_http_url(amp)))
        and (moment is None or moment.__class__ is datetime)
        and (quality is None or (quality.__class__ is int and 0 <= quality <= MAX_RELATED_QUALITY))
    ):
        return None
    if provider is not None and (
        provider.__class__ is not dict or (provider := _plain_provider(provider)) is None
    ):
        return None
    images = _plain_images(item.get("images"))
    if images is None:
        return None
    url = url.strip()
    return {
        "title": (title and _squeezed(title)) or url,
        "url": url,
        "excerpt": (excerpt and _squeezed(excerpt)) or "",
        "amp_url": amp and amp.strip(),
        "published_at": moment and _utc(moment).isoformat(),
        "provider": provider,
        "quality": quality,
        "images": images,
    }


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _json_safe(value: dict[Any, Any]) -> dict[str, Any]:
    """Unknown keys are kept as JSON; dates become ISO 8601 text."""
    if all(k.__class__ is str and v.__class__ in _JSON_SCALARS for k, v in value.items()):
        return value  # already as JSON reads back (the usual case: a few plain fields)
    return json.loads(json.dumps(value, default=json_default))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- entry points


def normalise(
    data: dict[str, Any], body: str = "", source: str = "file"
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A front-matter mapping → the article in JSON form (models.article_to_dict's shape)
    and the warnings. Raises ArticleError."""
    fields = _Fields()
    title = fields.text(data.get("title"), "title", required=True)
    url = fields.url(data.get("webUrl"), "webUrl", required=True)
    assert url is not None
    canonical = canonical_url(url)
    article = {
        "id": short_id(canonical),
        "canonical_url": canonical,
        "url": url,
        "title": title,
        "excerpt": fields.text(data.get("excerpt"), "excerpt"),
        "body": body[:MAX_TEXT],
        "amp_url": fields.url(data.get("ampWebUrl"), "ampWebUrl"),
        "published_at": iso_time(
            fields.timestamp(data.get("publishedDateTime"), "publishedDateTime")
        ),
        "type": fields.optional_text(data.get("type"), "type"),
        "category": fields.optional_text(data.get("category"), "category"),
        "quality": _known(fields.integer(data.get("quality"), "quality", -1, low=0, high=100)),
        "heat": fields.integer(data.get("heat"), "heat", default=0, low=-(2**53), high=2**53),
        "published": fields.boolean(data.get("published"), "published"),
        "provider": fields.provider(data.get("provider"), "provider"),
        "topics": fields.topics(data.get("topics")),
        "images": fields.images(data.get("images"), "images"),
        "related": fields.related(data.get("related")),
        "secured": fields.optional_text(data.get("secured"), "secured"),
        "extra": _json_safe({k: v for k, v in data.items() if k not in KNOWN_KEYS}),
        "source": source,
    }
    return article, tuple(fields.warnings)


def article_from_mapping(data: dict[str, Any], body: str = "", source: str = "file") -> ParseResult:
    """Normalise a front-matter mapping into an article. Raises ArticleError."""
    article, warnings = normalise(data, body, source)
    return ParseResult(article_from_dict(article), warnings, data)


class ParsedFile(NamedTuple):
    """A file's article in JSON form, as the loader stores it without building objects."""

    article: dict[str, Any]  # models.article_to_dict's shape
    warnings: tuple[str, ...]


def _front_and_body(data: bytes | str) -> tuple[str, str]:
    """The front matter and body of a file's bytes or text, within the size bound."""
    if len(data) > MAX_FILE_BYTES:
        raise ArticleError(TOO_LARGE)
    return split_front_matter(decode(data) if isinstance(data, bytes) else data)


def parse_file(data: bytes) -> ParsedFile:
    """Parse the bytes of an article file. Raises ArticleError with the reason."""
    front, body = _front_and_body(data)
    article, warnings = normalise(load_front_matter(front), body)
    return ParsedFile(article, warnings)


def parse_article(data: bytes | str) -> ParseResult:
    """Parse the full text of an article file. Raises ArticleError with the reason."""
    front, body = _front_and_body(data)
    return article_from_mapping(load_front_matter(front), body)
