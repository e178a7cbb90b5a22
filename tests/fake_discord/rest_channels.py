"""REST routes for channels, messages and threads: history, sending (permissions, nonces),
edits, crossposts, threads from a message and forum posts."""

from __future__ import annotations

from typing import Any

from .rest_common import (
    CROSSPOSTED,
    HAS_THREAD,
    ApiError,
    Ctx,
    Reply,
    RouteHelpers,
    empty_message,
    form_error,
    leaf,
    missing_access,
    missing_permissions,
    unknown_message,
)
from .validation import is_empty_message, validate_message
from .world import (
    MESSAGEABLE_TYPES,
    Channel,
    ChannelType,
    Guild,
    Perm,
    channel_payload,
)


class ChannelRoutes(RouteHelpers):
    """Channel, message and thread handlers of ``RestApi``."""

    async def get_channel(self, ctx: Ctx) -> Reply:
        guild, channel = self._channel(ctx)
        self._perms(guild, channel)
        return Reply(200, channel_payload(channel))

    def _require_send(self, guild: Guild, channel: Channel) -> int:
        perms = self._perms(guild, channel)
        if channel.type not in MESSAGEABLE_TYPES:
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        needed = Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
        if not perms & needed:
            raise missing_permissions()
        return perms

    async def history(self, ctx: Ctx) -> Reply:
        guild, channel = self._channel(ctx)
        perms = self._perms(guild, channel)
        try:
            limit = int(ctx.query.get("limit", 50))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise form_error(
                {"limit": leaf("NUMBER_TYPE_MAX", "int value should be less than or equal to 100.")}
            )
        if not perms & Perm.READ_MESSAGE_HISTORY:
            return Reply(200, [])
        messages = self.fake.messages(channel.id)  # oldest first
        query = ctx.query
        if "around" in query:
            around = int(query["around"])
            older = [m for m in messages if int(m["id"]) <= around][-(limit - limit // 2) :]
            newer = [m for m in messages if int(m["id"]) > around][: limit // 2]
            page = older + newer
        elif "after" in query:
            page = [m for m in messages if int(m["id"]) > int(query["after"])][:limit]
        else:
            if "before" in query:
                messages = [m for m in messages if int(m["id"]) < int(query["before"])]
            page = messages[-limit:]
        return Reply(200, list(reversed(page)))

    async def create_message(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        perms = self._require_send(guild, channel)
        body = ctx.json_object()
        self._check_message_body(body)
        if body.get("embeds") and not perms & Perm.EMBED_LINKS:
            raise missing_permissions()
        ref = body.get("message_reference")
        if (
            ref
            and ref.get("fail_if_not_exists", True)
            and fake.get_message(int(ref.get("message_id") or 0)) is None
        ):
            raise form_error(
                {"message_reference": leaf("MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")}
            )
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            earlier = fake.recall_nonce(channel.id, fake.bot_user.id, str(nonce))
            if earlier is not None:
                if fake.is_deleted(earlier):
                    raise unknown_message()
                return Reply(200, fake.get_message(earlier))
        message = fake.store_message(channel, body)
        if nonce is not None:
            fake.remember_nonce(channel.id, fake.bot_user.id, str(nonce), int(message["id"]))
        return Reply(200, message)

    async def get_message(self, ctx: Ctx) -> Reply:
        guild, channel = self._channel(ctx)
        if not self._perms(guild, channel) & Perm.READ_MESSAGE_HISTORY:
            raise missing_access()
        return Reply(200, self._message_in(channel, ctx))

    async def edit_message(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        self._perms(guild, channel)
        message = self._message_in(channel, ctx)
        body = ctx.json_object()
        errors = validate_message(body)
        if errors:
            raise form_error(errors)
        merged = fake.merged_message(int(message["id"]), body)
        if is_empty_message(merged):
            raise empty_message()
        fake.replace_message(merged)
        return Reply(200, merged)

    async def crosspost(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        perms = self._perms(guild, channel)
        if channel.type != ChannelType.ANNOUNCEMENT:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        message = self._message_in(channel, ctx)
        if not perms & Perm.SEND_MESSAGES:  # the bot's own message (others need MANAGE_MESSAGES)
            raise missing_permissions()
        if message["flags"] & CROSSPOSTED:
            raise ApiError(400, 40033, "This message has already been crossposted.")
        message["flags"] |= CROSSPOSTED
        fake.crossposted.append(int(message["id"]))
        fake.notify()
        return Reply(200, message)

    def _thread_name(self, body: dict[str, Any]) -> str:
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise form_error(
                {"name": leaf("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")}
            )
        return name

    def _archive_duration(self, body: dict[str, Any]) -> int:
        duration = body.get("auto_archive_duration") or 1440
        if duration not in (60, 1440, 4320, 10080):
            raise form_error(
                {
                    "auto_archive_duration": leaf(
                        "BASE_TYPE_CHOICES", "Value must be one of {60, 1440, 4320, 10080}."
                    )
                }
            )
        return int(duration)

    async def thread_from_message(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        perms = self._perms(guild, channel)
        if channel.type not in (ChannelType.TEXT, ChannelType.ANNOUNCEMENT):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        message = self._message_in(channel, ctx)
        if not perms & Perm.CREATE_PUBLIC_THREADS:
            raise missing_permissions()
        if message["flags"] & HAS_THREAD:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        body = ctx.json_object()
        kind = (
            ChannelType.ANNOUNCEMENT_THREAD
            if channel.type == ChannelType.ANNOUNCEMENT
            else ChannelType.PUBLIC_THREAD
        )
        thread = fake.add_thread(channel, self._thread_name(body), id=int(message["id"]), type=kind)
        thread.auto_archive_duration = self._archive_duration(body)
        message["flags"] |= HAS_THREAD
        message["thread"] = channel_payload(thread)
        fake.notify()
        await self._echo_thread(thread)
        return Reply(201, channel_payload(thread))

    async def create_thread(self, ctx: Ctx) -> Reply:
        fake = self.fake
        guild, channel = self._channel(ctx)
        perms = self._perms(guild, channel)
        body = ctx.json_object()
        if channel.type in (ChannelType.FORUM, ChannelType.MEDIA):
            if not perms & Perm.SEND_MESSAGES:
                raise missing_permissions()
            name = self._thread_name(body)
            duration = self._archive_duration(body)
            first = body.get("message")
            if not isinstance(first, dict):
                raise form_error({"message": leaf("BASE_TYPE_REQUIRED", "This field is required")})
            self._check_message_body(first, prefix="message")
            if first.get("embeds") and not perms & Perm.EMBED_LINKS:
                raise missing_permissions()
            known_tags = {t["id"] for t in channel.available_tags}
            tags = [str(t) for t in body.get("applied_tags") or []]
            if any(t not in known_tags for t in tags):
                raise form_error({"applied_tags": leaf("FORUM_TAG_UNKNOWN", "Unknown tag")})
            thread = fake.add_thread(channel, name)
            thread.auto_archive_duration = duration
            thread.applied_tags = [int(t) for t in tags]
            starter = fake.store_message(thread, first, message_id=thread.id)
            channel.last_message_id = thread.id
            await self._echo_thread(thread)
            return Reply(201, channel_payload(thread) | {"message": starter})
        if channel.type not in (ChannelType.TEXT, ChannelType.ANNOUNCEMENT):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        kind = int(body.get("type") or ChannelType.PRIVATE_THREAD)
        needed = (
            Perm.CREATE_PRIVATE_THREADS
            if kind == ChannelType.PRIVATE_THREAD
            else Perm.CREATE_PUBLIC_THREADS
        )
        if not perms & needed:
            raise missing_permissions()
        thread = fake.add_thread(channel, self._thread_name(body), type=kind)
        thread.auto_archive_duration = self._archive_duration(body)
        await self._echo_thread(thread)
        return Reply(201, channel_payload(thread))
