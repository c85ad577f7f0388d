"""Transform one data interval: read what the crawls landed, clean, validate, deduplicate, stage.

Input: `{data}/raw/source=S/window=W/` of every source (complete only with stats.json).
Output, replaced atomically: `{data}/staging/window=W/` with batch.parquet (clean, deduplicated
articles), quarantine.parquet (what cannot be loaded, with reasons) and manifest.json (per-source
figures for the runs table).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from etl import dedupe, warehouse
from etl.clean import clean
from etl.config import utc, window_label
from etl.lake import write_atomic
from etl.schema import CRAWL_FIELDS, FIELDS, arrow_schema
from etl.validate import split_valid

log = logging.getLogger(__name__)

QUARANTINE_COLUMNS = ("source", "url", "stage", "article_id", "reason", "interval_start",
                      "interval_end", "seen_at", "payload")


class MissingCrawl(RuntimeError):
    pass


def staging_dir(data_dir: str | Path, start: datetime, end: datetime) -> Path:
    return Path(data_dir) / "staging" / f"window={window_label(start, end)}"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_raw(data_dir: str | Path, source: str, start: datetime, end: datetime):
    from spiders.run import window_dir  # the crawl owns its output layout

    folder = window_dir(data_dir, source, start, end)
    stats = folder / "stats.json"
    if not stats.exists():
        raise MissingCrawl(f"no complete crawl of {source} for {window_label(start, end)} "
                           f"(missing {stats}); run the crawl first")
    articles = pd.DataFrame(_read_jsonl(folder / "articles.jsonl"), columns=list(CRAWL_FIELDS))
    rejects = _read_jsonl(folder / "rejects.jsonl")
    fetched = pd.DataFrame(_read_jsonl(folder / "fetched.jsonl"),
                           columns=["source", "article_id", "url", "signal", "fetched_at"])
    return articles, rejects, fetched, json.loads(stats.read_text(encoding="utf-8"))


def _staging_schema() -> pa.Schema:
    keep = [f.name for f in FIELDS if f.origin != "load"]
    schema = arrow_schema()
    return pa.schema([schema.field(n) for n in keep])


def _empty_batch() -> pd.DataFrame:
    return _staging_schema().empty_table().to_pandas()


def _dedupe(valid: pd.DataFrame, warehouse_url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Within the batch, then against what the warehouse already holds."""
    batch, dup_in = dedupe.within_batch(valid)
    eng = warehouse.engine(warehouse_url)
    warehouse.create_schema(eng)
    with eng.connect() as conn:
        loaded = pd.concat([warehouse.lookup(conn, "url_key", batch["url_key"].tolist()),
                            warehouse.lookup(conn, "content_hash",
                                             batch["content_hash"].tolist())],
                           ignore_index=True)
    eng.dispose()
    batch, dup_loaded = dedupe.against_loaded(batch, loaded)
    return batch, pd.concat([dup_in, dup_loaded], ignore_index=True)


def transform(start: str | datetime, end: str | datetime, *, sources: list[str],
              data_dir: str | Path, warehouse_url: str) -> dict[str, Any]:
    start, end = utc(start), utc(end)
    frames, quarantine, manifest, fetched = [], [], {}, []
    for source in sources:
        articles, rejects, fetched_rows, stats = read_raw(data_dir, source, start, end)
        frames.append(articles)
        fetched.append(fetched_rows)
        for r in rejects:
            quarantine.append({"source": source, "url": r.get("url"), "stage": r.get("stage"),
                               "article_id": None, "reason": r.get("reason"),
                               "seen_at": r.get("at"), "payload": None})
        manifest[source] = {
            "pages_fetched": int(stats.get("nightdesk/article_requests", 0))
            - int(stats.get("nightdesk/article_failed", 0)),
            "items": len(articles),
            "crawl_rejects": len(rejects),
            "discovery_requests": int(stats.get("nightdesk/discovery_requests", 0)),
            "requests": int(stats.get("downloader/request_count", 0)),
            "started_at": stats.get("start_time"),
            "mode": stats.get("nightdesk/mode"),
            "article_requests": int(stats.get("nightdesk/article_requests", 0)),
            "known_skipped": int(stats.get("nightdesk/known_skipped", 0)),
        }
    frames = [f for f in frames if not f.empty]
    raw = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CRAWL_FIELDS)
    batch, duplicates = _empty_batch(), pd.DataFrame(columns=["article_id", "duplicate_of",
                                                              "source"])
    if not raw.empty:
        valid, invalid = split_valid(clean(raw))
        for _, row in invalid.iterrows():
            quarantine.append({
                "source": row["source"], "url": row["url"] or f"(no url) {row['article_id']}",
                "stage": "validate", "article_id": row["article_id"], "reason": row["reason"],
                "seen_at": row["crawled_at"] if pd.notna(row["crawled_at"]) else None,
                "payload": json.dumps(raw.loc[row.name].to_dict(), default=str,
                                      ensure_ascii=False),
            })
        if not valid.empty:
            batch, duplicates = _dedupe(valid, warehouse_url)

    q = pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS))
    q["interval_start"], q["interval_end"] = start, end
    q["seen_at"] = pd.to_datetime(q["seen_at"], utc=True, errors="coerce").fillna(
        pd.Timestamp.now(tz="UTC"))
    for source, figures in manifest.items():
        figures["rejected"] = int((q["source"] == source).sum())
        figures["duplicates"] = int((duplicates["source"] == source).sum())
        figures["valid"] = int((batch["source"] == source).sum())
    out = staging_dir(data_dir, start, end)
    table = pa.Table.from_pandas(batch[_staging_schema().names], schema=_staging_schema(),
                                 preserve_index=False)
    write_atomic(table, out / "batch.parquet")
    write_atomic(pa.Table.from_pandas(q.astype({"payload": "object"}), preserve_index=False),
                 out / "quarantine.parquet")
    fetched_all = pd.concat(fetched, ignore_index=True).astype("object")
    write_atomic(pa.Table.from_pandas(fetched_all, preserve_index=False,
                                      schema=pa.schema([(c, pa.string())
                                                        for c in fetched_all.columns])),
                 out / "fetched.parquet")
    doc = {"interval_start": start.isoformat(), "interval_end": end.isoformat(),
           "sources": manifest,
           "duplicates": duplicates[["article_id", "duplicate_of"]].to_dict("records")
           if not duplicates.empty else []}
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, out / "manifest.json")
    summary = {"window": window_label(start, end), "articles": len(batch),
               "quarantined": len(q), "duplicates": len(duplicates), "sources": manifest}
    log.info("transform figures: %s", json.dumps(summary, default=str, sort_keys=True))
    return summary
