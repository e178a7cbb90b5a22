"""Two processes' deliverers on one database: a send (a story or a digest) in flight under
another process's live lease is left to it; once that lease runs out, the send is taken
over and settled by looking in the channel first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.config.settings import Route
from bot.delivery.deliverer import (
    Deliverer,
    ErrorKind,
    Outcome,
    Posted,
    Release,
    SendError,
    digest_post,
)
from bot.render.embeds import build_post
from bot.store import Delivery, DeliveryState, DigestState, SQLiteStore, open_store
from tests.delivery.test_delivery import (
    NOW,
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
