"""The Discord permissions Newsdesk needs: one list, which the start-up check of each
channel and the invite link share, so the link asks for exactly what the checks require."""

from __future__ import annotations

import base64
import binascii

import discord

from bot.config.settings import Route, Settings

# a permission's name in Discord's settings → its attribute on discord.Permissions
PERMISSION = {
    "View Channel": "view_channel",
    "Send Messages": "send_messages",
    "Embed Links": "embed_links",
    "Read Message History": "read_message_history",  # the look for a send cut short
    "Create Public Threads": "create_public_threads",
}
SCOPES = ("bot", "applications.commands")


def route_permissions(route: Route) -> tuple[str, ...]:
    """What the bot needs in one route's channel. Crossposting its own posts (publish)
    and opening forum posts need no more than Send Messages."""
    thread = ("Create Public Threads",) if route.thread else ()
    return ("View Channel", "Send Messages", "Embed Links", *thread, "Read Message History")


def config_permissions(settings: Settings) -> discord.Permissions:
    """Every permission some channel of the config needs: review and mod-log channels
    take posts with embeds too."""
    names = {"View Channel", "Send Messages", "Embed Links"}
    for route in settings.channels:
        names.update(route_permissions(route))
    return discord.Permissions(**{PERMISSION[name]: True for name in names})


def client_id_from_token(token: str) -> int | None:
    """The application's id, which a bot token carries base64-encoded before its first
    dot; None if ``token`` does not look like one."""
    head = token.strip().split(".", 1)[0]
    try:
        text = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(text) if text.isdigit() else None


def invite_url(client_id: int, settings: Settings) -> str:
    return discord.utils.oauth_url(
        client_id, permissions=config_permissions(settings), scopes=SCOPES
    )


def describe(settings: Settings) -> list[str]:
    """The permissions by name, for people; and the intents (none privileged)."""
    perms = config_permissions(settings)
    names = [name for name, attr in PERMISSION.items() if getattr(perms, attr)]
    return [
        f"permissions: {', '.join(names)} (integer {perms.value})",
        "intents: Guilds only (no privileged intent to enable)",
    ]
