"""Incremental crawling on the replica: a later night fetches only what is new or what the site's
own change signal (the full-body /rss/all feed) says changed, and changed articles keep history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa

from etl import lake, warehouse
from nightdesk.pipeline import run
from tests.conftest import write_sources
from tests.sites.accounting import assert_accounted
from tests.test_crawl_e2e import expected_ids

BACKLOG_END = datetime(2022, 1, 27, 2, tzinfo=UTC)
NIGHT_END = datetime(2022, 2, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory, seed_path):
    """Night 1 (clock 2022-01-27 04:59 MSK) loads the backlog; night 2 (clock 2022-02-02 12:00)
    covers a week with 24 new articles while three older ones were edited meanwhile."""
    data = tmp_path_factory.mktemp("incremental")
    url = f"sqlite:///{data / 'warehouse.db'}"
    early = write_sources(data / "early.toml", replica_now="2022-01-27T04:59:00+03:00")
    late = write_sources(data / "late.toml", replica_now="2022-02-02T12:00:00+03:00")
    first = run(datetime(2021, 12, 1, tzinfo=UTC).isoformat(), BACKLOG_END.isoformat(),
                sources_file=str(early), data_dir=str(data), warehouse_url=url, run_id="night-1")
    assert_accounted(first["crawls"][0]["window_dir"])
    second = run(BACKLOG_END.isoformat(), NIGHT_END.isoformat(), sources_file=str(late),
                 data_dir=str(data), warehouse_url=url, run_id="night-2")
    assert_accounted(second["crawls"][0]["window_dir"])
    return data, url, first, second


def test_backlog_night_loads_everything_once(two_nights, seed_path):
    _, _, first, _ = two_nights
    want = expected_ids(seed_path, datetime(2021, 12, 1, tzinfo=UTC), BACKLOG_END)
    assert first["warehouse"]["moscowtimes"]["inserted"] == len(want)
    assert first["crawls"][0]["article_requests"] == len(want)


def test_later_night_fetches_only_new_and_changed(two_nights, seed_path):
    _, _, _, second = two_nights
    crawl = second["crawls"][0]
    figures = second["warehouse"]["moscowtimes"]
    new = len(expected_ids(seed_path, BACKLOG_END, NIGHT_END))
    assert new >= 20
    assert figures["inserted"] == new
    assert figures["updated"] == 3  # the three articles revised between the nights
    assert crawl["changed_requested"] == 3 and crawl["new_requested"] == new
    pages_per_change = crawl["article_requests"] / (figures["inserted"] + figures["updated"])
    assert pages_per_change <= 1.1
    # discovery is counted apart from article pages
    assert crawl["discovery_requests"] > 0
    assert crawl["requests"] >= crawl["discovery_requests"] + crawl["article_requests"]


def test_changed_articles_keep_their_history(two_nights):
    data, url, _, _ = two_nights
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        versions = conn.execute(sa.select(warehouse.article_versions)).mappings().all()
        current = {r.article_id: r for r in conn.execute(sa.select(warehouse.articles))}
    assert sorted(v["article_id"] for v in versions) == [
        "moscowtimes:76140", "moscowtimes:76150", "moscowtimes:76160"]
    for v in versions:
        now = current[v["article_id"]]
        assert v["content_hash"] != now.content_hash
        assert v["first_run_id"] == now.first_run_id == "night-1"
        assert now.last_run_id == "night-2" and v["superseded_by_run_id"] == "night-2"
        assert len(now.body) > len(v["body"])  # the revision appended a paragraph
    lake_history = ds.dataset(data / "lake" / "history", format="parquet",
                              partitioning="hive").to_table().to_pandas()
    assert sorted(lake_history["article_id"]) == sorted(v["article_id"] for v in versions)
    assert set(lake_history["content_hash"]) == {v["content_hash"] for v in versions}
    assert lake.checksum(data) == warehouse.checksum(url)


def test_a_third_night_without_changes_fetches_nothing(two_nights):
    data, url, _, _ = two_nights
    late = data / "late.toml"
    third = run(BACKLOG_END.isoformat(), NIGHT_END.isoformat(), sources_file=str(late),
                data_dir=str(data), warehouse_url=url, run_id="night-3")
    assert third["crawls"][0]["article_requests"] == 0
    assert third["warehouse"]["moscowtimes"]["inserted"] == 0
    assert third["warehouse"]["moscowtimes"]["updated"] == 0


def test_refetch_ignores_what_was_fetched(two_nights):
    data, url, _, _ = two_nights
    day = datetime(2022, 1, 31, 2, tzinfo=UTC)
    forced = run(day.isoformat(), (day + timedelta(days=1)).isoformat(),
                 sources_file=str(data / "late.toml"), data_dir=str(data), warehouse_url=url,
                 run_id="forced", refetch=True)
    assert forced["crawls"][0]["article_requests"] > 0
    assert forced["warehouse"]["moscowtimes"]["updated"] == 0  # same content: no row changes


def test_a_raw_file_cut_short_is_flagged_and_its_lost_articles_fetched_again(tmp_path):
    """Crawl memory is written only for what reached the lake and the warehouse: articles lost
    from a raw file cut short after the crawl are flagged by transform and fetched next night."""
    import json

    from etl.load import check, load_lake, load_warehouse
    from etl.migrate import migrate
    from etl.transform import transform
    from nightdesk.pipeline import crawl
    from tests.conftest import SHARED
    from tests.sites import news_site as site
    from tests.sites.server import SiteServer
    from tests.test_news_spider import write_news_sources

    wh_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    data = tmp_path / "data"
    with SiteServer(site.build_routes(SHARED)) as server:
        sources = write_news_sources(tmp_path / "sources.toml", server,
                                     sitemaps=[site.url("/inc/sitemap.xml")])
        first = crawl("testnews", site.START, site.END, sources_file=sources, data_dir=data,
                      warehouse_url=wh_url)
        assert_accounted(first["window_dir"])
        raw = Path(first["window_dir"]) / "articles.jsonl"
        lines = raw.read_text(encoding="utf-8").splitlines(keepends=True)
        lost = json.loads(lines[-1])
        raw.write_text("".join(lines[:-1]), encoding="utf-8")  # cut short after the crawl
        staged = transform(site.START, site.END, sources=["testnews"], data_dir=data,
                           warehouse_url=wh_url)
        load_lake(site.START, site.END, data_dir=data, run_id="cut")
        migrate(wh_url)
        load_warehouse(site.START, site.END, data_dir=data, warehouse_url=wh_url, run_id="cut")
        check(site.START, site.END, data_dir=data, warehouse_url=wh_url)
        assert staged["articles"] == len(lines) - 1
        eng = warehouse.engine(wh_url)
        with eng.connect() as conn:
            flagged = conn.execute(sa.select(warehouse.quarantine).where(
                warehouse.quarantine.c.reason == "raw_count_mismatch")).mappings().all()
            remembered = {r.article_id for r in conn.execute(sa.select(warehouse.crawl_state))}
        assert len(flagged) == 1 and f"holds {len(lines) - 1} lines" in flagged[0]["payload"]
        assert lost["article_id"] not in remembered and len(remembered) == len(lines) - 1

        server.reset_log()
        second = crawl("testnews", site.START, site.END, sources_file=sources, data_dir=data,
                       warehouse_url=wh_url)
        assert_accounted(second["window_dir"])
        assert (second["article_requests"], second["items"]) == (1, 1)
        again = json.loads((Path(second["window_dir"]) / "articles.jsonl").read_text())
        assert again["article_id"] == lost["article_id"]


@pytest.mark.slow  # two nights of crawls and ETL, about 15 s
def test_crawl_week_bench_runs(monkeypatch, capsys):
    """`python -m bench.crawl_week` (docs/crawling.md), two nights: every new or changed URL is
    fetched once, discovery counted apart."""
    import json

    from bench import crawl_week

    monkeypatch.setenv("NIGHTDESK_ALLOWED_ADDRESSES", "127.0.0.1")
    assert crawl_week.main(["--nights", "2"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["new"] > 5 and result["discovery_requests"] == 2 * 5
    assert result["article_requests"] == result["new"] + result["changed"]
    assert result["requests_per_new_or_changed_url"] <= 1.1
