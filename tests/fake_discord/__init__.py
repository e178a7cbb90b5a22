"""A fake Discord (REST + gateway on 127.0.0.1) for driving the real discord.py client.

fake = await FakeDiscord().start()
guild = fake.add_guild("Newsroom")
news = fake.add_channel(guild.id, "news")
discord.http.Route.BASE = fake.api_base
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
...
await fake.stop()
"""

from .interactions import CallbackType, FakeInteraction, InteractionType
from .ratelimit import RateLimitConfig
from .records import RecordedRequest
from .server import FakeDiscord
from .world import (
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Channel,
    ChannelType,
    Guild,
    Member,
    Overwrite,
    Perm,
    Role,
    User,
)

__all__ = [
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "CallbackType",
    "Channel",
    "ChannelType",
    "FakeDiscord",
    "FakeInteraction",
    "Guild",
    "InteractionType",
    "Member",
    "Overwrite",
    "Perm",
    "RateLimitConfig",
    "RecordedRequest",
    "Role",
    "User",
]
