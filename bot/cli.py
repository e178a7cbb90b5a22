"""The ``newsdesk`` command line: load, inspect and run.

Exit codes: 0 success, 1 ``--strict`` found rejected files or unsearched paths (or a lookup
found nothing), 2 usage or configuration errors and a database that cannot be opened,
141 the reader of stdout went away (``newsdesk queue | head``). Listings print a table, or
one JSON document with ``--json``. Errors go to stderr, one line each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import stat
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot import version
from bot.config.settings import DEFAULT_CONFIG, ConfigError, Route, Settings, load_settings
from bot.config.shards import Shards, make_shards, parse_shard_ids
from bot.delivery.deliverer import upcoming
from bot.ingest.urls import normalise_id
from bot.models import Article
from bot.render.console import json_text
from bot.render.embeds import escape_controls
from bot.runtime.logs import FORMATS, LEVELS, LoadProgress
from bot.store import Store, StoreError, open_store
from bot.store.records import COUNT_LIMIT, count_text

if TYPE_CHECKING:
    from bot.ingest.loader import LoadReport
    from bot.render.embeds import Post

EXIT_OK, EXIT_FOUND_PROBLEMS, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # 128 + SIGPIPE: see main()


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows every option's default (but not a meaningless None or False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, "") or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsdesk",
        description="Curated news stories for Discord channels.",
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"newsdesk {version()}")
    parser.add_argument(
        "--config", type=Path, default=None, help=f"config file (default: {DEFAULT_CONFIG})"
    )
    parser.add_argument(
        "--db", type=Path, default=None, help="database file (default: the config's database)"
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LEVELS,
        default=os.environ.get("NEWSDESK_LOG_LEVEL", "INFO").upper(),
        help="least important log lines shown (env NEWSDESK_LOG_LEVEL)",
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default=os.environ.get("NEWSDESK_LOG_FORMAT", "text"),
        help="text, or json: one object per line (env NEWSDESK_LOG_FORMAT)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub_parser = sub.add_parser

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub_parser(name, formatter_class=_Help, **kwargs)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    load = sub.add_parser("load", help="load article files into the store")
    load.add_argument("paths", nargs="*", type=Path, help="files or folders (default: seeds)")
    load.add_argument(
        "--strict", action="store_true", help="exit 1 if a file is rejected or a path unsearched"
    )
    load.add_argument("--json", action="store_true", help="print the report as JSON")
    load.add_argument("--workers", type=_workers, default=None, help="parser processes (1-64)")

    queue = sub.add_parser("queue", help="the next stories of each channel")
    queue.add_argument("--channel", help="channel name or id (default: every channel)")
    queue.add_argument("--limit", type=_positive, default=5, help="stories per channel")
    queue.add_argument("--json", action="store_true")

    search = sub.add_parser("search", help="search stories by words and topic")
    search.add_argument("query", nargs="?", default="", help="words the stories must contain")
    search.add_argument("--topic", help="only stories of this topic (any case or accents)")
    search.add_argument("--limit", type=_positive, default=10, help="stories to list")
    search.add_argument("--json", action="store_true")

    topics = sub.add_parser("topics", help="every topic with its story count")
    topics.add_argument("--json", action="store_true")

    preview = sub.add_parser(
        "preview", help="show a story, or a channel's next post, as it would be posted"
    )
    preview.add_argument(
        "article_id", nargs="?", help="the story (none: the next post of --channel)"
    )
    preview.add_argument(
        "--channel",
        help="render with this channel's settings; without a story, its next post (on a"
        " digest channel, the digest)",
    )
    preview.add_argument("--json", action="store_true", help="the exact Discord payload")

    sub.add_parser(
        "check-config",
        help="validate the config, check that run would work here, show the next run times",
    )

    migrate = sub.add_parser(
        "migrate-store",
        help="copy the SQLite store (the config's database, or --db) into a PostgreSQL one",
    )
    migrate.add_argument(
        "url", help="postgresql://user:password@host/database (made ready if empty)"
    )

    backup = sub.add_parser(
        "backup", help="write a consistent copy of the database, also while the bot runs"
    )
    backup.add_argument("file", type=Path, help="the new file to write (must not exist)")

    health = sub.add_parser(
        "healthcheck",
        help="exit 0 if the running bot answers on its HTTP listener (a container's check)",
    )
    health.add_argument(
        "--ready", action="store_true", help="ask /readyz (connected, store, scheduler)"
    )
    health.add_argument("--url", help="the listener's base URL (default: from http.listen)")

    invite = sub.add_parser(
        "invite-url", help="the link that adds the bot with the permissions this config needs"
    )
    invite.add_argument(
        "--client-id",
        type=int,
        default=None,
        help="the application id (default: read from the token in DISCORD_TOKEN or token_file)",
    )

    run = sub.add_parser("run", help="run the bot")
    run.add_argument(
        "--dry-run", action="store_true", help="print posts to the terminal; no Discord needed"
    )
    run.add_argument("--json", action="store_true", help="dry run: print exact JSON payloads")
    run.add_argument(
        "--now", action="store_true", help="dry run: every channel's run as if due now, then exit"
    )
    run.add_argument(
        "--shard-ids",
        type=_shard_ids,
        default=None,
        metavar="0,1",
        help="open the gateway for these shards only and run the routes of their guilds"
        " (needs --shard-count; default: the config's shards, else every guild)",
    )
    run.add_argument(
        "--shard-count",
        type=int,
        default=None,
        metavar="N",
        help="how many shards the bot has in all (alone: every shard in this process)",
    )
    run.add_argument(
        "--standby",
        action="store_true",
        help="hold no shard at start; take over any shard whose process stops renewing its"
        " lease (needs --shard-count and PostgreSQL)",
    )
    run.set_defaults(usage_error=run.error)  # argparse's message and exit 2, with run's usage
    return parser


def _shard_ids(text: str) -> list[int]:
    try:
        return parse_shard_ids(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def command_line_shards(args: argparse.Namespace) -> Shards | None:
    """``run --shard-ids/--shard-count`` as Shards (None: the config's say). Calls
    ``args.usage_error`` (exit 2) when they cannot be run."""
    ids: list[int] | None = getattr(args, "shard_ids", None)
    count: int | None = getattr(args, "shard_count", None)
    standby: bool = getattr(args, "standby", False)
    if ids is None and count is None and not standby:
        return None
    if count is None:
        flag = "--standby" if standby and ids is None else "--shard-ids"
        args.usage_error(f"{flag} needs --shard-count (how many shards the bot has in all)")
        raise AssertionError("usage_error exits")
    if standby and ids is not None:
        args.usage_error("--standby starts with no shard: give it --shard-count only")
        raise AssertionError("usage_error exits")
    try:
        return make_shards(ids, count, standby=standby)
    except ValueError as exc:
        args.usage_error(f"--shard-ids/--shard-count: {exc}")
        raise AssertionError("usage_error exits") from None


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
    rows = [[escape_controls(cell) for cell in row] for row in rows]  # feed text, one line
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
            "unknown" if a.quality is None else str(a.quality),
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
    """A one-line progress bar on a terminal; elsewhere (a log, a pipe) a line now and
    then during a long load."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.lines = LoadProgress(lambda text: print(text, file=stream, flush=True))

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            self.lines(done, total)
            return
        if total < 200:
            return
        filled = int(30 * done / total) if total else 30
        self.stream.write(f"\rloading [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


async def cmd_load(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    # Imported here: the loader brings the parsers (yaml-rs, multiprocessing), ≈ 5 MB that
    # queue, search, topics and preview do not need.
    from bot.ingest.loader import MERGED, STATUSES, load_paths

    roots = args.paths or [settings.seeds]
    report: LoadReport = await load_paths(
        store, roots, workers=args.workers, progress=ProgressBar(sys.stderr)
    )
    for path, reason in report.problems:
        print(escape_controls(f"{path}: {reason}"), file=sys.stderr)
    for path, warning in report.warnings:
        print(escape_controls(f"{path}: warning: {warning}"), file=sys.stderr)
    if args.json:
        doc = {
            "counts": {name: report.counts[name] for name in (*STATUSES, MERGED)},
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
            print(escape_controls(f"#{route.name} — {route.schedule.describe()}{flags}"))
            rows = [
                ["pin" if i.pinned else str(n), *_article_rows([i.article])[0]]
                for n, i in enumerate(items, 1)
            ]
            _table(rows, ["#", *ARTICLE_HEADERS], sys.stdout)
            print()
    if args.json:
        print(json_text({"channels": doc}, indent=2))
    elif not routes:
        print("no channels configured", file=sys.stderr)
    return EXIT_OK


async def cmd_search(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    from bot.desk.stories import UnknownTopic, resolve_topic

    topic = None
    if args.topic is not None:
        try:
            topic = await resolve_topic(store, args.topic)
        except UnknownTopic as exc:
            if exc.suggestions:
                hint = f"did you mean: {escape_controls(', '.join(exc.suggestions))}?"
            else:
                hint = "`newsdesk topics` lists them"
            print(
                f"newsdesk: no topic {escape_controls(repr(args.topic))} ({hint})", file=sys.stderr
            )
            return EXIT_FOUND_PROBLEMS
    articles, total = await store.search(args.query, topic, args.limit)
    if args.json:
        # the store counts up to COUNT_LIMIT: past it, "total" is that and "capped" true
        doc = {
            "total": min(total, COUNT_LIMIT),
            "capped": total > COUNT_LIMIT,
            "articles": [article_json(a) for a in articles],
        }
        print(json_text(doc, indent=2))
    else:
        _table(_article_rows(articles), ARTICLE_HEADERS, sys.stdout)
        print(f"{len(articles)} of {count_text(total)} matching")
    return EXIT_OK


async def cmd_topics(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    topics = await store.topics()
    if args.json:
        doc = {"topics": [{"topic": t, "articles": n} for t, n in topics]}
        print(json_text(doc, indent=2))
    else:
        _table([[t, str(n)] for t, n in topics], ["TOPIC", "ARTICLES"], sys.stdout)
    return EXIT_OK


async def _next_post(store: Store, settings: Settings, route: Route) -> Post | None:
    """What the route's next run would post: its digest, or its next story (None: none)."""
    from bot.delivery.deliverer import next_digest
    from bot.render.embeds import build_post

    now = datetime.now(UTC)
    if route.digest is not None:
        return await next_digest(store, route, now)
    items = await upcoming(store, route, now, 1)
    if not items:
        return None
    return build_post(
        items[0].article,
        mention_role=route.mention_role,
        topic_roles=route.topic_roles,
        colours=settings.topic_colours,
    )


async def cmd_preview(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    from bot.curation.ranking import filter_reasons, route_filter
    from bot.render.console import render_post
    from bot.render.embeds import build_post

    if args.article_id is None and not args.channel:
        print(
            "newsdesk: preview needs a story id, or --channel NAME for that channel's next post",
            file=sys.stderr,
        )
        return EXIT_USAGE
    route = None
    if args.channel and (route := _route(settings, args.channel)) is None:
        return EXIT_USAGE
    notes: list[str] = []
    if args.article_id is None:
        assert route is not None
        post = await _next_post(store, settings, route)
        if post is None:
            what = "digest" if route.digest is not None else "post"
            message = f"newsdesk: #{route.name} has no story for its next {what}"
            print(escape_controls(message), file=sys.stderr)
            return EXIT_FOUND_PROBLEMS
    else:
        article = await store.get_article(normalise_id(args.article_id))
        if article is None:
            print(f"newsdesk: no article with id {args.article_id!r}", file=sys.stderr)
            return EXIT_FOUND_PROBLEMS
        post = build_post(
            article,
            mention_role=route.mention_role if route else None,
            topic_roles=route.topic_roles if route else (),
            colours=settings.topic_colours,
        )
        if route is not None:  # what keeps it out of that channel's queue, if anything
            flt = route_filter(route, datetime.now(UTC))
            first_seen = await store.first_seen_ts(article.id)
            only = await store.submitted_for(article.id)
            notes = [
                f"not queued in #{route.name}: {reason}"
                for reason in filter_reasons(article, flt, first_seen, only)
            ]
    if args.json:  # stdout stays the exact payload; the notes go beside it
        print(json_text(post.to_payload(), indent=2))
        for note in notes:
            print(f"newsdesk: {escape_controls(note)}", file=sys.stderr)
    else:
        print(render_post(post))
        for note in notes:
            print(escape_controls(note))
    return EXIT_OK


async def cmd_backup(store: Store, settings: Settings, args: argparse.Namespace) -> int:
    await store.backup(str(args.file))
    print(f"{settings.database_name} backed up to {args.file}")
    return EXIT_OK


def cmd_healthcheck(settings: Settings, url: str | None, ready: bool) -> int:
    """GET /healthz (or /readyz) of the running bot: exit 0 on 200, else 1 with why."""
    import urllib.error
    import urllib.request

    from bot.config.settings import split_listen

    if url is None:
        if settings.http_listen is None:
            print("newsdesk: no http listener configured (http: {listen: ...})", file=sys.stderr)
            return EXIT_USAGE
        host, port = split_listen(settings.http_listen)
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    if not url.startswith(("http://", "https://")):
        print(f"newsdesk: --url must be an http(s) URL, got {url!r}", file=sys.stderr)
        return EXIT_USAGE
    target = url.rstrip("/") + ("/readyz" if ready else "/healthz")
    try:
        with urllib.request.urlopen(target, timeout=5) as answer:  # noqa: S310 (http only)
            print(answer.read().decode(errors="replace").strip())
            return EXIT_OK
    except urllib.error.HTTPError as exc:
        why = exc.read().decode(errors="replace").strip().replace("\n", "; ")
        print(f"newsdesk: {target}: {exc.code} {why}", file=sys.stderr)
    except (urllib.error.URLError, OSError) as exc:
        print(f"newsdesk: {target}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
    return EXIT_FOUND_PROBLEMS


def cmd_invite_url(settings: Settings, client_id: int | None) -> int:
    from bot.config.token import read_token
    from bot.discord.permissions import client_id_from_token, describe, invite_url

    if client_id is None:
        token = read_token(settings)
        client_id = client_id_from_token(token) if token else None
    if client_id is None:
        print(
            "newsdesk: give --client-id (the Application ID on the Developer Portal's"
            " General Information page), or set the token to read it from",
            file=sys.stderr,
        )
        return EXIT_USAGE
    print(invite_url(client_id, settings))
    for line in describe(settings):
        print(line, file=sys.stderr)
    return EXIT_OK


COMMANDS = {
    "backup": cmd_backup,
    "load": cmd_load,
    "queue": cmd_queue,
    "search": cmd_search,
    "topics": cmd_topics,
    "preview": cmd_preview,
}


# backup too: VACUUM INTO reads, and works on a read-only database
READ_COMMANDS = frozenset({"queue", "search", "topics", "preview", "backup"})


def _database_problem(path: Path, *, create: bool) -> str | None:
    """Why ``path`` cannot be opened as the database, in one line; None if it can be or
    does not exist yet (``create``: its folder is made first).

    Asked of the file system first: SQLite says "unable to open database file" for
    every one of these.
    """
    where = f"cannot open the database {path}"
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except (FileExistsError, NotADirectoryError):  # a file where a folder should be
        file = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        return f"{where}: {file} is not a folder"
    except OSError as exc:
        return f"{where}: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return f"{where}: it is a folder"
    if not stat.S_ISREG(mode):
        return f"{where}: it is not a regular file"
    return None


async def _with_store(settings: Settings, args: argparse.Namespace) -> int:
    # The read commands never create, migrate or write a database: they open it
    # read-only, so a read-only file (or one a running bot writes) serves them.
    read_only = args.command in READ_COMMANDS
    if settings.database_url is not None:
        store = await open_store(settings.database_url, read_only=read_only)
        store.set_event_window(settings.events.window)
        try:
            return await COMMANDS[args.command](store, settings, args)
        finally:
            await store.close()
    path = settings.database
    problem = _database_problem(path, create=not read_only)
    if problem is None and read_only and not path.exists():
        problem = f"no database at {path} — run `newsdesk load` first"
    if problem is not None:
        print(f"newsdesk: {problem}", file=sys.stderr)
        return EXIT_USAGE
    store = await open_store(str(path), read_only=read_only)
    try:
        if not read_only:
            await store.rank_unknown_quality(settings.unknown_quality)
            store.set_event_window(settings.events.window)
        return await COMMANDS[args.command](store, settings, args)
    finally:
        await store.close()


def migrate_store(settings: Settings, url: str) -> int:
    """Copy the SQLite store into PostgreSQL; a second run copies only what is missing."""
    from bot.store.postgres import is_postgres_url, redact
    from bot.store.postgres.transfer import copy_sqlite_store

    if not is_postgres_url(url):
        print(f"newsdesk: migrate-store needs a postgresql:// URL, got {url!r}", file=sys.stderr)
        return EXIT_USAGE
    source = settings.database
    try:
        copied = asyncio.run(copy_sqlite_store(str(source), url))
    except StoreError as exc:
        print(f"newsdesk: database error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for table, added in copied.added.items():
        print(f"{table}: {copied.found[table]} in {source}, {added} copied")
    print(f"{source} copied to {redact(url)}: set `database:` (or NEWSDESK_DATABASE_URL) to it")
    return EXIT_OK


def check_config(settings: Settings) -> int:
    """The file is valid: say whether ``run`` would work here, and when channels post."""
    from bot.config.checks import check

    found = check(settings, datetime.now(UTC), dict(os.environ))
    for problem in found.problems:
        print(f"newsdesk: config error: {settings.path}: {problem}", file=sys.stderr)
    if found.problems:
        return EXIT_USAGE
    names = ", ".join(r.name for r in settings.channels)
    print(f"{settings.path}: ok ({len(settings.channels)} channels: {names})")
    for note in found.notes:
        print(f"  {note}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:  # argparse's --help and errors too
            if sys.stdout is not None:  # None: started with stdout closed
                sys.stdout.flush()  # here, where a failed write can still be caught
    except BrokenPipeError:
        # The reader went away (`newsdesk queue | head`): stop quietly, as cat or grep
        # do, and with the status a shell shows for them (128 + SIGPIPE): a pipeline
        # under `set -o pipefail` treats us as it treats them.
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a full disk under `> file`, what no check foresaw
        _drop_stdout()
        print(f"newsdesk: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _drop_stdout() -> None:
    """Point stdout at /dev/null: the interpreter's last flush then has no failed write to
    repeat ("Exception ignored ... BrokenPipeError" and status 120 otherwise)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError):  # closed at start, or not a file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run" and not args.dry_run and (args.now or args.json):
        # else a mistyped dry run would start the real bot and post
        flag = "--now" if args.now else "--json"
        args.usage_error(f"{flag} needs --dry-run (no post is sent without it)")
    shards = command_line_shards(args)
    try:
        settings = load_settings(args.config or DEFAULT_CONFIG, database=args.db, shards=shards)
    except ConfigError as exc:
        for problem in getattr(exc, "problems", [exc]):
            print(f"newsdesk: config error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "check-config":
        return check_config(settings)
    if args.command == "healthcheck":
        return cmd_healthcheck(settings, args.url, args.ready)
    if args.command == "invite-url":
        try:
            return cmd_invite_url(settings, args.client_id)
        except ConfigError as exc:
            print(f"newsdesk: config error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.command == "migrate-store":
        return migrate_store(settings, args.url)
    if args.command == "run":
        from bot.runtime.app import run

        # the run makes a missing database; a dry run works on an empty one instead
        problem = None
        if settings.database_url is None:
            problem = _database_problem(settings.database, create=False)
        if problem:
            print(f"newsdesk: {problem}", file=sys.stderr)
            return EXIT_USAGE
        return run(settings, args)
    try:
        return asyncio.run(_with_store(settings, args))
    except StoreError as exc:
        print(f"newsdesk: database error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
