"""Linking a load's stories to their events, the same for every backend: the event index
kept across a load's batches, and the steps around curation.linking's decision. No SQL:
a backend reads the stored keys (``_stored_event_keys``), tells whether the index it
kept is still current (``_event_index_checked``) and writes the plan
(``_write_event_plan``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Protocol

from bot.curation.events import WINDOW, EventIndex, unpack_keys, wanted_keys
from bot.curation.linking import EventPlan, EventReader, Filed, file_stored, link_events
from bot.store.records import StoredArticle

# What the rewritten stories of a batch were filed under: rowid, publication time, keys.
Former = list[tuple[int, int | None, bytes | None]]


class _Backend(EventReader, Protocol):
    """What EventLinks asks of the backend it is mixed into."""

    _event_index: EventIndex | None
    _event_index_version: int
    _event_batches: int
    _event_window: timedelta

    async def _event_index_checked(self) -> tuple[bool, int]: ...

    def _stored_event_keys(self) -> AsyncIterator[Sequence[tuple[int, int | None, bytes]]]: ...

    async def _write_event_plan(self, plan: EventPlan) -> None: ...

    async def _current_event_index(
        self, fresh: set[int], updated: Former, wanted: frozenset[int]
    ) -> EventIndex: ...


class EventLinks:
    """A backend's event linking (mixed into its loading class)."""

    # The stored stories by event key, while a load runs (see _current_event_index), and
    # the version of the database it was read at (_event_index_checked).
    _event_index: EventIndex | None = None
    _event_index_version: int = -1
    _event_batches = 0  # the batches stored since the last end_load
    _event_window: timedelta = WINDOW  # see set_event_window

    async def _link_events(
        self: _Backend, fresh: list[tuple[int, StoredArticle]], updated: Former
    ) -> dict[str, str]:
        """Link the stories of ``fresh`` (rowid, story: just written) to their events
        (curation.linking.link_events decides) and write the plan. ``updated``: the rowid,
        former publication time and keys of each story rewritten. Returns the fresh
        stories now in another's event: id → lead."""
        if not fresh:
            return {}
        filed = [(Filed(rowid, s.published_ts, s.event_keys, s.title), s.id) for rowid, s in fresh]
        index = await self._current_event_index(
            {rowid for rowid, _ in fresh}, updated, wanted_keys(s.event_keys for _, s in fresh)
        )
        plan = await link_events(self, index, filed, self._event_window)
        await self._write_event_plan(plan)
        return plan.merged

    async def _current_event_index(
        self: _Backend, fresh: set[int], updated: Former, wanted: frozenset[int]
    ) -> EventIndex:
        """The event index of the stored stories but ``fresh``: the one kept for this
        load, unless another connection or process has written to the database since
        (``_event_index_checked``), then read again.

        A load's first batch files only the stories that hold one of ``wanted``
        (curation.events.wanted_keys of its stories): a few files, a moderator's story or
        an edit, then cost a pass over the stored keys rather than filing every story's.
        Such an index serves that batch alone; a second batch of the load builds the
        whole index, kept until end_load."""
        current, version = await self._event_index_checked()
        index = self._event_index
        if index is not None and current:
            for rowid, ts, former in updated:  # what the rewritten stories were filed under
                if former is not None:
                    index.remove(rowid, ts, unpack_keys(former))
            self._event_index_version = version
            return index
        partial = self._event_batches == 0
        self._event_batches += 1
        index = EventIndex(self._event_window)
        async for rows in self._stored_event_keys():
            file_stored(index, rows, fresh, wanted if partial else None)
        if not partial:
            self._event_index, self._event_index_version = index, version
        return index

    def set_event_window(self, window: timedelta) -> None:
        """Link titles published up to ``window`` apart from now on (0: titles link
        nothing); the events stored stay as they are."""
        self._event_window = window
        self._event_index = None  # filed by the former window's time slots

    def end_load(self) -> None:
        """The load is over: let go of the event index it built (rebuilt by the next)."""
        self._event_index = None
        self._event_batches = 0
