"""The messages the bot posted, as ``FakeDiscord`` stores them: building them from request
bodies (mentions, replies), edits, deletes, enforced nonces, and queries for tests."""

from __future__ import annotations

import re
from typing import Any

from .recording import Recording
from .world import (
    THREAD_TYPES,
    Channel,
    Guild,
    Perm,
    channel_permissions,
    iso,
    member_payload,
    snowflake_time,
    user_payload,
)
from .world_setup import WorldSetup

NONCE_TTL = 600.0  # seconds of fake time Discord remembers an enforced nonce


class MessageStore(WorldSetup, Recording):
    """Message methods of ``FakeDiscord``, which sets the state in its ``__init__``."""

    _messages: dict[int, dict[str, Any]]  # payloads by id
    _channel_log: dict[int, list[int]]  # ids per channel in creation order
    _deleted: dict[int, dict[str, Any]]
    _ephemeral: set[int]
    _nonces: dict[tuple[int, int, str], tuple[int, float]]
    crossposted: list[int]

    def store_message(
        self,
        channel: Channel,
        body: dict[str, Any],
        *,
        message_id: int | None = None,
        extra: dict[str, Any] | None = None,
        ephemeral: bool = False,
    ) -> dict[str, Any]:
        """Builds the bot's message from a request body and stores it."""
        mid = message_id or self.new_id()
        guild = self.guild_of(channel)
        flags = int(body.get("flags") or 0) & ~(1 << 7)
        message: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "author": user_payload(self.bot_user),
            "content": body.get("content") or "",
            "timestamp": iso(snowflake_time(mid)),
            "edited_timestamp": None,
            "tts": bool(body.get("tts")),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [_normalize_embed(e) for e in body.get("embeds") or []],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": flags,
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if channel.type in THREAD_TYPES:
            message["position"] = channel.message_count
        self._apply_mentions(message, body, guild)
        ref = body.get("message_reference")
        if ref:
            message["type"] = 19
            message["message_reference"] = {
                "type": 0, "message_id": str(ref.get("message_id")),
                "channel_id": str(ref.get("channel_id") or channel.id),
                "guild_id": str(guild.id),
            }  # fmt: skip
            referenced = self._messages.get(int(ref.get("message_id") or 0))
            message["referenced_message"] = referenced
        if extra:
            message.update(extra)
        self._messages[mid] = message
        if ephemeral:
            self._ephemeral.add(mid)
        else:
            self._channel_log.setdefault(channel.id, []).append(mid)
            channel.last_message_id = mid
            channel.message_count += 1
        self.notify()
        return message

    def _apply_mentions(self, message: dict[str, Any], body: dict[str, Any], guild: Guild) -> None:
        content = message["content"]
        allowed = body.get("allowed_mentions")
        parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse", []))
        users_allowed = {int(u) for u in (allowed or {}).get("users", [])}
        roles_allowed = {int(r) for r in (allowed or {}).get("roles", [])}
        for uid in dict.fromkeys(int(x) for x in re.findall(r"<@!?(\d+)>", content)):
            if uid in self.users and ("users" in parse or uid in users_allowed):
                entry = user_payload(self.users[uid])
                if uid in guild.members:
                    entry["member"] = member_payload(guild.members[uid], with_user=False)
                message["mentions"].append(entry)
        for rid in dict.fromkeys(int(x) for x in re.findall(r"<@&(\d+)>", content)):
            if rid in guild.roles and ("roles" in parse or rid in roles_allowed):
                message["mention_roles"].append(str(rid))
        if re.search(r"@(everyone|here)", content) and "everyone" in parse:
            member = guild.members.get(self.bot_user.id)
            channel = self._channels[int(message["channel_id"])]
            if (
                member is not None
                and channel_permissions(guild, member, channel) & Perm.MENTION_EVERYONE
            ):
                message["mention_everyone"] = True

    def merged_message(self, message_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """What a stored message becomes after an edit body (not stored yet)."""
        old = self._messages[int(message_id)]
        new = dict(old)
        if "content" in body:
            new["content"] = body["content"] or ""
        if "embeds" in body:
            new["embeds"] = [_normalize_embed(e) for e in body["embeds"] or []]
        if "components" in body:
            new["components"] = body["components"] or []
        if "flags" in body:
            editable = (1 << 2) | (1 << 15)  # SUPPRESS_EMBEDS, IS_COMPONENTS_V2
            new["flags"] = (old["flags"] & ~editable) | (int(body["flags"] or 0) & editable)
        new["flags"] &= ~(1 << 7)  # an edit ends a deferred "thinking" state
        if "content" in body or "allowed_mentions" in body:
            channel = self._channels[int(old["channel_id"])]
            new.update(mentions=[], mention_roles=[], mention_everyone=False)
            self._apply_mentions(new, {"allowed_mentions": body.get("allowed_mentions")} | new,
                                 self.guild_of(channel))  # fmt: skip
        new["edited_timestamp"] = iso(self.clock.time())
        return new

    def replace_message(self, message: dict[str, Any]) -> dict[str, Any]:
        self._messages[int(message["id"])] = message
        self.notify()
        return message

    def get_message(self, message_id: int) -> dict[str, Any] | None:
        """A stored message (ephemeral ones included), ``None`` if unknown or deleted."""
        return self._messages.get(int(message_id))

    def delete_message(self, message_id: int) -> dict[str, Any] | None:
        message = self._messages.pop(int(message_id), None)
        if message is not None:
            self._deleted[int(message_id)] = message
            log = self._channel_log.get(int(message["channel_id"]), [])
            if int(message_id) in log:
                log.remove(int(message_id))
            self.notify()
        return message

    def messages(self, channel_id: int, *, include_ephemeral: bool = False) -> list[dict[str, Any]]:
        """Stored (not deleted) messages of a channel, oldest first."""
        ids = list(self._channel_log.get(int(channel_id), []))
        if include_ephemeral:
            ids += [
                m for m in self._ephemeral
                if m in self._messages and int(self._messages[m]["channel_id"]) == int(channel_id)
            ]  # fmt: skip
            ids.sort()
        return [self._messages[i] for i in ids]

    def deleted_messages(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self._deleted.values() if int(m["channel_id"]) == int(channel_id)]

    def sent_payloads(self, channel_id: int) -> list[Any]:
        """JSON bodies of the 2xx ``POST /channels/{id}/messages`` requests, in order (a
        nonce-deduplicated repeat is listed here but creates no second message)."""
        path = f"/channels/{int(channel_id)}/messages"
        return [
            r.json
            for r in self._requests
            if r.method == "POST" and r.path == path and r.status is not None and r.status < 300
        ]

    def remember_nonce(self, channel_id: int, author_id: int, nonce: str, message_id: int) -> None:
        self._nonces[(channel_id, author_id, nonce)] = (message_id, self.clock.time())

    def recall_nonce(self, channel_id: int, author_id: int, nonce: str) -> int | None:
        found = self._nonces.get((channel_id, author_id, nonce))
        if found is None or self.clock.time() - found[1] > NONCE_TTL:
            return None
        return found[0]

    def is_ephemeral(self, message_id: int) -> bool:
        return int(message_id) in self._ephemeral

    def is_deleted(self, message_id: int) -> bool:
        return int(message_id) in self._deleted

    async def wait_for_messages(
        self,
        channel_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Waits until the channel holds at least ``count`` messages; returns them all."""
        return await self.wait_for(
            lambda: self.messages(channel_id) if len(self.messages(channel_id)) >= count else [],
            timeout,
            what=f"{count} message(s) in {channel_id}",
        )


def _normalize_embed(embed: dict[str, Any]) -> dict[str, Any]:
    result = dict(embed)
    result.setdefault("type", "rich")
    return result
