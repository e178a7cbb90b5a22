"""Linking a load's stories to their events, and a moderator's splits and merges: the
rule every backend shares, over typed values (pure).

A backend files the stories it writes in its :class:`~bot.curation.events.EventIndex`
and hands them to :func:`link_events`, which asks the backend's two reads (an
:class:`EventReader`) for the stories found and the pairs kept apart, and returns an
:class:`EventPlan`; :func:`plan_split` and :func:`plan_merge` plan a moderator's
actions. The backend writes the plan; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from itertools import combinations
from typing import Protocol

from bot.curation.events import (
    WINDOW,
    EventIndex,
    Ranked,
    leads,
    titles_alike,
    unpack_keys,
)


@dataclass(frozen=True, slots=True)
class Filed:
    """A story just written, as the event index files it: its row, time and keys."""

    rowid: int
    published_ts: int | None
    keys: tuple[int, ...]
    title: str | None = None  # known: a title pair with it is compared before any read


@dataclass(frozen=True, slots=True)
class EventPlan:
    """What linking, a split or a merge does to the stored events, for a backend to write.

    ``leads``: each story whose event changes, with its lead now (None: alone now), in
    id order. ``edits``: the stories whose posted messages are to be edited (their event
    changed), in id order. ``merged``: the stories written that are now in another's
    event, id → lead. ``apart``: pairs (lesser id first) a moderator split, to keep;
    ``joined``: pairs to forget (a merge)."""

    leads: tuple[tuple[str, str | None], ...] = ()
    edits: tuple[str, ...] = ()
    merged: dict[str, str] = field(default_factory=dict)
    apart: tuple[tuple[str, str], ...] = ()
    joined: tuple[tuple[str, str], ...] = ()


# A stored story as linking reads it (rowid → it, with its event's lead as stored).
EventStories = dict[int, tuple[Ranked, str | None]]


class EventReader(Protocol):
    """The two reads linking needs; each backend answers them from its tables."""

    async def _event_stories(self, rowids: set[int]) -> EventStories:
        """These stories (withdrawn ones left out) and every story of their events, by
        rowid: each as the events read it, with its event's lead."""
        ...

    async def _apart(self, ids: Sequence[str]) -> set[frozenset[str]]:
        """The pairs split by a moderator that hold one of ``ids``."""
        ...


def candidates(index: EventIndex, fresh: Sequence[Filed]) -> set[tuple[int, int, bool]]:
    """File ``fresh`` in ``index`` (which holds the other stored stories) and return the
    pairs of rows to look at: (fresh rowid, other rowid filed before it, whether by a
    link). Every pair within the window is found once, in one direction or the other:
    the same links whatever order ``fresh`` is in."""
    found: set[tuple[int, int, bool]] = set()
    for story in fresh:
        rowid = story.rowid
        for other, link in index.file(rowid, story.published_ts, story.keys, story.title):
            found.add((rowid, other, link))
    return found


def confirmed_links(
    found: Iterable[tuple[int, int, bool]], stories: EventStories, window: timedelta = WINDOW
) -> list[tuple[str, str]]:
    """The ``candidates`` that are links (a URL, or the title rule within ``window``),
    as pairs of ids, in a stable order; withdrawn stories (not in ``stories``) left out."""
    return sorted(
        (stories[a][0].id, stories[b][0].id)
        for a, b, by_link in found
        if a in stories and b in stories
        and (by_link or titles_alike(stories[a][0], stories[b][0], window))
    )  # fmt: skip


def plan_links(
    fresh: Sequence[str],
    stories: EventStories,
    links: Iterable[tuple[str, str]],
    apart: Collection[frozenset[str]] = frozenset(),
) -> EventPlan:
    """The plan of a load: the events of ``stories`` with ``links`` added to the events
    they are in (but pairs ``apart``), each led by its best-ranked story. ``fresh``: the
    ids of the stories written, whose merges the plan reports."""
    kept = [(s.id, event) for s, event in stories.values() if event is not None]
    now = leads([s for s, _ in stories.values()], [*links, *kept], apart)
    return plan_leads(fresh, stories, now)


def plan_leads(
    fresh: Sequence[str], stories: EventStories, now: dict[str, str | None]
) -> EventPlan:
    """The plan that gives ``stories`` their leads ``now``: an event that changed is
    posted again as it is now wherever a story of it was posted (the message is edited
    in place, a late outlet added; never sent twice)."""
    changed = sorted(
        (s.id, now[s.id], event) for s, event in stories.values() if now[s.id] != event
    )
    touched = {lead for _, lead, _ in changed} | {event for _, _, event in changed}
    edits = sorted(
        s.id for s, _ in stories.values() if now[s.id] is not None and now[s.id] in touched
    )
    merged = {i: lead for i in fresh if (lead := now.get(i)) is not None and lead != i}
    return EventPlan(tuple((i, lead) for i, lead, _ in changed), tuple(edits), merged)


def file_stored(
    index: EventIndex,
    rows: Iterable[tuple[int, int | None, bytes]],
    fresh: Collection[int],
    wanted: frozenset[int] | None = None,
) -> None:
    """File stored stories (rowid, publication time, packed keys) in ``index``, but
    ``fresh`` (the load's own, filed by link_events); with ``wanted``
    (events.wanted_keys of the load's stories), only those holding one of its keys."""
    for rowid, ts, packed in rows:
        if rowid not in fresh:
            keys = unpack_keys(packed)
            if wanted is None or not wanted.isdisjoint(keys):
                index.add(rowid, ts, keys)


async def link_events(
    reader: EventReader,
    index: EventIndex,
    fresh: Sequence[tuple[Filed, str]],
    window: timedelta = WINDOW,
) -> EventPlan:
    """What a load's written stories (``fresh``: each filed, with its id) do to the
    events: ``index`` holds the other stored stories (fresh ones are added to it),
    ``reader`` answers for the stories found.

    A pair is linked by what the two stories are alone (a URL key, or a title key within
    the window, then the title rule), so stories loaded in any order, in one load or
    many, make the same events. An edited story keeps the event it was in."""
    found = index.alike(candidates(index, [filed for filed, _ in fresh]))
    if not found:
        return EventPlan()
    stories = await reader._event_stories({r for pair in found for r in pair[:2]})
    links = confirmed_links(found, stories, window)
    if not links:
        return EventPlan()
    apart = await reader._apart([s.id for s, _ in stories.values()])
    return plan_links([i for _, i in fresh], stories, links, apart)


def plan_split(article_id: str, stories: EventStories) -> tuple[list[str], EventPlan]:
    """A moderator takes ``article_id`` out of its event (``stories``: the event's): it
    is kept apart from each other story, and the others stay one event, led by the
    best-ranked of them. Returns the ids it is split from, best first, and the plan."""
    others = sorted((s for s, _ in stories.values() if s.id != article_id), key=_by_rank)
    if not others:
        return [], EventPlan()
    links = [(o.id, others[0].id) for o in others]
    plan = plan_leads([], stories, leads([s for s, _ in stories.values()], links))
    kept = tuple(sorted((min(article_id, o.id), max(article_id, o.id)) for o in others))
    return [o.id for o in others], replace(plan, apart=kept)


def plan_merge(article_id: str, stories: EventStories) -> tuple[str, EventPlan]:
    """A moderator puts ``stories`` (two stories and their events) in one event, any
    split between them forgotten. Returns the lead's id and the plan."""
    ids = sorted(s.id for s, _ in stories.values())
    now = leads([s for s, _ in stories.values()], [(i, ids[0]) for i in ids])
    plan = plan_leads([], stories, now)
    return now.get(article_id) or article_id, replace(plan, joined=tuple(combinations(ids, 2)))


def _by_rank(story: Ranked) -> tuple[int, int, float, str]:
    return story.rank
