"""`nightdesk`: the pipeline's steps without Airflow (the DAG's tasks call the same functions)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime, timedelta

from etl import config, runids


def run(start: str, end: str, *, sources_file: str, data_dir: str, warehouse_url: str,
        run_id: str, only: list[str] | None = None, refetch: bool = False) -> dict:
    """Crawl every configured source for [start, end), then transform, load and check."""
    from etl.load import check, load_lake, load_warehouse
    from etl.transform import transform
    from spiders.run import crawl
    from spiders.sources import load_sources

    names = only or list(load_sources(sources_file))
    crawls = [crawl(n, start, end, sources_file=sources_file, data_dir=data_dir,
                    warehouse_url=warehouse_url, refetch=refetch) for n in names]
    for c in crawls:
        print(f"crawled {c['source']} from the {c['where']}: {c['items']} articles, "
              f"{c['pages_fetched']} pages", file=sys.stderr)
    staged = transform(start, end, sources=names, data_dir=data_dir, warehouse_url=warehouse_url)
    lake = load_lake(start, end, data_dir=data_dir, run_id=run_id)
    wh = load_warehouse(start, end, data_dir=data_dir, warehouse_url=warehouse_url, run_id=run_id)
    checked = check(start, end, data_dir=data_dir, warehouse_url=warehouse_url)
    return {"run_id": run_id, "crawls": crawls, "transform": staged, "lake": lake,
            "warehouse": wh, "check": checked}


def _day_window(day: str) -> tuple[str, str]:
    """A date's nightly window: [D 02:00 UTC, D+1 02:00 UTC), the run that starts at D+1 02:00."""
    start = datetime.fromisoformat(day).replace(hour=2, tzinfo=UTC)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nightdesk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="crawl, transform, load and check one interval [start, end)")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--start", help="ISO 8601 with offset, e.g. 2022-01-31T02:00:00+00:00")
    when.add_argument("--day", help="a date D: its nightly window [D 02:00Z, D+1 02:00Z)")
    p.add_argument("--end", help="ISO 8601 with offset (with --start)")
    p.add_argument("--sources", default=None, help="sources TOML (default sources/demo.toml)")
    p.add_argument("--source", action="append", help="only this source (repeatable)")
    p.add_argument("--data-dir", default=None, help="outputs (default ./data)")
    p.add_argument("--warehouse", default=None, help="SQLAlchemy URL (default SQLite in data)")
    p.add_argument("--run-id", default=None)
    p.add_argument("--refetch", action="store_true",
                   help="fetch every article of the window again (ignore what was fetched)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config.mask_logs()

    if args.day:
        start, end = _day_window(args.day)
    elif args.end:
        start, end = args.start, args.end
    else:
        parser.error("--start needs --end")
    data = config.data_dir(args.data_dir)
    url = config.warehouse_url(args.warehouse, data)
    run_id = args.run_id or runids.cli_run_id()
    result = run(start, end, sources_file=str(config.sources_file(args.sources)),
                 data_dir=str(data), warehouse_url=url, run_id=run_id, only=args.source,
                 refetch=args.refetch)
    print(json.dumps(result, indent=1, default=str))
    print(f"lake: {data / 'lake' / 'articles'}\nwarehouse: {config.masked(url)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
