"""Ingest: article files in, typed articles out — the front matter reader, the field
and URL rules, and the loader that hands the store what changed."""
