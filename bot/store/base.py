"""The storage interface: the :class:`Store` protocol, whose stated contracts every
backend honours. Its records are in :mod:`bot.store.records`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Protocol

from bot.models import Article, ParseResult
from bot.store.records import (
    AuditEntry,
    Delivery,
    DeliveryState,
    Digest,
    DigestState,
    FileRecord,
    Headline,
    LoadItem,
    LoadOutcome,
    QueueItem,
    RestGrant,
    RouteFilter,
    RouteState,
    ShardLease,
)


class Store(Protocol):
    """Everything Newsdesk keeps. All methods are coroutines; errors are StoreError.

    The contract for every backend. Orders are exact: "rank order" is ranking.rank_key
    (quality, heat, newest, an unknown time last, then id); path order is Python's order
    of str (code points: a SQL backend compares paths in binary collation). Topics match
    by models.topic_key; words by the store's full-text rules (any case, with or without
    accents, whole words). Times are whole Unix seconds.
    """

    # The owner id stamped on this store's delivery leases (see ``claim``): one per
    # process, so that several processes on one database tell their claims apart.
    lease_owner: str
    lease_seconds: float  # how long a claim holds, renewed by ``renew``

    async def close(self) -> None:
        """Release the store; a snapshot also deletes itself."""
        ...

    async def snapshot(self) -> Store:
        """A throw-away copy that the caller may change freely (a dry run works on one);
        closing it deletes it. The original is never written through it."""
        ...

    async def backup(self, target: str) -> None:
        """Write a consistent copy of the whole store, as of one moment, to the new file
        ``target`` (StoreError if it exists), while other tasks and processes go on using
        the store. A partial copy is never left under ``target``."""
        ...

    # articles and files
    async def file_index(self) -> dict[str, FileRecord]:
        """Every file record, by path (tests and tools; a load reads records in pages)."""
        ...

    async def apply_load(self, items: list[LoadItem]) -> list[LoadOutcome]:
        """Store a batch of loaded files, all or nothing, and say what became of each, in
        order. Concurrent loads of one store take turns: the later sees the earlier's
        rows. One story per canonical URL: the first file in the batch or the file that
        gives the story already owns it, and the others are duplicates. A file whose URL
        changed updates the story it gave. Releases the duplicates kept out by a file
        that no longer gives their story (LoadOutcome.released), and notes the posted
        messages of a story whose post changed (pending_edits). A file that gives a
        withdrawn story's URL brings it back (outcome "loaded", its id kept).

        Events (curation.events): each story written joins the event of every stored,
        not withdrawn story it is linked to (a URL in either's related coverage, or
        alike titles within the window); each event's lead is its best-ranked story.
        The same files loaded in any order, in any batches, make the same events. A
        loaded or updated story now in another's event has that lead in
        LoadOutcome.merged_into. An edited story keeps the event it was in.

        A file whose row the store refuses (a value too big, a constraint) is rejected
        with the store's reason, and the others are stored as if it were not in the
        batch; a database that is full, locked or read-only still fails the batch."""
        ...

    def set_event_window(self, window: timedelta) -> None:
        """Link stories by their titles only when published at most ``window`` apart,
        from the next load on (the config's events.window_hours; 72 hours until told); a
        window of 0 links by URLs alone. Events already stored stay as they are."""

    def end_load(self) -> None:
        """A load is over (every batch of it stored): let go of what the store kept in
        memory for its batches (the index of event keys). The next load reads it again."""
        ...

    async def file_records(self, paths: Sequence[str]) -> dict[str, FileRecord]:
        """The records of those of ``paths`` that are known."""
        ...

    async def file_paths_under(
        self, folder: str, after: str = "", limit: int | None = None
    ) -> list[str]:
        """Known paths equal to ``folder`` or below it, after ``after`` in path order, at
        most ``limit`` (a large index is read a page at a time)."""
        ...

    async def forget_files(self, paths: list[str]) -> None:
        """Forget these files' records (their stories stay), and the records of the
        duplicates they kept out, so that those are read again. The stories the files
        gave are noted, for withdraw_orphans (the notes are kept until then)."""
        ...

    async def withdraw_orphans(self) -> int:
        """Withdraw the stories noted by forget_files that no file gives now (no record at
        the story's path, or one that is neither rejected nor giving it), that came from
        a file (never a moderator's) and were never posted anywhere (no delivery sent or
        being sent); forget every note. Returns how many were withdrawn. A withdrawn
        story is as if not stored to every reader (get_article, the queues, search,
        completion, topic counts, article_count) until a loaded file or a submission
        gives its URL again: then it comes back with its id, pins and deliveries."""
        ...

    async def add_article(
        self, result: ParseResult, channels: Collection[int] | None = None
    ) -> tuple[Article, bool]:
        """Store a story that came from no file (a moderator's); returns the story kept
        and whether it is new (an existing one with its URL is returned unchanged; a
        withdrawn one is replaced by the submission, keeping its id and history).
        With ``channels``, the story is ranked only for those channels' queues
        (``next_for_channel``, ``review_candidates``), kept with it in the same write;
        a known story limited so gets ``channels`` added, one that is not stays unlimited.
        A file that later gives the story lifts the limit."""
        ...

    async def submitted_for(self, article_id: str) -> frozenset[int] | None:
        """The channels a story stored with ``channels`` is ranked for; None if it is not
        limited so."""
        ...

    async def get_article(self, article_id: str) -> Article | None:
        """The story with this exact id (none if it is withdrawn)."""
        ...

    async def article_by_url(self, canonical: str) -> Article | None:
        """The story with this canonical URL (urls.canonical_url), none if withdrawn. Its
        id need not derive from the URL: a story keeps its id when its URL is edited or
        the canonical form changes."""
        ...

    async def get_articles(self, article_ids: list[str]) -> list[Article]:
        """The stories with these ids that exist (not withdrawn), in the order asked."""
        ...

    async def first_seen_ts(self, article_id: str) -> int | None:
        """When the store first saw the story, or None if it is unknown."""
        ...

    async def article_count(self) -> int:
        """How many stories are stored, not counting the withdrawn ones."""
        ...

    async def complete_articles(self, text: str, limit: int = 25) -> list[Headline]:
        """Autocomplete: stories whose id starts with ``text``, then stories with its words
        in their title (the last word as a prefix); with no text, the newest first. Only
        capped_query(text) counts: the first QUERY_WORDS words, within QUERY_CHARS
        characters. Headlines only: a choice shows nothing more, and a whole story's
        JSON (its related coverage) would cost more to read than finding it."""
        ...

    async def search(
        self, query: str = "", topic: str | None = None, limit: int = 10, offset: int = 0
    ) -> tuple[list[Article], int]:
        """A page of the stories of ``topic`` (any, if None) with every word of ``query``
        in their text: those with all of them in the title first, each part in rank order.
        The query is plain words, never syntax; only capped_query(query) counts (the first
        QUERY_WORDS words, within QUERY_CHARS characters). The total counts every match up
        to COUNT_LIMIT; above it, COUNT_LIMIT + 1."""
        ...

    async def topics(self) -> list[tuple[str, int]]:
        """Every topic with its story count, by key; a topic is named as first stored."""
        ...

    async def topic_named(self, text: str) -> str | None:
        """The stored spelling of the topic ``text`` names in any case, with or without
        accents (models.topic_key), or None when no story has it."""
        ...

    async def complete_topics(self, text: str, limit: int = 25) -> list[tuple[str, int]]:
        """Topics whose key starts with ``text``'s, then those containing it; each part
        by story count, most first. Only the first QUERY_CHARS characters of ``text``
        count."""
        ...

    async def latest_sent(
        self, topic: str | None = None, limit: int = 10
    ) -> list[tuple[Article, Delivery]]:
        """The ``limit`` stories posted most recently (of ``topic``), each once, with its
        most recent delivery."""
        ...

    # the queue
    async def split_event(self, article_id: str) -> list[str]:
        """Take a story out of its event for good: it is kept apart from each other story
        of the event (no load joins them again), and the others keep their event, led by
        the best-ranked of them; the event's posted messages are noted for an edit.
        Returns the ids it was split from, best first (empty: it was alone)."""
        ...

    async def merge_events(self, article_id: str, other_id: str) -> str:
        """Put two stories, and the events they are in, in one event for good (a split
        between any of them is forgotten); the event's posted messages are noted for an
        edit. Returns the lead's id."""
        ...

    async def event_of(self, article_id: str) -> list[str]:
        """The ids of the (not withdrawn) stories of the event the story is in, its lead
        first, then by rank; empty while it is alone (or unknown)."""
        ...

    async def rank_unknown_quality(self, quality: int) -> int:
        """Rank every story of unknown quality (stored and to come) as ``quality`` (the
        config's unknown_quality): in the queue, search and autocomplete orders. Returns
        how many stored stories moved. A writable store ranks them as 50 until told."""
        ...

    async def next_for_channel(self, route: RouteFilter, limit: int = 1) -> list[QueueItem]:
        """The channel's next stories: pinned ones in pin order, then those passing its
        filter in rank order (not a story submitted for other channels only: see
        ``add_article``); never one sent, skipped, failed, in review or being sent.
        ``min_first_seen_ts`` limits the ranked ones (never the pinned ones) to stories
        first seen (first_seen_ts) at or after it. Ranked stories are events: never a
        story merged into another's event, nor a lead once another story of its event
        has a delivery there past pending. The filter includes ``route.screen`` (words,
        providers): pinned stories skip it."""
        ...

    async def queue_length(self, route: RouteFilter, limit: int) -> int:
        """How many stories ``next_for_channel(route, limit)`` would return, counted
        without reading them (a metric's cost), but for a route with word or provider
        filters, whose stories up to the count are read to screen them."""
        ...

    async def next_approved(self, channel_id: int, limit: int = 1) -> list[QueueItem]:
        """An approval channel's next stories: pinned ones, then approved ones in the
        order they were approved."""
        ...

    async def review_candidates(self, route: RouteFilter, limit: int = 1) -> list[Article]:
        """Stories passing the channel's filter that were never offered to it (no
        delivery, not pinned), in rank order; as in ``next_for_channel``, not a story
        submitted for other channels only, and an event once."""
        ...

    async def pin(
        self, channel_id: int, article_id: str, position: int | None, actor_id: int | None
    ) -> int:
        """Pin a story to the channel's queue at ``position`` (1-based, clamped; None:
        last), moving it if pinned; returns its position. NotFound if no such story."""
        ...

    async def unpin(self, channel_id: int, article_id: str) -> bool:
        """Unpin; whether it was pinned."""
        ...

    async def pins(self, channel_id: int) -> list[str]:
        """The channel's pinned story ids, in queue order."""
        ...

    # deliveries
    async def delivery(self, article_id: str, channel_id: int) -> Delivery | None:
        """The story's delivery to the channel, if there is one."""
        ...

    async def deliveries(
        self, channel_id: int | None = None, states: tuple[DeliveryState, ...] = ()
    ) -> list[Delivery]:
        """Deliveries of a channel (or all), in these states (or any)."""
        ...

    async def set_delivery(
        self,
        article_id: str,
        channel_id: int,
        state: DeliveryState,
        *,
        expect: tuple[DeliveryState, ...] | None = None,
        message_id: int | None = None,
        review_message_id: int | None = None,
        decided_by: int | None = None,
        error: str | None = None,
        count_attempt: bool = False,
    ) -> Delivery | None:
        """Move a delivery to ``state`` (creating it: no delivery counts as PENDING) if
        its state is one of ``expect`` (None: any), atomically: of two callers expecting
        the same state, one wins. Returns the delivery, or None if the state was not
        expected. SENT records the time and the message.

        A SENDING delivery under a live lease of another owner (see ``claim``) is left
        as it is (None): only its holder records the outcome of its send, so an owner
        whose lease was taken over cannot overwrite what the new holder records. Moving
        a delivery out of SENDING ends its lease."""
        ...

    async def claim(self, article_id: str, channel_id: int) -> Delivery | None:
        """Take a story for sending, atomically, as a lease: of any number of callers in
        any number of processes, one gets it.

        One with no delivery, or PENDING or APPROVED, goes to SENDING (an attempt
        counted) under a lease: stamped with this store's ``lease_owner`` and an expiry
        ``lease_seconds`` from now. Else None, and None for a withdrawn story.

        One already SENDING (a send cut short: a crash, a stop in an outage) is handed
        back with its nonce, ``taken_over`` set and the lease renewed, to its holder, or
        to anyone once its lease has expired (its process died or hung mid-send); the
        caller looks in the channel before sending. While another owner's lease on it is
        live: None (it stays SENDING; nothing is lost, the next claim after the expiry
        takes it). None too for one held by a SENDING digest (see ``claim_digest``),
        which is settled as a whole."""
        ...

    async def renew(self, article_id: str, channel_id: int) -> bool:
        """Extend this store's lease on a SENDING delivery by ``lease_seconds`` from now
        (before each send attempt); False if it holds none there any more (taken over
        after it expired, or settled)."""
        ...

    async def expire_leases(self) -> int:
        """End every lease of another owner, deliveries' and digests', so the next claim
        (or ``hold_digest``) takes those sends over at once; the number ended. Only for a
        process that knows their owners dead: it holds the database's run lock, so no
        other run is."""
        ...

    # digests: several stories of a channel posted as one message, one delivery unit
    async def claim_digest(self, channel_id: int, article_ids: Sequence[str]) -> Digest | None:
        """Claim stories for one digest of the channel, atomically (all in one write): each
        of ``article_ids`` that ``claim`` would take (a stored story, not withdrawn, with no
        delivery or one PENDING or APPROVED) goes to SENDING with an attempt counted, the
        others are left out, and a SENDING digest holds the claimed ones in the order
        given, with digest_nonce(channel, their ids) and the time of the claim. None, and
        nothing claimed, if none can be, or if the channel has a digest SENDING already
        (one at a time: settle it first). A story held by a SENDING digest is claimed by no
        one else (``claim`` returns None for it) until the digest is settled.

        The digest is a lease of this store's owner, as ``claim``'s: see
        ``hold_digest``."""
        ...

    async def hold_digest(self, digest_id: int) -> Digest | None:
        """Take, or renew, the lease on a SENDING digest, atomically: granted to this
        store's ``lease_owner`` if it holds the lease, if no one does, or if the lease has
        expired (its process died or hung mid-send), for ``lease_seconds`` from now;
        returns the digest. None while another owner's lease is live (nothing changes),
        or if the digest is not SENDING. Whoever resumes a digest in flight holds it
        first, and looks in the channel before sending it again."""
        ...

    async def digests(
        self, channel_id: int | None = None, states: tuple[DigestState, ...] = ()
    ) -> list[Digest]:
        """Digests of a channel (or all), in these states (or any), oldest claim first."""
        ...

    async def digest_of_message(self, channel_id: int, message_id: int) -> Digest | None:
        """The SENT digest of the channel posted as that message, if it is one."""
        ...

    async def last_digest_ts(self, channel_id: int) -> int | None:
        """When the channel's latest SENT digest was claimed (created_ts); None if none."""
        ...

    async def settle_digest(
        self,
        digest_id: int,
        state: DigestState | None,
        *,
        message_id: int | None = None,
        error: str | None = None,
        count_attempt: bool = False,
    ) -> Digest | None:
        """Settle a SENDING digest and its stories together, atomically:
        SENT: the digest and each story's delivery are SENT with ``message_id`` (the time
        recorded), and the stories are unpinned from the channel; FAILED: the digest and
        its stories FAILED with ``error``; SENDING: it stays in flight, with ``error``
        noted and, with ``count_attempt``, an attempt counted on it and its stories;
        None: it is dropped (forgotten) and its stories go back to the queue, APPROVED if
        a moderator had decided them, else PENDING, with ``error``. A story no longer
        SENDING (a moderator's action meanwhile) is left as it is. Returns the digest
        (None when dropped), or None if it was not SENDING, or if another owner holds a
        live lease on it (``hold_digest``: only the holder settles it). Leaving SENDING
        ends the lease."""
        ...

    async def retry_failed(self, channel_id: int) -> int:
        """Put the channel's failed deliveries back to PENDING with no attempts; how many."""
        ...

    async def articles_by_url(self, urls: Sequence[str]) -> dict[str, Article]:
        """The stored stories with these links, keyed by the link as asked; links are
        compared as a story's identity is (urls.canonical_url), and one that is no URL
        finds nothing. Finds a post's story from the link in its embed."""
        ...

    async def deliveries_of_posts(
        self, channel_id: int, message_ids: Sequence[int], nonces: Sequence[str]
    ) -> list[Delivery]:
        """The channel's deliveries whose message is one of ``message_ids`` or whose
        nonce is one of ``nonces``, in any state: which posts a channel shows are
        recorded already, and which stories the others are."""
        ...

    async def sent_for_article(self, article_id: str) -> list[Delivery]:
        """The story's SENT deliveries, by channel."""
        ...

    async def last_posts(self, channel_ids: Sequence[int]) -> dict[int, int]:
        """When each of these channels last had a story posted (SENT), by channel; a
        channel never posted to is left out."""
        ...

    async def writable(self) -> bool:
        """Whether a write could be made now (a write of this process in progress counts
        as yes); False if the database refuses one (read-only, locked by another)."""
        ...

    async def pending_edits(self, limit: int = 100) -> list[Delivery]:
        """Deliveries whose posted message needs an edit (see apply_load), the longest
        posted first, those still being sent last."""
        ...

    async def edit_done(self, article_id: str, channel_id: int) -> None:
        """That message is edited, or will never be: it leaves pending_edits."""
        ...

    # routes and audit
    async def route_state(self, channel_id: int) -> RouteState:
        """The channel's pause and disable state (a fresh one if never set)."""
        ...

    async def set_route_state(self, state: RouteState) -> None:
        """Replace the channel's state; kept across restarts."""
        ...

    async def route_guilds(self) -> dict[int, int]:
        """The guild of every channel whose guild was recorded (channel id → guild id),
        kept across restarts; channels never recorded are absent."""
        ...

    async def set_route_guild(self, channel_id: int, guild_id: int) -> None:
        """Record the guild of the channel (replacing an earlier record: Discord never
        moves a channel, so it is the same one unless the id was mistyped and fixed)."""
        ...

    # shard leases: which process runs which gateway shard (bot/runtime/shard_leases.py)
    async def take_shards(
        self, owner: str, shard_ids: Sequence[int], shard_count: int, seconds: float
    ) -> list[ShardLease]:
        """Take the leases of ``shard_ids`` of ``shard_count`` for ``owner``, atomically,
        all or none, each expiring ``seconds`` from now by the store's clock (one
        ``owner`` holds already is extended). Refused when another owner holds an
        unexpired lease of one of them, or an unexpired lease of any shard of another
        shard count (it splits the guilds another way): then nothing changes, and the
        leases in the way are returned, by shard count then shard id. Returns [] once
        taken. An expired lease is anyone's to take, whoever held it."""
        ...

    async def renew_shards(
        self, owner: str, shard_ids: Sequence[int], shard_count: int, seconds: float
    ) -> list[int]:
        """Extend ``owner``'s unexpired leases among ``shard_ids`` of ``shard_count`` to
        ``seconds`` from now; returns the shard ids renewed, sorted. An expired lease is
        not renewed, taken by another or not: its owner stopped counting on it when it
        expired, and takes it again with ``take_shards``."""
        ...

    async def release_shards(self, owner: str, shard_ids: Sequence[int]) -> None:
        """Give up ``owner``'s leases among ``shard_ids``: free at once (others' leases
        are left as they are)."""
        ...

    async def shard_leases(self) -> list[ShardLease]:
        """Every lease on record, expired or not, by shard count then shard id."""
        ...

    async def end_leases_of(self, owners: Collection[str]) -> int:
        """End the delivery and digest leases (see ``claim``, ``hold_digest``) of those of
        ``owners`` that hold no unexpired shard lease, so that the next claim (or
        ``hold_digest``) takes their sends over at once, marked taken over (the channel is
        looked in first); the number ended. Checked and ended in one step, in turn with
        ``take_shards`` and ``renew_shards``: an owner holding a live shard lease of any
        count keeps all its leases, and this store's own ``lease_owner`` is never ended.

        For the process that took over shards whose leases expired, naming their former
        holders: a holder stops sending on a shard, and cuts a send in flight, a lease's
        ``renew`` seconds before it expires (ShardKeeper, Deliverer.while_held), so what
        it left in flight is settled at the takeover rather than when each delivery
        lease runs out. An owner never named keeps its leases, whatever
        the shard leases say (a process that holds none: an unsharded run)."""
        ...

    # the bot's REST budget
    async def take_rest_budget(
        self, bot: str, want: int, rate: float, burst: int, now: float | None = None
    ) -> RestGrant:
        """Take up to ``want`` tokens from the REST budget of the bot keyed ``bot`` (see
        bot_key): a token bucket kept in the database, so every store open on it (every
        process) draws from the same one. In one atomic step: the bucket is refilled by
        ``rate`` tokens a second for the time since its last take (none if the clock went
        back), up to ``burst``; then min(``want``, its whole tokens) are taken (one short
        of whole by less than WHOLE counts). A bucket never taken from starts full.
        ``now`` is the time to count by (Unix seconds); None: the store's clock
        (PostgreSQL's server, one clock for every process). So between two takes at
        times t1 <= t2, at most ``burst`` + ``rate`` * (t2 - t1) are granted in all (give
        or take WHOLE). ValueError unless want >= 1, rate > 0 and burst >= 1."""
        ...

    async def audit(
        self,
        action: str,
        result: str,
        *,
        actor_id: int | None = None,
        actor_name: str | None = None,
        channel_id: int | None = None,
        article_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Append an entry to the audit log, timed now."""
        ...

    async def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        """The latest ``limit`` audit entries, newest first."""
        ...
