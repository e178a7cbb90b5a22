"""Article → Discord message payload. Pure: no I/O, no event loop, no Views.

Every limit from Discord (see DISCORD-NOTES.md) holds for any input, and no URL other
than http(s) reaches the embed or a button. Text from the feed that Discord renders as
markdown (title, description, field values) is escaped, so it is shown literally and
cannot forge a link, a mention, a timestamp or an emoji; plain-text places (author,
footer, labels, thread name) only get their whitespace collapsed and mentions
neutralised. Everywhere, control characters and bidi overrides are shown escaped
(:func:`escape_controls`), and a link whose text names another host than the link's
shows the real host after it (:func:`foreign_host`).
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.ingest.urls import canonical_url, is_http_url
from bot.models import Article, Related, topic_key

if TYPE_CHECKING:
    import discord

# Discord's limits.
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_TOTAL_LIMIT = 6000
BUTTONS_PER_ROW = 5
LABEL_LIMIT = 80
BUTTON_URL_LIMIT = 512  # a link button's url
THREAD_NAME_LIMIT = 100

# Our own choices.
DEFAULT_COLOUR = 0x5865F2  # Discord blurple, for articles without a topic
RELATED_NAME = "Related coverage"
RELATED_CONT_NAME = "Related coverage (cont.)"
RELATED_TITLE_LIMIT = 256
PROVIDER_LIMIT = 100  # a provider name inside a listing line
SUMMARY_LIMIT = 1024

_HOSTNAME = re.compile(
    r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE
)
# discord.utils.escape_markdown(ignore_links=False) and escape_mentions (discord.py 2.x),
# without discord.py: a dry run builds posts without importing it (≈ 17 MB of modules).
# Two differences: discord.py escapes a whole "[text](url)" span with one backslash and
# leaves the characters inside it live ("[a](b) ||spoiler|| **bold** (c)" is one span, up
# to the last ")"); here every markdown character is escaped on its own, brackets and
# parentheses included. And "<" is escaped: Discord's client reads <#id>, <@id>, <@&id>,
# </name:id>, <t:0:R>, <:name:id>, <a:name:id> and <https://…> as markup, and shows them
# as typed after a backslash (the "\<@id>" that shows a mention's raw form; discord.js's
# formatters escape "<https://…>" the same way). tests/render/test_embeds.py holds both to that.
_MARKDOWN = re.compile(r"(?P<markdown>[_\\~|\*`\[\]()<]|^>(?:>>)?\s|^#{1,3}|^\s*-)", re.MULTILINE)
_LINK_URL_ESCAPES = str.maketrans({c: f"%{ord(c):02X}" for c in "()\\<>"})
_MENTION = re.compile(r"@(everyone|here|[!&]?[0-9]{17,20})")
# Characters a terminal, a log viewer or Discord would act on instead of showing: C0 and
# C1 controls and DEL (a terminal's escape sequences, line breaks that forge a log line),
# the bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069 (they show
# text in another order than it is: "gnp.exe" for "exe.png"), the line and paragraph
# separators U+2028/U+2029 (line breaks to some viewers) and lone surrogates (a file
# name that is not UTF-8; printing one fails). The marks U+200E, U+200F and U+061C stay:
# they set the direction of neutral characters next to them but cannot reorder letters,
# and right-to-left titles use them. Every such character is not str.isprintable().
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# A host named in text: a URL's host, a domain (Unicode letters, ideographic full stops)
# or an IPv4 address, not inside a longer word.
_NAMED_HOST = re.compile(
    r"(?<![\w.\-])(?:[a-z][a-z0-9+.\-]*://)?"
    r"((?:[^\W_](?:[\w\-]{0,61}[^\W_])?[.\u3002\uff0e\uff61])+(?:[^\W\d_]{2,63}|xn--[a-z0-9\-]{1,59})"
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3})(?![\w\-])",
    re.IGNORECASE,
)
_DOTS = str.maketrans("\u3002\uff0e\uff61", "...")
_DOT = re.compile("[.\u3002\uff0e\uff61]")


@dataclass(frozen=True, slots=True)
class LinkButton:
    label: str  # ≤ 80 chars
    url: str  # http(s) only


@dataclass(frozen=True, slots=True)
class EmbedField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class Author:
    name: str
    url: str | None = None
    icon_url: str | None = None


@dataclass(frozen=True, slots=True)
class Card:
    """An embed as plain data: what :func:`build_post` decided, without discord.py.

    :meth:`to_dict` is what ``discord.Embed.to_dict()`` gives for the same embed (same
    keys, same order) and ``len()`` counts like ``len(discord.Embed)``; :meth:`to_discord`
    makes the ``discord.Embed`` itself, for the code that talks to Discord.
    """

    colour: int
    title: str | None = None
    url: str | None = None
    description: str | None = None
    author: Author | None = None
    footer: str | None = None
    image: str | None = None
    timestamp: datetime | None = None  # aware
    fields: tuple[EmbedField, ...] = ()

    def __len__(self) -> int:
        """Characters that count towards Discord's 6,000 per embed."""
        total = len(self.title or "") + len(self.description or "")
        total += sum(len(f.name) + len(f.value) for f in self.fields)
        return total + len(self.footer or "") + len(self.author.name if self.author else "")

    def to_dict(self) -> dict[str, Any]:
        """The embed's JSON, exactly as ``discord.Embed.to_dict()`` writes it."""
        data: dict[str, Any] = {}
        if self.footer is not None:
            data["footer"] = {"text": self.footer}
        if self.image is not None:
            data["image"] = {"url": self.image}
        if self.author is not None:
            author = {"name": self.author.name}
            if self.author.url is not None:
                author["url"] = self.author.url
            if self.author.icon_url is not None:
                author["icon_url"] = self.author.icon_url
            data["author"] = author
        if self.fields:
            data["fields"] = [
                {"inline": f.inline, "name": f.name, "value": f.value} for f in self.fields
            ]
        data["flags"] = 0
        data["color"] = self.colour
        if self.timestamp is not None:
            data["timestamp"] = self.timestamp.astimezone(UTC).isoformat()
        data["type"] = "rich"
        if self.description:
            data["description"] = self.description
        if self.url:
            data["url"] = self.url
        if self.title:
            data["title"] = self.title
        return data

    def to_discord(self) -> discord.Embed:
        # Imported here: only the Discord runtime needs discord.py, not dry runs (≈ 17 MB).
        import discord

        embed = discord.Embed(title=self.title, url=self.url, colour=self.colour)
        if self.author is not None:
            embed.set_author(
                name=self.author.name, url=self.author.url, icon_url=self.author.icon_url
            )
        if self.footer is not None:
            embed.set_footer(text=self.footer)
        if self.image is not None:
            embed.set_image(url=self.image)
        if self.timestamp is not None:
            embed.timestamp = self.timestamp
        if self.description is not None:
            embed.description = self.description
        for f in self.fields:
            embed.add_field(name=f.name, value=f.value, inline=f.inline)
        return embed


@dataclass(frozen=True, slots=True)
class Post:
    article_id: str
    content: str | None  # "<@&ROLE> <@&ROLE>…" for mention_roles, else None
    card: Card
    buttons: tuple[LinkButton, ...]  # at most 5 (one action row)
    mention_roles: tuple[int, ...]  # the roles pinged, the only ones that may be
    thread_name: str  # 1–100 chars, for a thread or forum post name

    @property
    def embed(self) -> discord.Embed:
        """The card as a ``discord.Embed`` (a new one on each access)."""
        return self.card.to_discord()

    @property
    def allowed_mentions(self) -> discord.AllowedMentions:
        return allowed_mentions(self.mention_roles)

    def to_payload(self) -> dict[str, Any]:
        """The JSON body Discord receives for this post."""
        payload: dict[str, Any] = {}
        if self.content is not None:
            payload["content"] = self.content
        payload["embeds"] = [self.card.to_dict()]
        buttons = [{"type": 2, "style": 5, "label": b.label, "url": b.url} for b in self.buttons]
        payload["components"] = [{"type": 1, "components": buttons}] if buttons else []
        payload["allowed_mentions"] = allowed_mentions_payload(self.mention_roles)
        return payload


# --------------------------------------------------------------------------- text helpers


def _role_ids(roles: int | Sequence[int] | None) -> list[int]:
    if roles is None:
        return []
    return [roles] if isinstance(roles, int) else list(roles)


def allowed_mentions(roles: int | Sequence[int] | None = None) -> discord.AllowedMentions:
    """Nothing may ping, except the roles given (a role id or several)."""
    # Imported here: only the Discord runtime needs discord.py, not dry runs (≈ 17 MB).
    import discord

    ids = _role_ids(roles)
    return discord.AllowedMentions(
        everyone=False,
        users=False,
        roles=[discord.Object(role) for role in ids] if ids else False,
        replied_user=False,
    )


def allowed_mentions_payload(roles: int | Sequence[int] | None = None) -> dict[str, Any]:
    """``allowed_mentions(roles).to_dict()``, without discord.py."""
    ids = _role_ids(roles)
    return {"roles": ids, "parse": []} if ids else {"parse": []}


def mention_roles(
    article: Article, mention_role: int | None, topic_roles: Sequence[tuple[str, int]]
) -> tuple[int, ...]:
    """The roles a post of ``article`` pings: the route's mention_role (every post), then
    the topic_roles of the story's topics in the config's order, each role once."""
    keys = {topic_key(topic) for topic in article.topics}
    roles = [mention_role] if mention_role is not None else []
    roles += [role for key, role in topic_roles if key in keys]
    return tuple(dict.fromkeys(roles))


def escape_mentions(text: str) -> str:
    """Mentions (@everyone, @here, user/role ids) that can no longer ping."""
    return _MENTION.sub("@\u200b\\1", text)


def escape_markdown(text: str) -> str:
    """Every markdown character escaped with a backslash, each link character included."""
    return _MARKDOWN.sub(lambda m: "\\" + m["markdown"], text)


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` with each control character, bidi override or isolate (see ``_UNSAFE``)
    shown as its ``\\uXXXX`` escape, but those in ``keep`` (e.g. "\\n" for lines).

    The one escaping for every output that shows feed text: terminal, log and Discord.
    The escape is JSON's too, so a JSON document stays valid with it applied.
    Backslashes are left as they are: a title that spells "\\u202e" shows the same.
    """
    if text.isprintable():  # the common case: nothing to escape
        return text
    return _unsafe(keep).sub(lambda m: f"\\u{ord(m[0]):04x}", text)


@functools.cache
def _unsafe(keep: str) -> re.Pattern[str]:
    if not keep:
        return _UNSAFE
    return re.compile(f"(?![{re.escape(keep)}]){_UNSAFE.pattern}")


def _ascii(host: str) -> str:
    """``host`` in ASCII (punycode), or as written when it is no valid IDN."""
    if host.isascii():  # the codec is pure Python: 10 µs a host
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def host_key(host: str) -> str:
    """A host as compared: lower case, ASCII (punycode), without "www." or a final dot."""
    return _ascii(host.lower().translate(_DOTS).rstrip(".")).removeprefix("www.")


def foreign_host(text: str, url: str) -> str | None:
    """The host of ``url`` when ``text`` names another one, else None.

    ``text`` names a host with a URL or a domain in it ("https://bbc.co.uk/news", "see
    bbc.co.uk"); it may name the link's own host or a parent of it (a link to
    news.bbc.co.uk may say bbc.co.uk), not any other, so that link text cannot pass for
    a link to elsewhere. The host is returned in ASCII: an IDN homograph shows as xn--.
    Words that look like domains ("Node.js") count too: they only cost the host shown.
    """
    # only words with a dot: most titles have none, and the pattern costs ≈ 0.3 µs a
    # character (24 µs for the seed's title, searched whole)
    if not _DOT.search(text):
        return None
    words = [word for word in text.translate(_DOTS).split() if "." in word]
    named = [m[1] for word in words for m in _NAMED_HOST.finditer(word)]
    if not named:
        return None
    try:
        hostname = urlsplit(url).hostname
    except ValueError:
        return None
    if not hostname:
        return None
    link = host_key(hostname)
    for host in map(host_key, named):
        if link != host and not link.endswith("." + host):
            return _ascii(hostname)
    return None


def topic_colour(topic: str | None, overrides: Mapping[str, int] | None = None) -> int:
    """A colour per topic, the same in every process; ``overrides`` wins (keyed by
    models.topic_key)."""
    key = topic_key(topic or "")
    if not key:
        return DEFAULT_COLOUR
    if overrides and key in overrides:
        return overrides[key]
    digest = hashlib.sha256(key.encode()).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    red, green, blue = colorsys.hls_to_rgb(hue, 0.55, 0.65)  # bright, readable on dark/light
    return (round(red * 255) << 16) | (round(green * 255) << 8) | round(blue * 255)


def plain_field(text: str) -> str:
    """Text for fields Discord shows as-is (author, footer, labels, thread name)."""
    return escape_controls(escape_mentions(" ".join(text.split())))


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits, else cut at a word boundary and ended with "…" (≤ ``limit``).

    A single long word, or a boundary that would keep less than half, is cut mid-word.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if len(text) <= limit:
        return text
    room = limit - 1  # for the "…"
    boundary = max((i for i in range(room, -1, -1) if text[i].isspace()), default=-1)
    cut = text[:boundary].rstrip() if boundary >= 0 else ""
    if len(cut) < room // 2:
        cut = text[:room]
    return cut + "…"


def _markdown(text: str, limit: int) -> str:
    """Text with markdown and mentions escaped, cut to ``limit``, never ending in half an
    escape."""
    # Escaping never shortens a text, so only its first limit + 1 characters can be shown:
    # escaping all of it took 0.6 s for 100 related items with 20,000-character titles.
    shown = escape_controls(text[: limit + 1], keep="\t\n")
    short = truncate(escape_markdown(escape_mentions(shown)), limit)
    if short.endswith("…"):
        head = short[:-1]
        if (len(head) - len(head.rstrip("\\"))) % 2:
            short = head[:-1] + "…"
    return short


def link_text(text: str, limit: int) -> str:
    """``text`` escaped for markdown, on one line, within ``limit`` characters."""
    return _markdown(" ".join(text.split()), limit)


def honest_text(text: str, url: str | None, limit: int, fit: Callable[[str, int], str]) -> str:
    """``fit(text, limit)``, followed by the real host of ``url`` when the text names
    another host (:func:`foreign_host`): "https://bbc.co.uk/news (evil.example)".

    ``fit`` makes text fit a place (:func:`link_text` for markdown, :func:`plain_text`
    for plain text); the host always shows whole, the text giving way to it, and stands
    alone if the text has no room left.
    """
    flat = " ".join(text.split())
    host = foreign_host(flat[:limit], url) if url else None
    if host is None:
        return fit(text, limit)
    tag = fit(f"({host})", limit)
    room = limit - len(tag) - 1
    return f"{fit(text, room)} {tag}" if room >= 1 else tag


def plain_text(text: str, limit: int) -> str:
    """Text for a place Discord shows as-is, on one line, within ``limit`` characters."""
    return truncate(plain_field(text), limit)


def link_url(url: str) -> str:
    """An http(s) URL usable inside ``(...)`` of a markdown link.

    A parenthesis would end the link early, a backslash would escape its closing ")", and
    "<" or ">" would turn it into Discord's <url> form; none is valid unencoded in a URL.
    """
    return url.translate(_LINK_URL_ESCAPES)


def http_only(url: str | None) -> str | None:
    return url if is_http_url(url) else None


def _link_line(title: str, url: str, suffix: str, limit: int) -> str | None:
    """``[title](url){suffix}`` within ``limit``, or None when even the bare link won't fit."""
    target = link_url(url)
    room = min(RELATED_TITLE_LIMIT, limit - len(f"[]({target}){suffix}"))
    if room < 1:
        return None
    return f"[{honest_text(title, url, room, link_text)}]({target}){suffix}"


# --------------------------------------------------------------------------- related coverage


def _url_key(url: str) -> str:
    try:
        return canonical_url(url)
    except ValueError:  # (a port out of range): compared as written
        return url


def _by_quality(related: Sequence[Related]) -> list[Related]:
    """Each URL once (canonical form; the first entry kept, for stories stored before
    the parser did this), best quality first, unknown quality last; a quality above 100
    counts as 100 (the data keeps it); ties keep the file's order."""
    seen: set[str] = set()
    once = []
    for item in related:
        key = _url_key(item.url)
        if key not in seen:
            seen.add(key)
            once.append(item)
    return sorted(
        once, key=lambda r: -1 if r.quality is None else min(r.quality, 100), reverse=True
    )


def _suffix(article: Article | Related) -> str:
    name = article.provider.name if article.provider else ""
    return f" — {link_text(name, PROVIDER_LIMIT)}" if name.strip() else ""


def _related_line(item: Related) -> str | None:
    return _link_line(item.title.strip() or item.url, item.url, _suffix(item), FIELD_VALUE_LIMIT)


def _size(fields: list[tuple[str, list[str]]]) -> int:
    return sum(len(name) + len("\n".join(lines)) for name, lines in fields)


def _related_fields(lines: list[str], left_out: int, budget: int) -> list[tuple[str, str]]:
    """Pack whole lines into fields within ``budget`` characters, ending with "…and N more"."""
    fields: list[tuple[str, list[str]]] = []
    queue = list(lines)
    while queue and len(fields) < FIELD_LIMIT:
        name = RELATED_CONT_NAME if fields else RELATED_NAME
        value: list[str] = []
        used = _size(fields) + len(name)
        while queue:
            candidate = [*value, queue[0]]
            text = "\n".join(candidate)
            if len(text) > FIELD_VALUE_LIMIT or used + len(text) > budget:
                break
            value = candidate
            queue.pop(0)
        if not value:
            break
        fields.append((name, value))

    more = left_out + len(queue)
    if more:
        if not fields:
            fields.append((RELATED_NAME, []))
        while True:
            name, value = fields[-1]
            candidate = [*value, f"…and {more} more"]
            text = "\n".join(candidate)
            if (
                len(text) <= FIELD_VALUE_LIMIT
                and _size(fields[:-1]) + len(name) + len(text) <= budget
            ):
                fields[-1] = (name, candidate)
                break
            if value:
                value.pop()
                more += 1
            elif len(fields) > 1:
                fields.pop()  # an empty continuation field: put the tail in the one before
            else:
                return []  # not even the tail fits
    return [(name, "\n".join(value)) for name, value in fields]


# --------------------------------------------------------------------------- the post


def _footer(article: Article) -> str:
    id_part = f"id {plain_field(article.id)}" if article.id.strip() else ""
    topics = " · ".join(t for t in (plain_field(topic) for topic in article.topics) if t)
    if topics and id_part:
        room = FOOTER_LIMIT - len(f" · {id_part}")
        topics = truncate(topics, room) if room >= 1 else ""
    return truncate(" · ".join(p for p in (topics, id_part) if p), FOOTER_LIMIT)


def _buttons(article: Article, url: str | None) -> tuple[LinkButton, ...]:
    """Link buttons to the story; a URL too long for a button is left to the title link."""
    buttons = []
    if url and len(url) <= BUTTON_URL_LIMIT:
        name = plain_field(article.provider.name) if article.provider else ""
        label = f"Read on {name}" if name else "Read article"
        buttons.append(LinkButton(honest_text(label, url, LABEL_LIMIT, plain_text), url))
    amp = http_only(article.amp_url)
    if amp and len(amp) <= BUTTON_URL_LIMIT:
        buttons.append(LinkButton("AMP", amp))
    return tuple(buttons[:BUTTONS_PER_ROW])


def _thread_name(article: Article) -> str:
    name = plain_field(article.title) or plain_field(f"Article {article.id}")
    return truncate(name, THREAD_NAME_LIMIT)


def build_post(
    article: Article,
    *,
    mention_role: int | None = None,
    topic_roles: Sequence[tuple[str, int]] = (),
    colours: Mapping[str, int] | None = None,
) -> Post:
    """The message that announces ``article``; within Discord's limits for any input."""
    url = http_only(article.url)
    provider = article.provider
    author_name = (
        truncate(plain_field(provider.name), AUTHOR_LIMIT) if provider and provider.name else ""
    )
    author = None
    if provider and author_name:
        domain = (provider.domain or "").strip()
        home = http_only(f"https://{domain}") if _HOSTNAME.fullmatch(domain) else None
        author_name = honest_text(provider.name, home, AUTHOR_LIMIT, plain_text)
        author = Author(author_name, home, http_only(provider.icon_url))
    timestamp = None
    if article.published_at is not None:
        moment = article.published_at
        timestamp = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    card = Card(
        colour=topic_colour(article.topics[0] if article.topics else None, colours),
        title=honest_text(article.title, url, TITLE_LIMIT, link_text) or None,
        url=url,
        author=author,
        footer=_footer(article) or None,
        image=next((i.url for i in article.images if is_http_url(i.url)), None),
        timestamp=timestamp,
    )

    # The description may use what is left after a first field of related coverage.
    lines: list[str] = []
    left_out = 0
    for item in _by_quality(article.related):
        if not is_http_url(item.url):
            continue
        line = _related_line(item)
        if line is None:
            left_out += 1
        else:
            lines.append(line)
    first = _related_fields(lines, left_out, EMBED_TOTAL_LIMIT - len(card))[:1]
    reserve = sum(len(name) + len(value) for name, value in first)  # ≤ one full field
    text = article.excerpt if article.excerpt.strip() else article.body
    room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - len(card) - reserve)
    if text.strip() and room >= 1:
        card = replace(card, description=_markdown(text.strip(), room))

    fields = _related_fields(lines, left_out, EMBED_TOTAL_LIMIT - len(card))
    card = replace(card, fields=tuple(EmbedField(name, value) for name, value in fields))

    roles = mention_roles(article, mention_role, topic_roles)
    return Post(
        article_id=article.id,
        content=" ".join(f"<@&{role}>" for role in roles) or None,
        card=card,
        buttons=_buttons(article, url),
        mention_roles=roles,
        thread_name=_thread_name(article),
    )


def summary_line(article: Article) -> str:
    """One search-result line: "`id` [title](url) — provider · q86" (or "· quality
    unknown"), ≤ 1024 characters."""
    ident = article.id.replace("`", "")[:32]
    quality = "quality unknown" if article.quality is None else f"q{article.quality}"
    suffix = f"{_suffix(article)} · {quality}"
    prefix = f"`{ident}` " if ident else ""
    url = http_only(article.url)
    title = article.title.strip() or article.url
    link = _link_line(title, url, suffix, SUMMARY_LIMIT - len(prefix)) if url else None
    if link is None:  # no usable URL, or one too long to fit: the title without a link
        room = SUMMARY_LIMIT - len(prefix) - len(suffix)
        link = link_text(article.title or "(untitled)", min(RELATED_TITLE_LIMIT, room)) + suffix
    return prefix + link
