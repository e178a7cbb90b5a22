"""Two processes' deliverers on one database: a send (a story or a digest) in flight under
another process's live lease is left to it; once that lease runs out, the send is taken
over and settled by looking in the channel first."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from bot.config.settings import Route
from bot.config.shards import make_shards
from bot.delivery.deliverer import (
    Deliverer,
    ErrorKind,
    Outcome,
    Posted,
    Release,
    SendError,
    Sent,
    digest_post,
)
from bot.render.embeds import Post, build_post
from bot.runtime.shard_leases import ShardKeeper
from bot.store import Delivery, DeliveryState, DigestState, SQLiteStore, Store, open_store
from tests.delivery.test_delivery import (
    NOW,
    ON_0,
    FakeSender,
    add,
    deliverer,
    recorded,
    route,
    settings_for,
    story,
)
from tests.delivery.test_digest_delivery import digest_route, seen_long_ago
from tests.store.conftest import fetch_sql


@dataclass
class PastTheReadWindow(FakeSender):
    """A channel whose recent posts, read at a route's first run, no longer show the
    story (many posts since): only the look for the story itself (find_posted) finds it."""

    async def recent_posts(self, route: Route) -> list[Posted]:
        return []


async def test_a_send_taken_over_from_an_expired_lease_is_recorded_not_sent_again(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "newsdesk.db")
    first = await open_store(path, lease_owner="first")  # the process that dies mid-send
    second = await open_store(path, lease_owner="second")
    assert isinstance(second, SQLiteStore)
    try:
        a = story(1, 90)
        await add(second, a)
        sender = PastTheReadWindow()
        r = route()
        claimed = await first.claim(a.id, r.id)
        assert claimed is not None
        await sender.send(r, build_post(a), claimed.nonce)  # arrived; not recorded yet
        d, _ = deliverer(second, sender, r)

        # the first process's lease is live: the second leaves the story to it
        assert await d.release(r, 1) == [Release(a.id, Outcome.SKIPPED)]
        assert (await d.reconcile()) == []
        assert (await recorded(second, a.id, r.id)).state is DeliveryState.SENDING

        # it renews no more (it died): its lease runs out, the second takes the send over
        first.lease_seconds = 0
        assert await first.renew(a.id, r.id) is True
        assert await d.release(r, 1) == [Release(a.id, Outcome.RECORDED, 1000)]

        assert sender.send_calls == 1  # the first process's only
        assert [m[0] for m in sender.messages[r.id]] == [1000]
        done = await recorded(second, a.id, r.id)
        assert (done.state, done.message_id, done.attempts) == (DeliveryState.SENT, 1000, 1)
        # what the first process would record now changes nothing
        assert (
            await first.set_delivery(
                a.id, r.id, DeliveryState.PENDING, expect=(DeliveryState.SENDING,)
            )
            is None
        )
        assert await d.release(r, 1) == []
    finally:
        await first.close()
        await second.close()


async def test_a_send_taken_over_that_never_arrived_is_sent_once(tmp_path: Path) -> None:
    path = str(tmp_path / "newsdesk.db")
    first = await open_store(path, lease_owner="first", lease_seconds=0)  # died before sending
    second = await open_store(path, lease_owner="second")
    assert isinstance(second, SQLiteStore)
    try:
        a = story(1, 90)
        await add(second, a)
        sender = PastTheReadWindow()
        r = route()
        assert await first.claim(a.id, r.id) is not None
        d, _ = deliverer(second, sender, r)

        assert await d.release(r, 1) == [Release(a.id, Outcome.SENT, 1000)]
        assert sender.send_calls == 1
        assert sender.posted_ids(r.id) == [a.id]
        done = await recorded(second, a.id, r.id)
        assert (done.state, done.message_id) == (DeliveryState.SENT, 1000)
    finally:
        await first.close()
        await second.close()


async def test_a_sender_whose_lease_was_taken_over_during_its_retries_stops(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "newsdesk.db")
    first = await open_store(path, lease_owner="first")
    second = await open_store(path, lease_owner="second")
    assert isinstance(first, SQLiteStore)
    try:
        a = story(1, 90)
        await add(first, a)
        r = route()
        sender = FakeSender(failures=[SendError(ErrorKind.TRANSIENT, "503", status=503)])
        taken: list[Delivery | None] = []

        async def hung(seconds: float) -> None:
            # the first process hangs in its backoff past its lease; the second takes over
            first.lease_seconds = 0
            assert await first.renew(a.id, r.id) is True
            taken.append(await second.claim(a.id, r.id))

        d = Deliverer(first, sender, settings_for(r), clock=lambda: NOW, sleep=hung)
        assert await d.release(r, 1) == [Release(a.id, Outcome.SKIPPED, error="taken over")]

        assert sender.send_calls == 1  # the failed attempt; no retry from the first
        assert taken[0] is not None and taken[0].taken_over is True
        assert await fetch_sql(first, "SELECT state, lease_owner FROM deliveries") == [
            ("sending", "second")
        ]
    finally:
        await first.close()
        await second.close()


async def test_a_digest_taken_over_from_an_expired_lease_is_recorded_not_sent_again(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "newsdesk.db")
    first = await open_store(path, lease_owner="first")
    second = await open_store(path, lease_owner="second")
    assert isinstance(second, SQLiteStore)
    try:
        a, b = story(1, 90), story(2, 80)
        await add(second, a, b)
        await seen_long_ago(second, a, b)
        r = digest_route(top=2)
        sender = FakeSender()
        digest = await first.claim_digest(r.id, [a.id, b.id])
        assert digest is not None
        post = digest_post(r, [a, b], digest.nonce, digest.created_ts)
        await sender.send(r, post, digest.nonce)  # arrived; the first process dies
        d, _ = deliverer(second, sender, r)

        assert await d.release(r, 1) == []  # the first's lease is live: left to it
        assert await d.reconcile() == []
        first.lease_seconds = 0
        assert await first.hold_digest(digest.id) is not None  # its last renewal

        assert await d.release(r, 1) == [
            Release(a.id, Outcome.RECORDED, 1000),
            Release(b.id, Outcome.RECORDED, 1000),
        ]
        assert sender.send_calls == 1
        assert [m[0] for m in sender.messages[r.id]] == [1000]
        (settled,) = await second.digests(r.id)
        assert (settled.state, settled.message_id) == (DigestState.SENT, 1000)
        assert await first.settle_digest(digest.id, None, error="stale") is None
        assert (await recorded(second, a.id, r.id)).state is DeliveryState.SENT
    finally:
        await first.close()
        await second.close()


REVIEWS = 99  # a forum review channel


@dataclass
class HeldForum(PastTheReadWindow):
    """A forum channel (its posts carry no nonce: a repeated send is a second post) where
    Discord holds the first send's request until told: out, but its post not made yet."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    land: asyncio.Event = field(default_factory=asyncio.Event)
    holding: int = 1  # sends still to hold
    reviews: list[str] = field(default_factory=list)  # the review requests made, by story

    async def _held(self) -> None:
        if self.holding:
            self.holding -= 1
            self.started.set()
            await self.land.wait()

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        await self._held()
        return await super().send(route, post, f"forum-{self.send_calls}")

    async def send_review(self, route: Route, post: Post, nonce: str) -> Sent:
        await self._held()
        self.reviews.append(post.article_id)
        return Sent(REVIEWS, 2000 + len(self.reviews))


async def expired(store: Store, shard_id: int, within: float) -> None:
    """Wait until the store's lease of the shard has run out."""
    deadline = time.monotonic() + within
    while any(x.shard_id == shard_id and x.expires_in > 0 for x in await store.shard_leases()):
        assert time.monotonic() < deadline, "the lease never ran out"
        await asyncio.sleep(0.05)


SHARDS = make_shards((0,), 2, lease=2.0, renew=0.5)  # counted on for 1.5 s


def process(store: Store, sender: HeldForum, r: Route) -> tuple[ShardKeeper, Deliverer]:
    """A process on shard 0 of ``SHARDS``: its lease keeper and its deliverer."""
    keeper = ShardKeeper(store, SHARDS, owner=store.lease_owner)
    d = Deliverer(store, sender, replace(settings_for(r), shards=SHARDS), clock=lambda: NOW)
    d.lease_left = keeper.left  # as the bot's client does
    return keeper, d


async def held_past_the_lapse(
    first: Store,
    second: Store,
    sender: HeldForum,
    r: Route,
    begin: Callable[[Deliverer], Coroutine[Any, Any, list[Release]]],
) -> tuple[asyncio.Task[list[Release]], Deliverer]:
    """``first``'s process takes the shard, renews it no more and begins ``begin``, whose
    request Discord holds; once the lease has run out ``second``'s process takes the
    shard over (with the send in flight). The held task, and the second's deliverer."""
    keeper, d = process(first, sender, r)
    await keeper.start()  # and no renewal after it
    await d.load_guilds()
    held = asyncio.create_task(begin(d))
    await asyncio.wait_for(sender.started.wait(), 10.0)
    await expired(second, 0, 10.0)
    keeper, d = process(second, sender, r)
    await keeper.step()  # the shard is free: taken, with the send in flight
    assert keeper.held() == (0,)
    await d.load_guilds()
    return held, d


@pytest.mark.parametrize("digest", [False, True], ids=["story", "digest"])
async def test_a_forum_post_held_past_its_shards_lease_lapse_is_not_posted_by_both(
    tmp_path: Path, digest: bool
) -> None:
    """A process's send (a story, or a digest) is held by Discord past the lapse of its
    shard's lease (it renews no more: it hangs, or lost the database); the lease runs
    out, the shard is taken over with the send in flight (Store.end_leases_of), and its
    new holder looks in the channel, finds nothing, and posts. The held send must never
    land after that: one post."""
    path = str(tmp_path / "newsdesk.db")
    first = await open_store(path, lease_owner="first")
    second = await open_store(path, lease_owner="second")
    assert isinstance(first, SQLiteStore) and isinstance(second, SQLiteStore)
    try:
        a = story(1, 90)
        await add(first, a)
        r = digest_route(top=1) if digest else route()
        if digest:
            await seen_long_ago(first, a)
        await first.set_route_guild(r.id, ON_0)
        sender = HeldForum()
        sending, d = await held_past_the_lapse(first, second, sender, r, lambda d: d.release(r, 1))
        assert await d.reconcile() == [Release(a.id, Outcome.SENT, 1000)]

        sender.land.set()  # Discord lets the first process's request through now
        cut = await asyncio.wait_for(sending, 10.0)
        assert [m[0] for m in sender.messages[r.id]] == [1000]  # one post
        assert cut == [Release(a.id, Outcome.UNAVAILABLE, error="shard lease lapsed")]
        done = await recorded(second, a.id, r.id)
        assert (done.state, done.message_id) == (DeliveryState.SENT, 1000)
        if digest:
            (settled,) = await second.digests(r.id)
            assert (settled.state, settled.message_id) == (DigestState.SENT, 1000)
    finally:
        await first.close()
        await second.close()


async def test_a_review_request_held_past_its_shards_lease_lapse_is_not_made_by_both(
    tmp_path: Path,
) -> None:
    """As above, for an approval route's request for a review in a forum review channel:
    the held request never lands after the new holder asked. One request."""
    path = str(tmp_path / "newsdesk.db")
    first = await open_store(path, lease_owner="first")
    second = await open_store(path, lease_owner="second")
    assert isinstance(first, SQLiteStore) and isinstance(second, SQLiteStore)
    try:
        a = story(1, 90)
        await add(first, a)
        r = route(approval=True, review_channel=REVIEWS)
        await first.set_route_guild(r.id, ON_0)
        sender = HeldForum()
        asking, d = await held_past_the_lapse(
            first, second, sender, r, lambda d: d.request_reviews(r)
        )
        assert await d.request_reviews(r) == [Release(a.id, Outcome.REVIEW, 2001)]

        sender.land.set()
        cut = await asyncio.wait_for(asking, 10.0)
        assert sender.reviews == [a.id]  # one request
        assert cut == []
        asked = await recorded(second, a.id, r.id)
        assert (asked.state, asked.review_message_id) == (DeliveryState.REVIEW, 2001)
    finally:
        await first.close()
        await second.close()
