"""Curation: which stories a route takes and in what order (pure, no I/O)."""
