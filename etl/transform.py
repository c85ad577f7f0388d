"""Transform one data interval: read what the crawls landed, clean, validate, deduplicate, stage.

Input: `{data}/raw/source=S/window=W/` of every source (complete only with stats.json).
Output, replaced as a whole: `{data}/staging/window=W/` with
- `batch/source=S/published_month=M/part-0.parquet`: clean, deduplicated articles, already split
  by lake partition so the loads can work one partition at a time;
- quarantine.parquet (what cannot be loaded, with reasons), fetched.parquet (crawl memory);
- manifest.json (per-source figures for the runs table), written last.

Memory stays bounded whatever the window holds: articles are read, cleaned and validated in chunks
and spilled to temporary Parquet parts; deduplication runs on their keys only (id, URL key,
content hash, dates); a last pass copies the survivors into the partitioned batch.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import logging
import multiprocessing
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from contracts.dates import utc
from contracts.fsutil import release, replace_dir, sweep, work_dir
from contracts.layout import staging_dir, window_dir, window_label
from contracts.schema import CRAWL_FIELDS, EARLIEST, FUTURE_SLACK, LIST_FIELDS, batch_schema
from contracts.settings import DEFAULT_CHUNK_ROWS, default_workers
from etl import clusters, dedupe, migrate, warehouse
from etl.clean import clean, clean_fetched, clean_quarantine
from etl.lake import write_atomic
from etl.validate import split_valid

log = logging.getLogger(__name__)

# A worker peaks at about 470 MB cleaning 5000 articles (650 MB at 10000): two workers and the
# parent stay well under 2 GB.
CHUNK_ROWS = DEFAULT_CHUNK_ROWS  # the entry point passes Settings.chunk_rows
# Staged files live for a night and are read whole two or three times (the lake merge, the
# warehouse load, the check): LZ4 decodes several times faster than zstd, for more bytes.
# The lake keeps zstd.
STAGED_COMPRESSION = "lz4"
QUARANTINE_COLUMNS = ("source", "url", "stage", "article_id", "reason", "interval_start",
                      "interval_end", "seen_at", "payload")
FETCHED_COLUMNS = ("source", "article_id", "url", "signal", "fetched_at")
KEY_COLUMNS = ("article_id", "source", "crawled_at", "published_at", "url_key", "content_hash")


class MissingCrawl(RuntimeError):
    pass


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        # An escaped lone surrogate (a hostile page's URL) cannot become an Arrow string.
        return [_scrub(json.loads(line)) if "\\ud" in line.lower() else json.loads(line)
                for line in fh if line.strip()]


def _spans(path: Path, rows: int) -> list[tuple[int, int, int]]:
    """(byte offset, byte length, first line number) of consecutive chunks of `rows` lines, so
    that workers can each read their own chunk of a large file."""
    spans: list[tuple[int, int, int]] = []
    if not path.exists():
        return spans
    start = pos = count = 0
    first = 1
    with open(path, "rb") as fh:
        for line in fh:
            pos += len(line)
            count += 1
            if count == rows:
                spans.append((start, pos - start, first))
                start, first, count = pos, first + count, 0
    if count:
        spans.append((start, pos - start, first))
    return spans


def _read_chunk(path: Path, source: str, span: tuple[int, int, int]
                ) -> tuple[pd.DataFrame, list[dict]]:
    """One chunk of raw articles; a line that is not a JSON object becomes a quarantine row."""
    offset, length, lineno = span
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    fast = _read_arrow(data)
    return (fast, []) if fast is not None else _read_python(data, path.name, source, lineno)


def _read_python(data: bytes, name: str, source: str, lineno: int
                 ) -> tuple[pd.DataFrame, list[dict]]:
    records, broken = [], []
    # Chunks end at b"\n", which never falls inside a UTF-8 sequence: decoding per chunk is
    # the same as decoding the file.
    for line in io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace"):
        if line.strip():
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
                if "\\ud" in line or "\\uD" in line:  # maybe an escaped lone surrogate
                    rec = _scrub(rec)
                records.append(rec)
            except ValueError as exc:
                broken.append({"source": source, "url": f"{name}:{lineno}",
                               "stage": "raw", "article_id": None,
                               "reason": f"unreadable JSON line: {exc}", "seen_at": None,
                               "payload": line[:10000]})
        lineno += 1
    return _nulls_as_none(pd.DataFrame(records, columns=list(CRAWL_FIELDS))), broken


def _nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """A column with no value in the chunk (absent or null in every line) as object None,
    whichever reader made it."""
    for name in frame.columns[frame.isna().all()]:
        frame[name] = pd.Series([None] * len(frame), dtype=object, index=frame.index)
    return frame


@functools.cache
def _raw_schema() -> pa.Schema:
    return pa.schema([(name, pa.list_(pa.string()) if name in LIST_FIELDS else pa.string())
                      for name in CRAWL_FIELDS])


def _read_arrow(data: bytes) -> pd.DataFrame | None:
    """The chunk parsed by Arrow's JSON reader (~7x faster than json.loads and a DataFrame of
    dicts, and a fraction of the memory), or None when any line needs the careful path: not
    JSON, not an object, a value of another type, bytes that are not UTF-8, or an escape that
    may be a lone surrogate. The result has the dtypes the careful path gives."""
    if b"\\ud" in data or b"\\uD" in data:
        return None
    try:
        data.decode("utf-8")  # Arrow's JSON reader does not check
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(block_size=max(len(data), 1 << 20)),
            parse_options=pa_json.ParseOptions(explicit_schema=_raw_schema(),
                                               unexpected_field_behavior="ignore"))
    except (UnicodeDecodeError, pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    frame = table.drop_columns(list(LIST_FIELDS)).to_pandas()
    for name in LIST_FIELDS:  # Python lists, as json.loads makes them (not numpy arrays)
        frame[name] = pd.Series(table[name].to_pylist(), dtype=object)
    return _nulls_as_none(frame[list(CRAWL_FIELDS)])


_SURROGATE = re.compile("[\ud800-\udfff]")


def _scrub(value: Any) -> Any:
    """Lone surrogates (JSON can escape them; UTF-8 cannot encode them, so Arrow, hashing and
    the warehouse would fail on the whole batch) become U+FFFD, in every string of a record."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True)
class _Chunk:
    path: Path
    source: str
    span: tuple[int, int, int]
    part: Path
    sketch: Path | None  # where its near-duplicate sketches go; None: clustering is off


# What clean() made valid, counted per source in the manifest (and the transform's figures).
CLEANED = ("cleaned_chars", "dropped_dates")
_Result = tuple[int, list[dict[str, Any]], pd.DataFrame | None, dict[str, int]]


def _process_chunk(chunk: _Chunk) -> _Result:
    """Read, clean and validate one chunk; write its valid rows to `chunk.part` and their
    near-duplicate sketches to `chunk.sketch`. Returns (lines read, quarantine rows, keys of the
    valid rows or None, CLEANED counts). Runs in a worker process for large windows: only the
    small keys and quarantine rows travel back."""
    raw, quarantine = _read_chunk(chunk.path, chunk.source, chunk.span)
    items = len(raw) + len(quarantine)
    if raw.empty:
        return items, quarantine, None, {}
    sketcher = clusters.PartSketcher() if chunk.sketch else None
    cleaned = clean(raw, sketcher.count_words) if sketcher else clean(raw)
    counts = {k: int(cleaned.attrs.get(k, 0)) for k in CLEANED}
    cleaned.attrs.clear()  # pandas deep-copies attrs into every frame derived from this one
    valid, invalid = split_valid(cleaned)
    quarantine += _quarantine_rows(invalid, raw)
    if valid.empty:
        return items, quarantine, None, counts
    schema = batch_schema()
    pq.write_table(pa.Table.from_pandas(valid[schema.names], schema=schema,
                                        preserve_index=False), chunk.part,
                   compression=STAGED_COMPRESSION)
    if sketcher and chunk.sketch:  # the labels come after dedupe
        sketcher.save(cleaned.index.get_indexer(valid.index), chunk.sketch)
    return items, quarantine, valid[list(KEY_COLUMNS)].assign(_row=np.arange(len(valid))), counts


def _run_chunks(chunks: list[_Chunk], n_workers: int) -> Iterator[_Result]:
    """Results in chunk order, whatever order the workers finish in (the dedupe's tie-breaks
    must not depend on timing). A night's few dozen articles stay in this process."""
    # A daemonic process (some executors' workers) may not start children: clean in-process.
    if n_workers <= 1 or len(chunks) <= 1 or multiprocessing.current_process().daemon:
        yield from map(_process_chunk, chunks)
        return
    # spawn, not fork: the parent holds Arrow's thread pools, whose locks a fork can copy
    # mid-use; a fresh interpreter costs about a second.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(n_workers, len(chunks)), mp_context=ctx) as pool:
        yield from pool.map(_process_chunk, chunks)


def _crawl_window(data_dir: str | Path, source: str, start: datetime, end: datetime) -> Path:

    folder = window_dir(data_dir, source, start, end)
    if not (folder / "stats.json").exists():
        raise MissingCrawl(f"no complete crawl of {source} for {window_label(start, end)} "
                           f"(missing {folder / 'stats.json'}); run the crawl first")
    return folder


def _figures(stats: dict[str, Any], items: int, rejects: int) -> dict[str, Any]:
    def n(key: str) -> int:
        return int(stats.get(key, 0) or 0)

    return {
        "pages_fetched": n("nightdesk/article_requests") - n("nightdesk/article_failed")
        - n("nightdesk/article_robots"),
        "items": items,
        "crawl_rejects": rejects,
        "discovery_requests": n("nightdesk/discovery_requests"),
        "article_requests": n("nightdesk/article_requests"),
        "known_skipped": n("nightdesk/known_skipped"),
        "requests": n("downloader/request_count"),
        "started_at": stats.get("start_time"),
        "mode": stats.get("nightdesk/mode"),
        **dict.fromkeys(CLEANED, 0),
    }


def _raw_count_check(source: str, path: Path, lines: int, counted: int | None
                     ) -> list[dict[str, Any]]:
    """A raw articles file whose line count disagrees with the crawl's own count (its stats) was
    cut short or added to: flagged as a quarantine row and in the log, never passed silently.
    The crawl memory is recorded only for what was loaded (etl/load.py), so the missing
    articles are fetched again next night."""
    if counted is None or int(counted) == lines:
        return []
    detail = (f"{path.name} holds {lines} lines but the crawl counted {counted} articles; "
              "missing ones are fetched again next night (re-crawl the window to get them now)")
    log.warning("raw file %s: %s", path, detail)
    where = "/".join(path.parts[-4:])  # raw/source=S/window=W/articles.jsonl, in the data dir
    return [{"source": source, "url": where, "stage": "raw", "article_id": None,
             "reason": "raw_count_mismatch", "seen_at": None, "payload": detail}]


def _quarantine_rows(invalid: pd.DataFrame, raw: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for idx, row in invalid.iterrows():
        rows.append({
            "source": row["source"],
            "url": row["url"] if isinstance(row["url"], str) and row["url"]
            else f"(no url) {row['article_id']}",
            "stage": "validate", "article_id": row["article_id"], "reason": row["reason"],
            "seen_at": row["crawled_at"] if pd.notna(row["crawled_at"]) else None,
            "payload": json.dumps(raw.loc[idx].to_dict(), default=str, ensure_ascii=False),
        })
    return rows


_DEDUPE_KEYS = ("article_id", "url_key", "content_hash")  # what dedupe.against_loaded reads


def _existing(keys: pd.DataFrame, warehouse_url: str) -> pd.DataFrame:
    """Stored articles sharing a URL key or content hash with the batch."""
    eng = warehouse.engine(warehouse_url)
    if not migrate.check_schema(eng, empty_ok=True):  # nothing loaded yet: nothing to look up
        keys = keys.iloc[:0]
    with eng.connect() as conn:
        found = pd.concat([warehouse.lookup(conn, key, keys[key].tolist(), _DEDUPE_KEYS)
                           for key in ("url_key", "content_hash")], ignore_index=True)
    eng.dispose()
    return found


def transform(start: str | datetime, end: str | datetime, *, sources: list[str],
              data_dir: str | Path, warehouse_url: str, chunk_rows: int | None = None,
              workers: int | None = None, neardup: bool = True) -> dict[str, Any]:
    """`chunk_rows` articles per worker task (default CHUNK_ROWS), `workers` processes (default:
    one per core), near-duplicate labels when `neardup`; the entry points pass all three from
    the Settings they read."""
    start, end = utc(start), utc(end)
    final = staging_dir(data_dir, start, end)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep(final.parent, abandoned=True)  # what killed transforms left (the "forever")
    work = work_dir(final)
    (work / "parts").mkdir()
    try:
        summary = _transform(start, end, sources, data_dir, warehouse_url, work,
                             chunk_rows or CHUNK_ROWS, workers or default_workers(), neardup)
        replace_dir(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        release(work)
    log.info("transform figures: %s", json.dumps(summary, default=str, sort_keys=True))
    return summary


def _transform(start: datetime, end: datetime, sources: list[str], data_dir: str | Path,
               warehouse_url: str, work: Path, chunk_rows: int, workers: int, neardup: bool
               ) -> dict[str, Any]:
    schema = batch_schema()
    quarantine: list[dict[str, Any]] = []
    fetched: list[pd.DataFrame] = []
    manifest: dict[str, dict[str, Any]] = {}
    keys: list[pd.DataFrame] = []
    parts: list[Path] = []
    chunks: list[_Chunk] = []
    sketch_files: dict[int, Path] = {}
    crawled: dict[str, tuple[Path, int | None]] = {}
    phases: dict[str, float] = {}  # seconds per phase, in the figures: where a long night went
    began = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal began
        now = time.perf_counter()
        phases[name] = round(now - began, 2)
        began = now

    for source in sources:
        folder = _crawl_window(data_dir, source, start, end)
        stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
        rejects = _read_jsonl(folder / "rejects.jsonl")
        # reason is the crawl's slug (out_of_window, http_404, ...); its detail (the page's own
        # date, the verdict, the server's answer) travels as the payload; the url column is
        # unbounded text, so a url_too_long reject keeps its whole URL
        quarantine += [{"source": source, "url": r.get("url"), "stage": r.get("stage"),
                        "article_id": None, "reason": r.get("reason"), "seen_at": r.get("at"),
                        "payload": r.get("detail")} for r in rejects]
        fetched.append(pd.DataFrame(_read_jsonl(folder / "fetched.jsonl"),
                                    columns=list(FETCHED_COLUMNS)))
        manifest[source] = _figures(stats, 0, len(rejects))
        crawled[source] = (folder / "articles.jsonl", stats.get("nightdesk/articles"))
        articles = folder / "articles.jsonl"
        for span in _spans(articles, chunk_rows):
            i = len(chunks)
            chunks.append(_Chunk(articles, source, span,
                                 work / "parts" / f"part-{i:05d}.parquet",
                                 _sketch_file(work, i) if neardup else None))
    for chunk, (items, bad, valid_keys, cleaned) in zip(chunks, _run_chunks(chunks, workers),
                                                         strict=True):
        manifest[chunk.source]["items"] += items
        for key, n in cleaned.items():
            manifest[chunk.source][key] += n
        quarantine += bad
        if valid_keys is not None:
            keys.append(valid_keys.assign(_part=len(parts)))
            if chunk.sketch:
                sketch_files[len(parts)] = chunk.sketch
            parts.append(chunk.part)

    lap("clean_s")
    for source, (path, counted) in crawled.items():
        quarantine += _raw_count_check(source, path, manifest[source]["items"], counted)

    duplicates = pd.DataFrame(columns=["article_id", "duplicate_of", "source"])
    labels: pd.Series | None = None
    if keys:
        # A million rows of keys are ~250 MB a copy: drop each copy once the next exists.
        all_keys = pd.concat(keys, ignore_index=True)
        keys.clear()
        kept, dup_in = dedupe.within_batch(all_keys)
        del all_keys
        kept, dup_loaded = dedupe.against_loaded(kept, _existing(kept, warehouse_url))
        duplicates = pd.concat([dup_in, dup_loaded], ignore_index=True)
        lap("dedupe_s")
        if neardup and len(kept):
            labels = clusters.label_batch(
                kept[["article_id", "_part", "_row"]].assign(
                    published_at=kept["published_at"].fillna(kept["crawled_at"])),
                sketch_files, data_dir,
                work / clusters.STAGED)
            lap("near_duplicates_s")
        _write_batch(parts, kept, work / "batch", schema, labels)
        lap("batch_s")
    else:
        kept = pd.DataFrame(columns=[*KEY_COLUMNS, "_part", "_row"])

    q = clean_quarantine(pd.DataFrame(quarantine, columns=list(QUARANTINE_COLUMNS)))
    q["interval_start"], q["interval_end"] = start, end
    now = pd.Timestamp.now(tz="UTC")
    seen = pd.to_datetime(q["seen_at"], utc=True, errors="coerce", format="ISO8601")
    # A page's bogus crawl time (year 0001, 9999) is no time it was seen: now instead.
    q["seen_at"] = seen.where((seen >= EARLIEST) & (seen <= now + FUTURE_SLACK), now)
    for source, figures in manifest.items():
        figures["rejected"] = int((q["source"] == source).sum())
        figures["duplicates"] = int((duplicates["source"] == source).sum())
        figures["valid"] = int((kept["source"] == source).sum())
        figures["near_duplicates"] = int(
            0 if labels is None else labels[kept["article_id"][kept["source"] == source]]
            .notna().sum())
    write_atomic(pa.Table.from_pandas(q.astype({"payload": "object"}), preserve_index=False),
                 work / "quarantine.parquet")
    fetched_all = clean_fetched(pd.concat(fetched, ignore_index=True).astype("object"))
    write_atomic(pa.Table.from_pandas(fetched_all, preserve_index=False, schema=pa.schema(
        [(c, pa.string()) for c in FETCHED_COLUMNS])), work / "fetched.parquet")
    shutil.rmtree(work / "parts")
    doc = {"interval_start": start.isoformat(), "interval_end": end.isoformat(),
           "sources": manifest,
           "duplicates": duplicates[["article_id", "duplicate_of"]].to_dict("records")}
    (work / "manifest.json").write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    lap("rest_s")
    return {"window": window_label(start, end), "articles": len(kept),
            "quarantined": len(q), "duplicates": len(duplicates), "sources": manifest,
            "phases": phases}


def _sketch_file(work: Path, part: int) -> Path:
    return work / "parts" / f"sketch-{part:05d}.npz"


_BUFFER_BYTES = 256 << 20  # Arrow data _write_batch holds before writing row groups


def _write_batch(parts: list[Path], kept: pd.DataFrame, out: Path, schema: pa.Schema,
                 labels: pd.Series | None = None) -> None:
    """Copy the surviving rows of every part into one file per lake partition, with their
    near-duplicate labels. Rows are buffered per partition up to _BUFFER_BYTES in all: each
    part holds a few rows of hundreds of partitions, and a row group per part and partition
    made the loads read thousands of tiny row groups."""
    keep_rows = kept.groupby("_part")["_row"].apply(np.asarray).to_dict()
    todo = [i for i in range(len(parts)) if i in keep_rows]
    writers: dict[tuple[str, str], pq.ParquetWriter] = {}
    buffered: dict[tuple[str, str], list[pa.Table]] = {}
    size = 0

    def read(i: int) -> pa.Table:
        return pq.read_table(parts[i], schema=schema).take(np.sort(keep_rows[i]))

    def write(key: tuple[str, str]) -> None:
        writers[key].write_table(pa.concat_tables(buffered[key]))

    def flush(pool: ThreadPoolExecutor) -> None:
        for key in buffered:
            if key not in writers:
                path = out / f"source={key[0]}" / f"published_month={key[1]}" / "part-0.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                writers[key] = pq.ParquetWriter(path, schema, compression=STAGED_COMPRESSION)
        list(pool.map(write, buffered))  # one writer per partition: threads never share one
        buffered.clear()

    try:
        # Threads: Parquet decoding and zstd release the GIL, so the next part is read and the
        # partitions are compressed on both cores.
        with ThreadPoolExecutor(2) as pool:
            ahead = pool.submit(read, todo[0]) if todo else None
            for n in range(len(todo)):
                table = ahead.result()
                ahead = pool.submit(read, todo[n + 1]) if n + 1 < len(todo) else None
                # Only the keys in pandas: bodies as Python strings would cost memory and time.
                if labels is not None:
                    ids = table["article_id"].to_pandas()
                    column = schema.get_field_index("duplicate_of")
                    table = table.set_column(column, schema.field(column), pa.array(
                        ids.map(labels).astype("object").where(lambda v: v.notna(), None),
                        pa.string()))
                df = pd.DataFrame({"source": table["source"].to_numpy(zero_copy_only=False),
                                   "month": pc.strftime(table["published_at"], "%Y-%m")
                                   .to_numpy(zero_copy_only=False)})
                groups = df.groupby(["source", "month"]).indices
                # One take puts the part in partition order; each partition is then a
                # zero-copy slice (a take per partition cost ~5x more in all).
                table = table.take(np.concatenate(list(groups.values())))
                pos = 0
                for key, idx in groups.items():
                    buffered.setdefault(key, []).append(table.slice(pos, len(idx)))
                    pos += len(idx)
                size += table.nbytes
                if size >= _BUFFER_BYTES:
                    flush(pool)
                    size = 0
            flush(pool)
    finally:
        for writer in writers.values():
            writer.close()


def staged_partitions(folder: Path) -> list[Path]:
    return sorted((folder / "batch").glob("source=*/published_month=*/part-0.parquet"))
