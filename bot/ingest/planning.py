"""Load planning: what a batch of loaded files does to the stored stories (pure).

The rules every backend shares live here, over typed rows: which file owns a URL, a
story that moves to a new URL with its file, ids that collide, duplicates kept out and
taken over, withdrawn stories coming back. A backend reads what :func:`gather` asks for
through a :class:`StoryReader`, hands the result to :func:`plan_load`, and writes the
:class:`LoadPlan` it gets back; it decides nothing itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.ingest.urls import ID_LENGTHS, short_id
from bot.store.records import LoadItem, LoadOutcome, StoredArticle, StoreError


@dataclass(frozen=True, slots=True)
class StoredStory:
    """What planning needs of a stored story."""

    key: int  # the backend's own key of the row, handed back in the plan
    id: str
    canonical_url: str
    source_path: str | None  # the file that gave it; None for a moderator's story
    content_hash: str
    data: str  # the article as JSON (its related coverage, link and topics)
    withdrawn: bool

    @property
    def topics(self) -> list[str]:
        topics: list[str] = json.loads(self.data)["topics"]
        return topics


@dataclass(frozen=True, slots=True)
class FileClaim:
    """A recorded file's status ('ok', 'duplicate' or 'rejected') and the story it gives
    (or, for a duplicate, the story it duplicates)."""

    status: str
    article_id: str | None


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file's record as the plan writes it."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    article_id: str | None
    status: Literal["ok", "duplicate", "rejected"]
    error: str | None = None  # rejected: the reason
    owner: str | None = None  # duplicate: the path of the file that gives the story


@dataclass(frozen=True, slots=True)
class Update:
    """A stored story written anew: ``key`` is its row, ``old_topics`` the topics it had
    (empty for a withdrawn one, whose topics went with it)."""

    article: StoredArticle
    path: str | None
    key: int
    old_topics: list[str]


@dataclass
class LoadPlan:
    """What a batch of loaded files does to the store."""

    outcomes: list[LoadOutcome] = field(default_factory=list)
    inserts: list[tuple[StoredArticle, str | None]] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    files: list[FileRow] = field(default_factory=list)
    touched: list[tuple[int, int, str]] = field(default_factory=list)  # (size, mtime, path)
    owners_changed: list[str] = field(default_factory=list)  # known files, read anew
    moved: list[str] = field(default_factory=list)  # stories given a new URL


class NoFreeId(StoreError):
    """Every id length of a story's URL is held by other URLs: that story's fault alone."""


class StoryReader(Protocol):
    """The two reads planning needs; each backend answers them from its tables."""

    async def stories_by(
        self, column: Literal["id", "canonical_url"], values: Sequence[str]
    ) -> dict[str, StoredStory]:
        """The stored stories (withdrawn ones too) whose ``column`` is among ``values``,
        keyed by that column."""
        ...

    async def file_claims(self, paths: Sequence[str]) -> dict[str, FileClaim]:
        """The claims of those of ``paths`` that are recorded."""
        ...


@dataclass(frozen=True, slots=True)
class Known:
    """What the store holds that a batch's plan depends on."""

    by_url: dict[str, StoredStory]  # the stories at the batch's URLs
    taken_ids: dict[str, str]  # id → URL, for the ids the batch's stories may get
    claims: dict[str, FileClaim]  # the batch's files, and the files giving its stories
    before: dict[str, StoredStory]  # path → the story it gave, for files at a new URL


async def taken_ids(reader: StoryReader, articles: Iterable[StoredArticle]) -> dict[str, str]:
    """Id → URL of the stored stories holding the ids these articles may get: each one's
    own, and where that is another URL's, the longer ones (see :func:`free_id`)."""
    articles = list(articles)
    found = await reader.stories_by("id", list({a.id for a in articles}))
    taken = {ident: story.canonical_url for ident, story in found.items()}
    collided = {
        a.canonical_url for a in articles if taken.get(a.id, a.canonical_url) != a.canonical_url
    }
    if collided:
        longer = [short_id(url, n) for url in collided for n in ID_LENGTHS[1:]]
        more = await reader.stories_by("id", longer)
        taken.update((ident, story.canonical_url) for ident, story in more.items())
    return taken


def free_id(article: StoredArticle, taken: dict[str, str]) -> StoredArticle:
    """The short id, made longer in the rare case another URL already has it."""
    url = article.canonical_url
    if taken.get(article.id, url) == url and len(article.id) == ID_LENGTHS[0]:
        return article  # its id is short_id(url), as parsing made it, and free
    for length in ID_LENGTHS:
        candidate = short_id(url, length)
        if taken.get(candidate, url) == url:
            return article if candidate == article.id else article.with_id(candidate)
    raise NoFreeId(f"no free id for {url}")


async def gather(reader: StoryReader, items: Sequence[LoadItem]) -> Known:
    """Read what the plan of ``items`` depends on, in as few lookups as it takes."""
    articles = [i.article for i in items if i.article is not None]
    by_url = await reader.stories_by("canonical_url", list({a.canonical_url for a in articles}))
    taken = await taken_ids(reader, articles)
    # The records of the batch's files (what each gave before) and of the files that give
    # the batch's stories now: often the same files, so one lookup.
    read = {i.path for i in items if i.article or i.error}
    owners = {s.source_path for s in by_url.values() if s.source_path}
    claims = await reader.file_claims(sorted(read | owners))
    # The story a file gave before, for files whose URL is new here: an edited webUrl
    # updates that story (same id, same deliveries) instead of queueing a second one.
    gave = {
        i.path: claim.article_id
        for i in items
        if i.article
        and i.article.canonical_url not in by_url
        and (claim := claims.get(i.path)) is not None
        and claim.status == "ok"
        and claim.article_id
    }
    stories = await reader.stories_by("id", sorted({i for i in gave.values() if i}))
    before = {
        path: stories[ident]
        for path, ident in gave.items()
        if ident in stories and stories[ident].source_path == path
    }
    return Known(by_url, taken, claims, before)


def post_changed(old_data: str, article: StoredArticle) -> bool:
    """Whether a posted message of the story would now read differently: its related
    coverage or its link changed (other edits stay out of posted messages)."""
    old, new = json.loads(old_data), json.loads(article.data)
    return bool(old["related"] != new["related"] or old["url"] != new["url"])


def plan_load(items: Sequence[LoadItem], known: Known) -> LoadPlan:
    """What becomes of each file of a batch, given what the store holds (:func:`gather`).

    Files are taken in order. A URL belongs to the file that gives its story while that
    file still gives it (a broken file keeps its claim); another file with that URL is a
    duplicate of it. A story keeps its id when its file changes its URL; a new story gets
    its short id, longer if another URL holds it. A withdrawn story whose file comes back
    is restored, id and history included.
    """
    plan = LoadPlan()
    taken = dict(known.taken_ids)
    batch_owner: dict[str, tuple[str, str]] = {}  # URL → (path, story id), this batch
    claims = known.claims

    for item in items:
        article = item.article
        if article is None and item.error is None:
            # same bytes as last time: only the stat changed
            plan.outcomes.append(LoadOutcome(item.path, "unchanged"))
            plan.touched.append((item.size, item.mtime_ns, item.path))
            continue
        if item.path in claims:
            plan.owners_changed.append(item.path)
        stat = (item.path, item.size, item.mtime_ns, item.sha256)
        if article is None:
            plan.outcomes.append(LoadOutcome(item.path, "rejected", None, item.error))
            plan.files.append(FileRow(*stat, None, "rejected", error=item.error))
            continue
        url = article.canonical_url
        existing = known.by_url.get(url)
        # The file that gives this URL's story: one earlier in this batch, or the story's
        # source while that file still gives it.
        owner: str | None = None
        if url in batch_owner:
            owner, story = batch_owner[url]
        elif existing and not existing.withdrawn and existing.source_path:
            owner, story = existing.source_path, existing.id
            claim = claims.get(owner)
            if not (
                claim
                and (
                    claim.status == "rejected"
                    or (claim.status == "ok" and claim.article_id == story)
                )
            ):
                owner = None
        if owner is not None and owner != item.path:
            plan.outcomes.append(LoadOutcome(item.path, "duplicate", article.id, owner))
            plan.files.append(FileRow(*stat, story, "duplicate", owner=owner))
            continue
        if existing:
            if existing.id != article.id:
                article = article.with_id(existing.id)
            if existing.withdrawn:
                # its file, or another giving it, is back; its topics and full-text rows
                # went with it
                plan.updates.append(Update(article, item.path, existing.key, []))
                plan.outcomes.append(LoadOutcome(item.path, "loaded", article.id))
            elif (
                article.content_hash == existing.content_hash and existing.source_path == item.path
            ):
                plan.outcomes.append(LoadOutcome(item.path, "unchanged", article.id))
            else:
                changed = post_changed(existing.data, article)
                plan.updates.append(Update(article, item.path, existing.key, existing.topics))
                plan.outcomes.append(LoadOutcome(item.path, "updated", article.id, None, changed))
        elif url in batch_owner:
            # the same URL twice in one batch, from the same path: keep the first
            plan.outcomes.append(LoadOutcome(item.path, "unchanged", article.id))
        elif (
            old := known.before.get(item.path)
        ) is not None and old.canonical_url not in batch_owner:
            article = article.with_id(old.id)
            taken[article.id] = url
            changed = post_changed(old.data, article)
            plan.updates.append(Update(article, item.path, old.key, old.topics))
            plan.moved.append(article.id)
            plan.outcomes.append(LoadOutcome(item.path, "updated", article.id, None, changed))
        else:
            article = free_id(article, taken)
            taken[article.id] = url
            plan.inserts.append((article, item.path))
            plan.outcomes.append(LoadOutcome(item.path, "loaded", article.id))
        batch_owner[url] = (item.path, article.id)
        plan.files.append(FileRow(*stat, article.id, "ok"))
    return plan
