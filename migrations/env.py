"""Alembic environment of the warehouse (SQLite file or PostgreSQL).

Where the database comes from, first match wins:
  1. ``config.attributes["connection"]``: a SQLAlchemy Connection of the caller
     (``etl.migrate.migrate`` passes one inside its own transaction; the caller commits);
  2. ``config.attributes["url"]``;
  3. the environment variable NIGHTDESK_WAREHOUSE_URL;
  4. ``sqlalchemy.url`` of the ini file (alembic.ini leaves it unset);
  5. the default SQLite file (``contracts.settings.Settings.warehouse``), so that
     ``alembic upgrade head`` at the repo root works on what ``nightdesk run`` uses.

On PostgreSQL the tables and ``alembic_version`` land in the connection's current schema, i.e. the
first schema of its search_path (``?options=-csearch_path%3Dname`` in the URL), never a
hard-coded one.
"""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from contracts.settings import Settings
from etl import warehouse

config = context.config
target_metadata = warehouse.metadata
if (config.config_file_name and "connection" not in config.attributes
        and config.attributes.get("configure_logger", True)):
    # The alembic command line: log what it runs. A program (a caller passing its connection,
    # or configure_logger=False) keeps its own logging configuration.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

# Two runs may start at once and both find the warehouse behind. On PostgreSQL they take turns on
# this transaction-scoped advisory lock (released by their commit or rollback), keyed by the
# current schema so unrelated warehouses in one database do not wait for each other. The second
# run then sees the first one's committed alembic_version and has nothing to do. SQLite needs no
# lock: warehouse.engine() begins every transaction with BEGIN IMMEDIATE (one writer at a time).
_LOCK_CLASS = 0x4E44  # "ND"
_LOCK_SQL = sa.text(
    "SELECT pg_advisory_xact_lock(:cls, hashtext(coalesce(current_schema(), '')))"
)


def _url() -> str:
    return (config.attributes.get("url") or Settings.from_env().warehouse_url
            or config.get_main_option("sqlalchemy.url") or Settings.from_env().warehouse)


def _migrate(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK_SQL, {"cls": _LOCK_CLASS})
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
        render_as_batch=conn.dialect.name == "sqlite",
    )
    # Inside the caller's transaction Alembic neither begins nor commits (it sees one open).
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the DDL instead of running it."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        _migrate(conn)
        return
    eng = warehouse.engine(_url())
    try:
        with eng.begin() as own:
            _migrate(own)
    finally:
        eng.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
