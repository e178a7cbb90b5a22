"""`newsdesk migrate-store`: a SQLite store copied into PostgreSQL, for real on both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.ingest.urls import canonical_url, short_id
from bot.models import Article, ParseResult
from bot.store import (
    DeliveryState,
    DigestState,
    LoadItem,
    RouteFilter,
    RouteState,
    SQLiteStore,
    Store,
    StoredArticle,
    open_store,
)
from bot.store.postgres import PostgresStore
from tests.store.conftest import fetch_sql

AI, SPACE = 1001, 1002
CHANNELS = [
    {"id": AI, "name": "ai-news", "schedule": {"every": "30m"}, "topics": ["ai"]},
    {"id": SPACE, "name": "space", "schedule": "0 9 * * *", "topics": ["Space"]},
]
ROUTES = [RouteFilter(AI, topics=("ai",)), RouteFilter(SPACE, topics=("space",))]
# One event of three stories (ranked below the other AI stories): two alike titles, and
# one that lists the first's URL, which prepare() splits from the others.
EVENT = {
    "ev-a": ("Nvidia to buy Arm from SoftBank for $40 billion", "2026-03-02T09:00:00Z", 41),
    "ev-b": ("Nvidia agrees to buy Arm from SoftBank for $40 billion", "2026-03-02T14:00:00Z", 42),
    "ev-c": ("Chip deal of the decade", "2026-03-20T09:00:00Z", 40),
}
EV = {name: short_id(canonical_url(f"https://example.com/{name}")) for name in EVENT}


def run(config: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def everything(store: Store) -> dict[str, Any]:
    """What the bot and its moderators read of a store."""
    return {
        "next": [await store.next_for_channel(route, 20) for route in ROUTES],
        "review": [await store.review_candidates(route, 20) for route in ROUTES],
        "approved": [await store.next_approved(route.channel_id, 20) for route in ROUTES],
        "deliveries": await store.deliveries(),
        "pins": [await store.pins(route.channel_id) for route in ROUTES],
        "routes": [await store.route_state(route.channel_id) for route in ROUTES],
        "audit": await store.audit_log(100),
        "topics": await store.topics(),
        "search": await store.search("story"),
        "files": await store.file_index(),
        "edits": await store.pending_edits(),
        "count": await store.article_count(),
        "latest": await store.latest_sent(),
        "digests": await store.digests(),
        "nvidia": await store.search("nvidia"),
        "events": await fetch_sql(
            store, "SELECT id, event_id, event_keys FROM articles ORDER BY id"
        ),
        "apart": await fetch_sql(
            store, "SELECT article_id, other_id FROM event_apart ORDER BY 1, 2"
        ),
    }


@pytest.fixture
def config(tmp_path: Path, write_article: Callable[..., Path]) -> Path:
    seeds = tmp_path / "seeds"
    for n in range(6):
        write_article(seeds, f"ai-{n}.md", topics=["AI"], quality=90 - n, title=f"AI story {n}")
    for n in range(3):
        write_article(seeds, f"space-{n}.md", topics=["Space"], quality=50 + n)
    for name, (title, published, quality) in EVENT.items():
        related = [{"title": "Nvidia", "webUrl": "https://example.com/ev-a/"}] * (name == "ev-c")
        write_article(
            seeds, f"{name}.md", topics=["AI"], title=title, quality=quality,
            publishedDateTime=published, related=related or None,
        )  # fmt: skip
    path = tmp_path / "newsdesk.yaml"
    data = {"database": str(tmp_path / "newsdesk.db"), "seeds": str(seeds), "channels": CHANNELS}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def prepare(path: str) -> list[str]:
    """Sent, skipped, failed, in review, approved, pinned, paused, audited, a digest sent
    and one in flight: the ids of the ai-news queue before."""
    store = await SQLiteStore.open(path)
    try:
        ids = [i.article.id for i in await store.next_for_channel(ROUTES[0], 20)]
        await store.set_delivery(ids[0], AI, DeliveryState.SENT, message_id=501)
        await store.set_delivery(ids[1], AI, DeliveryState.SKIPPED, decided_by=7)
        await store.set_delivery(ids[2], AI, DeliveryState.FAILED, error="50013 Missing Access")
        await store.set_delivery(ids[3], SPACE, DeliveryState.REVIEW, review_message_id=601)
        await store.set_delivery(ids[4], SPACE, DeliveryState.APPROVED, decided_by=7)
        await store.claim(ids[5], AI)  # a send in flight when the bot stopped
        await store.pin(SPACE, ids[1], None, 7)
        await store.set_route_state(RouteState(SPACE, paused=True, pause_reason="holiday"))
        await store.audit("skip", "ok", actor_id=7, channel_id=AI, article_id=ids[1])
        await store.audit("pause", "ok", actor_id=7, channel_id=SPACE, detail="holiday")
        space = [i.article.id for i in await store.next_for_channel(ROUTES[1], 20)]
        space = [i for i in space if i not in ids]
        sent = await store.claim_digest(SPACE, space[:2])
        assert sent is not None
        await store.settle_digest(sent.id, DigestState.SENT, message_id=701)
        assert await store.claim_digest(SPACE, space[2:]) is not None  # in flight
        assert await store.split_event(EV["ev-c"]) == [EV["ev-b"], EV["ev-a"]]
        return ids
    finally:
        await store.close()


async def read(target: str) -> dict[str, Any]:
    store = await open_store(target)
    try:
        return await everything(store)
    finally:
        await store.close()


def test_a_sqlite_store_copied_to_postgresql_reads_the_same_and_can_be_copied_again(
    config: Path,
    tmp_path: Path,
    postgres_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NEWSDESK_DATABASE_URL", raising=False)
    assert run(config, capsys, "load")[0] == 0
    sqlite_path = str(tmp_path / "newsdesk.db")
    ids = asyncio.run(prepare(sqlite_path))
    before = asyncio.run(read(sqlite_path))
    code, out, err = run(config, capsys, "queue", "--json")
    sqlite_queue = json.loads(out)

    code, out, err = run(config, capsys, "migrate-store", postgres_url)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "articles: 12 in " + sqlite_path + ", 12 copied"
    assert f"deliveries: 9 in {sqlite_path}, 9 copied" in out.splitlines()
    assert f"event_apart: 2 in {sqlite_path}, 2 copied" in out.splitlines()
    assert f"audit_log: 2 in {sqlite_path}, 2 copied" in out.splitlines()
    assert f"digests: 2 in {sqlite_path}, 2 copied" in out.splitlines()
    assert f"digest_items: 3 in {sqlite_path}, 3 copied" in out.splitlines()
    copied = asyncio.run(read(postgres_url))
    assert copied == before
    # the event, its split and the stories' keys came along
    assert [(i, e) for i, e, _ in copied["events"] if e] == sorted(
        [(EV["ev-a"], EV["ev-b"]), (EV["ev-b"], EV["ev-b"])]
    )
    assert copied["apart"] == sorted(
        [tuple(sorted((EV["ev-c"], EV["ev-a"]))), tuple(sorted((EV["ev-c"], EV["ev-b"])))]
    )
    assert [a.id for a in copied["nvidia"][0]] == [EV["ev-b"]]
    assert all(keys for _, _, keys in copied["events"])
    assert [(d.id, d.state, len(d.article_ids)) for d in copied["digests"]] == [
        (1, DigestState.SENT, 2),
        (2, DigestState.SENDING, 1),
    ]

    # the bot's `queue` on PostgreSQL shows the same queues; the sent story is in none
    monkeypatch.setenv("NEWSDESK_DATABASE_URL", postgres_url)
    code, out, err = run(config, capsys, "queue", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == sqlite_queue
    queued = {a["id"] for channel in sqlite_queue["channels"] for a in channel["articles"]}
    assert ids[0] not in queued
    assert ids[1] in queued  # pinned in #space, though skipped in #ai-news

    # a second run copies nothing and changes nothing, even where PostgreSQL went on
    # (its digest in flight sent, a new one claimed); only what SQLite has that
    # PostgreSQL lacks: a digest claimed there since, which takes PostgreSQL's next id
    async def go_on() -> None:
        store = await PostgresStore.open(postgres_url)
        try:
            assert (await store.claim(ids[3], AI)).state is DeliveryState.SENDING  # type: ignore[union-attr]
            await store.set_delivery(ids[3], AI, DeliveryState.SENT, message_id=777)
            assert await store.settle_digest(2, DigestState.SENT, message_id=778) is not None
            assert (await store.claim_digest(SPACE, [ids[4]])).id == 3  # type: ignore[union-attr]
            # a story loaded on PostgreSQL finds its event through the copied keys
            late = Article(
                id=short_id(canonical_url("https://example.com/ev-d")),
                canonical_url=canonical_url("https://example.com/ev-d"),
                url="https://example.com/ev-d",
                title="Nvidia will buy Arm from SoftBank for $40 billion",
                quality=30,
                published_at=datetime(2026, 3, 2, 20, tzinfo=UTC),
                topics=("AI",),
            )
            item = LoadItem(
                "/x/ev-d.md", 1, 1, "sha-d", StoredArticle.from_result(ParseResult(late))
            )
            outcomes = await store.apply_load([item])
            store.end_load()
            assert [(o.status, o.merged_into) for o in outcomes] == [("loaded", EV["ev-b"])]
        finally:
            await store.close()

    async def sqlite_goes_on() -> int:
        store = await SQLiteStore.open(sqlite_path)
        try:
            digest = await store.claim_digest(AI, [ids[4]])
            assert digest is not None
            return digest.id
        finally:
            await store.close()

    asyncio.run(go_on())
    after = asyncio.run(read(postgres_url))
    assert asyncio.run(sqlite_goes_on()) == 3
    monkeypatch.delenv("NEWSDESK_DATABASE_URL")
    code, out, err = run(config, capsys, "migrate-store", postgres_url)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "articles: 12 in " + sqlite_path + ", 0 copied"
    assert f"event_apart: 2 in {sqlite_path}, 0 copied" in out.splitlines()
    assert f"deliveries: 10 in {sqlite_path}, 1 copied" in out.splitlines()
    assert f"digests: 3 in {sqlite_path}, 1 copied" in out.splitlines()
    assert f"digest_items: 4 in {sqlite_path}, 1 copied" in out.splitlines()
    again = asyncio.run(read(postgres_url))
    new = again["digests"][-1]
    assert (new.id, new.channel_id, new.state, new.article_ids) == (
        4,
        AI,
        DigestState.SENDING,
        (ids[4],),
    )
    assert again["digests"] == [*after["digests"], new]
    added = [d for d in again["deliveries"] if d not in after["deliveries"]]
    assert [(d.article_id, d.channel_id, d.state) for d in added] == [
        (ids[4], AI, DeliveryState.SENDING)
    ]
    moved = ("digests", "deliveries", "next", "review")  # the queues by ids[4]'s claim
    assert {k: v for k, v in again.items() if k not in moved} == {
        k: v for k, v in after.items() if k not in moved
    }
    sent = [d for d in after["deliveries"] if d.state is DeliveryState.SENT and d.channel_id == AI]
    assert sorted((d.article_id, d.message_id) for d in sent) == sorted(
        [(ids[0], 501), (ids[3], 777)]
    )


def test_migrate_store_refuses_what_is_not_a_postgresql_url(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config, capsys, "migrate-store", "/tmp/other.db") == (
        2,
        "",
        "newsdesk: migrate-store needs a postgresql:// URL, got '/tmp/other.db'\n",
    )
