"""The oracle for the article loads: the generic row-by-row upsert the warehouse once ran, written
independently of etl/decision.py (pandas to classify, SQLAlchemy to compile and bind every
row, the change rule again in the upsert's WHERE). Slow; tests compare the real paths with it."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from contracts.schema import arrow_schema
from etl import warehouse


def arrow(batch: pd.DataFrame) -> pa.Table:
    """A test's pandas batch as the loads take it (contracts.schema.batch_schema, every field
    nullable: the SQL constraints, not Arrow, judge a missing value)."""
    schema = pa.schema([f.with_nullable(True) for f in arrow_schema() if f.name in batch])
    return pa.Table.from_pandas(batch[schema.names], schema=schema, preserve_index=False)


def _classify(batch: pd.DataFrame, stored: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    known = dict(zip(stored["article_id"], stored["content_hash"], strict=True))
    # SQLite hands timestamps back naive (stored in UTC); PostgreSQL aware in the session's zone.
    when = pd.to_datetime(stored["published_at"], utc=True).dt.tz_localize(None)
    stored_pub = dict(zip(stored["article_id"], when, strict=True))
    is_new = ~batch["article_id"].isin(known)
    moved = batch["article_id"].map(stored_pub).ne(
        batch["published_at"].dt.tz_convert("UTC").dt.tz_localize(None))
    changed = (batch["article_id"].map(known).ne(batch["content_hash"]) | moved) & ~is_new
    return is_new, changed


def _keep_versions(conn: sa.Connection, article_ids: list[str], run_id: str) -> None:
    now = datetime.now(UTC)
    articles, versions = warehouse.articles, warehouse.article_versions
    cols = [c.name for c in articles.columns]
    select = sa.select(*articles.columns, sa.literal(now, sa.DateTime(timezone=True)),
                       sa.literal(run_id, sa.String())).where(
        articles.c.article_id.in_(article_ids))
    stmt = warehouse._insert(conn.engine, versions).from_select(
        [*cols, "superseded_at", "superseded_by_run_id"], select)
    conn.execute(stmt.on_conflict_do_nothing())


def upsert_rows(conn: sa.Connection, batch: pd.DataFrame, run_id: str) -> dict[str, int]:
    """Row by row via a compiled executemany; same counts, rows and history as the real load."""
    articles = warehouse.articles
    stored = warehouse.lookup(conn, "article_id", batch["article_id"].tolist())
    is_new, changed = _classify(batch, stored)
    todo = batch[is_new | changed].assign(first_run_id=run_id, last_run_id=run_id)
    if changed.any():
        _keep_versions(conn, sorted(set(batch.loc[changed, "article_id"])), run_id)
    if not todo.empty:
        schema = pa.schema([f.with_nullable(True) for f in arrow_schema()])
        rows = pa.Table.from_pandas(todo[schema.names], schema=schema,
                                    preserve_index=False).to_pylist()
        stmt = warehouse._insert(conn.engine, articles)
        stmt = stmt.on_conflict_do_update(
            index_elements=[articles.c.article_id],
            set_={c.name: stmt.excluded[c.name] for c in articles.columns
                  if c.name not in {"article_id", "first_run_id"}},
            where=sa.or_(articles.c.content_hash != stmt.excluded.content_hash,
                         articles.c.published_at != stmt.excluded.published_at),
        )
        conn.execute(stmt, rows)
    return {"inserted": int(is_new.sum()), "updated": int(changed.sum()),
            "unchanged": int((~is_new & ~changed).sum())}
