"""The delivery state machine and error policy, with a fake sender and a real store."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config.settings import QuietHours, Route, Schedule, Settings
from bot.config.shards import Shards
from bot.delivery.deliverer import (
    MAX_RUNS,
    Deliverer,
    ErrorKind,
    Outcome,
    Posted,
    Release,
    SendError,
    Sent,
)
from bot.ingest.parsing import article_from_mapping
from bot.models import Article, ParseResult, Related
from bot.render.embeds import Post, build_post
from bot.store import Delivery, DeliveryState, LoadItem, RouteState, SQLiteStore, StoredArticle
from bot.store.records import delivery_nonce

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def route(channel_id: int = 10, **overrides: Any) -> Route:
    values: dict[str, Any] = {
        "id": channel_id,
        "name": f"news-{channel_id}",
        "schedule": Schedule(every=timedelta(minutes=30)),
    }
    values.update(overrides)
    return Route(**values)


def settings_for(*routes: Route, mod_log: int | None = None) -> Settings:
    return Settings(
        path=Path("config.yaml"),
        database=Path(":memory:"),
        seeds=Path("seeds"),
        channels=routes,
        mod_log_channel=mod_log,
    )


@dataclass
class FakeSender:
    """Behaves like a Discord channel: stores messages, drops a repeated nonce."""

    failures: list[SendError] = field(default_factory=list)  # raised by the next sends
    check_problems: dict[int, str] = field(default_factory=dict)
    messages: dict[int, list[tuple[int, str, Post]]] = field(default_factory=dict)
    edits: list[tuple[int, int, Post]] = field(default_factory=list)
    edit_failures: dict[int, SendError] = field(default_factory=dict)  # by channel, once
    notices: list[str] = field(default_factory=list)
    send_calls: int = 0
    checks: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        self.send_calls += 1
        if self.failures:
            raise self.failures.pop(0)
        channel = self.messages.setdefault(route.id, [])
        for message_id, seen_nonce, _ in channel:
            if seen_nonce == nonce:
                return Sent(route.id, message_id)
        message_id = next(self._ids)
        channel.append((message_id, nonce, post))
        return Sent(route.id, message_id)

    async def send_review(self, route: Route, post: Post, nonce: str) -> Sent:
        raise AssertionError("no route here asks for reviews")

    async def edit(self, route: Route, message_id: int, post: Post) -> None:
        if route.id in self.edit_failures:
            raise self.edit_failures.pop(route.id)
        self.edits.append((route.id, message_id, post))

    async def find_posted(self, route: Route, post: Post) -> Sent | None:
        for message_id, _, sent in self.messages.get(route.id, []):
            if sent.embed.url == post.embed.url:
                return Sent(route.id, message_id)
        return None

    async def recent_posts(self, route: Route) -> list[Posted]:
        return [
            Posted(Sent(route.id, message_id), (post.embed.url,) if post.embed.url else (), nonce)
            for message_id, nonce, post in self.messages.get(route.id, [])
        ]

    async def open_post(self, route: Route, posted: Posted) -> Posted | None:
        return posted

    async def check_route(self, route: Route) -> str | None:
        self.checks += 1
        return self.check_problems.get(route.id)

    async def notify(self, text: str) -> None:
        self.notices.append(text)

    def posted_ids(self, channel_id: int) -> list[str]:
        return [post.article_id for _, _, post in self.messages.get(channel_id, [])]


def story(n: int, quality: int, **extra: object) -> Article:
    data: dict[str, object] = {
        "title": f"Story {n}",
        "webUrl": f"https://example.com/{n}",
        "quality": quality,
        "topics": ["AI"],
        "publishedDateTime": "2026-11-20T10:00:00Z",
    }
    data.update(extra)
    return article_from_mapping(data).article


@pytest.fixture
async def store() -> AsyncIterator[SQLiteStore]:
    db = await SQLiteStore.open(":memory:")
    yield db
    await db.close()


async def recorded(store: SQLiteStore, article_id: str, channel_id: int) -> Delivery:
    """The delivery of that story to that channel, which the test expects to exist."""
    delivery = await store.delivery(article_id, channel_id)
    assert delivery is not None
    return delivery


async def add(store: SQLiteStore, *articles: Article) -> None:
    from bot.models import ParseResult

    for article in articles:
        await store.add_article(ParseResult(article))


def deliverer(
    store: SQLiteStore, sender: FakeSender, *routes: Route, **kwargs: Any
) -> tuple[Deliverer, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return (
        Deliverer(
            store,
            sender,
            settings_for(*routes),
            clock=lambda: NOW,
            sleep=sleep,
            retry_delays=(1.0, 4.0),
            **kwargs,
        ),
        slept,
    )


async def test_release_sends_best_first_and_records_each_once(store: SQLiteStore) -> None:
    a, b, c = story(1, 50), story(2, 90), story(3, 70)
    await add(store, a, b, c)
    sender = FakeSender()
    r = route()
    d, _ = deliverer(store, sender, r)

    first = await d.release(r, 2)
    second = await d.release(r, 2)
    third = await d.release(r, 2)

    assert first == [Release(b.id, Outcome.SENT, 1000), Release(c.id, Outcome.SENT, 1001)]
    assert second == [Release(a.id, Outcome.SENT, 1002)]
    assert third == []
    assert sender.posted_ids(10) == [b.id, c.id, a.id]
    sent = await store.delivery(b.id, 10)
    assert sent is not None
    assert (sent.state, sent.message_id, sent.attempts, sent.nonce, sent.last_error) == (
        DeliveryState.SENT,
        1000,
        1,
        delivery_nonce(b.id, 10),
        None,
    )


async def test_every_post_allows_no_mentions_but_the_route_role(store: SQLiteStore) -> None:
    await add(store, story(1, 50, title="@everyone <@&5> look"))
    sender = FakeSender()
    plain, pinging = route(10), route(11, mention_role=777)
    d, _ = deliverer(store, sender, plain, pinging)
    await d.release(plain, 1)
    await d.release(pinging, 1)

    ((_, _, post_plain),) = sender.messages[10]
    ((_, _, post_ping),) = sender.messages[11]
    assert post_plain.content is None
    assert dict(post_plain.allowed_mentions.to_dict()) == {"parse": []}
    assert post_ping.content == "<@&777>"
    assert dict(post_ping.allowed_mentions.to_dict()) == {"parse": [], "roles": [777]}


async def test_crash_after_send_is_recorded_on_restart_without_a_second_post(
    store: SQLiteStore,
) -> None:
    a = story(1, 50)
    await add(store, a)
    sender = FakeSender()
    r = route()
    # The first process claims and sends, then dies before recording.
    claimed = await store.claim(a.id, r.id)
    assert claimed is not None
    await sender.send(r, build_post(a), claimed.nonce)
    assert (await recorded(store, a.id, r.id)).state is DeliveryState.SENDING

    restarted, _ = deliverer(store, sender, r)
    settled = await restarted.reconcile()

    assert settled == [Release(a.id, Outcome.RECORDED, 1000)]
    assert sender.send_calls == 1
    assert sender.posted_ids(10) == [a.id]
    done = await recorded(store, a.id, r.id)
    assert (done.state, done.message_id) == (DeliveryState.SENT, 1000)
    assert await restarted.release(r, 5) == []


async def test_a_run_that_meets_a_story_left_sending_looks_in_the_channel_first(
    store: SQLiteStore,
) -> None:
    """The send arrived, then recording it failed (or the process died and a run came
    before the start-up reconciliation, past Discord's nonce window): no second post."""
    a, b = story(1, 90), story(2, 50)
    await add(store, a, b)
    sender = LostForumReply()  # keeps no nonce: only looking prevents a repeat
    r = route()
    claimed = await store.claim(a.id, r.id)
    assert claimed is not None
    sender.send_calls = 1  # (the lost reply was the first send's)
    await sender.send(r, build_post(a), claimed.nonce)

    d, _ = deliverer(store, sender, r)
    # a is found among the channel's posts before the run and recorded; b goes out
    assert await d.release(r, 2) == [Release(b.id, Outcome.SENT, 1001)]
    assert sender.posted_ids(10) == [a.id, b.id]
    done = await recorded(store, a.id, r.id)
    assert (done.state, done.message_id) == (DeliveryState.SENT, 1000)


async def test_a_run_that_meets_a_story_left_sending_sends_it_when_it_is_not_there(
    store: SQLiteStore,
) -> None:
    a = story(1, 90)
    await add(store, a)
    sender = FakeSender()
    r = route()
    claimed = await store.claim(a.id, r.id)  # ...and the process dies before sending
    assert claimed is not None

    d, _ = deliverer(store, sender, r)
    assert await d.release(r, 1) == [Release(a.id, Outcome.SENT, 1000)]
    assert [nonce for _, nonce, _ in sender.messages[10]] == [claimed.nonce]
    assert await d.reconcile() == []  # nothing is left in flight


async def test_a_pause_during_a_run_stops_it_before_the_next_story(store: SQLiteStore) -> None:
    stories = [story(n, 90 - n) for n in range(3)]
    await add(store, *stories)
    r = route(per_run=3)

    class PausedMeanwhile(FakeSender):
        async def send(self, route: Route, post: Post, nonce: str) -> Sent:
            sent = await super().send(route, post, nonce)
            await store.set_route_state(RouteState(route.id, True, "paused by mia"))
            return sent

    sender = PausedMeanwhile()
    d, _ = deliverer(store, sender, r)
    assert await d.tick(r) == [Release(stories[0].id, Outcome.SENT, 1000)]
    assert [await store.delivery(a.id, r.id) for a in stories[1:]] == [None, None]
    # A moderator's /queue post still goes out on the paused route.
    assert await d.release(r, 1) == [Release(stories[1].id, Outcome.SENT, 1001)]


async def test_on_a_paused_route_the_start_up_check_records_but_never_sends(
    store: SQLiteStore,
) -> None:
    arrived, unsent = story(1, 90), story(2, 80)
    await add(store, arrived, unsent)
    sender = FakeSender()
    r = route()
    first = await store.claim(arrived.id, r.id)
    assert first is not None
    await sender.send(r, build_post(arrived), first.nonce)
    second = await store.claim(unsent.id, r.id)  # ...and the process dies before sending
    assert second is not None
    await store.set_route_state(RouteState(r.id, True, "paused by mia"))

    restarted, _ = deliverer(store, sender, r)
    assert await restarted.reconcile() == [Release(arrived.id, Outcome.RECORDED, 1000)]
    assert sender.send_calls == 1
    assert (await recorded(store, unsent.id, r.id)).state is DeliveryState.SENDING
    # Resumed: the first run looks, does not find it, and sends it with its nonce.
    await store.set_route_state(RouteState(r.id))
    assert await restarted.tick(r) == [Release(unsent.id, Outcome.SENT, 1001)]
    assert [nonce for _, nonce, _ in sender.messages[10]] == [first.nonce, second.nonce]


async def test_crash_before_send_resends_with_the_same_nonce(store: SQLiteStore) -> None:
    a = story(1, 50)
    await add(store, a)
    sender = FakeSender()
    r = route()
    claimed = await store.claim(a.id, r.id)  # ...and the process dies here
    assert claimed is not None

    restarted, _ = deliverer(store, sender, r)
    settled = await restarted.reconcile()

    assert settled == [Release(a.id, Outcome.SENT, 1000)]
    assert [nonce for _, nonce, _ in sender.messages[10]] == [claimed.nonce]
    assert (await recorded(store, a.id, r.id)).state is DeliveryState.SENT


class LostReply(FakeSender):
    """Discord posts the first send, but its reply never arrives."""

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        sent = await super().send(route, post, nonce)
        if self.send_calls == 1:
            raise SendError(ErrorKind.TRANSIENT, "ServerDisconnectedError")
        return sent


class LostForumReply(LostReply):
    """As LostReply, in a channel that keeps no nonce (a forum post has none)."""

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        return await super().send(route, post, f"{nonce}-{self.send_calls}")


async def test_a_send_whose_reply_was_lost_is_found_in_the_channel_not_sent_again(
    store: SQLiteStore,
) -> None:
    a = story(1, 50)
    await add(store, a)
    r = route()
    sender = LostForumReply()
    d, slept = deliverer(store, sender, r)

    assert await d.release(r, 1) == [Release(a.id, Outcome.RECORDED, 1000)]
    assert (sender.send_calls, sender.posted_ids(10), slept) == (1, [a.id], [1.0])
    sent = await recorded(store, a.id, r.id)
    assert (sent.state, sent.message_id) == (DeliveryState.SENT, 1000)


async def test_when_the_channel_cannot_be_read_the_retry_carries_the_same_nonce(
    store: SQLiteStore,
) -> None:
    a = story(1, 50)
    await add(store, a)
    r = route()

    class Unreadable(LostReply):
        async def find_posted(self, route: Route, post: Post) -> Sent | None:
            raise SendError(ErrorKind.TRANSIENT, "Service Unavailable", 503)

    sender = Unreadable()
    d, slept = deliverer(store, sender, r)
    assert await d.release(r, 1) == [Release(a.id, Outcome.SENT, 1000)]
    assert (sender.send_calls, sender.posted_ids(10), slept) == (2, [a.id], [1.0])


async def test_an_outage_keeps_the_story_queued_and_ends_the_run(store: SQLiteStore) -> None:
    a, b = story(1, 90), story(2, 50)
    await add(store, a, b)
    error = SendError(ErrorKind.TRANSIENT, "Service Unavailable", 503)
    sender = FakeSender(failures=[error, error, error])
    r = route(per_run=2)
    d, slept = deliverer(store, sender, r)

    assert await d.release(r, 2) == [
        Release(a.id, Outcome.UNAVAILABLE, error="HTTP 503: Service Unavailable")
    ]
    assert slept == [1.0, 4.0]
    kept = await recorded(store, a.id, r.id)
    assert (kept.state, kept.last_error, kept.attempts) == (
        DeliveryState.PENDING,
        "HTTP 503: Service Unavailable",
        1,
    )
    assert await store.delivery(b.id, r.id) is None  # not tried: the run ended
    assert sender.notices == [
        f"#news-10: Discord did not take story `{a.id}` (HTTP 503: Service Unavailable). "
        "It stays queued; the channel's next run tries again."
    ]
    # Discord is back: the next run posts both, in order.
    assert await d.release(r, 2) == [
        Release(a.id, Outcome.SENT, 1000),
        Release(b.id, Outcome.SENT, 1001),
    ]


async def test_an_approved_story_stays_approved_through_an_outage(store: SQLiteStore) -> None:
    a = story(1, 90)
    await add(store, a)
    r = route()
    await store.set_delivery(a.id, r.id, DeliveryState.REVIEW)
    await store.set_delivery(a.id, r.id, DeliveryState.APPROVED, decided_by=7)
    error = SendError(ErrorKind.TRANSIENT, "Bad Gateway", 502)
    d, _ = deliverer(store, FakeSender(failures=[error] * 3), r)

    assert await d.release(r, 1) == [
        Release(a.id, Outcome.UNAVAILABLE, error="HTTP 502: Bad Gateway")
    ]
    kept = await recorded(store, a.id, r.id)
    assert (kept.state, kept.decided_by) == (DeliveryState.APPROVED, 7)


async def test_a_story_discord_never_takes_fails_after_max_runs_and_the_queue_goes_on(
    store: SQLiteStore,
) -> None:
    a, b = story(1, 90), story(2, 50)
    await add(store, a, b)
    error = SendError(ErrorKind.TRANSIENT, "Service Unavailable", 503)
    sender = FakeSender(failures=[error] * 3 * MAX_RUNS)
    r = route(per_run=1)
    d, slept = deliverer(store, sender, r)

    outcomes = [(await d.release(r, 1))[0].outcome for _ in range(MAX_RUNS)]
    assert outcomes == [Outcome.UNAVAILABLE] * (MAX_RUNS - 1) + [Outcome.FAILED]
    assert slept == [1.0, 4.0] * MAX_RUNS
    failed = await recorded(store, a.id, r.id)
    assert (failed.state, failed.last_error, failed.attempts) == (
        DeliveryState.FAILED,
        "HTTP 503: Service Unavailable",
        MAX_RUNS,
    )
    assert sender.notices[-1] == (
        f"Story `{a.id}` could not be posted to #news-10 in {MAX_RUNS} runs: HTTP 503: "
        "Service Unavailable. /queue retry puts it back."
    )
    # The failed story is kept for moderators; the queue goes on with the next one.
    assert await d.release(r, 1) == [Release(b.id, Outcome.SENT, 1000)]
    # /queue retry gives it MAX_RUNS runs again.
    assert await store.retry_failed(r.id) == 1
    assert (await recorded(store, a.id, r.id)).attempts == 0
    sender.failures = [error] * 3
    assert await d.release(r, 1) == [
        Release(a.id, Outcome.UNAVAILABLE, error="HTTP 503: Service Unavailable")
    ]
    assert await d.release(r, 1) == [Release(a.id, Outcome.SENT, 1001)]


async def test_bad_request_fails_that_story_and_the_run_goes_on(store: SQLiteStore) -> None:
    a, b = story(1, 90), story(2, 50)
    await add(store, a, b)
    bad = SendError(ErrorKind.BAD_REQUEST, "Invalid Form Body", 400, 50035)
    sender = FakeSender(failures=[bad])
    r = route()
    d, slept = deliverer(store, sender, r)

    assert await d.release(r, 2) == [
        Release(a.id, Outcome.FAILED, error="HTTP 400 code 50035: Invalid Form Body"),
        Release(b.id, Outcome.SENT, 1000),
    ]
    assert slept == []
    assert (await recorded(store, a.id, r.id)).state is DeliveryState.FAILED


async def test_forbidden_pauses_the_route_keeps_the_story_and_reports_once(
    store: SQLiteStore,
) -> None:
    a = story(1, 90)
    await add(store, a)
    forbidden = SendError(ErrorKind.FORBIDDEN, "Missing Permissions", 403, 50013)
    sender = FakeSender(failures=[forbidden])
    r, other = route(10), route(11)
    d, _ = deliverer(store, sender, r, other)

    assert await d.tick(r) == [
        Release(a.id, Outcome.DEFERRED, error="HTTP 403 code 50013: Missing Permissions")
    ]
    assert await store.route_state(r.id) == RouteState(
        r.id, True, "missing access or permissions (HTTP 403 code 50013: Missing Permissions)"
    )
    pending = await recorded(store, a.id, r.id)
    assert pending.state is DeliveryState.PENDING
    assert await d.tick(r) == []  # paused: nothing is tried
    assert len(sender.notices) == 1 and sender.notices[0].startswith("#news-10 paused:")
    # The other route is unaffected.
    assert await d.tick(other) == [Release(a.id, Outcome.SENT, 1000)]
    # A moderator resumes: the story is still there and goes out.
    await store.set_route_state(RouteState(r.id))
    assert await d.tick(r) == [Release(a.id, Outcome.SENT, 1001)]


async def test_unknown_channel_disables_the_route(store: SQLiteStore) -> None:
    a = story(1, 90)
    await add(store, a)
    sender = FakeSender(failures=[SendError(ErrorKind.NOT_FOUND, "Unknown Channel", 404, 10003)])
    r = route()
    d, _ = deliverer(store, sender, r)
    await d.tick(r)
    state = await store.route_state(r.id)
    assert (state.disabled, state.disabled_reason) == (
        True,
        "unknown channel (HTTP 404 code 10003: Unknown Channel)",
    )
    assert (await recorded(store, a.id, r.id)).state is DeliveryState.PENDING
    assert await d.tick(r) == []

    # restarted with the id fixed: the start-up check finds the channel, posting resumes
    again = FakeSender()
    d2, _ = deliverer(store, again, r)
    assert await d2.check_routes() == {}
    assert await store.route_state(r.id) == RouteState(r.id)
    assert again.notices == ["#news-10 posts again: its channel answers now"]
    assert await d2.tick(r) == [Release(a.id, Outcome.SENT, 1000)]


async def test_a_broken_route_is_checked_reported_once_and_skipped_until_fixed(
    store: SQLiteStore,
) -> None:
    a = story(1, 90)
    await add(store, a)
    sender = FakeSender(check_problems={10: "the bot lacks Embed Links in #news"})
    r = route()
    d, _ = deliverer(store, sender, r)

    assert await d.tick(r) == []
    assert await d.tick(r) == []
    assert sender.notices == ["#news-10 skipped: the bot lacks Embed Links in #news"]
    sender.check_problems.clear()
    assert await d.tick(r) == [Release(a.id, Outcome.SENT, 1000)]
    await add(store, story(2, 80))
    checks = sender.checks
    await d.tick(r)
    assert sender.checks == checks  # a healthy route is not re-checked every tick


@pytest.mark.parametrize(
    ("local", "expected"), [(time(23, 30), 0), (time(6, 59), 0), (time(7, 0), 1), (time(12), 1)]
)
async def test_quiet_hours_follow_the_route_timezone(
    store: SQLiteStore, local: time, expected: int
) -> None:
    await add(store, story(1, 90))
    zone = "America/New_York"
    r = route(quiet_hours=QuietHours(time(23, 0), time(7, 0)), timezone=zone)
    local_now = datetime.combine(NOW.date(), local, tzinfo=r.zone)
    d = Deliverer(store, FakeSender(), settings_for(r), clock=lambda: local_now.astimezone(UTC))
    assert len(await d.tick(r)) == expected


async def test_pause_survives_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "newsdesk.db")
    first = await SQLiteStore.open(path)
    await add(first, story(1, 90))
    await first.set_route_state(RouteState(10, True, "by @mod"))
    await first.close()

    again = await SQLiteStore.open(path)
    try:
        sender = FakeSender()
        d, _ = deliverer(again, sender, route())
        assert await d.tick(route()) == []
        assert sender.send_calls == 0
        assert await again.route_state(10) == RouteState(10, True, "by @mod")
    finally:
        await again.close()


def loaded(path: str, article: Article, sha: str) -> LoadItem:
    return LoadItem(path, 1, 1, sha, StoredArticle.from_result(ParseResult(article)))


def pending(deliveries: list[Delivery]) -> list[tuple[str, int]]:
    return [(d.article_id, d.channel_id) for d in deliveries]


async def test_edited_coverage_edits_the_posted_messages_until_each_is_done(
    store: SQLiteStore,
) -> None:
    a, b = story(1, 90), story(2, 10)
    await store.apply_load([loaded("/a.md", a, "a1"), loaded("/b.md", b, "b1")])
    sender = FakeSender()
    r1, r2, r3 = route(10), route(11), route(12)
    d, _ = deliverer(store, sender, r1, r2, r3)
    for r in (r1, r2, r3):
        await d.release(r, 1)  # a: messages 1000, 1001, 1002
    await store.claim(b.id, 10)  # b: being posted in 10 right now
    related = (Related("Elsewhere", "https://other.example/x"),)
    a2, b2 = replace(a, related=related), replace(b, related=related)

    outcomes = await store.apply_load([loaded("/a.md", a2, "a2"), loaded("/b.md", b2, "b2")])

    assert [o.post_changed for o in outcomes] == [True, True]
    assert pending(await store.pending_edits()) == [(a.id, 10), (a.id, 11), (a.id, 12), (b.id, 10)]
    sender.edit_failures = {
        11: SendError(ErrorKind.TRANSIENT, "Service Unavailable", 503),
        12: SendError(ErrorKind.NOT_FOUND, "Unknown Message", 404, 10008),
    }
    assert await d.refresh_posted() == 1
    assert [(c, m) for c, m, _ in sender.edits] == [(10, 1000)]
    assert sender.edits[0][2].to_payload() == build_post(a2).to_payload()
    # a 503 is tried again next time, a deleted message is not; b is edited once posted
    assert pending(await store.pending_edits()) == [(a.id, 11), (b.id, 10)]
    assert await d.refresh_posted() == 1
    assert [(c, m) for c, m, _ in sender.edits] == [(10, 1000), (11, 1001)]
    await store.set_delivery(b.id, 10, DeliveryState.SENT, message_id=77)
    assert await d.refresh_posted() == 1
    assert sender.edits[-1][:2] == (10, 77)
    assert await store.pending_edits() == []


async def test_with_update_posted_off_nothing_is_edited_or_kept(store: SQLiteStore) -> None:
    a = story(1, 90)
    await store.apply_load([loaded("/a.md", a, "a1")])
    sender = FakeSender()
    d, _ = deliverer(store, sender, route(10))
    d.settings = replace(d.settings, update_posted=False)
    await d.release(route(10), 1)
    changed = replace(a, related=(Related("Elsewhere", "https://other.example/x"),))
    await store.apply_load([loaded("/a.md", changed, "a2")])

    assert await d.refresh_posted() == 0
    assert (sender.edits, await store.pending_edits()) == ([], [])


async def test_an_edit_loaded_by_the_command_line_is_made_by_the_running_bot(
    store: SQLiteStore, tmp_path: Path, write_article: Callable[..., Path]
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.ingest.loader import load_paths
    from bot.runtime.service import Newsdesk

    seeds = tmp_path / "seeds"
    path = write_article(seeds, "a.md", title="Big news", quality=90)
    await load_paths(store, [seeds])
    sender = FakeSender()
    r = route(10)
    d, _ = deliverer(store, sender, r)
    [sent] = await d.release(r, 1)
    write_article(
        seeds, "a.md", title="Big news", quality=90,
        related=[{"title": "Elsewhere", "webUrl": "https://other.example/x"}],
    )  # fmt: skip
    os.utime(path, ns=(2 * 10**18, 2 * 10**18))
    await load_paths(store, [seeds])  # `newsdesk load`: no Discord there

    desk = Newsdesk(replace(d.settings, seeds=seeds), store, AsyncIOScheduler(), d)
    report = await desk.rescan()  # the bot's next rescan: nothing new to load

    assert report.counts["unchanged"] == 1
    [(channel, message, post)] = sender.edits
    assert (channel, message) == (10, sent.message_id)
    article = await store.get_article(sent.article_id)
    assert article is not None and article.related[0].url == "https://other.example/x"
    assert post.to_payload() == build_post(article).to_payload()
    assert await store.pending_edits() == []


async def test_pinned_story_goes_first_and_is_unpinned_once_sent(store: SQLiteStore) -> None:
    a, b = story(1, 90), story(2, 10)
    await add(store, a, b)
    sender = FakeSender()
    r = route()
    d, _ = deliverer(store, sender, r)
    await store.pin(r.id, b.id, None, actor_id=1)
    assert await d.release(r, 1) == [Release(b.id, Outcome.SENT, 1000)]
    assert await store.pins(r.id) == []
    assert await d.release(r, 1) == [Release(a.id, Outcome.SENT, 1001)]


def test_send_error_describe() -> None:
    assert SendError(ErrorKind.TRANSIENT, "timeout").describe() == "timeout"
    assert SendError(ErrorKind.BAD_REQUEST, "x", 400, 50035).describe() == "HTTP 400 code 50035: x"


async def test_stopping_during_a_retry_backoff_sends_no_more_and_leaves_it_in_flight(
    store: SQLiteStore,
) -> None:
    a = story(1, 90)
    await add(store, a)
    busy = SendError(ErrorKind.TRANSIENT, "Service Unavailable", 503)
    sender = FakeSender(failures=[busy] * 4)
    backing_off = asyncio.Event()

    async def sleep(seconds: float) -> None:
        backing_off.set()
        await asyncio.sleep(3600)  # woken by close(), not by the time

    r = route()
    d = Deliverer(store, sender, settings_for(r), clock=lambda: NOW, sleep=sleep)
    run = asyncio.create_task(d.tick(r))
    await backing_off.wait()
    await asyncio.wait_for(d.close(), 5)

    assert await run == [Release(a.id, Outcome.UNAVAILABLE, error="HTTP 503: Service Unavailable")]
    assert sender.send_calls == 1
    # in flight: the next start looks in the channel before it sends again
    assert (await recorded(store, a.id, r.id)).state is DeliveryState.SENDING


# ---------------------------------------------------------------- posts already in a channel


def posted_before(sender: FakeSender, r: Route, *articles: Article) -> list[int]:
    """Put posts of ``articles`` in the channel, as an earlier bot (another database) did."""
    ids = []
    for article in articles:
        ids.append(next(sender._ids))
        nonce = delivery_nonce(article.id, r.id)
        sender.messages.setdefault(r.id, []).append((ids[-1], nonce, build_post(article)))
    return ids


async def test_posts_already_in_the_channel_are_adopted_into_an_empty_database(
    store: SQLiteStore,
) -> None:
    a, b, c = story(1, 90), story(2, 80), story(3, 70)
    await add(store, a, b, c)
    r = route(per_run=3)
    sender = FakeSender()
    first, second = posted_before(sender, r, a, b)
    await store.pin(r.id, b.id, None, None)  # pinned there, and posted: pinned no more

    d, _ = deliverer(store, sender, r)
    assert await d.adopt_posts() == [
        Release(a.id, Outcome.ADOPTED, first),
        Release(b.id, Outcome.ADOPTED, second),
    ]
    assert await d.release(r, 3) == [Release(c.id, Outcome.SENT, 1002)]
    assert sender.posted_ids(r.id) == [a.id, b.id, c.id]
    for article, message_id in ((a, first), (b, second)):
        done = await recorded(store, article.id, r.id)
        assert (done.state, done.message_id) == (DeliveryState.SENT, message_id)
    assert await store.pins(r.id) == []
    audit = [(e.action, e.result, e.article_id, e.detail) for e in await store.audit_log()]
    assert audit == [
        ("adopt", "ok", b.id, f"message {second} already in the channel"),
        ("adopt", "ok", a.id, f"message {first} already in the channel"),
    ]
    assert await d.adopt_posts() == []  # read once: nothing more to adopt


async def test_a_run_adopts_before_it_sends_even_without_the_start_up_check(
    store: SQLiteStore,
) -> None:
    """A scheduled run may come before the start-up check: it reads the channel first."""
    a, b = story(1, 90), story(2, 80)
    await add(store, a, b)
    r = route()
    sender = FakeSender()
    (first,) = posted_before(sender, r, a)
    await store.set_delivery(a.id, r.id, DeliveryState.FAILED, error="HTTP 400")  # an older db

    d, _ = deliverer(store, sender, r)
    assert await d.tick(r) == [Release(b.id, Outcome.SENT, 1001)]
    assert sender.posted_ids(r.id) == [a.id, b.id]
    done = await recorded(store, a.id, r.id)
    assert (done.state, done.message_id, done.last_error) == (DeliveryState.SENT, first, None)


async def test_a_story_loaded_after_the_channel_was_read_is_adopted_before_a_send(
    store: SQLiteStore,
) -> None:
    a, b = story(1, 90), story(2, 80)
    await add(store, b)
    r = route()
    sender = FakeSender()
    (first,) = posted_before(sender, r, a)  # a's post, a not loaded yet

    d, _ = deliverer(store, sender, r)
    assert await d.adopt_posts() == []
    await add(store, a)  # the first load ends after the start-up check
    assert await d.release(r, 1) == [Release(b.id, Outcome.SENT, 1001)]
    assert await d.release(r, 1) == []
    assert sender.posted_ids(r.id) == [a.id, b.id]
    assert (await recorded(store, a.id, r.id)).message_id == first


async def test_a_post_is_found_by_its_nonce_when_its_link_changed(store: SQLiteStore) -> None:
    old = story(1, 90)
    await add(store, old)
    r = route()
    claimed = await store.claim(old.id, r.id)  # in flight in the restored backup
    assert claimed is not None
    sender = FakeSender()
    moved = replace(old, url="https://example.com/moved")  # the post shows another link
    sender.messages[r.id] = [(77, claimed.nonce, build_post(moved))]

    d, _ = deliverer(store, sender, r)
    assert await d.reconcile() == [Release(old.id, Outcome.RECORDED, 77)]
    assert sender.send_calls == 0
    done = await recorded(store, old.id, r.id)
    assert (done.state, done.message_id) == (DeliveryState.SENT, 77)


async def test_a_post_of_a_story_sent_with_another_message_keeps_the_record(
    store: SQLiteStore,
) -> None:
    a = story(1, 90)
    await add(store, a)
    r = route()
    sender = FakeSender()
    first, second = posted_before(sender, r, a, a)  # posted twice (two bots, long ago)
    await store.set_delivery(a.id, r.id, DeliveryState.SENT, message_id=second)

    d, _ = deliverer(store, sender, r)
    assert await d.adopt_posts() == []
    assert (await recorded(store, a.id, r.id)).message_id == second
    assert await store.audit_log() == []
    assert first != second


async def test_a_channel_that_cannot_be_read_gets_no_post_until_it_can(store: SQLiteStore) -> None:
    a, b = story(1, 90), story(2, 80)
    await add(store, a, b)
    r = route()

    class Unreadable(FakeSender):
        down: bool = True

        async def recent_posts(self, route: Route) -> list[Posted]:
            if self.down:
                raise SendError(ErrorKind.TRANSIENT, "Service Unavailable", 503)
            return await super().recent_posts(route)

    sender = Unreadable()
    (first,) = posted_before(sender, r, a)
    d, _ = deliverer(store, sender, r)
    assert await d.tick(r) == []
    assert await d.tick(r) == []
    assert sender.send_calls == 0
    assert sender.notices == [
        "#news-10: cannot read the channel's recent posts (HTTP 503: Service Unavailable);"
        " nothing is posted there until it can be read"
    ]
    sender.down = False
    assert await d.tick(r) == [Release(b.id, Outcome.SENT, 1001)]
    assert (await recorded(store, a.id, r.id)).message_id == first


@pytest.mark.parametrize(
    ("status", "kind", "paused", "disabled"),
    [(403, ErrorKind.FORBIDDEN, True, False), (404, ErrorKind.NOT_FOUND, False, True)],
)
async def test_a_channel_refusing_the_read_is_paused_or_disabled_as_by_a_send(
    store: SQLiteStore, status: int, kind: ErrorKind, paused: bool, disabled: bool
) -> None:
    a = story(1, 90)
    await add(store, a)
    r = route()

    class Refusing(FakeSender):
        async def recent_posts(self, route: Route) -> list[Posted]:
            raise SendError(kind, "refused", status, 50013 if status == 403 else 10003)

    sender = Refusing()
    d, _ = deliverer(store, sender, r)
    assert await d.tick(r) == []
    state = await store.route_state(r.id)
    assert (state.paused, state.disabled) == (paused, disabled)
    assert sender.send_calls == 0
    assert await store.delivery(a.id, r.id) is None  # still queued


# --------------------------------------------------------------------------- shards

ON_0, ON_1 = 2 << 22, 3 << 22  # guild ids on shards 0 and 1 of 2


def sharded(store: SQLiteStore, sender: FakeSender, *routes: Route) -> Deliverer:
    d, _ = deliverer(store, sender, *routes)
    d.settings = replace(d.settings, shards=Shards((0,), 2))
    return d


async def test_a_sharded_deliverer_learns_and_keeps_its_routes_guilds(store: SQLiteStore) -> None:
    ours, theirs, lost, gone = route(10), route(11), route(12), route(13)
    d = sharded(store, FakeSender(), ours, theirs, lost, gone)
    asked: list[int] = []

    async def lookup(channel_id: int) -> int | None:
        asked.append(channel_id)
        if channel_id == 12:
            raise SendError(ErrorKind.NOT_FOUND, "Unknown Channel", 404, 10003)
        return {10: ON_0, 11: ON_1, 13: None}[channel_id]

    await d.load_guilds()
    assert d.routes() == ()  # nothing known yet: nothing runs
    assert await d.learn_guilds(lookup) == [ours]
    assert (d.split().run, d.split().elsewhere, d.split().unknown) == (
        (ours,),
        (theirs,),
        (lost, gone),
    )
    assert await store.route_guilds() == {10: ON_0, 11: ON_1}
    # a restart knows them from the store, and asks only for those still unknown
    again = sharded(store, FakeSender(), ours, theirs, lost, gone)
    await again.load_guilds()
    assert again.routes() == (ours,)
    asked.clear()
    assert await again.learn_guilds(lookup) == []
    assert asked == [12, 13]


async def test_without_shards_every_route_runs_and_nothing_is_asked(store: SQLiteStore) -> None:
    a, b = route(10), route(11)
    d, _ = deliverer(store, FakeSender(), a, b)

    async def lookup(channel_id: int) -> int | None:
        raise AssertionError("an unsharded bot asks no guild")

    await d.load_guilds()
    assert await d.learn_guilds(lookup) == []
    assert d.routes() == (a, b)
    assert await store.route_guilds() == {}


async def test_a_sharded_deliverer_leaves_other_shards_deliveries_and_edits_alone(
    store: SQLiteStore,
) -> None:
    a = story(1, 90)
    await store.apply_load([loaded("/a.md", a, "a1")])
    ours, theirs = route(10), route(11)
    sender = FakeSender()
    d = sharded(store, sender, ours, theirs)
    d.guilds = {10: ON_0, 11: ON_1}
    # Posted in both channels (ours by us; theirs by the other process), then edited;
    # and a delivery in flight in each: the other process may be sending its own now.
    for r in (ours, theirs):
        claimed = await store.claim(a.id, r.id)
        assert claimed is not None
        sent = await sender.send(r, build_post(a), claimed.nonce)
        await store.set_delivery(a.id, r.id, DeliveryState.SENT, message_id=sent.message_id)
    b, c = story(2, 80), story(3, 70)
    await add(store, b, c)
    for r in (ours, theirs):
        await store.claim(b.id, r.id)
    their_digest = await store.claim_digest(theirs.id, [c.id])  # their digest, in flight
    assert their_digest is not None
    changed = replace(a, related=(Related("Elsewhere", "https://other.example/x"),))
    await store.apply_load([loaded("/a.md", changed, "a2")])

    assert await d.refresh_posted() == 1
    assert [(c, m) for c, m, _ in sender.edits] == [(10, 1000)]
    assert pending(await store.pending_edits()) == [(a.id, 11)]  # for the other process

    assert await d.reconcile() == [Release(b.id, Outcome.SENT, 1002)]
    assert (await recorded(store, b.id, 11)).state is DeliveryState.SENDING
    assert await store.digests(theirs.id) == [their_digest]  # still theirs to settle
    assert sender.posted_ids(11) == [a.id]

    assert await d.adopt_posts() == []
    assert await d.check_routes() == {}
    assert sender.checks == 1  # its own route only


async def test_a_route_whose_shard_lease_is_lost_sends_nothing_from_that_moment(
    store: SQLiteStore,
) -> None:
    a, b = story(1, 90), story(2, 80)
    await add(store, a, b)
    ours = route(10, per_run=2)
    sender = FakeSender()
    d = sharded(store, sender, ours)
    await store.set_route_guild(10, ON_0)
    await d.load_guilds()
    held = {0}
    d.lease_left = lambda shard_id: math.inf if shard_id in held else 0.0
    original = sender.send

    async def send_then_lose(route: Route, post: Post, nonce: str) -> Sent:
        sent = await original(route, post, nonce)
        held.clear()  # the lease lapses while the first story is sent
        return sent

    sender.send = send_then_lose  # type: ignore[method-assign]
    assert [r.article_id for r in await d.tick(ours)] == [a.id]
    assert sender.send_calls == 1
    assert await store.delivery(b.id, 10) is None  # still queued, for the shard's next holder
    assert d.routes() == ()
    assert await d.tick(ours) == []
    assert await d.reconcile() == []
    assert sender.send_calls == 1


async def test_a_send_retried_after_its_shard_lease_lapsed_is_not_sent_again(
    store: SQLiteStore,
) -> None:
    a = story(1, 90)
    await add(store, a)
    ours = route(10)
    sender = FakeSender(failures=[SendError(ErrorKind.TRANSIENT, "Service Unavailable", 503)])
    d = sharded(store, sender, ours)
    await store.set_route_guild(10, ON_0)
    await d.load_guilds()
    held = {0}
    d.lease_left = lambda shard_id: math.inf if shard_id in held else 0.0

    async def lapse_while_waiting(seconds: float) -> None:
        held.clear()  # the lease lapses during the backoff before the retry

    d.sleep = lapse_while_waiting
    [result] = await d.tick(ours)
    assert (result.article_id, result.outcome) == (a.id, Outcome.UNAVAILABLE)
    assert sender.send_calls == 1  # no retry: the shard's next holder looks first
    delivery = await store.delivery(a.id, 10)
    assert delivery is not None and delivery.state is DeliveryState.SENDING
