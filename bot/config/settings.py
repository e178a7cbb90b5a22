"""Settings: one place reads config/*.yaml, checks every field, and says what is wrong.

A mistake stops start-up with the file, the key and what was expected
(:class:`ConfigError`); the CLI turns it into exit code 2.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot.config.cron import cron_trigger, expand
from bot.config.shards import (
    LEASE_SECONDS,
    MAX_SHARD_COUNT,
    RENEW_SECONDS,
    Shards,
    make_shards,
)
from bot.ingest.urls import is_http_url
from bot.models import domain_key, topic_key, word_key

DEFAULT_CONFIG = Path("config/newsdesk.yaml")
DISCORD_API = "https://discord.com/api/v10"
DISCORD_GATEWAY = "wss://gateway.discord.gg/"
# The bot's REST budget: under Discord's global 50 requests/s, leaving room for what it
# does not pace (logging in, syncing the commands). A bot Discord has granted a higher
# global limit may raise it.
REST_PER_SECOND = 46.0
MAX_REST_PER_SECOND = 10_000.0
DEFAULT_LISTEN = "127.0.0.1:9300"  # loopback: other machines reach it only if told to
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_AGE_DAYS = 100_000  # about 270 years; far more would overflow a date
# A digest's stories are lines of one embed description (4,096 characters): 25 lines with
# a link of 100 characters, an outlet and a topic leave each title about 20 characters,
# and Discord caps an embed at 25 fields, the other list form.
DIGEST_TOP_LIMIT = 25
DIGEST_TOP_DEFAULT = 10
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?]+$")


class ConfigError(Exception):
    def __init__(self, file: str | Path, key: str, expected: str, unknown: bool = False) -> None:
        self.file, self.key, self.expected = str(file), key, expected
        self.unknown = unknown  # an unknown key: reported before the rest
        super().__init__(f"{file}: {key}: {expected}")


class ConfigProblems(ConfigError):
    """Every problem of a config file at once, unknown keys first (a misspelt key explains
    the "is required" that often follows it)."""

    def __init__(self, problems: list[ConfigError]) -> None:
        self.problems = sorted(problems, key=lambda p: not p.unknown)
        first = self.problems[0]
        super().__init__(first.file, first.key, first.expected, first.unknown)
        self.args = ("\n".join(str(p) for p in self.problems),)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Either a fixed interval or a five-field cron expression."""

    every: timedelta | None = None
    cron: str | None = None

    def describe(self) -> str:
        if self.every is not None:
            return f"every {format_duration(self.every)}"
        return f"cron {self.cron}"


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """A route that posts one message per run listing its best stories since the last."""

    top: int = DIGEST_TOP_DEFAULT  # stories in one digest at most


@dataclass(frozen=True, slots=True)
class Route:
    """One channel that receives stories, with its filters and schedule."""

    id: int
    name: str
    schedule: Schedule
    topics: tuple[str, ...] = ()
    exclude_topics: tuple[str, ...] = ()
    min_quality: int = 0
    max_age_days: float | None = None
    per_run: int = 1
    quiet_hours: QuietHours | None = None
    timezone: str = "UTC"
    mention_role: int | None = None
    thread: bool = False
    publish: bool = False
    approval: bool = False
    review_channel: int | None = None
    include_words: tuple[str, ...] = ()
    exclude_words: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # domain_keys; a subdomain is in its domain
    exclude_providers: tuple[str, ...] = ()
    topic_roles: tuple[tuple[str, int], ...] = ()  # (topic_key, role id), in the file's order
    include_published: bool = False
    require_quality: bool = False
    digest: DigestSettings | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    api_base_url: str = DISCORD_API
    gateway_url: str = DISCORD_GATEWAY
    # requests a second to Discord's REST API for every process of the bot together
    # (Discord allows 50 a bot); see bot/delivery/pacing.py
    rest_per_second: float = REST_PER_SECOND


@dataclass(frozen=True, slots=True)
class EventSettings:
    """How stories are grouped into events (bot.curation.events)."""

    # Titles alike link two stories published at most this far apart; 0: titles link
    # nothing (related URLs still do).
    window: timedelta = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path
    database: Path
    seeds: Path
    channels: tuple[Route, ...] = ()
    rescan: timedelta | None = timedelta(minutes=5)
    watch: bool = True  # load new and edited files as the file system announces them
    token_file: Path | None = None
    guild_ids: tuple[int, ...] = ()
    moderator_roles: tuple[int, ...] = ()
    mod_log_channel: int | None = None
    update_posted: bool = True
    topic_colours: dict[str, int] = field(default_factory=dict)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    http_listen: str | None = None  # host:port of /healthz, /readyz, /metrics; None: off
    unknown_quality: int = 50  # how a story whose file gives no quality ranks
    events: EventSettings = field(default_factory=EventSettings)
    shards: Shards | None = None  # None: one process, every guild, no sharding
    # A PostgreSQL database (``database: postgresql://…`` or NEWSDESK_DATABASE_URL) in
    # place of the SQLite file ``database``; None: the SQLite file.
    database_url: str | None = None

    @property
    def store_target(self) -> str:
        """What open_store opens: the PostgreSQL URL, or the SQLite file's path."""
        return self.database_url or str(self.database)

    @property
    def database_name(self) -> str:
        """The database for messages and logs: a URL never shows its password."""
        if self.database_url is None:
            return str(self.database)
        from bot.store.postgres import redact

        return redact(self.database_url)

    def route(self, name_or_id: str | int) -> Route | None:
        for route in self.channels:
            if str(route.id) == str(name_or_id) or route.name == str(name_or_id).lstrip("#"):
                return route
        return None


def split_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:9300"`` or ``"[::1]:9300"`` → (host, port). Raises ValueError."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(listen)
    return host.strip("[]"), int(port)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(text)
    try:
        return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    except OverflowError:  # more days than a timedelta holds
        raise ValueError(text) from None


# events.window_hours at most: 30 days (a wider window only adds wrong merges).
MAX_EVENT_WINDOW_HOURS = 720


class _Reader:
    """Typed access to one mapping of the file, naming the key on every error."""

    def __init__(
        self,
        file: Path,
        data: dict[str, Any],
        prefix: str = "",
        problems: list[ConfigError] | None = None,
    ) -> None:
        self.file, self.data, self.prefix = file, data, prefix
        self.used: set[str] = set()
        # shared by a reader and its sub-readers: a wrong value is noted and reading goes
        # on, so that one run reports every problem of the file
        self.problems: list[ConfigError] = [] if problems is None else problems

    def note(self, error: ConfigError) -> None:
        self.problems.append(error)

    def guard(self, read: Callable[[], Any], default: Any = None) -> Any:
        """``read()``, or ``default`` with its ConfigError noted."""
        try:
            return read()
        except ConfigError as exc:
            self.note(exc)
            return default

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, expected: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), expected)

    def raw(self, name: str, required: bool = False) -> Any:
        self.used.add(name)
        if name not in self.data or self.data[name] is None:
            if required:
                self.note(self.fail(name, "is required"))
            return None
        return self.data[name]

    def text(self, name: str, default: str | None = None, required: bool = False) -> Any:
        value = self.raw(name, required)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            self.note(self.fail(name, f"expected non-empty text, got {value!r}"))
            return default
        return value.strip()

    def integer(
        self,
        name: str,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
        required: bool = False,
    ) -> Any:
        value = self.raw(name, required)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.note(self.fail(name, f"expected an integer, got {value!r}"))
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.note(self.fail(name, f"expected an integer {bounds}, got {value}"))
            return default
        return value

    def snowflake(self, name: str, required: bool = False) -> Any:
        value = self.raw(name, required)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            expected = f"expected a Discord id (a positive integer), got {value!r}"
            self.note(self.fail(name, expected))
            return None
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.note(self.fail(name, f"expected true or false, got {value!r}"))
            return default
        return value

    def number(self, name: str, low: float, high: float) -> float | None:
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= low:
            self.note(self.fail(name, f"expected a number above {low}, got {value!r}"))
            return None
        if not value <= high:  # also NaN
            self.note(self.fail(name, f"expected a number at most {high}, got {value!r}"))
            return None
        return float(value)

    def items(self, name: str) -> list[Any]:
        value = self.raw(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.note(self.fail(name, f"expected a list, got {value!r}"))
            return []
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.items(name)
        for index, item in enumerate(values):
            if not isinstance(item, str) or not item.strip():
                self.note(self.fail(f"{name}[{index}]", f"expected text, got {item!r}"))
                return ()
        return tuple(v.strip() for v in values)

    def snowflakes(self, name: str) -> tuple[int, ...]:
        values = self.items(name)
        sub = _Reader(self.file, {str(i): v for i, v in enumerate(values)}, f"{self.key(name)}[")
        out = []
        for index in range(len(values)):
            value = sub.snowflake(str(index))
            for problem in sub.problems:
                self.note(self.fail(f"{name}[{index}]", problem.expected))
            sub.problems.clear()
            if value is not None:
                out.append(value)
        return tuple(out)

    def mapping(self, name: str) -> _Reader:
        value = self.raw(name)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.note(self.fail(name, f"expected a mapping, got {value!r}"))
            value = {}
        return _Reader(self.file, value, f"{self.key(name)}.", self.problems)

    def duration(self, name: str, default: timedelta | None) -> timedelta | None:
        value = self.raw(name)
        if value is None:
            return default
        if value is False or value == "off":
            return None
        try:
            result = parse_duration(str(value))
        except ValueError:
            expected = f"expected a duration like 90s, 30m or 2h, got {value!r}"
            self.note(self.fail(name, expected))
            return default
        if result.total_seconds() < 1:
            self.note(self.fail(name, "expected at least 1s"))
            return default
        return result

    def finish(self) -> None:
        """Note every key that was never read, with the closest known key if one is close."""
        for name in sorted(set(map(str, self.data)) - self.used):
            close = difflib.get_close_matches(name, sorted(self.used), n=1, cutoff=0.75)
            if close:
                expected = f"unknown key (did you mean {close[0]}?)"
            else:
                expected = f"unknown key (known keys: {', '.join(sorted(self.used))})"
            self.note(ConfigError(self.file, self.key(name), expected, unknown=True))


def _schedule(reader: _Reader) -> Schedule | None:
    value = reader.raw("schedule", required=True)
    if value is None:
        return None
    if isinstance(value, str):
        fields = expand(value).split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise reader.fail(
                "schedule",
                f"expected a 5-field cron expression or @hourly, @daily, @weekly, @monthly,"
                f" got {value!r}",
            )
        try:
            trigger = cron_trigger(value)
        except ValueError as exc:
            raise reader.fail("schedule", f"invalid cron expression {value!r}: {exc}") from None
        if trigger.get_next_fire_time(None, datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise reader.fail("schedule", f"{value!r} never comes (no such date)")
        return Schedule(cron=value.strip())
    if isinstance(value, dict):
        sub = reader.mapping("schedule")
        every = sub.duration("every", None)
        sub.finish()
        if every is None:
            if "every" not in sub.data:
                raise sub.fail("every", "is required (a duration like 90s, 30m or 2h)")
            return None  # a wrong duration, already noted
        return Schedule(every=every)
    raise reader.fail("schedule", "expected a cron expression or {every: 30m}")


def _quiet_hours(reader: _Reader) -> QuietHours | None:
    value = reader.text("quiet_hours")
    if value is None:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", value)
    try:
        if not match:
            raise ValueError
        h1, m1, h2, m2 = map(int, match.groups())
        hours = QuietHours(time(h1, m1), time(h2, m2))
    except ValueError:
        raise reader.fail("quiet_hours", f"expected HH:MM-HH:MM, got {value!r}") from None
    if hours.start == hours.end:
        raise reader.fail("quiet_hours", f"a window of no time, {value!r}: leave it out")
    return hours


def _name(reader: _Reader) -> str | None:
    name: str | None = reader.text("name", required=True)
    if name is None:
        return None
    name = name.lstrip("#").strip()
    if not name:
        raise reader.fail("name", "expected a channel name, got only '#'")
    return name


def _timezone(reader: _Reader) -> str:
    timezone: str = reader.text("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise reader.fail("timezone", f"expected an IANA time zone, got {timezone!r}") from None
    return timezone


_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


def _words(reader: _Reader, name: str) -> tuple[str, ...]:
    """Words or phrases to look for: each must have a letter or a digit to match."""
    values = reader.strings(name)
    for index, value in enumerate(values):
        if not word_key(value):
            expected = f"expected a word or a phrase (letters or digits), got {value!r}"
            reader.note(reader.fail(f"{name}[{index}]", expected))
            return ()
    return values


def _domains(reader: _Reader, name: str) -> tuple[str, ...]:
    """Domains like bbc.co.uk, in lower case (a URL or a path is a mistake: said so)."""
    out = []
    for index, value in enumerate(reader.strings(name)):
        domain = domain_key(value)
        if not _DOMAIN.fullmatch(domain):
            expected = f"expected a domain like example.com (no scheme, no path), got {value!r}"
            reader.note(reader.fail(f"{name}[{index}]", expected))
            return ()
        out.append(domain)
    return tuple(out)


def _topic_roles(reader: _Reader) -> tuple[tuple[str, int], ...]:
    """``{topic: role id}``: topics folded as everywhere; two spellings of one topic clash."""
    roles = reader.mapping("topic_roles")
    out: dict[str, int] = {}
    for name in map(str, roles.data):
        role = roles.snowflake(name, required=True)
        key = topic_key(name)
        if not key:
            roles.note(roles.fail(name, "expected a topic name"))
        elif key in out:
            roles.note(roles.fail(name, f"the same topic as another key ({key!r})"))
        elif role is not None:
            out[key] = role
    return tuple(out.items())


def _digest(reader: _Reader) -> DigestSettings | None:
    value = reader.raw("digest")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise reader.fail("digest", f"expected a mapping like {{top: 10}}, got {value!r}")
    sub = reader.mapping("digest")
    top = sub.integer("top", DIGEST_TOP_DEFAULT, 1, DIGEST_TOP_LIMIT)
    sub.finish()
    if reader.data.get("approval") is True:
        raise reader.fail(
            "digest", "cannot be combined with approval: true (a digest is not reviewed)"
        )
    if "per_run" in reader.data:
        raise reader.fail(
            "digest", "cannot be combined with per_run: a digest posts digest.top stories"
        )
    return DigestSettings(top=top)


def _route(reader: _Reader) -> Route:
    """A route; its problems are noted on ``reader`` (the route is then not used)."""
    route = Route(
        id=reader.snowflake("id", required=True),
        name=reader.guard(lambda: _name(reader)),
        schedule=reader.guard(lambda: _schedule(reader)),
        topics=reader.strings("topics"),
        exclude_topics=reader.strings("exclude_topics"),
        min_quality=reader.integer("min_quality", 0, 0, 100),
        max_age_days=reader.number("max_age_days", 0, MAX_AGE_DAYS),
        per_run=reader.integer("per_run", 1, 1, 10),
        quiet_hours=reader.guard(lambda: _quiet_hours(reader)),
        timezone=reader.guard(lambda: _timezone(reader), "UTC"),
        mention_role=reader.snowflake("mention_role"),
        thread=reader.flag("thread", False),
        publish=reader.flag("publish", False),
        approval=reader.flag("approval", False),
        review_channel=reader.snowflake("review_channel"),
        include_words=_words(reader, "include_words"),
        exclude_words=_words(reader, "exclude_words"),
        providers=_domains(reader, "providers"),
        exclude_providers=_domains(reader, "exclude_providers"),
        topic_roles=_topic_roles(reader),
        include_published=reader.flag("include_published", False),
        require_quality=reader.flag("require_quality", False),
        digest=reader.guard(lambda: _digest(reader)),
    )
    reader.finish()
    if route.approval and route.review_channel is None and "review_channel" not in reader.data:
        reader.note(reader.fail("review_channel", "is required when approval is true"))
    return route


def _colour(reader: _Reader, name: str) -> int:
    value = reader.raw(name)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFF:
        return value
    if isinstance(value, str) and re.fullmatch(r"#?[0-9a-fA-F]{6}", value.strip()):
        return int(value.strip().lstrip("#"), 16)
    raise reader.fail(name, f"expected a colour like '#5865F2', got {value!r}")


def _on_this_machine(url: str) -> bool:
    """Whether ``url``'s host is a loopback address: nothing it carries leaves the machine."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _discord(discord: _Reader) -> DiscordSettings:
    api = discord.text("api_base_url", DISCORD_API).rstrip("/")
    gateway = discord.text("gateway_url", DISCORD_GATEWAY)
    if not is_http_url(api):
        raise discord.fail("api_base_url", f"expected an http(s) URL, got {api!r}")
    if not re.match(r"^wss?://[^/\s]+", gateway):
        raise discord.fail("gateway_url", f"expected a ws(s):// URL, got {gateway!r}")
    for key, url in (("api_base_url", api), ("gateway_url", gateway)):
        scheme = url.partition(":")[0].lower()
        if scheme in ("http", "ws") and not _on_this_machine(url):
            raise discord.fail(
                key,
                f"plain {scheme}:// would send the bot's token unencrypted; use {scheme}s://,"
                f" or a loopback host (127.0.0.1, ::1, localhost) for testing, got {url!r}",
            )
    rate = discord.number("rest_per_second", 0, MAX_REST_PER_SECOND)
    return DiscordSettings(
        api_base_url=api, gateway_url=gateway, rest_per_second=rate or REST_PER_SECOND
    )


def _http(reader: _Reader) -> str | None:
    """The listener's address: none without an ``http`` key, loopback if it has no listen."""
    if reader.data.get("http") is None:
        reader.used.add("http")
        return None
    http = reader.mapping("http")
    listen: str = http.text("listen", DEFAULT_LISTEN)
    http.finish()
    try:
        split_listen(listen)
    except ValueError:
        expected = f"expected host:port like {DEFAULT_LISTEN}, got {listen!r}"
        raise http.fail("listen", expected) from None
    return listen


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def _shards(reader: _Reader) -> Shards | None:
    """``shards: {ids: [0, 1], count: 4}``; no ``ids``: every shard of ``count``;
    ``standby: true`` (no ids): none at start, those whose lease expired later; ``lease``
    and ``renew``: the shard leases' length and how often they are renewed."""
    value = reader.raw("shards")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise reader.fail("shards", f"expected a mapping, got {value!r}")
    shards = reader.mapping("shards")
    count = shards.integer("count", low=1, high=MAX_SHARD_COUNT, required=True)
    ids = None
    if shards.data.get("ids") is not None:
        values = shards.items("ids")
        for index, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, int):
                raise shards.fail(
                    f"ids[{index}]", f"expected a shard id (an integer), got {value!r}"
                )
        ids = values
    else:
        shards.used.add("ids")
    standby = shards.flag("standby", False)
    lease = shards.duration("lease", timedelta(seconds=LEASE_SECONDS)) or _NO_LEASE
    renew = shards.duration("renew", timedelta(seconds=RENEW_SECONDS)) or _NO_LEASE
    shards.finish()
    if count is None:
        return None
    try:
        return make_shards(
            ids, count, standby=standby, lease=lease.total_seconds(), renew=renew.total_seconds()
        )
    except ValueError as exc:
        key = "standby" if standby and ids else "renew" if "renewed every" in str(exc) else "ids"
        raise shards.fail(key, str(exc)) from None


_NO_LEASE = timedelta(0)  # `lease: off` or `renew: off`: refused by make_shards


def _command_line_shards(given: Shards | None, written: Shards | None) -> Shards | None:
    """The command line's shards replace the file's, and take the file's lease timings."""
    if given is None or written is None:
        return given or written
    return replace(given, lease=written.lease, renew=written.renew)


def _beside(config: Path, value: str | None) -> Path | None:
    """A path from the config file: a relative one is relative to the file's folder, so
    the file means the same whatever folder ``newsdesk`` is started from."""
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(os.path.normpath(config.parent / path))


def load_settings(
    path: Path | str = DEFAULT_CONFIG,
    database: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    shards: Shards | None = None,
) -> Settings:
    """Read and validate the config file. Relative paths in it are relative to its folder;
    ``database`` (the command line's ``--db``) to the working directory. A PostgreSQL
    URL comes from NEWSDESK_DATABASE_URL in ``environ`` (the process's, by default), else
    from the file's ``database``; ``--db`` (a SQLite file) outranks both. ``shards`` (the
    command line's ``--shard-ids``/``--shard-count``) replace the file's. Raises
    ConfigError, a ConfigProblems with every problem when the file's values are wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, "(file)", f"cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(path, "(file)", f"is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, "(file)", "expected a mapping at the top level")
    top = _Reader(path, data)
    file_shards = top.guard(lambda: _shards(top))
    discord = top.mapping("discord")
    discord_settings = top.guard(lambda: _discord(discord), DiscordSettings())
    discord.finish()
    events = top.mapping("events")
    window_hours = events.integer("window_hours", 72, 0, MAX_EVENT_WINDOW_HOURS)
    events.finish()
    colours = top.mapping("topic_colours")
    topic_colours = {}
    for name in map(str, colours.data):
        colour = colours.guard(partial(_colour, colours, name))
        if colour is not None:
            topic_colours[topic_key(name)] = colour
    colours.finish()
    routes = []
    for index, item in enumerate(top.items("channels")):
        if not isinstance(item, dict):
            top.note(ConfigError(path, f"channels[{index}]", "expected a mapping"))
            continue
        routes.append(_route(_Reader(path, item, f"channels[{index}].", top.problems)))
    seen: dict[Any, int] = {}
    for index, route in enumerate(routes):
        for ident in (route.id, route.name):
            if ident is None:
                continue
            if ident in seen:
                top.note(ConfigError(path, f"channels[{index}]", f"duplicate channel {ident!r}"))
            seen[ident] = index
    token_file = _beside(path, top.text("token_file"))
    written_db = top.text("database", "data/newsdesk.db") or "data/newsdesk.db"
    env = os.environ if environ is None else environ
    database_url = env.get("NEWSDESK_DATABASE_URL", "").strip() or None
    if written_db.startswith(POSTGRES_SCHEMES):
        database_url = database_url or written_db
        written_db = "data/newsdesk.db"  # (unused while the URL is)
    if database_url is not None and not database_url.startswith(POSTGRES_SCHEMES):
        top.note(
            ConfigError(
                path,
                "database",
                "NEWSDESK_DATABASE_URL must be a postgresql:// URL (unset it for SQLite)",
            )
        )
        database_url = None
    if database is not None:
        database_url = None  # --db names a SQLite file: it wins
    configured_db = _beside(path, written_db)
    assert configured_db is not None
    seeds = _beside(path, top.text("seeds", "seeds"))
    assert seeds is not None
    settings = Settings(
        path=path,
        database=Path(database) if database else configured_db,
        seeds=seeds,
        channels=tuple(routes),
        rescan=top.duration("rescan", timedelta(minutes=5)),
        watch=top.flag("watch", True),
        token_file=token_file,
        guild_ids=top.snowflakes("guild_ids"),
        moderator_roles=top.snowflakes("moderator_roles"),
        mod_log_channel=top.snowflake("mod_log_channel"),
        update_posted=top.flag("update_posted", True),
        topic_colours=topic_colours,
        discord=discord_settings,
        http_listen=top.guard(lambda: _http(top)),
        unknown_quality=top.integer("unknown_quality", 50, 0, 100),
        events=EventSettings(timedelta(hours=window_hours)),
        database_url=database_url,
        shards=_command_line_shards(shards, file_shards),
    )
    top.finish()
    if top.problems:
        raise ConfigProblems(top.problems)
    return settings
