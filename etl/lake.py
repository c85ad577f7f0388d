"""The Parquet lake: `{data_dir}/lake/articles/source=S/published_month=YYYY-MM/part-0.parquet`.

Partitioned by data (source, UTC publication month), never by run. Months rather than days: years
of news by day would be tens of thousands of tiny files; a month of one source is a few MB.
A load merges the batch into each partition it touches and replaces the partition's one file
atomically (a hidden temp file in the same folder, fsync, rename), so a reader sees the old file or
the new one, never half of one, and a rerun rewrites nothing because unchanged rows compare equal.
Readers: `pyarrow.dataset.dataset(lake / "articles", format="parquet", partitioning="hive")`.
Sibling datasets: `lake/quarantine/`, `lake/history/`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from contracts.layout import lake_articles_dir
from contracts.schema import FIELD_NAMES, arrow_schema, batch_schema
from contracts.settings import default_workers
from etl.decision import KEY_COLUMNS as DECISION_KEYS
from etl.decision import decide

PART = "part-0.parquet"
# Replaced versions gathered before they are kept in the history at once (memory).
HISTORY_BATCH_ROWS = 20_000


def articles_root(data_dir: str | Path) -> Path:
    return lake_articles_dir(data_dir)


def partition_dir(root: Path, source: str, published_month: str) -> Path:
    return root / f"source={source}" / f"published_month={published_month}"


def write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}.parquet"
    try:
        # Page checksums: a flipped byte in a page fails the read (verify, merges) instead of
        # decoding into a wrong value.
        pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_partition(path: Path) -> pa.Table:
    # Read the file alone (not as a dataset), so no partition columns are added back.
    return read_file(path, schema=arrow_schema(for_files=True))


def _read(path: Path, **options: Any) -> pa.Table:
    """One Parquet file, opened once: pq.read_table(path) opens it twice (footer, then data),
    and a merge thread replacing it in between would mix two versions. Page checksums are
    verified (files written before they existed have none, and are decoded as before)."""
    with pa.OSFile(str(path)) as file:
        return pq.read_table(file, page_checksum_verification=True, **options)


class DamagedPartition(RuntimeError):
    """A lake file that cannot be read in full; `nightdesk repair` rebuilds it."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(f"{path}: unreadable lake file ({type(cause).__name__}: "
                         f"{str(cause)[:200]}); run `nightdesk repair` to rebuild it from the "
                         "warehouse")
        self.path = path


def read_file(path: Path, **options: Any) -> pa.Table:
    """`_read`, with any decoding failure (truncated, flipped bytes, not Parquet) as
    DamagedPartition naming the file."""
    try:
        return _read(path, **options)
    except (OSError, pa.ArrowException, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DamagedPartition(path, exc) from exc


def partition_files(data_dir: str | Path, sources: Iterable[str] | None = None) -> list[Path]:
    """The visible partition files of the lake (of `sources` only, when given), sorted."""
    root = articles_root(data_dir)
    folders = ["source=*"] if sources is None else [f"source={s}" for s in sorted(set(sources))]
    return sorted(p for f in folders for p in root.glob(f"{f}/published_month=*/*.parquet")
                  if not p.name.startswith((".", "_")))


@contextmanager
def locked(data_dir: str | Path) -> Iterator[None]:
    """One lake writer at a time: loads read, merge and replace partition files, and two windows
    can touch the same partition. An exclusive flock on a hidden file (ignored by readers) is
    released by the OS if the process dies. Local file systems only; object stores need a
    different lock."""
    root = Path(data_dir) / "lake"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            # Holding the lock, any temp file left is a killed writer's: readers never saw it.
            for stale in root.rglob(".tmp-*.parquet"):
                stale.unlink(missing_ok=True)
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class _Group:
    """The batch rows of one lake partition. `rows` is called in a worker thread when the
    partition's turn comes, so only the partitions in flight are in memory."""
    source: str
    month: str
    ids: pa.ChunkedArray
    rows: Callable[[], pa.Table]


@dataclass(frozen=True)
class _Done:
    counts: dict[str, int]
    written: bool
    history: pd.DataFrame | None  # versions this merge replaces; its file waits until they are kept
    damaged: Path | None = None  # the partition could not be read: left as it is, reported


def load(batch: pd.DataFrame, data_dir: str | Path, run_id: str, *,
         workers: int | None = None) -> dict[str, Any]:
    """Merge a cleaned, deduplicated batch (in memory) into the lake; `workers` threads
    (default: one per core)."""
    if batch.empty:
        return _counts()
    schema = batch_schema()
    table = pa.Table.from_pandas(batch[schema.names], schema=schema, preserve_index=False)
    months = batch["published_at"].dt.strftime("%Y-%m").to_numpy()
    indices = pd.DataFrame({"s": batch["source"].to_numpy(), "m": months}) \
        .groupby(["s", "m"]).indices
    groups = [_Group(src, month, table["article_id"].take(idx), partial(table.take, idx))
              for (src, month), idx in indices.items()]
    with locked(data_dir):
        return _merge(groups, data_dir, run_id, workers or default_workers())


def load_staged(partitions: list[Path], data_dir: str | Path, run_id: str, *,
                workers: int | None = None) -> dict[str, Any]:
    """Merge a staged batch, one staged file per lake partition, a few partitions at a time
    (memory: the partitions in flight) in `workers` threads (default: one per core)."""
    if not partitions:
        return _counts()
    workers = workers or default_workers()
    # Every id up front (finding the copies stored elsewhere needs them all before the first
    # merge); the full rows are read once, by the partition's merge.
    with ThreadPoolExecutor(workers) as pool:
        keys = list(pool.map(_read_keys, partitions))
    groups = [_Group(k["source"][0].as_py(), path.parent.name.split("=", 1)[1], k["article_id"],
                     partial(_read, path, schema=batch_schema()))
              for path, k in zip(partitions, keys, strict=True)]
    with locked(data_dir):
        return _merge(groups, data_dir, run_id, workers)


def _read_keys(path: Path) -> pa.Table:
    # Not pq.read_table: building a dataset for each small file costs more than reading two
    # columns of it.
    with pq.ParquetFile(path) as file:
        return file.read(columns=["article_id", "source"])


def _counts() -> dict[str, Any]:
    return {"inserted": 0, "updated": 0, "unchanged": 0, "partitions_written": 0}


def _ids_of(path: Path) -> pa.Table | DamagedPartition:
    try:
        return read_file(path, columns=["article_id"])
    except DamagedPartition as exc:
        return exc


def _stored_elsewhere(root: Path, groups: list[_Group], paths: list[Path], workers: int
                      ) -> tuple[list[dict[str, set[Path]]], list[Path]]:
    """For each group, its articles stored in another partition file than its own, and where: a
    changed date moves an article, and a crash mid-move can leave it in two files until the
    rerun cleans one up; and the files that could not be read. Only the batch's sources are
    read (an id names its source, so a copy is never in another source's partitions), file by
    file, so a damaged partition is reported, not fatal; one hash join, so no Python object per
    stored row."""
    out: list[dict[str, set[Path]]] = [{} for _ in groups]
    candidates = partition_files(root.parent.parent, {g.source for g in groups})
    with ThreadPoolExecutor(workers) as pool:
        read = list(pool.map(_ids_of, candidates))
    damaged = [p for p, t in zip(candidates, read, strict=True) if not isinstance(t, pa.Table)]
    tables = [(p, t) for p, t in zip(candidates, read, strict=True) if isinstance(t, pa.Table)]
    files = [p for p, _ in tables]
    if not files:
        return out, damaged
    batch = pa.table({
        "article_id": pa.chunked_array([c for g in groups for c in g.ids.chunks], pa.string()),
        "group": pa.array(np.repeat(np.arange(len(groups)), [len(g.ids) for g in groups])),
    })
    stored = pa.table({
        "article_id": pa.chunked_array([c for _, t in tables for c in t["article_id"].chunks],
                                       pa.string()),
        "file": pa.array(np.repeat(np.arange(len(tables)), [len(t) for _, t in tables])),
    })
    pairs = batch.join(stored, "article_id", join_type="inner")  # every stored copy
    group_of_file = {f: i for i, f in enumerate(paths)}
    file_group = pa.array([group_of_file.get(f, -1) for f in files], pa.int64())
    away = pairs.filter(pc.not_equal(file_group.take(pairs["file"]), pairs["group"]))
    for article_id, group, file in zip(*(away[c].to_pylist() for c in ("article_id", "group",
                                                                         "file")), strict=True):
        out[group].setdefault(article_id, set()).add(files[file])
    return out, damaged


def _merge(groups: list[_Group], data_dir: str | Path, run_id: str, threads: int
           ) -> dict[str, Any]:
    """Merge each group into its partition, in Arrow, a few partitions at a time in threads.
    Counts and history follow the groups' order, whichever thread finishes first. A partition
    that replaces versions is written only after they are kept in the history, which is done
    for many partitions at once (each call rewrites a whole history file): such a partition is
    merged again then. A partition that cannot be read is left as it is and listed in
    `damaged_partitions` (with any other damaged file of the batch's sources, a key present
    only then); the other partitions are merged."""
    root = articles_root(data_dir)
    paths = [partition_dir(root, g.source, g.month) / PART for g in groups]
    elsewhere, damaged = _stored_elsewhere(root, groups, paths, threads)
    counts = _counts()

    def run(indices: list[int], history_kept: bool) -> Iterator[tuple[int, _Done]]:
        tasks = (partial(_merge_one, groups[i], paths[i], elsewhere[i], run_id, history_kept)
                 for i in indices)
        return zip(indices, _in_order(pool, 2 * threads, tasks), strict=True)

    def keep_then_write(waiting: list[tuple[int, pd.DataFrame]]) -> None:
        keep_history(pd.concat([h for _, h in waiting], ignore_index=True), data_dir, run_id)
        for _, done in run([i for i, _ in waiting], history_kept=True):
            counts["partitions_written"] += done.written

    with ThreadPoolExecutor(threads) as pool:
        try:
            waiting: list[tuple[int, pd.DataFrame]] = []
            for i, done in run(list(range(len(groups))), history_kept=False):
                if done.damaged is not None:
                    damaged.append(done.damaged)
                    continue
                for key, n in done.counts.items():
                    counts[key] += n
                counts["partitions_written"] += done.written
                if done.history is not None:
                    waiting.append((i, done.history))
                    if sum(len(h) for _, h in waiting) >= HISTORY_BATCH_ROWS:  # memory
                        keep_then_write(waiting)
                        waiting = []
            if waiting:
                keep_then_write(waiting)
            # Only after the new copies are in place, drop the old ones (a crash in between
            # leaves a second copy that the rerun removes, never a lost row).
            moved = _moved(elsewhere)
            for gone in pool.map(_drop_moved, moved, moved.values()):
                if gone is None:
                    counts["partitions_written"] += 1
                else:
                    damaged.append(gone)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # replace no more files; running ones finish
            raise
    if damaged:  # left as they were, for `nightdesk repair`; the caller reports them
        counts["damaged_partitions"] = sorted({str(p) for p in damaged})
    return counts


def _in_order(pool: ThreadPoolExecutor, in_flight: int, tasks: Iterable[Callable[[], _Done]]
              ) -> Iterator[_Done]:
    """The tasks' results in order, with at most `in_flight` of them submitted at once (memory:
    each holds a partition while it runs)."""
    pending: deque[Future[_Done]] = deque()
    for task in tasks:
        if len(pending) >= in_flight:
            yield pending.popleft().result()
        pending.append(pool.submit(task))
    while pending:
        yield pending.popleft().result()


def _merge_one(group: _Group, path: Path, elsewhere: dict[str, set[Path]], run_id: str,
               history_kept: bool) -> _Done:
    """Merge a group into its partition file, unless that replaces versions not yet kept in the
    history: then return them instead (runs in a worker thread). A file it cannot read is
    reported, not replaced (its rows would be lost)."""
    try:
        return _merge_into(group, path, elsewhere, run_id, history_kept)
    except DamagedPartition as exc:
        return _Done({}, False, None, damaged=exc.path)


def _merge_into(group: _Group, path: Path, elsewhere: dict[str, set[Path]], run_id: str,
                history_kept: bool) -> _Done:
    rows = group.rows()
    old = _read_partition(path) if path.exists() else arrow_schema(for_files=True).empty_table()
    decided = decide(rows.select(list(DECISION_KEYS)), _stored(old, elsewhere))
    counts = decided.counts()
    if not counts["inserted"] and not counts["updated"]:
        return _Done(counts, False, None)
    if counts["updated"] and not history_kept:
        changed_ids = rows["article_id"].filter(decided.changed)
        return _Done(counts, False, _replaced(old, changed_ids, elsewhere, group.source))
    write_atomic(_new_content(rows, old, decided.write, elsewhere, run_id), path)
    return _Done(counts, True, None)


def _stored(old: pa.Table, elsewhere: dict[str, set[Path]]) -> pa.Table:
    """The stored keys the batch meets: this file's rows, and the ids stored only in another
    partition, with unknown (null) hash and time: the batch moves them here, a change."""
    keys = old.select(list(DECISION_KEYS))
    away = _strings(elsewhere.keys())
    away = away.filter(pc.invert(pc.is_in(away, value_set=keys["article_id"].combine_chunks())))
    if not len(away):
        return keys
    return pa.concat_tables([keys, pa.table({
        "article_id": away, "content_hash": pa.nulls(len(away), pa.string()),
        "published_at": pa.nulls(len(away), keys.schema.field("published_at").type)},
        schema=keys.schema)])


def _new_content(rows: pa.Table, old: pa.Table, todo: pa.Array,
                 elsewhere: dict[str, set[Path]], run_id: str) -> pa.Table:
    """The old rows not replaced, and the rows to write with their run ids, by id."""
    file_schema = arrow_schema(for_files=True)
    at = pc.index_in(rows["article_id"], value_set=old["article_id"].combine_chunks())
    first = pc.coalesce(old["first_run_id"].take(at), *_first_runs(rows["article_id"], elsewhere),
                        pa.scalar(run_id)).filter(todo)
    fresh = rows.filter(todo).drop_columns(["source"])
    fresh = fresh.append_column(file_schema.field("first_run_id"), first)
    fresh = fresh.append_column(file_schema.field("last_run_id"),
                                pa.repeat(pa.scalar(run_id), len(fresh)))
    fresh = fresh.select(file_schema.names).cast(file_schema)
    kept_old = old.filter(pc.invert(pc.is_in(old["article_id"], fresh["article_id"])))
    return pa.concat_tables([kept_old, fresh]).sort_by("article_id")


def _strings(values: Iterable[str]) -> pa.Array:
    return pa.array(sorted(values), pa.string())


def _first_runs(ids: pa.ChunkedArray, elsewhere: dict[str, set[Path]]) -> list[pa.ChunkedArray]:
    """first_run_id of each id's copy in another partition ([] when there is none): a moved
    article keeps the run that first loaded it."""
    files = sorted(set().union(*elsewhere.values()))
    if not files:
        return []
    stored = pa.concat_tables([_read(p, columns=["article_id", "first_run_id"]) for p in files])
    return [stored["first_run_id"].take(
        pc.index_in(ids, value_set=stored["article_id"].combine_chunks()))]


def _replaced(old: pa.Table, changed_ids: pa.ChunkedArray, elsewhere: dict[str, set[Path]],
              source: str) -> pd.DataFrame:
    """The stored versions of the changed articles, in this file and in the files they move
    from, for keep_history."""
    replaced = _strings(set(changed_ids.to_pylist()))
    others = sorted(set().union(*(elsewhere.get(a, set()) for a in replaced.to_pylist())))
    previous = pa.concat_tables([old, *(_read_partition(p) for p in others)])
    return previous.filter(pc.is_in(previous["article_id"], replaced)).to_pandas() \
        .assign(source=source)


def _moved(elsewhere: list[dict[str, set[Path]]]) -> dict[Path, set[str]]:
    """Each file holding copies that the merge stored in another partition: the ids to drop."""
    moved: dict[Path, set[str]] = {}
    for stored in elsewhere:
        for article_id, files in stored.items():
            for path in files:
                moved.setdefault(path, set()).add(article_id)
    return dict(sorted(moved.items()))


def _drop_moved(path: Path, gone: set[str]) -> Path | None:
    """Drop the moved copies from `path`; returns `path` when it cannot be read."""
    try:
        old = _read_partition(path)
    except DamagedPartition:
        return path
    keep = old.filter(pc.invert(pc.is_in(old["article_id"], _strings(gone))))
    if len(keep) == 0:
        path.unlink()
    else:
        write_atomic(keep, path)
    return None


def history_schema() -> pa.Schema:
    return arrow_schema().append(pa.field("superseded_at", pa.timestamp("us", tz="UTC"), False)) \
        .append(pa.field("superseded_by_run_id", pa.string(), False))


def keep_history(previous: pd.DataFrame, data_dir: str | Path, run_id: str) -> None:
    """Append replaced versions to the sibling dataset `lake/history/source=S/...`, one row per
    (article_id, content_hash) so a rerun adds nothing."""
    if previous.empty:
        return
    root = Path(data_dir) / "lake" / "history"
    previous = previous.assign(superseded_at=pd.Timestamp.now(tz="UTC").as_unit("us"),
                               superseded_by_run_id=run_id)
    schema = history_schema()
    for source, rows in previous.groupby("source"):
        path = root / f"source={source}" / PART
        names = [n for n in schema.names if n != "source"]
        file_schema = pa.schema([schema.field(n) for n in names])
        # A damaged history file stops the load, named (`nightdesk repair` rebuilds it): the
        # replaced versions must be kept before their rows are replaced.
        old = read_file(path, schema=file_schema).to_pandas() if path.exists() else None
        merged = pd.concat([old, rows[names]] if old is not None else [rows[names]],
                           ignore_index=True).drop_duplicates(["article_id", "content_hash"])
        write_atomic(pa.Table.from_pandas(merged, schema=file_schema, preserve_index=False), path)


def read(data_dir: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """The lake's articles (`columns` only, when given). Only the visible partition files: a
    folder holding nothing but a killed write's hidden leftovers is an empty lake."""
    files = partition_files(data_dir)
    if not files:
        return pd.DataFrame(columns=columns or [*FIELD_NAMES, "published_month"])
    dataset = ds.dataset([str(f) for f in files], format="parquet", partitioning="hive",
                         partition_base_dir=str(articles_root(data_dir)))
    return dataset.to_table(columns=columns).to_pandas()


def checksum(data_dir: str | Path) -> tuple[int, str]:
    """(row count, sha256 over sorted article_id:content_hash), comparable with the warehouse's."""
    df = read(data_dir, ["article_id", "content_hash"])
    digest = hashlib.sha256()
    for article_id, content_hash in sorted(zip(df["article_id"], df["content_hash"],
                                                strict=True)):
        digest.update(f"{article_id}:{content_hash}\n".encode())
    return len(df), digest.hexdigest()


def write_quarantine(rows: pd.DataFrame, data_dir: str | Path, window: str) -> None:
    """Quarantined rows of one window, in the sibling dataset `lake/quarantine/` (replaced whole,
    so a rerun of the window does not duplicate them)."""
    path = Path(data_dir) / "lake" / "quarantine" / f"window={window}" / PART
    with locked(data_dir):
        if rows.empty:
            path.unlink(missing_ok=True)
            return
        write_atomic(pa.Table.from_pandas(rows, preserve_index=False), path)
