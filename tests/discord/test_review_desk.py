"""The review buttons reach the approval cog through the bot's typed ``review_desk``,
which follows the extension as it loads, unloads and reloads."""

from __future__ import annotations

from bot.desk.approval import ReviewAction, review_custom_id
from bot.discord.ui import ReviewButton
from bot.models import Article
from bot.store import DeliveryState, SQLiteStore
from tests import command_fakes as fx
from tests.discord.test_approval import (
    APPROVED_TEXT,
    bot_with,
    click,
    dispatch,
    link_row,
    load,
    review_message,
    state_of,
    store,
    stories,
)

__all__ = ["store", "stories"]  # the fixtures


async def test_the_review_desk_follows_the_approval_extension(
    store: SQLiteStore, stories: list[Article]
) -> None:
    ibm = stories[0]
    bot = bot_with(store, fx.FakeSender())
    assert bot.review_desk is None  # not loaded yet
    await load(bot)
    first = bot.get_cog("Approval")  # load_extension runs the module afresh: not by class
    assert first is not None and bot.review_desk is first
    await bot.deliverer.tick(fx.REVIEWED)
    approve = review_custom_id(ReviewAction.APPROVE, ibm.id, fx.REVIEWED.id)

    await bot.unload_extension("bot.discord.cogs.approval")
    assert bot.review_desk is None
    fake = click(bot, fx.MIA, review_message(bot, ibm, 5000), approve)
    await ReviewButton(ReviewAction.APPROVE, ibm.id, fx.REVIEWED.id).callback(fake)
    fake.response.edit_message.assert_not_awaited()
    assert fx.reply(fake) == fx.text_reply(
        "Reviews are not available right now; try again in a minute."
    )
    assert await state_of(store, ibm) == (DeliveryState.REVIEW, 5000, None, None)

    await bot.load_extension("bot.discord.cogs.approval")
    second = bot.get_cog("Approval")
    assert second is not None and second is not first and bot.review_desk is second
    fake = click(bot, fx.MIA, review_message(bot, ibm, 5000), approve)
    await dispatch(bot, fake)
    assert fx.payload(fake.response.edit_message.await_args.kwargs) == {
        "content": APPROVED_TEXT,
        "view": [link_row(ibm)],
        "allowed_mentions": fx.NO_MENTIONS,
    }
    assert await state_of(store, ibm) == (DeliveryState.APPROVED, 5000, 1, None)
