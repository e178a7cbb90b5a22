"""The ``newsdesk`` command line: load, inspect and run.

Exit codes: 0 success, 1 ``--strict`` found rejected files or unsearched paths (or a lookup
found nothing), 2 usage or configuration errors. Listings print a table, or one JSON
document with ``--json``. Errors go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.config import DEFAULT_CONFIG, ConfigError, Route, Settings, load_settings
from bot.delivery import upcoming
from bot.models import Article
from bot.store import Store, StoreError, open_store
from bot.store.base import count_text
from bot.urls import normalise_id

if TYPE_CHECKING:
    from bot.loader import LoadReport

EXIT_OK, EXIT_FOUND_PROBLEMS, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsdesk", description="Curated news stories for Discord channels."
    )
    parser.add_argument(
        "--config", type=Path, default=None, help=f"config file (default: {DEFAULT_CONFIG})"
    )
    parser.add_argument("--db", type=Path, default=None, help="database file (overrides config)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = sub.add_parser("load", help="load article files into the store")
    load.add_argument("paths", nargs="*", type=Path, help="files or folders (default: seeds)")
    load.add_argument(
        "--strict", action="store_true", help="exit 1 if a file is rejected or a path unsearched"
    )
    load.add_argument("--json", action="store_true", help="print the report as JSON")
    load.add_argument("--workers", type=_workers, default=None, help="parser processes (1-64)")

    queue = sub.add_parser("queue", help="the next stories of each channel")
    queue.add_argument("--channel", help="channel name or id (default: every channel)")
    queue.add_argument("--limit", type=_positive, default=5)
    queue.add_argument("--json", action="store_true")

    search = sub.add_parser("search", help="search stories by words and topic")
    search.add_argument("query", nargs="?", default="")
    search.add_argument("--topic")
    search.add_argument("--limit", type=_positive, default=10)
    search.add_argument("--json", action="store_true")

    topics = sub.add_parser("topics", help="every topic with its story count")
    topics.add_argument("--json", action="store_true")

    preview = sub.add_parser("preview", help="show a story as it would be posted")
    preview.add_argument("article_id")
    preview.add_argument("--channel", help="render with this channel's settings")
    preview.add_argument("--json", action="store_true", help="the exact Discord payload")

    sub.add_parser("check-config", help="validate the config file and exit")

    run = sub.add_parser("run", help="run the bot")
    run.add_argument(
        "--dry-run", action="store_true", help="print posts to the terminal; no Discord needed"
    )
    run.add_argument("--json", action="store_true", help="dry run: print exact JSON payloads")
    run.add_argument(
        "--now", action="store_true", help="dry run: every channel's run as if due now, then exit"
    )
    return parser


def _whole(text: str, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= high:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to {high}")
    return value


def _positive(text: str) -> int:
    return _whole(text, 1000)


def _workers(text: str) -> int:
    return _whole(text, 64)


def article_json(article: Article) -> dict[str, Any]:
    """The listing form of an article, shared by every ``--json`` output."""
    return {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "quality": article.quality,
        "heat": article.heat,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "topics": list(article.topics),
        "provider": article.provider_name,
    }


def _table(rows: list[list[str]], headers: list[str], out: TextIO) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    widths[-1] = min(widths[-1], 80)

    def line(cells: Sequence[str]) -> str:
        fitted = [
            (c if len(c) <= w else c[: w - 1] + "…").ljust(w)
            for c, w in zip(cells, widths, strict=True)
        ]
        return "  ".join(fitted).rstrip()

    print(line(headers), file=out)
    for row in rows:
        print(line(row), file=out)


def _article_rows(articles: list[Article]) -> list[list[str]]:
    return [
        [
            a.id,
            str(a.quality),
            str(a.heat),
            a.published_at.strftime("%Y-%m-%d") if a.published_at else "unknown",
            a.provider_name or "",
            ", ".join(a.topics),
            a.title,
        ]
        for a in articles
    ]


ARTICLE_HEADERS = ["ID", "Q", "HEAT", "PUBLISHED", "PROVIDER", "TOPICS", "TITLE"]


class ProgressBar:
    """A one-line progress bar on a terminal; silent when stderr is not one."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < 200:
            return
        filled = int(30 * done / total) if total else 30
        self.stream.write(f"\rloading [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


async def cmd_load(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: the loader brings the parsers (yaml-rs, multiprocessing), ≈ 5 MB that
    # queue, search, topics and preview do not need.
    from bot.loader import STATUSES, load_paths

    roots = args.paths or [settings.seeds]
    report: LoadReport = await load_paths(
        store, roots, workers=args.workers, progress=ProgressBar(sys.stderr)
    )
    for path, reason in report.problems:
        print(f"{path}: {reason}", file=sys.stderr)
    for path, warning in report.warnings:
        print(f"{path}: warning: {warning}", file=sys.stderr)
    if args.json:
        doc = {
            "counts": {name: report.counts[name] for name in STATUSES},
            "problems": [{"path": p, "reason": r} for p, r in report.problems],
            "warnings": [{"path": p, "warning": w} for p, w in report.warnings],
        }
        print(json.dumps(doc, indent=2))
    else:
        print(report.summary())
    failed = report.counts["rejected"] or report.unsearched
    return EXIT_FOUND_PROBLEMS if args.strict and failed else EXIT_OK


def _route(settings: Settings, channel: str) -> Route | None:
    """The configured channel named (or numbered) ``channel``; else says so on stderr."""
    route = settings.route(channel)
    if route is None:
        names = ", ".join(r.name for r in settings.channels) or "none configured"
        print(f"newsdesk: no channel {channel!r} (channels: {names})", file=sys.stderr)
    return route


async def cmd_queue(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    routes = settings.channels
    if args.channel:
        route = _route(settings, args.channel)
        if route is None:
            return EXIT_USAGE
        routes = (route,)
    now = datetime.now(UTC)
    doc = []
    for route in routes:
        items = await upcoming(store, route, now, args.limit)
        state = await store.route_state(route.id)
        doc.append(
            {
                "channel": route.name,
                "channel_id": route.id,
                "paused": state.paused,
                "disabled": state.disabled,
                "articles": [article_json(i.article) | {"pinned": i.pinned} for i in items],
            }
        )
        if not args.json:
            flags = " (paused)" if state.paused else " (disabled)" if state.disabled else ""
            print(f"#{route.name} — {route.schedule.describe()}{flags}")
            rows = [
                ["pin" if i.pinned else str(n), *_article_rows([i.article])[0]]
                for n, i in enumerate(items, 1)
            ]
            _table(rows, ["#", *ARTICLE_HEADERS], sys.stdout)
            print()
    if args.json:
        print(json.dumps({"channels": doc}, indent=2, ensure_ascii=False))
    elif not routes:
        print("no channels configured", file=sys.stderr)
    return EXIT_OK


async def cmd_search(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    articles, total = await store.search(args.query, args.topic, args.limit)
    if args.json:
        doc = {"total": total, "articles": [article_json(a) for a in articles]}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _table(_article_rows(articles), ARTICLE_HEADERS, sys.stdout)
        print(f"{len(articles)} of {count_text(total)} matching")
    return EXIT_OK


async def cmd_topics(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    topics = await store.topics()
    if args.json:
        doc = {"topics": [{"topic": t, "articles": n} for t, n in topics]}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _table([[t, str(n)] for t, n in topics], ["TOPIC", "ARTICLES"], sys.stdout)
    return EXIT_OK


async def cmd_preview(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    from bot.console import render_post
    from bot.embeds import build_post

    article = await store.get_article(normalise_id(args.article_id))
    if article is None:
        print(f"newsdesk: no article with id {args.article_id!r}", file=sys.stderr)
        return EXIT_FOUND_PROBLEMS
    route = None
    if args.channel and (route := _route(settings, args.channel)) is None:
        return EXIT_USAGE
    post = build_post(
        article,
        mention_role=route.mention_role if route else None,
        colours=settings.topic_colours,
    )
    if args.json:
        print(json.dumps(post.to_payload(), indent=2, ensure_ascii=False))
    else:
        print(render_post(post))
    return EXIT_OK


COMMANDS = {
    "load": cmd_load,
    "queue": cmd_queue,
    "search": cmd_search,
    "topics": cmd_topics,
    "preview": cmd_preview,
}


async def _with_store(settings: Settings, args: argparse.Namespace) -> int:
    settings.database.parent.mkdir(parents=True, exist_ok=True)
    store = await open_store(str(settings.database))
    try:
        return await COMMANDS[args.command](store, settings, args)
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config or DEFAULT_CONFIG, database=args.db)
    except ConfigError as exc:
        print(f"newsdesk: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "check-config":
        names = ", ".join(r.name for r in settings.channels) or "none"
        print(f"{settings.path}: ok ({len(settings.channels)} channels: {names})")
        return EXIT_OK
    if args.command == "run":
        from bot.runtime.app import run

        return run(settings, args)
    try:
        return asyncio.run(_with_store(settings, args))
    except StoreError as exc:
        print(f"newsdesk: database error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
