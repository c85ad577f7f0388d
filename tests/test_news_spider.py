"""End to end: the generic news spider crawls a local test site over real HTTP.

Each test runs `spiders.run.crawl` (a real `python -m scrapy crawl` subprocess) against
tests/sites/news_site.py served on 127.0.0.1. The site's made-up host is routed to the server
with `replica_addr` (as run.py does for any source), so requests keep real https URLs and the
crawl's address and offsite rules apply unchanged. The server's request log shows what was and,
more to the point, what was not fetched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from etl import warehouse
from nightdesk.pipeline import run
from spiders.run import CrawlError, crawl
from spiders.sources import SourceConfigError, load_sources
from spiders.spiders.listing import change_signal, signal_value
from tests.conftest import SHARED
from tests.sites import news_site as site
from tests.sites.accounting import assert_accounted
from tests.sites.server import SiteServer

FUNDUS = SHARED / "fixtures" / "fundus_en"


@pytest.fixture(scope="module")
def server() -> Iterator[SiteServer]:
    if not FUNDUS.exists():
        pytest.fail(f"the fundus_en fixtures are required and missing: {FUNDUS} "
                    "(set NIGHTDESK_SHARED)")
    with SiteServer(site.build_routes(SHARED)) as srv:
        yield srv


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value)  # JSON strings and lists of strings are valid TOML


def write_news_sources(path: Path, server: SiteServer, **entry: Any) -> Path:
    """A one-source sources file named "testnews" for the test site, with no politeness delay."""
    entry = {"name": "testnews", "spider": "news", "replica_addr": server.addr, **entry}
    lines = ["[[source]]", *(f"{k} = {_toml(v)}" for k, v in entry.items())]
    lines += ["[source.politeness]", "download_delay = 0.0", "autothrottle = false",
              "concurrent_requests_per_domain = 8", "retry_times = 0", "download_timeout = 10"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_crawl(tmp_path: Path, server: SiteServer, **entry: Any) -> tuple[dict, dict, list[dict]]:
    """Crawl the test window; return the figures, the stats and the stored articles."""
    server.reset_log()
    sources = write_news_sources(tmp_path / "sources.toml", server, **entry)
    figures = crawl("testnews", site.START, site.END, sources_file=sources, data_dir=tmp_path)
    out = Path(figures["window_dir"])
    assert_accounted(out)
    stats = json.loads((out / "stats.json").read_text())
    articles = [json.loads(line) for line in (out / "articles.jsonl").read_text().splitlines()]
    return figures, stats, articles


def stored_pages(articles: list[dict]) -> set[str]:
    """Which test-site pages the stored articles are (by served or canonical URL)."""
    manifest = json.loads((FUNDUS / "manifest.json").read_text())
    canonical = {row["html"]: row["url"] for row in manifest}
    by_url = {}
    for key, page in site.PAGES.items():
        by_url[site.page_url(key)] = key
        by_url[canonical[page.fixture]] = key
    return {by_url[a["url"]] for a in articles}


def fetched(server: SiteServer) -> set[str]:
    """Which test-site pages were requested."""
    paths = set(server.paths())
    return {key for key, page in site.PAGES.items() if page.path in paths}


IN_WINDOW_UTC = {"ap", "cnbc", "freebeacon", "gateway", "intercept"}


def test_feed_only_source(tmp_path, server):
    figures, stats, articles = run_crawl(
        tmp_path, server, feeds=[site.url("/feeds/rss.xml"), site.url("/feeds/atom.xml"),
                                 site.url("/feeds/feed.json")])
    assert stored_pages(articles) == IN_WINDOW_UTC
    # listed out of the window (Reuters by pubDate, and by its Atom updated) is never fetched;
    # fox (lying listing) and washtimes (naive page time read as UTC) are fetched, then dropped
    assert fetched(server) == IN_WINDOW_UTC | {"fox", "washtimes"}
    assert figures["out_of_window"] == 2
    assert server.paths().count(site.PAGES["ap"].path) == 1  # RSS (utm_*) and JSON Feed: once
    assert figures["article_requests"] == 7 and figures["items"] == 5
    assert stats["nightdesk/discovery_requests"] == 3 and figures["discovery_failed"] == 0
    for a in articles:
        assert a["article_id"].startswith("testnews:") and len(a["article_id"]) == 25
        assert a["source"] == "testnews" and a["body"] and a["published_at"]
    assert len({a["article_id"] for a in articles}) == len(articles)


def test_sitemap_only_source_with_timezone(tmp_path, server):
    """index -> gzipped index -> news sitemap; naive dates read in America/New_York."""
    figures, stats, articles = run_crawl(
        tmp_path, server, sitemaps=[site.url("/sitemaps/index.xml")],
        timezone="America/New_York", allowed_domains=["nightdesk-news.example"])
    paths = server.paths()
    assert "/sitemaps/news-index.xml.gz" in paths and "/sitemaps/news.xml" in paths
    assert "/sitemaps/2023-03.xml" not in paths  # its lastmod predates the window
    assert stats["nightdesk/sitemaps_skipped_by_lastmod"] == 1
    # The news sitemap's naive 13:53:25 is 17:53:25Z in New York, and so is the page's.
    assert stored_pages(articles) == {"washtimes", "intercept", "gateway", "cnbc"}
    assert fetched(server) == {"washtimes", "intercept", "gateway", "cnbc"}  # not fox/reuters
    wt = next(a for a in articles if stored_pages([a]) == {"washtimes"})
    assert wt["published_at"] == "2023-04-28T13:53:25-04:00"
    # the raw '&' in a news:title was repaired, reported as a recovery and not as a failure
    assert stats["nightdesk/discovery_recovered"] == 1 and figures["discovery_failed"] == 0
    # the section front and the consent page (listed undated) are fetched, counted, not stored
    assert {"/world/", "/consent"} <= set(paths)
    assert figures["not_article"] == 2 and stats["nightdesk/listed_undated"] == 2
    rejects = [json.loads(line) for line in
               (Path(figures["window_dir"]) / "rejects.jsonl").read_text().splitlines()]
    assert {(r["url"], r["stage"], r["reason"]) for r in rejects} == {
        (site.url(p), "parse", "not_article") for p in site.NON_ARTICLES}
    assert all(r["detail"] for r in rejects)  # extraction's verdict


def test_home_page_only_source(tmp_path, server):
    """Feeds from <link rel=alternate>, sitemaps from robots.txt; comment feeds ignored."""
    figures, stats, articles = run_crawl(tmp_path, server, home=site.url("/"))
    paths = server.paths()
    assert stats["nightdesk/feeds_discovered"] == 1 and stats["nightdesk/sitemaps_discovered"] == 1
    assert "/feeds/rss.xml" in paths and "/sitemaps/news.xml" in paths
    assert "/comments/feed/" not in paths
    assert stored_pages(articles) == IN_WINDOW_UTC
    assert "reuters" not in fetched(server)
    assert figures["discovery_failed"] == 0 and figures["not_article"] == 2


def test_bounds_are_reported(tmp_path, server):
    figures, _, _ = run_crawl(tmp_path, server, sitemaps=[site.url("/deep/0.xml")],
                              max_sitemap_depth=2, max_urls=5)
    paths = server.paths()
    assert "/deep/2.xml" in paths and "/deep/3.xml" not in paths
    assert figures["max_sitemap_depth_hit"] == 1
    # 1.xml, 2.xml and wide.xml spend three of the five; wide's seven pages get the other two
    assert figures["article_requests"] == 2 and figures["max_urls_hit"] == 5
    assert figures["discovery_failed"] == 0


def test_unreadable_discovery_documents_fail_the_crawl_loudly(tmp_path, server):
    sources = write_news_sources(
        tmp_path / "sources.toml", server,
        feeds=[site.url("/feeds/rss.xml"), site.url("/feeds/missing.xml")],
        sitemaps=[site.url("/broken/truncated.xml"), site.url("/broken/garbage.xml")])
    with pytest.raises(CrawlError, match="3 of 4 feed/sitemap requests failed") as failed:
        crawl("testnews", site.START, site.END, sources_file=sources, data_dir=tmp_path)
    assert not list((tmp_path / "raw").rglob("stats.json"))  # no window counts as crawled
    # A failed crawl's files stay where its log is (the error names it) for a look.
    kept = Path(re.search(r"\(log: (.+)\)", str(failed.value)).group(1)).parent
    stats = json.loads(next(p for p in kept.glob("*stats*.json*")).read_text())
    assert stats["nightdesk/discovery_unparseable"] == 1
    assert stats["nightdesk/discovery_truncated"] == 1
    rejects_file = next(kept.glob("*rejects.jsonl*"))
    rejects = {r["url"]: r for r in map(json.loads, rejects_file.read_text().splitlines())
               if r["stage"] == "discovery"}
    assert set(rejects) == {site.url(p) for p in ("/feeds/missing.xml", "/broken/garbage.xml",
                                                  "/broken/truncated.xml")}
    missing = rejects[site.url("/feeds/missing.xml")]
    assert (missing["reason"], missing["detail"]) == ("http_404", "HTTP 404")
    # the error names the failed documents and why
    assert f"{site.url('/feeds/missing.xml')} (HTTP 404)" in str(failed.value)
    assert_accounted(kept)
    assert "neither a feed nor a sitemap" in rejects[site.url("/broken/garbage.xml")]["detail"]
    assert rejects[site.url("/broken/truncated.xml")]["reason"] == "truncated"
    # what the truncated sitemap did hold was still used
    assert site.PAGES["intercept"].path in server.paths()


def test_sources_validate_generic_keys(tmp_path, server):
    def load(**entry: Any) -> None:
        load_sources(write_news_sources(tmp_path / "s.toml", server, **entry))

    with pytest.raises(SourceConfigError, match="IANA"):
        load(home=site.url("/"), timezone="Mars/Olympus")
    with pytest.raises(SourceConfigError, match="outside allowed_domains"):
        load(home=site.url("/"), allowed_domains=["example.org"])
    with pytest.raises(SourceConfigError, match="needs feeds, sitemaps or home"):
        load()
    with pytest.raises(SourceConfigError, match="max_urls"):
        load(home=site.url("/"), max_urls=-1)
    with pytest.raises(SourceConfigError, match="unknown key"):
        load(home=site.url("/"), sitemap=[site.url("/sitemaps/index.xml")])
    # allowed_domains: a host, host:port or a URL; scheme, www. and a default port do not count
    src = load_sources(write_news_sources(
        tmp_path / "forms.toml", server, home="http://127.0.0.1:8080/",
        allowed_domains=["127.0.0.1:8080", "https://www.Example.com:443/x", "example.org"]))
    assert src["testnews"].allowed_domains == ("127.0.0.1:8080", "example.com", "example.org")
    with pytest.raises(SourceConfigError, match="outside allowed_domains"):
        load(home="http://127.0.0.1:9090/", allowed_domains=["127.0.0.1:8080"])
    src = load_sources(write_news_sources(tmp_path / "ok.toml", server, home=site.url("/")))
    got = src["testnews"]
    assert (got.timezone, got.max_urls, got.max_sitemap_depth) == ("UTC", 5000, 3)


# -- incremental crawls -------------------------------------------------------------------------

INCREMENTAL_IN = {"ap", "cnbc", "freebeacon", "gateway", "intercept"}


def test_change_signal_is_the_latest_modification_offered():
    tz = ZoneInfo("America/New_York")
    naive = datetime(2023, 4, 28, 16, 0)  # 20:00Z in New York
    assert change_signal([("lastmod", naive)], tz) == "lastmod:2023-04-28T20:00:00+00:00"
    later = datetime(2023, 4, 28, 21, tzinfo=UTC)
    assert change_signal([("lastmod", naive), ("updated", later)], tz) == (
        "updated:2023-04-28T21:00:00+00:00")
    # equal times: the sitemap's lastmod, whatever order the documents arrived in
    same = datetime(2023, 4, 28, 20, tzinfo=UTC)
    assert change_signal([("updated", same), ("lastmod", naive)], tz) == (
        "lastmod:2023-04-28T20:00:00+00:00")
    # a date alone is later than every time of its (local) day
    assert change_signal([("lastmod", date(2023, 4, 28)), ("updated", later)], tz) == (
        "lastmod:2023-04-28")
    assert change_signal([], tz) is None
    # where a time was read is not compared, only the time
    assert signal_value("lastmod:2023-04-28") == signal_value("updated:2023-04-28")
    assert signal_value("rss-body:ab12") == "rss-body:ab12"


def test_incremental_crawls_fetch_only_new_and_changed(tmp_path):
    """Four nights through spiders.run.crawl, transform and load into a SQLite warehouse: all of
    the window, then nothing while the site is unchanged, then only the article whose lastmod
    moved, and a later window still picks up a change of an article it does not cover."""
    if not FUNDUS.exists():
        pytest.fail(f"the fundus_en fixtures are required and missing: {FUNDUS}")
    wh_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    with SiteServer(site.build_routes(SHARED)) as server:  # its own: revise() edits the site
        sources = write_news_sources(
            tmp_path / "sources.toml", server, sitemaps=[site.url("/inc/sitemap.xml")],
            feeds=[site.url("/feeds/atom.xml"), site.url("/inc/feed.json")])

        def night(run_id: str, days: int = 0) -> tuple[dict, dict, set[str]]:
            server.reset_log()
            shift = timedelta(days=days)
            result = run((site.START + shift).isoformat(), (site.END + shift).isoformat(),
                         sources_file=str(sources), data_dir=str(tmp_path / "data"),
                         warehouse_url=wh_url, run_id=run_id)
            assert "/inc/sitemap.xml" in server.paths()  # discovery runs every night
            assert_accounted(result["crawls"][0]["window_dir"])
            return result["crawls"][0], result["warehouse"]["testnews"], fetched(server)

        def crawl_state() -> dict[str, str | None]:
            with warehouse.engine(wh_url).connect() as conn:
                return {r.url: r.signal for r in conn.execute(sa.select(warehouse.crawl_state))}

        # 1: everything in the window is new; each stored article's signal is remembered
        crawl1, wh1, pages = night("night-1")
        assert pages == INCREMENTAL_IN
        assert (crawl1["new_requested"], crawl1["changed_requested"]) == (5, 0)
        assert crawl1["known_skipped"] == 0 and wh1["inserted"] == 5
        assert crawl_state() == {
            site.page_url("ap"): "lastmod:2023-04-28T17:45:00+00:00",
            site.page_url("cnbc"): "updated:2023-04-28T21:00:00+00:00",  # JSON Feed, later
            # no modification date offered: the listing's publication date stands in
            site.page_url("freebeacon"): "listed:2023-04-28T18:01:37+00:00",
            site.page_url("gateway"): "updated:2023-04-28T19:00:00+00:00",  # Atom
            site.page_url("intercept"): "lastmod:2023-04-28T16:00:00+00:00",  # = Atom updated
        }

        # 2: nothing changed: no article page is requested (freebeacon, unsignalled, neither)
        crawl2, wh2, pages = night("night-2")
        assert pages == set() and crawl2["article_requests"] == 0
        assert crawl2["known_skipped"] == 5
        assert (wh2["inserted"], wh2["updated"]) == (0, 0)

        # 3: the site corrects the AP story and moves its lastmod: that page alone is fetched
        site.revise(server.routes, "2023-04-29T09:30:00Z", "Revised figures are due in May.")
        crawl3, wh3, pages = night("night-3")
        assert pages == {"ap"} and server.paths().count(site.PAGES["ap"].path) == 1
        assert (crawl3["changed_requested"], crawl3["new_requested"]) == (1, 0)
        assert crawl3["known_skipped"] == 4
        assert (wh3["inserted"], wh3["updated"]) == (0, 1)
        assert crawl_state()[site.page_url("ap")] == "lastmod:2023-04-29T09:30:00+00:00"

        # 4: the next day's window lists none of these as its own, but a change is a change
        site.revise(server.routes, "2023-04-30T08:00:00Z", "The central bank will respond.")
        crawl4, wh4, pages = night("night-4", days=1)
        assert pages == {"ap"} and crawl4["changed_requested"] == 1
        assert (crawl4["new_requested"], crawl4["known_skipped"]) == (0, 0)
        assert (wh4["inserted"], wh4["updated"]) == (0, 1)

    with warehouse.engine(wh_url).connect() as conn:
        versions = conn.execute(sa.select(warehouse.article_versions)).mappings().all()
        current = {r.article_id: r for r in conn.execute(sa.select(warehouse.articles))}
    ap = next(a for a in current.values() if a.title.startswith("Mexico"))
    assert "The central bank will respond." in ap.body and ap.last_run_id == "night-4"
    assert ap.published_at.replace(tzinfo=UTC) < site.START + timedelta(days=1)  # not its window
    assert sorted(v["superseded_by_run_id"] for v in versions) == ["night-3", "night-4"]
    assert {v["article_id"] for v in versions} == {ap.article_id}
    assert len({v["content_hash"] for v in versions} | {ap.content_hash}) == 3
    old = {v["superseded_by_run_id"]: v["body"] for v in versions}
    assert "Revised figures" not in old["night-3"] and "Revised figures" in old["night-4"]


def test_retired_keys_warn_and_still_crawl_as_news(tmp_path, caplog):
    """An older sources file (spider = "moscowtimes", newsmap, sitemap_index) stays valid."""
    path = tmp_path / "old.toml"
    path.write_text('[[source]]\nname = "mt"\nspider = "moscowtimes"\n'
                    'feeds = ["https://www.themoscowtimes.com/rss/news"]\n'
                    'newsmap = "https://static.themoscowtimes.com/sitemap/newsmap.xml"\n'
                    'sitemap_index = "https://static.themoscowtimes.com/sitemap/sitemap.xml"\n',
                    encoding="utf-8")
    with caplog.at_level("WARNING", logger="spiders.sources"):
        src = load_sources(path)["mt"]
    assert src.spider == "news"
    said = caplog.text
    assert "spider = 'moscowtimes' is retired" in said
    assert "'newsmap' is retired" in said and "'sitemap_index' is retired" in said
    assert src.newsmap in src.discovery_urls and src.sitemap_index in src.discovery_urls
