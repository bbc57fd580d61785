"""Alembic environment: the engine is handed in by storage.db, never read from an ini file.

On SQLite, ALTER TABLE is done in batch mode: the table is copied, the old one dropped and the
copy renamed. Two things make that safe on a database with data: foreign keys are off during the
migration (dropping a table that other rows point at would fail, or cascade), and the migration
runs in a real transaction (pysqlite runs DDL outside of one by default), so a failed migration
leaves the database as it was. The foreign keys are checked before the transaction commits.
"""

from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw: Any = connection.connection.driver_connection if sqlite else None
        if sqlite:
            connection.commit()
            raw.isolation_level = None  # autocommit at the driver: we say BEGIN ourselves
            raw.execute("PRAGMA foreign_keys=OFF")
            sa.event.listen(connection, "begin", _begin)
        try:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left dangling references: {broken[:5]}")
        finally:
            if sqlite:
                sa.event.remove(connection, "begin", _begin)
                raw.execute("PRAGMA foreign_keys=ON")
                raw.isolation_level = ""


def _begin(connection: sa.Connection) -> None:
    connection.exec_driver_sql("BEGIN")


run_migrations_online()
