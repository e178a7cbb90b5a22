"""Folders of article files → the store: reports, incremental reloads, dedup, workers."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import stat
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import bot.ingest.loader
import bot.ingest.parsing
from bot.ingest.frontmatter import MAX_FILE_BYTES
from bot.ingest.loader import (
    PROCESS_THRESHOLD,
    STATUSES,
    LoadReport,
    find_files,
    load_paths,
    read_one,
)
from bot.models import Article
from bot.store import (
    Delivery,
    DeliveryState,
    LoadOutcome,
    NotFound,
    RouteFilter,
    SQLiteStore,
)

WriteArticle = Callable[..., Path]


def counts(report: LoadReport) -> dict[str, int]:
    return {name: report.counts[name] for name in STATUSES}


def expect(**given: int) -> dict[str, int]:
    return {name: given.get(name, 0) for name in STATUSES}


def real(path: Path) -> str:
    return str(path.resolve())


async def stored(store: SQLiteStore, article_id: str | None) -> Article:
    """The stored story, which the test expects to exist."""
    assert article_id is not None
    article = await store.get_article(article_id)
    assert article is not None
    return article


async def recorded(store: SQLiteStore, article_id: str | None, channel_id: int) -> Delivery:
    """The delivery of that story to that channel, which the test expects to exist."""
    assert article_id is not None
    delivery = await store.delivery(article_id, channel_id)
    assert delivery is not None
    return delivery


def set_mtime(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the files parsed from now on (inline loads only)."""
    calls: list[int] = []
    original = bot.ingest.parsing.parse_file  # the loader's, imported from there

    def counting(data: Any) -> Any:
        calls.append(1)
        return original(data)

    monkeypatch.setattr(bot.ingest.loader, "parse_file", counting)
    return calls


async def test_good_bad_and_duplicate_files(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    good = write_article(tmp_path, "a.txt", webUrl="https://example.com/a")
    also_good = write_article(
        tmp_path, "b.md", images=[{"url": "ftp://example.com/i.jpg"}, {"url": "https://x.io/i"}]
    )
    bad = tmp_path / "c.txt"
    bad.write_text("title: no front matter\n")
    dup = write_article(tmp_path, "d.txt", webUrl="https://EXAMPLE.com/a/#top")

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(loaded=2, duplicates=1, rejected=1)
    assert report.summary() == (
        "2 loaded, 0 updated, 0 unchanged, 1 duplicates, 1 rejected, 0 withdrawn"
    )
    assert report.problems == [
        (real(bad), "no front matter: the first line must be ---"),
        (real(dup), f"duplicate of {real(good)} (same story URL); skipped"),
    ]
    assert report.warnings == [
        (real(also_good), "images[0].url: not an http(s) URL, dropped: 'ftp://example.com/i.jpg'")
    ]
    articles, total = await store.search("")
    assert total == 2
    assert sorted(a.title for a in articles) == ["Story a", "Story b"]


async def test_loading_twice_is_a_no_op(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle, parse_calls: list[int]
) -> None:
    for name in ("a.txt", "b.txt", "c.md"):
        write_article(tmp_path, name)
    (tmp_path / "bad.txt").write_text("---\ntitle: x\n---\n")
    first = await load_paths(store, [tmp_path])
    assert counts(first) == expect(loaded=3, rejected=1)
    parse_calls.clear()

    second = await load_paths(store, [tmp_path], keep_outcomes=True)

    # Nothing is parsed again; the broken file is still reported as broken.
    assert counts(second) == expect(unchanged=3, rejected=1)
    assert second.problems == [(str(tmp_path / "bad.txt"), "webUrl is required")]
    assert second.outcomes == []
    assert parse_calls == []


async def test_touching_a_file_does_not_parse_it(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle, parse_calls: list[int]
) -> None:
    path = write_article(tmp_path, "a.txt")
    set_mtime(path, 1_600_000_000)
    await load_paths(store, [tmp_path])
    assert parse_calls == [1]

    set_mtime(path, 1_700_000_000)
    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(unchanged=1)
    assert parse_calls == [1]
    assert (await store.file_index())[real(path)].mtime_ns == 1_700_000_000 * 10**9
    # and now the stat matches again: not even read
    assert counts(await load_paths(store, [tmp_path])) == expect(unchanged=1)


async def test_editing_a_file_updates_its_article(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    path = write_article(tmp_path, "a.txt", title="First title")
    set_mtime(path, 1_600_000_000)
    [loaded] = (await load_paths(store, [tmp_path], keep_outcomes=True)).outcomes or []
    article_id = loaded.article_id

    write_article(tmp_path, "a.txt", title="Second title")
    set_mtime(path, 1_600_000_100)
    report = await load_paths(store, [tmp_path], keep_outcomes=True)
    assert counts(report) == expect(updated=1)
    assert report.outcomes == [LoadOutcome(real(path), "updated", article_id, None, False)]
    assert report.post_changed == []
    assert (await stored(store, article_id)).title == "Second title"
    assert await store.article_count() == 1

    related = [{"title": "Elsewhere", "webUrl": "https://other.example/x"}]
    write_article(tmp_path, "a.txt", title="Second title", related=related)
    set_mtime(path, 1_600_000_200)
    report = await load_paths(store, [tmp_path])
    assert counts(report) == expect(updated=1)
    assert report.post_changed == [article_id]
    assert report.outcomes is None  # not kept unless asked: the bot needs only the ids
    assert [r.url for r in (await stored(store, article_id)).related] == ["https://other.example/x"]
    assert await store.article_count() == 1


async def test_correcting_a_files_web_url_updates_its_story_instead_of_adding_one(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    path = write_article(tmp_path, "a.txt", title="Big news", webUrl="https://news.example/storyy")
    set_mtime(path, 1_600_000_000)
    [loaded] = (await load_paths(store, [tmp_path], keep_outcomes=True)).outcomes or []
    story_id = loaded.article_id
    assert story_id is not None
    assert await store.claim(story_id, 1) is not None  # posted to channel 1 already
    await store.set_delivery(
        story_id, 1, DeliveryState.SENT, expect=(DeliveryState.SENDING,), message_id=5
    )

    write_article(tmp_path, "a.txt", title="Big news", webUrl="https://news.example/story")
    set_mtime(path, 1_600_000_100)
    report = await load_paths(store, [tmp_path], keep_outcomes=True)

    assert report.outcomes == [LoadOutcome(real(path), "updated", story_id, None, True)]
    assert report.post_changed == [story_id]  # its posted message gets the corrected link
    assert await store.article_count() == 1
    story = await stored(store, story_id)
    assert (story.url, story.canonical_url) == ("https://news.example/story",) * 2
    assert (await recorded(store, story_id, 1)).state is DeliveryState.SENT
    assert await store.next_for_channel(RouteFilter(1), 10) == []  # not queued again
    [queued] = await store.next_for_channel(RouteFilter(2), 10)
    assert (queued.article.id, queued.article.url) == (story_id, "https://news.example/story")

    # The old URL is free: another file with it is a story of its own.
    other = write_article(tmp_path, "b.txt", title="Other", webUrl="https://news.example/storyy")
    report = await load_paths(store, [tmp_path], keep_outcomes=True)
    assert counts(report) == expect(loaded=1, unchanged=1)
    assert [o.path for o in report.outcomes or [] if o.status == "loaded"] == [real(other)]
    assert await store.article_count() == 2


async def test_an_edit_that_changes_no_value_is_not_an_update(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    import json
    import sqlite3
    from contextlib import closing

    path = write_article(tmp_path, "a.txt", title="Title", scoop="kept")
    [loaded] = (await load_paths(store, [tmp_path], keep_outcomes=True)).outcomes or []
    text = path.read_text()
    front = text.split("---\n")[1]
    # comments, quoting and key order change; no value does
    lines = ["# edited by hand", *reversed(front.splitlines())]
    path.write_text(text.replace(front, "\n".join(lines) + "\n").replace("Title", "'Title'"))
    set_mtime(path, 1_600_000_100)
    report = await load_paths(store, [tmp_path], keep_outcomes=True)
    assert report.outcomes == [LoadOutcome(real(path), "unchanged", loaded.article_id)]

    path.write_text(text.replace("kept", "changed"))
    set_mtime(path, 1_600_000_200)
    report = await load_paths(store, [tmp_path], keep_outcomes=True)
    assert report.outcomes == [LoadOutcome(real(path), "updated", loaded.article_id)]
    # The file is the source: the row keeps every value, unknown keys too, and no copy.
    with closing(sqlite3.connect(store.path)) as db:
        data, raw = db.execute("SELECT data, raw FROM articles").fetchone()
    assert (json.loads(data)["extra"], raw) == ({"scoop": "changed"}, "")


async def test_dedup_by_canonical_url(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    owner = write_article(tmp_path, "a.txt", webUrl="HTTPS://WWW.Example.com/a/?utm_source=x#frag")
    copy = write_article(tmp_path, "b.txt", webUrl="https://www.example.com/a")

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(loaded=1, duplicates=1)
    assert report.problems == [
        (real(copy), f"duplicate of {real(owner)} (same story URL); skipped")
    ]
    again = await load_paths(store, [tmp_path])  # unchanged: said again from its record
    assert counts(again) == expect(unchanged=1, duplicates=1)
    assert again.problems == report.problems
    [article], total = await store.search("")
    assert total == 1
    assert article.canonical_url == "https://www.example.com/a"
    assert article.url == "HTTPS://WWW.Example.com/a/?utm_source=x#frag"
    assert article.title == "Story a"


async def stories(store: SQLiteStore) -> dict[str, tuple[str, str]]:
    """URL → (id, title) of every stored story."""
    found, _ = await store.search("", limit=100)
    return {a.url: (a.id, a.title) for a in found}


async def test_a_duplicate_takes_the_story_over_when_its_file_is_deleted(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    first = write_article(tmp_path, "a.md", title="From a", webUrl="https://example.com/s")
    second = write_article(tmp_path, "b.md", title="From b", webUrl="https://example.com/s")
    await load_paths(store, [tmp_path])
    [(story, _)] = (await stories(store)).values()
    await store.claim(story, 1001)
    await store.set_delivery(story, 1001, DeliveryState.SENT, message_id=5)
    first.unlink()

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(updated=1)
    assert report.problems == []
    # the same story (its deliveries with it): never posted twice
    assert await stories(store) == {"https://example.com/s": (story, "From b")}
    assert (await store.file_index())[real(second)].status == "ok"
    assert await store.next_for_channel(RouteFilter(1001), 5) == []


async def test_a_duplicate_takes_the_url_over_when_its_file_moves_the_story(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    first = write_article(tmp_path, "a.md", title="From a", webUrl="https://example.com/s")
    write_article(tmp_path, "b.md", title="From b", webUrl="https://example.com/s")
    await load_paths(store, [tmp_path])
    [(story, _)] = (await stories(store)).values()
    # a's webUrl was wrong: its story moves to the corrected URL, and b's URL is free
    write_article(tmp_path, "a.md", title="From a", webUrl="https://example.com/t")
    set_mtime(first, 1_600_000_100)

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(updated=1, loaded=1)
    assert report.problems == []
    found = await stories(store)
    assert found["https://example.com/t"] == (story, "From a")
    assert found["https://example.com/s"][1] == "From b"
    again = await load_paths(store, [tmp_path])
    assert counts(again) == expect(unchanged=2)


async def test_a_new_file_with_a_url_moved_away_in_the_same_batch_gets_its_own_story(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    first = write_article(tmp_path, "b.md", title="From b", webUrl="https://example.com/s")
    await load_paths(store, [tmp_path])
    [(story, _)] = (await stories(store)).values()
    write_article(tmp_path, "b.md", title="From b", webUrl="https://example.com/t")
    set_mtime(first, 1_600_000_100)
    write_article(tmp_path, "a.md", title="From a", webUrl="https://example.com/s")  # before b
    write_article(tmp_path, "c.md", title="From c", webUrl="https://example.com/s")  # after b

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(updated=1, loaded=1, duplicates=1)
    found = await stories(store)
    assert found["https://example.com/t"] == (story, "From b")
    assert found["https://example.com/s"][1] == "From a"  # the first in path order
    assert report.problems == [
        (
            real(tmp_path / "c.md"),
            f"duplicate of {real(tmp_path / 'a.md')} (same story URL); skipped",
        )
    ]


async def test_two_files_that_swap_urls_each_keep_a_story(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    a = write_article(tmp_path, "a.md", title="A about s", webUrl="https://example.com/s")
    d = write_article(tmp_path, "d.md", title="D about t", webUrl="https://example.com/t")
    await load_paths(store, [tmp_path])
    ids = {url: ident for url, (ident, _) in (await stories(store)).items()}
    write_article(tmp_path, "a.md", title="A about t", webUrl="https://example.com/t")
    write_article(tmp_path, "d.md", title="D about s", webUrl="https://example.com/s")
    set_mtime(a, 1_600_000_100)
    set_mtime(d, 1_600_000_100)

    report = await load_paths(store, [tmp_path])

    assert (counts(report), report.problems) == (expect(updated=2), [])
    assert await stories(store) == {
        "https://example.com/s": (ids["https://example.com/s"], "D about s"),
        "https://example.com/t": (ids["https://example.com/t"], "A about t"),
    }


async def test_a_duplicate_takes_over_when_its_owner_becomes_a_duplicate_itself(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    a = write_article(tmp_path, "a.md", title="A about s", webUrl="https://example.com/s")
    write_article(tmp_path, "b.md", title="B about s", webUrl="https://example.com/s")
    write_article(tmp_path, "0.md", title="0 about t", webUrl="https://example.com/t")
    await load_paths(store, [tmp_path])
    ids = {url: ident for url, (ident, _) in (await stories(store)).items()}
    write_article(tmp_path, "a.md", title="A about t", webUrl="https://example.com/t")
    set_mtime(a, 1_600_000_100)

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(updated=1, unchanged=1, duplicates=1)
    assert report.problems == [
        (real(a), f"duplicate of {real(tmp_path / '0.md')} (same story URL); skipped")
    ]
    assert await stories(store) == {
        "https://example.com/s": (ids["https://example.com/s"], "B about s"),
        "https://example.com/t": (ids["https://example.com/t"], "0 about t"),
    }


async def test_two_loads_of_one_database_at_once_take_turns(
    tmp_path: Path, write_article: WriteArticle
) -> None:
    seeds = tmp_path / "seeds"
    for n in range(50):
        write_article(seeds, f"s{n:03d}.md")
    db = str(tmp_path / "newsdesk.db")
    bot_store, cli_store = await SQLiteStore.open(db), await SQLiteStore.open(db)
    try:
        reports = await asyncio.gather(
            load_paths(bot_store, [seeds], workers=1), load_paths(cli_store, [seeds], workers=1)
        )
        # one stored each file; the other found it stored, unchanged
        both = {name: reports[0].counts[name] + reports[1].counts[name] for name in STATUSES}
        assert both == expect(loaded=50, unchanged=50)
        assert await bot_store.article_count() == 50
    finally:
        await bot_store.close()
        await cli_store.close()


async def test_published_elsewhere_is_stored_searchable_never_queued(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    write_article(tmp_path, "done.txt", title="Already published story", published=True)
    report = await load_paths(store, [tmp_path])
    assert counts(report) == expect(loaded=1)

    [article], total = await store.search("already published")
    assert (article.published, total) == (True, 1)
    assert await store.next_for_channel(RouteFilter(1), 10) == []


async def test_folders_recursive_hidden_skipped_other_suffixes_ignored(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    wanted = [
        write_article(tmp_path, "a.txt"),
        write_article(tmp_path, "sub/b.md"),
        write_article(tmp_path, "sub/deeper/c.markdown"),
        write_article(tmp_path, "sub/D.MD"),
    ]
    write_article(tmp_path, ".hidden/e.txt")
    write_article(tmp_path, "sub/.f.txt")
    write_article(tmp_path, "notes.json")
    write_article(tmp_path, "README")
    write_article(tmp_path, "g.txt.bak")

    assert find_files([tmp_path]) == (sorted(real(p) for p in wanted), [], [])
    report = await load_paths(store, [tmp_path])
    assert counts(report) == expect(loaded=4)
    assert sorted(await store.file_index()) == sorted(real(p) for p in wanted)


async def test_a_single_file_and_a_missing_path(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    path = write_article(tmp_path, "one.txt")
    missing = tmp_path / "nope"
    report = await load_paths(store, [missing, path])
    assert report.problems == [(str(missing), "no such file or folder")]
    assert counts(report) == expect(loaded=1)


async def test_process_pool_gives_the_same_store_as_inline(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "many"
    for n in range(450):
        write_article(
            folder,
            f"{n:03}.txt",
            title=f"Story number {n}",
            webUrl=f"https://example.com/{n % 440}",  # ten duplicates
            quality=n % 101,
            topics=["AI" if n % 2 else "Space"],
        )
    for n in range(5):
        (folder / f"bad-{n}.txt").write_text(f"---\ntitle: broken {n}\n---\n")
    assert PROCESS_THRESHOLD <= 455

    pools: list[dict[str, Any]] = []

    class RecordingPool(ProcessPoolExecutor):
        def __init__(self, **kwargs: Any) -> None:
            pools.append(kwargs)
            super().__init__(**kwargs)

    monkeypatch.setattr(bot.ingest.loader, "ProcessPoolExecutor", RecordingPool)
    pooled = await load_paths(store, [folder], workers=2)
    assert [
        (p["max_workers"], p["mp_context"].get_start_method(), p["initializer"]) for p in pools
    ] == [(2, "spawn", bot.ingest.loader._start_worker)]
    again = await load_paths(store, [folder], workers=2)
    assert counts(again) == expect(unchanged=440, duplicates=10, rejected=5)
    assert len(pools) == 1  # nothing to parse: no worker was started

    inline_store = await SQLiteStore.open(str(tmp_path / "inline.db"))
    try:
        inline = await load_paths(inline_store, [folder], workers=1)
        assert len(pools) == 1  # no pool for one worker

        assert counts(pooled) == counts(inline) == expect(loaded=440, duplicates=10, rejected=5)
        assert pooled.problems == inline.problems
        assert await store.file_index() == await inline_store.file_index()
        assert await store.search("", limit=1000) == await inline_store.search("", limit=1000)
        assert await store.topics() == await inline_store.topics() == [("AI", 220), ("Space", 220)]
    finally:
        await inline_store.close()


async def test_a_parser_crash_costs_one_file_not_the_load(
    tmp_path: Path,
    store: SQLiteStore,
    write_article: WriteArticle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_article(tmp_path, "good.txt")
    crash = write_article(tmp_path, "crash.txt")
    original = bot.ingest.parsing.parse_file  # the loader's, imported from there

    def fragile(data: Any) -> Any:
        if b"crash" in data:
            raise KeyError("provider")
        return original(data)

    monkeypatch.setattr(bot.ingest.loader, "parse_file", fragile)
    report = await load_paths(store, [tmp_path])
    assert counts(report) == expect(loaded=1, rejected=1)
    assert report.problems == [(str(crash), "unexpected parser error: KeyError: 'provider'")]


async def test_deleted_files_are_forgotten_page_by_page(
    tmp_path: Path,
    store: SQLiteStore,
    write_article: WriteArticle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bot.ingest.loader, "INDEX_SLICE", 2)  # pages of two paths
    news, other = tmp_path / "news", tmp_path / "news-2"
    news.mkdir()
    other.mkdir()
    paths = [write_article(news, f"{n}.txt", webUrl=f"https://example.com/{n}") for n in range(7)]
    kept = write_article(other, "x.txt", webUrl="https://example.com/x")
    await load_paths(store, [news, other])
    for n in (0, 3, 4, 6):
        paths[n].unlink()

    report = await load_paths(store, [news])

    assert counts(report) == expect(unchanged=3, withdrawn=4)
    assert sorted(await store.file_index()) == sorted(
        [real(paths[n]) for n in (1, 2, 5)] + [real(kept)]
    )
    # a story whose file is gone (never posted) is withdrawn: out of sight, its row kept
    assert await store.article_count() == 4
    assert (await store._one("SELECT count(*) FROM articles"))[0] == 8


def test_a_file_that_grows_while_read_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"x" * 100_000)
    assert bot.ingest.loader._read_bytes(str(path))[1] == b"x" * 100_000
    (tmp_path / "empty.txt").write_bytes(b"")
    assert bot.ingest.loader._read_bytes(str(tmp_path / "empty.txt"))[1] == b""
    # stat saw 10 bytes; 100,000 were there by the time of the read
    regular = stat.S_IFREG | 0o644
    monkeypatch.setattr(
        os, "fstat", lambda fd: os.stat_result((regular, 0, 0, 0, 0, 0, 10, 0, 0, 0))
    )
    found, data = bot.ingest.loader._read_bytes(str(path))
    assert (found.st_size, data) == (10, b"x" * 100_000)
    # ... and up to the size bound, one byte past it, however much more there is
    path.write_bytes(b"y" * (MAX_FILE_BYTES + 5000))
    assert bot.ingest.loader._read_bytes(str(path))[1] == b"y" * (MAX_FILE_BYTES + 1)
    assert read_one(str(path)).error == "file larger than 1024 KiB"


def test_a_file_over_the_bound_is_rejected_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.md"
    with open(big, "wb") as file:
        file.truncate(64 * 1024 * 1024)  # sparse: 64 MiB that take no disk
    reads: list[int] = []
    real_read = os.read

    def read(fd: int, size: int) -> bytes:
        reads.append(size)
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", read)
    item = read_one(str(big))
    assert (item.size, item.sha256, item.error, reads) == (
        64 * 1024 * 1024, "", "file larger than 1024 KiB", []
    )  # fmt: skip


async def test_pipes_and_devices_are_rejected_without_blocking_the_load(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    good = write_article(tmp_path, "good.md")
    os.mkfifo(tmp_path / "pipe.md")  # no writer: a blocking open or read never returns
    (tmp_path / "zero.md").symlink_to("/dev/zero")  # a read never ends

    report = await load_paths(store, [tmp_path], workers=1)

    assert counts(report) == expect(loaded=1, rejected=2)
    assert report.problems == [
        (real(tmp_path / "pipe.md"), "not a regular file"),
        (str(tmp_path / "zero.md"), "not a regular file"),
    ]
    assert [a.url for a in (await store.search(""))[0]] == ["https://example.com/good"]
    assert good.exists()


async def test_a_name_that_is_not_utf8_is_reported_and_the_rest_load(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    write_article(tmp_path, "good.md")
    # names in Latin-1, as unzipped from an old archive
    write_article(tmp_path, os.fsdecode(b"caf\xe9.md"), webUrl="https://example.com/cafe")
    write_article(tmp_path / os.fsdecode(b"d\xe9j\xe0"), "x.md", webUrl="https://example.com/x")

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(loaded=1)
    assert sorted(report.problems) == [
        (f"{real(tmp_path)}/caf\\xe9.md", "the name is not UTF-8: rename it to load it"),
        (f"{real(tmp_path)}/d\\xe9j\\xe0", "the name is not UTF-8: rename it to load it"),
    ]
    assert report.unsearched == 2
    assert await store.article_count() == 1


async def test_a_folder_that_cannot_be_listed_keeps_its_records(
    tmp_path: Path,
    store: SQLiteStore,
    write_article: WriteArticle,
    unlistable: Callable[[str], None],
) -> None:
    write_article(tmp_path, "a.md")
    inner = write_article(tmp_path / "sub", "b.md", webUrl="https://example.com/b")
    await load_paths(store, [tmp_path])
    unlistable("sub")

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(unchanged=1)
    assert report.problems == [(real(tmp_path / "sub"), "Permission denied")]
    assert report.unsearched == 1
    assert real(inner) in await store.file_index()  # unknown, not gone: not read again


async def test_parsing_runs_ahead_of_the_store_by_a_bounded_window(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    for n in range(1500):
        write_article(tmp_path, f"{n:04}.txt")
    monkeypatch.setattr(bot.ingest.loader, "BATCH", 250)
    monkeypatch.setattr(bot.ingest.loader, "TAIL_BATCH", 100)
    monkeypatch.setattr(bot.ingest.loader, "CHUNK", 100)
    monkeypatch.setattr(bot.ingest.loader, "IN_FLIGHT", 200)
    submitted, back, stored = [0], [0], [0]
    out, unstored, batches = [], [], []
    tail_gate = threading.Event()

    def gated(fn: Any, *args: Any) -> Any:
        tail_gate.wait(timeout=30)
        return fn(*args)

    class Counting(ThreadPoolExecutor):
        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            submitted[0] += len(args[0])  # _read_many's jobs
            out.append(submitted[0] - back[0])
            unstored.append(submitted[0] - stored[0])
            if submitted[0] > 1300:  # the last two chunks come back once 1,200 are stored
                return super().submit(gated, fn, *args)
            return super().submit(fn, *args, **kwargs)

    item = bot.ingest.loader._item

    def arriving(plain: Any) -> Any:
        back[0] += 1
        return item(plain)

    apply_load = store.apply_load

    async def storing(items: list[Any]) -> Any:
        batches.append(len(items))
        outcomes = await apply_load(items)
        stored[0] += len(items)
        if stored[0] >= 1200:
            tail_gate.set()
        return outcomes

    monkeypatch.setattr(bot.ingest.loader, "_item", arriving)
    monkeypatch.setattr(store, "apply_load", storing)
    with Counting(2) as pool:  # chunks of CHUNK (here 100) files, as with worker processes
        report = await load_paths(store, [tmp_path], executor=pool)
    assert counts(report) == expect(loaded=1500)
    assert stored == [1500]
    # With the parsers: the window (200). Without it, all 1,500 would be handed out at once.
    assert out == [100] + [200] * 14
    # Not yet stored, beyond the window: a chunk just back, the batch being filled (under
    # BATCH) and the batch being stored (under BATCH + CHUNK), so under 900 files.
    assert max(unstored) < 200 + 100 + 250 + 350
    # Batches of BATCH or more. Once the last chunk is handed out, the idle store takes
    # TAIL_BATCH or more: the 14th chunk came back to an idle store, with the 13th.
    assert batches == [300, 300, 300, 300, 200, 100]


async def test_a_store_error_ends_the_load_and_keeps_the_batches_stored_before(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bot.store import StoreError

    for n in range(600):
        write_article(tmp_path, f"{n:03}.txt", webUrl=f"https://example.com/{n}")
    monkeypatch.setattr(bot.ingest.loader, "BATCH", 200)
    monkeypatch.setattr(bot.ingest.loader, "CHUNK", 100)
    monkeypatch.setattr(bot.ingest.loader, "IN_FLIGHT", 200)
    apply_load, calls = store.apply_load, [0]

    async def failing_second(items: list[Any]) -> Any:
        calls[0] += 1
        if calls[0] == 2:
            raise StoreError("disk full")
        return await apply_load(items)

    monkeypatch.setattr(store, "apply_load", failing_second)
    with ThreadPoolExecutor(2) as pool, pytest.raises(StoreError, match="disk full"):
        await load_paths(store, [tmp_path], executor=pool)
    assert calls == [2]  # no batch after the failed one
    assert len(await store.file_index()) == 200  # the first batch, whole

    monkeypatch.setattr(store, "apply_load", apply_load)
    report = await load_paths(store, [tmp_path])  # the next load stores the rest
    assert counts(report) == expect(loaded=400, unchanged=200)


async def test_a_file_the_store_refuses_costs_that_file_not_its_batch(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle, parse_calls: list[int]
) -> None:
    # SQLite refuses a row over its length limit ("string or blob too big"); lowered
    # here on the store's own connection, so that a 150 KB value is over it.
    store._db._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000)  # idle: no query runs
    for name in ("a.txt", "b.txt", "d.txt", "e.txt"):
        write_article(tmp_path, name)
    big = write_article(tmp_path, "c.txt", notes="x" * 150_000)
    refused = (real(big), "the store refused it: string or blob too big")

    report = await load_paths(store, [tmp_path])
    assert counts(report) == expect(loaded=4, rejected=1)
    assert report.problems == [refused]
    titles = ["Story a", "Story b", "Story d", "Story e"]
    assert sorted(a.title for a in (await store.search(""))[0]) == titles

    # The next rescan keeps the good ones and reads nothing again.
    assert len(parse_calls) == 5
    report = await load_paths(store, [tmp_path])
    assert counts(report) == expect(unchanged=4, rejected=1)
    assert report.problems == [refused]
    assert len(parse_calls) == 5
    assert sorted(a.title for a in (await store.search(""))[0]) == titles

    # Once it fits, it loads.
    write_article(tmp_path, "c.txt", notes="short now")
    report = await load_paths(store, [tmp_path])
    assert counts(report) == expect(loaded=1, unchanged=4)
    assert (await store.search(""))[1] == 5


async def test_the_parse_workers_run_during_a_load_and_end_with_it(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing

    for n in range(PROCESS_THRESHOLD):
        write_article(tmp_path, f"{n:03}.txt", webUrl=f"https://example.com/{n}")
    seen: list[int] = []
    parse_and_store = bot.ingest.loader._parse_and_store

    async def parsing(*args: Any) -> None:
        await parse_and_store(*args)
        seen.append(len(multiprocessing.active_children()))

    monkeypatch.setattr(bot.ingest.loader, "_parse_and_store", parsing)
    before = len(multiprocessing.active_children())
    report = await load_paths(store, [tmp_path], workers=2)
    assert counts(report) == expect(loaded=PROCESS_THRESHOLD)
    assert seen == [before + 2]  # the two workers, once the files are parsed
    assert len(multiprocessing.active_children()) == before  # and are gone after


def test_items_from_workers_come_back_whole(tmp_path: Path, write_article: WriteArticle) -> None:
    from bot.ingest.loader import _item, _plain, read_one

    good = read_one(str(write_article(tmp_path, "good.txt")))
    (tmp_path / "bad.txt").write_text("no front matter")
    bad = read_one(str(tmp_path / "bad.txt"))
    same = read_one(str(tmp_path / "good.txt"), good.sha256)  # unchanged: no article
    assert good.article is not None and bad.error and same.article is None is same.error
    for item in (good, bad, same):
        assert _item(_plain(item)) == item


async def test_a_deleted_file_withdraws_its_story_and_its_return_restores_it(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    alpha = write_article(tmp_path, "a.md", title="Alpha rockets", topics=["AI", "Space"])
    write_article(tmp_path, "b.md", title="Beta", topics=["AI"], quality=40)
    posted = write_article(tmp_path, "c.md", title="Gamma", topics=["AI"], quality=30)
    await load_paths(store, [tmp_path])
    ids = {a.title: a.id for a in (await store.search(""))[0]}
    a, b, c = ids["Alpha rockets"], ids["Beta"], ids["Gamma"]
    await store.pin(2, a, None, 77)  # pinned in channel 2
    await store.set_delivery(a, 4, DeliveryState.REVIEW)  # approved for channel 4
    await store.set_delivery(a, 4, DeliveryState.APPROVED, decided_by=77)
    await store.set_delivery(a, 5, DeliveryState.SKIPPED)  # skipped in channel 5
    await store.set_delivery(c, 1, DeliveryState.SENT, message_id=9)  # posted in channel 1
    alpha.unlink()
    posted.unlink()

    report = await load_paths(store, [tmp_path])

    # the posted story stays; the other is withdrawn from every queue and search
    assert counts(report) == expect(unchanged=1, withdrawn=1)
    assert report.problems == []
    assert await store.get_article(a) is None
    assert await store.search("") == ((await store.get_articles([b, c])), 2)
    assert await store.search("alpha") == ([], 0)
    assert await store.search("", "space") == ([], 0)
    assert await store.topics() == [("AI", 2)]
    assert await store.complete_topics("sp") == []
    assert await store.complete_articles("alpha") == []
    assert await store.complete_articles(a[:4]) == []
    assert [x.id for x in await store.complete_articles("")] == [b, c]
    assert await store.article_count() == 2
    queue = await store.next_for_channel(RouteFilter(2), 5)
    assert [(i.article.id, i.pinned) for i in queue] == [(b, False), (c, False)]
    assert await store.next_approved(4, 5) == []
    assert [x.id for x in await store.review_candidates(RouteFilter(6), 5)] == [b, c]
    assert [x.id for x, _ in await store.latest_sent()] == [c]  # /latest keeps the posted
    assert (await stored(store, c)).title == "Gamma"  # and so does /article
    with pytest.raises(NotFound):
        await store.pin(3, a, None, 77)

    write_article(tmp_path, "a.md", title="Alpha rockets", topics=["AI", "Space"])  # back
    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(loaded=1, unchanged=1)
    story = await store.get_article(a)  # the same id, its pins and decisions kept
    assert story is not None and story.title == "Alpha rockets"
    queue = await store.next_for_channel(RouteFilter(2), 5)
    assert [(i.article.id, i.pinned) for i in queue][:1] == [(a, True)]
    assert [i.article.id for i in await store.next_approved(4, 5)] == [a]
    assert (await recorded(store, a, 4)).decided_by == 77
    assert (await recorded(store, a, 5)).state is DeliveryState.SKIPPED
    assert await store.topics() == [("AI", 3), ("Space", 1)]
    assert await store.search("alpha") == ([story], 1)
    assert await store.article_count() == 3


async def test_a_duplicate_that_takes_a_deleted_files_story_over_keeps_it_queued(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    first = write_article(tmp_path, "a.md", title="From a", webUrl="https://example.com/s")
    write_article(tmp_path, "b.md", title="From b", webUrl="https://example.com/s")
    await load_paths(store, [tmp_path])
    [(story, _)] = (await stories(store)).values()
    await store.pin(2, story, None, 77)
    first.unlink()

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(updated=1)  # not withdrawn: another file gives it
    queue = await store.next_for_channel(RouteFilter(2), 5)
    assert [(i.article.id, i.article.title, i.pinned) for i in queue] == [(story, "From b", True)]


async def test_a_moderators_story_is_never_withdrawn(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    from bot.models import Article, ParseResult

    submitted = Article(
        id="",
        canonical_url="https://example.com/m",
        url="https://example.com/m",
        title="Submitted",
        quality=50,
        source="moderator",
    )
    story, _ = await store.add_article(ParseResult(submitted))
    other, _ = await store.add_article(
        ParseResult(
            dataclasses.replace(
                submitted,
                canonical_url="https://example.com/n",
                url="https://example.com/n",
                title="Other",
            )
        )
    )
    # a file with the same URL takes the submitted story over; then it is deleted
    taking = write_article(tmp_path, "m.md", title="From a file", webUrl="https://example.com/m")
    assert counts(await load_paths(store, [tmp_path])) == expect(updated=1)
    taking.unlink()

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect()
    assert {a.id for a in (await store.search(""))[0]} == {story.id, other.id}
    assert (await stored(store, story.id)).title == "From a file"


async def test_a_missing_root_withdraws_nothing(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    seeds = tmp_path / "seeds"
    write_article(seeds, "a.md")
    await load_paths(store, [seeds])
    seeds.rename(tmp_path / "elsewhere")  # an unmounted disk, a renamed folder, a typo

    report = await load_paths(store, [seeds])

    assert report.problems == [(str(seeds), "no such file or folder")]
    assert counts(report) == expect()
    assert [a.title for a in (await store.search(""))[0]] == ["Story a"]
    assert list(await store.file_index()) == [str(seeds.resolve() / "a.md")]


async def test_a_load_cut_short_leaves_its_withdrawals_to_the_next(
    tmp_path: Path,
    store: SQLiteStore,
    write_article: WriteArticle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.store import StoreError

    gone = write_article(tmp_path, "a.md")
    write_article(tmp_path, "b.md")
    await load_paths(store, [tmp_path])
    gone.unlink()

    async def killed() -> int:  # the process dies after forgetting the file
        raise StoreError("cut short")

    monkeypatch.setattr(store, "withdraw_orphans", killed)
    with pytest.raises(StoreError):
        await load_paths(store, [tmp_path])
    monkeypatch.undo()
    assert await store.article_count() == 2  # the file is forgotten, its story still there

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(unchanged=1, withdrawn=1)
    assert [a.title for a in (await store.search(""))[0]] == ["Story b"]


async def test_a_deleted_files_story_is_withdrawn_when_its_duplicate_now_gives_another(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    first = write_article(tmp_path, "a.md", title="From a", webUrl="https://example.com/s")
    write_article(tmp_path, "b.md", title="From b", webUrl="https://example.com/s")
    await load_paths(store, [tmp_path])
    [(story, _)] = (await stories(store)).values()
    first.unlink()  # and the duplicate, meanwhile, moved to a URL of its own
    write_article(tmp_path, "b.md", title="From b", webUrl="https://example.com/t")

    report = await load_paths(store, [tmp_path])

    assert counts(report) == expect(loaded=1, withdrawn=1)
    found = await stories(store)
    assert list(found) == ["https://example.com/t"] and found["https://example.com/t"][0] != story
    assert await store.get_article(story) is None


async def test_a_root_linked_to_a_missing_folder_withdraws_nothing(
    tmp_path: Path, store: SQLiteStore, write_article: WriteArticle
) -> None:
    disk = tmp_path / "disk"
    write_article(disk, "a.md")
    link = tmp_path / "seeds"
    link.symlink_to(disk)
    await load_paths(store, [link])
    disk.rename(tmp_path / "unmounted")  # the link is left dangling

    report = await load_paths(store, [link])

    assert report.problems == [(str(link), "no such file or folder")]
    assert counts(report) == expect()
    assert [a.title for a in (await store.search(""))[0]] == ["Story a"]
