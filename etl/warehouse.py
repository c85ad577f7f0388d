"""The SQL warehouse (SQLAlchemy): SQLite file by default, PostgreSQL for real deployments.

Tables: `articles` (columns derived from contracts/schema.py), `runs` (one row per source and
interval run) and `quarantine` (what could not be loaded, with its reason). A load is ONE
transaction: upsert of articles (what etl/decision.py finds new or changed), quarantine rows and
the runs row, so a crash leaves the previous state and a retry or rerun changes no article row.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from contracts.schema import (
    FIELDS,
    ID_CHARS,
    KEY,
    RUN_ID_CHARS,
    SOURCE_CHARS,
    STAGE_CHARS,
    url_hash,
)
from etl import pgcopy
from etl.dbvalues import db_table
from etl.decision import KEY_COLUMNS as DECISION_KEYS
from etl.decision import decide, stored_keys

metadata = sa.MetaData()

_SQL_TYPES = {
    "str": sa.Text,
    "int": sa.BigInteger,
    "timestamp": lambda: sa.DateTime(timezone=True),
    "list[str]": sa.JSON,
}

articles = sa.Table(
    "articles",
    metadata,
    *[
        sa.Column(
            f.name,
            sa.String(ID_CHARS) if f.name == KEY else _SQL_TYPES[f.kind](),
            primary_key=f.name == KEY,
            nullable=not f.required,
            comment=f.doc,
        )
        for f in FIELDS
    ],
    sa.Index("ix_articles_published_at", "published_at"),
    # A hash index on PostgreSQL: a B-tree entry holds at most 2,704 bytes, and a URL key within
    # its 2,083-character limit can take 8 KB of UTF-8 (migration 0003). Lookups are equality.
    sa.Index("ix_articles_url_key", "url_key", postgresql_using="hash"),
    sa.Index("ix_articles_content_hash", "content_hash"),
)

# Previous versions of changed articles: the full old row, when and by which run it was replaced.
article_versions = sa.Table(
    "article_versions",
    metadata,
    *[
        sa.Column(c.name, c.type, primary_key=c.name in (KEY, "content_hash"),
                  nullable=c.nullable and c.name != "content_hash")
        for c in articles.columns
    ],
    sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("superseded_by_run_id", sa.String(RUN_ID_CHARS), nullable=False),
)

RUN_FIGURES = ("pages_fetched", "items", "rejected", "duplicates", "unchanged", "inserted",
               "updated", "discovery_requests", "article_requests", "known_skipped", "requests",
               "near_duplicates")

# One row per run, source AND window (migration 0003): a run id given twice (`--run-id`) for two
# windows records both.
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(RUN_ID_CHARS), primary_key=True),
    sa.Column("source", sa.String(SOURCE_CHARS), primary_key=True),
    sa.Column("interval_start", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("interval_end", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("mode", sa.String(20)),
    *[sa.Column(name, sa.BigInteger, nullable=False, default=0) for name in RUN_FIGURES
      if name != "near_duplicates"],
    # added by migration 0002: older runs count 0
    sa.Column("near_duplicates", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    # added by migration 0004 (etl/health.py fills them): null on older runs
    *[sa.Column(name, kind(), nullable=True) for name, kind in (
        ("crawl_rejects", sa.BigInteger), ("quarantined", sa.BigInteger),
        ("not_article", sa.BigInteger), ("rejects_by_reason", sa.Text),
        ("with_authors", sa.BigInteger), ("with_page_date", sa.BigInteger),
        ("body_words_median", sa.Float), ("crawl_seconds", sa.Float),
        ("load_seconds", sa.Float), ("health", sa.Text))],
)

# Keyed by the URL's sha256 (contracts.schema.url_hash), not the URL: rejected URLs have any length,
# and an index entry cannot (migration 0003). Text values within contracts.schema.QUARANTINE_LIMITS.
quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("source", sa.String(SOURCE_CHARS), primary_key=True),
    sa.Column("url_hash", sa.String(64), primary_key=True),
    sa.Column("stage", sa.String(STAGE_CHARS), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("article_id", sa.String(ID_CHARS)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("interval_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.String(RUN_ID_CHARS), nullable=False),
    sa.Column("payload", sa.Text),
)


# What earlier runs fetched, so a night fetches only what is new or signalled as changed.
crawl_state = sa.Table(
    "crawl_state",
    metadata,
    sa.Column("article_id", sa.String(ID_CHARS), primary_key=True),
    sa.Column("source", sa.String(SOURCE_CHARS), nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("signal", sa.Text),
    sa.Column("first_fetched_at", sa.DateTime(timezone=True)),
    sa.Column("last_fetched_at", sa.DateTime(timezone=True)),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_run_id", sa.String(RUN_ID_CHARS), nullable=False),
)


_WAL_WAIT_S = 60.0  # as long as busy_timeout


def _wal(cur: Any) -> None:
    """Put the SQLite file in WAL mode (once per file; a no-op after). Two processes opening a
    new file at once both try to switch it, and SQLite answers the loser "database is locked"
    at once instead of waiting out busy_timeout: so the mode is read first (a read waits), and
    a refused switch is tried again until _WAL_WAIT_S has passed."""
    deadline = time.monotonic() + _WAL_WAIT_S
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def engine(url: str) -> sa.Engine:
    eng = sa.create_engine(url, future=True)
    if eng.dialect.name == "sqlite":
        # Several loads may share one SQLite file. Each transaction takes the write lock at
        # BEGIN (IMMEDIATE), so a load never reads a snapshot it then cannot upgrade, and waits
        # for the other writer instead of failing.
        @sa.event.listens_for(eng, "connect")
        def _pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout = 60000")
            _wal(cur)
            # 64 MiB of page cache instead of 2 MiB: a load touches index pages all over the
            # file (content_hash is random) and, with a small cache, spills and rereads them
            # before its commit; measured about a tenth off the insert and commit CPU of a
            # 100k-article load, more expected as the indexes outgrow the default cache.
            cur.execute("PRAGMA cache_size = -65536")
            cur.close()

        @sa.event.listens_for(eng, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return eng


def _insert(eng: sa.Engine, table: sa.Table):
    if eng.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif eng.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - guarded by the tests' choice of backends
        raise NotImplementedError(f"no upsert for {eng.dialect.name}")
    return insert(table)


def _chunks(values: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


LOOKUP_COLUMNS = ("article_id", "url", "url_key", "content_hash", "published_at")


def lookup(conn: sa.Connection, column: str, values: Iterable[str],
           names: Sequence[str] = LOOKUP_COLUMNS) -> pd.DataFrame:
    """Columns `names` (default LOOKUP_COLUMNS) of the stored articles whose `column` is in
    `values`. Ask for what you use: a million URLs and dates parsed back into datetimes cost
    seconds."""
    return _select_in(conn, names, column, sorted(set(values)))


def _select_in(conn: sa.Connection, names: Sequence[str], column: str,
               values: Sequence[str]) -> pd.DataFrame:
    """Columns `names` of the stored articles whose `column` is in `values`."""
    cols = [articles.c[n] for n in names]
    if conn.dialect.name == "sqlite":
        # One JSON array per 50k values instead of an IN-list per 500: a million keys were
        # thousands of statements; SQLite still probes the index per value.
        listed = sa.func.json_each(sa.bindparam("values")).table_valued("value")
        stmt = sa.select(*cols).where(articles.c[column].in_(sa.select(listed.c.value)))
        results = (conn.execute(stmt, {"values": json.dumps(list(chunk))}).all()
                   for chunk in _chunks(values, 50_000))
    else:
        results = (conn.execute(sa.select(*cols).where(articles.c[column].in_(list(chunk))))
                   .all() for chunk in _chunks(values, 5000))
    return rows_frame(names, results)


def rows_frame(names: Sequence[str], results: Iterable[Sequence[Sequence[Any]]]) -> pd.DataFrame:
    """Result rows as a DataFrame built column by column: a DataFrame of Row objects inspects
    every row (a third of a million-key lookup)."""
    columns: list[list[Any]] = [[] for _ in names]
    for rows in results:
        for column, values in zip(columns, zip(*rows, strict=True), strict=False):
            column.extend(values)
    return pd.DataFrame(dict(zip(names, columns, strict=True)))


def _py(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and pd.isna(value):
        return None
    return value


def run_ids(conn: sa.Connection, ids: Sequence[str]) -> pd.DataFrame:
    """article_id, first_run_id, last_run_id of the stored articles among `ids`."""
    return _select_in(conn, ["article_id", "first_run_id", "last_run_id"], "article_id", ids)


def upsert_articles(conn: sa.Connection, rows: pa.Table, run_id: str,
                    held: list[pa.Table] | None = None) -> dict[str, int]:
    """Insert new articles, update changed ones (etl/decision.py), keep the replaced versions,
    leave the rest untouched. `rows` holds the staged batch's columns
    (contracts.schema.batch_schema). On SQLite, `held` gets the run ids the articles of `rows`
    hold after this call (runids.RUN_COLUMNS), known from the lookup the decision made."""
    if rows.num_rows == 0:
        return {"inserted": 0, "updated": 0, "unchanged": 0}
    if conn.dialect.name == "postgresql":
        # COPY into a staging table and one set-based merge (etl/pgcopy.py).
        return pgcopy.upsert_articles(conn, rows, run_id, ARTICLE_COLUMNS)
    if conn.dialect.name == "sqlite":
        return _upsert_sqlite(conn, rows, run_id, held)
    raise NotImplementedError(f"no article load for {conn.dialect.name}")


# -- the SQLite path ------------------------------------------------------------------------------
# Plain SQL on the DBAPI cursor via exec_driver_sql (no per-statement compilation, no per-row
# parameter processing), so errors are still SQLAlchemy's, in the caller's transaction. BEGIN
# IMMEDIATE (engine()) holds the write lock from the lookup to the writes.

ARTICLE_COLUMNS: tuple[str, ...] = tuple(c.name for c in articles.columns)
# One JSON array parameter instead of an IN-list per 500 ids: one statement whatever the batch,
# and SQLite still probes the primary key per id (LIST SUBQUERY, SEARCH ... article_id=?).
_IN_IDS = "article_id IN (SELECT value FROM json_each(?))"


def _sqlite_upsert_sql() -> str:
    """Writes what etl.decision decided: every column but the key and first_run_id."""
    keep = {KEY, "first_run_id"}
    assign = ", ".join(f"{c} = excluded.{c}" for c in ARTICLE_COLUMNS if c not in keep)
    return (f"INSERT INTO articles ({', '.join(ARTICLE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(ARTICLE_COLUMNS))}) "
            f"ON CONFLICT ({KEY}) DO UPDATE SET {assign}")


def _sqlite_versions_sql() -> str:
    cols = ", ".join(ARTICLE_COLUMNS)
    # SQLite needs the WHERE to parse an upsert of an INSERT ... SELECT; it is there.
    return (f"INSERT INTO article_versions ({cols}, superseded_at, superseded_by_run_id) "
            f"SELECT {cols}, ?, ? FROM articles WHERE {_IN_IDS} ON CONFLICT DO NOTHING")


_SQLITE_UPSERT = _sqlite_upsert_sql()
_SQLITE_VERSIONS = _sqlite_versions_sql()
_SQLITE_STORED = ("SELECT article_id, content_hash, published_at, first_run_id, last_run_id "
                  f"FROM articles WHERE {_IN_IDS}")


def _upsert_sqlite(conn: sa.Connection, rows: pa.Table, run_id: str,
                   held: list[pa.Table] | None) -> dict[str, int]:
    """One lookup statement, the decision, one executemany of tuples."""
    ids = json.dumps(pc.unique(rows["article_id"]).to_pylist())
    found = conn.exec_driver_sql(_SQLITE_STORED, (ids,)).all()
    stored_at, stored_hash, stored_when, stored_first, stored_last = \
        (list(c) for c in zip(*found, strict=True)) if found else ([], [], [], [], [])
    # The text SQLAlchemy's DateTime wrote: the UTC wall clock.
    when = pa.array(stored_when, pa.string()).cast(pa.timestamp("us"))
    decided = decide(rows.select(list(DECISION_KEYS)),
                     stored_keys(stored_at, stored_hash, when))
    if held is not None:
        # A written row names this run last (and first when new); the others keep theirs.
        at = pc.index_in(rows["article_id"], value_set=pa.array(stored_at, pa.string()))
        run = pa.scalar(run_id)
        held.append(pa.table({
            "article_id": rows["article_id"],
            "first_run_id": pc.if_else(decided.is_new, run,
                                       pa.array(stored_first, pa.string()).take(at)),
            "last_run_id": pc.if_else(pc.or_(decided.is_new, decided.changed), run,
                                      pa.array(stored_last, pa.string()).take(at))}))
    if decided.changed.true_count:
        changed = pc.unique(rows["article_id"].filter(decided.changed)).to_pylist()
        now = _sqlite_datetime(conn.dialect, datetime.now(UTC))
        conn.exec_driver_sql(_SQLITE_VERSIONS, (now, run_id, json.dumps(changed)))
    todo = rows.filter(decided.write)
    if todo.num_rows:
        values = db_table(_with_run_ids(todo, run_id), ARTICLE_COLUMNS, "sqlite",
                          conn.dialect._json_serializer)
        columns = [c.to_pylist() for c in values.columns]
        conn.exec_driver_sql(_SQLITE_UPSERT, list(zip(*columns, strict=True)))
    return decided.counts()


def _with_run_ids(rows: pa.Table, run_id: str) -> pa.Table:
    run = pa.repeat(pa.scalar(run_id), rows.num_rows)
    return rows.append_column("first_run_id", run).append_column("last_run_id", run)


def _sqlite_datetime(dialect: sa.Dialect, value: datetime) -> str:
    return sa.DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)(value)


def upsert_quarantine(conn: sa.Connection, rows: pd.DataFrame, run_id: str) -> None:
    if rows.empty:
        return
    records = [{k: _py(v) for k, v in rec.items()} for rec in rows.to_dict("records")]
    for rec in records:
        rec["run_id"] = run_id
        rec["url_hash"] = url_hash(rec["url"])
    # One row per key: a window listing a URL twice at one stage keeps the last reason.
    records = list({(r["source"], r["url_hash"], r["stage"]): r for r in records}.values())
    stmt = _insert(conn.engine, quarantine)
    stmt = stmt.on_conflict_do_update(
        index_elements=[quarantine.c.source, quarantine.c.url_hash, quarantine.c.stage],
        set_={c: stmt.excluded[c] for c in ("url", "article_id", "reason", "interval_start",
                                              "interval_end", "seen_at", "run_id", "payload")},
    )
    conn.execute(stmt, records)


def record_run(conn: sa.Connection, row: dict[str, Any]) -> None:
    key = ("run_id", "source", "interval_start", "interval_end")
    stmt = _insert(conn.engine, runs).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=[runs.c[k] for k in key],
        set_={k: v for k, v in row.items() if k not in key},
    )
    conn.execute(stmt)


def checksum(url: str, article_ids: Iterable[str] | None = None) -> tuple[int, str]:
    """(row count, sha256 over sorted article_id:content_hash) of the articles table."""
    import hashlib

    eng = engine(url)
    with eng.connect() as conn:
        query = sa.select(articles.c.article_id, articles.c.content_hash)
        pairs = conn.execute(query).all()
    eng.dispose()
    if article_ids is not None:
        wanted = set(article_ids)
        pairs = [p for p in pairs if p[0] in wanted]
    digest = hashlib.sha256()
    for article_id, content_hash in sorted(pairs):
        digest.update(f"{article_id}:{content_hash}\n".encode())
    return len(pairs), digest.hexdigest()


def upsert_crawl_state(conn: sa.Connection, fetched: pd.DataFrame, run_id: str,
                       now: datetime) -> None:
    if fetched.empty:
        return
    records = []
    for rec in fetched.to_dict("records"):
        at = _py(rec.get("fetched_at"))
        at = datetime.fromisoformat(at) if isinstance(at, str) else at
        records.append({"article_id": rec["article_id"], "source": rec["source"],
                        "url": rec["url"], "signal": _py(rec.get("signal")),
                        "first_fetched_at": at, "last_fetched_at": at, "recorded_at": now,
                        "last_run_id": run_id})
    stmt = _insert(conn.engine, crawl_state)
    ex = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[crawl_state.c.article_id],
        set_={
            "url": ex.url,
            "signal": sa.func.coalesce(ex.signal, crawl_state.c.signal),
            "first_fetched_at": sa.func.coalesce(crawl_state.c.first_fetched_at,
                                                 ex.first_fetched_at),
            "last_fetched_at": sa.func.coalesce(ex.last_fetched_at,
                                                crawl_state.c.last_fetched_at),
            "recorded_at": ex.recorded_at,
            "last_run_id": ex.last_run_id,
        },
    )
    conn.execute(stmt, records)


def export_known(url: str, source: str, start: datetime, end: datetime, path: Path,
                 *, recent_days: int = 60, limit: int = 500_000) -> int:
    """Write {article_id: {url, signal}} of what earlier runs fetched that this window can meet:
    articles published around the window, and everything recorded recently (the change feed
    only reaches recent articles). Returns the count."""
    import json

    eng = engine(url)
    cs, a = crawl_state, articles
    near = sa.and_(a.c.published_at >= start - timedelta(days=2),
                   a.c.published_at < end + timedelta(days=2))
    recent = cs.c.recorded_at >= datetime.now(UTC) - timedelta(days=recent_days)
    query = (sa.select(cs.c.article_id, cs.c.url, cs.c.signal)
             .select_from(cs.outerjoin(a, a.c.article_id == cs.c.article_id))
             .where(cs.c.source == source, sa.or_(near, recent)).limit(limit))
    with eng.connect() as conn:
        rows = conn.execute(query).all()
    eng.dispose()
    known = {r.article_id: {"url": r.url, "signal": r.signal} for r in rows}
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(known), encoding="utf-8")
    tmp.replace(path)
    return len(known)
