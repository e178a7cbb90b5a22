"""Newsdesk: a Discord bot that posts curated news stories."""

__version__ = "0.1.0"
