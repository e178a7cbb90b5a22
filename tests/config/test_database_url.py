"""Which database the config selects: the SQLite file by default, PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config.settings import ConfigError, load_settings

URL = "postgresql://newsdesk:s3cret@db.internal:5432/newsdesk"


def config(tmp_path: Path, **top: object) -> Path:
    path = tmp_path / "newsdesk.yaml"
    path.write_text(yaml.safe_dump(top), encoding="utf-8")
    return path


def test_sqlite_stays_the_default(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path), environ={})
    assert settings.database_url is None
    assert settings.store_target == str(tmp_path / "data" / "newsdesk.db")
    assert settings.database_name == str(tmp_path / "data" / "newsdesk.db")


def test_a_postgresql_url_in_the_config_selects_postgresql(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, database=URL), environ={})
    assert settings.store_target == URL
    # logs and messages name it without its password
    assert settings.database_name == "postgresql://newsdesk:***@db.internal:5432/newsdesk"


def test_the_environment_s_url_outranks_the_config_and_db_outranks_both(tmp_path: Path) -> None:
    path = config(tmp_path, database="other.db")
    env = {"NEWSDESK_DATABASE_URL": URL}
    assert load_settings(path, environ=env).store_target == URL
    file = tmp_path / "mine.db"
    assert load_settings(path, database=file, environ=env).store_target == str(file)


def test_a_url_in_the_environment_that_is_not_postgresql_is_a_config_error(
    tmp_path: Path,
) -> None:
    env = {"NEWSDESK_DATABASE_URL": "mysql://x@y/z"}
    with pytest.raises(ConfigError) as caught:
        load_settings(config(tmp_path), environ=env)
    assert "NEWSDESK_DATABASE_URL must be a postgresql:// URL (unset it for SQLite)" in str(
        caught.value
    )
