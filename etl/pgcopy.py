"""The PostgreSQL path of ``etl.warehouse.upsert_articles``: the decision, then COPY and one merge.

Rows cross the wire as COPY data and the rest is set-based SQL in the CALLER'S transaction (the
raw psycopg connection under the SQLAlchemy Connection), so a load stays one transaction and a
failure anywhere leaves the warehouse as it was:

1. LOCK articles against other writers (readers are not blocked): two loads of overlapping
   batches then take turns instead of deadlocking on each other's rows, and what step 2 reads
   stays true until the commit;
2. read the stored keys (article_id, content_hash, published_at) of the batch's ids and let
   etl.decision decide new / changed / unchanged; the counts come from there;
3. copy the stored version of every changed row into article_versions;
4. COPY the full rows to write (new and changed only: a rerun sends no body) into a temporary
   staging table (ON COMMIT DROP, not WAL-logged);
5. ONE ``INSERT ... SELECT ... ON CONFLICT (article_id) DO UPDATE``, every column but
   article_id and first_run_id taken from the batch.

No value is ever spliced into SQL: run ids, ids and times are parameters; table and column names
are identifiers of etl.warehouse's tables, quoted by psycopg.sql.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import sqlalchemy as sa
from psycopg import sql

from contracts.schema import FIELDS
from etl.dbvalues import db_table
from etl.decision import KEY_COLUMNS, decide, stored_keys

# What a batch brings; the loader adds first_run_id and last_run_id.
BATCH_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.origin != "load")
STAGE = "nd_stage_articles"
# COPY data is produced and sent in slices of this many rows: memory stays flat for any batch.
CHUNK_ROWS = 10_000


def csv_chunks(table: pa.Table, rows: int = CHUNK_ROWS) -> Iterator[pa.Buffer]:
    """CSV as COPY (FORMAT csv) reads it: no header; Arrow quotes every string, so an empty
    string is ``""`` and a null is an empty unquoted field (COPY's NULL); no escapes needed."""
    options = pacsv.WriteOptions(include_header=False)
    for start in range(0, table.num_rows, rows):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table.slice(start, rows), sink, options)
        yield sink.getvalue()


def copy_in(cursor: psycopg.Cursor, table: str, values: pa.Table) -> None:
    """COPY `values` (database values, etl.dbvalues) into `table` through a psycopg 3 cursor,
    in its transaction."""
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, values.column_names)))
    with cursor.copy(stmt) as copy:
        for chunk in csv_chunks(values):
            copy.write(memoryview(chunk))


def _statements(article_columns: Sequence[str]) -> dict[str, sql.Composed]:
    """Every statement of the merge; identifiers only, values are %(name)s parameters."""
    ident = sql.Identifier

    def names(cols: Sequence[str], alias: str | None = None) -> sql.Composable:
        return sql.SQL(", ").join(ident(alias, c) if alias else ident(c) for c in cols)

    keep = {"article_id", "first_run_id"}
    assign = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(ident(c))
                                for c in article_columns if c not in keep)
    return {
        "drop": sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(ident(STAGE)),
        # Same column types as articles, without its constraints: a NOT NULL violation
        # surfaces in the merge (and aborts the transaction).
        "create_stage": sql.SQL(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM articles WITH NO DATA").format(
            ident(STAGE), names(BATCH_COLUMNS)),
        "lock": sql.SQL("LOCK TABLE articles IN SHARE ROW EXCLUSIVE MODE"),
        "stored": sql.SQL("SELECT {} FROM articles WHERE article_id = ANY(%(ids)s)").format(
            names(KEY_COLUMNS)),
        "versions": sql.SQL(
            "INSERT INTO article_versions ({cols}, superseded_at, superseded_by_run_id) "
            "SELECT {cols}, %(now)s, %(run_id)s FROM articles WHERE article_id = ANY(%(ids)s) "
            "ON CONFLICT DO NOTHING").format(cols=names(article_columns)),
        "merge": sql.SQL(
            "INSERT INTO articles AS t ({cols}, first_run_id, last_run_id) "
            "SELECT {cols}, %(run_id)s, %(run_id)s FROM {stage} "
            "ON CONFLICT (article_id) DO UPDATE SET {assign}").format(
            cols=names(BATCH_COLUMNS), stage=ident(STAGE), assign=assign),
    }


def upsert_articles(conn: sa.Connection, rows: pa.Table, run_id: str,
                    article_columns: Sequence[str]) -> dict[str, int]:
    """etl.warehouse.upsert_articles on PostgreSQL; `article_columns` are the articles table's."""
    stmts = _statements(article_columns)
    raw = conn.connection.driver_connection
    # Through SQLAlchemy first, so that its Connection has begun the transaction the raw psycopg
    # cursor below then shares (and the caller's commit or rollback covers).
    conn.exec_driver_sql(stmts["drop"].as_string(raw))
    try:
        with raw.cursor() as cur:
            return _merge(cur, stmts, rows, run_id, conn.dialect._json_serializer)
    except psycopg.Error as exc:
        # Raised as SQLAlchemy raises errors of its own statements (IntegrityError, ...), so a
        # caller handles one family of exceptions whichever path ran.
        raise sa.exc.DBAPIError.instance(None, None, exc, psycopg.Error,
                                         dialect=conn.dialect) from exc


def _merge(cur: psycopg.Cursor, stmts: dict[str, sql.Composed], rows: pa.Table, run_id: str,
           serialize: Callable[[Any], str] | None) -> dict[str, int]:
    cur.execute(stmts["lock"])
    cur.execute(stmts["stored"], {"ids": pc.unique(rows["article_id"]).to_pylist()})
    found = cur.fetchall()
    columns = ([list(c) for c in zip(*found, strict=True)] if found else [[], [], []])
    decided = decide(rows.select(list(KEY_COLUMNS)), stored_keys(*columns))
    if decided.changed.true_count:
        changed = pc.unique(rows["article_id"].filter(decided.changed)).to_pylist()
        cur.execute(stmts["versions"], {"run_id": run_id, "now": datetime.now(UTC),
                                        "ids": changed})
    todo = rows.filter(decided.write)
    if todo.num_rows:
        # Only new and changed rows cross the wire in full: a rerun sends keys alone.
        cur.execute(stmts["create_stage"])
        copy_in(cur, STAGE, db_table(todo, BATCH_COLUMNS, "postgresql", serialize))
        cur.execute(stmts["merge"], {"run_id": run_id})
    cur.execute(stmts["drop"])  # a second call in this transaction (another source) reuses it
    return decided.counts()
