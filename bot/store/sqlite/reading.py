"""Reading stories from the SQLite store: by id and URL, search and autocomplete,
topics, the latest posts."""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from bot.curation.events import coverage
from bot.ingest.urls import id_prefix
from bot.models import Article, article_from_dict, topic_key
from bot.store.records import (
    COUNT_LIMIT,
    QUERY_CHARS,
    Delivery,
    DeliveryState,
    Headline,
    capped_query,
)
from bot.store.sqlite.common import (
    _DELIVERY_COLUMNS,
    _chunks,
    _delivery,
    _marks,
    _rank_order,
    rank_tag,
    topic_tag,
)
from bot.store.sqlite.connection import Connection

_WORD = re.compile(r"\w+", re.UNICODE)
_ASCII_LETTERS = re.compile(r"[a-z]+")  # (a word with digits is more likely an id)
_ASCII_TOKEN = re.compile(r"[0-9A-Za-z]+")
_MARKED = re.compile("\x01([^\x02]*)\x02")
_PREFIX_BATCHES = 2  # of candidates an autocomplete checks before FTS5 merges the prefix

# The ranking order (ranking.rank_key) in quality bands, best first; quality is 0-100 by
# the parser's rules. One query with an arm per band: the LIMIT stops it in the first
# bands that hold enough matches, and a band's matches are few to gather. An arm spans 3
# qualities: each arm runs a full-text match of its own, whose fixed cost, for words in a
# quarter of the stories, outweighed gathering a band's matches.
_BAND_WIDTH = 3
_BANDS = [range(top, max(top - _BAND_WIDTH, -1), -1) for top in range(100, -1, -_BAND_WIDTH)]
# The two full-text indexes: every text column, and the titles alone (migration 15), which
# answers "in the title" reading the titles' postings only. Both have the tags column.
_TEXT_INDEX = "articles_fts"
_TITLE_INDEX = "titles_fts"
_BAND_SEARCH = {
    index: " UNION ALL ".join(
        "SELECT * FROM (SELECT a.rowid FROM articles a INDEXED BY articles_order"
        f" WHERE a.quality BETWEEN {band[-1]} AND {band[0]} AND a.rowid IN"
        f" (SELECT rowid FROM {index} WHERE {index} MATCH ?{arm + 2})"
        " AND a.rowid NOT IN (SELECT value FROM json_each(?1))"
        f" ORDER BY {_rank_order('a')})"
        for arm, band in enumerate(_BANDS)
    )
    + f" LIMIT ?{len(_BANDS) + 2} OFFSET ?{len(_BANDS) + 3}"
    for index in (_TEXT_INDEX, _TITLE_INDEX)
}
_BAND_TAGS = [" OR ".join(f'"{rank_tag(quality)}"' for quality in band) for band in _BANDS]
# The rowids matching a query (up to a LIMIT); and the same with each story merged into
# another's event (event_members, migration 25) replaced by its lead, unless withdrawn.
_MATCHES = {
    index: f"SELECT rowid FROM {index} WHERE {index} MATCH ? LIMIT ?"
    for index in (_TEXT_INDEX, _TITLE_INDEX)
}
_MATCHES_AS_LEADS = {
    index: f"SELECT coalesce(l.rowid, f.rowid) FROM ({_MATCHES[index]}) f"
    " LEFT JOIN event_members m ON m.rowid = f.rowid"
    " LEFT JOIN articles l ON l.id = m.event_id AND l.source <> 'withdrawn'"
    for index in (_TEXT_INDEX, _TITLE_INDEX)
}
# A topic's matches in ranking order: article_topics_rank read in order, each entry
# checked against the matches (gathered once); the LIMIT stops the scan.
_TOPIC_SEARCH = {
    index: "SELECT article_rowid FROM article_topics INDEXED BY article_topics_rank"
    " WHERE key = ? AND article_rowid IN"
    f" (SELECT rowid FROM {index} WHERE {index} MATCH ?)"
    " AND article_rowid NOT IN (SELECT value FROM json_each(?))"
    f" ORDER BY {_rank_order(id_column='article_id')} LIMIT ? OFFSET ?"
    for index in (_TEXT_INDEX, _TITLE_INDEX)
}
# A topic's gathered matches (a JSON array) in ranking order, as _TOPIC_SEARCH reads them.
_TOPIC_GATHER = 10 * COUNT_LIMIT
_TOPIC_GATHERED = (
    "SELECT article_rowid FROM article_topics INDEXED BY article_topics_rank"
    " WHERE key = ? AND article_rowid IN (SELECT value FROM json_each(?))"
    f" ORDER BY {_rank_order(id_column='article_id')} LIMIT ? OFFSET ?"
)
# A few matches (their rowids as a JSON array), those also in a second array first, then
# in ranking order: narrow lookups by key, no full-text work.
_ORDER_FEW = (
    " IN (SELECT value FROM json_each(?)) ORDER BY {0} IN (SELECT value FROM json_each(?)) DESC,"
    " {1} LIMIT ? OFFSET ?"
)
_TOPIC_FEW = "SELECT article_rowid FROM article_topics WHERE key = ? AND article_rowid" + (
    _ORDER_FEW.format("article_rowid", _rank_order(id_column="article_id"))
)
# (articles_by_rowid holds the ranking columns: the rows themselves are not read; the
# planner, without statistics, would look each row up by its primary key instead)
_ALL_FEW = "SELECT rowid FROM articles INDEXED BY articles_by_rowid WHERE rowid" + (
    _ORDER_FEW.format("rowid", _rank_order())
)


# The columns people's words are matched in: not tags, whose tokens stand for topics and
# quality bands (the word "rq090" found every story of quality 90).
_TEXT_COLUMNS = "{title excerpt topics provider}"
# The tags column's tokens (topic_tag, rank_tag). A column filter makes FTS5 read the
# positions of every posting it checks, so it is only set for words that could be one.
_TAG_TOKEN = re.compile(r"t[0-9a-f]{16}|rq[0-9]{3}")


def _title_index(words: Sequence[str]) -> str:
    """The index to match ``words`` (as _words gives them) in titles with: titles_fts, if
    each word is one token. It keeps no positions, so it refuses a phrase, which a word is
    when the tokenizer splits it (at "_", or at a character its Unicode tables do not
    know as a letter); for a word of other than ASCII letters and digits, articles_fts."""
    return _TITLE_INDEX if all(_ASCII_TOKEN.fullmatch(word) for word in words) else _TEXT_INDEX


def _in_text(words: Sequence[str]) -> str:
    """The column filter that keeps ``words`` (as _words gives them) out of the tags: none
    when no word can be a tag token. A word of other than ASCII characters keeps it, as
    the tokenizer may fold it into one (ŕq090 is rq090 without its accent); an ASCII word
    may be several tokens (rq_090 is the phrase rq 090), each checked."""
    for word in words:
        if not word.isascii() or any(
            _TAG_TOKEN.fullmatch(token) for token in _ASCII_TOKEN.findall(word)
        ):
            return f"{_TEXT_COLUMNS} : "
    return ""


def _typed_word(prefix: str) -> str:
    """The FTS5 terms for a word still being typed. The indexes hold English stems
    (migration 17) and FTS5 stems the prefix too ("reefs"* is "reef"*), but a prefix that
    runs past its word's stem ("runni" of "running", indexed as "run") starts no stem: so
    the prefix shortened by up to 4 letters, to 3 at least, counts as a whole word too
    ("runni"* OR "runn" OR "runne" OR "run"), and where the letter cut off could begin
    "-ing" or "-ed", that with an "e" (porter's "saving" is "save"). The suffixes a word
    typed so far may have begun are at most that long; a result may then have another
    form of that stem."""
    terms = [f'"{prefix}"*']
    if _ASCII_LETTERS.fullmatch(prefix):
        for n in range(len(prefix) - 1, max(3, len(prefix) - 4) - 1, -1):
            terms.append(f'"{prefix[:n]}"')
            if prefix[n] in "ie":  # "-ing", "-ed" gone, porter may put an e back: sav(ing)
                terms.append(f'"{prefix[:n]}e"')
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def _words(text: str) -> list[str]:
    """The words of ``text`` as the index's tokenizer sees them: composed (é, not e and a
    combining accent) and lower case; not casefolded, which turns ß into ss where the
    index keeps ß."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def _marked_word_starts(marked: str, prefix: str) -> bool | None:
    """Whether a word of a title that highlight() marked (between \\x01 and \\x02) starts
    with ``prefix`` (ASCII letters and digits, lower case), or None when a marked span with
    other characters leaves it open. The tokenizer splits at every ASCII character but
    letters and digits and folds those to lower case, so each run of them read here is a
    whole word of the title: a \\x01 or \\x02 in the title itself, a separator too, can
    move a span's edges but never make a word up."""
    open_ = False
    for span in _MARKED.findall(marked):
        if span.isascii():
            if any(word.lower().startswith(prefix) for word in _ASCII_TOKEN.findall(span)):
                return True
        elif (head := span[: len(prefix)]).isascii() and head.lower() == prefix:
            return True  # (its first word, then, which starts with the prefix)
        else:
            open_ = True
    return None if open_ else False


def fts_query(text: str) -> str:
    """User text as an FTS5 query of plain words: no operator can be injected. A word said
    twice is matched once: the query asks for every word, and each costs a pass."""
    return " ".join(f'"{word}"' for word in dict.fromkeys(_words(text)))


class Reading(Connection):
    """Stories by id, URL, words and topic."""

    async def submitted_for(self, article_id: str) -> frozenset[int] | None:
        """The channels a submitted story is ranked for; None: it is not limited so."""
        rows = await self._all(
            "SELECT c.channel_id FROM submitted_stories s LEFT JOIN submitted_channels c"
            " ON c.article_id = s.article_id WHERE s.article_id = ?",
            (article_id,),
        )
        if not rows:
            return None
        return frozenset(r[0] for r in rows if r[0] is not None)

    # ------------------------------------------------------------------ reading articles

    async def get_article(self, article_id: str) -> Article | None:
        row = await self._one(
            "SELECT data FROM articles WHERE id = ? AND source <> 'withdrawn'", (article_id,)
        )
        return (
            (await self._with_events([article_from_dict(json.loads(row[0]))]))[0] if row else None
        )

    async def article_by_url(self, canonical: str) -> Article | None:
        row = await self._one(
            "SELECT data FROM articles WHERE canonical_url = ? AND source <> 'withdrawn'",
            (canonical,),
        )
        return (
            (await self._with_events([article_from_dict(json.loads(row[0]))]))[0] if row else None
        )

    async def get_articles(self, article_ids: list[str]) -> list[Article]:
        found: dict[str, Article] = {}
        for chunk in _chunks(article_ids):
            for (data,) in await self._all(
                f"SELECT data FROM articles WHERE id IN ({_marks(len(chunk))})"
                " AND source <> 'withdrawn'",
                tuple(chunk),
            ):
                article = article_from_dict(json.loads(data))
                found[article.id] = article
        return await self._with_events([found[i] for i in article_ids if i in found])

    async def event_of(self, article_id: str) -> list[str]:
        rows = await self._all(
            "SELECT m.id FROM articles a JOIN articles m ON m.event_id = a.event_id"
            " WHERE a.id = ? AND a.event_id IS NOT NULL AND m.source <> 'withdrawn'"
            f" ORDER BY m.id <> m.event_id, {_rank_order('m')}",
            (article_id,),
        )
        return [r[0] for r in rows]

    async def _with_events(self, articles: list[Article]) -> list[Article]:
        """``articles`` as they are posted: a story whose event holds others carries their
        coverage too (curation.events.coverage: each URL and outlet once, best first)."""
        if not articles:
            return articles
        rows = await self._all(
            "SELECT a.id, m.data FROM articles a JOIN articles m ON m.event_id = a.event_id"
            " WHERE a.id IN (SELECT value FROM json_each(?)) AND a.event_id IS NOT NULL"
            " AND m.id <> a.id AND m.source <> 'withdrawn' ORDER BY m.id",
            (json.dumps([a.id for a in articles]),),
        )
        if not rows:
            return articles
        others: dict[str, list[Article]] = {}
        for article_id, data in rows:
            others.setdefault(article_id, []).append(article_from_dict(json.loads(data)))
        return [
            dataclasses.replace(a, related=coverage(a, others[a.id])) if a.id in others else a
            for a in articles
        ]

    async def first_seen_ts(self, article_id: str) -> int | None:
        """When the store first saw the article (Unix seconds), or None if unknown."""
        row = await self._one("SELECT first_seen_ts FROM articles WHERE id = ?", (article_id,))
        return row[0] if row else None

    async def article_count(self) -> int:
        # the withdrawn ones (few, in a partial index) apart: counting the others would
        # read every row
        sql = (
            "SELECT (SELECT count(*) FROM articles)"
            " - (SELECT count(*) FROM articles WHERE source = 'withdrawn')"
        )
        return int((await self._one(sql))[0])

    async def complete_articles(self, text: str, limit: int = 25) -> list[Headline]:
        """Articles whose id starts with ``text`` or whose title has its words, as typed."""
        text = capped_query(text).strip()
        if not text:
            rows = await self._all(
                "SELECT id, title FROM articles WHERE source <> 'withdrawn'"
                " ORDER BY first_seen_ts DESC, quality DESC, id LIMIT ?",
                (limit,),
            )
            return [Headline(*row) for row in rows]
        rows = []
        if (prefix := id_prefix(text)) is not None:
            rows = await self._all(
                "SELECT id, title FROM articles WHERE id >= ? AND id < ?"
                " AND source <> 'withdrawn' ORDER BY id LIMIT ?",
                (prefix, prefix + "\uffff", limit),
            )
        words = _words(text)
        if words and len(rows) < limit:
            # The last word is still being typed: a prefix, unless a whole word already
            # typed starts with it and so asks for more.
            *whole, last = words
            terms = [f'"{word}"' for word in dict.fromkeys(whole)]
            if any(word.startswith(last) for word in whole):
                last = ""
            found = await self._newest_titled(terms, last, limit)
            if isinstance(found, str):  # FTS5 answers, in the statement that reads them
                index = _title_index(words)
                rows += await self._all(
                    f"SELECT a.id, a.title FROM (SELECT rowid FROM {index} WHERE {index}"
                    " MATCH ? ORDER BY rowid DESC LIMIT ?) f JOIN articles a"
                    " ON a.rowid = f.rowid ORDER BY a.quality DESC, a.id",
                    (found, limit),
                )
            else:
                rows += await self._all(
                    "SELECT id, title FROM articles"
                    " WHERE rowid IN (SELECT value FROM json_each(?))"
                    " ORDER BY quality DESC, id",
                    (json.dumps(found),),
                )
        seen: dict[str, Headline] = {}
        for article_id, title in rows:
            seen.setdefault(article_id, Headline(article_id, title))
        return list(seen.values())[:limit]

    async def _newest_titled(self, terms: list[str], prefix: str, limit: int) -> list[int] | str:
        """The rowids of the ``limit`` newest stories whose title has ``terms`` and, if
        ``prefix``, a word starting with it; or the FTS5 query that finds them.

        FTS5 answers a prefix longer than its prefix index (2 letters) by merging the whole
        lists of every word it starts, so "company" cost a pass over a quarter of the
        stories. Instead, for one word typed alone, its first 2 letters find candidates
        newest first, a batch at a time, and the title words the index marks in each tell
        whether one starts with the whole prefix. Where that cannot be told here (a marked
        word with other than ASCII letters and digits at its start, whose folding is the
        tokenizer's), or when _PREFIX_BATCHES batches are not enough (or the first finds
        too few to expect that they would be), FTS5 answers the whole query itself: such
        prefixes are rarer, and cost less to merge. With other words typed, the candidates
        of the 2 letters could be few and far between, so FTS5 answers directly too.
        """

        def in_title(*last: str) -> str:
            return "title : (" + " AND ".join([*terms, *last]) + ")"

        if not prefix:
            return in_title()
        direct = in_title(_typed_word(prefix))
        if terms or len(prefix) <= 2 or not _ASCII_LETTERS.fullmatch(prefix):
            return direct
        candidates = in_title(f'"{prefix[:2]}"*')
        found: list[int] = []
        below, batch = 1 << 62, 2 * limit
        for _ in range(_PREFIX_BATCHES):
            rows = await self._all(
                "SELECT rowid, highlight(articles_fts, 0, char(1), char(2)) FROM articles_fts"
                " WHERE articles_fts MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?",
                (candidates, below, batch),
            )
            for rowid, marked in rows:
                starts = _marked_word_starts(marked, prefix)
                if starts is None:
                    return direct
                if starts:
                    found.append(rowid)
                    if len(found) == limit:
                        return found
            if len(rows) < batch:
                return found
            if 2 * len(found) < limit:  # at this rate, one more batch would not do
                break
            below = rows[-1][0]
        return direct

    async def search(
        self, query: str = "", topic: str | None = None, limit: int = 10, offset: int = 0
    ) -> tuple[list[Article], int]:
        """Stories of ``topic`` with every word of ``query``: those with all the words in
        their title first, then the others; each group in ranking order (ranking.rank_key).

        Each query runs the full-text match once or twice and no relevance score: bm25 would
        read every posting of every word, whatever the page asked for. The total counts
        matches up to COUNT_LIMIT; a larger total is COUNT_LIMIT + 1.
        """
        query = capped_query(query)
        words = fts_query(query)
        if query.strip() and not words:
            return [], 0  # only punctuation: nothing can match
        key = topic_key(topic) if topic else None
        if not words:
            return await self._browse(key, limit, offset)
        scope = f'tags : "{topic_tag(key)}" AND ' if key else ""
        typed = _words(query)
        everything = f"{scope}{_in_text(typed)}({words})"
        in_title = f"{scope}title : ({words})"
        titles = _title_index(typed)
        # each event once, as its lead, however many of its stories match
        matches = await self._matches(everything, leads=True)
        if matches is not None:
            total = len(matches)
            # a subset of the matches, so as few
            titled = (
                (await self._matches(in_title, index=titles, leads=True) or []) if matches else []
            )
            rowids = await self._order_few(key, matches, titled, limit, offset)
        else:
            total = COUNT_LIMIT + 1
            rowids = await self._search_many(key, everything, (in_title, titles), limit, offset)
            rowids = await self._as_events(rowids)  # (within the page)
        return await self._articles_by_rowid(rowids), total

    async def _as_events(self, rowids: list[int]) -> list[int]:
        """``rowids`` with each story merged into another's event replaced by its lead's,
        each once, in their order."""
        if not rowids:
            return rowids
        leads = dict(
            await self._all(
                # event_members (migration 25), not articles.event_id: that column is on
                # each row's overflow pages, read whole for a thousand matches
                "SELECT m.rowid, l.rowid FROM event_members m JOIN articles l"
                " ON l.id = m.event_id WHERE m.rowid IN (SELECT value FROM json_each(?))"
                " AND l.source <> 'withdrawn'",
                (json.dumps(rowids),),
            )
        )
        if not leads:
            return rowids
        return list(dict.fromkeys(leads.get(rowid, rowid) for rowid in rowids))

    async def _search_many(
        self,
        key: str | None,
        everything: str,
        titled_in: tuple[str, str],
        limit: int,
        offset: int,
    ) -> list[int]:
        """A page of more than COUNT_LIMIT matches: titled first, each part in ranking order.

        ``titled_in`` is the match of the titled stories and the index it runs in
        (_title_index). In a topic, up to _TOPIC_GATHER titled stories are gathered once
        and the topic's stories read in ranking order against them; the full-text match
        of a subquery (_TOPIC_SEARCH) would be run again, in full, after the count."""
        in_title, titles = titled_in  # the match, and the index it is for
        most = _TOPIC_GATHER if key is not None else COUNT_LIMIT
        titled = await self._matches(in_title, most, titles)
        if titled is not None:
            rowids = await self._order_few(key, titled, [], limit, offset)
            if len(rowids) < limit:  # the page goes on past the titled stories
                rowids += await self._page_of_many(
                    key, everything, limit - len(rowids), max(0, offset - len(titled)), titled
                )
            return rowids
        rowids = await self._page_of_many(key, in_title, limit, offset, index=titles)
        if len(rowids) < limit:  # a deep page, past more than COUNT_LIMIT titled stories
            titled_count = offset + len(rowids) if rowids else await self._count(in_title, titles)
            rowids += await self._page_of_many(
                key, f"({everything}) NOT ({in_title})", limit - len(rowids),
                max(0, offset - titled_count),
            )  # fmt: skip
        return rowids

    async def _matches(
        self, match: str, most: int = COUNT_LIMIT, index: str = _TEXT_INDEX, leads: bool = False
    ) -> list[int] | None:
        """The rowids matching ``match`` in ``index``, or None when there are more than
        ``most``; with ``leads``, each story merged into another's event replaced by its
        lead's, each once (as _as_events does, in the same statement)."""
        rows = await self._all(
            _MATCHES_AS_LEADS[index] if leads else _MATCHES[index], (match, most + 1)
        )
        if len(rows) > most:
            return None
        return list(dict.fromkeys(rowid for (rowid,) in rows))

    async def _count(self, match: str, index: str = _TEXT_INDEX) -> int:
        sql = f"SELECT count(*) FROM {index} WHERE {index} MATCH ?"
        return int((await self._one(sql, (match,)))[0])

    async def _order_few(
        self, key: str | None, rowids: list[int], first: list[int], limit: int, offset: int
    ) -> list[int]:
        """``rowids`` (at most COUNT_LIMIT, or _TOPIC_GATHER of a topic) in ranking order,
        those in ``first`` first."""
        found, ahead = json.dumps(rowids), json.dumps(first)
        if key is None:
            rows = await self._all(_ALL_FEW, (found, ahead, limit, offset))
        elif len(rowids) > COUNT_LIMIT and not first:  # many: no sort, the LIMIT stops
            rows = await self._all(_TOPIC_GATHERED, (key, found, limit, offset))
        else:
            rows = await self._all(_TOPIC_FEW, (key, found, ahead, limit, offset))
        return [rowid for (rowid,) in rows]

    async def _page_of_many(
        self,
        key: str | None,
        match: str,
        limit: int,
        offset: int,
        skip: list[int] | None = None,
        index: str = _TEXT_INDEX,
    ) -> list[int]:
        """A page of ``match``'s stories (in ``index``) but ``skip`` in ranking order, for
        many matches."""
        skipped = json.dumps(skip or [])
        if key is not None:
            rows = await self._all(_TOPIC_SEARCH[index], (key, match, skipped, limit, offset))
        else:  # the first bands hold the page
            bands = [f"({match}) AND tags : ({tags})" for tags in _BAND_TAGS]
            rows = await self._all(_BAND_SEARCH[index], (skipped, *bands, limit, offset))
        return [rowid for (rowid,) in rows]

    async def _articles_by_rowid(self, rowids: list[int]) -> list[Article]:
        rows = await self._all(
            "SELECT rowid, data FROM articles WHERE rowid IN (SELECT value FROM json_each(?))",
            (json.dumps(rowids),),
        )
        data = dict(rows)  # a story deleted meanwhile is left out
        return [article_from_dict(json.loads(data[r])) for r in rowids if r in data]

    async def _browse(self, key: str | None, limit: int, offset: int) -> tuple[list[Article], int]:
        """Every story, or a topic's, best first (a search without words)."""
        if key is None:
            rows = await self._all(
                "SELECT a.data FROM articles a WHERE a.source <> 'withdrawn'"
                " AND (a.event_id IS NULL OR a.event_id = a.id)"  # each event once
                f" ORDER BY {_rank_order('a')}"
                " LIMIT ? OFFSET ?",
                (limit, offset),
            )
            total = await self.article_count()
        else:
            # In article_topics_rank's order: the page comes from the index, no sort.
            rows = await self._all(
                "SELECT a.data FROM article_topics t JOIN articles a ON a.rowid = t.article_rowid"
                " WHERE t.key = ? AND (a.event_id IS NULL OR a.event_id = a.id)"
                f" ORDER BY {_rank_order('t', 'article_id')} LIMIT ? OFFSET ?",
                (key, limit, offset),
            )
            found = await self._one("SELECT articles FROM topic_stats WHERE key = ?", (key,))
            total = found[0] if found else 0
        return [article_from_dict(json.loads(r[0])) for r in rows], min(total, COUNT_LIMIT + 1)

    async def topics(self) -> list[tuple[str, int]]:
        rows = await self._all("SELECT name, articles FROM topic_stats ORDER BY key")
        return [(name, count) for name, count in rows]

    async def topic_named(self, text: str) -> str | None:
        row = await self._one("SELECT name FROM topic_stats WHERE key = ?", (topic_key(text),))
        return str(row[0]) if row else None

    async def complete_topics(self, text: str, limit: int = 25) -> list[tuple[str, int]]:
        """Topics starting with ``text``, then topics containing it; most stories first."""
        key = topic_key(text[:QUERY_CHARS])
        rows = await self._all(
            "SELECT name, articles FROM topic_stats WHERE key >= ? AND key < ?"
            " ORDER BY articles DESC, key LIMIT ?",
            (key, key + "\U0010ffff", limit),  # (past every character, emoji too)
        )
        if len(rows) < limit and key:
            rows += await self._all(
                "SELECT name, articles FROM topic_stats WHERE instr(key, ?) > 1"
                " ORDER BY articles DESC, key LIMIT ?",
                (key, limit - len(rows)),
            )
        return [(name, count) for name, count in rows]

    async def latest_sent(
        self, topic: str | None = None, limit: int = 10
    ) -> list[tuple[Article, Delivery]]:
        params: list[Any] = [DeliveryState.SENT.value]
        topic_clause = ""
        if topic:
            topic_clause = (
                " AND EXISTS (SELECT 1 FROM article_topics t WHERE t.key = ?"
                " AND t.article_rowid = a.rowid)"
            )
            params.append(topic_key(topic))
        sql = (
            f"SELECT a.data, {', '.join('d.' + c.strip() for c in _DELIVERY_COLUMNS.split(','))}"
            " FROM deliveries d JOIN articles a ON a.id = d.article_id"
            f" WHERE d.state = ?{topic_clause} ORDER BY d.sent_ts DESC, a.id LIMIT ? OFFSET ?"
        )
        out: list[tuple[Article, Delivery]] = []
        seen: set[str] = set()
        page, offset = limit * 4, 0
        while len(out) < limit:  # a story posted to many channels takes many rows
            rows = await self._all(sql, [*params, page, offset])
            for row in rows:
                delivery = _delivery(row[1:])
                if delivery.article_id in seen:
                    continue  # the same story posted to several channels: once
                seen.add(delivery.article_id)
                out.append((article_from_dict(json.loads(row[0])), delivery))
            if len(rows) < page:
                break
            offset += page
        return out[:limit]
