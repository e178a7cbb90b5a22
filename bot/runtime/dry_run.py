"""A :class:`~bot.delivery.deliverer.Sender` that prints posts instead of sending them."""

from __future__ import annotations

import itertools
import sys
from typing import TextIO

from bot.config.settings import Route
from bot.delivery.deliverer import Posted, Sent
from bot.render.console import json_text, render_post
from bot.render.embeds import Post, escape_controls


class ConsoleSender:
    def __init__(self, out: TextIO | None = None, as_json: bool = False) -> None:
        self.out, self.as_json = out, as_json  # out None: whatever sys.stdout is then
        self._ids = itertools.count(1)

    def _print(self, text: str) -> None:
        # render_post and json_text escape feed text; the rest quotes config names
        print(escape_controls(text, keep="\n"), file=self.out or sys.stdout, flush=True)

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        if self.as_json:
            doc = {
                "channel": route.name,
                "channel_id": route.id,
                "nonce": nonce,
                "payload": post.to_payload(),
            }
            self._print(json_text(doc))
        else:
            self._print(render_post(post, route.name))
        return Sent(route.id, next(self._ids))

    async def send_review(self, route: Route, post: Post, nonce: str) -> Sent:
        if self.as_json:
            doc = {
                "review": route.name,
                "channel_id": route.id,
                "review_channel_id": route.review_channel,
                "nonce": nonce,
                "payload": post.to_payload(),
            }
            self._print(json_text(doc))
        else:
            self._print(f"(review request for #{route.name}: Approve / Reject)")
            self._print(render_post(post, route.name))
        return Sent(route.review_channel or route.id, next(self._ids))

    async def edit(self, route: Route, message_id: int, post: Post) -> None:
        if self.as_json:
            doc = {"edit": message_id, "channel": route.name, "payload": post.to_payload()}
            self._print(json_text(doc))
        else:
            self._print(f"(edited message {message_id} in #{route.name})")
            self._print(render_post(post, route.name))

    async def find_posted(self, route: Route, post: Post) -> Sent | None:
        return None

    async def recent_posts(self, route: Route) -> list[Posted]:
        return []

    async def open_post(self, route: Route, posted: Posted) -> Posted | None:
        return posted

    async def check_route(self, route: Route) -> str | None:
        return None

    async def notify(self, text: str) -> None:
        print(f"mod-log: {escape_controls(text)}", file=sys.stderr, flush=True)
