"""Source health (etl/health.py): the verdict rules on given histories, and a replica redesign
(bylines stripped) that fails the night through the real crawl, transform, loads and check."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from etl import health
from tests.conftest import write_sources


def _night(loaded: int = 10, authors: int = 9, page_date: int = 10, words: float = 400,
           known: int = 0, **extra: int) -> dict:
    row = {"inserted": loaded, "updated": 0, "unchanged": 0, "known_skipped": known,
           "pages_fetched": loaded, "items": loaded, "rejected": 0, "crawl_rejects": 0,
           "with_authors": authors, "with_page_date": page_date, "body_words_median": words,
           "not_article": 0}
    row.update(extra)
    return row


def test_a_coverage_drop_fails_with_seven_nights_and_only_warns_with_fewer():
    tonight = _night(authors=0)
    failures, warnings = health.judge("site", tonight, [_night() for _ in range(7)])
    assert len(failures) == 1 and not warnings
    assert failures[0].startswith("site: share of articles with authors fell to 0%")
    assert "usual range 90%-90%, median 90% over the last 7 nights" in failures[0]

    failures, warnings = health.judge("site", tonight, [_night() for _ in range(6)])
    assert failures == []
    assert len(warnings) == 1 and "only 6 nights of history (< 7)" in warnings[0]


def test_a_source_that_usually_yields_and_finds_nothing_fails():
    history = [_night(loaded=n) for n in (3, 5, 4, 6, 2, 5, 4)]
    failures, _ = health.judge("site", _night(loaded=0, authors=0, page_date=0), history)
    assert failures == ["site: yield (articles found) is 0 (usual range 2-6, median 4 over the "
                        "last 7 nights); has the site or its listing changed?"]


def test_an_idempotent_rerun_is_healthy_and_a_half_median_is_the_limit():
    history = [_night() for _ in range(10)]
    # everything known and skipped: nothing loaded, so no coverage figure, and yield is 10
    assert health.judge("site", _night(loaded=0, authors=0, page_date=0, known=10),
                        history) == ([], [])
    assert health.judge("site", _night(words=200), history) == ([], [])  # exactly half: fine
    failures, _ = health.judge("site", _night(words=199), history)
    assert [f.split(" fell")[0] for f in failures] == ["site: median body words"]


def test_a_rerun_that_loads_nothing_keeps_the_nights_coverage(tmp_path: Path):
    from etl import migrate, warehouse

    url = f"sqlite:///{tmp_path / 'wh.db'}"
    migrate.migrate(url)
    eng = warehouse.engine(url)
    start = datetime(2022, 1, 31, 2, tzinfo=UTC)
    with eng.begin() as conn:
        for n, figures in enumerate([_night(), _night(loaded=0, authors=0, page_date=0,
                                                      words=None, known=10)]):
            at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(hours=n)
            warehouse.record_run(conn, {
                **dict.fromkeys(warehouse.RUN_FIGURES, 0), **figures, "run_id": f"run{n}",
                "source": "site", "interval_start": start, "interval_end": start + timedelta(1),
                "started_at": at, "finished_at": at})
        (night,) = health.nights(conn)
    eng.dispose()
    assert night["run_id"] == "run1" and night["known_skipped"] == 10  # the rerun's counts...
    got = health.figures(night)
    assert (got["yield"], got["authors_share"], got["body_words_median"]) == (10, 0.9, 400)


def test_reject_shares_warn_and_never_fail_here():
    history = [_night() for _ in range(10)]
    failures, warnings = health.judge("site", _night(rejected=8, not_article=6), history)
    assert failures == []
    assert [w.split(" is ")[0] for w in warnings] == ["site: not-article share of pages fetched",
                                                      "site: reject share"]


def test_the_crawl_refuses_a_window_after_the_replica_clock(tmp_path: Path):
    from nightdesk.pipeline import NothingToCrawl, crawl

    sources = write_sources(tmp_path / "s.toml")
    with pytest.raises(NothingToCrawl, match=r"moscowtimes is the bundled replica, frozen at "
                                         r"2022-02-02T12:00:00\+03:00: the window .*2026-12-06"):
        crawl("moscowtimes", "2026-12-06T02:00:00+00:00", "2026-12-07T02:00:00+00:00",
              sources_file=sources, data_dir=tmp_path / "data")
    assert not (tmp_path / "data" / "raw").exists()  # refused before anything was crawled


def _night_through_the_pipeline(day: datetime, sources: Path, data: Path, url: str) -> dict:
    from etl.load import check, load_lake, load_warehouse
    from etl.migrate import migrate
    from etl.transform import transform
    from nightdesk.pipeline import crawl

    start, end = day, day + timedelta(days=1)
    run_id = f"test__{start:%Y%m%d}"
    crawl("moscowtimes", start, end, sources_file=sources, data_dir=data, warehouse_url=url)
    transform(start, end, sources=["moscowtimes"], data_dir=data, warehouse_url=url)
    load_lake(start, end, data_dir=data, run_id=run_id)
    migrate(url)
    load_warehouse(start, end, data_dir=data, warehouse_url=url, run_id=run_id)
    return check(start, end, data_dir=data, warehouse_url=url, run_id=run_id)


@pytest.mark.slow
def test_a_replica_template_without_bylines_fails_the_night(tmp_path: Path, seed_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch):
    """Eight healthy nights of the replica, then its template drops the bylines: the check task's
    function fails the night naming the source, the figure and its usual range."""
    import sqlalchemy as sa

    from etl import warehouse
    from etl.load import CheckFailed
    from replica.render import TEMPLATE_ENV

    monkeypatch.setenv("NIGHTDESK_SEED_ARTICLE", str(seed_path))
    monkeypatch.delenv(TEMPLATE_ENV, raising=False)
    sources, data = write_sources(tmp_path / "s.toml"), tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    first = datetime(2022, 1, 23, 2, tzinfo=UTC)
    for n in range(8):
        result = _night_through_the_pipeline(first + timedelta(days=n), sources, data, url)
        assert result["problems"] == []
    assert result["health"]["moscowtimes"]["authors_share"] == 1.0

    monkeypatch.setenv(TEMPLATE_ENV, "no-bylines")
    with pytest.raises(CheckFailed) as failed:
        _night_through_the_pipeline(first + timedelta(days=8), sources, data, url)
    message = str(failed.value)
    print(message)  # shown with -s: the operator's view of the failure
    assert "moscowtimes: share of articles with authors fell to 0%" in message
    assert "below half its median (usual range 100%-100%" in message

    # The verdict is on the night's runs row, where the Nightdesk view shows it.
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        verdicts = dict(conn.execute(
            sa.select(warehouse.runs.c.run_id, warehouse.runs.c.health)).all())
        row = conn.execute(sa.select(warehouse.runs).where(
            warehouse.runs.c.run_id == "test__20220131")).mappings().one()
    eng.dispose()
    assert verdicts.pop("test__20220131").startswith("fail: moscowtimes: share of articles with")
    assert len(verdicts) == 8 and all(v == "ok" or v.startswith("warn:") for v in verdicts.values())
    assert row["with_authors"] == 0 and row["inserted"] > 0
    assert json.loads(row["rejects_by_reason"]) == {}
    assert row["crawl_seconds"] > 0 and row["load_seconds"] > 0
