"""The SQL warehouse (SQLAlchemy): SQLite file by default, PostgreSQL for real deployments.

Tables: `articles` (columns derived from etl/schema.py), `runs` (one row per source and interval
run) and `quarantine` (what could not be loaded, with its reason). A load is ONE transaction:
upsert of articles (a row changes only when its content hash does), quarantine rows and the runs
row, so a crash leaves the previous state and a retry or rerun changes no article row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from etl.schema import (
    FIELDS,
    ID_CHARS,
    KEY,
    RUN_ID_CHARS,
    SOURCE_CHARS,
    STAGE_CHARS,
    arrow_schema,
    url_hash,
)

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

# Keyed by the URL's sha256 (etl.schema.url_hash), not the URL: rejected URLs have any length,
# and an index entry cannot (migration 0003). Text values within etl.schema.QUARANTINE_LIMITS.
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
            cur.execute("PRAGMA journal_mode = WAL")
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


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def lookup(conn: sa.Connection, column: str, values: Iterable[str]) -> pd.DataFrame:
    """article_id, url, url_key, content_hash, published_at of stored articles whose `column`
    is in `values`."""
    names = ["article_id", "url", "url_key", "content_hash", "published_at"]
    cols = [articles.c[n] for n in names]
    values = sorted(set(values))
    if conn.dialect.name == "sqlite":
        # One JSON array per 50k values instead of an IN-list per 500: a million keys were
        # thousands of statements; SQLite still probes the index per value.
        listed = sa.func.json_each(sa.bindparam("values")).table_valued("value")
        stmt = sa.select(*cols).where(articles.c[column].in_(sa.select(listed.c.value)))
        chunks = [{"values": json.dumps(chunk)} for chunk in _chunks(values, 50_000)]
        frames = [pd.DataFrame(conn.execute(stmt, chunk).all(), columns=names)
                  for chunk in chunks]
    else:
        frames = [pd.DataFrame(conn.execute(sa.select(*cols).where(
            articles.c[column].in_(chunk))).all(), columns=names) for chunk in _chunks(values)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=names)


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


def upsert_articles(conn: sa.Connection, batch: pd.DataFrame, run_id: str) -> dict[str, int]:
    """Insert new articles, update those whose content hash changed, leave the rest untouched."""
    if batch.empty:
        return {"inserted": 0, "updated": 0, "unchanged": 0}
    if conn.dialect.name == "postgresql" and batch["article_id"].is_unique:
        # COPY into a staging table and one set-based merge (etl/pgcopy.py). A batch naming an
        # id twice (etl.dedupe never makes one) stays row by row: a single INSERT ... ON CONFLICT
        # cannot touch one row twice.
        from etl import pgcopy

        return pgcopy.upsert_articles(conn, batch, run_id)
    if conn.dialect.name == "sqlite":
        return _upsert_sqlite(conn, batch, run_id)
    return _upsert_rows(conn, batch, run_id)


def _classify(batch: pd.DataFrame, stored: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(is_new, changed) per batch row; `stored` holds article_id, content_hash, published_at of
    the stored rows. Changed: another content hash or another publication instant."""
    known = dict(zip(stored["article_id"], stored["content_hash"], strict=True))
    # SQLite hands timestamps back naive (stored in UTC); PostgreSQL aware in the session's zone.
    when = pd.to_datetime(stored["published_at"], utc=True).dt.tz_localize(None)
    stored_pub = dict(zip(stored["article_id"], when, strict=True))
    is_new = ~batch["article_id"].isin(known)
    moved = batch["article_id"].map(stored_pub).ne(
        batch["published_at"].dt.tz_convert("UTC").dt.tz_localize(None))
    changed = (batch["article_id"].map(known).ne(batch["content_hash"]) | moved) & ~is_new
    return is_new, changed


def _counts(is_new: pd.Series, changed: pd.Series) -> dict[str, int]:
    return {"inserted": int(is_new.sum()), "updated": int(changed.sum()),
            "unchanged": int((~is_new & ~changed).sum())}


def _to_arrow(rows: pd.DataFrame) -> pa.Table:
    """Every article column as Arrow: one C-level conversion instead of one call per cell.
    Every field nullable here: the SQL constraints, not Arrow, judge a missing value."""
    schema = pa.schema([f.with_nullable(True) for f in arrow_schema()])
    return pa.Table.from_pandas(rows[schema.names], schema=schema, preserve_index=False)


def _upsert_rows(conn: sa.Connection, batch: pd.DataFrame, run_id: str) -> dict[str, int]:
    """The generic path (PostgreSQL for the odd batch): row by row via a compiled executemany."""
    stored = lookup(conn, "article_id", batch["article_id"].tolist())
    is_new, changed = _classify(batch, stored)
    todo = batch[is_new | changed].assign(first_run_id=run_id, last_run_id=run_id)
    if changed.any():
        _keep_versions(conn, batch.loc[changed, "article_id"].tolist(), run_id)
    if not todo.empty:
        rows = _to_arrow(todo).to_pylist()
        stmt = _insert(conn.engine, articles)
        keep_first = {"article_id", "first_run_id"}
        stmt = stmt.on_conflict_do_update(
            index_elements=[articles.c.article_id],
            set_={c.name: stmt.excluded[c.name] for c in articles.columns
                  if c.name not in keep_first},
            where=sa.or_(articles.c.content_hash != stmt.excluded.content_hash,
                         articles.c.published_at != stmt.excluded.published_at),
        )
        conn.execute(stmt, rows)
    return _counts(is_new, changed)


def _keep_versions(conn: sa.Connection, article_ids: list[str], run_id: str) -> None:
    """Copy the rows about to be replaced into article_versions (same transaction)."""
    now = datetime.now(UTC)
    cols = [c.name for c in articles.columns]
    for chunk in _chunks(article_ids):
        select = sa.select(*articles.columns, sa.literal(now, sa.DateTime(timezone=True)),
                           sa.literal(run_id, sa.String())).where(
            articles.c.article_id.in_(chunk))
        stmt = _insert(conn.engine, article_versions).from_select(
            [*cols, "superseded_at", "superseded_by_run_id"], select)
        conn.execute(stmt.on_conflict_do_nothing())


# -- the SQLite path ------------------------------------------------------------------------------
# Same rows, counts and history as _upsert_rows, without SQLAlchemy's per-statement compilation
# and per-row parameter processing (most of a large load there): plain SQL on the DBAPI cursor
# via exec_driver_sql, so errors are still SQLAlchemy's, in the caller's transaction. Values are
# converted column by column exactly as SQLAlchemy's SQLite types bind them (_sqlite_columns).

_ARTICLE_COLUMNS: tuple[str, ...] = tuple(c.name for c in articles.columns)
_KIND = {f.name: f.kind for f in FIELDS}
# One JSON array parameter instead of an IN-list per 500 ids: one statement whatever the batch,
# and SQLite still probes the primary key per id (LIST SUBQUERY, SEARCH ... article_id=?).
_IN_IDS = "article_id IN (SELECT value FROM json_each(?))"


def _sqlite_upsert_sql() -> str:
    """The statement _upsert_rows compiles for SQLite: a stored row changes only when its hash
    or publication time differs, and keeps its first_run_id."""
    keep = {KEY, "first_run_id"}
    assign = ", ".join(f"{c} = excluded.{c}" for c in _ARTICLE_COLUMNS if c not in keep)
    return (f"INSERT INTO articles ({', '.join(_ARTICLE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_ARTICLE_COLUMNS))}) "
            f"ON CONFLICT ({KEY}) DO UPDATE SET {assign} "
            "WHERE articles.content_hash != excluded.content_hash "
            "OR articles.published_at != excluded.published_at")


def _sqlite_versions_sql() -> str:
    cols = ", ".join(_ARTICLE_COLUMNS)
    # SQLite needs the WHERE to parse an upsert of an INSERT ... SELECT; it is there.
    return (f"INSERT INTO article_versions ({cols}, superseded_at, superseded_by_run_id) "
            f"SELECT {cols}, ?, ? FROM articles WHERE {_IN_IDS} ON CONFLICT DO NOTHING")


_SQLITE_UPSERT = _sqlite_upsert_sql()
_SQLITE_VERSIONS = _sqlite_versions_sql()
_SQLITE_STORED = f"SELECT article_id, content_hash, published_at FROM articles WHERE {_IN_IDS}"


def _upsert_sqlite(conn: sa.Connection, batch: pd.DataFrame, run_id: str) -> dict[str, int]:
    """_upsert_rows for SQLite: one lookup statement, one executemany of tuples."""
    stored = _stored_sqlite(conn, batch["article_id"])
    is_new, changed = _classify(batch, stored)
    if changed.any():
        _keep_versions_sqlite(conn, batch.loc[changed, "article_id"], run_id)
    todo = (is_new | changed).to_numpy()
    if todo.any():
        # Filtered in Arrow, not pandas: pandas takes its Arrow-backed text columns by
        # concatenating their chunks first, which cost more than the insert's own conversions.
        table = _to_arrow(batch.assign(first_run_id=run_id, last_run_id=run_id))
        if not todo.all():
            table = table.filter(pa.array(todo))
        columns = _sqlite_columns(conn.dialect, table)
        conn.exec_driver_sql(_SQLITE_UPSERT, list(zip(*columns, strict=True)))
    return _counts(is_new, changed)


def _stored_sqlite(conn: sa.Connection, ids: pd.Series) -> pd.DataFrame:
    """article_id, content_hash, published_at (as datetimes) of the stored rows among `ids`."""
    found = conn.exec_driver_sql(_SQLITE_STORED, (json.dumps(ids.unique().tolist()),)).all()
    # Plain tuples: from Row objects pandas probes every cell's attributes, slowly.
    stored = pd.DataFrame([tuple(r) for r in found],
                          columns=["article_id", "content_hash", "published_at"], dtype=object)
    # The text SQLAlchemy's DateTime wrote ("2022-01-31 15:42:00.000000"), read as it reads it.
    stored["published_at"] = pd.to_datetime(stored["published_at"], format="ISO8601")
    return stored


def _keep_versions_sqlite(conn: sa.Connection, ids: pd.Series, run_id: str) -> None:
    """_keep_versions in one statement."""
    now = _sqlite_datetime(conn.dialect, datetime.now(UTC))
    conn.exec_driver_sql(_SQLITE_VERSIONS, (now, run_id, json.dumps(ids.unique().tolist())))


def _sqlite_datetime(dialect: sa.Dialect, value: datetime) -> str:
    return sa.DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)(value)


def _sqlite_columns(dialect: sa.Dialect, table: pa.Table) -> list[list[Any]]:
    """The articles columns, in table order, as SQLAlchemy binds them on SQLite: timestamps as
    their UTC wall clock "YYYY-MM-DD HH:MM:SS.ffffff" (what a naive timestamp cast to text gives,
    vectorised), lists as JSON text (_json_lists), text and integers as they are (their SQLite
    types bind nothing)."""
    columns = []
    for column in articles.columns:
        values = table.column(column.name)
        kind = _KIND[column.name]
        if kind == "timestamp":
            values = values.cast(pa.timestamp("us")).cast(pa.string())
        columns.append(_json_lists(dialect, values) if kind == "list[str]" else values.to_pylist())
    return columns


# Strings that json.dumps (ensure_ascii) writes between its quotes unchanged: printable ASCII
# but the quote and the backslash.
_JSON_VERBATIM = r"^[ !#-\[\]-~]*$"


def _json_lists(dialect: sa.Dialect, values: pa.ChunkedArray) -> list[str]:
    """Each list<string> value as sa.JSON binds it on SQLite: the dialect's serializer, json.dumps
    by default (a missing list is JSON null: none_as_null is off). With json.dumps, lists of
    verbatim strings are joined in Arrow ('["a", "b"]'), the rest serialized one by one."""
    serialize = dialect._json_serializer or json.dumps  # as sa.JSON.bind_processor picks it
    lists = values.combine_chunks()
    if serialize is not json.dumps:
        return [serialize(v) for v in lists.to_pylist()]
    items = lists.flatten()
    verbatim = pc.fill_null(pc.match_substring_regex(items, _JSON_VERBATIM), False)
    joined = pc.binary_join_element_wise('["', pc.binary_join(lists, '", "'), '"]', "")
    text = pc.if_else(pc.equal(pc.list_value_length(lists), 0), "[]", joined)
    out = pc.fill_null(text, "null").to_pylist()
    for i in set(pc.list_parent_indices(lists).filter(pc.invert(verbatim)).to_pylist()):
        out[i] = serialize(lists[i].as_py())
    return out


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
