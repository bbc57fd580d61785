"""Persistence: sqlmodel tables, engine and sessions, queries, migrations."""
