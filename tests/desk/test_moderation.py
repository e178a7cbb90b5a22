"""The moderators' core (bot.desk.moderation) on a real SQLite store: rights, exact store changes,
exact audit entries, and the polite refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from bot.curation.ranking import route_filter
from bot.delivery.deliverer import ErrorKind, Outcome, Release, SendError
from bot.desk.approval import ReviewAction
from bot.desk.moderation import (
    Actor,
    Explained,
    Moderation,
    ModerationError,
    Pinned,
    Posted,
    Refused,
    Result,
    Retried,
    RouteChanged,
    Skipped,
    Submitted,
    Unpinned,
)
from bot.models import Article
from bot.render.embeds import build_post
from bot.render.replies import moderation_reply, queue_embed
from bot.store import DeliveryState, RouteState, SQLiteStore, open_store
from tests import command_fakes as fx

PICK = "Start typing a title or an id and pick a story."
ROUTES = {r.id for r in (fx.AI, fx.DIGEST, fx.REVIEWED)}
HERE = frozenset(fx.channels())  # the channels of the guild they all act in
MIA = Actor(
    fx.MIA[0], fx.MIA[1], frozenset({fx.GUILD}), frozenset(ROUTES | {fx.UNCONFIGURED}), HERE
)
ROLF = Actor(fx.ROLF[0], fx.ROLF[1], frozenset({fx.GUILD, fx.MOD_ROLE}), frozenset(), HERE)
RITA = Actor(fx.RITA[0], fx.RITA[1], frozenset({fx.GUILD}), frozenset(), HERE)
# Manage Messages in #ai-news only.
ALF = Actor(4, "alf", frozenset({fx.GUILD}), frozenset({fx.AI.id}), HERE)


@pytest.fixture
async def store() -> AsyncIterator[SQLiteStore]:
    db = await open_store(":memory:")
    yield db  # type: ignore[misc]
    await db.close()


@pytest.fixture
def sender() -> fx.FakeSender:
    return fx.FakeSender()


@pytest.fixture
def desk(store: SQLiteStore, sender: fx.FakeSender) -> Moderation:
    config = fx.settings()
    return Moderation(store, config, fx.deliverer(store, sender, config))


@pytest.fixture
async def stories(store: SQLiteStore) -> list[Article]:
    return await fx.add_stories(
        store,
        fx.story("ibm", "IBM quits facial recognition", quality=90, topics=["AI", "Vision"]),
        fx.story("model", "A new language model", quality=80),
        fx.story("chips", "Chip makers race ahead", quality=70),
        fx.story("moon", "A rover lands on the moon", quality=60, topics=["Space"]),
    )


async def audit(store: SQLiteStore) -> list[tuple[Any, ...]]:
    """The audit log, oldest first, without the id and time."""
    return [
        (e.actor_id, e.actor_name, e.action, e.channel_id, e.article_id, e.detail, e.result)
        for e in reversed(await store.audit_log(100))
    ]


async def snapshot(store: SQLiteStore) -> tuple[Any, ...]:
    return (
        await store.article_count(),
        {r.id: await store.pins(r.id) for r in (fx.AI, fx.DIGEST, fx.REVIEWED)},
        await store.deliveries(),
        [await store.route_state(r.id) for r in (fx.AI, fx.DIGEST, fx.REVIEWED)],
    )


# --------------------------------------------------------------------------- rights


REFUSAL = (
    "Sorry, only moderators can do that: it needs the Manage Messages permission in <#{}>, "
    "or a moderator role."
)


async def test_every_action_refuses_a_member_without_rights_and_changes_nothing(
    store: SQLiteStore, desk: Moderation, sender: fx.FakeSender, stories: list[Article]
) -> None:
    ibm = stories[0].id
    await store.pin(fx.AI.id, stories[1].id, None, MIA.id)
    await store.set_delivery(stories[2].id, fx.AI.id, DeliveryState.FAILED, error="HTTP 400")
    await store.set_route_state(RouteState(fx.DIGEST.id, True, "paused by mia"))
    before = await snapshot(store)
    attempts = [
        ("queue.list", fx.AI.id, desk.list_queue(RITA, fx.AI.id)),
        ("queue.add", fx.AI.id, desk.add(RITA, ibm, fx.AI.id, 1)),
        ("queue.remove", fx.AI.id, desk.remove(RITA, stories[1].id, fx.AI.id)),
        ("queue.move", fx.AI.id, desk.move(RITA, ibm, fx.AI.id, 1)),
        ("queue.skip", fx.AI.id, desk.skip(RITA, ibm, fx.AI.id)),
        ("queue.post", fx.AI.id, desk.post_now(RITA, fx.AI.id)),
        ("queue.pause", fx.AI.id, desk.pause(RITA, fx.AI.id)),
        ("queue.resume", fx.DIGEST.id, desk.resume(RITA, fx.DIGEST.id)),
        ("queue.retry", fx.AI.id, desk.retry(RITA, fx.AI.id)),
        ("queue.why", fx.AI.id, desk.why(RITA, ibm, fx.AI.id)),
        (
            "queue.submit",
            fx.AI.id,
            desk.submit(RITA, "https://x.example/a", "A", channel_id=fx.AI.id),
        ),
    ]
    for _, channel_id, attempt in attempts:
        with pytest.raises(Refused) as caught:
            await attempt
        assert caught.value.message == REFUSAL.format(channel_id)
        assert caught.value.record is not None and caught.value.record.echo
    with pytest.raises(Refused) as caught:
        await desk.list_queue(RITA)
    assert caught.value.message == (
        "Sorry, only moderators can do that: it needs the Manage Messages permission in a "
        "Newsdesk channel of this server, or a moderator role."
    )
    assert await snapshot(store) == before
    assert sender.sent == []
    assert await audit(store) == [
        *(
            (3, "rita", action, channel_id, None, "not a moderator here", "refused")
            for action, channel_id, _ in attempts
        ),
        (3, "rita", "queue.list", None, None, "not a moderator here", "refused"),
    ]


async def test_manage_messages_counts_only_in_that_channel(
    store: SQLiteStore, desk: Moderation
) -> None:
    changed = await desk.pause(ALF, fx.AI.id)
    assert changed.state == RouteState(fx.AI.id, True, "paused by alf")
    with pytest.raises(Refused):
        await desk.pause(ALF, fx.DIGEST.id)
    assert await store.route_state(fx.DIGEST.id) == RouteState(fx.DIGEST.id)
    listing = await desk.list_queue(ALF)
    assert [q.route.id for q in listing.channels] == [fx.AI.id]


async def test_the_moderator_role_works_without_the_permission(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    result = await desk.add(ROLF, stories[3].id, fx.DIGEST.id)
    assert isinstance(result, Pinned) and result.position == 1
    assert await store.pins(fx.DIGEST.id) == [stories[3].id]
    listing = await desk.list_queue(ROLF)
    assert [q.route.id for q in listing.channels] == [fx.AI.id, fx.DIGEST.id, fx.REVIEWED.id]
    assert await audit(store) == [
        (2, "rolf", "queue.add", 102, stories[3].id, "pinned at position 1 of 1", "ok"),
        (2, "rolf", "queue.list", None, None, "3 channel(s)", "ok"),
    ]


async def test_listing_every_channel_works_out_only_the_channels_shown(
    store: SQLiteStore, desk: Moderation, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.desk.moderation

    monkeypatch.setattr(bot.desk.moderation, "LIST_CHANNELS", 2)
    asked: list[int] = []
    upcoming = desk.deliverer.upcoming

    async def counted(route: Any, count: int) -> Any:
        asked.append(route.id)
        return await upcoming(route, count)

    monkeypatch.setattr(desk.deliverer, "upcoming", counted)
    listing = await desk.list_queue(ROLF)
    assert [q.route.id for q in listing.channels] == asked == [fx.AI.id, fx.DIGEST.id]
    assert listing.more == 1
    assert queue_embed(listing).footer.text == "…and 1 more channels: pick one with channel:"
    assert (await audit(store))[-1] == (2, "rolf", "queue.list", None, None, "3 channel(s)", "ok")


async def test_a_channel_that_is_no_route_is_named_with_the_configured_ones(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    with pytest.raises(ModerationError) as caught:
        await desk.add(MIA, stories[0].id, fx.UNCONFIGURED)
    assert caught.value.message == (
        "<#104> is not a Newsdesk channel; configured: <#101>, <#102>, <#103>."
    )
    assert caught.value.record is not None and not caught.value.record.echo
    assert await store.pins(fx.UNCONFIGURED) == []
    assert await audit(store) == [
        (1, "mia", "queue.add", 104, None, caught.value.message, "error"),
    ]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("nosuch12", f"No story has the id `nosuch12`. {PICK}"),
        ("`@everyone`", f"No story has the id `ˋ@everyoneˋ`. {PICK}"),
        ("https://elsewhere.example/x", "No story has that link. /queue submit adds a new one."),
    ],
)
async def test_an_unknown_story_is_a_polite_error(
    store: SQLiteStore, desk: Moderation, typed: str, message: str
) -> None:
    with pytest.raises(ModerationError) as caught:
        await desk.skip(MIA, typed, fx.AI.id)
    assert caught.value.message == message
    assert await store.deliveries() == []


async def test_a_story_is_found_by_its_id_as_typed_or_by_its_url(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    ibm = stories[0]
    typed = ibm.id.upper().replace("1", "l").replace("0", "O")
    assert (await desk.add(MIA, f" {typed} ", fx.AI.id)).article == ibm
    by_url = await desk.add(MIA, "https://NEWS.example.com/model/?utm_source=x", fx.AI.id)
    assert by_url.article == stories[1]
    assert await store.pins(fx.AI.id) == [ibm.id, stories[1].id]


# --------------------------------------------------------------------------- pins


async def test_add_move_and_remove_keep_the_pinned_order(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    a, b, c, _ = (s.id for s in stories)
    first = await desk.add(MIA, a, fx.AI.id)
    assert (first.position, first.length, first.previous) == (1, 1, None)
    second = await desk.add(MIA, b, fx.AI.id)
    assert (second.position, second.length, second.previous) == (2, 2, None)
    third = await desk.add(MIA, c, fx.AI.id, 1)
    assert (third.position, third.length, third.previous) == (1, 3, None)
    assert await store.pins(fx.AI.id) == [c, a, b]
    again = await desk.add(MIA, a, fx.AI.id)  # already pinned, no position: stays put
    assert (again.position, again.length, again.previous) == (2, 3, 2)
    moved = await desk.move(MIA, b, fx.AI.id, 1)
    assert (moved.position, moved.length, moved.previous) == (1, 3, 3)
    assert await store.pins(fx.AI.id) == [b, c, a]
    removed = await desk.remove(MIA, c, fx.AI.id)
    assert isinstance(removed, Unpinned) and removed.article == stories[2]
    assert await store.pins(fx.AI.id) == [b, a]
    with pytest.raises(ModerationError) as caught:
        await desk.remove(MIA, c, fx.AI.id)
    assert caught.value.message == (
        f"`{c}` is not pinned in <#101>. To keep it from being posted there, use /queue skip."
    )
    assert [row[2:] for row in await audit(store)] == [
        ("queue.add", 101, a, "pinned at position 1 of 1", "ok"),
        ("queue.add", 101, b, "pinned at position 2 of 2", "ok"),
        ("queue.add", 101, c, "pinned at position 1 of 3", "ok"),
        ("queue.add", 101, a, "already pinned at position 2", "ok"),
        ("queue.move", 101, b, "moved from position 3 to position 1 of 3", "ok"),
        ("queue.remove", 101, c, "unpinned", "ok"),
        ("queue.remove", 101, c, caught.value.message, "error"),
    ]
    items = await desk.deliverer.upcoming(fx.AI, 3)
    assert [(i.article.id, i.pinned) for i in items] == [(b, True), (a, True), (c, False)]


async def test_pinning_notes_the_filters_it_overrides(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    moon = stories[3]
    pinned = await desk.add(MIA, moon.id, fx.AI.id)
    assert pinned.notes == ("none of its topics (Space) is one of the channel's (ai)",)
    assert [i.article.id for i in await desk.deliverer.upcoming(fx.AI, 1)] == [moon.id]


@pytest.mark.parametrize(
    ("state", "error", "message"),
    [
        (DeliveryState.SENT, None, "`{id}` was already posted in <#101>."),
        (DeliveryState.SKIPPED, None,
         "`{id}` was skipped for <#101>; a skipped story does not come back."),
        (DeliveryState.FAILED, "HTTP 400 code 50035: Invalid Form Body",
         "Posting `{id}` in <#101> failed (`HTTP 400 code 50035: Invalid Form Body`). "
         "/queue retry puts the channel's failed stories back."),
        (DeliveryState.SENDING, None, "`{id}` is being posted in <#101> right now."),
    ],
)  # fmt: skip
async def test_a_story_done_for_the_channel_cannot_be_pinned(
    store: SQLiteStore,
    desk: Moderation,
    stories: list[Article],
    state: DeliveryState,
    error: str | None,
    message: str,
) -> None:
    ibm = stories[0].id
    await store.set_delivery(ibm, fx.AI.id, state, error=error)
    with pytest.raises(ModerationError) as caught:
        await desk.add(MIA, ibm, fx.AI.id)
    assert caught.value.message == message.format(id=ibm)
    assert await store.pins(fx.AI.id) == []


# --------------------------------------------------------------------------- skip


async def test_skip_marks_the_delivery_and_the_story_never_comes_back(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    ibm = stories[0].id
    await store.pin(fx.AI.id, ibm, None, MIA.id)
    skipped = await desk.skip(MIA, ibm, fx.AI.id)
    assert isinstance(skipped, Skipped)
    assert (skipped.previous, skipped.unpinned) == (None, True)
    delivery = await store.delivery(ibm, fx.AI.id)
    assert delivery is not None
    assert (delivery.state, delivery.decided_by, delivery.last_error) == (
        DeliveryState.SKIPPED,
        MIA.id,
        "by mia",
    )
    assert await store.pins(fx.AI.id) == []
    queue = await store.next_for_channel(route_filter(fx.AI, fx.NOW), 10)
    assert ibm not in [i.article.id for i in queue]
    with pytest.raises(ModerationError) as caught:
        await desk.skip(MIA, ibm, fx.AI.id)
    assert caught.value.message == f"`{ibm}` is already skipped for <#101>."
    # The other channels are not affected.
    assert await store.delivery(ibm, fx.DIGEST.id) is None


async def test_a_send_cut_short_can_be_skipped_but_not_one_in_flight(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    ibm = stories[0].id
    assert await store.claim(ibm, fx.AI.id) is not None  # ...and the bot died mid-send
    async with desk.deliverer.lock(fx.AI.id):  # a run of the channel is sending it
        with pytest.raises(ModerationError) as caught:
            await desk.skip(MIA, ibm, fx.AI.id)
        assert caught.value.message == f"`{ibm}` is being posted in <#101> right now."

    skipped = await desk.skip(MIA, ibm, fx.AI.id)  # no run: the send was cut short
    assert skipped.previous is DeliveryState.SENDING
    delivery = await store.delivery(ibm, fx.AI.id)
    assert delivery is not None and delivery.state is DeliveryState.SKIPPED
    assert moderation_reply(skipped).content == (
        f"⏭️ Skipped `{ibm}` **{stories[0].title}**: it will not be posted in <#101>. Its "
        "last send was cut short: if it reached the channel, it stays there."
    )
    assert [r.article_id for r in await desk.deliverer.release(fx.AI, 1)] != [ibm]


async def test_a_posted_story_cannot_be_skipped(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    ibm = stories[0].id
    await store.set_delivery(ibm, fx.AI.id, DeliveryState.SENT, message_id=77)
    with pytest.raises(ModerationError) as caught:
        await desk.skip(MIA, ibm, fx.AI.id)
    assert caught.value.message == f"`{ibm}` was already posted in <#101>."
    delivery = await store.delivery(ibm, fx.AI.id)
    assert delivery is not None and delivery.state is DeliveryState.SENT


# --------------------------------------------------------------------------- post, pause, retry


async def test_post_now_releases_the_next_story(
    store: SQLiteStore, desk: Moderation, sender: fx.FakeSender, stories: list[Article]
) -> None:
    chips = stories[2].id
    await store.pin(fx.AI.id, chips, None, MIA.id)
    posted = await desk.post_now(MIA, fx.AI.id)
    assert isinstance(posted, Posted)
    assert posted.release == Release(chips, Outcome.SENT, 5000)
    assert (posted.article, posted.paused) == (stories[2], False)
    delivery = await store.delivery(chips, fx.AI.id)
    assert delivery is not None and delivery.state is DeliveryState.SENT
    assert sender.sent == [(fx.AI.id, chips, delivery.nonce)]
    assert await store.pins(fx.AI.id) == []
    assert (await audit(store))[-1] == (
        1, "mia", "queue.post", 101, chips, "posted (message 5000)", "ok"
    )  # fmt: skip


async def test_post_now_records_a_cut_short_send_that_had_arrived(
    store: SQLiteStore, desk: Moderation, sender: fx.FakeSender, stories: list[Article]
) -> None:
    ibm = stories[0]
    claimed = await store.claim(ibm.id, fx.AI.id)  # sent, then the bot died before recording
    assert claimed is not None
    await sender.send(fx.AI, build_post(ibm), claimed.nonce)

    posted = await desk.post_now(MIA, fx.AI.id)
    assert posted.release == Release(ibm.id, Outcome.RECORDED, 5000)
    assert len(sender.sent) == 1  # not sent again
    delivery = await store.delivery(ibm.id, fx.AI.id)
    assert delivery is not None and (delivery.state, delivery.message_id) == (
        DeliveryState.SENT,
        5000,
    )
    assert (await audit(store))[-1] == (
        1, "mia", "queue.post", 101, ibm.id, "posted (message 5000)", "ok"
    )  # fmt: skip


async def test_post_now_during_an_outage_keeps_the_story_queued(
    store: SQLiteStore, desk: Moderation, sender: fx.FakeSender, stories: list[Article]
) -> None:
    sender.fail = SendError(ErrorKind.TRANSIENT, "Service Unavailable", 503)
    posted = await desk.post_now(MIA, fx.AI.id)
    ibm = stories[0].id
    assert posted.release == Release(
        ibm, Outcome.UNAVAILABLE, None, "HTTP 503: Service Unavailable"
    )
    delivery = await store.delivery(ibm, fx.AI.id)
    assert delivery is not None
    assert (delivery.state, delivery.last_error) == (
        DeliveryState.PENDING,
        "HTTP 503: Service Unavailable",
    )
    assert moderation_reply(posted).content == (
        f"Discord did not take `{ibm}` **{stories[0].title}** in <#101>: "
        "`HTTP 503: Service Unavailable`. It stays queued; the channel's next run tries "
        "again, or /queue post once Discord is back."
    )
    sender.fail = None
    assert (await desk.post_now(MIA, fx.AI.id)).release == Release(ibm, Outcome.SENT, 5000)


async def test_post_now_reports_discords_refusal(
    store: SQLiteStore, desk: Moderation, sender: fx.FakeSender, stories: list[Article]
) -> None:
    sender.fail = SendError(ErrorKind.BAD_REQUEST, "Invalid Form Body", 400, 50035)
    posted = await desk.post_now(MIA, fx.AI.id)
    ibm = stories[0].id
    assert posted.release == Release(
        ibm, Outcome.FAILED, None, "HTTP 400 code 50035: Invalid Form Body"
    )
    delivery = await store.delivery(ibm, fx.AI.id)
    assert delivery is not None and delivery.state is DeliveryState.FAILED
    assert (await audit(store))[-1] == (
        1, "mia", "queue.post", 101, ibm,
        "not posted: HTTP 400 code 50035: Invalid Form Body", "failed",
    )  # fmt: skip
    sender.fail = None
    retried = await desk.retry(MIA, fx.AI.id)
    assert retried == Retried(fx.AI, 1, retried.record)
    delivery = await store.delivery(ibm, fx.AI.id)
    assert delivery is not None and delivery.state is DeliveryState.PENDING
    assert (await desk.retry(MIA, fx.AI.id)).count == 0
    assert [row[5] for row in (await audit(store))[-2:]] == [
        "1 failed back to pending",
        "0 failed back to pending",
    ]


async def test_post_now_with_nothing_to_post(
    store: SQLiteStore, desk: Moderation, sender: fx.FakeSender
) -> None:
    posted = await desk.post_now(MIA, fx.AI.id)
    assert (posted.release, posted.article) == (None, None)
    assert sender.sent == []


async def test_post_now_refuses_a_disabled_channel(
    store: SQLiteStore, desk: Moderation, sender: fx.FakeSender, stories: list[Article]
) -> None:
    await store.set_route_state(RouteState(fx.AI.id, disabled=True, disabled_reason="gone"))
    with pytest.raises(ModerationError) as caught:
        await desk.post_now(MIA, fx.AI.id)
    assert caught.value.message == (
        "<#101> is disabled (`gone`). Fix the channel id in the config and restart the bot."
    )
    assert sender.sent == []


async def test_pause_and_resume_persist_with_who_and_stop_the_schedule(
    store: SQLiteStore, desk: Moderation, sender: fx.FakeSender, stories: list[Article]
) -> None:
    paused = await desk.pause(MIA, fx.AI.id)
    assert paused == RouteChanged(fx.AI, RouteState(101, True, "paused by mia"), paused.record)
    assert await store.route_state(fx.AI.id) == RouteState(101, True, "paused by mia")
    assert await desk.deliverer.tick(fx.AI) == []
    with pytest.raises(ModerationError) as caught:
        await desk.pause(MIA, fx.AI.id)
    assert caught.value.message == "<#101> is already paused (`paused by mia`)."
    resumed = await desk.resume(ROLF, fx.AI.id)
    assert resumed.state == RouteState(101)
    assert await store.route_state(fx.AI.id) == RouteState(101)
    with pytest.raises(ModerationError) as caught:
        await desk.resume(MIA, fx.AI.id)
    assert caught.value.message == "<#101> is not paused."
    assert [r.article_id for r in await desk.deliverer.tick(fx.AI)] == [stories[0].id]
    assert [row[:3] + row[5:] for row in await audit(store)] == [
        (1, "mia", "queue.pause", "paused", "ok"),
        (1, "mia", "queue.pause", "<#101> is already paused (`paused by mia`).", "error"),
        (2, "rolf", "queue.resume", "resumed (was paused by mia)", "ok"),
        (1, "mia", "queue.resume", "<#101> is not paused.", "error"),
    ]


async def test_resume_enables_a_channel_disabled_by_a_404(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    reason = "unknown channel (HTTP 404 code 10003: Unknown Channel)"
    await store.set_route_state(RouteState(101, False, None, True, reason))
    assert await desk.deliverer.tick(fx.AI) == []
    resumed = await desk.resume(ROLF, fx.AI.id)
    assert resumed.state == RouteState(101)
    assert resumed.record is not None
    assert resumed.record.detail == f"resumed (was disabled: {reason})"
    assert [r.article_id for r in await desk.deliverer.tick(fx.AI)] == [stories[0].id]


# --------------------------------------------------------------------------- why


async def test_why_names_every_reason(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    ibm, model, chips, moon = stories

    async def why(article: Article) -> tuple[str, ...]:
        result = await desk.why(MIA, article.id, fx.AI.id)
        assert isinstance(result, Explained)
        return result.reasons

    assert await why(ibm) == ("it is number 1 in the channel's queue",)
    assert await why(chips) == ("it is number 3 in the channel's queue",)
    assert await why(moon) == ("none of its topics (Space) is one of the channel's (ai)",)
    await store.set_delivery(
        model.id, fx.AI.id, DeliveryState.FAILED, error="HTTP 403: Missing Access"
    )
    assert await why(model) == ("sending failed after 0 attempt(s): HTTP 403: Missing Access",)
    await desk.skip(MIA, chips.id, fx.AI.id)
    assert await why(chips) == ("a moderator skipped it for this channel: by mia",)
    await desk.pause(MIA, fx.AI.id)
    assert await why(ibm) == ("the channel is paused: paused by mia",)
    await store.set_delivery(ibm.id, fx.AI.id, DeliveryState.SENT, message_id=42)
    assert await why(ibm) == (
        "it was already posted there (message 42)",
        "the channel is paused: paused by mia",
    )
    entries = await audit(store)
    assert entries[0] == (
        1, "mia", "queue.why", 101, ibm.id, "it is number 1 in the channel's queue", "ok"
    )  # fmt: skip


async def test_why_says_a_story_is_merged_into_its_event(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    ibm = stories[0]

    async def why(article: Article) -> tuple[str, ...]:
        return (await desk.why(MIA, article.id, fx.AI.id)).reasons

    [late] = await fx.add_stories(
        store, fx.story("ibm-2", "IBM quits facial recognition business", quality=50)
    )
    assert await why(late) == (
        f"it is merged into {ibm.id}: its event is posted once, as that story",
    )
    await store.set_delivery(ibm.id, fx.AI.id, DeliveryState.SENT, message_id=42)
    [best] = await fx.add_stories(
        store, fx.story("ibm-3", "IBM quits facial recognition", quality=95)
    )
    assert await why(best) == (
        f"another story of its event, {ibm.id}, was already posted there (message 42)",
    )
    assert await why(ibm) == (
        "it was already posted there (message 42)",
        f"it is merged into {best.id}: its event is posted once, as that story",
    )
    assert await why(late) == (
        f"it is merged into {best.id}: its event is posted once, as that story",
        f"another story of its event, {ibm.id}, was already posted there (message 42)",
    )


async def test_split_and_merge_regroup_events_and_are_audited(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    ibm, model = stories[0], stories[1]
    [late] = await fx.add_stories(
        store, fx.story("ibm-2", "IBM quits facial recognition business", quality=50)
    )
    assert await store.event_of(late.id) == [ibm.id, late.id]

    split = await desk.split(MIA, late.id, fx.AI.id)
    assert (split.others, split.lead) == ((ibm.id,), None)
    assert await store.event_of(late.id) == []
    with pytest.raises(ModerationError) as caught:
        await desk.split(MIA, late.id, fx.AI.id)
    assert (
        caught.value.message == f"`{late.id}` is not merged with another story: nothing to split."
    )

    merged = await desk.merge(MIA, model.id, late.id, fx.AI.id)
    assert (merged.others, merged.lead) == ((late.id,), model.id)
    assert await store.event_of(late.id) == [model.id, late.id]
    with pytest.raises(ModerationError) as caught:
        await desk.merge(MIA, model.id, model.id, fx.AI.id)
    assert caught.value.message == f"`{model.id}` is one story: name two to merge."
    with pytest.raises(ModerationError):
        await desk.split(RITA, model.id, fx.AI.id)  # not a moderator
    assert await store.event_of(model.id) == [model.id, late.id]
    assert [row for row in await audit(store) if row[2] in ("queue.split", "queue.merge")] == [
        (1, "mia", "queue.split", 101, late.id, f"split from {ibm.id}", "ok"),
        (1, "mia", "queue.split", 101, late.id, caught_split(late.id), "error"),
        (1, "mia", "queue.merge", 101, model.id, f"merged with {late.id}, led by {model.id}", "ok"),
        (
            1,
            "mia",
            "queue.merge",
            101,
            model.id,
            f"`{model.id}` is one story: name two to merge.",
            "error",
        ),
        (3, "rita", "queue.split", 101, None, "not a moderator here", "refused"),
    ]


def caught_split(article_id: str) -> str:
    return f"`{article_id}` is not merged with another story: nothing to split."


async def test_why_names_the_word_or_provider_filter_that_excludes_a_story(
    store: SQLiteStore, sender: fx.FakeSender, stories: list[Article]
) -> None:
    ai = replace(fx.AI, exclude_words=("chip",), exclude_providers=("example.com",))
    config = fx.settings(channels=(ai, fx.DIGEST, fx.REVIEWED))
    desk = Moderation(store, config, fx.deliverer(store, sender, config))
    result = await desk.why(MIA, stories[2].id, ai.id)
    assert isinstance(result, Explained)
    assert result.reasons == ('excluded by exclude_words: "chip"',)
    result = await desk.why(MIA, stories[0].id, ai.id)
    assert isinstance(result, Explained)
    assert result.reasons == ('excluded by exclude_providers: "example.com"',)


async def test_why_on_an_approval_route_before_review(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    result = await desk.why(MIA, stories[0].id, fx.REVIEWED.id)
    assert result.reasons == (
        "stories here are posted only once a moderator approves them in <#201>, and it has "
        "not been offered for review yet",
    )


# --------------------------------------------------------------------------- submit


async def test_submit_refuses_a_javascript_url_and_stores_nothing(
    store: SQLiteStore, desk: Moderation
) -> None:
    with pytest.raises(ModerationError) as caught:
        await desk.submit(MIA, "javascript:alert(document.cookie)", "Click me", channel_id=101)
    assert caught.value.message == (
        "Only web links can be submitted: the URL must start with http:// or https:// and "
        "name a host."
    )
    assert await store.article_count() == 0
    assert await store.pins(fx.AI.id) == []
    assert await audit(store) == [
        (1, "mia", "queue.submit", 101, None, caught.value.message, "error"),
    ]


async def test_submit_stores_a_moderator_story_and_pins_it(
    store: SQLiteStore, desk: Moderation
) -> None:
    result = await desk.submit(
        MIA,
        " https://www.example.org/scoop?utm_source=feed ",
        "  A   scoop ",
        "What happened.",
        "AI, Robots,ai,  ",
        75,
        fx.AI.id,
    )
    assert isinstance(result, Submitted)
    article = result.article
    assert (article.title, article.url, article.canonical_url) == (
        "A scoop",
        "https://www.example.org/scoop?utm_source=feed",
        "https://www.example.org/scoop",
    )
    assert (article.excerpt, article.topics, article.quality, article.source) == (
        "What happened.",
        ("AI", "Robots"),
        75,
        "moderator",
    )
    assert article.provider is not None
    assert (article.provider.name, article.provider.domain) == ("example.org", "example.org")
    assert await store.get_article(article.id) == article
    assert result.created and result.pinned is not None and result.pinned.position == 1
    assert await store.pins(fx.AI.id) == [article.id]
    again = await desk.submit(MIA, "https://www.example.org/scoop", "Other title")
    assert (again.article, again.created, again.pinned) == (article, False, None)
    assert [row[2:] for row in await audit(store)] == [
        ("queue.submit", 101, article.id, "submitted for <#101>; pinned at position 1 of 1", "ok"),
        ("queue.submit", None, article.id, "already known for <#101>, <#102>, <#103>", "ok"),
    ]


# --------------------------------------------------------------------------- records


async def test_records_say_what_to_echo(
    store: SQLiteStore, desk: Moderation, stories: list[Article]
) -> None:
    listing = await desk.list_queue(MIA, fx.AI.id)
    assert listing.record is not None and (listing.record.result, listing.record.echo) == (
        Result.OK,
        False,
    )
    skipped = await desk.skip(MIA, stories[0].id, fx.AI.id)
    assert skipped.record is not None and skipped.record.echo
    assert skipped.record.detail == "skipped"


async def test_an_internal_error_is_audited_and_raised_unchanged(
    store: SQLiteStore,
    desk: Moderation,
    stories: list[Article],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(route: object, count: int) -> list[Release]:
        raise RuntimeError("the scheduler lock is gone")

    monkeypatch.setattr(desk.deliverer, "release", broken)
    with pytest.raises(RuntimeError, match="the scheduler lock is gone"):
        await desk.post_now(MIA, fx.AI.id)
    assert await audit(store) == [
        (1, "mia", "queue.post", 101, None, "internal error (RuntimeError)", "error"),
    ]


# --------------------------------------------------------------------------- two guilds

HERE_B = frozenset(fx.channels_b())
# Guild B's moderator role, no Manage Messages anywhere; and Manage Messages in guild B's
# #b-news only, without a role.
BEA = Actor(fx.BEA[0], fx.BEA[1], frozenset({fx.GUILD_B, fx.MOD_ROLE_B}), frozenset(), HERE_B)
BOB = Actor(6, "bob", frozenset({fx.GUILD_B}), frozenset({fx.B_NEWS.id}), HERE_B)
A_ROUTES = [fx.AI.id, fx.DIGEST.id, fx.REVIEWED.id]
B_ROUTES = [fx.B_NEWS.id, fx.B_REVIEWED.id]
ELSEWHERE = (
    "Sorry, <#{}> is not a channel of this server: moderators act only on the channels of "
    "the server they use the command in."
)


def two_guild_desk(store: SQLiteStore, sender: fx.FakeSender) -> Moderation:
    config = fx.two_guilds()
    return Moderation(store, config, fx.deliverer(store, sender, config))


async def queues(store: SQLiteStore) -> dict[int, list[str]]:
    """Every route's ranked queue (an approval route's review candidates), as ids."""
    out: dict[int, list[str]] = {}
    for route in fx.two_guilds().channels:
        flt = route_filter(route, fx.NOW)
        if route.approval:
            out[route.id] = [a.id for a in await store.review_candidates(flt, 10)]
        else:
            out[route.id] = [i.article.id for i in await store.next_for_channel(flt, 10)]
    return out


async def test_a_submitted_story_competes_only_in_the_submitters_channels(
    tmp_path: Any, sender: fx.FakeSender
) -> None:
    path = str(tmp_path / "newsdesk.db")
    store = await SQLiteStore.open(path)
    try:
        desk = two_guild_desk(store, sender)
        ibm, model, moon = await fx.add_stories(
            store,
            fx.story("ibm", "IBM quits facial recognition", quality=90),
            fx.story("model", "A new language model", quality=80),
            fx.story("moon", "A rover lands on the moon", quality=60, topics=["Space"]),
        )
        # Manage Messages in #ai-news of guild A only; guild B's moderator role.
        alfs = await desk.submit(ALF, "https://scoop.example/a", "Alf's scoop", None, "AI", 100)
        beas = await desk.submit(BEA, "https://scoop.example/b", "Bea's scoop", None, "AI", 100)
        bobs = await desk.submit(BOB, "https://scoop.example/c", "Bob's scoop", None, "AI", 100)
        assert (alfs.channels, beas.channels, bobs.channels) == (
            (fx.AI.id,),
            (fx.B_NEWS.id, fx.B_REVIEWED.id),
            (fx.B_NEWS.id,),
        )
        assert moderation_reply(alfs).content == (
            f"📝 Stored `{alfs.article.id}` **Alf's scoop** as a moderator-submitted story.\n"
            "It competes only in the queues of <#101>."
        )
        a, b, c = alfs.article.id, beas.article.id, bobs.article.id
        expected = {
            fx.AI.id: [a, ibm.id, model.id],
            fx.DIGEST.id: [ibm.id, model.id, moon.id],
            fx.REVIEWED.id: [ibm.id, model.id, moon.id],
            fx.B_NEWS.id: [b, c, ibm.id, model.id, moon.id],
            fx.B_REVIEWED.id: [b, ibm.id, model.id, moon.id],
        }
        assert await queues(store) == expected
        # search still lists them all
        assert {s.id for s in (await store.search("scoop"))[0]} == {a, b, c}
        why = await desk.why(ROLF, a, fx.DIGEST.id)
        assert why.reasons == ("a moderator submitted it for other channels only (<#101>)",)
        pinned = await desk.add(ROLF, a, fx.DIGEST.id)  # a moderator of #daily-digest may
        assert pinned.notes == ("a moderator submitted it for other channels only (<#101>)",)
        await desk.remove(ROLF, a, fx.DIGEST.id)
        assert [row[2:] for row in (await audit(store))[:3]] == [
            ("queue.submit", None, a, "submitted for <#101>", "ok"),
            ("queue.submit", None, b, "submitted for <#501>, <#502>", "ok"),
            ("queue.submit", None, c, "submitted for <#501>", "ok"),
        ]
    finally:
        await store.close()
    store = await SQLiteStore.open(path)  # a restart keeps the rule
    try:
        assert await queues(store) == expected
        assert await store.submitted_for(a) == frozenset({fx.AI.id})
        assert await store.submitted_for(ibm.id) is None
    finally:
        await store.close()


async def test_submitting_a_known_story_adds_only_the_submitters_channels(
    store: SQLiteStore, sender: fx.FakeSender
) -> None:
    desk = two_guild_desk(store, sender)
    (ibm,) = await fx.add_stories(store, fx.story("ibm", "IBM quits facial recognition"))
    first = await desk.submit(ALF, "https://scoop.example/a", "Alf's scoop", None, "AI", 100)
    again = await desk.submit(BOB, "https://scoop.example/a", "Bob's title", None, None, 5)
    assert (again.created, again.article, again.channels) == (
        False,
        first.article,
        (fx.AI.id, fx.B_NEWS.id),
    )
    assert moderation_reply(again).content == (
        f"That link is already stored as `{first.article.id}` **Alf's scoop**.\n"
        "It competes only in the queues of <#101>, <#501>."
    )
    # A story from a file stays every channel's.
    known = await desk.submit(BOB, ibm.url, "IBM again")
    assert (known.created, known.channels) == (False, None)
    assert await store.submitted_for(ibm.id) is None
    assert (await queues(store))[fx.DIGEST.id] == [ibm.id]


async def test_a_moderator_role_of_one_guild_gives_no_rights_in_another(
    store: SQLiteStore, sender: fx.FakeSender, stories: list[Article]
) -> None:
    desk = two_guild_desk(store, sender)
    ibm, model, chips, _moon = stories
    await store.pin(fx.B_NEWS.id, model.id, None, BEA.id)
    await store.set_delivery(chips.id, fx.B_NEWS.id, DeliveryState.FAILED, error="HTTP 400")
    await store.set_delivery(ibm.id, fx.B_REVIEWED.id, DeliveryState.REVIEW)
    await store.set_route_state(RouteState(fx.B_REVIEWED.id, True, "paused by bea"))

    async def state() -> tuple[Any, ...]:
        return (
            await store.article_count(),
            {r: await store.pins(r) for r in A_ROUTES + B_ROUTES},
            await store.deliveries(),
            [await store.route_state(r) for r in A_ROUTES + B_ROUTES],
        )

    before = await state()
    b_news, b_reviewed = fx.B_NEWS.id, fx.B_REVIEWED.id
    attempts = [
        ("queue.list", b_news, None, desk.list_queue(ROLF, b_news)),
        ("queue.add", b_news, None, desk.add(ROLF, ibm.id, b_news, 1)),
        ("queue.remove", b_news, None, desk.remove(ROLF, model.id, b_news)),
        ("queue.move", b_news, None, desk.move(ROLF, ibm.id, b_news, 1)),
        ("queue.skip", b_news, None, desk.skip(ROLF, ibm.id, b_news)),
        ("queue.post", b_news, None, desk.post_now(ROLF, b_news)),
        ("queue.pause", b_news, None, desk.pause(ROLF, b_news)),
        ("queue.resume", b_reviewed, None, desk.resume(ROLF, b_reviewed)),
        ("queue.retry", b_news, None, desk.retry(ROLF, b_news)),
        ("queue.why", b_news, None, desk.why(ROLF, ibm.id, b_news)),
        (
            "queue.submit",
            b_news,
            None,
            desk.submit(ROLF, "https://scoop.example/x", "X", None, None, 100, b_news),
        ),
        (
            "review.approve",
            b_reviewed,
            ibm.id,
            desk.decide(ROLF, ReviewAction.APPROVE, ibm.id, b_reviewed),
        ),
    ]
    for _, channel_id, _, attempt in attempts:
        with pytest.raises(Refused) as caught:
            await attempt
        assert caught.value.message == ELSEWHERE.format(channel_id)
        assert caught.value.record is not None and caught.value.record.echo
    assert await state() == before
    assert sender.sent == sender.reviews == []
    assert await audit(store) == [
        (2, "rolf", action, channel_id, article_id, "channel of another server", "refused")
        for action, channel_id, article_id, _ in attempts
    ]
    # Listing every queue shows each moderator their own guild's.
    assert [q.route.id for q in (await desk.list_queue(ROLF)).channels] == A_ROUTES
    assert [q.route.id for q in (await desk.list_queue(BEA)).channels] == B_ROUTES
    assert [q.route.id for q in (await desk.list_queue(BOB)).channels] == [b_news]
    assert [r.id for r in desk.moderated(MIA)] == A_ROUTES
