"""The fake Discord's world: ids, users, guilds, roles, members, channels, permissions.

Objects here are plain dataclasses; the ``*_payload`` functions turn them into the JSON
shapes Discord sends (and discord.py 2.7 parses).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000


class Perm:
    """Permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 53) - 1


DEFAULT_EVERYONE_PERMISSIONS = (
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CONNECT
    | Perm.SPEAK
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
)


class ChannelType:
    TEXT = 0
    DM = 1
    VOICE = 2
    CATEGORY = 4
    ANNOUNCEMENT = 5
    ANNOUNCEMENT_THREAD = 10
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    STAGE = 13
    FORUM = 15
    MEDIA = 16


THREAD_TYPES = frozenset({10, 11, 12})
MESSAGEABLE_TYPES = frozenset({0, 2, 5, 10, 11, 12, 13})


class Clock:
    """Wall clock plus an offset that tests can move forward (``advance``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class SnowflakeGenerator:
    """Real-looking, strictly increasing snowflakes whose timestamp follows ``clock``."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._last = 0

    def __call__(self) -> int:
        ms = int(self._clock.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (1 << 17)
        self._last = max(candidate, self._last + 1)
        return self._last

    def on_shard(self, shard_id: int, shard_count: int) -> int:
        """A new snowflake that Discord's sharding formula puts on ``shard_id``:
        ``(id >> 22) % shard_count == shard_id`` (its timestamp moved forward at most
        ``shard_count - 1`` ms)."""
        candidate = self()
        step = (shard_id - (candidate >> 22)) % shard_count
        self._last = candidate + (step << 22)
        return self._last


def snowflake_time(snowflake: int) -> float:
    return ((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None


@dataclass
class Member:
    user: User
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: float = 0.0
    # When set, replaces the role-derived guild permissions (a test shortcut).
    permissions: int | None = None


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0


@dataclass
class Channel:
    id: int
    guild_id: int
    name: str
    type: int = ChannelType.TEXT
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    overwrites: list[Overwrite] = field(default_factory=list)
    last_message_id: int | None = None
    # threads only
    owner_id: int | None = None
    message_count: int = 0
    created_at: float = 0.0
    auto_archive_duration: int = 1440
    applied_tags: list[int] = field(default_factory=list)
    available_tags: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    joined_at: float = 0.0
    locale: str = "en-US"


# --------------------------------------------------------------------------- permissions


def base_permissions(guild: Guild, member: Member) -> int:
    """Guild-level permissions of ``member`` (Discord's algorithm, no channel)."""
    if member.user.id == guild.owner_id:
        return Perm.ALL
    if member.permissions is not None:
        perms = member.permissions
    else:
        perms = guild.roles[guild.id].permissions
        for role_id in member.roles:
            role = guild.roles.get(role_id)
            if role is not None:
                perms |= role.permissions
    if perms & Perm.ADMINISTRATOR:
        return Perm.ALL
    return perms


def channel_permissions(guild: Guild, member: Member, channel: Channel | None) -> int:
    """Permissions of ``member`` in ``channel`` after overwrites and Discord's implicit rules."""
    perms = base_permissions(guild, member)
    if perms == Perm.ALL or channel is None:
        return perms
    target = channel
    if channel.is_thread and channel.parent_id in guild.channels:
        target = guild.channels[channel.parent_id]
    allow_roles = deny_roles = 0
    for ow in target.overwrites:
        if ow.type == 0 and ow.id == guild.id:
            perms = (perms & ~ow.deny) | ow.allow
    for ow in target.overwrites:
        if ow.type == 0 and ow.id != guild.id and ow.id in member.roles:
            allow_roles |= ow.allow
            deny_roles |= ow.deny
    perms = (perms & ~deny_roles) | allow_roles
    for ow in target.overwrites:
        if ow.type == 1 and ow.id == member.user.id:
            perms = (perms & ~ow.deny) | ow.allow
    if not perms & Perm.VIEW_CHANNEL:
        return 0
    if not perms & Perm.SEND_MESSAGES and not channel.is_thread:
        perms &= ~(
            Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES
        )
    return perms


# --------------------------------------------------------------------------- payloads


def user_payload(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": None,
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
        "bot": user.bot,
        "system": False,
    }


def role_payload(role: Role) -> dict[str, Any]:
    tags: dict[str, Any] = {}
    if role.bot_id is not None:
        tags["bot_id"] = str(role.bot_id)
    return {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": False,
        "flags": 0,
        "tags": tags,
    }


def member_payload(member: Member, *, with_user: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "roles": [str(r) for r in member.roles],
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "joined_at": iso(member.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
        "unusual_dm_activity_until": None,
    }
    if with_user:
        data["user"] = user_payload(member.user)
    return data


def overwrite_payload(ow: Overwrite) -> dict[str, Any]:
    return {"id": str(ow.id), "type": ow.type, "allow": str(ow.allow), "deny": str(ow.deny)}


def channel_payload(channel: Channel) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
        "flags": 0,
    }
    if channel.is_thread:
        data.update(
            {
                "owner_id": str(channel.owner_id) if channel.owner_id else None,
                "last_message_id": str(channel.last_message_id)
                if channel.last_message_id
                else None,
                "rate_limit_per_user": 0,
                "message_count": channel.message_count,
                "total_message_sent": channel.message_count,
                "member_count": 1,
                "applied_tags": [str(t) for t in channel.applied_tags],
                "thread_metadata": {
                    "archived": False,
                    "auto_archive_duration": channel.auto_archive_duration,
                    "archive_timestamp": iso(channel.created_at),
                    "locked": False,
                    "create_timestamp": iso(channel.created_at),
                },
            }
        )
        if channel.type == ChannelType.PRIVATE_THREAD:
            data["thread_metadata"]["invitable"] = True
        return data
    data.update(
        {
            "position": channel.position,
            "permission_overwrites": [overwrite_payload(o) for o in channel.overwrites],
            "nsfw": channel.nsfw,
        }
    )
    if channel.type in (ChannelType.TEXT, ChannelType.ANNOUNCEMENT, ChannelType.FORUM, 16):
        data.update(
            {
                "topic": channel.topic,
                "rate_limit_per_user": 0,
                "default_auto_archive_duration": 1440,
                "default_thread_rate_limit_per_user": 0,
            }
        )
    if channel.type in (ChannelType.TEXT, ChannelType.ANNOUNCEMENT):
        data["last_message_id"] = str(channel.last_message_id) if channel.last_message_id else None
    if channel.type in (ChannelType.FORUM, ChannelType.MEDIA):
        data.update(
            {
                "available_tags": channel.available_tags,
                "default_reaction_emoji": None,
                "default_sort_order": None,
                "default_forum_layout": 0,
                "last_message_id": (
                    str(channel.last_message_id) if channel.last_message_id else None
                ),
            }
        )
    if channel.type in (ChannelType.VOICE, ChannelType.STAGE):
        data.update(
            {"bitrate": 64000, "user_limit": 0, "rtc_region": None, "video_quality_mode": 1}
        )
    return data


def guild_payload(guild: Guild) -> dict[str, Any]:
    """The REST shape of a guild (``GET /guilds/{id}``)."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "region": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [role_payload(r) for r in sorted(guild.roles.values(), key=lambda r: r.position)],
        "emojis": [],
        "stickers": [],
        "features": list(guild.features),
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": guild.locale,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "max_members": 500000,
        "max_presences": None,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "incidents_data": None,
    }


def guild_create_payload(guild: Guild) -> dict[str, Any]:
    """The gateway GUILD_CREATE shape: REST guild plus channels, members, threads, ..."""
    data = guild_payload(guild)
    channels = [c for c in guild.channels.values() if not c.is_thread]
    threads = [c for c in guild.channels.values() if c.is_thread]
    data.update(
        {
            "joined_at": iso(guild.joined_at),
            "large": False,
            "unavailable": False,
            "lazy": True,
            "member_count": len(guild.members),
            "channels": [channel_payload(c) for c in channels],
            "threads": [channel_payload(t) for t in threads],
            "members": [member_payload(m) for m in guild.members.values()],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
        }
    )
    return data
