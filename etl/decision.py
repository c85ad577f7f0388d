"""New, changed or unchanged: the one rule every sink (the lake, SQLite, PostgreSQL) applies.

An article is new when no stored row has its id; changed when the stored row's content_hash or
publication instant differs (a null on one side only differs); unchanged otherwise. Each sink
reads the stored keys of the batch's ids, asks `decide`, and writes only what it was told.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# What the rule reads, from the batch and from the stored rows.
KEY_COLUMNS: tuple[str, ...] = ("article_id", "content_hash", "published_at")
_INSTANT = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Decision:
    """Per batch row: `is_new`, `changed`, and `write` (new or changed, and the last row naming
    its id, so a batch naming an id twice ends as its last row, as row-by-row upserts end)."""

    is_new: pa.Array
    changed: pa.Array
    write: pa.Array

    def counts(self) -> dict[str, int]:
        new, changed = _true(self.is_new), _true(self.changed)
        return {"inserted": new, "updated": changed,
                "unchanged": len(self.is_new) - new - changed}


def stored_keys(article_id: pa.Array | list, content_hash: pa.Array | list,
                published_at: pa.Array | list) -> pa.Table:
    """Stored keys as `decide` takes them, from a sink's own values (instants as UTC)."""
    return pa.table({"article_id": pa.array(article_id, pa.string()),
                     "content_hash": pa.array(content_hash, pa.string()),
                     "published_at": pa.array(published_at).cast(_INSTANT)})


def decide(batch: pa.Table, stored: pa.Table) -> Decision:
    """`batch` and `stored` hold KEY_COLUMNS; `stored` names each id at most once."""
    ids = batch["article_id"].combine_chunks()
    at = pc.index_in(ids, value_set=stored["article_id"].combine_chunks())
    is_new = pc.is_null(at)
    differs = pc.or_(
        _distinct(stored["content_hash"].take(at), batch["content_hash"]),
        _distinct(stored["published_at"].cast(_INSTANT).take(at),
                  batch["published_at"].cast(_INSTANT)))
    changed = pc.and_(pc.invert(is_new), pc.fill_null(differs, False))
    write = pc.and_(pc.or_(is_new, changed), _last_of_id(ids))
    return Decision(_array(is_new), _array(changed), _array(write))


def _distinct(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> pa.Array:
    """a IS DISTINCT FROM b."""
    return pc.coalesce(pc.not_equal(a, b), pc.xor(pc.is_null(a), pc.is_null(b)))


def _last_of_id(ids: pa.Array) -> pa.Array:
    if pc.count_distinct(ids).as_py() == len(ids):
        return pa.array(np.ones(len(ids), dtype=bool))
    values = np.asarray(ids.to_pylist(), dtype=object)[::-1]
    _, first_from_end = np.unique(values, return_index=True)
    last = np.zeros(len(ids), dtype=bool)
    last[len(ids) - 1 - first_from_end] = True
    return pa.array(last)


def _array(mask: pa.Array | pa.ChunkedArray) -> pa.Array:
    return mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask


def _true(mask: pa.Array) -> int:
    return int(pc.sum(mask, min_count=0).as_py())
