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
    embed = post.embed
    rule = "─" * WIDTH
    lines = [rule]
    if channel:
        lines.append(f"→ #{channel}")
    if post.content:
        lines.append(post.content)
    if embed.author and embed.author.name:
        lines.append(f"[{embed.author.name}]")
    if embed.title:
        lines.append(f"■ {shown(embed.title)}")
    if embed.url:
        lines.append(f"  {embed.url}")
    if embed.description:
        lines.extend(
            textwrap.wrap(
                shown(embed.description), WIDTH, initial_indent="  ", subsequent_indent="  "
            )
        )
    for field in embed.fields:
        lines.append(f"  {field.name}:")
        lines.extend(f"    {line}" for line in (field.value or "").splitlines())
    if embed.image and embed.image.url:
        lines.append(f"  image: {embed.image.url}")
    footer = embed.footer.text if embed.footer else None
    stamp = embed.timestamp.isoformat() if embed.timestamp else None
    if footer or stamp:
        lines.append("  " + " · ".join(p for p in (footer, stamp) if p))
    for button in post.buttons:
        lines.append(f"  [{button.label}] {button.url}")
    lines.append(rule)
    return "\n".join(lines)
