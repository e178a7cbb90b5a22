"""Digest routes: one message per run, its stories claimed, sent and recorded as one unit."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.settings import DigestSettings, Route
from bot.delivery.deliverer import (
    ErrorKind,
    Outcome,
    Posted,
    Release,
    SendError,
    Sent,
    digest_post,
    next_digest,
)
from bot.models import Article, ParseResult
from bot.render.embeds import Post
from bot.store import (
    DeliveryState,
    DigestState,
    LoadItem,
    RouteState,
    SQLiteStore,
    StoredArticle,
)
from bot.store.records import digest_nonce
from tests.delivery.test_delivery import NOW, FakeSender, add, deliverer, recorded, route, story

CHANNEL = 10
PAST = 1_000_000  # when the first stories were first seen, long before any digest


class Killed(BaseException):
    """The process dies here: nothing after it runs (the store keeps what was written)."""


def digest_route(top: int = 3, **overrides: object) -> Route:
    return route(CHANNEL, digest=DigestSettings(top=top), **overrides)


async def seen_long_ago(store: SQLiteStore, *articles: Article) -> None:
    for article in articles:
        await store._write("UPDATE articles SET first_seen_ts = ? WHERE id = ?", (PAST, article.id))


async def states(store: SQLiteStore) -> dict[str, tuple[DeliveryState, int | None]]:
    return {d.article_id: (d.state, d.message_id) for d in await store.deliveries(CHANNEL)}


def sent_posts(sender: FakeSender) -> list[tuple[int, str, Post]]:
    return sender.messages.get(CHANNEL, [])


async def test_a_run_posts_one_message_with_the_best_stories_all_recorded_with_it(
    store: SQLiteStore,
) -> None:
    a, b, c, d_, e = (story(n, q) for n, q in ((1, 50), (2, 90), (3, 70), (4, 60), (5, 40)))
    await add(store, a, b, c, d_, e)
    await seen_long_ago(store, a, b, c, d_, e)
    await store.pin(CHANNEL, e.id, None, 5)  # pinned: first, whatever its rank
    r = digest_route(top=3, mention_role=777)
    sender = FakeSender()
    d, _ = deliverer(store, sender, r)

    released = await d.release(r, 1, scheduled=True)

    (digest,) = await store.digests(CHANNEL)
    assert digest.article_ids == (e.id, b.id, c.id)
    assert digest.nonce == digest_nonce(CHANNEL, [e.id, b.id, c.id])
    assert released == [
        Release(e.id, Outcome.SENT, 1000),
        Release(b.id, Outcome.SENT, 1000),
        Release(c.id, Outcome.SENT, 1000),
    ]
    ((message_id, nonce, post),) = sent_posts(sender)
    assert (message_id, nonce) == (1000, digest.nonce)
    expected = digest_post(r, [e, b, c], digest.nonce, digest.created_ts)
    assert post.to_payload() == expected.to_payload()
    assert post.to_payload()["content"] == "<@&777>"
    assert (post.card.description or "").split("\n") == [
        "1. [Story 5](https://example.com/5) — example.com · AI",
        "2. [Story 2](https://example.com/2) — example.com · AI",
        "3. [Story 3](https://example.com/3) — example.com · AI",
    ]
    assert await states(store) == {
        e.id: (DeliveryState.SENT, 1000),
        b.id: (DeliveryState.SENT, 1000),
        c.id: (DeliveryState.SENT, 1000),
    }
    assert await store.pins(CHANNEL) == []
    assert (digest.state, digest.message_id) == (DigestState.SENT, 1000)


async def test_the_next_digest_takes_only_stories_first_seen_since_the_previous_one(
    store: SQLiteStore,
) -> None:
    old = [story(n, 90 - n) for n in range(1, 5)]
    await add(store, *old)
    await seen_long_ago(store, *old)
    r = digest_route(top=2)
    sender = FakeSender()
    d, _ = deliverer(store, sender, r)
    assert [x.article_id for x in await d.release(r, 1)] == [old[0].id, old[1].id]
    # the two it left out are yesterday's news now; nothing new: no digest at all
    assert await d.release(r, 1) == []
    new = story(9, 10)
    await add(store, new)  # first seen now, after the first digest's claim
    assert await d.release(r, 1) == [Release(new.id, Outcome.SENT, 1001)]
    assert len(sent_posts(sender)) == 2
    assert await store.delivery(old[2].id, CHANNEL) is None  # never claimed, never lost
    assert await store.last_digest_ts(CHANNEL) == (await store.digests(CHANNEL))[-1].created_ts


class DiesAfterSend(FakeSender):
    """Discord takes the digest; the process dies before it hears back."""

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        await super().send(route, post, nonce)
        raise Killed


class DiesBeforeSend(FakeSender):
    """The process dies after the claim, before the request leaves."""

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        raise Killed


class KeepsNoNonce(FakeSender):
    """A channel whose history does not tell the nonce (Discord's, for fetched messages)."""

    async def recent_posts(self, route: Route) -> list[Posted]:
        return [
            Posted(Sent(route.id, message_id), (), None, footer=post.card.footer)
            for message_id, _, post in self.messages.get(route.id, [])
        ]


@pytest.mark.parametrize("channel", [FakeSender, KeepsNoNonce])
async def test_a_crash_between_send_and_record_records_the_digest_without_a_second_post(
    store: SQLiteStore, channel: type[FakeSender]
) -> None:
    a, b = story(1, 90), story(2, 80)
    await add(store, a, b)
    r = digest_route(top=5)
    dying = DiesAfterSend()
    d, _ = deliverer(store, dying, r)
    with pytest.raises(Killed):
        await d.release(r, 1)
    assert await states(store) == {
        a.id: (DeliveryState.SENDING, None),
        b.id: (DeliveryState.SENDING, None),
    }
    later = story(3, 99)
    await add(store, later)  # a better story arrives while the bot is down

    sender = channel(messages=dying.messages)  # the same channel, a new process
    restarted, _ = deliverer(store, sender, r)
    assert await restarted.reconcile() == [
        Release(a.id, Outcome.RECORDED, 1000),
        Release(b.id, Outcome.RECORDED, 1000),
    ]
    assert sender.send_calls == 0
    assert len(sent_posts(sender)) == 1
    assert await states(store) == {
        a.id: (DeliveryState.SENT, 1000),
        b.id: (DeliveryState.SENT, 1000),
    }
    # the next run is a new digest, of the story first seen since
    assert await restarted.release(r, 1) == [Release(later.id, Outcome.SENT, 1000)]


async def test_a_crash_between_claim_and_send_sends_the_same_digest_on_restart(
    store: SQLiteStore,
) -> None:
    a, b = story(1, 90), story(2, 80)
    await add(store, a, b)
    r = digest_route(top=5)
    d, _ = deliverer(store, DiesBeforeSend(), r)
    with pytest.raises(Killed):
        await d.release(r, 1)
    (claimed,) = await store.digests(CHANNEL, (DigestState.SENDING,))
    await add(store, story(3, 99))  # would rank first in a new digest

    sender = FakeSender()
    restarted, _ = deliverer(store, sender, r)
    assert await restarted.reconcile() == [
        Release(a.id, Outcome.SENT, 1000),
        Release(b.id, Outcome.SENT, 1000),
    ]
    ((_, nonce, post),) = sent_posts(sender)
    assert nonce == claimed.nonce == digest_nonce(CHANNEL, [a.id, b.id])
    assert (
        post.to_payload() == digest_post(r, [a, b], claimed.nonce, claimed.created_ts).to_payload()
    )
    assert await states(store) == {
        a.id: (DeliveryState.SENT, 1000),
        b.id: (DeliveryState.SENT, 1000),
    }


async def test_a_run_settles_a_digest_left_in_flight_before_a_new_one(
    store: SQLiteStore,
) -> None:
    """No restart: the crash left it, and the route's next run meets it."""
    a = story(1, 90)
    await add(store, a)
    r = digest_route()
    dying = DiesAfterSend()
    d, _ = deliverer(store, dying, r)
    with pytest.raises(Killed):
        await d.release(r, 1)
    await add(store, story(2, 99))
    sender = FakeSender(messages=dying.messages)
    again, _ = deliverer(store, sender, r)
    assert await again.release(r, 1, scheduled=True) == [Release(a.id, Outcome.RECORDED, 1000)]
    assert (sender.send_calls, len(sent_posts(sender))) == (0, 1)


async def test_a_restored_database_adopts_the_digest_the_channel_shows(
    tmp_path: Path,
) -> None:
    """The database is restored from a backup taken before a digest was posted: the same
    stories are claimed again, with the same nonce, and the post is found, not repeated."""
    a, b = story(1, 90), story(2, 80)
    r = digest_route()
    sender = KeepsNoNonce()
    first = await SQLiteStore.open(str(tmp_path / "live.db"))
    await add(first, a, b)
    await first.backup(str(tmp_path / "backup.db"))
    d, _ = deliverer(first, sender, r)
    assert [x.outcome for x in await d.release(r, 1)] == [Outcome.SENT, Outcome.SENT]
    await first.close()

    restored = await SQLiteStore.open(str(tmp_path / "backup.db"))
    try:
        again, _ = deliverer(restored, sender, r)
        assert await again.release(r, 1) == [
            Release(a.id, Outcome.ADOPTED, 1000),
            Release(b.id, Outcome.ADOPTED, 1000),
        ]
        assert (sender.send_calls, len(sent_posts(sender))) == (1, 1)
        assert await states(restored) == {
            a.id: (DeliveryState.SENT, 1000),
            b.id: (DeliveryState.SENT, 1000),
        }
        (entry,) = await restored.audit_log(5)
        (digest,) = await restored.digests(CHANNEL)
        assert (entry.action, entry.detail) == (
            "adopt",
            f"digest {digest.nonce}: message 1000 already in the channel",
        )
    finally:
        await restored.close()


async def test_an_outage_keeps_the_digest_in_flight_and_the_next_run_sends_it_once(
    store: SQLiteStore,
) -> None:
    a, b = story(1, 90), story(2, 80)
    await add(store, a, b)
    r = digest_route()
    error = SendError(ErrorKind.TRANSIENT, "Service Unavailable", 503)
    sender = FakeSender(failures=[error, error, error])
    d, slept = deliverer(store, sender, r)
    reason = "HTTP 503: Service Unavailable"
    assert await d.release(r, 1) == [
        Release(a.id, Outcome.UNAVAILABLE, error=reason),
        Release(b.id, Outcome.UNAVAILABLE, error=reason),
    ]
    assert slept == [1.0, 4.0]
    (kept,) = await store.digests(CHANNEL)
    assert (kept.state, kept.attempts, kept.last_error) == (DigestState.SENDING, 1, reason)
    assert sender.notices == [
        f"#{r.name}: Discord did not take the digest of 2 stories ({reason}). The"
        " channel's next run looks for it, then sends it again."
    ]
    await add(store, story(3, 99))
    assert await d.release(r, 1) == [
        Release(a.id, Outcome.SENT, 1000),
        Release(b.id, Outcome.SENT, 1000),
    ]
    assert [nonce for _, nonce, _ in sent_posts(sender)] == [kept.nonce]
    (done, *_) = await store.digests(CHANNEL)
    assert (done.state, done.attempts) == (DigestState.SENT, 2)
    assert (await recorded(store, a.id, CHANNEL)).attempts == 2


async def test_a_refused_channel_puts_the_stories_back_and_a_bad_request_fails_them(
    store: SQLiteStore,
) -> None:
    a, b = story(1, 90), story(2, 80)
    await add(store, a, b)
    r = digest_route()
    sender = FakeSender(failures=[SendError(ErrorKind.FORBIDDEN, "Missing Access", 403, 50001)])
    d, _ = deliverer(store, sender, r)
    reason = "HTTP 403 code 50001: Missing Access"
    assert await d.release(r, 1) == [
        Release(a.id, Outcome.DEFERRED, error=reason),
        Release(b.id, Outcome.DEFERRED, error=reason),
    ]
    assert await store.digests() == []
    assert {k: v[0] for k, v in (await states(store)).items()} == {
        a.id: DeliveryState.PENDING,
        b.id: DeliveryState.PENDING,
    }
    assert (await store.route_state(CHANNEL)).paused
    await store.set_route_state(RouteState(CHANNEL))

    sender.failures.append(SendError(ErrorKind.BAD_REQUEST, "Invalid Form Body", 400, 50035))
    bad = "HTTP 400 code 50035: Invalid Form Body"
    assert await d.release(r, 1) == [
        Release(a.id, Outcome.FAILED, error=bad),
        Release(b.id, Outcome.FAILED, error=bad),
    ]
    assert {k: v[0] for k, v in (await states(store)).items()} == {
        a.id: DeliveryState.FAILED,
        b.id: DeliveryState.FAILED,
    }
    assert [x.state for x in await store.digests(CHANNEL)] == [DigestState.FAILED]
    assert sender.notices[-1] == (
        f"The digest of 2 stories ({a.id}, {b.id}) could not be posted to #{r.name}: {bad}."
        " /queue retry puts them back."
    )


async def test_an_edited_story_edits_its_digest_once(store: SQLiteStore) -> None:
    a, b = story(1, 90), story(2, 80)
    for n, article in enumerate((a, b)):
        item = LoadItem(f"/s/{n}.md", 1, 1, "sha", StoredArticle.from_result(ParseResult(article)))
        await store.apply_load([item])
    r = digest_route()
    sender = FakeSender()
    d, _ = deliverer(store, sender, r)
    await d.release(r, 1)
    moved = story(1, 90, webUrl="https://example.com/1-corrected")
    assert moved.id != a.id  # the same story by its file, a new link
    item = LoadItem("/s/0.md", 1, 2, "sha2", StoredArticle.from_result(ParseResult(moved)))
    (outcome,) = await store.apply_load([item])
    assert outcome.post_changed
    assert await d.refresh_posted() == 1
    ((channel, message_id, post),) = sender.edits
    assert (channel, message_id) == (CHANNEL, 1000)
    assert (post.card.description or "").split("\n") == [
        "1. [Story 1](https://example.com/1-corrected) — example.com · AI",
        "2. [Story 2](https://example.com/2) — example.com · AI",
    ]
    assert await store.pending_edits() == []


async def test_the_next_digest_preview_claims_nothing(store: SQLiteStore) -> None:
    a, b = story(1, 90), story(2, 80)
    await add(store, a, b)
    r = digest_route()
    post = await next_digest(store, r, NOW)
    assert post is not None
    assert (
        post.to_payload()
        == digest_post(
            r, [a, b], digest_nonce(CHANNEL, [a.id, b.id]), int(NOW.timestamp())
        ).to_payload()
    )
    assert await store.deliveries() == [] and await store.digests() == []
    assert await next_digest(store, digest_route(), NOW) is not None
    empty = route(11, digest=DigestSettings(top=3), topics=("Sports",))
    assert await next_digest(store, empty, NOW) is None
