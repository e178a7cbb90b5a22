"""Load planning over typed rows, with no database: the rules every backend shares."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Literal

import pytest

from bot.ingest.planning import (
    FileClaim,
    FileRow,
    Known,
    StoredStory,
    Update,
    free_id,
    gather,
    plan_load,
)
from bot.ingest.urls import short_id
from bot.models import Article, ParseResult
from bot.store.records import LoadItem, LoadOutcome, StoredArticle, StoreError

MakeArticle = Callable[..., Article]


def stored(article: Article) -> StoredArticle:
    return StoredArticle.from_result(ParseResult(article))


def item(path: str, article: Article | None = None, error: str | None = None) -> LoadItem:
    return LoadItem(path, 10, 1, "sha", stored(article) if article else None, error)


def story(key: int, article: Article, path: str | None, withdrawn: bool = False) -> StoredStory:
    row = stored(article)
    return StoredStory(key, row.id, row.canonical_url, path, row.content_hash, row.data, withdrawn)


def known(stories: Sequence[StoredStory] = (), claims: dict[str, FileClaim] | None = None) -> Known:
    return Known(
        by_url={s.canonical_url: s for s in stories},
        taken_ids={s.id: s.canonical_url for s in stories},
        claims=claims or {},
        before={},
    )


def test_free_id_grows_only_on_a_collision(make_article: MakeArticle) -> None:
    article = stored(make_article(url="https://example.com/a"))
    ids = [short_id(article.canonical_url, n) for n in (8, 12, 16)]
    other = "https://example.com/other"

    assert free_id(article, {}).id == ids[0]
    assert free_id(article, {ids[0]: article.canonical_url}).id == ids[0]
    assert free_id(article, {ids[0]: other}).id == ids[1]
    # the id lives in the stored JSON too
    assert free_id(article, {ids[0]: other}).to_article().id == ids[1]
    assert free_id(article, {ids[0]: other, ids[1]: other}).id == ids[2]
    with pytest.raises(StoreError, match=re.escape("no free id for https://example.com/a")):
        free_id(article, dict.fromkeys(ids, other))


def test_a_new_story_and_a_rejected_file(make_article: MakeArticle) -> None:
    a = make_article(url="https://example.com/a")
    plan = plan_load([item("/a.txt", a), item("/bad.txt", error="no title")], known())

    assert plan.inserts == [(stored(a), "/a.txt")]
    assert plan.updates == []
    assert plan.outcomes == [
        LoadOutcome("/a.txt", "loaded", a.id),
        LoadOutcome("/bad.txt", "rejected", None, "no title"),
    ]
    assert plan.files == [
        FileRow("/a.txt", 10, 1, "sha", a.id, "ok"),
        FileRow("/bad.txt", 10, 1, "sha", None, "rejected", error="no title"),
    ]


def test_a_second_file_with_a_known_url_is_a_duplicate_of_its_owner(
    make_article: MakeArticle,
) -> None:
    a = make_article(url="https://example.com/a")
    held = known([story(7, a, "/a.txt")], {"/a.txt": FileClaim("ok", a.id)})

    plan = plan_load([item("/copy.txt", a)], held)

    assert plan.outcomes == [LoadOutcome("/copy.txt", "duplicate", a.id, "/a.txt")]
    # the owner has a column of its own; error stays for a rejected file's reason
    assert plan.files == [FileRow("/copy.txt", 10, 1, "sha", a.id, "duplicate", owner="/a.txt")]
    assert plan.inserts == []
    assert plan.updates == []


def test_an_owner_that_gives_another_story_now_loses_its_claim(
    make_article: MakeArticle,
) -> None:
    a = make_article(url="https://example.com/a")
    # /a.txt gives another story now: the copy takes the URL's story over
    held = known([story(7, a, "/a.txt")], {"/a.txt": FileClaim("ok", "another")})
    edited = make_article(url="https://example.com/a", title="Edited")

    plan = plan_load([item("/copy.txt", edited)], held)

    assert plan.outcomes == [LoadOutcome("/copy.txt", "updated", a.id)]
    assert plan.updates == [Update(stored(edited), "/copy.txt", 7, [])]


def test_a_withdrawn_story_comes_back_with_its_id(make_article: MakeArticle) -> None:
    a = make_article(url="https://example.com/a", topics=["AI"])
    plan = plan_load([item("/a.txt", a)], known([story(3, a, "/a.txt", withdrawn=True)]))

    assert plan.outcomes == [LoadOutcome("/a.txt", "loaded", a.id)]
    assert plan.updates == [Update(stored(a), "/a.txt", 3, [])]  # its topics went with it


def test_a_file_that_moves_its_story_to_a_new_url_keeps_the_id(
    make_article: MakeArticle,
) -> None:
    old = make_article(url="https://example.com/old", topics=["AI"])
    new = make_article(url="https://example.com/new", topics=["AI"])
    was = story(5, old, "/a.txt")
    held = Known({}, {}, {"/a.txt": FileClaim("ok", old.id)}, {"/a.txt": was})

    plan = plan_load([item("/a.txt", new)], held)

    kept = stored(new).with_id(old.id)
    assert plan.updates == [Update(kept, "/a.txt", 5, ["AI"])]
    assert plan.moved == [old.id]
    assert plan.outcomes == [LoadOutcome("/a.txt", "updated", old.id, None, True)]
    assert plan.owners_changed == ["/a.txt"]


class Reader:
    """A StoryReader over dictionaries, recording each lookup."""

    def __init__(self, stories: Sequence[StoredStory], claims: dict[str, FileClaim]) -> None:
        self.stories = stories
        self.claims = claims
        self.asked: list[tuple[str, list[str]]] = []

    async def stories_by(
        self, column: Literal["id", "canonical_url"], values: Sequence[str]
    ) -> dict[str, StoredStory]:
        self.asked.append((column, sorted(values)))
        by = {(s.id if column == "id" else s.canonical_url): s for s in self.stories}
        return {value: by[value] for value in values if value in by}

    async def file_claims(self, paths: Sequence[str]) -> dict[str, FileClaim]:
        self.asked.append(("files", sorted(paths)))
        return {p: c for p, c in self.claims.items() if p in paths}


async def test_gather_reads_the_story_a_file_gave_before_its_url_changed(
    make_article: MakeArticle,
) -> None:
    old = make_article(url="https://example.com/old")
    new = make_article(url="https://example.com/new")
    was = story(5, old, "/a.txt")
    reader = Reader([was], {"/a.txt": FileClaim("ok", old.id)})

    found = await gather(reader, [item("/a.txt", new)])

    assert found == Known({}, {}, {"/a.txt": FileClaim("ok", old.id)}, {"/a.txt": was})
    assert reader.asked == [
        ("canonical_url", [new.canonical_url]),
        ("id", [new.id]),
        ("files", ["/a.txt"]),
        ("id", [old.id]),
    ]
    assert json.loads(found.before["/a.txt"].data)["url"] == "https://example.com/old"
