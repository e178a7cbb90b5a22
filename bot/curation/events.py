"""Which loaded articles report the same event, and how one event is shown. Pure.

Two articles are one event when either one's URL is among the other's related coverage
(canonical form), or their titles are near-duplicates and they were published within a
window of each other (``WINDOW``). Events are the connected components of that relation,
so the grouping of a set of articles does not depend on the order they came in: the
titles compared are found by a sweep in time order (``candidate_pairs``), and union-find
merges whatever pairs are linked.

Each event's lead is its best-ranked article by the queue's order (``rank_key``); the
others become related coverage of the lead (``coverage``).
"""

from __future__ import annotations

import functools
import hashlib
import re
import struct
import unicodedata
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import combinations
from typing import cast
from urllib.parse import urlsplit

from rapidfuzz import fuzz

from bot.ingest.urls import canonical_url
from bot.models import Article, Related

WINDOW = timedelta(hours=72)
# The two rules on normalised titles, each a rapidfuzz score out of 100. Chosen on the
# labelled pairs in tests/curation/event_pairs.yaml (precision first: a wrong merge
# hides a story, a missed one only posts an event twice, as before):
# - a rewrite: token_sort_ratio (the words sorted, then an edit distance on characters)
#   at least SORT_THRESHOLD. Above every different-event pair of the set ("AI can detect
#   breast cancer…" / "…lung cancer…" scores 88.2; "…track flyers…" / "…track
#   passengers…" 89.1);
# - a longer version: every word of one title is in the other (token_set_ratio 100) and
#   the added words are few (token_sort_ratio at least INSERT_THRESHOLD): "Italy bans
#   ChatGPT…" / "Italy temporarily bans ChatGPT…".
SORT_THRESHOLD = 89.0
INSERT_THRESHOLD = 80.0
# Candidate pairs: each title is filed under the triples of its KEY_TOKENS distinct words
# of lowest hash. Two titles with at least 3 words in common and at most KEY_TOKENS - 3
# words of their own each share their three lowest-hash common words among those, so
# they always meet (others may: all the rewrites of the labelled set do); a title does
# not meet the thousands that merely share a common word or two with it. Four words, not
# five: 4 keys a title instead of 10, and the same recall on the labelled set.
KEY_TOKENS = 4
KEY_SIZE = 3
# A title is compared with at most this many of the latest titles under each of its keys
# (a rewrite follows its original within hours), so the work stays linear when thousands
# share a window and common words ("AI company launches…"); at the benchmark's density
# (140 a day) no key holds that many.
KEY_CAP = 32

# Words that carry no event: dropped before comparing (headline style varies in them).
# fmt: off
_STOP_WORDS = frozenset((
    "a", "an", "the", "to", "of", "in", "on", "for", "and", "or", "with", "by", "at", "as",
    "is", "are", "be", "its", "it", "from", "over", "after", "into", "this", "that", "will",
    "than",
))
# fmt: on
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")  # numbers keep their "." and ","
_POSSESSIVE = re.compile(r"['’]s\b")
# Each word seen: its stem and the stem's stable hash (None for a stop word). Headlines
# use a bounded vocabulary; the memo is dropped whole if it ever grows past this.
_WORDS: dict[str, tuple[str, int] | None] = {}
_WORDS_MAX = 500_000


def _fold(text: str) -> str:
    """Lower case without accents: "Régulateur" is "regulateur"."""
    text = text.casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _stem(word: str) -> str:
    """A plural's singular, near enough for comparing headlines ("flyers", "flyer")."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word[-1] == "s" and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _word(word: str) -> tuple[str, int] | None:
    if word in _STOP_WORDS:
        entry = None
    else:
        stem = _stem(word)
        entry = (stem, zlib.crc32(stem.encode()))
    if len(_WORDS) >= _WORDS_MAX:
        _WORDS.clear()
    _WORDS[word] = entry
    return entry


def _words(title: str) -> list[tuple[str, int]]:
    text = _fold(title)
    if "'" in text or "’" in text:
        text = _POSSESSIVE.sub("", text)
    memo = _WORDS
    found = [memo[w] if w in memo else _word(w) for w in _TOKEN.findall(text)]
    return [entry for entry in found if entry is not None]


def title_tokens(title: str) -> tuple[str, ...]:
    """A title's words as compared: folded, possessives and stop words dropped, plurals
    made singular, in their order ("Google's AI tools" is ("google", "ai", "tool"))."""
    return tuple(stem for stem, _ in _words(title))


def _numbers(tokens: Iterable[str]) -> frozenset[str]:
    return frozenset(t for t in tokens if t[0].isdigit())


def similar_titles(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two titles (as ``title_tokens``) are one headline rewritten.

    Numbers are facts: titles that both carry numbers and not the same ones are different
    events ("$1 billion" / "$10 billion", "Llama 2" / "Llama 3"), however alike the rest.
    """
    return _similar(_Title.of(a), _Title.of(b))


@dataclass(frozen=True, slots=True)
class _Title:
    """A title as the rules compare it, computed once."""

    words: frozenset[str]
    numbers: frozenset[str]
    sorted_text: str  # the words sorted, as token_sort_ratio compares them

    @classmethod
    def of(cls, tokens: Iterable[str]) -> _Title:
        ordered = sorted(tokens)
        words = frozenset(ordered)
        return cls(words, _numbers(words), " ".join(ordered))


def _similar(a: _Title, b: _Title) -> bool:
    if not a.words or not b.words:
        return False
    if a.numbers and b.numbers and a.numbers != b.numbers:
        return False
    # token_sort_ratio of the titles, their words sorted once beforehand
    ratio = fuzz.ratio(a.sorted_text, b.sorted_text, score_cutoff=INSERT_THRESHOLD)
    if ratio >= SORT_THRESHOLD:
        return True
    return ratio >= INSERT_THRESHOLD and (a.words <= b.words or b.words <= a.words)


_PRIME = (1 << 61) - 1  # title keys are below it; URL keys (store_keys) above


def _keys(hashes: Iterable[int]) -> tuple[int, ...]:
    """Each triple as one integer below 2**61, the same in every process and version (the
    store keeps them); integers, not tuples, which the garbage collector would track."""
    lowest = sorted(set(hashes))[:KEY_TOKENS]
    if len(lowest) <= KEY_SIZE:
        return (_packed(lowest),) if lowest else ()
    return tuple(_packed(triple) for triple in combinations(lowest, KEY_SIZE))


def _packed(hashes: Sequence[int]) -> int:
    packed = len(hashes)
    for value in hashes:
        packed = (packed * 0x9E3779B1 + value) % _PRIME
    return packed


# The store files a story under its title keys and under its URLs: its own canonical URL
# tagged _OWN, each related one tagged _RELATED. A story looks up the other tag of each:
# its own URL finds those that list it, its related URLs find the stories they are.
_OWN = 1 << 62
_RELATED = 1 << 61
_URL_BITS = (1 << 61) - 1


def _url_key(url: str) -> int:
    digest = hashlib.blake2b(url.encode(errors="surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest) & _URL_BITS


def store_keys(title: str, canonical: str, related_urls: Iterable[str]) -> tuple[int, ...]:
    """The keys the store files a story under: its title keys, then its URLs'."""
    words = _words(title)
    related = {canonical_url(url) for url in related_urls} - {canonical}
    return (
        *_keys(h for _, h in words),
        _OWN | _url_key(canonical),
        *sorted(_RELATED | _url_key(url) for url in related),
    )


def lookup_keys(keys: Iterable[int]) -> list[int]:
    """The keys under which the stories linked to one filed under ``keys`` are filed."""
    return [key ^ (_OWN | _RELATED) if key > _URL_BITS else key for key in keys]


def wanted_keys(filed: Iterable[Iterable[int]]) -> frozenset[int]:
    """The keys of which a stored story holds one if the lookups of the stories filed
    under ``filed`` (EventIndex.linked) can find it: their title keys, and the
    counterparts of their URL keys. An index of only the stored stories holding one finds
    the same stories for them (but for a title key that, its time slot mixed in, collides
    with another in 61 bits), and costs a pass over the stored keys, not the filing of
    every one of them."""
    return frozenset(key for keys in filed for key in lookup_keys(keys))


def is_link_key(key: int) -> bool:
    """Whether a key is a URL's (a match on it is a link), not a title's."""
    return key > _URL_BITS


def pack_keys(keys: Sequence[int]) -> bytes:
    """Keys as the store keeps them (8 bytes each)."""
    return struct.pack(f"<{len(keys)}q", *keys)


def unpack_keys(packed: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(packed) // 8}q", packed)


# A title key is filed with its time slot as one integer below 2**61 (never a URL key's):
# the key (uniform below 2**61) XOR the slot times this odd constant. Integer arithmetic,
# not a tuple's hash: a load files and looks up every key of every story.
_SLOT_MIX = 0x9E3779B97F4A7C15


class EventIndex:
    """Stored stories by their event keys, in memory, for finding the stories a new one
    is linked to: a title key filed with the time slot of its story (publication time //
    2 * WINDOW), a URL key alone. A story within WINDOW of another is in its slot or the
    neighbour on the side of the nearer slot edge: two lookups a title key, and the
    relation is symmetric for such pairs (each finds the other).

    Integers throughout: a key and its slot are one number, and a key that one story
    holds maps to its rowid, not to a list.
    """

    def __init__(self, window: timedelta = WINDOW) -> None:
        self.window = int(window.total_seconds())
        self.span = 2 * max(1, self.window)
        self.titles = window > timedelta(0)  # a window of 0: titles link nothing
        self.filed: dict[int, int | list[int]] = {}
        # The publication time of each story filed under title keys: a story found
        # under a title key further than the window away is no candidate, and is never
        # read from the store (up to half of those sharing a slot or its neighbour).
        self.times: dict[int, int] = {}
        # The titles of the stories filed with one (a load's): a pair of them found under
        # a title key is compared here, and only a pair alike is read from the store.
        self.named: dict[int, str] = {}

    def _places(self, ts: int | None, keys: Iterable[int]) -> list[tuple[int, int, int]]:
        """Each key's (place it is filed at, place looked up, other place looked up or
        -1): a URL key is filed as it is and looks up its counterpart (its own URL finds
        those listing it, a related URL the story it is); a title key is filed at its
        slot and looks up its slot and the nearer neighbour; without a time (or titles
        off), title keys have no place."""
        places: list[tuple[int, int, int]] = []
        dated = ts is not None and self.titles
        if dated:
            slot, into = divmod(cast(int, ts), self.span)
            near = slot - 1 if 2 * into < self.span else slot + 1
            mix, mix_near = slot * _SLOT_MIX, near * _SLOT_MIX
        for key in keys:
            if key > _URL_BITS:
                places.append((key, key ^ (_OWN | _RELATED), -1))
            elif dated:
                own = (key ^ mix) & _URL_BITS
                places.append((own, own, (key ^ mix_near) & _URL_BITS))
        return places

    def _put(self, rowid: int, place: int) -> None:
        held = self.filed.get(place)
        if held is None:
            self.filed[place] = rowid
        elif isinstance(held, int):
            if held != rowid:
                self.filed[place] = [held, rowid]
        elif rowid not in held:
            held.append(rowid)

    def add(self, rowid: int, ts: int | None, keys: Iterable[int]) -> None:
        for place, _, _ in self._places(ts, keys):
            self._put(rowid, place)
        if ts is not None:
            self.times[rowid] = ts

    def remove(self, rowid: int, ts: int | None, keys: Iterable[int]) -> None:
        filed = self.filed
        self.times.pop(rowid, None)
        self.named.pop(rowid, None)
        for place, _, _ in self._places(ts, keys):
            held = filed.get(place)
            if held == rowid:
                del filed[place]
            elif isinstance(held, list) and rowid in held:
                held.remove(rowid)

    def linked(self, rowid: int, ts: int | None, keys: Iterable[int]) -> set[tuple[int, bool]]:
        """The stories filed under what ``keys`` look up, but ``rowid``: (rowid, whether
        through a URL, a link) each; a title match is only a candidate."""
        return self._found(rowid, ts, self._places(ts, keys))

    def _found(
        self, rowid: int, ts: int | None, places: list[tuple[int, int, int]]
    ) -> set[tuple[int, bool]]:
        found: set[tuple[int, bool]] = set()
        filed, times, window = self.filed, self.times, self.window
        for put, look, other in places:
            link = put > _URL_BITS
            for place in (look, other) if other >= 0 else (look,):
                held = filed.get(place)
                if held is None:
                    continue
                for story in (held,) if isinstance(held, int) else held:
                    if story == rowid:
                        continue
                    if not link and ts is not None:
                        when = times.get(story)
                        if when is not None and abs(when - ts) > window:
                            continue
                    found.add((story, link))
        return found

    def alike(self, found: Iterable[tuple[int, int, bool]]) -> set[tuple[int, int, bool]]:
        """``found`` (pairs of rowids, whether by a link) less the pairs found by their
        title keys whose titles, both known here, the title rule tells apart."""
        named = self.named
        kept: set[tuple[int, int, bool]] = set()
        for pair in found:
            a, b, link = pair
            if not link:
                title_a, title_b = named.get(a), named.get(b)
                if (
                    title_a is not None
                    and title_b is not None
                    and not _similar(_compared(title_a), _compared(title_b))
                ):
                    continue
            kept.add(pair)
        return kept

    def file(
        self, rowid: int, ts: int | None, keys: Iterable[int], title: str | None = None
    ) -> set[tuple[int, bool]]:
        """``linked`` and then ``add``, in one pass: filing a batch's stories one by one
        finds each pair within the window once, whatever their order (the later-filed
        finds the earlier), as looking each up after adding them all would. (The two
        methods' work inlined: a load files every key of every story.)"""
        found: set[tuple[int, bool]] = set()
        filed, times, window = self.filed, self.times, self.window
        get = filed.get
        dated = ts is not None and self.titles
        if dated:
            slot, into = divmod(cast(int, ts), self.span)
            mix = slot * _SLOT_MIX
            mix_near = (slot - 1 if 2 * into < self.span else slot + 1) * _SLOT_MIX
        for key in keys:
            if key > _URL_BITS:
                put = key
                held = get(key ^ (_OWN | _RELATED))
                if held is not None:
                    for story in (held,) if isinstance(held, int) else held:
                        if story != rowid:
                            found.add((story, True))
            elif dated:
                put = (key ^ mix) & _URL_BITS
                for place in (put, (key ^ mix_near) & _URL_BITS):
                    held = get(place)
                    if held is None:
                        continue
                    for story in (held,) if isinstance(held, int) else held:
                        if story != rowid:
                            when = times.get(story)
                            if when is None or abs(when - cast(int, ts)) <= window:
                                found.add((story, False))
            else:
                continue
            held = get(put)
            if held is None:
                filed[put] = rowid
            elif isinstance(held, int):
                if held != rowid:
                    filed[put] = [held, rowid]
            elif rowid not in held:
                held.append(rowid)
        if ts is not None:
            times[rowid] = ts
        if title is not None:
            self.named[rowid] = title
        return found


@dataclass(frozen=True, slots=True)
class Ranked:
    """A stored story as the events read it: what ranks it, and its title's time."""

    id: str
    title: str
    quality: int
    heat: int
    published_ts: int | None

    @property
    def rank(self) -> tuple[int, int, float, str]:
        """The queue's order, as ``rank_key`` (newest first, unknown time last)."""
        published = float("-inf") if self.published_ts is None else self.published_ts
        return (-self.quality, -self.heat, -published, self.id)


def titles_alike(a: Ranked, b: Ranked, window: timedelta = WINDOW) -> bool:
    """The title rule on two stored stories: published within ``window``, titles alike
    (never with a window of 0)."""
    if a.published_ts is None or b.published_ts is None or window <= timedelta(0):
        return False
    if abs(a.published_ts - b.published_ts) > window.total_seconds():
        return False
    return _similar(_compared(a.title), _compared(b.title))


@functools.lru_cache(maxsize=8192)
def _compared(title: str) -> _Title:
    """A title as the title rule compares it, kept for the next pairs: in a load, a story
    is often a candidate beside several others."""
    return _Title.of(title_tokens(title))


def leads(
    stories: Sequence[Ranked],
    links: Iterable[tuple[str, str]],
    apart: Collection[frozenset[str]] = frozenset(),
) -> dict[str, str | None]:
    """Each story's event lead after ``links`` (pairs of ids, events already stored
    included): the best-ranked of its component, or None when it is alone.

    ``apart``: pairs a moderator split; a link that would put one in the same event as
    the other is left out (links taken in id order, so the outcome does not depend on the
    order they were found in).
    """
    sets = _UnionFind()
    if apart:
        held: dict[str, set[str]] = {}  # each component's ids, by root
        for a, b in sorted({(min(pair), max(pair)) for pair in links}):
            root_a, root_b = sets.find(a), sets.find(b)
            if root_a == root_b:
                continue
            ids_a, ids_b = held.get(root_a, {root_a}), held.get(root_b, {root_b})
            if any(frozenset((x, y)) in apart for x in ids_a for y in ids_b):
                continue
            sets.union(a, b)
            held[sets.find(a)] = ids_a | ids_b
    else:
        for a, b in links:
            sets.union(a, b)
    members: dict[str, list[Ranked]] = {}
    for story in stories:
        members.setdefault(sets.find(story.id), []).append(story)
    found: dict[str, str | None] = {}
    for group_ in members.values():
        lead = min(group_, key=lambda s: s.rank).id if len(group_) > 1 else None
        found.update((s.id, lead) for s in group_)
    return found


def title_keys(tokens: Sequence[str]) -> tuple[int, ...]:
    """The keys a title is filed under for finding candidate pairs: each triple of its
    KEY_TOKENS distinct words of lowest hash (a stable hash: CRC-32 of the word).

    A function of the title alone, so whether two titles meet never depends on which
    others are loaded, or in what order.
    """
    return _keys(zlib.crc32(t.encode()) for t in tokens)


def _domain(url: str, domain: str | None) -> str:
    host = (domain or urlsplit(url).hostname or "").lower().rstrip(".")
    return host.removeprefix("www.")


@dataclass(frozen=True, slots=True)
class Signature:
    """What the event rules read of an article."""

    id: str
    canonical_url: str
    related_urls: frozenset[str]  # canonical
    tokens: tuple[str, ...]  # title_tokens of its title
    keys: tuple[int, ...]  # title_keys of its title
    published_ts: int | None  # whole seconds; None: the title rule does not apply

    @classmethod
    def of(cls, article: Article) -> Signature:
        return cls.make(
            article.id,
            article.canonical_url,
            article.title,
            [r.url for r in article.related],
            article.published_at,
        )

    @classmethod
    def make(
        cls,
        article_id: str,
        canonical: str,
        title: str,
        related_urls: Iterable[str],
        published_at: datetime | int | None,
    ) -> Signature:
        words = _words(title)
        if isinstance(published_at, datetime):
            published_at = int(published_at.timestamp())
        return cls(
            id=article_id,
            canonical_url=canonical,
            related_urls=frozenset(canonical_url(url) for url in related_urls),
            tokens=tuple(stem for stem, _ in words),
            keys=_keys(h for _, h in words),
            published_ts=published_at,
        )


def same_event(a: Signature, b: Signature, window: timedelta = WINDOW) -> str | None:
    """Why ``a`` and ``b`` are one event ("link" or "title"), or None if they are not."""
    if a.canonical_url in b.related_urls or b.canonical_url in a.related_urls:
        return "link"
    if (
        window > timedelta(0)
        and a.published_ts is not None
        and b.published_ts is not None
        and abs(a.published_ts - b.published_ts) <= window.total_seconds()
        and _similar(_Title.of(a.tokens), _Title.of(b.tokens))
    ):
        return "title"
    return None


def candidate_pairs(
    signatures: Iterable[Signature], window: timedelta = WINDOW
) -> Iterator[tuple[Signature, Signature]]:
    """The pairs whose titles are worth comparing (each once): those published within
    ``window`` of each other and filed under a shared key (``title_keys``), each title
    with the KEY_CAP latest before it under each key. A sweep in time order (then id):
    the same set gives the same pairs, whatever order it came in."""
    span = window.total_seconds()
    if span <= 0:  # a window of 0: titles link nothing
        return
    dated = sorted(
        (s for s in signatures if s.published_ts is not None and s.keys),
        key=lambda s: (s.published_ts, s.id),
    )
    # A key's titles: one title as it is (most keys have one), more in a list. Few new
    # objects: the garbage collector's passes over 100k articles cost more than the rest.
    recent: dict[int, Signature | list[Signature]] = {}
    for sig in dated:
        ts = cast(int, sig.published_ts)
        seen: set[str] | None = None
        for key in sig.keys:
            filed = recent.get(key)
            if filed is None:
                recent[key] = sig
                continue
            if isinstance(filed, Signature):
                filed = recent[key] = [filed]
            if ts - cast(int, filed[0].published_ts) > span:  # those out of the window
                filed[:] = [other for other in filed if ts - cast(int, other.published_ts) <= span]
            for other in filed[-KEY_CAP:] if len(filed) > KEY_CAP else filed:
                if seen is None:
                    seen = set()
                if other.id not in seen:
                    seen.add(other.id)
                    yield (other, sig)
            filed.append(sig)


def linked_pairs(
    signatures: Iterable[Signature], window: timedelta = WINDOW
) -> Iterator[tuple[str, str]]:
    """Every pair of ids that ``same_event`` links (each once or twice, either order),
    without comparing every pair: links through an index of canonical URLs, titles among
    the ``candidate_pairs``."""
    sigs = list(signatures)
    titles: dict[str, _Title] = {}  # of the few that are candidates
    for a, b in candidate_pairs(sigs, window):
        title_a = titles.get(a.id) or titles.setdefault(a.id, _Title.of(a.tokens))
        title_b = titles.get(b.id) or titles.setdefault(b.id, _Title.of(b.tokens))
        if _similar(title_a, title_b):
            yield (a.id, b.id)
    by_url = {sig.canonical_url: sig.id for sig in sigs}
    for sig in sigs:
        for url in sig.related_urls:
            other_id = by_url.get(url)
            if other_id is not None and other_id != sig.id:
                yield (sig.id, other_id)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        root = item
        while (up := self.parent.get(root, root)) != root:
            root = up
        while item != root:  # path compression
            self.parent[item], item = root, self.parent.get(item, item)
        return root

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


@dataclass(frozen=True, slots=True)
class Event:
    """Articles that report one event, best-ranked first: ``lead`` is the first."""

    articles: tuple[Article, ...]

    @property
    def lead(self) -> Article:
        return self.articles[0]

    @property
    def id(self) -> str:
        return self.lead.id

    @property
    def others(self) -> tuple[Article, ...]:
        return self.articles[1:]


def group(articles: Iterable[Article], window: timedelta = WINDOW) -> list[Event]:
    """The events of ``articles``: every article in exactly one, events in the queue's
    order of their leads. The same set of articles in any order gives the same events."""
    from bot.curation.ranking import rank_key  # (ranking reads the store, which reads this)

    by_id = {a.id: a for a in articles}
    sets = _UnionFind()
    for a, b in linked_pairs((Signature.of(a) for a in by_id.values()), window):
        sets.union(a, b)
    members: dict[str, list[Article]] = {}
    for article in by_id.values():
        members.setdefault(sets.find(article.id), []).append(article)
    events = [Event(tuple(sorted(group, key=rank_key))) for group in members.values()]
    return sorted(events, key=lambda e: rank_key(e.lead))


def as_related(article: Article) -> Related:
    """A loaded article as an item of another's related coverage."""
    return Related(
        title=article.title,
        url=article.url,
        excerpt=article.excerpt,
        amp_url=article.amp_url,
        published_at=article.published_at,
        provider=article.provider,
        quality=article.quality,
        images=article.images,
    )


def _best_first(item: Related) -> tuple[float, float, str]:
    quality = float("inf") if item.quality is None else -item.quality  # unknown last
    published = item.published_at.timestamp() if item.published_at else float("-inf")
    return (quality, -published, item.url)


def coverage(lead: Article, others: Sequence[Article]) -> tuple[Related, ...]:
    """The lead's related coverage with the event's other articles and theirs: each URL
    once (canonical form), each outlet (domain) once and not the lead's own, best first
    (quality, then newest). An outlet keeps its best item."""
    items = [*lead.related]
    for other in others:
        items.append(as_related(other))
        items.extend(other.related)
    items.sort(key=_best_first)
    urls = {lead.canonical_url}
    outlets = {_domain(lead.url, lead.provider.domain if lead.provider else None)}
    kept: list[Related] = []
    for item in items:
        url = canonical_url(item.url)
        outlet = _domain(item.url, item.provider.domain if item.provider else None)
        if url in urls or outlet in outlets:
            continue
        urls.add(url)
        outlets.add(outlet)
        kept.append(item)
    return tuple(kept)


def merged_event_article(event: Event) -> Article:
    """The event as one story: its lead, with every outlet in its related coverage."""
    if not event.others:
        return event.lead
    return replace(event.lead, related=coverage(event.lead, event.others))
