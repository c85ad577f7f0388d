"""The warehouse schema as one step: `migrate` brings it to this code's Alembic head, every other
touch only checks the version.

Who migrates: the DAG's first task (`migrate`), `nightdesk migrate` (the deploy step) and, at
their entry, `nightdesk run`, `verify` and `repair`. Crawl, transform, load and report only call
`check_schema`, so no task runs DDL and none needs Alembic's process-wide state.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from contracts.settings import masked
from etl import warehouse

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic is imported inside the functions: importing it takes about 0.4 s, and this module is
# imported by every transform worker process, which never checks or migrates.

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


class SchemaNotCurrent(RuntimeError):
    """The warehouse is not at this code's schema version: say which and what to run."""


def _config() -> Config:
    from alembic.config import Config

    # Built in code: no alembic.ini and no particular working directory needed at run time.
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision in migrations/versions/: the schema this code reads and writes."""
    rev = _scripts().get_current_head()
    assert rev is not None, f"no revision under {MIGRATIONS}"
    return rev


def revision(conn: sa.Connection) -> str | None:
    """The warehouse's recorded revision; None when it has no alembic_version table."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def migrate(url: str) -> dict[str, str | None]:
    """``alembic upgrade head`` on the warehouse at `url`, in one transaction (a failed migration
    leaves the previous schema); {"from": revision found, "to": head}.

    Cheap when there is nothing to do. Runs that migrate at once take turns in the database:
    PostgreSQL on an advisory lock (migrations/env.py), SQLite on BEGIN IMMEDIATE (the engine of
    warehouse.engine(), always the one used here); the second then finds the first one's version
    and has nothing to do. A warehouse created before migrations existed is adopted (the baseline
    creates only what is missing). One call at a time per process: Alembic keeps its running
    context in module globals, and this runs only at a program's entry, never in threads."""
    from alembic import command

    where = sa.make_url(url)
    if where.get_backend_name() == "sqlite" and where.database not in (None, "", ":memory:"):
        # the first touch of a fresh data dir: SQLite makes the file, not its folder
        Path(where.database).parent.mkdir(parents=True, exist_ok=True)
    eng = warehouse.engine(url)
    try:
        with eng.begin() as conn:
            found = revision(conn)  # inside the transaction: SQLite holds its write lock here
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        eng.dispose()
    if found != head():
        log.info("warehouse %s migrated from %s to %s", masked(url), found or "nothing",
                 head())
    return {"from": found, "to": head()}


def _empty(conn: sa.Connection) -> bool:
    names = set(sa.inspect(conn).get_table_names())
    return not names & ({"alembic_version"} | set(warehouse.metadata.tables))


def check_schema(target: str | sa.Engine, *, empty_ok: bool = False) -> bool:
    """True when the warehouse is at this code's schema; with `empty_ok`, False when it holds
    nothing yet (no table of ours: a reader finds it empty, it is not behind). Otherwise raises
    SchemaNotCurrent with one line saying what to run."""
    eng = warehouse.engine(target) if isinstance(target, str) else target
    try:
        with eng.connect() as conn:
            found = revision(conn)
            if found is None and empty_ok and _empty(conn):
                return False
    finally:
        if isinstance(target, str):
            eng.dispose()
    if found == head():
        return True
    if found is not None and found not in {s.revision for s in _scripts().walk_revisions()}:
        raise SchemaNotCurrent(f"warehouse schema is at {found}, newer than this code knows "
                               f"({head()}): deploy the code that migrated it")
    where = f"schema is at {found}" if found else "has no schema version"
    raise SchemaNotCurrent(f"warehouse {where}, this code needs {head()}: run `nightdesk migrate` "
                           f"(the DAG's migrate task does it first)")
