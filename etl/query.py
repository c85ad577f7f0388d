"""`nightdesk query "SQL"`: DuckDB over the lake and the warehouse.

Views ready in every query:
- `articles`   the Parquet lake (`lake/articles/source=S/published_month=M/part-*.parquet`);
- `runs`       the warehouse's runs table (one row per source and run);
- `quarantine` the warehouse's quarantine table;
- `rejects`    every raw `rejects.jsonl` under `raw/` (`crawl_window` from its folder), plus the
               rows of a `rejects` table in the warehouse or a `lake/rejects/` dataset if present.

DuckDB reads the lake directly. The warehouse (SQLite or PostgreSQL) is read through SQLAlchemy
into Arrow, because DuckDB's sqlite/postgres scanners are extensions it would download; the
warehouse tables a query can name are small (runs, quarantine), the articles come from the lake.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from contracts.schema import arrow_schema
from etl import lake

REJECT_COLUMNS = {"source": "VARCHAR", "url": "VARCHAR", "stage": "VARCHAR", "reason": "VARCHAR",
                  "detail": "VARCHAR", "at": "VARCHAR"}
WAREHOUSE_TABLES = ("runs", "quarantine")
FORMATS = ("table", "csv", "parquet")


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _arrow_type(column: sa.Column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(kind, sa.Integer):
        return pa.int64()
    if isinstance(kind, sa.Float | sa.Numeric):
        return pa.float64()
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    return pa.string()


def _value(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_timestamp(kind) and value.tzinfo is None:
        from datetime import UTC

        return value.replace(tzinfo=UTC)  # SQLite keeps no offset; the warehouse writes UTC
    if pa.types.is_string(kind) and not isinstance(value, str):
        import json

        return json.dumps(value, default=str)
    return value


def _warehouse_tables(warehouse_url: str, names: tuple[str, ...]) -> dict[str, pa.Table]:
    """The named tables that exist in the warehouse, as Arrow tables (missing: left out).
    A plain engine, not etl.warehouse.engine(): that one takes SQLite's write lock at BEGIN."""
    url = sa.make_url(warehouse_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return {}  # never create an empty warehouse file by querying
    eng = sa.create_engine(url)
    try:
        present = set(sa.inspect(eng).get_table_names())
        meta = sa.MetaData()
        out: dict[str, pa.Table] = {}
        with eng.connect() as conn:
            for name in names:
                if name not in present:
                    continue
                table = sa.Table(name, meta, autoload_with=conn)
                fields = [pa.field(c.name, _arrow_type(c)) for c in table.columns]
                rows = conn.execute(sa.select(table)).all()
                out[name] = pa.table(
                    {f.name: pa.array([_value(r[i], f.type) for r in rows], type=f.type)
                     for i, f in enumerate(fields)}, schema=pa.schema(fields))
        return out
    finally:
        eng.dispose()


def _empty_runs() -> pa.Table:
    from etl.warehouse import runs

    return pa.schema([pa.field(c.name, _arrow_type(c)) for c in runs.columns]).empty_table()


def _empty_quarantine() -> pa.Table:
    from etl.warehouse import quarantine

    return pa.schema([pa.field(c.name, _arrow_type(c)) for c in quarantine.columns]).empty_table()


def connect(data_dir: str | Path, warehouse_url: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the views `articles`, `runs`, `quarantine` and `rejects`."""
    data = Path(data_dir)
    con = duckdb.connect()
    root = lake.articles_root(data)
    files = sorted(root.glob("source=*/published_month=*/part-*.parquet"))
    if files:
        glob = _sql_literal(str(root / "source=*" / "published_month=*" / "part-*.parquet"))
        con.execute(f"create view articles as select * from read_parquet({glob}, "
                    "hive_partitioning=true, "
                    "hive_types={'source': 'VARCHAR', 'published_month': 'VARCHAR'})")
    else:
        # The files' columns plus the two partition columns the path gives.
        schema = arrow_schema(for_files=True).append(pa.field("published_month", pa.string()))
        con.register("_empty_articles", schema.append(pa.field("source", pa.string()))
                     .empty_table())
        con.execute("create view articles as select * from _empty_articles")

    tables = _warehouse_tables(warehouse_url, (*WAREHOUSE_TABLES, "rejects"))
    con.register("_runs", tables.get("runs", _empty_runs()))
    con.execute("create view runs as select * from _runs")
    con.register("_quarantine", tables.get("quarantine", _empty_quarantine()))
    con.execute("create view quarantine as select * from _quarantine")
    con.execute(_rejects_view(con, data, tables.get("rejects")))
    return con


def _rejects_view(con: duckdb.DuckDBPyConnection, data: Path, warehouse_rejects: pa.Table | None
                  ) -> str:
    # Quoted: `at` is a keyword in DuckDB.
    cols = ", ".join(f'"{name}"::VARCHAR as "{name}"' for name in REJECT_COLUMNS)
    parts = []
    raw = data / "raw"
    # Every rejects.jsonl under raw/, but not those of a crawl still writing (or killed) in a
    # hidden `.tmp-window=...` folder: its window is not complete.
    files = sorted(str(p) for p in raw.rglob("rejects.jsonl") if p.stat().st_size
                   and not any(part.startswith(".") for part in p.relative_to(raw).parts))
    if files:
        spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in REJECT_COLUMNS.items()) + "}"
        listed = "[" + ", ".join(_sql_literal(f) for f in files) + "]"
        parts.append(
            f"select {cols}, regexp_extract(filename, 'window=([^/]+)', 1) as crawl_window, "
            f"'raw' as origin from read_json({listed}, format='newline_delimited', "
            f"columns={spec}, filename=true, hive_partitioning=false)")
    others = {"warehouse": warehouse_rejects}
    lake_rejects = sorted(p for p in (data / "lake" / "rejects").rglob("*.parquet")
                          if not p.name.startswith("."))  # not a writer's temp file
    if lake_rejects:
        others["lake"] = pa.concat_tables([pq.read_table(p) for p in lake_rejects],
                                          promote_options="permissive")
    for origin, table in others.items():
        if table is None:
            continue
        con.register(f"_rejects_{origin}", table)
        have = set(table.column_names)
        picked = ", ".join(f'"{n}"::VARCHAR as "{n}"' if n in have else f'NULL::VARCHAR as "{n}"'
                           for n in REJECT_COLUMNS)
        window = '"window"::VARCHAR' if "window" in have else "NULL::VARCHAR"
        parts.append(f"select {picked}, {window} as crawl_window, '{origin}' as origin "
                     f"from _rejects_{origin}")
    if not parts:
        names = (*REJECT_COLUMNS, "crawl_window", "origin")
        empty = ", ".join(f'NULL::VARCHAR as "{n}"' for n in names)
        return f"create view rejects as select {empty} where false"
    # The same reject reported by two stores (raw file and a loaded table) counts once.
    return ("create view rejects as select distinct on "
            "(source, url, stage, reason, crawl_window) * from ("
            + " union all by name ".join(parts) + ")")


def run_query(sql: str, *, data_dir: str | Path, warehouse_url: str, fmt: str = "table",
              output: str | None = None, out=None) -> int:
    """Run one SQL statement and write its result; returns the row count."""
    out = out or sys.stdout
    con = connect(data_dir, warehouse_url)
    try:
        result = con.sql(sql)
        if result is None:  # a statement without rows (e.g. `create table ...`)
            return 0
        table = result.to_arrow_table()
    finally:
        con.close()
    if fmt == "parquet":
        if not output:
            raise ValueError("--format parquet needs --output FILE")
        pq.write_table(table, output)
        print(f"{table.num_rows} rows -> {output}", file=sys.stderr)
    elif fmt == "csv":
        _write_csv(table, output, out)
    else:
        _print_table(table, out)
    return table.num_rows


def _write_csv(table: pa.Table, output: str | None, out) -> None:
    import csv
    import json

    def cell(value: Any) -> Any:
        if isinstance(value, list | dict):
            return json.dumps(value, default=str, ensure_ascii=False)  # e.g. authors
        return "" if value is None else value

    fh = open(output, "w", newline="", encoding="utf-8") if output else out  # noqa: SIM115
    try:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in table.to_pylist():
            writer.writerow([cell(row[c]) for c in table.column_names])
    finally:
        if output:
            fh.close()


def _print_table(table: pa.Table, out, max_rows: int = 200) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(show_lines=False, header_style="bold")
    for name in table.column_names:
        view.add_column(name, overflow="fold", max_width=60)
    for row in table.slice(0, max_rows).to_pylist():
        view.add_row(*("" if v is None else str(v)[:300] for v in row.values()))
    console = Console(file=out, width=None if out.isatty() else 200)
    console.print(view)
    more = f" (first {max_rows} shown)" if table.num_rows > max_rows else ""
    console.print(f"{table.num_rows} rows{more}", style="dim")


def add_parser(sub, common=None) -> None:
    # `common`: the CLI's shared options (a parent parser), when it has some.
    p = sub.add_parser("query", parents=[common] if common else [],
                       help="SQL (DuckDB) over the lake and the warehouse: views articles, runs, "
                       "quarantine, rejects")
    p.add_argument("sql", help='e.g. "select source, count(*) from articles group by all"')
    p.add_argument("--format", choices=FORMATS, default="table",
                   help="table (default), csv (header line, then rows) or parquet (--output)")
    p.add_argument("--output", "-o", help="write to this file (required for parquet)")
    p.add_argument("--data-dir", default=None, help="outputs (default ./data)")
    p.add_argument("--warehouse", default=None, help="SQLAlchemy URL (default SQLite in data)")
    p.set_defaults(func=main)


def main(args) -> int:
    from contracts.settings import Settings

    settings = Settings.from_env(data_dir=args.data_dir, warehouse_url=args.warehouse)
    data = settings.data_dir
    if args.format == "parquet" and not args.output:
        print("nightdesk query: --format parquet needs --output FILE", file=sys.stderr)
        return 2
    try:
        run_query(args.sql, data_dir=data, warehouse_url=settings.warehouse,
                  fmt=args.format, output=args.output)
    except duckdb.Error as exc:
        print(f"nightdesk query: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0
