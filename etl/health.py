"""Source health: per source and night, the figures a broken site shows first, and the verdict.

Recorded on the warehouse's `runs` row by the load (columns of migration 0004), judged
by the DAG's `check` task against the same source's last 30 nights:

- yield: articles found (new, changed, or known and unchanged, fetched again or skipped as
  known), so an idempotent rerun that fetches nothing new is healthy;
- coverage: shares of the loaded articles with authors and with a publication date read from the
  page itself (not from a feed or sitemap), and their median body words;
- not-article and reject shares (shown and warned about; the quarantine limit of
  NIGHTDESK_MAX_QUARANTINE_SHARE in etl/load.py is the only reject rule that fails a night).

A night fails, naming the source, the figure and its usual range, when a source that usually
yields finds nothing, or a coverage figure falls below half its median of the last 30 nights.
With fewer than MIN_NIGHTS nights of history for a figure the same finding only warns.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from contracts.layout import window_dir
from etl import warehouse

HISTORY_NIGHTS = 30
MIN_NIGHTS = 7
# Where published_at came from when the page itself gave none (spiders/spiders/news.py's hints).
LISTING_ORIGINS = ("feed:", "sitemap:")


@dataclass
class Tally:
    """One source's loaded articles of a night, added batch by batch (bounded memory)."""

    loaded: int = 0
    with_authors: int = 0
    with_page_date: int = 0
    words: list[np.ndarray] = field(default_factory=list)

    def add(self, rows: pd.DataFrame) -> None:
        self.loaded += len(rows)
        self.with_authors += int(sum(len(a) > 0 for a in rows["authors"] if a is not None))
        origin = rows["published_at_from"].astype("object").fillna("")
        self.with_page_date += int(sum(
            bool(o) and not str(o).startswith(LISTING_ORIGINS) for o in origin))
        self.words.append(np.asarray(rows["word_count"], dtype=np.int64))

    def median_words(self) -> float | None:
        words = np.concatenate(self.words) if self.words else np.array([], dtype=np.int64)
        return float(np.median(words)) if len(words) else None


def crawl_stats(data_dir: str | Path, source: str, start: datetime, end: datetime) -> dict:
    path = window_dir(data_dir, source, start, end) / "stats.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def night_columns(tally: Tally, quarantine: pd.DataFrame, stats: Mapping[str, Any],
                  finished: datetime) -> dict[str, Any]:
    """The runs columns of one source's night: `quarantine` holds that source's rows only."""
    reasons = Counter(str(r) for r in quarantine["reason"])
    crawl_end = pd.to_datetime(stats.get("finish_time"), utc=True)
    elapsed = stats.get("elapsed_time_seconds")
    return {
        "crawl_rejects": int((quarantine["stage"] != "validate").sum()),
        "quarantined": int((quarantine["stage"] == "validate").sum()),
        "not_article": int(reasons.get("not_article", 0)),
        "rejects_by_reason": json.dumps(dict(sorted(reasons.items()))),
        "with_authors": tally.with_authors,
        "with_page_date": tally.with_page_date,
        "body_words_median": tally.median_words(),
        "crawl_seconds": round(float(elapsed), 3) if elapsed is not None else None,
        "load_seconds": (round((finished - crawl_end.to_pydatetime()).total_seconds(), 3)
                         if pd.notna(crawl_end) else None),
    }


def _share(part: Any, whole: Any) -> float | None:
    return None if part is None or not whole else part / whole


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    kind: str  # "yield" | "coverage" | "share"
    value: Callable[[Mapping[str, Any]], float | None]
    unit: str = "%"

    def show(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        return f"{value:.0%}" if self.unit == "%" else f"{value:g}"


def _loaded(r: Mapping[str, Any]) -> int:
    return int(r["inserted"] + r["updated"] + r["unchanged"])


def _covered(r: Mapping[str, Any]) -> int:
    """Articles the coverage figures are shares of (see nights() for a rerun's)."""
    return int(r.get("coverage_loaded") or _loaded(r))


_COVERAGE_INPUTS = ("with_authors", "with_page_date", "body_words_median")


FIGURES: tuple[Figure, ...] = (
    Figure("yield", "yield (articles found)", "yield",
           lambda r: float(_loaded(r) + r["known_skipped"]), unit="articles"),
    Figure("authors_share", "share of articles with authors", "coverage",
           lambda r: _share(r.get("with_authors"), _covered(r))),
    Figure("page_date_share", "share of articles with a page-given publication date",
           "coverage", lambda r: _share(r.get("with_page_date"), _covered(r))),
    Figure("body_words_median", "median body words", "coverage",
           lambda r: r.get("body_words_median") if _covered(r) else None, unit="words"),
    Figure("not_article_share", "not-article share of pages fetched", "share",
           lambda r: _share(r.get("not_article"), r["pages_fetched"])),
    Figure("reject_share", "reject share", "share",
           lambda r: _share(r["rejected"], r["items"] + (r.get("crawl_rejects") or 0))),
)


def figures(row: Mapping[str, Any]) -> dict[str, float | None]:
    """Every health figure of one runs row (None where it cannot be known)."""
    return {f.name: f.value(row) for f in FIGURES}


def nights(conn: sa.Connection, *, source: str | None = None, before: datetime | None = None,
           limit: int | None = None) -> list[dict[str, Any]]:
    """One runs row per source and window, the latest run's (a rerun replaces a night), newest
    first; `before`: windows starting before it; `limit`: that many nights per source.

    A rerun that loaded nothing (everything known) keeps the coverage of the window's last run
    that loaded articles (`coverage_loaded` and its inputs), so reruns do not erase history."""
    r = warehouse.runs
    stmt = sa.select(r)
    if source is not None:
        stmt = stmt.where(r.c.source == source)
    if before is not None:
        stmt = stmt.where(r.c.interval_start < before)
    rows = conn.execute(stmt.order_by(r.c.finished_at)).mappings().all()
    latest: dict[tuple[str, Any], dict[str, Any]] = {}
    for row in rows:  # oldest first: a later run of the same window replaces the earlier one
        key = (row["source"], pd.Timestamp(row["interval_start"]))
        earlier, row = latest.get(key), dict(row)
        if earlier is not None and not _loaded(row) and _covered(earlier):
            row.update({k: earlier[k] for k in _COVERAGE_INPUTS},
                       coverage_loaded=_covered(earlier))
        latest[key] = row
    ordered = sorted(latest.values(), key=lambda x: pd.Timestamp(x["interval_start"]),
                     reverse=True)
    if limit is None:
        return ordered
    kept: Counter[str] = Counter()
    out = []
    for row in ordered:
        if kept[row["source"]] < limit:
            kept[row["source"]] += 1
            out.append(row)
    return out


def judge(source: str, tonight: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
          ) -> tuple[list[str], list[str]]:
    """(failures, warnings) of one source's night against its earlier nights (newest first)."""
    failures: list[str] = []
    warnings: list[str] = []
    now = figures(tonight)
    for fig in FIGURES:
        value = now[fig.name]
        past = [v for v in (fig.value(h) for h in history) if v is not None]
        if value is None or not past:
            continue
        median = statistics.median(past)
        usual = (f"usual range {fig.show(min(past))}-{fig.show(max(past))}, median "
                 f"{fig.show(median)} over the last {len(past)} nights")
        finding = None
        if fig.kind == "yield" and value == 0 and median > 0:
            finding = f"{source}: {fig.label} is 0 ({usual}); has the site or its listing changed?"
        elif fig.kind == "coverage" and median > 0 and value < median / 2:
            finding = (f"{source}: {fig.label} fell to {fig.show(value)}, below half its median "
                       f"({usual}); has the site's template changed?")
        elif fig.kind == "share" and value > max(2 * median, 0.05):
            warnings.append(f"{source}: {fig.label} is {fig.show(value)} ({usual})")
        if finding is None:
            continue
        if len(past) < MIN_NIGHTS:
            warnings.append(f"{finding} [only {len(past)} nights of history (< {MIN_NIGHTS}): "
                            "a warning, not a failure]")
        else:
            failures.append(finding)
    return failures, warnings


def check_night(warehouse_url: str, start: datetime, end: datetime,
                run_id: str | None = None) -> dict[str, Any]:
    """Judge every source of the window's run (`run_id`, else the window's latest) and record
    each source's verdict on its runs row. Returns figures, failures and warnings."""
    eng = warehouse.engine(warehouse_url)
    r = warehouse.runs
    result: dict[str, Any] = {"sources": {}, "failures": [], "warnings": []}
    with eng.begin() as conn:
        if run_id is None:
            window = [n for n in nights(conn, before=end)
                      if pd.Timestamp(n["interval_start"]) == pd.Timestamp(start)]
        else:
            window = [dict(m) for m in conn.execute(
                sa.select(r).where(r.c.run_id == run_id)).mappings()]
        for row in window:
            source = row["source"]
            history = nights(conn, source=source, before=start, limit=HISTORY_NIGHTS)
            failures, warnings = judge(source, row, history)
            verdict = ("fail: " + "; ".join(failures) if failures
                       else "warn: " + "; ".join(warnings) if warnings else "ok")
            conn.execute(sa.update(r).where(r.c.run_id == row["run_id"], r.c.source == source)
                         .values(health=verdict))
            result["sources"][source] = {**figures(row), "nights_of_history": len(history),
                                         "health": verdict}
            result["failures"] += failures
            result["warnings"] += warnings
    eng.dispose()
    return result
