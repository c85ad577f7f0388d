"""Load a staged window into the lake and the warehouse, then check that both agree.

Each function is one task of the DAG and one step of `nightdesk run`; each is a transaction that
a retry or rerun repeats without changing anything.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from contracts.dates import utc
from contracts.layout import staging_dir, window_label
from contracts.settings import DEFAULT_MAX_QUARANTINE_SHARE
from etl import clusters, health, lake, migrate, runids, verify, warehouse
from etl.clean import clean_quarantine
from etl.transform import staged_partitions

log = logging.getLogger(__name__)


WAREHOUSE_BATCH_ROWS = 20_000
_HASHES = ("article_id", "content_hash")  # what the stored-content comparisons read
# The columns health.Tally reads: only these become pandas.
_TALLIED = ("authors", "published_at_from", "word_count")


class CheckFailed(RuntimeError):
    pass


def _staged(data_dir: str | Path, start: datetime, end: datetime):
    """(staged partition files, quarantine rows, manifest) of a transformed window."""
    folder = staging_dir(data_dir, start, end)
    if not (folder / "manifest.json").exists():
        raise FileNotFoundError(f"nothing staged for {window_label(start, end)}: run transform")
    # Valid and within limits even when staged by an older release (a rerun after an upgrade).
    quarantine = clean_quarantine(pq.read_table(folder / "quarantine.parquet").to_pandas())
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    fetched = folder / "fetched.parquet"
    manifest["fetched"] = pq.read_table(fetched).to_pandas() if fetched.exists() else None
    return staged_partitions(folder), quarantine, manifest


def _staged_keys(partitions: list[Path]) -> pd.DataFrame:
    frames = [pq.read_table(p, columns=["article_id", "source", "content_hash"]).to_pandas()
              for p in partitions]
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=["article_id", "source", "content_hash"]))


def _source_batches(partitions: list[Path], max_rows: int = WAREHOUSE_BATCH_ROWS
                    ) -> Iterator[tuple[str, pa.Table]]:
    """(source, rows) from consecutive staged partitions of one source, up to `max_rows` rows
    at a time: hundreds of small partitions one by one spent most of the load in per-call
    overhead, one giant frame would cost memory."""
    pending: list[pa.Table] = []
    size, current = 0, None
    for path in partitions:  # sorted by path: one source's partitions are consecutive
        # ParquetFile, not read_table: the same table without the dataset layer, whose set-up
        # per file was a third of the read over hundreds of small partitions.
        with pq.ParquetFile(path) as file:
            table = file.read()
        source = table["source"][0].as_py()
        if pending and (source != current or size + len(table) > max_rows):
            yield current, pa.concat_tables(pending)
            pending, size = [], 0
        pending.append(table)
        size += len(table)
        current = source
    if pending:
        yield current, pa.concat_tables(pending)


def _read_ahead(batches: Iterator[tuple[str, pa.Table]]
                ) -> Iterator[tuple[str, pa.Table]]:
    """`batches`, the next one read in a thread while the caller loads this one: Parquet decoding
    and SQLite's inserts both release the GIL, so with a spare core the reads overlap the
    inserts. Memory: one batch more."""
    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(next, batches, None)
        while (batch := ahead.result()) is not None:
            ahead = pool.submit(next, batches, None)
            yield batch


def load_lake(start: str | datetime, end: str | datetime, *, data_dir: str | Path,
              run_id: str, workers: int | None = None, neardup: bool = True) -> dict[str, Any]:
    """The staged window into the lake, merged in `workers` threads (default: one per core);
    with `neardup`, its near-duplicate labels brought up to date and the index installed."""
    start, end = utc(start), utc(end)
    partitions, quarantine, _ = _staged(data_dir, start, end)

    def merge() -> dict[str, Any]:
        return lake.load_staged(partitions, data_dir, run_id, workers=workers)

    # Labels, lake and index under one lock: two windows at once label as one after the other.
    folder = staging_dir(data_dir, start, end)
    counts = (clusters.load_window(folder, partitions, data_dir, merge)
              if neardup else merge())
    lake.write_quarantine(quarantine, data_dir, window_label(start, end))
    if counts.get("damaged_partitions"):  # the others are loaded; the check fails on these
        log.error("damaged lake partitions left as they were (run `nightdesk repair`): %s",
                  counts["damaged_partitions"])
    log.info("lake load figures: %s", json.dumps(counts, sort_keys=True))
    return counts


def load_warehouse(start: str | datetime, end: str | datetime, *, data_dir: str | Path,
                   warehouse_url: str, run_id: str) -> dict[str, Any]:
    """Articles, quarantine and the runs rows of this run, in ONE transaction; nothing when this
    run has loaded this window's same content already. Then the window's lake rows take the run
    ids the warehouse recorded (etl/runids.py)."""
    start, end = utc(start), utc(end)
    eng = warehouse.engine(warehouse_url)
    migrate.check_schema(eng)
    partitions, quarantine, manifest = _staged(data_dir, start, end)
    with eng.begin() as conn:
        done = _already_loaded(conn, run_id, start, end, partitions, manifest)
    held: list[pa.Table] = []  # the run ids the load gave (warehouse.upsert_articles says when)
    if done is not None:  # a retry must change nothing, not even the run's figures
        log.info("run %s already loaded this window's content; nothing to do", run_id)
    else:
        figures = _load(eng, start, end, partitions, quarantine, manifest, run_id, data_dir,
                        held)
    with eng.connect() as conn:  # the lake's rows name the runs the warehouse recorded
        runids.align_lake(data_dir, partitions, conn,
                          pa.concat_tables(held) if held else None)
    eng.dispose()
    if done is not None:
        return done
    log.info("warehouse load figures: %s", json.dumps(figures, sort_keys=True))
    return figures


def _load(eng: sa.Engine, start: datetime, end: datetime, partitions: list[Path],
          quarantine: pd.DataFrame, manifest: dict[str, Any], run_id: str,
          data_dir: str | Path, held: list[pa.Table]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with eng.begin() as conn:
        warehouse.upsert_quarantine(conn, quarantine, run_id)
        finished = datetime.now(UTC)
        counted = {s: {"inserted": 0, "updated": 0, "unchanged": 0} for s in manifest["sources"]}
        tallies = {s: health.Tally() for s in manifest["sources"]}
        loaded: set[str] = set()
        for source, rows in _read_ahead(_source_batches(partitions)):  # bounded memory
            loaded.update(rows["article_id"].to_pylist())
            for key, n in warehouse.upsert_articles(conn, rows, run_id, held).items():
                counted[source][key] += n
            tallies[source].add(rows.select(list(_TALLIED)).to_pandas())
        loaded_at = datetime.now(UTC)
        if manifest["fetched"] is not None:
            memory = _safe_memory(manifest["fetched"], loaded, manifest, quarantine)
            warehouse.upsert_crawl_state(conn, memory, run_id, finished)
        for source, crawl in manifest["sources"].items():
            counts = counted[source]
            started = pd.to_datetime(crawl.get("started_at"), utc=True)
            row = {
                "run_id": run_id, "source": source, "interval_start": start, "interval_end": end,
                "mode": crawl.get("mode"),
                **{k: int(crawl.get(k, 0)) for k in ("pages_fetched", "items", "rejected",
                                                      "duplicates", "discovery_requests",
                                                      "article_requests", "known_skipped",
                                                      "requests", "near_duplicates")},
                **counts,
                "started_at": started.to_pydatetime() if pd.notna(started) else finished,
                "finished_at": finished,
                **health.night_columns(tallies[source], quarantine[quarantine["source"] == source],
                                       health.crawl_stats(data_dir, source, start, end),
                                       loaded_at),
            }
            warehouse.record_run(conn, row)
            figures[source] = {k: row[k] for k in warehouse.RUN_FIGURES}
    return figures


def _safe_memory(fetched: pd.DataFrame, loaded: set[str], manifest: dict[str, Any],
                 quarantine: pd.DataFrame) -> pd.DataFrame:
    """The crawl-memory rows whose verdict is safe in this load: an article in the lake (loaded
    before) and in this transaction, a duplicate of a stored one, one re-baselined without a
    fetch (known already), or a reject or quarantine row written in this transaction. A row
    whose article is missing (a raw file cut short) is left out, so the next night fetches it."""
    if fetched.empty:
        return fetched
    ids = fetched["article_id"].astype("object")
    safe = (ids.isin(loaded) | ids.isin([d["article_id"] for d in manifest["duplicates"]])
            | fetched["fetched_at"].isna() | ids.isin(quarantine["article_id"].dropna()))
    safe |= ids.str.contains(":~", regex=False) & fetched["url"].isin(quarantine["url"])
    limit = warehouse.crawl_state.c.url.type.length  # None: unbounded text
    if limit is None:
        return fetched[safe]
    # a bounded crawl_state.url: a longer URL is simply judged again next night
    return fetched[safe & (fetched["url"].str.len() <= limit)]


# Verdicts that say nothing about the site's health: they do not count towards the quarantine
# share the check alarms on (a night of old pages listed as new is not a markup change).
ROUTINE_REJECTS = ("out_of_window", "offsite", "duplicate", "robots")


def _already_loaded(conn: sa.Connection, run_id: str, start: datetime, end: datetime,
                    partitions: list[Path], manifest: dict[str, Any]
                    ) -> dict[str, Any] | None:
    """The figures this run recorded for this window, if its load committed and the warehouse
    still holds exactly the staged content; else None (load). The run id alone is never enough:
    a run id given again for another window, or a window transformed again under the same run
    id (a cleared Airflow task), is loaded."""
    runs = warehouse.runs
    done = conn.execute(sa.select(runs).where(
        runs.c.run_id == run_id, runs.c.interval_start == start, runs.c.interval_end == end,
    )).mappings().all()
    if not done or not set(manifest["sources"]) <= {row["source"] for row in done}:
        return None
    staged = _staged_keys(partitions)
    stored = warehouse.lookup(conn, "article_id", staged["article_id"].tolist(), _HASHES)
    held = dict(zip(stored["article_id"], stored["content_hash"], strict=True))
    if any(held.get(a) != h for a, h in zip(staged["article_id"], staged["content_hash"],
                                             strict=True)):
        return None
    return {row["source"]: {k: row[k] for k in warehouse.RUN_FIGURES} for row in done}


def check(start: str | datetime, end: str | datetime, *, data_dir: str | Path,
          warehouse_url: str, run_id: str | None = None,
          max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE, neardup: bool = True
          ) -> dict[str, Any]:
    """The lake and the warehouse hold this window's articles with the same content, the
    share of quarantined pages stays at most `max_quarantine_share`, and every source is
    healthy (etl/health.py: the run's rows, `run_id`, else the window's latest). The
    near-duplicate index is checked when `neardup` is on."""
    start, end = utc(start), utc(end)
    partitions, quarantine, manifest = _staged(data_dir, start, end)
    batch = _staged_keys(partitions)
    ids = set(batch["article_id"])
    # This window's lake partitions in full, the cheap verify for the rest (etl/verify.py):
    # a damaged file is named with its fix, never fatal to the reading.
    folder = staging_dir(data_dir, start, end) / "batch"
    in_lake, dup_in_lake, damage = verify.window_lake(
        data_dir, [lake.articles_root(data_dir) / p.relative_to(folder) for p in partitions],
        neardup=neardup)
    eng = warehouse.engine(warehouse_url)
    with eng.connect() as conn:
        found = warehouse.lookup(conn, "article_id", sorted(ids), _HASHES)
    eng.dispose()
    in_sql = dict(zip(found["article_id"], found["content_hash"], strict=True))
    problems = [str(d) for d in damage]
    if dup_in_lake:
        problems.append(f"{dup_in_lake} article ids stored twice in the lake")
    for article_id, content_hash in zip(batch["article_id"], batch["content_hash"], strict=True):
        if in_lake.get(article_id) != content_hash:
            problems.append(f"{article_id}: lake has {in_lake.get(article_id)}")
        if in_sql.get(article_id) != content_hash:
            problems.append(f"{article_id}: warehouse has {in_sql.get(article_id)}")
    # known and unchanged pages count as seen: a rerun that skips them all is not "all rejects"
    seen = sum(s.get("items", 0) + s.get("crawl_rejects", 0) + s.get("known_skipped", 0)
               for s in manifest["sources"].values())
    failed = int((~quarantine["reason"].isin(ROUTINE_REJECTS)).sum()) if len(quarantine) else 0
    share = failed / seen if seen else 0.0
    limit = max_quarantine_share
    if share > limit:
        problems.append(f"{failed} of {seen} pages quarantined "
                        f"({share:.0%} > {limit:.0%}); has the site's markup changed? "
                        "See the quarantine table")
    verdict = health.check_night(warehouse_url, start, end, run_id)
    problems += verdict["failures"]
    for warning in verdict["warnings"]:
        log.warning("source health: %s", warning)
    result = {"window": window_label(start, end), "articles": len(ids),
              "quarantined": len(quarantine), "quarantine_share": round(share, 4),
              "health": verdict["sources"], "warnings": verdict["warnings"],
              "problems": problems[:20]}
    log.info("check figures: %s", json.dumps(result, sort_keys=True))
    if problems:
        raise CheckFailed(f"checks failed for {result['window']}: " + "; ".join(problems[:5]))
    return result
