"""The pipeline's steps, composed from the crawl and the ETL: what `nightdesk run`, the DAG's
tasks, backfill and repair call. Each step takes the settings an entry point read once."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.dates import utc
from contracts.settings import Settings


# Scrapy, pandas & co. are imported by the step that needs them, not by `nightdesk --help`.
def __getattr__(name: str) -> Any:
    """The two failures a caller (the DAG) tells apart, as this layer's names: a warehouse
    behind the code (SchemaNotCurrent) and a window with nothing to crawl (NothingToCrawl)."""
    if name == "SchemaNotCurrent":
        from etl.migrate import SchemaNotCurrent

        return SchemaNotCurrent
    if name == "NothingToCrawl":
        from spiders.run import NothingToCrawl

        return NothingToCrawl
    raise AttributeError(name)


def settings_for(sources_file: str | Path | None = None, data_dir: str | Path | None = None,
                 warehouse_url: str | None = None, settings: Settings | None = None) -> Settings:
    """`settings` (else the environment's) with the paths a caller named."""
    return (settings or Settings.from_env()).replace(
        sources_file=sources_file, data_dir=data_dir, warehouse_url=warehouse_url)


def source_names(settings: Settings) -> list[str]:
    from spiders.sources import source_names as names

    return names(settings.sources_file)


def crawl(source: str, start: str | datetime, end: str | datetime, *,
          sources_file: str | Path, data_dir: str | Path, warehouse_url: str | None = None,
          refetch: bool = False, settings: Settings | None = None) -> dict[str, Any]:
    """Crawl one source's window (spiders.run.crawl). With `warehouse_url`, what earlier runs
    fetched is exported from the warehouse first and not fetched again unless the site signals
    a change; `refetch` ignores that memory (e.g. after a parser fix)."""
    from spiders.run import crawl as crawl_window

    settings = settings_for(sources_file, data_dir, warehouse_url, settings)
    if not warehouse_url or refetch:
        return crawl_window(source, start, end, sources_file=settings.sources_file,
                            data_dir=settings.data_dir, settings=settings)
    from etl.migrate import check_schema
    from etl.warehouse import export_known

    def memory(path: Path) -> bool:
        # an empty warehouse (nothing loaded yet) knows nothing; one behind the code fails here
        if not check_schema(warehouse_url, empty_ok=True):
            return False
        export_known(warehouse_url, source, utc(start), utc(end), path)
        return True

    return crawl_window(source, start, end, sources_file=settings.sources_file,
                        data_dir=settings.data_dir, export_known=memory, settings=settings)


def migrate(settings: Settings) -> dict[str, str | None]:
    """The deploy step: the warehouse at this code's schema (the other steps only check it)."""
    from etl.migrate import migrate as upgrade

    return upgrade(settings.warehouse)


def transform(start: str | datetime, end: str | datetime, sources: list[str],
              settings: Settings) -> dict[str, Any]:
    from etl.transform import transform as transform_window

    return transform_window(start, end, sources=list(sources), data_dir=settings.data_dir,
                            warehouse_url=settings.warehouse, chunk_rows=settings.chunk_rows,
                            workers=settings.workers, neardup=settings.neardup)


def load_lake(start: str | datetime, end: str | datetime, run_id: str,
              settings: Settings) -> dict[str, Any]:
    from etl.load import load_lake as load

    return load(start, end, data_dir=settings.data_dir, run_id=run_id,
                workers=settings.workers, neardup=settings.neardup)


def load_warehouse(start: str | datetime, end: str | datetime, run_id: str,
                   settings: Settings) -> dict[str, Any]:
    from etl.load import load_warehouse as load

    return load(start, end, data_dir=settings.data_dir, warehouse_url=settings.warehouse,
                run_id=run_id)


def check(start: str | datetime, end: str | datetime, run_id: str | None,
          settings: Settings) -> dict[str, Any]:
    from etl.load import check as check_window

    return check_window(start, end, data_dir=settings.data_dir,
                        warehouse_url=settings.warehouse, run_id=run_id,
                        max_quarantine_share=settings.max_quarantine_share,
                        neardup=settings.neardup)


def run(start: str, end: str, *, sources_file: str | Path, data_dir: str | Path,
        warehouse_url: str, run_id: str, only: list[str] | None = None,
        refetch: bool = False, settings: Settings | None = None) -> dict:
    """Crawl every configured source for [start, end), then transform, load and check."""
    from spiders.sources import load_sources

    settings = settings_for(sources_file, data_dir, warehouse_url, settings)
    migrate(settings)  # a fresh or behind warehouse; the steps below only check
    names = only or list(load_sources(sources_file))
    crawls = [crawl(n, start, end, sources_file=sources_file, data_dir=data_dir,
                    warehouse_url=warehouse_url, refetch=refetch, settings=settings)
              for n in names]
    for c in crawls:
        print(f"crawled {c['source']} ({c['mode']}) from the {c['where']}: {c['items']} "
              f"articles, {c['pages_fetched']} pages", file=sys.stderr)
    staged = transform(start, end, names, settings)
    lake = load_lake(start, end, run_id, settings)
    wh = load_warehouse(start, end, run_id, settings)
    checked = check(start, end, None, settings)
    return {"run_id": run_id, "crawls": crawls, "transform": staged, "lake": lake,
            "warehouse": wh, "check": checked}


def recrawl(path: Path, settings: Settings) -> str:
    """`nightdesk repair` of a raw window: crawl it again, ignoring the crawl memory, then
    transform and load it (every source that has a complete crawl of that window, so its staged
    figures stay whole)."""
    from contracts.layout import parse_window_dir
    from spiders.sources import load_sources

    folder = path.parent
    source, start, end = parse_window_dir(folder)
    if source not in load_sources(settings.sources_file):
        return f"not repaired: {source} is not in {settings.sources_file} (pass --sources)"
    data_dir, url = settings.data_dir, settings.warehouse
    crawl(source, start, end, sources_file=settings.sources_file, data_dir=data_dir,
          warehouse_url=url, refetch=True, settings=settings)
    sources = sorted(parse_window_dir(p.parent)[0]
                     for p in Path(data_dir, "raw").glob(f"source=*/{folder.name}/stats.json"))
    run_id = f"repair__{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ}__{uuid.uuid4().hex[:8]}"
    transform(start, end, sources, settings)
    load_lake(start, end, run_id, settings)
    load_warehouse(start, end, run_id, settings)
    return f"crawled {source} again for {folder.name} and reloaded it (run {run_id})"
