"""Where each stage's files live under the data directory, named by data, never by run id.

    raw/source={name}/window={label}/     one crawl (spiders.run): articles.jsonl, rejects.jsonl,
                                          fetched.jsonl, crawl.log, stats.json (written last)
    staging/window={label}/               one transform's staged batch
    lake/articles/source=/published_month=/   the Parquet lake (partitioned by data)
    lake/{history,quarantine,rejects}/    replaced versions, refused rows, crawl rejects
    neardup/index.parquet                 the near-duplicate index
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

_STAMP = "%Y%m%dT%H%M%SZ"


def window_label(start: datetime, end: datetime) -> str:
    """How outputs of one data interval are named (by data, never by run id or wall clock)."""
    return f"{start.strftime(_STAMP)}_{end.strftime(_STAMP)}"


def window_dir(data_dir: str | Path, source: str, start: datetime, end: datetime) -> Path:
    """One source's raw crawl output for [start, end)."""
    return Path(data_dir) / "raw" / f"source={source}" / f"window={window_label(start, end)}"


def staging_dir(data_dir: str | Path, start: datetime, end: datetime) -> Path:
    return Path(data_dir) / "staging" / f"window={window_label(start, end)}"


def lake_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "lake"


def lake_articles_dir(data_dir: str | Path) -> Path:
    return lake_dir(data_dir) / "articles"


def neardup_index(data_dir: str | Path) -> Path:
    return Path(data_dir) / "neardup" / "index.parquet"


def parse_window_dir(folder: Path) -> tuple[str, datetime, datetime]:
    """(source, start, end) of a raw window folder that window_dir named."""
    source = folder.parent.name.split("=", 1)[1]
    start, end = (datetime.strptime(v, _STAMP).replace(tzinfo=UTC)
                  for v in folder.name.split("=", 1)[1].split("_"))
    return source, start, end
