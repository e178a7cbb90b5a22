"""Where the bot token comes from, and reading it: never logged, never in the config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from bot.config.settings import ConfigError, Settings


def token_source(settings: Settings, environ: Mapping[str, str]) -> tuple[str, Path | None]:
    """Where the token comes from: DISCORD_TOKEN; else the file named by
    NEWSDESK_TOKEN_FILE (a container's secret), systemd's credential ``discord_token``
    (LoadCredential=), or the config's token_file, the first that is set."""
    if environ.get("DISCORD_TOKEN", "").strip():
        return "DISCORD_TOKEN", None
    if environ.get("NEWSDESK_TOKEN_FILE", "").strip():
        return "NEWSDESK_TOKEN_FILE", Path(environ["NEWSDESK_TOKEN_FILE"].strip())
    credentials = environ.get("CREDENTIALS_DIRECTORY", "").strip()
    if credentials and (Path(credentials) / "discord_token").is_file():
        return "CREDENTIALS_DIRECTORY", Path(credentials) / "discord_token"
    return "token_file", settings.token_file


def read_token(settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    """The bot token (see token_source), or None if none is configured."""
    env = os.environ if environ is None else environ
    source, path = token_source(settings, env)
    if source == "DISCORD_TOKEN":
        return env["DISCORD_TOKEN"].strip()
    if path is None:
        return None
    key = "token_file" if source == "token_file" else f"{source} ({path})"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(settings.path, key, f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(settings.path, key, "cannot be read: not UTF-8 text") from None
    return token or None
