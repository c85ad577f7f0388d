"""Exact deduplication: by site article id, canonical URL and content hash, within the batch and
against what is already loaded. Near-duplicates (syndicated copy) are a later stage.

Dropped rows are returned with `duplicate_of` (the article they repeat), so they are counted and
can be inspected, not silently lost.
"""

from __future__ import annotations

import pandas as pd


def within_batch(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per article id (the latest crawl wins), then one per URL and per content hash
    (the earliest published, then lowest id, is the original)."""
    df = df.sort_values(["article_id", "crawled_at"], kind="stable")
    dropped = []
    latest = ~df.duplicated("article_id", keep="last")
    dup = df[~latest].copy()
    dup["duplicate_of"] = dup["article_id"]  # an older crawl of the same article
    dropped.append(dup)
    df = df[latest].sort_values(["published_at", "article_id"], kind="stable")
    for key in ("url_key", "content_hash"):
        first = df.drop_duplicates(key)[[key, "article_id"]].rename(
            columns={"article_id": "duplicate_of"}
        )
        repeats = df.duplicated(key, keep="first")
        dup = df[repeats].drop(columns="duplicate_of", errors="ignore").merge(first, on=key,
                                                                                how="left")
        dropped.append(dup)
        df = df[~repeats]
    kept = df.sort_values("article_id").reset_index(drop=True)
    return kept, pd.concat(dropped, ignore_index=True)


def against_loaded(df: pd.DataFrame, loaded: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop rows whose URL or content is already loaded under ANOTHER article id.

    `loaded` has article_id, url_key, content_hash of stored rows. The same id is not a
    duplicate: it is either unchanged or an update, which the loads decide.
    """
    if loaded.empty or df.empty:
        return df, df.iloc[0:0].assign(duplicate_of=pd.Series(dtype="str"))
    hits = []
    for key in ("url_key", "content_hash"):
        m = df[["article_id", key]].merge(
            loaded[["article_id", key]].rename(columns={"article_id": "duplicate_of"}), on=key
        )
        hits.append(m[m["article_id"] != m["duplicate_of"]][["article_id", "duplicate_of"]])
    hit = pd.concat(hits).drop_duplicates("article_id")
    dup = df.drop(columns="duplicate_of", errors="ignore").merge(hit, on="article_id")
    return df[~df["article_id"].isin(hit["article_id"])].reset_index(drop=True), dup
