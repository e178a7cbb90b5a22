"""The queued-stories gauge of a digest channel counts what its next digest may take."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot.config.settings import DigestSettings, Route, Schedule, Settings
from bot.runtime.metrics import Metrics
from bot.store import DigestState, SQLiteStore
from tests.delivery.test_delivery import add, story

DAILY = Route(
    id=7, name="daily", schedule=Schedule(every=timedelta(hours=1)), digest=DigestSettings(5)
)


async def queued(store: SQLiteStore, tmp_path: Path) -> float:
    settings = Settings(
        path=tmp_path / "c.yaml", database=tmp_path / "d.db", seeds=tmp_path, channels=(DAILY,)
    )
    page = (await Metrics(settings).render(store, latency=None)).decode()
    return next(
        s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
        if s.name == "newsdesk_stories_queued"
    )


async def test_stories_left_out_of_the_last_digest_are_not_counted(
    store: SQLiteStore, tmp_path: Path
) -> None:
    old = [story(n, 90 - n) for n in range(3)]
    await add(store, *old)
    for article in old:
        await store._write("UPDATE articles SET first_seen_ts = 1000 WHERE id = ?", (article.id,))
    assert await queued(store, tmp_path) == 3.0
    digest = await store.claim_digest(DAILY.id, [old[0].id])
    assert digest is not None
    await store.settle_digest(digest.id, DigestState.SENT, message_id=1)
    assert await queued(store, tmp_path) == 0.0  # the two left out are not news now
    await add(store, story(9, 10))
    assert await queued(store, tmp_path) == 1.0
