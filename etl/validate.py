"""Validation rules: the schema's own (required fields present, values within the limits of
contracts/schema.py) plus sanity rules.

Rows that fail go to the quarantine with every reason, never silently away; this runs before any
sink is written, so no sink ever meets a value it could refuse.
"""

from __future__ import annotations

import pandas as pd

from contracts.schema import EARLIEST, FIELDS, FUTURE_SLACK, LIST_FIELDS


def _lengths(df: pd.DataFrame) -> dict[str, pd.Series]:
    """A rule per bounded field: over its character limit (lists: too many items, or an item
    over the limit)."""
    broken: dict[str, pd.Series] = {}
    for f in FIELDS:
        if f.max_chars is None or f.name not in df:
            continue
        col = df[f.name]
        if f.kind == "list[str]":
            limit, items = f.max_chars, f.max_items or 0

            def long_item(v: object, limit: int = limit) -> bool:
                return isinstance(v, list) and any(isinstance(x, str) and len(x) > limit
                                                   for x in v)

            broken[f"{f.name} has an item longer than {limit:,} characters"] = \
                col.map(long_item).astype(bool)
            broken[f"{f.name} has more than {items:,} items"] = \
                col.map(lambda v, n=items: isinstance(v, list) and len(v) > n).astype(bool)
        else:
            broken[f"{f.name} is longer than {f.max_chars:,} characters"] = \
                col.astype("str").str.len().gt(f.max_chars) & col.notna()
    return broken


def rules(df: pd.DataFrame) -> dict[str, pd.Series]:
    """Each rule is a boolean Series: True where a row BREAKS the rule."""
    broken: dict[str, pd.Series] = {}
    for f in FIELDS:
        if not f.required or f.name not in df:
            continue
        col = df[f.name]
        if f.name in LIST_FIELDS:
            broken[f"{f.name} is not a list"] = ~col.map(lambda v: isinstance(v, list))
        elif f.kind == "str":
            broken[f"{f.name} is missing"] = col.isna() | col.astype("str").str.strip().eq("")
        else:
            broken[f"{f.name} is missing or unreadable"] = col.isna()
    broken.update(_lengths(df))
    if "crawled_at" in df:
        crawled = df["crawled_at"]
        broken["crawled_at is before 1990"] = crawled.notna() & (crawled < EARLIEST)
        broken["crawled_at is in the future"] = crawled.notna() & (
            crawled > pd.Timestamp.now(tz="UTC") + FUTURE_SLACK)
    if {"published_at", "crawled_at"} <= set(df):
        pub = df["published_at"]
        broken["published_at is before 1990"] = pub.notna() & (pub < EARLIEST)
        broken["published_at is in the future"] = pub.notna() & (
            pub > df["crawled_at"] + FUTURE_SLACK
        )
    if "url" in df:
        broken["url is not http(s)"] = ~df["url"].astype("str").str.match(r"^https?://[^/\s]+")
    if "body" in df:
        # clean() counted the words already; a frame that did not come from it is counted here
        words = (df["word_count"] if "word_count" in df
                 else df["body"].fillna("").astype("str").str.count(r"\w+"))
        broken["body has no words"] = words.fillna(0).eq(0)
    return broken


def split_valid(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(valid rows, invalid rows with a 'reason' column listing every broken rule)."""
    broken = rules(df)
    reasons = pd.Series("", index=df.index, dtype="str")
    for name, mask in broken.items():
        mask = mask.fillna(True).astype(bool)
        reasons = reasons.where(~mask, reasons + "; " + name)
    reasons = reasons.str.lstrip("; ")
    bad = reasons.ne("")
    invalid = df[bad].copy()
    invalid["reason"] = reasons[bad]
    return df[~bad].copy(), invalid
