"""Words for the PostgreSQL store's search, folded in Python: pure functions, no I/O.

The SQLite store's full-text index (FTS5, porter around unicode61 with remove_diacritics
2) splits text at every character that is not a letter or digit, ignores case and
accents, and stems English words (Porter's algorithm). PostgreSQL has no such tokenizer
built in (its english configuration runs Porter's second algorithm and drops stop words),
and the `unaccent` extension may be missing or not installable by the bot's database
user, so each story's words are folded and stemmed here, the same way for the stories
and for the query, and stored as tsvector columns (title; all text) whose lexemes are
these stems verbatim: PostgreSQL's own parser never reads them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence

import Stemmer

from bot.models import topic_keys

_TOKEN = re.compile(r"[^\W_]+")  # letters and digits: unicode61's token characters
_WORD = re.compile(r"\w+")
_ASCII_LETTERS = re.compile(r"[a-z]+")  # a word of the query, as the SQLite store reads it
# A lexeme PostgreSQL keeps has at most 2,047 bytes and 256 positions; a query word has
# at most QUERY_CHARS (200) characters, so a longer token could never be matched.
_LONGEST = 200
_POSITIONS = 256
_LAST_POSITION = 16383  # tsvector positions above it are read as it
_COLUMN_GAP = 2  # between columns: a phrase never spans two
# A topic's tag names its key while the lexeme stays well under PostgreSQL's 2,047 bytes;
# a longer key is named by its hash (migration 004 computes the same in SQL).
_TAG_BYTES = 1000


def fold(text: str) -> str:
    """Lower case, accents removed (é is e), canonical form: as the index compares."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", bare).lower()


# Porter's algorithm, as FTS5's porter tokenizer runs it: a token of fewer than 3 or more
# than 64 bytes is kept as it is.
_STEMMER = Stemmer.Stemmer("porter")
_STEM_BYTES = range(3, 65)
# Each token seen: its stem. Text uses a bounded vocabulary; the memo is dropped whole if
# it ever grows past this.
_STEMS: dict[str, str] = {}
_STEMS_MAX = 500_000


def _stem(token: str) -> str:
    stem = _STEMS.get(token)
    if stem is None:
        stem = _STEMMER.stemWord(token) if len(token.encode()) in _STEM_BYTES else token
        if len(_STEMS) >= _STEMS_MAX:
            _STEMS.clear()
        _STEMS[token] = stem
    return stem


def _folded(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(fold(text)) if len(t) <= _LONGEST]


def tokens(text: str) -> list[str]:
    """The words of ``text`` as the index holds them, in order: folded, then stemmed
    ("Reefs" is "reef", "running" "run"), for a query's words as for a story's."""
    stems = _STEMS  # (a stem is never empty)
    return [stems.get(t) or _stem(t) for t in _TOKEN.findall(fold(text)) if len(t) <= _LONGEST]


def search_words(title: str, excerpt: str, topics: Sequence[str], provider: str) -> tuple[str, str]:
    """A story's words as search_words holds them (tsvector text): its title's, and all
    its text's (title, excerpt, topics, provider) with its topics' tags."""
    titled = tokens(title)  # (a load makes these for every story: the title's once)
    every = [titled, tokens(excerpt), tokens(" ".join(topics)), tokens(provider)]
    return _vector([titled]), _vector(every) + " " + topic_tags(topic_keys(topics))


def tsvector(*columns: str) -> str:
    """The tsvector text of these columns' words, each with its positions (a phrase's
    words must be neighbours in one column)."""
    return _vector([tokens(column) for column in columns])


def _vector(columns: Sequence[list[str]]) -> str:
    """tsvector text of these columns' tokens (see tsvector)."""
    if sum(map(len, columns)) + _COLUMN_GAP * len(columns) > _LAST_POSITION:
        return _long_vector(columns)
    positions: dict[str, list[int]] = {}
    at = 0
    for column in columns:
        for token in column:
            at += 1
            found = positions.get(token)
            if found is None:
                positions[token] = [at]
            elif len(found) < _POSITIONS:
                found.append(at)
        at += _COLUMN_GAP
    # (positions rise, so each is there once)
    return " ".join(
        [
            f"'{token}':{spots[0]}" if len(spots) == 1 else f"'{token}':{','.join(map(str, spots))}"
            for token, spots in positions.items()
        ]
    )


def _long_vector(columns: Sequence[list[str]]) -> str:
    """_vector of a text whose positions run past the last one a tsvector keeps: those are
    read as the last, once each."""
    positions: dict[str, list[int]] = {}
    at = 0
    for column in columns:
        for token in column:
            at += 1
            found = positions.setdefault(token, [])
            if len(found) < _POSITIONS:
                found.append(min(at, _LAST_POSITION))
        at += _COLUMN_GAP
    return " ".join(
        f"'{token}':{','.join(map(str, dict.fromkeys(spots)))}"
        for token, spots in positions.items()
    )


def topic_tag(key: str) -> str:
    """The lexeme that marks a story of topic ``key`` (a models.topic_key) among its
    words, so that a topic's search is one lookup in the words' index: no token holds a
    ":" or "#", so no word of a query can match it."""
    raw = key.encode()
    if len(raw) <= _TAG_BYTES:
        return "topic:" + key
    return "topic#" + hashlib.sha256(raw).hexdigest()


def topic_tags(keys: Iterable[str]) -> str:
    """The tsvector text of these topic keys' tags (no positions)."""
    return " ".join(_quoted(topic_tag(key)) for key in keys)


def _quoted(lexeme: str) -> str:
    """A lexeme as tsvector and tsquery text read it, whatever its characters."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def words(text: str) -> list[str]:
    """The words of a query as the SQLite store reads them (its _words)."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def query_terms(text: str) -> list[list[str]]:
    """The query's words (see ``words``), each as the tokens it folds into: a word of
    several tokens (split at "_" or a mark) is a phrase. Words said twice, and words with
    no token, are dropped."""
    terms: dict[tuple[str, ...], None] = {}
    for word in words(text):
        parts = tuple(tokens(word))
        if parts:
            terms.setdefault(parts, None)
    return [list(parts) for parts in terms]


def _lexeme(token: str) -> str:
    return "'" + token.replace("'", "''") + "'"


def _typed(token: str) -> str:
    """The tsquery of a word still being typed (a folded token), as the SQLite store's
    _typed_word: the index holds stems, and a prefix that runs past its word's stem
    ("runni" of "running", indexed as "run") starts no stem, so the prefix shortened by up
    to 4 letters, to 3 at least, counts as a whole word too, and where the letter cut off
    could begin "-ing" or "-ed", that with an "e" (Porter's "saving" is "save")."""
    terms = [_lexeme(_stem(token)) + ":*"]
    if _ASCII_LETTERS.fullmatch(token):
        for n in range(len(token) - 1, max(3, len(token) - 4) - 1, -1):
            terms.append(_lexeme(_stem(token[:n])))
            if token[n] in "ie":
                terms.append(_lexeme(_stem(token[:n] + "e")))
    unique = list(dict.fromkeys(terms))
    return unique[0] if len(unique) == 1 else "(" + " | ".join(unique) + ")"


def tsquery(terms: Sequence[Sequence[str]], prefix: str = "", topic: str | None = None) -> str:
    """A tsquery (text) asking for every term (a phrase: its tokens in a row), and, with
    ``prefix``, a word starting with it, and with ``topic`` (a key), its tag. Plain words
    only: nothing the user typed is read as an operator."""
    parts = [" <-> ".join(_lexeme(t) for t in term) for term in terms]
    parts = [f"({part})" if " " in part else part for part in parts]
    prefixes = _folded(prefix)
    if prefixes:
        *whole, last = prefixes  # a prefix of several tokens: the last one is partial
        head = [*(_lexeme(_stem(t)) for t in whole), _typed(last)]
        parts.append("(" + " <-> ".join(head) + ")" if whole else head[0])
    if topic is not None:
        parts.append(_quoted(topic_tag(topic)))
    return " & ".join(parts)
