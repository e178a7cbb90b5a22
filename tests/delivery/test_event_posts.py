"""An event is posted once per channel; a late outlet edits the posted message."""

from __future__ import annotations

from dataclasses import replace

from bot.curation.events import as_related
from bot.render.embeds import build_post
from bot.store import SQLiteStore
from tests.delivery.test_delivery import FakeSender, deliverer, loaded, route, story

TITLE = "Nvidia to buy Arm from SoftBank for $40 billion"


async def test_a_late_outlet_edits_the_posted_event_in_place(store: SQLiteStore) -> None:
    first = story(1, 70, title=TITLE, webUrl="https://a.example/nv")
    late = story(2, 60, title="Nvidia agrees to buy Arm from SoftBank for $40 billion",
                 webUrl="https://b.example/nv")  # fmt: skip
    better = story(3, 95, title=TITLE, webUrl="https://c.example/nv")
    await store.apply_load([loaded("/a.md", first, "a1")])
    sender = FakeSender()
    channel = route(10)
    d, _ = deliverer(store, sender, channel)
    await d.release(channel, 1)  # message 1000
    assert sender.send_calls == 1

    outcomes = await store.apply_load([loaded("/b.md", late, "b1")])

    assert [o.merged_into for o in outcomes] == [first.id]
    assert [(e.article_id, e.channel_id) for e in await store.pending_edits()] == [(first.id, 10)]
    assert await d.release(channel, 1) == []  # the event was posted: nothing new
    assert await d.refresh_posted() == 1
    shown = replace(first, related=(as_related(late),))
    assert [(c, m) for c, m, _ in sender.edits] == [(10, 1000)]
    assert sender.edits[0][2].to_payload() == build_post(shown).to_payload()
    assert await store.pending_edits() == []

    # a better outlet leads the event from now on, and is not posted again here either
    outcomes = await store.apply_load([loaded("/c.md", better, "c1")])
    assert [o.merged_into for o in outcomes] == [None]
    assert await d.release(channel, 1) == []
    assert sender.send_calls == 1
    assert await d.refresh_posted() == 1
    shown = replace(first, related=(as_related(better), as_related(late)))
    assert sender.edits[1][:2] == (10, 1000)
    assert sender.edits[1][2].to_payload() == build_post(shown).to_payload()
    # /article and preview read the same: every outlet under the story asked for
    assert await store.get_article(better.id) == replace(
        better, related=(as_related(first), as_related(late))
    )
    other = route(11)
    d2, _ = deliverer(store, sender, other)
    await d2.release(other, 1)
    assert sender.send_calls == 2
    [(_, _, post)] = sender.messages[11]  # the lead, with every outlet
    assert (
        post.to_payload()
        == build_post(replace(better, related=(as_related(first), as_related(late)))).to_payload()
    )
