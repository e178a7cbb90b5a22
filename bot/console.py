"""Posts as readable terminal text (dry runs and ``newsdesk preview``). Pure."""

from __future__ import annotations

import re
import textwrap

from bot.embeds import Post

WIDTH = 88
_ESCAPED = re.compile(r"\\([\\`*_~|>\[\]()#.-])")


def shown(text: str) -> str:
    """Markdown text as Discord shows it: escaped characters without their backslash."""
    return _ESCAPED.sub(r"\1", text)


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
        lines.extend(
            textwrap.wrap(
                shown(card.description), WIDTH, initial_indent="  ", subsequent_indent="  "
            )
        )
    for field in card.fields:
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
    return "\n".join(lines)
