"""The event planner (bot.curation.linking: candidates, link_events, plan_split,
plan_merge) on its own, over stories held in a dict: the exact plans a backend writes,
and the same events whatever order and batches the stories come in."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.curation.events import EventIndex, Ranked, store_keys
from bot.curation.linking import (
    EventPlan,
    EventStories,
    Filed,
    candidates,
    link_events,
    plan_merge,
    plan_split,
)

T0 = int(datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp())
HOUR = 3600


@dataclass(frozen=True)
class Story:
    rowid: int
    id: str
    url: str
    title: str
    quality: int
    ts: int
    related: tuple[str, ...] = ()

    @property
    def ranked(self) -> Ranked:
        return Ranked(self.id, self.title, self.quality, 0, self.ts)

    @property
    def filed(self) -> Filed:
        return Filed(self.rowid, self.ts, store_keys(self.title, self.url, self.related))


NVIDIA = Story(1, "nv1", "a.example/nv", "Nvidia to buy Arm from SoftBank for $40 billion", 60, T0)
NVIDIA_2 = Story(
    2, "nv2", "b.example/nv", "Nvidia agrees to buy Arm from SoftBank for $40 billion", 80,
    T0 + 5 * HOUR,
)  # fmt: skip
NVIDIA_3 = Story(  # no title alike, but it lists the first one's URL
    3, "nv3", "c.example/nv", "Chip deal of the decade", 70, T0 + 480 * HOUR, ("a.example/nv",)
)
OTHER = Story(4, "ms", "d.example/x", "Microsoft to invest $10 billion in OpenAI", 90, T0)
ALL = [NVIDIA, NVIDIA_2, NVIDIA_3, OTHER]


@dataclass
class Held:
    """Stories as a store holds them, in memory: each with its event's lead."""

    stories: dict[int, Story] = field(default_factory=dict)
    events: dict[int, str | None] = field(default_factory=dict)
    apart: set[frozenset[str]] = field(default_factory=set)
    index: EventIndex = field(default_factory=EventIndex)

    async def _event_stories(self, rowids: set[int]) -> EventStories:
        leads = {self.events[r] for r in rowids} - {None}
        return {
            r: (story.ranked, self.events[r])
            for r, story in self.stories.items()
            if r in rowids or self.events[r] in leads
        }

    async def _apart(self, ids: Sequence[str]) -> set[frozenset[str]]:
        return {pair for pair in self.apart if pair & set(ids)}

    def write(self, plan: EventPlan) -> None:
        by_id = {s.id: r for r, s in self.stories.items()}
        for ident, lead in plan.leads:
            self.events[by_id[ident]] = lead
        self.apart |= {frozenset(pair) for pair in plan.apart}
        self.apart -= {frozenset(pair) for pair in plan.joined}

    async def load(self, batch: Sequence[Story]) -> EventPlan:
        for story in batch:
            self.stories[story.rowid] = story
            self.events[story.rowid] = None
        plan = await link_events(self, self.index, [(s.filed, s.id) for s in batch])
        self.write(plan)
        return plan

    def by_id(self) -> dict[str, str | None]:
        return {s.id: self.events[r] for r, s in sorted(self.stories.items())}


def test_a_batch_plan_is_exact() -> None:
    held = Held()
    plan = asyncio.run(held.load(ALL))
    assert plan == EventPlan(
        leads=(("nv1", "nv2"), ("nv2", "nv2"), ("nv3", "nv2")),
        edits=("nv1", "nv2", "nv3"),
        merged={"nv1": "nv2", "nv3": "nv2"},
    )


def test_a_late_story_that_leads_moves_the_event_and_edits_its_posts() -> None:
    held = Held()
    asyncio.run(held.load([NVIDIA, NVIDIA_3]))  # linked by a URL: nv3 leads (70 to 60)
    assert held.by_id() == {"nv1": "nv3", "nv3": "nv3"}
    plan = asyncio.run(held.load([NVIDIA_2]))  # quality 80: it leads now
    assert plan == EventPlan(
        leads=(("nv1", "nv2"), ("nv2", "nv2"), ("nv3", "nv2")),
        edits=("nv1", "nv2", "nv3"),
        merged={},
    )
    assert asyncio.run(held.load([OTHER])) == EventPlan()  # linked to nothing


def test_candidates_are_the_pairs_of_the_index() -> None:
    index = EventIndex()
    assert candidates(index, [NVIDIA.filed, OTHER.filed]) == set()
    # nv2 meets nv1 by its title keys; nv3 lists nv1's URL (a link, both ways round)
    assert candidates(index, [NVIDIA_2.filed, NVIDIA_3.filed]) == {
        (2, 1, False),
        (3, 1, True),
    }


def test_every_order_and_batching_makes_the_same_events() -> None:
    expected = {"nv1": "nv2", "nv2": "nv2", "nv3": "nv2", "ms": None}
    for order in itertools.permutations(ALL):
        for cut in range(len(order) + 1):  # two batches: the first `cut` stories, the rest
            held = Held()
            for batch in (order[:cut], order[cut:]):
                asyncio.run(held.load(batch))
            assert held.by_id() == expected, (order, cut)
        held = Held()
        for story in order:
            asyncio.run(held.load([story]))
        assert held.by_id() == expected, order


def test_a_window_of_zero_links_by_urls_alone() -> None:
    held = Held(index=EventIndex(timedelta(0)))
    plan = asyncio.run(link_events(held, held.index, [], timedelta(0)))
    assert plan == EventPlan()
    for story in ALL:
        held.stories[story.rowid] = story
        held.events[story.rowid] = None
    filed = [(s.filed, s.id) for s in ALL]
    plan = asyncio.run(link_events(held, held.index, filed, timedelta(0)))
    # nv3 lists nv1's URL; nv2's title alone no longer joins it
    assert plan == EventPlan(
        leads=(("nv1", "nv3"), ("nv3", "nv3")), edits=("nv1", "nv3"), merged={"nv1": "nv3"}
    )


def test_a_split_and_a_merge_plan() -> None:
    held = Held()
    asyncio.run(held.load(ALL))
    event = asyncio.run(held._event_stories({3}))
    others, plan = plan_split("nv3", event)
    assert others == ["nv2", "nv1"]
    assert plan == EventPlan(
        leads=(("nv3", None),),
        edits=("nv1", "nv2"),
        apart=(("nv1", "nv3"), ("nv2", "nv3")),
    )
    held.write(plan)
    assert plan_split("nv3", asyncio.run(held._event_stories({3}))) == ([], EventPlan())
    # the split pairs stay apart when nv3 is loaded again (the others filed already)
    held.index = EventIndex()
    for other in (NVIDIA, NVIDIA_2, OTHER):
        held.index.add(other.rowid, other.ts, other.filed.keys)
    assert asyncio.run(held.load([NVIDIA_3])) == EventPlan()
    # a merge of nv3 and ms: one event led by ms (quality 90), the split forgotten
    lead, plan = plan_merge("nv3", asyncio.run(held._event_stories({3, 4})))
    assert (lead, plan) == (
        "ms",
        EventPlan(
            leads=(("ms", "ms"), ("nv3", "ms")), edits=("ms", "nv3"), joined=(("ms", "nv3"),)
        ),
    )


def test_the_index_drops_title_pairs_apart_in_time_or_unlike_before_any_read() -> None:
    index = EventIndex()
    span = index.span  # two windows: both stories in one slot, 100 hours apart
    first = Filed(1, span * 11_000 + 1, NVIDIA.filed.keys)
    later = Filed(2, first.published_ts + 100 * HOUR, NVIDIA_2.filed.keys)  # type: ignore[operator]
    assert candidates(index, [first, later]) == set()
    # titles known (a load's): compared in memory; a link, or an unknown title, is kept
    index.named = {1: NVIDIA.title, 2: OTHER.title, 3: NVIDIA_2.title}
    found = {(2, 1, False), (3, 1, False), (4, 1, False), (2, 1, True)}
    assert index.alike(found) == {(3, 1, False), (4, 1, False), (2, 1, True)}
