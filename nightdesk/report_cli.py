"""`nightdesk report` (terminal summary + one self-contained HTML file) and `nightdesk backfill`
(`nightdesk run` over many nightly windows, with a progress bar).

The summary shows the latest run of each source and window. `found` is what the night found on
the site: new + changed + unchanged + known (known articles skipped without a fetch), so an
idempotent rerun reads as "found 6, known 6", not as "found nothing".
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.dates import nightly_window
from contracts.settings import masked
from etl import runids


@dataclass
class Summary:
    """What the terminal table shows; `figs` is etl/runreport.figures() (the HTML's data)."""

    figs: dict[str, Any]
    rows: list[dict[str, Any]]  # runreport's nights (latest run per source and night), oldest first
    lake_articles: int
    lake_partitions: int
    warehouse_articles: int | None
    quarantined: int
    data_dir: str
    warehouse_url: str


def collect(data_dir: str | Path, warehouse_url: str, *, last: int = 14,
            run_id: str | None = None, run_ids: list[str] | None = None) -> Summary:
    """The report's figures (etl/runreport.py, the same as the Airflow UI's), and the lake's and
    warehouse's totals; the table keeps the last `last` nights, or the nights of `run_ids`."""
    from etl import runreport
    from etl.query import connect

    figs = runreport.figures(warehouse_url, run_id=run_id)
    nights = figs["nights"]
    if run_ids is not None:
        nights = [n for n in nights if n["run_id"] in set(run_ids)]
    else:
        wanted = sorted({n["night"] for n in nights}, reverse=True)[:last]
        nights = [n for n in nights if n["night"] in wanted]
    con = connect(data_dir, warehouse_url)
    try:
        lake_n, parts = con.execute("select count(*), count(distinct (source, published_month)) "
                                    "from articles").fetchone()
        quarantined = con.execute("select count(*) from quarantine").fetchone()[0]
    finally:
        con.close()
    return Summary(figs=figs, rows=sorted(nights, key=lambda n: (n["night"], n["source"])),
                   lake_articles=int(lake_n), lake_partitions=int(parts),
                   warehouse_articles=_warehouse_articles(warehouse_url),
                   quarantined=int(quarantined), data_dir=str(data_dir),
                   warehouse_url=warehouse_url)


def _warehouse_articles(warehouse_url: str) -> int | None:
    import sqlalchemy as sa

    url = sa.make_url(warehouse_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return None
    eng = sa.create_engine(url)
    try:
        if "articles" not in sa.inspect(eng).get_table_names():
            return None
        with eng.connect() as conn:
            return int(conn.execute(sa.text("select count(*) from articles")).scalar_one())
    finally:
        eng.dispose()


def _seconds(value: float | None) -> str:
    from etl.runreport import duration

    return "" if value is None else duration(value)


COLUMNS = (  # (heading, how to read it from a night's row of runreport.figures())
    ("night", lambda r: r["night"]),
    ("source", lambda r: r["source"]),
    ("mode", lambda r: r.get("mode") or ""),
    ("found", lambda r: f"{r['yield']:g}" if r.get("yield") is not None else ""),
    ("new", lambda r: r["inserted"]),
    ("changed", lambda r: r["updated"]),
    ("unchanged", lambda r: r["unchanged"]),
    ("known_skipped", lambda r: r["known_skipped"]),
    ("pages", lambda r: r["pages_fetched"]),
    ("rejected", lambda r: r["rejected"]),
    ("dup", lambda r: r["duplicates"]),
    ("near-dup", lambda r: r["near_duplicates"]),
    ("crawl", lambda r: _seconds(r.get("crawl_seconds"))),
    ("load", lambda r: _seconds(r.get("load_seconds"))),
    ("health", lambda r: r.get("health") or ""),
)


def table_rows(summary: Summary) -> list[list[str]]:
    return [["" if (v := read(r)) is None else str(v) for _, read in COLUMNS]
            for r in summary.rows]


def headline(summary: Summary) -> list[str]:
    wh = "?" if summary.warehouse_articles is None else summary.warehouse_articles
    return [f"lake:      {Path(summary.data_dir) / 'lake' / 'articles'}  "
            f"({summary.lake_articles} articles, {summary.lake_partitions} partitions)",
            f"warehouse: {masked(summary.warehouse_url)}  ({wh} articles, "
            f"{summary.quarantined} quarantined)"]


def print_summary(summary: Summary, file=None) -> None:
    from rich.console import Console
    from rich.table import Table

    file = file or sys.stdout
    console = Console(file=file, width=None if file.isatty() else 180)
    if summary.rows:
        console.print("latest run of each source and night; found = new + changed + unchanged "
                      "+ known_skipped (known articles not fetched again)", highlight=False)
        table = Table(header_style="bold")
        for i, (heading, _) in enumerate(COLUMNS):
            table.add_column(heading, justify="right" if 2 < i < 14 else "left", no_wrap=i < 14)
        for cells in table_rows(summary):
            table.add_row(*cells)
        console.print(table)
    else:
        console.print("no runs in the warehouse yet (`make run` or `nightdesk run --day D`)")
    reasons: dict[str, int] = {}
    for r in summary.rows:
        for reason, n in (r.get("rejects_by_reason") or {}).items():
            reasons[reason] = reasons.get(reason, 0) + int(n)
    if reasons:
        console.print("rejects by reason: " + ", ".join(
            f"{k} {v}" for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])))
    for line in headline(summary):
        console.print(line, highlight=False, soft_wrap=True)


def write_html(summary: Summary, path: Path) -> Path:
    from etl.runreport import render_html

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_html(summary.figs, title="Nightdesk report"), encoding="utf-8")
    tmp.replace(path)
    return path


def report_main(args) -> int:
    settings = args.settings.replace(data_dir=args.data_dir, warehouse_url=args.warehouse)
    data, url = settings.data_dir, settings.warehouse
    summary = collect(data, url, last=args.last, run_id=args.run_id)
    print_summary(summary)
    if not args.no_html:
        out = Path(args.output) if args.output else (
            data / "reports" / f"nightdesk-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.html")
        print(f"report: {write_html(summary, out)}")
    return 0


def _days(first: str, last: str) -> list[str]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    if b < a:
        raise ValueError(f"--to {last} is before --from {first}")
    return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


def backfill_main(args) -> int:
    """`nightdesk run --day D` for each D in [--from, --to], a progress bar on stderr."""
    import logging

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from nightdesk.pipeline import run

    try:
        days = _days(args.date_from, args.date_to)
    except ValueError as exc:
        print(f"nightdesk backfill: {exc}", file=sys.stderr)
        return 2
    settings = args.settings.replace(data_dir=args.data_dir, warehouse_url=args.warehouse,
                                     sources_file=args.sources)
    data, url, sources = settings.data_dir, settings.warehouse, str(settings.sources_file)
    log = data / "logs" / f"backfill-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    # The steps log at INFO: into a file, so the bar stays readable.
    logging.basicConfig(filename=log, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_ids: list[str] = []
    failed: list[tuple[str, str]] = []
    console = Console(file=sys.stderr)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("backfill", total=len(days))
        for day in days:
            bar.update(task, description=f"window {day}")
            start, end = nightly_window(day)
            run_id = runids.cli_run_id()
            try:
                run(start, end, sources_file=sources, data_dir=str(data), warehouse_url=url,
                    run_id=run_id, only=args.source, refetch=args.refetch, settings=settings)
                run_ids.append(run_id)
            except Exception as exc:  # one failed window must not hide the others' results
                logging.getLogger(__name__).exception("window %s failed", day)
                failed.append((day, f"{type(exc).__name__}: {exc}".splitlines()[0][:500]))
                console.print(f"window {day} FAILED: {failed[-1][1]}", soft_wrap=True,
                              highlight=False, markup=False)
            bar.advance(task)
    if run_ids:
        print_summary(collect(data, url, run_ids=run_ids))
    if failed:
        print(f"{len(failed)} of {len(days)} windows failed: " + ", ".join(d for d, _ in failed),
              file=sys.stderr)
    print(f"log: {log}", file=sys.stderr)
    return 1 if failed else 0


def add_parsers(sub, common=None) -> None:
    parents = [common] if common else []  # the CLI's shared options, when it has some
    p = sub.add_parser("report", parents=parents, help="summary table of the latest runs, and "
                       "one self-contained HTML report (default data/reports/)")
    p.add_argument("--data-dir", default=None, help="outputs (default ./data)")
    p.add_argument("--warehouse", default=None, help="SQLAlchemy URL (default SQLite in data)")
    p.add_argument("--output", "-o",
                   help="the HTML file (default data/reports/nightdesk-<UTC>.html)")
    p.add_argument("--last", type=int, default=14, help="nights in the table (default 14)")
    p.add_argument("--run-id", help="the run the HTML report details (default: the latest)")
    p.add_argument("--no-html", action="store_true", help="only the terminal summary")
    p.set_defaults(func=report_main)

    b = sub.add_parser("backfill", parents=parents, help="`nightdesk run --day D` for every day "
                       "from --from to --to (inclusive), with a progress bar; a failed window "
                       "is reported and the others still run (exit 1)")
    b.add_argument("--from", dest="date_from", required=True, help="first day D (YYYY-MM-DD)")
    b.add_argument("--to", dest="date_to", required=True, help="last day D (inclusive)")
    b.add_argument("--sources", default=None, help="sources TOML (default sources/demo.toml)")
    b.add_argument("--source", action="append", help="only this source (repeatable)")
    b.add_argument("--data-dir", default=None, help="outputs (default ./data)")
    b.add_argument("--warehouse", default=None, help="SQLAlchemy URL (default SQLite in data)")
    b.add_argument("--refetch", action="store_true", help="as `nightdesk run --refetch`")
    b.set_defaults(func=backfill_main)
