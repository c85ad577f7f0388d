"""The PostgreSQL path of ``etl.warehouse.upsert_articles``: COPY into staging, one set-based merge.

Why: the generic path reads the stored rows back into pandas and sends one parameter set per row;
a backfill of 10^5 articles then spends its time in round trips and per-row statements. Here rows
cross the wire as COPY data and the rest is set-based SQL in the CALLER'S transaction (the raw
psycopg connection under the SQLAlchemy Connection), so a load stays one transaction and a
failure anywhere leaves the warehouse as it was:

1. COPY the batch's keys (article_id, content_hash, published_at) into a temporary table;
2. LOCK articles against other writers (readers are not blocked): two loads of overlapping
   batches then take turns instead of deadlocking on each other's rows, and what step 3 finds is
   exactly what the merge does;
3. find the new and changed articles by joining the keys to articles, with the rule of the
   generic path (a stored row changes when its content_hash or published_at differs); the
   counts come from there;
4. copy the stored version of every changed row into article_versions;
5. COPY the full rows of the new and changed articles only (a rerun sends no body) into a
   temporary staging table (ON COMMIT DROP, not WAL-logged);
6. ONE ``INSERT ... SELECT ... ON CONFLICT (article_id) DO UPDATE ... WHERE`` that hash or time
   differs, with every column but article_id and first_run_id taken from the batch.

No value is ever spliced into SQL: run ids and times are parameters; table and column names are
identifiers of etl.warehouse's tables, quoted by psycopg.sql.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from psycopg import sql

from contracts.schema import FIELDS

# What a batch brings; the loader adds first_run_id and last_run_id.
BATCH_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.origin != "load")
_KIND = {f.name: f.kind for f in FIELDS}
# What decides new / changed / unchanged, staged first and alone: a rerun moves only these.
KEY_COLUMNS: tuple[str, ...] = ("article_id", "content_hash", "published_at")
KEYS, STAGE = "nd_stage_keys", "nd_stage_articles"
# COPY data is produced and sent in slices of this many rows: memory stays flat for any batch.
CHUNK_ROWS = 10_000


def _json(value: Any) -> str:
    """One JSON column value exactly as SQLAlchemy's JSON type binds it (``json.dumps``, and a
    missing value as JSON null, since the warehouse's JSON columns keep none_as_null=False)."""
    if hasattr(value, "tolist"):  # numpy arrays, as lists come back from Parquet
        value = value.tolist()
    elif value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        value = None
    return json.dumps(value)


def to_arrow(frame: pd.DataFrame, columns: Sequence[str]) -> pa.Table:
    """The columns of `frame` as the Arrow table whose CSV is PostgreSQL COPY input."""
    out: dict[str, Any] = {}
    for name in columns:
        col = frame[name]
        kind = _KIND.get(name)
        if kind == "list[str]":
            out[name] = pa.array([_json(v) for v in col], type=pa.string())
            continue
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            # Instants travel in UTC ("...Z"); naive values travel without an offset and are read
            # in the session's TimeZone, as psycopg sends a naive datetime in the generic path.
            col = col.dt.tz_convert(UTC)
        arr = pa.Array.from_pandas(col)
        if kind == "int" and pa.types.is_floating(arr.type):
            arr = arr.cast(pa.int64())  # an int column with gaps arrives as float; 5.0 -> 5
        out[name] = arr
    return pa.table(out)


def csv_chunks(table: pa.Table, rows: int = CHUNK_ROWS) -> Iterator[pa.Buffer]:
    """CSV as COPY (FORMAT csv) reads it: no header; Arrow quotes every string, so an empty
    string is ``""`` and a null is an empty unquoted field (COPY's NULL); no escapes needed."""
    options = pacsv.WriteOptions(include_header=False)
    for start in range(0, table.num_rows, rows):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(table.slice(start, rows), sink, options)
        yield sink.getvalue()


def copy_in(cursor: psycopg.Cursor, table: str, frame: pd.DataFrame,
            columns: Sequence[str]) -> None:
    """COPY frame[columns] into `table` through a psycopg 3 cursor, in its transaction."""
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    with cursor.copy(stmt) as copy:
        for chunk in csv_chunks(to_arrow(frame, columns)):
            copy.write(memoryview(chunk))


def _differs(stored: str, new: str) -> sql.Composable:
    """The generic path's change rule: content_hash or published_at differs."""
    return sql.SQL("({a}.content_hash IS DISTINCT FROM {b}.content_hash "
                   "OR {a}.published_at IS DISTINCT FROM {b}.published_at)").format(
        a=sql.Identifier(stored), b=sql.Identifier(new))


def _statements(article_columns: Sequence[str]) -> dict[str, sql.Composed]:
    """Every statement of the merge; identifiers only, values are %(name)s parameters."""
    ident = sql.Identifier

    def names(cols: Sequence[str], alias: str | None = None) -> sql.Composable:
        return sql.SQL(", ").join(ident(alias, c) if alias else ident(c) for c in cols)

    keep = {"article_id", "first_run_id"}
    assign = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(ident(c))
                                for c in article_columns if c not in keep)
    keys_join = sql.SQL("{} AS k LEFT JOIN articles AS a ON a.article_id = k.article_id").format(
        ident(KEYS))
    # Same column types as articles, without its constraints: a NOT NULL violation surfaces in
    # the merge (and aborts the transaction), as it does in the generic path.
    temp = "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM articles WITH NO DATA"
    return {
        "drop": sql.SQL("DROP TABLE IF EXISTS pg_temp.{}, pg_temp.{}").format(
            ident(KEYS), ident(STAGE)),
        "create_keys": sql.SQL(temp).format(ident(KEYS), names(KEY_COLUMNS)),
        "create_stage": sql.SQL(temp).format(ident(STAGE), names(BATCH_COLUMNS)),
        # Statistics, so that the planner joins 10 rows by index and 10^5 rows by hash.
        "analyze": sql.SQL("ANALYZE {}").format(ident(KEYS)),
        "lock": sql.SQL("LOCK TABLE articles IN SHARE ROW EXCLUSIVE MODE"),
        "todo": sql.SQL("SELECT k.article_id, a.article_id IS NULL FROM {join} "
                        "WHERE a.article_id IS NULL OR {changed}").format(
            join=keys_join, changed=_differs("a", "k")),
        "versions": sql.SQL(
            "INSERT INTO article_versions ({cols}, superseded_at, superseded_by_run_id) "
            "SELECT {stored}, %(now)s, %(run_id)s FROM {join} "
            "WHERE a.article_id IS NOT NULL AND {changed} ON CONFLICT DO NOTHING").format(
            cols=names(article_columns), stored=names(article_columns, "a"), join=keys_join,
            changed=_differs("a", "k")),
        "merge": sql.SQL(
            "INSERT INTO articles AS t ({cols}, first_run_id, last_run_id) "
            "SELECT {cols}, %(run_id)s, %(run_id)s FROM {stage} "
            "ON CONFLICT (article_id) DO UPDATE SET {assign} WHERE {guard}").format(
            cols=names(BATCH_COLUMNS), stage=ident(STAGE), assign=assign,
            guard=_differs("t", "excluded")),
    }


def upsert_articles(conn: sa.Connection, batch: pd.DataFrame, run_id: str) -> dict[str, int]:
    """Insert new articles, update those whose content hash (or publication time) changed, keep
    the replaced versions, leave the rest untouched; counts as etl.warehouse.upsert_articles.

    The batch holds each article_id once (etl.dedupe guarantees it; the caller checks)."""
    from etl.warehouse import articles

    stmts = _statements([c.name for c in articles.columns])
    raw = conn.connection.driver_connection
    # Through SQLAlchemy first, so that its Connection has begun the transaction the raw psycopg
    # cursor below then shares (and the caller's commit or rollback covers).
    conn.exec_driver_sql(stmts["drop"].as_string(raw))
    try:
        with raw.cursor() as cur:
            return _merge(cur, stmts, batch, run_id)
    except psycopg.Error as exc:
        # Raised as SQLAlchemy raises errors of its own statements (IntegrityError, ...), so a
        # caller handles one family of exceptions whichever path ran.
        raise sa.exc.DBAPIError.instance(None, None, exc, psycopg.Error,
                                         dialect=conn.dialect) from exc


def _merge(cur: psycopg.Cursor, stmts: dict[str, sql.Composed], batch: pd.DataFrame,
           run_id: str) -> dict[str, int]:
    cur.execute(stmts["create_keys"])
    copy_in(cur, KEYS, batch, KEY_COLUMNS)
    cur.execute(stmts["analyze"])
    cur.execute(stmts["lock"])
    cur.execute(stmts["todo"])
    todo = cur.fetchall()
    inserted = sum(1 for _, new in todo if new)
    updated = len(todo) - inserted
    if updated:
        cur.execute(stmts["versions"], {"run_id": run_id, "now": datetime.now(UTC)})
    if todo:
        # Only new and changed rows cross the wire in full: a rerun sends keys alone.
        cur.execute(stmts["create_stage"])
        wanted = batch["article_id"].isin([article_id for article_id, _ in todo])
        copy_in(cur, STAGE, batch[wanted], BATCH_COLUMNS)
        cur.execute(stmts["merge"], {"run_id": run_id})
    cur.execute(stmts["drop"])  # a second call in this transaction (another source) reuses them
    return {"inserted": inserted, "updated": updated, "unchanged": len(batch) - len(todo)}
