"""bounded values: quarantine keyed by URL hash, runs keyed by window, no VARCHAR(2000) URLs

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 11:40:00

What a single hostile record could break (issue 12), fixed where the warehouse itself refused:
- quarantine: the key was (source, url, stage) with url VARCHAR(2000); a rejected URL has any
  length and a B-tree entry holds at most 2,704 bytes. Now keyed by (source, url_hash, stage),
  url_hash = sha256 of the URL (contracts.schema.url_hash), url TEXT;
- crawl_state.url: VARCHAR(2000) -> TEXT (contracts.schema.CRAWL_STATE_LIMITS bounds it);
- runs: keyed by (run_id, source, interval_start, interval_end), so a run id given twice for two
  windows records both instead of one overwriting the other;
- ix_articles_url_key: a hash index on PostgreSQL (a URL key within its 2,083-character limit can
  exceed a B-tree entry in UTF-8).

Like the earlier revisions, each step looks before it acts: a warehouse adopted from a newer
release's `metadata.create_all` already has the new shapes and is left as it is. Tables whose key
changes are rebuilt (new table, rows copied, old dropped), the same DDL on both dialects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RUN_FIGURES = ("pages_fetched", "items", "rejected", "duplicates", "unchanged", "inserted",
                "updated", "discovery_requests", "article_requests", "known_skipped", "requests")


def _quarantine_columns(url_key: bool) -> list[sa.Column]:
    """The quarantine's columns; url_key: as of this revision (hash key, TEXT url)."""
    key = [sa.Column("url_hash", sa.String(64), nullable=False)] if url_key else []
    return [
        sa.Column("source", sa.String(100), nullable=False),
        *key,
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("url", sa.Text() if url_key else sa.String(2000), nullable=False),
        sa.Column("article_id", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
    ]


def _runs_columns() -> list[sa.Column]:
    return [
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(20), nullable=True),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in _RUN_FIGURES],
        sa.Column("near_duplicates", sa.BigInteger(), nullable=False,
                  server_default=sa.text("0")),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _hash_function(bind: sa.Connection) -> str:
    """SQL for sha256 hex of `url` (contracts.schema.url_hash, frozen here): PostgreSQL's own; on
    SQLite a Python function registered on this connection."""
    if bind.dialect.name == "postgresql":
        return "encode(sha256(convert_to(url, 'UTF8')), 'hex')"
    bind.connection.driver_connection.create_function(
        "nd_sha256", 1, lambda u: hashlib.sha256(u.encode("utf-8", "surrogatepass")).hexdigest(),
        deterministic=True)
    return "nd_sha256(url)"


def _rebuild(name: str, columns: list[sa.Column], key: list[str],
             select: dict[str, str] | None = None, where: str = "true") -> None:
    """Replace table `name` by one with `columns` and primary key `key`, its rows copied in SQL
    (`select`: expressions for columns the old table lacks; a row whose key is taken already, or
    that fails `where`, is left out)."""
    bind = op.get_bind()
    old = f"_old_{name}"
    op.rename_table(name, old)
    if bind.dialect.name == "postgresql":  # the key's index keeps its name through a rename
        op.execute(sa.text(f'ALTER INDEX IF EXISTS "{name}_pkey" RENAME TO "{old}_pkey"'))
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(*key, name=f"{name}_pkey"))
    names = [c.name for c in columns]
    exprs = [(select or {}).get(n, f'"{n}"') for n in names]
    op.execute(sa.text(
        f'INSERT INTO "{name}" ({", ".join(chr(34) + n + chr(34) for n in names)}) '
        f'SELECT {", ".join(exprs)} FROM "{old}" WHERE {where} ON CONFLICT DO NOTHING'))
    op.drop_table(old)


def upgrade() -> None:
    bind = op.get_bind()
    inspect = sa.inspect(bind)

    if "url_hash" not in {c["name"] for c in inspect.get_columns("quarantine")}:
        _rebuild("quarantine", _quarantine_columns(True), ["source", "url_hash", "stage"],
                 {"url_hash": _hash_function(bind)})

    if "interval_start" not in inspect.get_pk_constraint("runs")["constrained_columns"]:
        _rebuild("runs", _runs_columns(),
                 ["run_id", "source", "interval_start", "interval_end"])

    url = next(c for c in inspect.get_columns("crawl_state") if c["name"] == "url")
    if not isinstance(url["type"], sa.Text):
        # batch mode: SQLite rebuilds the table (with its index); PostgreSQL alters in place.
        with op.batch_alter_table("crawl_state") as batch:
            batch.alter_column("url", type_=sa.Text(), existing_type=sa.String(2000),
                               existing_nullable=False)

    if bind.dialect.name == "postgresql":
        method = bind.execute(sa.text(
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'ix_articles_url_key' AND n.nspname = current_schema()")).scalar()
        if method != "hash":
            op.drop_index("ix_articles_url_key", table_name="articles")
            op.create_index("ix_articles_url_key", "articles", ["url_key"],
                            postgresql_using="hash")


def downgrade() -> None:
    """Back to 0002's shapes. Quarantine URLs over 2,000 characters and runs recorded for a
    second window under one run id do not fit them and are dropped."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_index("ix_articles_url_key", table_name="articles")
        op.create_index("ix_articles_url_key", "articles", ["url_key"])
    with op.batch_alter_table("crawl_state") as batch:
        batch.alter_column("url", type_=sa.String(2000), existing_type=sa.Text(),
                           existing_nullable=False)
    _rebuild("runs", _runs_columns(), ["run_id", "source"])
    _rebuild("quarantine", _quarantine_columns(False), ["source", "url", "stage"],
             where="length(url) <= 2000")
