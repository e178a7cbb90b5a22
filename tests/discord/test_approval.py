"""Approval mode: review requests, Approve/Reject buttons (also after a restart), and the
rule that an approval route posts only approved and pinned stories."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import discord
import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config.settings import Route, Settings
from bot.delivery.deliverer import ErrorKind, Outcome, Release, SendError, Sent
from bot.desk.approval import REVIEW_TEMPLATE, ReviewAction, review_custom_id, review_nonce
from bot.desk.moderation import Actor, Moderation, ModerationError, Refused
from bot.discord.client import EXTENSIONS, NewsdeskBot
from bot.discord.sender import DiscordSender
from bot.discord.ui import ReviewButton, review_view
from bot.models import Article
from bot.render.embeds import build_post
from bot.runtime.dry_run import ConsoleSender
from bot.store import DeliveryState, SQLiteStore, Store, open_store
from tests import command_fakes as fx
from tests.fake_discord import FakeDiscord

HERE = frozenset(fx.channels())  # the channels of the guild they act in
MIA = Actor(fx.MIA[0], fx.MIA[1], frozenset(), frozenset({fx.REVIEWED.id}), HERE)
ROLF = Actor(fx.ROLF[0], fx.ROLF[1], frozenset({fx.MOD_ROLE}), frozenset(), HERE)
RITA = Actor(fx.RITA[0], fx.RITA[1], frozenset(), frozenset(), HERE)
STORIES = (
    fx.story("ibm", "IBM quits facial recognition", quality=90),
    fx.story("model", "A new language model", quality=80),
    fx.story("chips", "Chip makers race ahead", quality=70),
    fx.story("moon", "A rover lands on the moon", quality=60, topics=["Space"]),
)
APPROVED_TEXT = "✅ Approved by <@1>: it will be posted in <#103> on the channel's schedule."


@pytest.fixture
async def store() -> AsyncIterator[SQLiteStore]:
    db = await open_store(":memory:")
    yield db  # type: ignore[misc]
    await db.close()


@pytest.fixture
async def stories(store: SQLiteStore) -> list[Article]:
    return await fx.add_stories(store, *STORIES)


def link_row(article: Article) -> dict[str, Any]:
    return {
        "type": 1,
        "components": [
            {
                "type": 2,
                "style": 5,
                "disabled": False,
                "label": "Read on Example News",
                "url": article.url,
            }
        ],
    }


async def state_of(store: Store, article: Article) -> tuple[Any, ...]:
    delivery = await store.delivery(article.id, fx.REVIEWED.id)
    assert delivery is not None
    return (delivery.state, delivery.review_message_id, delivery.decided_by, delivery.last_error)


# --------------------------------------------------------------------------- the schedule


async def test_an_approval_route_reviews_first_and_posts_only_approved_stories(
    store: SQLiteStore, stories: list[Article]
) -> None:
    ibm, model, chips, moon = stories
    sender = fx.FakeSender()
    config = fx.settings()
    deliverer = fx.deliverer(store, sender, config)
    desk = Moderation(store, config, deliverer)

    assert await deliverer.tick(fx.REVIEWED) == [
        Release(ibm.id, Outcome.REVIEW, 5000),
        Release(model.id, Outcome.REVIEW, 5001),
    ]
    assert sender.sent == []
    assert sender.reviews == [
        (103, ibm.id, review_nonce(ibm.id, 103)),
        (103, model.id, review_nonce(model.id, 103)),
    ]
    assert await state_of(store, ibm) == (DeliveryState.REVIEW, 5000, None, None)
    # Two runs' worth are in review: nothing more is asked until moderators decide.
    assert await deliverer.tick(fx.REVIEWED) == []

    await desk.decide(MIA, ReviewAction.APPROVE, ibm.id, fx.REVIEWED.id)
    await desk.decide(ROLF, ReviewAction.REJECT, model.id, fx.REVIEWED.id)
    assert await state_of(store, ibm) == (DeliveryState.APPROVED, 5000, 1, None)
    assert await state_of(store, model) == (DeliveryState.SKIPPED, 5001, 2, "rejected by rolf")

    assert await deliverer.tick(fx.REVIEWED) == [
        Release(ibm.id, Outcome.SENT, 5002),
        Release(chips.id, Outcome.REVIEW, 5003),
        Release(moon.id, Outcome.REVIEW, 5004),
    ]
    sent = await store.delivery(ibm.id, 103)
    assert sent is not None and sender.sent == [(103, ibm.id, sent.nonce)]
    # A rejected story never comes back; unapproved ones are never posted.
    assert await deliverer.release(fx.REVIEWED, 5) == []
    assert [row.action for row in reversed(await store.audit_log())] == [
        "review.approve",
        "review.reject",
    ]


async def test_a_pinned_story_is_posted_without_review_and_pinning_approves(
    store: SQLiteStore, stories: list[Article]
) -> None:
    ibm, model, chips, _ = stories
    sender = fx.FakeSender()
    config = fx.settings()
    deliverer = fx.deliverer(store, sender, config)
    desk = Moderation(store, config, deliverer)
    await deliverer.tick(fx.REVIEWED)  # ibm and model in review
    pinned = await desk.add(MIA, model.id, fx.REVIEWED.id)
    assert pinned.approved
    assert await state_of(store, model) == (DeliveryState.APPROVED, 5001, 1, None)
    await desk.add(MIA, chips.id, fx.REVIEWED.id)  # never reviewed
    released = await deliverer.release(fx.REVIEWED, 5)
    assert [(r.article_id, r.outcome) for r in released] == [
        (model.id, Outcome.SENT),
        (chips.id, Outcome.SENT),
    ]
    assert await state_of(store, ibm) == (DeliveryState.REVIEW, 5000, None, None)


async def test_a_review_channel_that_refuses_is_reported_and_nothing_recorded(
    store: SQLiteStore, stories: list[Article]
) -> None:
    sender = fx.FakeSender()
    sender.fail = SendError(ErrorKind.FORBIDDEN, "Missing Access", 403, 50001)
    deliverer = fx.deliverer(store, sender, fx.settings())
    assert await deliverer.tick(fx.REVIEWED) == []
    assert await store.deliveries() == []
    assert sender.notes == [
        f"Could not ask for a review of `{stories[0].id}` for #reviewed in the review "
        "channel: HTTP 403 code 50001: Missing Access"
    ]


async def test_decisions_need_rights_and_a_story_in_review(
    store: SQLiteStore, stories: list[Article]
) -> None:
    ibm = stories[0]
    config = fx.settings()
    deliverer = fx.deliverer(store, fx.FakeSender(), config)
    desk = Moderation(store, config, deliverer)
    await deliverer.tick(fx.REVIEWED)
    with pytest.raises(Refused):
        await desk.decide(RITA, ReviewAction.APPROVE, ibm.id, fx.REVIEWED.id)
    assert await state_of(store, ibm) == (DeliveryState.REVIEW, 5000, None, None)
    await desk.decide(MIA, ReviewAction.APPROVE, ibm.id, fx.REVIEWED.id)
    with pytest.raises(ModerationError) as caught:
        await desk.decide(ROLF, ReviewAction.REJECT, ibm.id, fx.REVIEWED.id)
    assert (
        caught.value.message == f"`{ibm.id}` is not waiting for review any more: it was approved."
    )
    assert await state_of(store, ibm) == (DeliveryState.APPROVED, 5000, 1, None)
    assert [(e.actor_name, e.action, e.result) for e in reversed(await store.audit_log())] == [
        ("rita", "review.approve", "refused"),
        ("mia", "review.approve", "ok"),
        ("rolf", "review.reject", "error"),
    ]


# --------------------------------------------------------------------------- the buttons


def test_review_buttons_carry_everything_in_their_custom_id() -> None:
    article = Article(
        id="j80stkmk", canonical_url="https://a.example/x", url="https://a.example/x", title="T"
    )
    view = review_view(build_post(article), 100000000000000001)
    assert view.timeout is None
    assert view.to_components() == [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 3, "disabled": False, "label": "Approve",
                 "emoji": {"id": None, "name": "✅"},
                 "custom_id": "newsdesk:review:approve:j80stkmk:100000000000000001"},
                {"type": 2, "style": 4, "disabled": False, "label": "Reject",
                 "emoji": {"id": None, "name": "✖️"},
                 "custom_id": "newsdesk:review:reject:j80stkmk:100000000000000001"},
                {"type": 2, "style": 5, "disabled": False, "label": "Read article",
                 "url": "https://a.example/x"},
            ],
        }
    ]  # fmt: skip
    assert ReviewButton.__discord_ui_compiled_template__.pattern == REVIEW_TEMPLATE
    with pytest.raises(ValueError):
        review_custom_id("approve", "NOT-AN-ID", 1)


def bot_with(
    store: SQLiteStore, sender: fx.FakeSender, config: Settings | None = None
) -> NewsdeskBot:
    config = config or fx.settings()
    bot = NewsdeskBot(config, store, AsyncIOScheduler())
    bot.deliverer = fx.deliverer(store, sender, config)
    return bot


async def load(bot: NewsdeskBot) -> None:
    """What setup_hook does before syncing: load every extension."""
    for name in EXTENSIONS:
        await bot.load_extension(name)


def review_message(
    bot: NewsdeskBot, article: Article, message_id: int, route: Route = fx.REVIEWED
) -> discord.Message:
    """The review request as discord.py parses it from Discord (components included)."""
    assert route.review_channel is not None
    view = review_view(build_post(article), route.id)
    data = {
        "id": str(message_id),
        "channel_id": str(route.review_channel),
        "type": 0,
        "content": f"🗳️ Review: should this story be posted in <#{route.id}>?",
        "author": {"id": "42", "username": "newsdesk", "discriminator": "0", "avatar": None},
        "attachments": [],
        "embeds": [build_post(article).embed.to_dict()],
        "mentions": [],
        "mention_roles": [],
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
        "timestamp": "2024-06-01T12:00:00+00:00",
        "edited_timestamp": None,
        "flags": 0,
        "components": view.to_components(),
    }
    channel = bot.get_partial_messageable(route.review_channel)
    return discord.Message(state=bot._connection, channel=channel, data=data)  # type: ignore[arg-type]


def click(
    bot: NewsdeskBot,
    user: tuple[int, str] | discord.Member,
    message: discord.Message,
    custom_id: str,
    guild: discord.Guild | None = None,
) -> Any:
    guild = guild or fx.guild_with(fx.channels().values())
    member = fx.user_of(user) if isinstance(user, tuple) else user
    fake = fx.interaction(member, guild, client=bot, message=message)
    fake.data = {"custom_id": custom_id, "component_type": 2}
    return fake


async def dispatch(bot: NewsdeskBot, fake: Any) -> None:
    """Hand the click to discord.py as the gateway would, and wait for the handler."""
    bot._connection._view_store.dispatch_view(2, fake.data["custom_id"], fake)
    handlers = [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith("discord-ui-dynamic-item-")
    ]
    assert handlers, "no dynamic item took the click"
    await asyncio.gather(*handlers)


async def test_buttons_sent_before_a_restart_work_after_it(tmp_path: Any) -> None:
    path = str(tmp_path / "newsdesk.db")
    store = await open_store(path)
    ibm, model, *_ = await fx.add_stories(store, *STORIES)
    first = fx.FakeSender()
    await fx.deliverer(store, first, fx.settings()).tick(fx.REVIEWED)
    assert [r[1] for r in first.reviews] == [ibm.id, model.id]
    await store.close()

    # A new process: a fresh bot over the same database file.
    store = await open_store(path)
    sender = fx.FakeSender()
    bot = bot_with(store, sender)  # type: ignore[arg-type]
    await load(bot)
    try:
        approve = review_custom_id(ReviewAction.APPROVE, ibm.id, fx.REVIEWED.id)
        fake = click(bot, fx.MIA, review_message(bot, ibm, 5000), approve)
        await dispatch(bot, fake)

        fake.response.send_message.assert_not_awaited()
        fake.response.edit_message.assert_awaited_once()
        assert fx.payload(fake.response.edit_message.await_args.kwargs) == {
            "content": APPROVED_TEXT,
            "view": [link_row(ibm)],
            "allowed_mentions": fx.NO_MENTIONS,
        }
        assert await state_of(store, ibm) == (DeliveryState.APPROVED, 5000, 1, None)
        (entry,) = await store.audit_log()
        assert (entry.actor_id, entry.actor_name, entry.action, entry.channel_id) == (
            1,
            "mia",
            "review.approve",
            103,
        )
        assert (entry.article_id, entry.detail, entry.result) == (ibm.id, "approved", "ok")
        assert sender.notes == [
            f"**mia** (<@1>) used the Approve button in <#103> on `{ibm.id}`: approved"
        ]
        # The approved story goes out on the route's next run.
        released = await bot.deliverer.tick(fx.REVIEWED)
        assert (released[0].article_id, released[0].outcome) == (ibm.id, Outcome.SENT)
    finally:
        await store.close()


async def test_from_custom_id_rebuilds_the_button(
    store: SQLiteStore, stories: list[Article]
) -> None:
    ibm = stories[0]
    bot = bot_with(store, fx.FakeSender())
    await load(bot)
    await bot.deliverer.tick(fx.REVIEWED)
    reject = review_custom_id(ReviewAction.REJECT, ibm.id, fx.REVIEWED.id)
    match = ReviewButton.__discord_ui_compiled_template__.fullmatch(reject)
    assert match is not None
    fake = click(bot, fx.ROLF, review_message(bot, ibm, 5000), reject)
    base: discord.ui.Button[discord.ui.View] = discord.ui.Button(custom_id=reject)
    item = await ReviewButton.from_custom_id(fake, base, match)
    assert (item.action, item.article_id, item.channel_id, item.custom_id) == (
        ReviewAction.REJECT,
        ibm.id,
        103,
        reject,
    )
    await item.callback(fake)
    assert fx.payload(fake.response.edit_message.await_args.kwargs) == {
        "content": "❌ Rejected by <@2>: it will not be posted in <#103>.",
        "view": [link_row(ibm)],
        "allowed_mentions": fx.NO_MENTIONS,
    }
    assert await state_of(store, ibm) == (DeliveryState.SKIPPED, 5000, 2, "rejected by rolf")


async def test_a_member_without_rights_cannot_decide(
    store: SQLiteStore, stories: list[Article]
) -> None:
    ibm = stories[0]
    sender = fx.FakeSender()
    bot = bot_with(store, sender)
    await load(bot)
    await bot.deliverer.tick(fx.REVIEWED)
    approve = review_custom_id(ReviewAction.APPROVE, ibm.id, fx.REVIEWED.id)
    fake = click(bot, fx.RITA, review_message(bot, ibm, 5000), approve)
    await dispatch(bot, fake)
    fake.response.edit_message.assert_not_awaited()
    assert fx.reply(fake) == fx.text_reply(
        "Sorry, only moderators can do that: it needs the Manage Messages permission in "
        "<#103>, or a moderator role."
    )
    assert await state_of(store, ibm) == (DeliveryState.REVIEW, 5000, None, None)
    assert sender.notes == [
        "🚫 **rita** (<@3>) was refused the Approve button in <#103>: not a moderator here"
    ]


async def test_a_moderator_of_another_guild_cannot_decide(
    store: SQLiteStore, stories: list[Article]
) -> None:
    ibm = stories[0]
    sender = fx.FakeSender()
    bot = bot_with(store, sender, fx.two_guilds())
    await load(bot)
    await bot.deliverer.tick(fx.B_REVIEWED)  # guild B's approval route
    message = review_message(bot, ibm, 5000, fx.B_REVIEWED)
    approve = review_custom_id(ReviewAction.APPROVE, ibm.id, fx.B_REVIEWED.id)
    # Guild A's moderator role, clicking from guild A (as a forwarded or copied request).
    fake = click(bot, fx.ROLF, message, approve)
    await dispatch(bot, fake)
    fake.response.edit_message.assert_not_awaited()
    assert fx.reply(fake) == fx.text_reply(
        "Sorry, <#502> is not a channel of this server: moderators act only on the channels "
        "of the server they use the command in."
    )
    delivery = await store.delivery(ibm.id, fx.B_REVIEWED.id)
    assert delivery is not None and (delivery.state, delivery.decided_by) == (
        DeliveryState.REVIEW,
        None,
    )
    assert sender.notes == [
        "🚫 **rolf** (<@2>) was refused the Approve button in <#502>: channel of another server"
    ]
    # Guild B's moderator role, in guild B: approved.
    guild_b = fx.guild_with(fx.channels_b().values(), fx.GUILD_B)
    bea = fx.member(fx.BEA, (fx.MOD_ROLE_B,))
    fake = click(bot, bea, message, approve, guild_b)
    await dispatch(bot, fake)
    fake.response.edit_message.assert_awaited_once()
    delivery = await store.delivery(ibm.id, fx.B_REVIEWED.id)
    assert delivery is not None and (delivery.state, delivery.decided_by) == (
        DeliveryState.APPROVED,
        fx.BEA[0],
    )


async def test_a_second_click_says_it_was_decided(
    store: SQLiteStore, stories: list[Article]
) -> None:
    ibm = stories[0]
    bot = bot_with(store, fx.FakeSender())
    await load(bot)
    await bot.deliverer.tick(fx.REVIEWED)
    approve = review_custom_id(ReviewAction.APPROVE, ibm.id, fx.REVIEWED.id)
    await dispatch(bot, click(bot, fx.MIA, review_message(bot, ibm, 5000), approve))
    again = click(bot, fx.ROLF, review_message(bot, ibm, 5000), approve)
    await dispatch(bot, again)
    again.response.edit_message.assert_not_awaited()
    assert fx.reply(again) == fx.text_reply(
        f"`{ibm.id}` is not waiting for review any more: it was approved."
    )


async def test_an_unexpected_error_in_a_button_is_a_short_message(
    store: SQLiteStore, stories: list[Article], caplog: pytest.LogCaptureFixture
) -> None:
    ibm = stories[0]
    bot = bot_with(store, fx.FakeSender())
    await load(bot)
    await bot.deliverer.tick(fx.REVIEWED)
    approve = review_custom_id(ReviewAction.APPROVE, ibm.id, fx.REVIEWED.id)
    fake = click(bot, fx.MIA, review_message(bot, ibm, 5000), approve)
    await store.close()  # the database goes away under the bot
    await dispatch(bot, fake)
    assert fx.reply(fake) == fx.text_reply(
        "Something went wrong; the moderators can find details in the bot's log."
    )
    assert "a component failed" in caplog.text


# --------------------------------------------------------------------------- the senders


async def test_the_discord_sender_posts_the_review_request(stories: list[Article]) -> None:
    ibm = stories[0]
    client = mock.create_autospec(discord.Client, instance=True, spec_set=True)
    channel: Any = fx.text_channel(fx.REVIEW_CHANNEL, "review")  # a mock: its calls are read
    client.get_channel.return_value = channel
    message = mock.create_autospec(discord.Message, instance=True, spec_set=True)
    message.id = 555
    message.channel = channel
    channel.send.return_value = message
    post = build_post(ibm)
    sent = await DiscordSender(client).send_review(fx.REVIEWED, post, "nr0123")
    assert sent == Sent(fx.REVIEW_CHANNEL, 555)
    client.get_channel.assert_called_once_with(fx.REVIEW_CHANNEL)
    channel.send.assert_awaited_once()
    assert fx.payload(channel.send.await_args.kwargs, custom_ids=True) == {
        "nonce": "nr0123",
        "content": "🗳️ Review: should this story be posted in <#103>?",
        "embed": post.embed.to_dict(),
        "view": review_view(post, fx.REVIEWED.id).to_components(),
        "allowed_mentions": fx.NO_MENTIONS,
    }


async def test_a_dry_run_prints_the_review_request(stories: list[Article]) -> None:
    out = io.StringIO()
    sent = await ConsoleSender(out, as_json=True).send_review(
        fx.REVIEWED, build_post(stories[0]), "nr0123"
    )
    assert sent == Sent(fx.REVIEW_CHANNEL, 1)
    doc = json.loads(out.getvalue())
    assert (doc["review"], doc["channel_id"], doc["review_channel_id"], doc["nonce"]) == (
        "reviewed",
        103,
        201,
        "nr0123",
    )


# --------------------------------------------------------------------------- loopback Discord


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord(token=fx.TOKEN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_review_round_trip_with_a_restart_through_a_loopback_discord(
    fake: FakeDiscord, tmp_path: Any
) -> None:
    room = fx.newsroom(fake, tmp_path / "seeds")
    reviewed, review = room.channel["reviewed"], room.channel["review"]
    route = room.config.route(reviewed)
    assert route is not None
    path = str(tmp_path / "newsdesk.db")
    store = await open_store(path)
    ibm, model, *_ = await fx.add_stories(store, *STORIES)
    async with fx.running_bot(room, store) as bot:
        released = await bot.deliverer.tick(route)
        assert [(r.article_id, r.outcome) for r in released] == [
            (ibm.id, Outcome.REVIEW),
            (model.id, Outcome.REVIEW),
        ]
        requests = await fake.wait_for_messages(review, 2)
    assert [m["content"] for m in requests] == [
        f"🗳️ Review: should this story be posted in <#{reviewed}>?"
    ] * 2
    assert requests[0]["embeds"] == build_post(ibm).to_payload()["embeds"]
    assert [c["custom_id"] for c in requests[0]["components"][0]["components"][:2]] == [
        f"newsdesk:review:approve:{ibm.id}:{reviewed}",
        f"newsdesk:review:reject:{ibm.id}:{reviewed}",
    ]
    assert fake.messages(reviewed) == []  # nothing posted without approval
    await store.close()

    store = await open_store(path)  # a new process over the same database
    try:
        async with fx.running_bot(room, store) as bot:
            approve = await fake.send_component(
                f"newsdesk:review:approve:{ibm.id}:{reviewed}", user=room.user["mia"]
            )
            assert await approve.response() == {
                "type": 7,
                "data": {
                    "tts": False,
                    "content": f"✅ Approved by <@{room.user['mia'].id}>: it will be posted in "
                    f"<#{reviewed}> on the channel's schedule.",
                    "components": [link_row(ibm)],
                    "allowed_mentions": {"parse": []},
                },
            }
            refused = await fake.send_component(
                f"newsdesk:review:reject:{model.id}:{reviewed}", user=room.user["rita"]
            )
            assert (await refused.response())["data"]["flags"] == 64
            reject = await fake.send_component(
                f"newsdesk:review:reject:{model.id}:{reviewed}", user=room.user["rolf"]
            )
            assert (await reject.response())["data"]["content"] == (
                f"❌ Rejected by <@{room.user['rolf'].id}>: it will not be posted in <#{reviewed}>."
            )
            released = await bot.deliverer.tick(route)
            assert (released[0].article_id, released[0].outcome) == (ibm.id, Outcome.SENT)
            posted = await fake.wait_for_messages(reviewed, 1)
        assert posted[0]["embeds"] == build_post(ibm).to_payload()["embeds"]
        edited = fake.get_message(int(requests[0]["id"]))
        assert edited is not None and edited["content"].startswith("✅ Approved by")
        assert await state_of_in(store, ibm, reviewed) == DeliveryState.SENT
        assert await state_of_in(store, model, reviewed) == DeliveryState.SKIPPED
    finally:
        await store.close()


async def state_of_in(store: Store, article: Article, channel_id: int) -> DeliveryState:
    delivery = await store.delivery(article.id, channel_id)
    assert delivery is not None
    return delivery.state
