"""The Compose files agree with what the bot reads: the variables it takes, the secrets
they name, the database the PostgreSQL overlay points it at. (No container engine runs
here; the image's own steps are checked by deploy/check-image.)"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from bot.cli import build_parser
from bot.config.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def compose(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    return data


def mounted(service: dict[str, Any], path: str, files: dict[str, Any]) -> str:
    """The secret behind ``/run/secrets/NAME`` in ``service``, defined by a file."""
    directory, _, name = path.rpartition("/")
    assert directory == "/run/secrets"
    assert name in service["secrets"]
    assert set(files[name]) == {"file"}
    return name


def test_the_base_file_hands_the_token_over_as_a_secret() -> None:
    base = compose("compose.yaml")
    bot = base["services"]["newsdesk"]
    name = mounted(bot, bot["environment"]["NEWSDESK_TOKEN_FILE"], base["secrets"])
    assert name == "discord_token"


def test_the_postgresql_overlay_points_the_bot_at_its_server(tmp_path: Path) -> None:
    overlay = compose("deploy/compose.postgres.yaml")
    server = overlay["services"]["postgres"]
    bot = overlay["services"]["newsdesk"]
    env = bot["environment"]

    settings = load_settings(REPO / "config" / "newsdesk.yaml", environ=env)

    url = urllib.parse.urlsplit(settings.store_target)
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
    assert url.username == server["environment"]["POSTGRES_USER"]
    assert url.path == "/" + server["environment"]["POSTGRES_DB"]
    assert url.password is None  # the password is in the pgpass file, not in the URL
    assert mounted(bot, env["PGPASSFILE"], overlay["secrets"]) == "postgres_pgpass"
    password = server["environment"]["POSTGRES_PASSWORD_FILE"]
    assert mounted(server, password, overlay["secrets"]) == "postgres_password"
    # the bot starts once the server answers
    assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "pg_isready -U newsdesk -d newsdesk" in server["healthcheck"]["test"][1]


def test_the_sharded_overlay_runs_every_shard_once_and_a_standby() -> None:
    base = compose("compose.yaml")
    postgres = compose("deploy/compose.postgres.yaml")
    overlay = compose("deploy/compose.shards.yaml")
    parser = build_parser()
    runs = {
        name: parser.parse_args(service["command"]) for name, service in overlay["services"].items()
    }
    assert {name: args.command for name, args in runs.items()} == {
        "newsdesk": "run", "newsdesk-b": "run", "newsdesk-standby": "run",
    }  # fmt: skip
    assert {args.shard_count for args in runs.values()} == {4}
    held = [shard for args in runs.values() if not args.standby for shard in args.shard_ids]
    assert sorted(held) == [0, 1, 2, 3]  # each shard in exactly one process
    assert [name for name, args in runs.items() if args.standby] == ["newsdesk-standby"]
    # the added processes reach the same database, token and seeds as the first one
    first = {**base["services"]["newsdesk"], **postgres["services"]["newsdesk"]}
    first_env = base["services"]["newsdesk"]["environment"]
    postgres_env = postgres["services"]["newsdesk"]["environment"]
    for name in ("newsdesk-b", "newsdesk-standby"):
        service = overlay["services"][name]
        assert service["environment"] == {**first_env, **postgres_env}
        assert sorted(service["secrets"]) == sorted(first["secrets"])
        assert service["depends_on"] == first["depends_on"]
        assert service["image"] == base["services"]["newsdesk"]["image"]
        assert service["volumes"] == [
            v for v in base["services"]["newsdesk"]["volumes"] if "data" not in v
        ]
