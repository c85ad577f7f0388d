"""Near-duplicate clusters in the pipeline: `duplicate_of` labels at transform, the index kept
across runs at load.

- transform sketches every valid article while its chunk is in memory (`PartSketcher`),
  and, after exact deduplication, labels the survivors against a read-only copy of the index
  (`label_batch`): `duplicate_of` = the id of the earliest published member of the article's
  cluster, across sources and earlier runs; null for originals and stories with no copy. Copies
  are labelled, never dropped.
- transform stages the whole index with the batch added (`neardup.parquet`, recording which
  index it was built on). load_lake (`load_window`) holds the index lock while it brings the
  staged labels up to date, merges the batch into the lake and installs the index: when another
  window committed since this one's transform (two windows at once, `--max-active-runs 2`), the
  batch is added to the current index and its labels are computed again, so the labels are
  those of the two windows loaded one after the other. Adding is idempotent (an id replaces its
  earlier entry), so a retry or rerun leaves the same index.
- A garbage index file stops the step with an error naming the file and `nightdesk repair`; a
  missing index while the lake holds articles is refused too (a fresh index would silently
  forget every earlier article). `nightdesk repair` rebuilds it from the lake (`rebuild`).

A row's `duplicate_of` is fixed when the row is written (the lake and the warehouse rewrite a row
only when its content changes): when a later crawl finds an earlier-published copy, the index
moves the cluster's original, but rows already stored keep the label they were loaded with.
`NIGHTDESK_NEARDUP=0` turns the step off (labels stay null, no index is kept).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from contracts.layout import neardup_index
from contracts.schema import batch_schema
from etl import lake
from etl.clean import word_count
from etl.neardup import NearDupIndex, Sketches, file_meta

STAGED = "neardup.parquet"


def index_path(data_dir: str | Path) -> Path:
    return neardup_index(data_dir)


class IndexDamaged(RuntimeError):
    """The index file cannot be used; the message names it and the fix."""


def _fix(data_dir: str | Path) -> str:
    return f"run `nightdesk repair --data-dir {data_dir}` to rebuild it from the lake"


@contextmanager
def locked(data_dir: str | Path, shared: bool = False) -> Iterator[None]:
    """The index lock: exclusive while a load updates labels, lake and index together; shared
    while a transform reads the index (so it never sees a lake ahead of its index)."""
    folder = index_path(data_dir).parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _meta(data_dir: str | Path) -> dict[str, str]:
    """The installed index's footer metadata ({} when there is none)."""
    path = index_path(data_dir)
    if not path.exists():
        return {}
    try:
        meta = file_meta(path)
        if "generation" not in meta:
            raise ValueError("no generation in its metadata: not an index")
        return meta
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        raise IndexDamaged(f"{path}: not a readable near-duplicate index ({exc}); "
                           f"{_fix(data_dir)}") from exc


def generation(data_dir: str | Path) -> str:
    """The installed index's generation ("" when there is none)."""
    return _meta(data_dir).get("generation", "")


def _load(data_dir: str | Path, spare: int = 0) -> NearDupIndex:
    path = index_path(data_dir)
    if path.exists():
        try:
            return NearDupIndex.load(path, spare=spare)
        except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
            raise IndexDamaged(f"{path}: not a readable near-duplicate index ({exc}); "
                               f"{_fix(data_dir)}") from exc
    if lake.partition_files(data_dir):
        raise IndexDamaged(f"{path} is missing but the lake holds articles (a new index would "
                           f"forget them all); {_fix(data_dir)}")
    index = NearDupIndex()
    index.reserve(spare)
    return index


def _save(sk: Sketches, path: Path) -> None:
    np.savez(path, sigs=sk.sigs, sizes=sk.sizes, lead=sk.lead, tail=sk.tail)


class PartSketcher:
    """Sketches a chunk's cleaned bodies as etl.clean counts their words (its `count_words`):
    the sketch tokenises every body anyway, and its tokens are the body's words wherever NFKC
    leaves the body alone; word_count counts the rest. `save` keeps the valid rows' sketches."""

    def __init__(self) -> None:
        self._sketches: Sketches | None = None

    def count_words(self, bodies: pd.Series) -> pd.Series:
        self._sketches, words = NearDupIndex().sketch_counting(bodies)
        redo = np.flatnonzero(words < 0)
        if redo.size:
            words[redo] = word_count(bodies.iloc[redo]).to_numpy()
        return pd.Series(words, index=bodies.index, dtype="int64")

    def save(self, rows: np.ndarray, path: Path) -> None:
        """The sketches of `rows` (positions among the bodies counted) into `path`."""
        if self._sketches is None:
            raise RuntimeError("PartSketcher.save before count_words")
        _save(self._sketches[rows], path)


def label_batch(kept: pd.DataFrame, sketch_files: dict[int, Path], data_dir: str | Path,
                staged: Path) -> pd.Series:
    """`duplicate_of` for the batch's kept rows (columns article_id, published_at, _part, _row),
    indexed by article_id. Writes the index with the batch added to `staged`, for
    `load_window`."""
    order = kept[["article_id", "published_at", "_part", "_row"]].sort_values(["_part", "_row"])
    with locked(data_dir, shared=True):
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


def load_window(folder: Path, partitions: list[Path], data_dir: str | Path,
                merge: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Load a staged window (`folder`, its batch files `partitions`) under the index lock:
    bring its labels up to date with the index, `merge` it into the lake, install the index.
    Returns merge's figures and the index's size."""
    staged = folder / STAGED
    with locked(data_dir):
        if staged.exists():
            _relabel_if_stale(folder, partitions, staged, data_dir)
        counts = merge()
        counts["neardup_index_size"] = _install(staged, data_dir)
    return counts


def _relabel_if_stale(folder: Path, partitions: list[Path], staged: Path,
                      data_dir: str | Path) -> None:
    """When another window's index was installed since this window's transform, add this batch
    to the current index, label it again and rewrite the staged batch and figures with those
    labels; the staged index then records the current one as its base. A crash part way is
    repaired by the rerun, which computes the same labels."""
    meta = file_meta(staged)
    current = generation(data_dir)
    if meta["base"] == current or meta["generation"] == current:
        return  # labelled against the current index, or already installed
    batch_rows = int(meta["batch_rows"])
    index = _load(data_dir, spare=batch_rows)
    labels = index.absorb(NearDupIndex.load(staged, first_row=int(meta["rows"]) - batch_rows))
    _rewrite_labels(folder, partitions, labels)
    index.save(staged, base=current, batch_rows=batch_rows)


def _rewrite_labels(folder: Path, partitions: list[Path], labels: pd.Series) -> None:
    schema = batch_schema()
    column = schema.get_field_index("duplicate_of")
    labelled: dict[str, int] = {}
    for path in partitions:
        table = pq.read_table(path, schema=schema)
        ids = table["article_id"].to_pandas()
        new = pa.array(ids.map(labels).astype("object").where(lambda v: v.notna(), None),
                       pa.string())
        source = table["source"][0].as_py()
        labelled[source] = labelled.get(source, 0) + (len(new) - new.null_count)
        if not new.equals(table["duplicate_of"].combine_chunks()):
            lake.write_atomic(table.set_column(column, schema.field(column), new), path)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for source, figures in manifest["sources"].items():
        figures["near_duplicates"] = labelled.get(source, 0)
    tmp = folder / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, manifest_path)


def _install(staged: Path, data_dir: str | Path) -> int:
    """Install the staged index (the caller holds the lock); returns the index's size.

    The usual case, nobody committed since the batch was labelled (`_relabel_if_stale` saw to
    that): the staged file replaces the index (a rename). Already installed (a rerun): nothing
    to do. Otherwise the staged batch is added to the current index."""
    path = index_path(data_dir)
    if not staged.exists():
        return int(_meta(data_dir).get("rows", 0))
    meta = file_meta(staged)
    current = generation(data_dir)
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


def rebuild(data_dir: str | Path) -> int:
    """A new index from every article in the lake (`nightdesk repair`): sketches of the stored
    bodies, one partition at a time (memory: the sketches, not the bodies), added in
    publication order, then clustered. Returns its size."""
    with locked(data_dir), lake.locked(data_dir):
        index = NearDupIndex()
        keys, sketches = [], []
        for path in lake.partition_files(data_dir):
            table = lake.read_file(path, columns=["article_id", "published_at", "body"])
            keys.append(table.select(["article_id", "published_at"]).to_pandas())
            sketches.append(index.sketch(table["body"].to_pylist()))
        rows = pd.concat(keys, ignore_index=True) if keys else pd.DataFrame(
            {"article_id": pd.Series([], dtype=object),
             "published_at": pd.Series([], dtype="datetime64[us, UTC]")})
        order = rows.sort_values(["published_at", "article_id"], kind="stable").index.to_numpy()
        index.reserve(len(rows))
        index.add(rows["article_id"].to_numpy()[order],
                  Sketches.concat(sketches, index.num_perm)[order],
                  rows["published_at"].iloc[order])
        index.cluster(rows["article_id"].to_numpy()[order])
        index.save(index_path(data_dir))
        return len(index)
