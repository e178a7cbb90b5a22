"""The moderators' desk on a digest channel: /queue post sends its digest, /queue why and
/queue list know that a digest lists only the stories that came since the last one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.config.settings import DigestSettings, Route
from bot.delivery.deliverer import Outcome, Release
from bot.desk.moderation import Actor, Explained, Moderation, Pinned, Posted
from bot.models import Article
from bot.render.replies import queue_embed
from bot.store import DeliveryState, SQLiteStore, open_store
from bot.store.records import digest_nonce
from tests import command_fakes as fx

DAILY = Route(id=fx.DIGEST.id, name="daily-digest", schedule=fx.EVERY_30M, digest=DigestSettings(2))
MIA = Actor(
    fx.MIA[0], fx.MIA[1], frozenset({fx.GUILD}), frozenset({DAILY.id}), frozenset(fx.channels())
)


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
    config = fx.settings(channels=(fx.AI, DAILY))
    return Moderation(store, config, fx.deliverer(store, sender, config))


@pytest.fixture
async def stories(store: SQLiteStore) -> list[Article]:
    made = await fx.add_stories(
        store,
        fx.story("ibm", "IBM quits facial recognition", quality=90),
        fx.story("model", "A new language model", quality=80),
        fx.story("chips", "Chip makers race ahead", quality=70),
    )
    for article in made:  # first seen long before any digest
        await store._write("UPDATE articles SET first_seen_ts = 1000 WHERE id = ?", (article.id,))
    return made


async def test_post_now_sends_the_digest_and_why_names_the_stories_it_left(
    store: SQLiteStore, desk: Moderation, sender: fx.FakeSender, stories: list[Article]
) -> None:
    ibm, model, chips = stories
    listing = await desk.list_queue(MIA, DAILY.id)
    assert "every 30m, a digest of up to 2" in (queue_embed(listing).description or "")

    posted = await desk.post_now(MIA, DAILY.id)
    assert isinstance(posted, Posted)
    assert posted.release == Release(ibm.id, Outcome.SENT, 5000)
    nonce = digest_nonce(DAILY.id, [ibm.id, model.id])
    assert sender.sent == [(DAILY.id, nonce, nonce)]  # one message, with the digest's nonce
    for article in (ibm, model):
        delivery = await store.delivery(article.id, DAILY.id)
        assert delivery is not None
        assert (delivery.state, delivery.message_id) == (DeliveryState.SENT, 5000)

    why = await desk.why(MIA, chips.id, DAILY.id)
    assert isinstance(why, Explained)
    assert why.reasons == (
        "it came before the channel's last digest, and a digest lists only the stories that"
        " came since (a pin still posts it)",
    )
    assert (await desk.list_queue(MIA, DAILY.id)).channels[0].items == ()
    pinned = await desk.add(MIA, chips.id, DAILY.id)
    assert isinstance(pinned, Pinned)
    assert pinned.notes == why.reasons
    assert [i.article.id for i in (await desk.list_queue(MIA, DAILY.id)).channels[0].items] == [
        chips.id
    ]
