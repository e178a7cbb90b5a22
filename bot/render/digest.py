"""A route's digest → one Discord message: a numbered, linked line per story with its
outlet and topic, the lines sharing Discord's limits fairly. Pure, as :mod:`embeds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bot.models import Article
from bot.render.embeds import (
    DEFAULT_COLOUR,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_LIMIT,
    FIELD_VALUE_LIMIT,
    RELATED_TITLE_LIMIT,
    THREAD_NAME_LIMIT,
    Card,
    EmbedField,
    Post,
    honest_text,
    host_key,
    http_only,
    link_text,
    link_url,
    plain_field,
    truncate,
)

DIGEST_TITLE = "Top stories"
DIGEST_MIN_TITLE = 24  # characters of its title a digest line keeps when lines must share
DIGEST_HOST_LIMIT = 64  # the outlet (the link's host) in a digest line
DIGEST_TOPIC_LIMIT = 40
DIGEST_URL_LIMIT = 512  # a longer link is left out of its digest line (the title stays)
DIGEST_MARK = "digest "  # the footer ends with it and the digest's nonce: found by either


@dataclass(frozen=True, slots=True)
class _DigestLine:
    """A digest line's parts: all fixed but the title, which gives way to fit."""

    prefix: str  # "3. "
    title: str  # as in the file
    url: str | None  # the link, None if the story has no usable one
    suffix: str  # " — outlet · topic", escaped

    def render(self, room: int) -> str:
        if self.url is None:
            return f"{self.prefix}{link_text(self.title, max(1, room))}{self.suffix}"
        title = honest_text(self.title, self.url, max(1, room), link_text)
        return f"{self.prefix}[{title}]({link_url(self.url)}){self.suffix}"

    @property
    def fixed(self) -> int:
        """Characters of the line without its title."""
        return len(self.render(1)) - len(self.render_title(1))

    def render_title(self, room: int) -> str:
        if self.url is None:
            return link_text(self.title, max(1, room))
        return honest_text(self.title, self.url, max(1, room), link_text)

    @property
    def wanted(self) -> int:
        """Characters of the whole title, as it shows."""
        return len(self.render_title(RELATED_TITLE_LIMIT))


def outlet(url: str | None) -> str | None:
    """The host a link opens, as a reader knows an outlet: lower case, without "www.",
    in ASCII (an IDN homograph shows as xn--). It is the link's own host, so a line
    cannot name one outlet and open another."""
    if not url:
        return None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host_key(host) if host else None


def _digest_line(number: int, article: Article) -> _DigestLine:
    url = http_only(article.url)
    host = outlet(url or article.url)
    topic = next((t for t in article.topics if t.strip()), None)
    parts = [
        link_text(p, limit)
        for p, limit in ((host, DIGEST_HOST_LIMIT), (topic, DIGEST_TOPIC_LIMIT))
        if p
    ]
    suffix = f" — {' · '.join(parts)}" if parts else ""
    title = " ".join(article.title.split()) or article.url or f"Article {article.id}"
    if url is not None and len(link_url(url)) > DIGEST_URL_LIMIT:
        url = None
    return _DigestLine(f"{number}. ", title, url, suffix)


def _digest_card(count: int, nonce: str, when: datetime) -> Card:
    stories = "1 story" if count == 1 else f"{count} stories"
    return Card(
        colour=DEFAULT_COLOUR,
        title=DIGEST_TITLE,
        footer=f"{stories} · {DIGEST_MARK}{plain_field(nonce)}",
        timestamp=when if when.tzinfo else when.replace(tzinfo=UTC),
    )


DIGEST_CONT_NAME = "\u200b"  # a field that goes on with the list: no heading of its own


def _pack(lines: Sequence[str], budget: int) -> tuple[str, tuple[EmbedField, ...]] | None:
    """Whole lines into the description (4,096), then into fields (1,024 each, 25 at
    most), all within ``budget`` characters; None if they do not fit."""
    chunks: list[list[str]] = [[]]
    limits = [DESCRIPTION_LIMIT]
    for line in lines:
        if len("\n".join([*chunks[-1], line])) > limits[-1]:
            if len(line) > FIELD_VALUE_LIMIT or len(chunks) > FIELD_LIMIT:
                return None
            chunks.append([])
            limits.append(FIELD_VALUE_LIMIT)
        chunks[-1].append(line)
    description, *rest = ["\n".join(chunk) for chunk in chunks]
    fields = tuple(EmbedField(DIGEST_CONT_NAME, value) for value in rest)
    used = len(description) + sum(len(f.name) + len(f.value) for f in fields)
    return (description, fields) if used <= budget else None


def _least(lines: Sequence[_DigestLine]) -> list[str]:
    """``lines`` with each title cut to DIGEST_MIN_TITLE: the least they need."""
    return [line.render(min(line.wanted, DIGEST_MIN_TITLE)) for line in lines]


def digest_fit(articles: Sequence[Article], nonce_length: int = 25) -> int:
    """How many of ``articles``, from the first, one digest shows, each with its link
    and at least DIGEST_MIN_TITLE characters of its title."""
    card = _digest_card(len(articles), "x" * nonce_length, datetime(2000, 1, 1, tzinfo=UTC))
    budget = EMBED_TOTAL_LIMIT - len(card)
    lines: list[_DigestLine] = []
    for number, article in enumerate(articles, 1):
        lines.append(_digest_line(number, article))
        if _pack(_least(lines), budget) is None:
            return number - 1
    return len(articles)


def _shares(wanted: list[int], room: int) -> list[int]:
    """``room`` characters shared among titles that want ``wanted``: the shortest get
    what they want, the others an equal part of what is left (max-min fair)."""
    given = [0] * len(wanted)
    left, count = room, len(wanted)
    for index in sorted(range(len(wanted)), key=lambda i: wanted[i]):
        share = min(wanted[index], left // count) if count else 0
        given[index] = share
        left -= share
        count -= 1
    return given


def _lay_out(lines: list[_DigestLine], budget: int) -> tuple[str, tuple[EmbedField, ...]] | None:
    """The lines with the longest titles ``budget`` allows (as evenly shared as the
    titles allow), packed; None if even the shortest titles do not fit."""
    if _pack(_least(lines), budget) is None:
        return None
    wanted = [line.wanted for line in lines]
    room = budget - sum(line.fixed for line in lines)
    floor = sum(min(w, DIGEST_MIN_TITLE) for w in wanted)
    while room > floor:
        packed = _pack(
            [ln.render(share) for ln, share in zip(lines, _shares(wanted, room), strict=True)],
            budget,
        )
        if packed is not None:
            return packed
        room -= max(len(lines), (room - floor) // 8)  # the line breaks and field names
    return _pack(_least(lines), budget)


def build_digest(
    articles: Sequence[Article],
    *,
    nonce: str,
    when: datetime,
    mention_role: int | None = None,
) -> Post:
    """One message listing ``articles`` in order, each a numbered line linking the story,
    with its outlet and topic: "1. [Title](url) — outlet.example · AI". Every story is
    shown (titles are shortened to make room, as evenly as they allow); the digest's
    nonce ends the footer, so the message can be known again. ``when`` is the digest's
    time (its claim), shown as the embed's timestamp and in the thread name."""
    card = _digest_card(len(articles), nonce, when)
    budget = EMBED_TOTAL_LIMIT - len(card)
    lines = [_digest_line(n, a) for n, a in enumerate(articles, 1)]
    packed = _lay_out(lines, budget)
    # Stories whose links leave no room (edited since they were chosen): the longest
    # links go first, the titles stay.
    while packed is None and any(line.url for line in lines):
        longest = max(
            (i for i, line in enumerate(lines) if line.url),
            key=lambda i: len(lines[i].url or ""),
        )
        lines[longest] = replace(lines[longest], url=None)
        packed = _lay_out(lines, budget)
    if packed is None:
        raise ValueError(f"{len(articles)} stories do not fit one digest")
    description, fields = packed
    card = replace(card, description=description or None, fields=fields)
    local = card.timestamp or when
    return Post(
        article_id=nonce,  # a digest is no one story: its nonce names it in the log
        content=f"<@&{mention_role}>" if mention_role is not None else None,
        card=card,
        buttons=(),
        mention_roles=(mention_role,) if mention_role is not None else (),
        thread_name=truncate(f"{DIGEST_TITLE} · {local:%Y-%m-%d %H:%M}", THREAD_NAME_LIMIT),
    )
