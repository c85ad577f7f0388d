"""Near-duplicate clusters in the pipeline: `duplicate_of` labels at transform, the index kept
across runs at load.

- transform sketches every valid article while its chunk is in memory (`save_part_sketches`),
  and, after exact deduplication, labels the survivors against a read-only copy of the index
  (`label_batch`): `duplicate_of` = the id of the earliest published member of the article's
  cluster, across sources and earlier runs; null for originals and stories with no copy. Copies
  are labelled, never dropped. The batch's sketches are staged beside it (`neardup.parquet`).
- load_lake adds the staged sketches to the index (`commit_batch`), under a file lock and
  replaced atomically. Adding is idempotent (an id replaces its earlier entry), so a retry or
  rerun leaves the same index.

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

from etl.neardup import NearDupIndex, Sketches

STAGED = "neardup.parquet"


def enabled() -> bool:
    return os.environ.get("NIGHTDESK_NEARDUP", "1") not in ("0", "false", "no", "off")


def index_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / "neardup" / "index.parquet"


def _load(data_dir: str | Path) -> NearDupIndex:
    path = index_path(data_dir)
    return NearDupIndex.load(path) if path.exists() else NearDupIndex()


def save_part_sketches(bodies: pd.Series, path: Path) -> None:
    sk = NearDupIndex().sketch(bodies)
    np.savez(path, sigs=sk.sigs, sizes=sk.sizes, lead=sk.lead, tail=sk.tail)


def label_batch(kept: pd.DataFrame, sketch_files: dict[int, Path], data_dir: str | Path,
                staged: Path) -> pd.Series:
    """`duplicate_of` for the batch's kept rows (columns article_id, published_at, _part, _row),
    indexed by article_id; writes the batch's sketches to `staged`."""
    order = kept.sort_values(["_part", "_row"])
    parts = []
    for part, rows in order.groupby("_part", sort=True)["_row"]:
        with np.load(sketch_files[int(part)]) as z:
            r = rows.to_numpy()
            parts.append(Sketches(z["sigs"][r], z["sizes"][r], z["lead"][r], z["tail"][r]))
    index = _load(data_dir)
    sketches = Sketches.concat(parts, index.num_perm)
    del parts  # memory: the batch's sketches once, not twice
    index.save_sketches(staged, order["article_id"], sketches, order["published_at"])
    return index.assign_clusters(order["article_id"], sketches, order["published_at"])


def commit_batch(staged: Path, data_dir: str | Path) -> int:
    """Add a staged batch to the index; returns the index's size."""
    if not staged.exists():
        return 0
    path = index_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # two windows loading at once: no lost update
        try:
            index = _load(data_dir)
            index.absorb(NearDupIndex.load(staged))
            index.save(path)
            return len(index)
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
