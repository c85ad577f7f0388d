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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from etl.schema import FIELD_NAMES, arrow_schema, batch_schema

PART = "part-0.parquet"


def articles_root(data_dir: str | Path) -> Path:
    return Path(data_dir) / "lake" / "articles"


def partition_dir(root: Path, source: str, published_month: str) -> Path:
    return root / f"source={source}" / f"published_month={published_month}"


def write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".tmp-{uuid.uuid4().hex}.parquet"
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_partition(path: Path) -> pa.Table:
    # Read the file alone (not as a dataset), so no partition columns are added back.
    return pq.read_table(path, schema=arrow_schema(for_files=True))


def locate(root: Path, article_ids: Iterable[str]) -> dict[str, set[Path]]:
    """Every partition file holding each of these articles: a changed date moves an article,
    and a crash mid-move can leave it in two files until the rerun cleans one up."""
    wanted = set(article_ids)
    found: dict[str, set[Path]] = {}
    if not root.exists() or not wanted:
        return found
    for frag in ds.dataset(root, format="parquet", partitioning="hive").get_fragments():
        ids = frag.to_table(columns=["article_id"]).column("article_id").to_pylist()
        for article_id in wanted.intersection(ids):
            found.setdefault(article_id, set()).add(Path(frag.path))
    return found


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


def load(batch: pd.DataFrame, data_dir: str | Path, run_id: str) -> dict[str, int]:
    """Merge a cleaned, deduplicated batch (in memory) into the lake."""
    if batch.empty:
        return _counts()
    schema = batch_schema()
    table = pa.Table.from_pandas(batch[schema.names], schema=schema, preserve_index=False)
    months = batch["published_at"].dt.strftime("%Y-%m").to_numpy()
    groups = ((src, month, table.take(idx)) for (src, month), idx
              in pd.DataFrame({"s": batch["source"].to_numpy(), "m": months})
              .groupby(["s", "m"]).indices.items())
    with locked(data_dir):
        return _merge(groups, batch["article_id"].tolist(), data_dir, run_id)


def load_staged(partitions: list[Path], data_dir: str | Path, run_id: str) -> dict[str, int]:
    """Merge a staged batch, one lake partition at a time (memory: one partition)."""
    if not partitions:
        return _counts()
    ids = pa.concat_arrays([pq.read_table(p, columns=["article_id"]).column(0).combine_chunks()
                            for p in partitions]).to_pylist()

    def groups():
        for path in partitions:
            rows = pq.read_table(path, schema=batch_schema())
            yield rows["source"][0].as_py(), path.parent.name.split("=", 1)[1], rows

    with locked(data_dir):
        return _merge(groups(), ids, data_dir, run_id)


def _counts() -> dict[str, int]:
    return {"inserted": 0, "updated": 0, "unchanged": 0, "partitions_written": 0}


def _keys(table: pa.Table) -> pd.DataFrame:
    """The few columns the merge decides on, as pandas (bodies and lists stay in Arrow: turning
    them into Python objects and back was most of a load's time)."""
    names = [n for n in ("article_id", "content_hash", "published_at", "first_run_id")
             if n in table.column_names]
    return table.select(names).to_pandas()


def _merge(groups, article_ids, data_dir: str | Path, run_id: str) -> dict[str, int]:
    """Merge (source, month, Arrow rows) groups into their partitions, in Arrow."""
    root = articles_root(data_dir)
    file_schema = arrow_schema(for_files=True)
    counts = _counts()
    stored_at = locate(root, article_ids)
    moved: dict[Path, set[str]] = {}
    for source, month, rows in groups:
        path = partition_dir(root, source, month) / PART
        old = _read_partition(path) if path.exists() else file_schema.empty_table()
        new_keys, old_keys = _keys(rows), _keys(old)
        old_hash = dict(zip(old_keys["article_id"], old_keys["content_hash"], strict=True))
        first_run = dict(zip(old_keys["article_id"], old_keys["first_run_id"], strict=True))
        ids = new_keys["article_id"]
        for article_id in ids:
            for elsewhere in stored_at.get(article_id, set()) - {path}:
                moved.setdefault(elsewhere, set()).add(article_id)
        if any(stored_at.get(a, set()) - {path} for a in ids):
            first_run |= _first_runs(stored_at, ids)
        is_new = ~ids.isin(old_hash) & ~ids.isin(first_run)
        # Changed content or date: the stored row differs, or it lives in another partition.
        old_pub = dict(zip(old_keys["article_id"], old_keys["published_at"], strict=True))
        changed = ~is_new & (ids.map(old_hash).ne(new_keys["content_hash"])
                             | ids.map(old_pub).ne(new_keys["published_at"]))
        counts["inserted"] += int(is_new.sum())
        counts["updated"] += int(changed.sum())
        counts["unchanged"] += int((~is_new & ~changed).sum())
        if not (is_new | changed).any():
            continue
        todo = (is_new | changed).to_numpy()
        first = ids[todo].map(first_run).fillna(run_id).astype("object")
        fresh = rows.filter(pa.array(todo)).drop_columns(["source"])
        fresh = fresh.append_column(file_schema.field("first_run_id"),
                                    pa.array(first.to_numpy(), pa.string()))
        fresh = fresh.append_column(file_schema.field("last_run_id"),
                                    pa.array([run_id] * len(fresh), pa.string()))
        fresh = fresh.select(file_schema.names).cast(file_schema)
        if changed.any():  # keep the versions being replaced before replacing them
            replaced = pa.array(sorted(set(ids[changed.to_numpy()])), pa.string())
            others = set().union(*(stored_at.get(a, set()) - {path} for a in replaced.to_pylist()))
            previous = pa.concat_tables([old, *(_read_partition(p) for p in others)])
            keep_history(previous.filter(pc.is_in(previous["article_id"], replaced))
                         .to_pandas().assign(source=source), data_dir, run_id)
        kept_old = old.filter(pc.invert(pc.is_in(old["article_id"], fresh["article_id"])))
        merged = pa.concat_tables([kept_old, fresh]).sort_by("article_id")
        write_atomic(merged, path)
        counts["partitions_written"] += 1
    # Only after the new copies are in place, drop the old ones (a crash in between leaves a
    # second copy that the rerun removes, never a lost row).
    for path, gone in moved.items():
        old = _read_partition(path)
        keep = old.filter(pc.invert(pc.is_in(old["article_id"], pa.array(sorted(gone),
                                                                          pa.string()))))
        if len(keep) == 0:
            path.unlink()
        else:
            write_atomic(keep, path)
        counts["partitions_written"] += 1
    return counts


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
        old = pq.read_table(path, schema=file_schema).to_pandas() if path.exists() else None
        merged = pd.concat([old, rows[names]] if old is not None else [rows[names]],
                           ignore_index=True).drop_duplicates(["article_id", "content_hash"])
        write_atomic(pa.Table.from_pandas(merged, schema=file_schema, preserve_index=False), path)


def _first_runs(stored_at: dict[str, Path], ids: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in set().union(*(stored_at.get(a, set()) for a in ids)):
        old = pq.read_table(path, columns=["article_id", "first_run_id"])
        out |= dict(zip(old["article_id"].to_pylist(), old["first_run_id"].to_pylist(),
                        strict=True))
    return out


def read(data_dir: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    root = articles_root(data_dir)
    if not root.exists():
        return pd.DataFrame(columns=columns or [*FIELD_NAMES, "published_month"])
    dataset = ds.dataset(root, format="parquet", partitioning="hive")
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
