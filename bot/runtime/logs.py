"""Logging for ``newsdesk run``: a level and a format chosen at start, one line per event.

``--log-format json`` writes one JSON object per line with stable keys (``ts``, ``level``,
``logger``, ``message``, and ``exception`` when there is one), for log shippers.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from bot.render.console import EscapingFormatter, json_text

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json_text(entry)  # feed text in a message is escaped, never acted on


def configure_logging(level: str = "INFO", fmt: str = "text", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    # feed text in a message (a file's path, a title) is shown escaped, never acted on
    handler.setFormatter(JsonFormatter() if fmt == "json" else EscapingFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("discord.gateway").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("discord.client").addFilter(one_line_reconnects)


def one_line_reconnects(record: logging.LogRecord) -> bool:
    """discord.py logs each failed gateway reconnect with the error's full traceback: in
    an outage, a screenful a minute. Keep it to one line, which names the error."""
    if record.exc_info and str(record.msg).startswith("Attempting a reconnect"):
        error = record.exc_info[1]
        record.msg = f"{record.msg} after %s"
        args = record.args if isinstance(record.args, tuple) else ()
        record.args = (*args, f"{type(error).__name__}: {error}")
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


def quiet_voice_warnings() -> None:
    """Newsdesk has no voice: discord.py's start-up warnings that voice libraries are
    missing say nothing to its operators."""
    from discord import VoiceClient

    VoiceClient.warn_nacl = False
    if hasattr(VoiceClient, "warn_dave"):
        VoiceClient.warn_dave = False


class LoadProgress:
    """A long load's progress as log lines (the bot's start-up load of a big folder was
    silent for seconds): at most one per ``every`` seconds, and the last."""

    def __init__(
        self,
        log: Callable[[str], None],
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log, self.every, self.clock = log, every, clock
        self._next = clock() + every
        self._spoke = False  # a load shorter than ``every`` says nothing

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now >= self._next or (done >= total and self._spoke):
            self.log(f"loading: {done:,} of {total:,} files")
            self._spoke = True
            self._next = now + self.every
