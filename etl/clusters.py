"""Near-duplicate clusters in the pipeline: `duplicate_of` labels at transform, the index kept
across runs at load.

- transform sketches every valid article while its chunk is in memory (`save_part_sketches`),
  and, after exact deduplication, labels the survivors against a read-only copy of the index
  (`label_batch`): `duplicate_of` = the id of the earliest published member of the article's
  cluster, across sources and earlier runs; null for originals and stories with no copy. Copies
  are labelled, never dropped.
- transform stages the whole index with the batch added (`neardup.parquet`, recording which
  index it was built on); load_lake installs it (`commit_batch`) under a file lock: a rename
  when the index has not changed since, else the batch is added to the current index. Adding
  is idempotent (an id replaces its earlier entry), so a retry or rerun leaves the same index.

A row's `duplicate_of` is fixed when the row is written (the lake and the warehouse rewrite a row
only when its content changes): when a later crawl finds an earlier-published copy, the index
moves the cluster's original, but rows already stored keep the label they were loaded with.
`NIGHTDESK_NEARDUP=0` turns the step off (labels stay null, no index is kept).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import numpy as np
import pandas as pd

from etl.neardup import NearDupIndex, Sketches, file_meta

STAGED = "neardup.parquet"


def enabled() -> bool:
    return os.environ.get("NIGHTDESK_NEARDUP", "1") not in ("0", "false", "no", "off")


def index_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "neardup" / "index.parquet"


def _load(data_dir: str | Path, spare: int = 0) -> NearDupIndex:
    path = index_path(data_dir)
    if path.exists():
        return NearDupIndex.load(path, spare=spare)
    index = NearDupIndex()
    index.reserve(spare)
    return index


def save_part_sketches(bodies: pd.Series, path: Path) -> None:
    sk = NearDupIndex().sketch(bodies)
    np.savez(path, sigs=sk.sigs, sizes=sk.sizes, lead=sk.lead, tail=sk.tail)


def label_batch(kept: pd.DataFrame, sketch_files: dict[int, Path], data_dir: str | Path,
                staged: Path) -> pd.Series:
    """`duplicate_of` for the batch's kept rows (columns article_id, published_at, _part, _row),
    indexed by article_id. Writes the index with the batch added to `staged`, for
    `commit_batch`."""
    order = kept[["article_id", "published_at", "_part", "_row"]].sort_values(["_part", "_row"])
    index = _load(data_dir, spare=len(order))  # the batch's sketches go straight into it
    base = index.generation
    for part, rows in order.groupby("_part", sort=True):
        with np.load(sketch_files[int(part)]) as z:
            r = rows["_row"].to_numpy()
            index.add(rows["article_id"],
                      Sketches(z["sigs"][r], z["sizes"][r], z["lead"][r], z["tail"][r]),
                      rows["published_at"])
    labels = index.cluster(order["article_id"])
    index.save(staged, base=base, batch_rows=len(order))
    return labels


def commit_batch(staged: Path, data_dir: str | Path) -> int:
    """Install the index that transform staged; returns the index's size.

    The usual case, nobody committed since transform read the index: the staged file replaces
    it (a rename). Another window committed in between: the staged batch (its last rows) is
    added to the current index. Already installed (a rerun): nothing to do."""
    path = index_path(data_dir)
    if not staged.exists():
        return int(file_meta(path)["rows"]) if path.exists() else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # two windows loading at once: no lost update
        try:
            meta = file_meta(staged)
            current = file_meta(path)["generation"] if path.exists() else ""
            if meta["generation"] == current:
                staged.unlink()
            elif meta["base"] == current:
                os.replace(staged, path)
            else:
                batch_rows = int(meta["batch_rows"])
                index = _load(data_dir, spare=batch_rows)
                first = int(meta["rows"]) - batch_rows
                index.absorb(NearDupIndex.load(staged, first_row=first))
                index.save(path)
                staged.unlink()
            return int(file_meta(path)["rows"])
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
