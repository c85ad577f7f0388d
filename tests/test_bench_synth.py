"""bench.synth lands exactly the raw format the spiders land: the real transform reads it
unchanged and finds what the generator put in (exact copies, bad rows with their reasons).

One small batch (600 rows: 30 exact copies, 30 near copies and, at twice the default share, 6 bad
rows, one of each kind) in the crawl's own layout (contracts.layout.window_dir), a SQLite warehouse
under tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from bench import synth
from contracts.dates import utc
from contracts.layout import staging_dir, window_dir
from contracts.schema import CRAWL_FIELDS
from etl.transform import transform

N = 600
SHARES = synth.Shares(bad=0.01)
START, END = "2023-06-01T02:00:00+00:00", "2024-06-01T02:00:00+00:00"
# What the quarantine reason must mention for each kind of bad row.
REASON = {"missing_title": "title", "empty_body": "body", "date_1970": "published_at",
          "date_2099": "published_at", "naive_date": "published_at", "garbage": "url"}


def _lines(data_dir: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for name in synth.source_names():
        path = window_dir(data_dir, name, utc(START), utc(END)) / "articles.jsonl"
        out[name] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return out


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    data = tmp_path_factory.mktemp("synth")
    truth = synth.write(N, data, START, END, seed=5, shares=SHARES)
    return data, truth


def test_the_raw_layout_and_fields_are_the_crawls(batch: tuple[Path, dict[str, Any]]) -> None:
    data, truth = batch
    rows = _lines(data)
    assert sum(map(len, rows.values())) == N == sum(truth["sources"].values())
    assert len(rows) == 5 and all(len(r) > 50 for r in rows.values())
    for name, lines in rows.items():
        folder = window_dir(data, name, utc(START), utc(END))
        assert (folder / "rejects.jsonl").read_text() == ""
        stats = json.loads((folder / "stats.json").read_text())
        for key in ("start_time", "nightdesk/article_requests", "nightdesk/article_failed",
                    "nightdesk/discovery_requests", "downloader/request_count"):
            assert key in stats
        assert stats["nightdesk/article_requests"] - stats["nightdesk/article_failed"] == len(lines)
        for row in lines:
            assert tuple(row) == CRAWL_FIELDS  # exactly the crawl fields, in schema order
            assert row["source"] == name and row["article_id"].startswith(f"{name}:")
            assert all(isinstance(row[f], list) for f in ("authors", "tags", "related_urls"))
    good = [r for lines in rows.values() for r in lines if r["article_id"] not in truth["bad"]]
    assert len({r["article_id"] for r in good}) == len(good)
    assert len({r["url"] for r in good}) == len(good)
    # Publication dates spread over the window with the sites' own offsets; bodies of news size.
    years = {r["published_at"][:4] for r in good}
    assert {"2023", "2024"} <= years
    assert {r["published_at"][19:] for r in good} >= {"+03:00", "-05:00", "-04:00", "Z",
                                                     "+05:30", "+01:00", "+02:00"}
    sizes = sorted(len(r["body"].encode()) for r in good)
    assert 3500 < sum(sizes) / len(sizes) < 6000 and sizes[-1] > 3 * sizes[len(sizes) // 2]
    assert all("\n\n" in r["body"] for r in good if len(r["body"]) > 3000)
    assert any(r["authors"] and r["authors"][0].startswith("By ") for r in good)


def test_transform_finds_the_copies_and_quarantines_the_bad_rows(
        batch: tuple[Path, dict[str, Any]]) -> None:
    data, truth = batch
    assert truth["counts"] == {"exact_duplicates": 30, "near_duplicates": 30, "bad": 6}
    assert sorted(truth["bad"].values()) == sorted(REASON)
    summary = transform(START, END, sources=synth.source_names(), data_dir=data,
                        warehouse_url=f"sqlite:///{data / 'warehouse.db'}")
    folder = staging_dir(data, utc(START), utc(END))
    manifest = json.loads((folder / "manifest.json").read_text())
    # Every exact copy, and nothing else, is dropped as a duplicate of its original.
    dropped = {d["article_id"]: d["duplicate_of"] for d in manifest["duplicates"]}
    assert dropped == truth["exact_duplicates"]
    # Every bad row, and nothing else, is quarantined, with a reason that names the problem.
    q = pq.read_table(folder / "quarantine.parquet").to_pandas()
    assert set(q["article_id"]) == set(truth["bad"])
    for article_id, reason in zip(q["article_id"], q["reason"], strict=True):
        assert REASON[truth["bad"][article_id]] in reason, (article_id, reason)
    # The rest is staged, near copies included (they differ from their originals).
    assert summary["articles"] == N - 30 - 6
    assert summary["quarantined"] == 6 and summary["duplicates"] == 30


def test_deterministic_by_seed(tmp_path: Path, batch: tuple[Path, dict[str, Any]],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    data, truth = batch
    again = synth.write(N, tmp_path / "again", START, END, seed=5, shares=SHARES)
    other = synth.write(N, tmp_path / "other", START, END, seed=6, shares=SHARES)
    assert _lines(tmp_path / "again") == _lines(data)
    assert again["exact_duplicates"] == truth["exact_duplicates"]
    assert _lines(tmp_path / "other") != _lines(data)
    assert other["counts"] == truth["counts"]
    # Worker processes write the same bytes as one process (small chunks: several of them).
    monkeypatch.setattr(synth, "CHUNK", 200)
    synth.write(N, tmp_path / "one", START, END, seed=5, jobs=1)
    synth.write(N, tmp_path / "two", START, END, seed=5, jobs=2)
    for name in synth.source_names():
        one, two = (window_dir(tmp_path / d, name, utc(START), utc(END)) / "articles.jsonl"
                    for d in ("one", "two"))
        assert one.read_bytes() == two.read_bytes()
