"""The crawl's books, checked: every URL listed for a window ends in exactly one row.

`assert_accounted(window_dir)` holds, for any finished crawl (stats.json, articles.jsonl and
rejects.jsonl of spiders/run.py): listed = stored + rejected + known (judged on an earlier night,
nothing says it changed), the files agree with the stats, every reject says why, and no URL has
two rows. Every crawl test calls it.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

REJECT_KEYS = {"source", "url", "stage", "reason", "detail", "at"}
STAGES = {"discovery", "fetch", "parse", "window"}


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def assert_accounted(window_dir: str | Path) -> dict[str, int]:
    """Check one crawl's books; returns {listed, stored, rejected, known} for further asserts."""
    folder = Path(window_dir)
    stats_file = folder / "stats.json"
    if not stats_file.exists():  # a failed crawl's work folder
        stats_file = next(folder.glob("stats*.json"))
    stats = json.loads(stats_file.read_text(encoding="utf-8"))
    articles = _rows(folder / "articles.jsonl")
    rejects = _rows(folder / "rejects.jsonl")

    def n(key: str) -> int:
        return int(stats.get(f"nightdesk/{key}", 0))

    books = {"listed": n("listed"), "stored": len(articles), "rejected": n("rejected"),
             "known": n("known_skipped")}
    assert books["stored"] == n("articles"), (books, "articles.jsonl disagrees with the stats")
    assert len(rejects) == n("rejected") + n("documents_rejected"), (
        len(rejects), "rejects.jsonl disagrees with the stats")
    assert books["listed"] == books["stored"] + books["rejected"] + books["known"], books
    for row in rejects:
        assert set(row) == REJECT_KEYS, row
        assert row["stage"] in STAGES and row["reason"] and row["detail"], row
        assert " " not in row["reason"], row  # a slug; the words go in detail
    twice = [u for u, c in Counter([a["url"] for a in articles]).items() if c > 1]
    assert not twice, f"stored twice: {twice}"
    twice = [u for u, c in Counter((r["url"], r["stage"]) for r in rejects).items() if c > 1]
    assert not twice, f"rejected twice: {twice}"
    return books
