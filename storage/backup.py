"""Backing up and restoring the database.

SQLite: SQLite's own online backup (consistent even while gridbot writes, WAL included) into a
single file, and back. PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean``, the
tools made for it, run with the configured URL. A restore refuses a file that is not a gridbot
database, and migrates what it restored to the current schema.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa

from storage import db


class BackupError(Exception):
    """Why a backup or restore did not happen, as one line for the operator."""


def backup(url: str, target: Path) -> Path:
    url = db.normalise_url(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        source = _sqlite_path(url)
        if not source.is_file():
            raise BackupError(f"no database file at {source}")
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return target
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", _libpq(url)])
    return target


def restore(url: str, source: Path) -> str | None:
    """Replace the database's contents with the backup; returns the schema revision after."""
    url = db.normalise_url(url)
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    if url.startswith("sqlite"):
        try:
            with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as check:
                check.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            raise BackupError(f"{source} is not a gridbot SQLite backup") from None
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
    else:
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
              f"--dbname={_libpq(url)}", str(source)])
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        return db.current_revision(engine)
    finally:
        engine.dispose()


def _sqlite_path(url: str) -> Path:
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _libpq(url: str) -> str:
    """The SQLAlchemy URL as libpq understands it (pg_dump and pg_restore)."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(
        hide_password=False)


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (Debian: apt install "
                          "postgresql-client)")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed: {result.stderr.strip()[-500:]}")
