"""Settings: the shipped config loads; every mistake exits 2 naming file, key, expectation."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.config.settings import (
    ConfigError,
    DigestSettings,
    DiscordSettings,
    QuietHours,
    Schedule,
    Settings,
    load_settings,
)
from bot.config.shards import Shards, shard_of, split_routes
from bot.config.token import read_token

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "newsdesk.yaml"
SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gsecret.t0k3n-never-printed"


def base() -> dict[str, Any]:
    return {
        "database": "data/test.db",
        "seeds": "seeds",
        "channels": [{"id": 1001, "name": "ai-news", "schedule": {"every": "30m"}}],
    }


def write_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "newsdesk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def check_config(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--config", str(path), "check-config"])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_shipped_config_loads() -> None:
    settings = load_settings(SHIPPED)
    # relative to config/, so the same folders whatever the working directory
    assert settings.database == REPO / "data" / "newsdesk.db"
    assert settings.seeds == REPO / "seeds"
    assert settings.rescan == timedelta(minutes=5)
    assert settings.token_file is None
    assert settings.topic_colours == {"ai": 0x5865F2}
    ai, digest = settings.channels
    assert (ai.id, ai.name, ai.schedule) == (
        100000000000000001,
        "ai-news",
        Schedule(every=timedelta(minutes=30)),
    )
    assert ai.topics == ("AI", "Computer Vision", "Machine Learning")
    assert (ai.min_quality, ai.max_age_days, ai.per_run) == (50, 36500.0, 1)
    assert (digest.id, digest.name, digest.schedule) == (
        100000000000000002,
        "daily-digest",
        Schedule(cron="0 9 * * *"),
    )
    assert (digest.per_run, digest.timezone) == (1, "Europe/London")
    assert digest.digest == DigestSettings(top=10)
    assert ai.digest is None
    assert digest.quiet_hours == QuietHours(time(22, 0), time(7, 0))
    assert settings.discord.rest_per_second == 46.0


def test_check_config_on_a_good_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    (tmp_path / "seeds").mkdir()
    data = channel(schedule="30 8 * * mon-fri", timezone="America/New_York")
    path = write_config(tmp_path, data)
    code, out, err = check_config(path, capsys)
    assert (code, err) == (0, "")
    assert out.startswith(
        f"{path}: ok (1 channels: ai-news)\n"
        "  #ai-news: cron 30 8 * * mon-fri; next runs (America/New_York): "
    )
    assert SECRET not in out


def test_check_config_tells_where_run_would_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    (tmp_path / "data").write_text("a file where the database folder should be")
    path = write_config(tmp_path, top(channels=[], token_file="missing-token"))
    code, out, err = check_config(path, capsys)
    assert (code, out) == (2, "")
    assert err == (
        f"newsdesk: config error: {path}: seeds: no folder at {tmp_path / 'seeds'}\n"
        f"newsdesk: config error: {path}: database: {tmp_path / 'data'} is not a folder\n"
        f"newsdesk: config error: {path}: channels: none configured: the bot would post"
        " nowhere\n"
        f"newsdesk: config error: {path}: token_file: cannot be read: No such file or"
        " directory\n"
    )


def test_check_findings_and_next_runs_in_each_routes_zone(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from bot.config.checks import check

    (tmp_path / "seeds").mkdir()
    data = top(
        channels=[
            {"id": 1, "name": "ny", "schedule": "30 8 * * 1-5", "timezone": "America/New_York"},
            {"id": 2, "name": "often", "schedule": {"every": "90m"}},
            {"id": 3, "name": "daily", "schedule": "@daily", "timezone": "Asia/Tokyo"},
        ]
    )
    settings = load_settings(write_config(tmp_path, data))
    found = check(settings, datetime(2026, 12, 4, 23, 0, tzinfo=UTC), {})  # a Friday
    assert found.problems == []
    assert found.notes == [
        "no token: `newsdesk run` needs DISCORD_TOKEN or token_file (a dry run needs none)",
        "#ny: cron 30 8 * * 1-5; next runs (America/New_York):"
        " Mon 2026-12-07 08:30, Tue 2026-12-08 08:30, Wed 2026-12-09 08:30",
        "#often: every 90m; next runs (UTC):"
        " Sat 2026-12-05 00:30, Sat 2026-12-05 02:00, Sat 2026-12-05 03:30",
        "#daily: cron @daily; next runs (Asia/Tokyo):"
        " Sun 2026-12-06 00:00, Mon 2026-12-07 00:00, Tue 2026-12-08 00:00",
    ]


def channel(**changes: Any) -> dict[str, Any]:
    data = base()
    data["channels"][0].update(changes)
    return data


def without(key: str) -> dict[str, Any]:
    data = base()
    del data["channels"][0][key]
    return data


def top(**changes: Any) -> dict[str, Any]:
    return base() | changes


SECOND = {"id": 1002, "name": "second", "schedule": "0 9 * * *"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (top(channels={"a": 1}), "channels: expected a list, got {'a': 1}"),
        (top(channels=["x"]), "channels[0]: expected a mapping"),
        (top(database=5), "database: expected non-empty text, got 5"),
        (top(update_posted="yes"), "update_posted: expected true or false, got 'yes'"),
        (top(rescan="soon"), "rescan: expected a duration like 90s, 30m or 2h, got 'soon'"),
        (
            top(guild_ids=["abc"]),
            "guild_ids[0]: expected a Discord id (a positive integer), got 'abc'",
        ),
        (
            top(topic_colours={"AI": "blue"}),
            "topic_colours.AI: expected a colour like '#5865F2', got 'blue'",
        ),
        (without("id"), "channels[0].id: is required"),
        (without("name"), "channels[0].name: is required"),
        (without("schedule"), "channels[0].schedule: is required"),
        (channel(id=-5), "channels[0].id: expected a Discord id (a positive integer), got -5"),
        (channel(min_quality="high"), "channels[0].min_quality: expected an integer, got 'high'"),
        (
            channel(min_quality=101),
            "channels[0].min_quality: expected an integer between 0 and 100, got 101",
        ),
        (channel(per_run=11), "channels[0].per_run: expected an integer between 1 and 10, got 11"),
        (channel(topics="AI"), "channels[0].topics: expected a list, got 'AI'"),
        (channel(thread="yes"), "channels[0].thread: expected true or false, got 'yes'"),
        (channel(max_age_days=0), "channels[0].max_age_days: expected a number above 0, got 0"),
        (
            channel(schedule="every minute"),
            "channels[0].schedule: expected a 5-field cron expression or @hourly, @daily,"
            " @weekly, @monthly, got 'every minute'",
        ),
        (channel(schedule=5), "channels[0].schedule: expected a cron expression or {every: 30m}"),
        (
            channel(schedule={"every": "5 minutes"}),
            "channels[0].schedule.every: expected a duration like 90s, 30m or 2h, got '5 minutes'",
        ),
        (channel(schedule={"every": "0s"}), "channels[0].schedule.every: expected at least 1s"),
        (
            channel(schedule={"every": "99999999999d"}),
            "channels[0].schedule.every: expected a duration like 90s, 30m or 2h,"
            " got '99999999999d'",
        ),
        (
            channel(schedule={}),
            "channels[0].schedule.every: is required (a duration like 90s, 30m or 2h)",
        ),
        (
            channel(quiet_hours="25:00-07:00"),
            "channels[0].quiet_hours: expected HH:MM-HH:MM, got '25:00-07:00'",
        ),
        (
            channel(timezone="Mars/Olympus"),
            "channels[0].timezone: expected an IANA time zone, got 'Mars/Olympus'",
        ),
        (channel(approval=True), "channels[0].review_channel: is required when approval is true"),
        (
            channel(schedule="0 9 30 2 *"),
            "channels[0].schedule: '0 9 30 2 *' never comes (no such date)",
        ),
        (
            channel(id=2**63),
            "channels[0].id: expected a Discord id (a positive integer), got 9223372036854775808",
        ),
        (channel(name="#"), "channels[0].name: expected a channel name, got only '#'"),
        (
            channel(exclude_words=["crypto", "!!"]),
            "channels[0].exclude_words[1]: expected a word or a phrase (letters or digits),"
            " got '!!'",
        ),
        (channel(include_words="AI"), "channels[0].include_words: expected a list, got 'AI'"),
        (
            channel(providers=["https://bbc.co.uk/news"]),
            "channels[0].providers[0]: expected a domain like example.com (no scheme, no path),"
            " got 'https://bbc.co.uk/news'",
        ),
        (
            channel(exclude_providers=["bad domain.com"]),
            "channels[0].exclude_providers[0]: expected a domain like example.com (no scheme,"
            " no path), got 'bad domain.com'",
        ),
        (
            channel(topic_roles={"AI": "everyone"}),
            "channels[0].topic_roles.AI: expected a Discord id (a positive integer),"
            " got 'everyone'",
        ),
        (
            channel(topic_roles={"AI": 5, "ai": 6}),
            "channels[0].topic_roles.ai: the same topic as another key ('ai')",
        ),
        (channel(topic_roles=["AI"]), "channels[0].topic_roles: expected a mapping, got ['AI']"),
        (
            channel(include_published="yes"),
            "channels[0].include_published: expected true or false, got 'yes'",
        ),
        (
            channel(require_quality=1),
            "channels[0].require_quality: expected true or false, got 1",
        ),
        (
            top(unknown_quality=101),
            "unknown_quality: expected an integer between 0 and 100, got 101",
        ),
        (
            top(events={"window_hours": 721}),
            "events.window_hours: expected an integer between 0 and 720, got 721",
        ),
        (top(events={"window_hours": "3d"}), "events.window_hours: expected an integer, got '3d'"),
        (
            top(events={"window": 72}),
            "events.window: unknown key (known keys: window_hours)",
        ),
        (
            channel(digest={"top": 26}),
            "channels[0].digest.top: expected an integer between 1 and 25, got 26",
        ),
        (
            channel(digest={"top": 0}),
            "channels[0].digest.top: expected an integer between 1 and 25, got 0",
        ),
        (channel(digest={"top": "ten"}), "channels[0].digest.top: expected an integer, got 'ten'"),
        (
            channel(digest=10),
            "channels[0].digest: expected a mapping like {top: 10}, got 10",
        ),
        (
            channel(digest={"count": 5}),
            "channels[0].digest.count: unknown key (known keys: top)",
        ),
        (
            channel(digest={"top": 5}, per_run=2),
            "channels[0].digest: cannot be combined with per_run: a digest posts digest.top"
            " stories",
        ),
        (
            channel(digest={"top": 5}, approval=True, review_channel=9),
            "channels[0].digest: cannot be combined with approval: true (a digest is not reviewed)",
        ),
        (
            channel(quiet_hours="07:00-07:00"),
            "channels[0].quiet_hours: a window of no time, '07:00-07:00': leave it out",
        ),
        (
            top(channels=[base()["channels"][0], SECOND | {"id": 1001}]),
            "channels[1]: duplicate channel 1001",
        ),
        (
            top(channels=[base()["channels"][0], SECOND | {"name": "ai-news"}]),
            "channels[1]: duplicate channel 'ai-news'",
        ),
    ],
)
def test_config_errors_exit_2_naming_file_key_and_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any], message: str
) -> None:
    path = write_config(tmp_path, data)
    assert check_config(path, capsys) == (2, "", f"newsdesk: config error: {path}: {message}\n")


@pytest.mark.parametrize(
    ("api", "gateway"),
    [
        ("https://discord-proxy.example/api/v10", "wss://discord-proxy.example/"),
        ("http://127.0.0.1:8080/api/v10", "ws://127.0.0.1:8080/"),
        ("http://127.1.2.3:8080/api", "ws://localhost:9000/"),
        ("http://[::1]:8080/api/v10", "ws://[::1]:8080/"),
    ],
)
def test_discord_urls_use_tls_or_stay_on_this_machine(
    tmp_path: Path, api: str, gateway: str
) -> None:
    path = write_config(tmp_path, top(discord={"api_base_url": api, "gateway_url": gateway}))
    settings = load_settings(path)
    assert settings.discord == DiscordSettings(api_base_url=api, gateway_url=gateway)


def test_the_rest_budget_is_46_a_second_unless_set(tmp_path: Path) -> None:
    assert load_settings(write_config(tmp_path, base())).discord.rest_per_second == 46.0
    path = write_config(tmp_path, top(discord={"rest_per_second": 30}))
    assert load_settings(path).discord == DiscordSettings(rest_per_second=30.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "expected a number above 0, got 0"),
        (-5, "expected a number above 0, got -5"),
        ("fast", "expected a number above 0, got 'fast'"),
        (20000, "expected a number at most 10000.0, got 20000"),
    ],
)
def test_a_rest_budget_that_is_no_rate_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: object, expected: str
) -> None:
    path = write_config(tmp_path, top(discord={"rest_per_second": value}))
    assert check_config(path, capsys) == (
        2,
        "",
        f"newsdesk: config error: {path}: discord.rest_per_second: {expected}\n",
    )


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("api_base_url", "http://203.0.113.5:8080/api/v10"),
        ("api_base_url", "http://localhost.example/api"),
        ("api_base_url", "HTTP://127.0.0.1.example/api"),
        ("gateway_url", "ws://gateway.example/"),
        ("gateway_url", "ws://10.0.0.1:8080/"),
    ],
)
def test_plain_http_or_ws_to_another_machine_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, url: str
) -> None:
    path = write_config(tmp_path, top(discord={key: url}))
    scheme = url.partition(":")[0].lower()
    assert check_config(path, capsys) == (
        2,
        "",
        f"newsdesk: config error: {path}: discord.{key}: plain {scheme}:// would send the"
        f" bot's token unencrypted; use {scheme}s://, or a loopback host (127.0.0.1, ::1,"
        f" localhost) for testing, got {url!r}\n",
    )


@pytest.mark.parametrize(
    ("data", "key"),
    [(top(colour="red"), "colour"), (channel(colour="red"), "channels[0].colour")],
)
def test_unknown_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any], key: str
) -> None:
    path = write_config(tmp_path, data)
    code, out, err = check_config(path, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"newsdesk: config error: {path}: {key}: unknown key (known keys: ")
    assert err.endswith(")\n")


@pytest.mark.parametrize(
    ("schedule", "field", "maximum"),
    [("0 25 * * *", "25", 23), ("61 * * * *", "61", 59)],
)
def test_cron_values_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], schedule: str, field: str, maximum: int
) -> None:
    path = write_config(tmp_path, channel(schedule=schedule))
    code, out, err = check_config(path, capsys)
    assert (code, out) == (2, "")
    assert err == (
        f"newsdesk: config error: {path}: channels[0].schedule: invalid cron expression"
        f" {schedule!r}: Error validating expression {field!r}: the last value ({field})"
        f" is higher than the maximum value ({maximum})\n"
    )


@pytest.mark.parametrize("days", [float("inf"), float("nan"), 1e12])
def test_max_age_days_beyond_any_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], days: float
) -> None:
    path = write_config(tmp_path, channel(max_age_days=days))
    code, out, err = check_config(path, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"newsdesk: config error: {path}: channels[0].max_age_days: expected ")


def test_file_level_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    assert check_config(missing, capsys) == (
        2,
        "",
        f"newsdesk: config error: {missing}: (file): cannot be read: No such file or directory\n",
    )
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    assert check_config(listing, capsys) == (
        2,
        "",
        f"newsdesk: config error: {listing}: (file): expected a mapping at the top level\n",
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("channels: [\n")
    code, out, err = check_config(broken, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"newsdesk: config error: {broken}: (file): is not valid YAML: ")


# --------------------------------------------------------------------------- the token


@pytest.fixture
def token_settings(tmp_path: Path) -> Settings:
    token_file = tmp_path / "token"
    token_file.write_text(f"  {SECRET}\n")
    return load_settings(write_config(tmp_path, top(token_file=str(token_file))))


def test_a_digest_route_takes_its_top_or_ten(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        top(channels=[base()["channels"][0] | {"digest": {"top": 25}}, SECOND | {"digest": {}}]),
    )
    first, second = load_settings(path).channels
    assert (first.digest, second.digest) == (DigestSettings(top=25), DigestSettings(top=10))


def test_discord_token_env_wins_over_the_file(token_settings: Settings) -> None:
    assert read_token(token_settings, {"DISCORD_TOKEN": " from-env "}) == "from-env"


def test_token_file_read_and_stripped(token_settings: Settings) -> None:
    assert read_token(token_settings, {}) == SECRET
    assert read_token(token_settings, {"DISCORD_TOKEN": "  "}) == SECRET


def test_no_token_configured(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, base()))
    assert read_token(settings, {}) is None
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    settings = load_settings(write_config(tmp_path, top(token_file=str(empty))))
    assert read_token(settings, {}) is None


@pytest.mark.parametrize(
    "content", [None, b"\xff\xfe" + SECRET.encode()], ids=["name-not-a-file", "not-utf8"]
)
def test_an_unreadable_token_file_is_a_config_error_without_the_token(
    tmp_path: Path, content: bytes | None
) -> None:
    # the token pasted where its file name belongs, or a file that is not text
    token_file = tmp_path / SECRET if content is None else tmp_path / "token"
    if content is not None:
        token_file.write_bytes(content)
    settings = load_settings(write_config(tmp_path, top(token_file=str(token_file))))
    with pytest.raises(ConfigError) as caught:
        read_token(settings, {})
    assert caught.value.key == "token_file"
    assert caught.value.expected.startswith("cannot be read: ")
    assert SECRET not in str(caught.value)


def test_a_token_in_the_config_is_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    path = write_config(tmp_path, top(token=SECRET))
    code, out, err = check_config(path, capsys)
    assert code == 2
    assert f"{path}: token: unknown key" in err
    assert SECRET not in out + err


# --------------------------------------------------------------------------- every problem


def test_every_problem_is_reported_at_once_unknown_keys_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = top(
        rescan="soon",
        channels=[
            {"id": 1001, "name": "ai-news", "shedule": "0 9 * * *", "min_quality": 101},
            {"id": "x", "name": "second", "schedule": {"every": "30m"}, "thread": "yes"},
        ],
    )
    path = write_config(tmp_path, data)
    assert check_config(path, capsys) == (
        2,
        "",
        f"newsdesk: config error: {path}: channels[0].shedule: unknown key"
        " (did you mean schedule?)\n"
        f"newsdesk: config error: {path}: channels[0].schedule: is required\n"
        f"newsdesk: config error: {path}: channels[0].min_quality: expected an integer"
        " between 0 and 100, got 101\n"
        f"newsdesk: config error: {path}: channels[1].id: expected a Discord id"
        " (a positive integer), got 'x'\n"
        f"newsdesk: config error: {path}: channels[1].thread: expected true or false,"
        " got 'yes'\n"
        f"newsdesk: config error: {path}: rescan: expected a duration like 90s, 30m or 2h,"
        " got 'soon'\n",
    )


def test_relative_paths_are_relative_to_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    path = write_config(folder, top(database="data/x.db", seeds="../articles", token_file="t"))
    monkeypatch.chdir(folder)
    settings = load_settings(Path("newsdesk.yaml"), database=None)
    assert (settings.database, settings.seeds, settings.token_file) == (
        Path("data/x.db"),
        Path("../articles"),
        Path("t"),
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings(path.relative_to(tmp_path))
    assert (settings.database, settings.seeds, settings.token_file) == (
        Path("config/data/x.db"),
        Path("articles"),
        Path("config/t"),
    )
    # --db on the command line stays relative to the working directory
    assert load_settings(path, database="here.db").database == Path("here.db")
    absolute = write_config(folder, top(database=str(tmp_path / "abs.db")))
    assert load_settings(absolute).database == tmp_path / "abs.db"


@pytest.mark.parametrize(
    ("schedule", "first"),
    [
        ("@hourly", "2026-12-06T09:00:00+00:00"),
        ("@daily", "2026-12-07T00:00:00+00:00"),
        ("@weekly", "2026-12-13T00:00:00+00:00"),
        ("@monthly", "2027-01-01T00:00:00+00:00"),
        ("0 9 * * 1,sat", "2026-12-07T09:00:00+00:00"),
        ("0 9 * * sun-sat", "2026-12-06T09:00:00+00:00"),
    ],
)
def test_crontab_nicknames_and_day_names_are_accepted(
    tmp_path: Path, schedule: str, first: str
) -> None:
    from datetime import UTC, datetime

    from bot.config.cron import cron_trigger

    route = load_settings(write_config(tmp_path, channel(schedule=schedule))).channels[0]
    assert route.schedule == Schedule(cron=schedule)
    fire = cron_trigger(schedule).get_next_fire_time(None, datetime(2026, 12, 6, 8, 30, tzinfo=UTC))
    assert fire.isoformat() == first


def test_the_token_from_a_container_secret_or_a_systemd_credential(
    tmp_path: Path, token_settings: Settings
) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-secret\n")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "discord_token").write_text("from-systemd\n")
    assert read_token(token_settings, {"NEWSDESK_TOKEN_FILE": str(secret)}) == "from-secret"
    assert read_token(token_settings, {"CREDENTIALS_DIRECTORY": str(credentials)}) == (
        "from-systemd"
    )
    # DISCORD_TOKEN first, then the secret, then systemd's credential, then token_file
    both = {"NEWSDESK_TOKEN_FILE": str(secret), "CREDENTIALS_DIRECTORY": str(credentials)}
    assert read_token(token_settings, both) == "from-secret"
    assert read_token(token_settings, both | {"DISCORD_TOKEN": "env"}) == "env"
    # a credentials folder without the token leaves token_file in charge
    assert read_token(token_settings, {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == SECRET
    with pytest.raises(ConfigError) as caught:
        read_token(token_settings, {"NEWSDESK_TOKEN_FILE": str(tmp_path / "nope")})
    assert str(caught.value) == (
        f"{token_settings.path}: NEWSDESK_TOKEN_FILE ({tmp_path / 'nope'}): cannot be read:"
        " No such file or directory"
    )


# --------------------------------------------------------------------------- reload


def test_a_reload_plan_names_routes_and_the_keys_that_need_a_restart(tmp_path: Path) -> None:
    from bot.config.reload import Reload, adopt, plan_reload

    old = load_settings(write_config(tmp_path, top(channels=[base()["channels"][0], SECOND])))
    changed = dict(SECOND, schedule="0 10 * * *")
    third = {"id": 1003, "name": "third", "schedule": "@daily"}
    new = load_settings(
        write_config(
            tmp_path,
            top(channels=[changed, third], database="other.db", rescan="1m", moderator_roles=[7]),
        )
    )
    change = plan_reload(old, new)
    assert change == Reload(
        added=("third",), removed=("ai-news",), changed=("second",), restart=("database",)
    )
    assert change.describe() == "added #third; removed #ai-news; changed #second"
    before = old
    adopt(old, new)
    assert old is before
    assert (old.channels, old.rescan, old.moderator_roles) == (
        new.channels,
        timedelta(minutes=1),
        (7,),
    )
    assert old.database == tmp_path / "data" / "test.db"  # waits for a restart
    assert plan_reload(new, new).describe() == "no route changed"


def test_curation_keys_of_a_route(tmp_path: Path) -> None:
    data = base()
    data["unknown_quality"] = 40
    data["channels"][0] |= {
        "include_words": ["AI", "machine learning"],
        "exclude_words": ["Crypto"],
        "providers": ["BBC.co.uk.", "reuters.com"],
        "exclude_providers": ["sport.bbc.co.uk"],
        "topic_roles": {"AI": 555, "México": "777"},
        "include_published": True,
        "require_quality": True,
    }
    settings = load_settings(write_config(tmp_path, data))
    assert settings.unknown_quality == 40
    [route] = settings.channels
    assert (
        route.include_words,
        route.exclude_words,
        route.providers,
        route.exclude_providers,
        route.topic_roles,
        route.include_published,
        route.require_quality,
    ) == (
        ("AI", "machine learning"),
        ("Crypto",),
        ("bbc.co.uk", "reuters.com"),
        ("sport.bbc.co.uk",),
        (("ai", 555), ("mexico", 777)),
        True,
        True,
    )
    # the defaults: nothing filtered, published stories not taken, unknown quality as 50
    default = load_settings(write_config(tmp_path, base()))
    assert default.unknown_quality == 50
    assert (default.channels[0].include_published, default.channels[0].topic_roles) == (False, ())


def test_the_event_window(tmp_path: Path) -> None:
    assert load_settings(write_config(tmp_path, base())).events.window == timedelta(hours=72)
    for hours in (96, 0):
        settings = load_settings(write_config(tmp_path, top(events={"window_hours": hours})))
        assert settings.events.window == timedelta(hours=hours)


# --------------------------------------------------------------------------- shards


def test_shards_in_the_config(tmp_path: Path) -> None:
    assert load_settings(write_config(tmp_path, base())).shards is None  # today's bot
    some = load_settings(write_config(tmp_path, top(shards={"ids": [1, 0], "count": 4})))
    assert some.shards == Shards((0, 1), 4)
    every = load_settings(write_config(tmp_path, top(shards={"count": 2})))
    assert every.shards == Shards((0, 1), 2)
    # the command line's replace the file's
    path = write_config(tmp_path, top(shards={"ids": [0], "count": 2}))
    assert load_settings(path, shards=Shards((3,), 4)).shards == Shards((3,), 4)


def test_a_standby_and_the_shard_lease_timings_in_the_config(tmp_path: Path) -> None:
    standby = {"count": 4, "standby": True, "lease": "1m", "renew": "15s"}
    path = write_config(tmp_path, top(shards=standby))
    assert load_settings(path).shards == Shards((), 4, standby=True, lease=60.0, renew=15.0)
    assert load_settings(path).shards.describe() == "none of 4 (standby)"  # type: ignore[union-attr]
    # the command line's shards keep the file's timings
    given = Shards((3,), 4)
    assert load_settings(path, shards=given).shards == Shards((3,), 4, False, 60.0, 15.0)
    # the defaults: 30 s, renewed every 10 s
    assert load_settings(write_config(tmp_path, top(shards={"count": 2}))).shards == Shards(
        (0, 1), 2, standby=False, lease=30.0, renew=10.0
    )


@pytest.mark.parametrize(
    ("shards", "problem"),
    [
        (
            {"ids": [0, 4], "count": 4},
            "shards.ids: shard ids run from 0 to 3 (the shard count is 4), got 4",
        ),
        ({"ids": [1, 0, 1], "count": 4}, "shards.ids: shard id 1 given twice"),
        ({"ids": [], "count": 4}, "shards.ids: expected at least one shard id"),
        ({"ids": [0, "1"], "count": 4}, "shards.ids[1]: expected a shard id (an integer), got '1'"),
        ({"ids": [0]}, "shards.count: is required"),
        ({"count": 0}, "shards.count: expected an integer between 1 and 65536, got 0"),
        ({"count": "4"}, "shards.count: expected an integer, got '4'"),
        ({"count": 2, "idss": [0]}, "shards.idss: unknown key (did you mean ids?)"),
        ([0, 1], "shards: expected a mapping, got [0, 1]"),
        (
            {"ids": [0], "count": 4, "standby": True},
            "shards.standby: a standby starts with no shard: give it no shard ids",
        ),
        (
            {"count": 4, "lease": "30s", "renew": "11s"},
            "shards.renew: the shard lease of 30 s is renewed every 11 s: renew at most every"
            " third of the lease (as 10s for 30s)",
        ),
        (
            {"count": 4, "lease": "off"},
            "shards.renew: the shard lease of 0 s is renewed every 10 s: renew at most every"
            " third of the lease (as 10s for 30s)",
        ),
        ({"count": 4, "standby": "yes"}, "shards.standby: expected true or false, got 'yes'"),
    ],
)
def test_bad_shards_are_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shards: Any, problem: str
) -> None:
    path = write_config(tmp_path, top(shards=shards))
    assert check_config(path, capsys) == (2, "", f"newsdesk: config error: {path}: {problem}\n")


def test_shard_of_is_discords_formula() -> None:
    # a snowflake's top 42 bits are its time: shards go by the millisecond a guild was made
    assert shard_of(81384788765712384, 1) == 0
    assert shard_of(81384788765712384, 4) == (81384788765712384 >> 22) % 4 == 2
    assert [shard_of(ms << 22 | 0x3FFFFF, 3) for ms in range(6)] == [0, 1, 2, 0, 1, 2]


def test_split_routes_by_their_guild_shard() -> None:
    on_0, on_1 = 0 << 22, 1 << 22  # guild ids on shards 0 and 1 of 2
    routes = [(11, "a"), (12, "b"), (13, "c"), (14, "d")]
    guilds = {11: on_0, 12: on_1, 13: on_0 + (2 << 22)}  # 14: never learned
    split = split_routes(routes, guilds, Shards((0,), 2))
    assert (split.run, split.elsewhere, split.unknown) == (("a", "c"), ("b",), ("d",))
    both = split_routes(routes, guilds, Shards((0, 1), 2))
    assert (both.run, both.elsewhere, both.unknown) == (("a", "b", "c"), (), ("d",))
    # without shards: every route, its guild known or not (the bot as it always was)
    alone = split_routes(routes, guilds, None)
    assert (alone.run, alone.elsewhere, alone.unknown) == (("a", "b", "c", "d"), (), ())
