"""Text for the operator's terminal and log: posts as readable text (dry runs and
``newsdesk preview``), JSON documents and log lines, feed text in them escaped
(:func:`~bot.render.embeds.escape_controls`), so that none can retitle, clear or reorder the
terminal, or forge a log line. Pure, but for the logging formatter's use."""

from __future__ import annotations

import json
import logging
import re
import textwrap
from typing import Any

from bot.render.digest import DIGEST_CONT_NAME
from bot.render.embeds import Post, escape_controls

WIDTH = 88
_ESCAPED = re.compile(r"\\([\\`*_~|<>\[\]()#.-])")


def shown(text: str) -> str:
    """Markdown text as Discord shows it: escaped characters without their backslash."""
    return _ESCAPED.sub(r"\1", text)


def _wrapped(text: str) -> list[str]:
    """Text indented and wrapped to WIDTH, each of its lines (a digest's stories) on its
    own; a link is never broken."""
    out = []
    for paragraph in text.splitlines():
        out += textwrap.wrap(
            paragraph,
            WIDTH,
            initial_indent="  ",
            subsequent_indent="  ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return out


def render_post(post: Post, channel: str | None = None) -> str:
    card = post.card
    rule = "─" * WIDTH
    lines = [rule]
    if channel:
        lines.append(f"→ #{channel}")
    if post.content:
        lines.append(post.content)
    if card.author and card.author.name:
        lines.append(f"[{card.author.name}]")
    if card.title:
        lines.append(f"■ {shown(card.title)}")
    if card.url:
        lines.append(f"  {card.url}")
    if card.description:
        lines.extend(_wrapped(shown(card.description)))
    for field in card.fields:
        if field.name == DIGEST_CONT_NAME:  # a digest's list going on: no heading
            lines.extend(_wrapped(shown(field.value)))
            continue
        lines.append(f"  {field.name}:")
        lines.extend(f"    {line}" for line in field.value.splitlines())
    if card.image:
        lines.append(f"  image: {card.image}")
    footer = card.footer
    stamp = card.timestamp.isoformat() if card.timestamp else None
    if footer or stamp:
        lines.append("  " + " · ".join(p for p in (footer, stamp) if p))
    for button in post.buttons:
        lines.append(f"  [{button.label}] {button.url}")
    lines.append(rule)
    # the card's text is escaped already, not its URLs or the channel's name
    return "\n".join(escape_controls(line) for line in lines)


def json_text(doc: Any, indent: int | None = None) -> str:
    """``doc`` as JSON with its text readable (not ASCII-only) and safe on a terminal.

    json.dumps escapes C0 controls in strings but writes DEL, C1 controls and bidi
    overrides as they are; they become JSON escapes here (\\u202e), the same document.
    """
    return escape_controls(json.dumps(doc, indent=indent, ensure_ascii=False), keep="\n")


class EscapingFormatter(logging.Formatter):
    """Log lines with control characters and bidi overrides escaped: a message is one
    line whatever it quotes (a file's path, a title); a traceback keeps its line breaks."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        parts = [escape_controls(self.formatMessage(record))]
        if record.exc_info:
            parts.append(self.formatException(record.exc_info))
        elif record.exc_text:
            parts.append(record.exc_text)
        if record.stack_info:
            parts.append(self.formatStack(record.stack_info))
        return "\n".join([parts[0], *(escape_controls(p, keep="\n") for p in parts[1:])])
