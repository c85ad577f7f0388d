"""Near-duplicate clusters through the real ETL: syndicated copies across sources and across runs
get `duplicate_of` (the earliest published copy) in the lake and the warehouse, nothing is
dropped, and a rerun leaves labels and the index unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa

from contracts.layout import window_dir
from etl import clusters, load, migrate, transform, warehouse
from etl.neardup import NearDupIndex
from tests.test_etl import raw_article

DAY1 = datetime(2022, 1, 31, 2, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY2 + timedelta(days=1)

GRAIN = (
    "Wheat exporters in the Black Sea region raised their prices for a third week as buyers in "
    "North Africa returned to the market after a pause over the holidays. Traders said that "
    "cargoes for loading in March were offered at levels not seen since the autumn, while "
    "shipping insurers asked for higher premiums on routes that pass near the Kerch Strait.\n\n"
    "The agriculture ministry kept its forecast for the coming harvest unchanged and said that "
    "winter sowings were in good condition after a mild December. Analysts at two consultancies "
    "expect export quotas to be extended into the spring, which would limit how much grain "
    "leaves southern ports before the new crop arrives in July.\n\n"
    "Egypt's state buyer did not announce a tender this week, and importers in Turkey said they "
    "would wait for clearer signals on freight costs before committing to large purchases.")
METRO = (
    "The city transport department opened four new stations on the northern line on Saturday, "
    "extending the route by eleven kilometres into districts that until now depended on buses "
    "that were often stuck in traffic on the ring road. The mayor rode the first train and "
    "promised that the next section, with three more stations, would open before the end of "
    "the year.\n\n"
    "Residents interviewed at the new terminus said the journey to the centre had been cut "
    "from more than an hour to about thirty minutes, although several complained that the "
    "park-and-ride lots were not finished and that the station exits lacked ramps for "
    "strollers and wheelchairs. Officials said the remaining works would be completed within "
    "weeks.")


def article(source: str, sid: str, body: str, published: str) -> dict[str, Any]:
    return raw_article(article_id=f"{source}:{sid}", body=body, published_at=published,
                       modified_at=published, title=f"{source} story {sid}",
                       url=f"https://www.{source}.example/news/{sid}",
                       crawled_at=(datetime.fromisoformat(published) + timedelta(hours=20))
                       .isoformat())


def land(data: Path, source: str, start: datetime, articles: list[dict[str, Any]]) -> None:
    folder = window_dir(data, source, start, start + timedelta(days=1))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "articles.jsonl").write_text(
        "".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    (folder / "stats.json").write_text(json.dumps(
        {"finish_reason": "finished", "nightdesk/article_requests": len(articles)}),
        encoding="utf-8")


def run(data: Path, url: str, start: datetime, sources: list[str], run_id: str,
        neardup: bool = True) -> dict:
    end = start + timedelta(days=1)
    summary = transform.transform(start, end, sources=sources, data_dir=data, warehouse_url=url,
                                  neardup=neardup)
    load.load_lake(start, end, data_dir=data, run_id=run_id, neardup=neardup)
    migrate.migrate(url)
    load.load_warehouse(start, end, data_dir=data, warehouse_url=url, run_id=run_id)
    return summary


def labels(data: Path, url: str) -> tuple[dict[str, str | None], dict[str, str | None]]:
    table = ds.dataset(data / "lake" / "articles", format="parquet", partitioning="hive"
                       ).to_table(columns=["article_id", "duplicate_of"]).to_pylist()
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        sql = conn.execute(sa.select(warehouse.articles.c.article_id,
                                     warehouse.articles.c.duplicate_of)).all()
    eng.dispose()
    return {r["article_id"]: r["duplicate_of"] for r in table}, dict(sql)


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, str]:
    return tmp_path, f"sqlite:///{tmp_path / 'w.db'}"


def test_copies_across_sources_and_runs_are_labelled_not_dropped(stores, monkeypatch):
    data, url = stores
    wire = GRAIN + "\n\nReporting by the wire desk; editing by the night editor."
    land(data, "alpha", DAY1, [article("alpha", "1", GRAIN, "2022-01-31T09:00:00+00:00"),
                               article("alpha", "2", METRO, "2022-01-31T10:00:00+00:00")])
    land(data, "beta", DAY1, [article("beta", "7", wire, "2022-01-31T11:30:00+00:00")])
    first = run(data, url, DAY1, ["alpha", "beta"], "r1")
    assert first["sources"]["beta"]["near_duplicates"] == 1
    assert first["sources"]["alpha"]["near_duplicates"] == 0

    # Next night, a third site runs the same wire story with a new headline and one sentence cut.
    trimmed = GRAIN.replace(" Traders said that cargoes for loading in March were offered at "
                            "levels not seen since the autumn,", " Meanwhile,")
    land(data, "gamma", DAY2, [article("gamma", "3", trimmed, "2022-02-01T08:00:00+00:00")])
    run(data, url, DAY2, ["gamma"], "r2")

    lake_labels, sql_labels = labels(data, url)
    expected = {"alpha:1": None, "alpha:2": None, "beta:7": "alpha:1", "gamma:3": "alpha:1"}
    assert lake_labels == expected
    assert sql_labels == expected
    index = NearDupIndex.load(clusters.index_path(data))
    assert len(index) == 4
    assert index.duplicate_of(["beta:7", "gamma:3"]).tolist() == ["alpha:1", "alpha:1"]


def test_rerun_keeps_labels_and_index(stores, monkeypatch):
    data, url = stores
    land(data, "alpha", DAY3, [article("alpha", "1", GRAIN, "2022-02-02T09:00:00+00:00"),
                               article("alpha", "5", GRAIN + "\n\nUpdated with prices.",
                                       "2022-02-02T12:00:00+00:00")])
    run(data, url, DAY3, ["alpha"], "r1")
    before = labels(data, url), clusters.index_path(data).read_bytes()
    summary = run(data, url, DAY3, ["alpha"], "r2")
    after = labels(data, url), clusters.index_path(data).read_bytes()
    assert summary["sources"]["alpha"]["near_duplicates"] == 1
    assert before[0][0] == {"alpha:1": None, "alpha:5": "alpha:1"}
    assert after == before


def test_switched_off_leaves_labels_null_and_keeps_no_index(stores):
    data, url = stores
    land(data, "alpha", DAY1, [article("alpha", "1", GRAIN, "2022-01-31T09:00:00+00:00"),
                               article("alpha", "9", GRAIN + "\n\nMore.",
                                       "2022-01-31T10:00:00+00:00")])
    run(data, url, DAY1, ["alpha"], "r1", neardup=False)
    assert labels(data, url)[0] == {"alpha:1": None, "alpha:9": None}
    assert not clusters.index_path(data).exists()


def test_windows_loaded_after_both_were_transformed_lose_no_article(stores, monkeypatch):
    """A backfill may transform two windows before loading either: the second load finds the
    index changed since its transform and adds its batch instead of replacing the index."""
    data, url = stores
    land(data, "alpha", DAY1, [article("alpha", "1", GRAIN, "2022-01-31T09:00:00+00:00"),
                               article("alpha", "2", METRO, "2022-01-31T10:00:00+00:00")])
    land(data, "beta", DAY2, [article("beta", "7", "Wire copy.\n\n" + GRAIN,
                                      "2022-02-01T11:30:00+00:00")])
    for day, source in ((DAY1, "alpha"), (DAY2, "beta")):
        transform.transform(day, day + timedelta(days=1), sources=[source], data_dir=data,
                            warehouse_url=url)
    staged = [transform.staging_dir(data, d, d + timedelta(days=1)) / clusters.STAGED
              for d in (DAY1, DAY2)]
    assert all(p.exists() for p in staged)
    for day, run_id in ((DAY1, "r1"), (DAY2, "r2")):
        load.load_lake(day, day + timedelta(days=1), data_dir=data, run_id=run_id)
    assert not any(p.exists() for p in staged)  # installed or added, then consumed
    index = NearDupIndex.load(clusters.index_path(data))
    assert sorted(index.duplicate_of().index) == ["alpha:1", "alpha:2", "beta:7"]
    # beta:7 was labelled at its transform, before alpha:1 was indexed; the index, which saw
    # both, clusters them.
    assert index.duplicate_of(["beta:7"]).tolist() == ["alpha:1"]
    # A retry of the load finds nothing staged and changes nothing.
    before = clusters.index_path(data).read_bytes()
    assert load.load_lake(DAY2, DAY2 + timedelta(days=1), data_dir=data,
                          run_id="r2")["neardup_index_size"] == 3
    assert clusters.index_path(data).read_bytes() == before
