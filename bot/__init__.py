"""Newsdesk: a Discord bot that posts curated news stories."""

__version__ = "0.1.0"


def version() -> str:
    """The installed package's version; this source's in a tree that was never installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version("newsdesk")
    except importlib.metadata.PackageNotFoundError:
        return __version__
