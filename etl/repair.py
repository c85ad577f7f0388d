"""`nightdesk repair`: apply the fixes `nightdesk verify` names (etl/verify.py).

- a damaged or incomplete lake partition is rebuilt from the warehouse (plus any intact lake row
  the warehouse lacks);
- warehouse rows missing or damaged are copied from the lake's intact rows;
- a damaged quarantine or history file is rebuilt from the warehouse (quarantine,
  article_versions);
- the near-duplicate index is rebuilt from the lake;
- a raw window cut short is crawled again (--refetch), transformed and loaded.

In that order: the index is rebuilt from a repaired lake, and a reloaded window labels its
articles against a repaired index. Then verify runs again; what remains is returned.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from contracts.schema import arrow_schema
from etl import clusters, lake, migrate, verify, warehouse

ORDER = (verify.LAKE_PARTITION, verify.WAREHOUSE, verify.LAKE_FILE, verify.INDEX, verify.RAW)


def _key(folder: str) -> str:
    return folder.split("=", 1)[1]


def _utc(values: pd.Series) -> pd.Series:
    # SQLite hands timestamps back naive (stored in UTC), PostgreSQL aware.
    return pd.to_datetime(values, utc=True, format="ISO8601").astype("datetime64[us, UTC]")


def _frame(conn: sa.Connection, stmt: sa.Select, schema: pa.Schema) -> pa.Table:
    result = conn.execute(stmt)
    frame = pd.DataFrame([tuple(r) for r in result], columns=list(result.keys()), dtype=object)
    for f in schema:
        if pa.types.is_timestamp(f.type) and f.name in frame:
            frame[f.name] = _utc(frame[f.name])
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def rebuild_partition(path: Path, data_dir: str | Path, warehouse_url: str) -> str:
    """The partition's rows from the warehouse, with the intact lake rows it lacks."""
    source, month = _key(path.parent.parent.name), _key(path.parent.name)
    start = datetime.fromisoformat(f"{month}-01T00:00:00+00:00")
    end = (pd.Timestamp(start) + pd.offsets.MonthBegin(1)).to_pydatetime()
    schema = arrow_schema(for_files=True)
    a = warehouse.articles.c
    eng = warehouse.engine(warehouse_url)
    with eng.connect() as conn:
        rows = _frame(conn, sa.select(warehouse.articles).where(
            a.source == source, a.published_at >= start, a.published_at < end)
            .order_by(a.article_id), schema)
    eng.dispose()
    with lake.locked(data_dir):
        kept = 0
        keys, _ = verify.scan_partition(path) if path.exists() else (None, None)
        if keys is not None:  # readable: keep its intact rows the warehouse does not hold
            good = keys[keys["intact"] & (keys["month"] == month)]["article_id"]
            extra = set(good) - set(rows["article_id"].to_pylist())
            if extra:
                old = lake.read_file(path, schema=schema)
                more = old.filter(pc.is_in(old["article_id"], pa.array(sorted(extra))))
                kept = len(more)
                rows = pa.concat_tables([rows, more]).sort_by("article_id")
        if len(rows):
            lake.write_atomic(rows, path)
        else:
            path.unlink(missing_ok=True)
    return f"rebuilt {path} from the warehouse ({len(rows) - kept} rows, {kept} kept from it)"


def copy_to_warehouse(path: Path, ids: Iterable[str], warehouse_url: str) -> str:
    """The partition's intact rows of `ids`, replacing whatever the warehouse holds for them."""
    wanted = sorted(set(ids))
    keys, _ = verify.scan_partition(path)
    if keys is None:
        return f"not copied: {path} cannot be read"
    good = sorted(set(keys.loc[keys["intact"], "article_id"]) & set(wanted))
    table = lake.read_file(path, schema=arrow_schema(for_files=True))
    table = table.filter(pc.is_in(table["article_id"], pa.array(good, pa.string())))
    table = table.append_column("source", pa.repeat(pa.scalar(_key(path.parent.parent.name)),
                                                    len(table)))
    schema = pa.schema([f.with_nullable(True) for f in arrow_schema()])
    records = table.select(schema.names).cast(schema).to_pylist()
    eng = warehouse.engine(warehouse_url)
    migrate.check_schema(eng)  # `nightdesk repair` migrated at its entry
    with eng.begin() as conn:
        for chunk in range(0, len(good), 500):
            conn.execute(sa.delete(warehouse.articles).where(
                warehouse.articles.c.article_id.in_(good[chunk:chunk + 500])))
        if records:
            conn.execute(sa.insert(warehouse.articles), records)
    eng.dispose()
    return f"copied {len(records)} rows of {path} into the warehouse"


def rebuild_lake_file(path: Path, data_dir: str | Path, warehouse_url: str) -> str:
    """A quarantine window's file from the warehouse's quarantine rows, or a source's history
    file from article_versions."""
    eng = warehouse.engine(warehouse_url)
    with eng.connect() as conn:
        if path.parent.name.startswith("window="):
            start, end = (datetime.strptime(v, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                          for v in _key(path.parent.name).split("_"))
            q = warehouse.quarantine.c
            # the lake's file has the rows' own columns, not the warehouse's keys and run ids
            result = conn.execute(sa.select(*[c for c in warehouse.quarantine.c
                                              if c.name not in ("run_id", "url_hash")])
                                  .where(q.interval_start == start, q.interval_end == end))
            frame = pd.DataFrame([tuple(r) for r in result], columns=list(result.keys()))
            for name in ("interval_start", "interval_end", "seen_at"):
                frame[name] = _utc(frame[name])
            table = pa.Table.from_pandas(frame, preserve_index=False)
        else:
            v = warehouse.article_versions.c
            schema = lake.history_schema()
            file_schema = pa.schema([f for f in schema if f.name != "source"])
            table = _frame(conn, sa.select(warehouse.article_versions).where(
                v.source == _key(path.parent.name)), file_schema)
    eng.dispose()
    with lake.locked(data_dir):
        if len(table):
            lake.write_atomic(table, path)
        else:
            path.unlink(missing_ok=True)
    return f"rebuilt {path} from the warehouse ({len(table)} rows)"


def repair(data_dir: str | Path, warehouse_url: str, *, recrawl: Callable[[Path], str],
           only: Iterable[str] = (), workers: int | None = None, neardup: bool = True
           ) -> tuple[list[str], list[verify.Problem]]:
    """Fix what verify reports (only the problems naming one of `only`'s paths, when given).
    `recrawl(stats_path)` crawls a damaged raw window again and reloads it (the crawl is the
    app layer's: nightdesk.pipeline.recrawl). Returns (what was done, the problems a verify after
    it still finds)."""
    wanted = {str(Path(p).resolve()) for p in only}
    problems = [p for p in verify.verify(data_dir, warehouse_url, workers=workers,
                                         neardup=neardup)
                if not wanted or str(Path(p.path).resolve()) in wanted]
    done: list[str] = []

    def attempt(path: str, action: Callable[[], str]) -> None:
        try:  # one failed fix must not stop the others; the final verify lists what is left
            done.append(action())
        except Exception as exc:  # reported with its file; the final verify lists it again
            done.append(f"could not repair {path}: {type(exc).__name__}: "
                        f"{verify.first_line(exc)}")

    for kind in ORDER:
        todo = [p for p in problems if p.kind == kind]
        if kind == verify.LAKE_PARTITION:
            for path in sorted({p.path for p in todo}):
                attempt(path, partial(rebuild_partition, Path(path), data_dir, warehouse_url))
        elif kind == verify.WAREHOUSE:
            for p in todo:
                attempt(p.path, partial(copy_to_warehouse, Path(p.path), p.ids, warehouse_url))
        elif kind == verify.LAKE_FILE:
            for p in todo:
                attempt(p.path, partial(rebuild_lake_file, Path(p.path), data_dir,
                                        warehouse_url))
        elif kind == verify.INDEX and todo:
            attempt(todo[0].path, lambda: f"rebuilt {clusters.index_path(data_dir)} from the "
                    f"lake ({clusters.rebuild(data_dir)} articles)")
        elif kind == verify.RAW:
            for p in todo:
                attempt(p.path, partial(recrawl, Path(p.path)))
    return done, verify.verify(data_dir, warehouse_url, workers=workers, neardup=neardup)


def main(data_dir: str | Path, warehouse_url: str, recrawl: Callable[[Path], str],
         only: Iterable[str] = (), *, workers: int | None = None, neardup: bool = True) -> int:
    if not Path(data_dir).is_dir():
        print(f"nightdesk repair: no data dir at {data_dir}", file=sys.stderr)
        return 2
    try:
        done, left = repair(data_dir, warehouse_url, recrawl=recrawl, only=only,
                            workers=workers, neardup=neardup)
    except sa.exc.SQLAlchemyError as exc:  # the message only: the URL may hold a password
        print(f"nightdesk repair: cannot use the warehouse: {verify.first_line(exc)}",
              file=sys.stderr)
        return 2
    for line in done:
        print(line)
    for problem in left:
        print(f"still: {problem}")
    if not done and not left:
        print("nothing to repair")
    return 1 if left else 0
