"""Rendering: embeds, command replies and terminal text within Discord's and a
terminal's limits, with article text kept literal (pure)."""
