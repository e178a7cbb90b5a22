"""The :class:`~bot.delivery.deliverer.Sender` that posts through discord.py."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

import aiohttp
import discord

from bot.config.settings import Route
from bot.delivery.deliverer import ErrorKind, Posted, SendError, Sent
from bot.delivery.pacing import Pacer
from bot.discord.permissions import PERMISSION, route_permissions
from bot.discord.ui import link_view, review_view
from bot.render.embeds import Post, allowed_mentions
from bot.render.replies import review_request_text

log = logging.getLogger(__name__)

HISTORY_LIMIT = 100  # recent messages (or forum posts) looked in: one request at most
# 404 codes that mean the channel itself is gone (10003 Unknown Channel), or one with no
# code. Others, such as 10008 Unknown Message (a repeated nonce whose first message was
# deleted), concern one story only.
CHANNEL_GONE = frozenset({None, 0, 10003})


def translate(exc: Exception) -> SendError:
    """discord.py's and aiohttp's errors → the delivery policy's terms."""
    if isinstance(exc, discord.HTTPException):
        status, code, text = exc.status, exc.code or None, exc.text or str(exc)
        if isinstance(exc, discord.Forbidden):
            return SendError(ErrorKind.FORBIDDEN, text, status, code)
        if isinstance(exc, discord.NotFound) and code in CHANNEL_GONE:
            return SendError(ErrorKind.NOT_FOUND, text, status, code)
        if status >= 500 or status == 429:
            return SendError(ErrorKind.TRANSIENT, text, status, code)
        return SendError(ErrorKind.BAD_REQUEST, text, status, code)
    return SendError(ErrorKind.TRANSIENT, f"{type(exc).__name__}: {exc}".rstrip(": "))


_ERRORS = (discord.HTTPException, aiohttp.ClientError, asyncio.TimeoutError, OSError)


def _posted(message: discord.Message) -> Posted:
    urls = tuple(e.url for e in message.embeds if e.url)
    nonce = str(message.nonce) if message.nonce is not None else None
    # Discord keeps no nonce in a channel's history: a digest is known by its footer
    footer = message.embeds[0].footer.text if message.embeds else None
    return Posted(Sent(message.channel.id, message.id), urls, nonce, footer=footer)


class DiscordSender:
    def __init__(
        self,
        client: discord.Client,
        mod_log_channel: int | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.client = client
        self.mod_log_channel = mod_log_channel
        self.pacer = pacer or Pacer()  # every REST call below waits its turn

    def _channel(self, channel_id: int) -> discord.abc.GuildChannel | discord.Thread | None:
        channel = self.client.get_channel(channel_id)
        return channel if not isinstance(channel, discord.abc.PrivateChannel) else None

    async def send(self, route: Route, post: Post, nonce: str) -> Sent:
        view = link_view(post)
        kwargs: dict[str, Any] = {
            "content": post.content,
            "embed": post.embed,
            "allowed_mentions": post.allowed_mentions,
        }
        if view is not None:
            kwargs["view"] = view
        sent, message = await self._post(route.id, post.thread_name, nonce, kwargs)
        if message is not None:
            await self._after_send(route, post, message)
        return sent

    async def _post(
        self, channel_id: int, thread_name: str, nonce: str, kwargs: dict[str, Any]
    ) -> tuple[Sent, discord.Message | None]:
        """One message in a channel, or one post in a forum (no message object then)."""
        channel = self._channel(channel_id)
        try:
            await self.pacer.wait()
            if isinstance(channel, discord.ForumChannel):
                created = await channel.create_thread(name=thread_name, **kwargs)
                return Sent(created.thread.id, created.message.id), None
            target = (
                channel
                if isinstance(channel, discord.abc.Messageable)
                else self.client.get_partial_messageable(channel_id)
            )
            message = await target.send(nonce=nonce, **kwargs)
        except _ERRORS as exc:
            raise translate(exc) from exc
        return Sent(message.channel.id, message.id), message

    async def send_review(self, route: Route, post: Post, nonce: str) -> Sent:
        """Ask the route's review channel to approve or reject ``post`` (approval mode)."""
        if route.review_channel is None:
            raise SendError(ErrorKind.BAD_REQUEST, f"#{route.name} has no review_channel")
        kwargs = {
            "content": review_request_text(route.id),
            "embed": post.embed,
            "view": review_view(post, route.id),
            "allowed_mentions": allowed_mentions(),
        }
        sent, _ = await self._post(route.review_channel, post.thread_name, nonce, kwargs)
        return sent

    async def _after_send(self, route: Route, post: Post, message: discord.Message) -> None:
        """Thread and crosspost: the story is posted either way, so failures only log."""
        if route.thread:
            try:
                await self.pacer.wait()
                await message.create_thread(name=post.thread_name)
            except _ERRORS as exc:
                log.warning(
                    "posted %s but could not open a thread in #%s: %s",
                    post.article_id,
                    route.name,
                    translate(exc).describe(),
                )
        if (
            route.publish
            and isinstance(message.channel, discord.TextChannel)
            and (message.channel.is_news())
        ):
            try:
                await self.pacer.wait()
                await message.publish()
            except _ERRORS as exc:
                log.warning(
                    "posted %s but could not crosspost it from #%s: %s",
                    post.article_id,
                    route.name,
                    translate(exc).describe(),
                )

    async def edit(self, route: Route, message_id: int, post: Post) -> None:
        channel = self._channel(route.id)
        # A forum post's first message has the id of its thread.
        channel_id = message_id if isinstance(channel, discord.ForumChannel) else route.id
        message = self.client.get_partial_messageable(channel_id).get_partial_message(message_id)
        try:
            await self.pacer.wait()
            await message.edit(
                content=post.content,
                embed=post.embed,
                view=link_view(post),
                allowed_mentions=post.allowed_mentions,
            )
        except _ERRORS as exc:
            raise translate(exc) from exc

    async def find_posted(self, route: Route, post: Post) -> Sent | None:
        """A recent post of the bot's in the route's channel that is ``post`` (its link;
        in a forum, its title)."""
        for posted in reversed(await self.recent_posts(route)):
            if posted.shows(post):
                return posted.sent
        return None

    async def recent_posts(self, route: Route) -> list[Posted]:
        """The bot's own posts among the channel's HISTORY_LIMIT most recent messages
        (one request), or among a forum's open posts (none: discord.py keeps them)."""
        me = self.client.user
        channel = self._channel(route.id)
        if isinstance(channel, discord.ForumChannel):
            mine = [t for t in channel.threads if me is not None and t.owner_id == me.id]
            mine.sort(key=lambda t: t.id)
            return [
                Posted(Sent(t.id, t.id), thread_name=t.name, opened=False)
                for t in mine[-HISTORY_LIMIT:]
            ]
        target = self.client.get_partial_messageable(route.id)
        posts = []
        try:
            await self.pacer.wait()
            async for message in target.history(limit=HISTORY_LIMIT):
                if me is not None and message.author.id != me.id:
                    continue
                posts.append(_posted(message))
        except _ERRORS as exc:
            raise translate(exc) from exc
        return posts[::-1]

    async def open_post(self, route: Route, posted: Posted) -> Posted | None:
        """A forum post with the links of its first message (whose id is the thread's)."""
        thread = self.client.get_partial_messageable(posted.sent.channel_id)
        try:
            await self.pacer.wait()
            message = await thread.fetch_message(posted.sent.message_id)
        except discord.NotFound:
            return None
        except _ERRORS as exc:
            raise translate(exc) from exc
        return replace(_posted(message), sent=posted.sent, thread_name=posted.thread_name)

    async def check_route(self, route: Route) -> str | None:
        """What stops the bot from posting in the route's channel, or None."""
        channel = self._channel(route.id)
        if channel is None:
            try:
                await self.pacer.wait()
                fetched = await self.client.fetch_channel(route.id)
            except discord.NotFound:
                return f"channel {route.id} does not exist"
            except discord.Forbidden:
                return f"the bot has no access to channel {route.id}"
            except _ERRORS as exc:
                return f"channel {route.id} could not be checked: {translate(exc).describe()}"
            if not isinstance(fetched, discord.abc.GuildChannel):
                return f"channel {route.id} is not a server channel"
            channel = fetched
        if not isinstance(channel, discord.TextChannel | discord.ForumChannel | discord.Thread):
            return f"#{channel} is a {channel.type} channel, which cannot receive stories"
        me = channel.guild.me
        if me is None:
            return None  # not cached yet: the first send will tell
        perms = channel.permissions_for(me)
        missing = [
            name for name in route_permissions(route) if not getattr(perms, PERMISSION[name])
        ]
        if missing:
            return f"the bot lacks {', '.join(missing)} in #{channel.name}"
        return None

    async def channel_guild(self, channel_id: int) -> int | None:
        """The guild of a channel: from discord.py's cache (a guild of this process's
        shards), else one request. None for a channel in no guild; raises SendError when
        Discord does not say (no such channel, no access, unreachable)."""
        channel = self._channel(channel_id)
        if channel is None:
            try:
                await self.pacer.wait()
                fetched = await self.client.fetch_channel(channel_id)
            except _ERRORS as exc:
                raise translate(exc) from exc
            if not isinstance(fetched, discord.abc.GuildChannel | discord.Thread):
                return None
            channel = fetched
        return channel.guild.id

    async def notify(self, text: str) -> None:
        if self.mod_log_channel is None:
            return
        try:
            await self.pacer.wait()
            await self.client.get_partial_messageable(self.mod_log_channel).send(
                content=text[:2000], allowed_mentions=allowed_mentions()
            )
        except _ERRORS as exc:
            raise translate(exc) from exc
