"""Building the fake's world: users, guilds, channels, roles, members, threads, the bot's
permissions and the fake clock (the data classes and payloads are in ``world.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .world import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Channel,
    ChannelType,
    Clock,
    Guild,
    Member,
    Overwrite,
    Perm,
    Role,
    SnowflakeGenerator,
    User,
    channel_permissions,
)


class WorldSetup:
    """World setup methods of ``FakeDiscord``, which sets the state in its ``__init__``."""

    clock: Clock
    new_id: SnowflakeGenerator
    bot_user: User
    users: dict[int, User]
    guilds: dict[int, Guild]
    _channels: dict[int, Channel]

    def add_user(self, username: str, *, bot: bool = False, id: int | None = None) -> User:
        user = User(id=id or self.new_id(), username=username, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str = "Test Guild",
        *,
        id: int | None = None,
        owner: User | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        features: Iterable[str] = (),
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """A guild the bot is in: @everyone role, the bot's managed role and member, an owner.

        The bot's guild permissions are ``everyone_permissions | bot_permissions``.
        ``shard=(shard_id, shard_count)`` gives it an id on that shard.
        """
        guild_id = id or (self.new_id.on_shard(*shard) if shard else self.new_id())
        owner = owner or self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        now = self.clock.time()
        guild = Guild(
            id=guild_id, name=name, owner_id=owner.id, features=list(features), joined_at=now
        )
        guild.roles[guild_id] = Role(guild_id, guild_id, "@everyone", everyone_permissions)
        bot_role = Role(
            self.new_id(), guild_id, self.bot_user.username, bot_permissions, position=1,
            managed=True, bot_id=self.bot_user.id,
        )  # fmt: skip
        guild.roles[bot_role.id] = bot_role
        guild.members[owner.id] = Member(owner, guild_id, joined_at=now)
        guild.members[self.bot_user.id] = Member(
            self.bot_user, guild_id, roles=[bot_role.id], joined_at=now
        )
        self.guilds[guild_id] = guild
        return guild

    def add_channel(
        self,
        guild_id: int,
        name: str,
        type: int = ChannelType.TEXT,
        *,
        bot_permissions: int | None = None,
        parent_id: int | None = None,
        topic: str | None = None,
        overwrites: Iterable[Overwrite] = (),
        available_tags: Iterable[dict[str, Any]] = (),
        id: int | None = None,
    ) -> Channel:
        """A guild channel. ``bot_permissions`` makes the bot's permissions in it exactly
        that value (a member overwrite allowing it and denying everything else)."""
        guild = self.guilds[guild_id]
        channel = Channel(
            id=id or self.new_id(),
            guild_id=guild_id,
            name=name,
            type=type,
            position=len(guild.channels),
            parent_id=parent_id,
            topic=topic,
            overwrites=list(overwrites),
            available_tags=[
                {"id": str(t.get("id") or self.new_id()), "name": t["name"], "moderated": False,
                 "emoji_id": None, "emoji_name": None}
                for t in available_tags
            ],
        )  # fmt: skip
        guild.channels[channel.id] = channel
        self._channels[channel.id] = channel
        if bot_permissions is not None:
            self.set_bot_permissions(channel.id, bot_permissions)
        return channel

    def add_role(
        self, guild_id: int, name: str, permissions: int = 0, *, id: int | None = None
    ) -> Role:
        guild = self.guilds[guild_id]
        role = Role(id or self.new_id(), guild_id, name, permissions, position=len(guild.roles))
        guild.roles[role.id] = role
        return role

    def add_member(
        self,
        guild_id: int,
        user: User | str,
        roles: Iterable[Role | int] = (),
        permissions: int | None = None,
        *,
        nick: str | None = None,
    ) -> Member:
        """A guild member. ``permissions`` (if given) replaces the role-derived guild perms."""
        if isinstance(user, str):
            user = self.add_user(user)
        self.users[user.id] = user
        role_ids = [r.id if isinstance(r, Role) else int(r) for r in roles]
        member = Member(
            user, guild_id, roles=role_ids, nick=nick, joined_at=self.clock.time(),
            permissions=permissions,
        )  # fmt: skip
        self.guilds[guild_id].members[user.id] = member
        return member

    def set_bot_permissions(self, channel_id: int, permissions: int | None) -> None:
        """Bot's exact permissions in a channel (``None`` removes the override). Call
        ``await dispatch_channel_update(channel_id)`` to tell a connected bot."""
        channel = self._channels[channel_id]
        channel.overwrites = [
            o for o in channel.overwrites if not (o.type == 1 and o.id == self.bot_user.id)
        ]
        if permissions is not None:
            channel.overwrites.append(
                Overwrite(self.bot_user.id, 1, allow=permissions, deny=Perm.ALL & ~permissions)
            )

    def channel(self, channel_id: int) -> Channel | None:
        return self._channels.get(channel_id)

    def guild_of(self, channel: Channel) -> Guild:
        return self.guilds[channel.guild_id]

    def bot_member(self, guild: Guild) -> Member:
        return guild.members[self.bot_user.id]

    def bot_permissions_in(self, channel_id: int) -> int:
        channel = self._channels[channel_id]
        guild = self.guild_of(channel)
        return channel_permissions(guild, self.bot_member(guild), channel)

    def add_thread(
        self, parent: Channel, name: str, *, id: int | None = None, type: int = 11
    ) -> Channel:
        """Registers a thread channel (used by the REST handlers)."""
        thread = Channel(
            id=id or self.new_id(), guild_id=parent.guild_id, name=name, type=type,
            parent_id=parent.id, owner_id=self.bot_user.id, created_at=self.clock.time(),
        )  # fmt: skip
        self.guilds[parent.guild_id].channels[thread.id] = thread
        self._channels[thread.id] = thread
        return thread

    def advance_time(self, seconds: float) -> None:
        """Moves the fake clock (nonce memory, interaction token expiry, timestamps)."""
        self.clock.advance(seconds)
