"""End to end: real crawls of the replica over HTTP on 127.0.0.1, through the CLI and the crawl
function, into a real Parquet lake and a real SQLite warehouse."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa

from etl import lake, warehouse
from spiders.run import CrawlError, crawl
from tests.conftest import REPO, write_sources
from tests.sites.accounting import assert_accounted
from tests.test_moscowtimes_parser import RELATED, SEED_URL, seed_paragraphs


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nightdesk.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def expected_ids(seed_path: Path, start: datetime, end: datetime) -> set[str]:
    from replica.content import load_articles

    return {f"moscowtimes:{a.id}" for a in load_articles(seed_path=seed_path)
            if start <= a.published < end}


@pytest.fixture(scope="module")
def seed_day(tmp_path_factory, seed_path):
    """One CLI run of the seed's day window into a fresh data dir."""
    data = tmp_path_factory.mktemp("seedday")
    sources = write_sources(data / "sources.toml")
    proc = cli("run", "--day", "2022-01-31", "--sources", str(sources), "--data-dir", str(data),
               "--run-id", "test-run-1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "from the local replica at 127.0.0.1" in proc.stderr  # a run says what it crawled
    assert_accounted(next((data / "raw").rglob("stats.json")).parent)
    return data, sources


def test_seed_article_row_in_lake_and_warehouse(seed_day, seed_path):
    data, _ = seed_day
    rows = ds.dataset(data / "lake" / "articles", format="parquet",
                      partitioning="hive").to_table().to_pylist()
    row = next(r for r in rows if r["article_id"] == "moscowtimes:76213")
    assert row["source"] == "moscowtimes"
    assert row["url"] == SEED_URL
    assert row["title"] == "Putin, Macron Discuss Ukraine, Russian 'Security Guarantees' — Kremlin"
    assert row["authors"] == ["AFP"]
    assert row["published_at"] == datetime(2022, 1, 31, 15, 42, tzinfo=UTC)
    assert row["published_at"].utcoffset() == timedelta(0)
    assert row["image_caption"] == "French president Emmanuel Macron."
    assert row["image_credits"] == "Olivier Hoslet / Pool / EPA / TASS"
    assert row["body"].split("\n\n") == seed_paragraphs(seed_path)
    assert RELATED in row["related_urls"]
    assert row["first_run_id"] == "test-run-1"
    assert row["word_count"] > 150 and len(row["content_hash"]) == 64

    eng = warehouse.engine(f"sqlite:///{data / 'warehouse.db'}")
    with eng.connect() as conn:
        sql = conn.execute(sa.select(warehouse.articles).where(
            warehouse.articles.c.article_id == "moscowtimes:76213")).mappings().one()
    for key in ("url", "title", "authors", "body", "image_caption", "image_credits",
                "content_hash", "related_urls", "first_run_id"):
        assert sql[key] == row[key], key
    assert sql["published_at"].replace(tzinfo=UTC) == row["published_at"]


def test_window_holds_exactly_its_articles(seed_day, seed_path):
    data, _ = seed_day
    start = datetime(2022, 1, 31, 2, tzinfo=UTC)
    stored = set(lake.read(data)["article_id"])
    assert stored == expected_ids(seed_path, start, start + timedelta(days=1))
    stats = json.loads(next((data / "raw").rglob("stats.json")).read_text())
    # only the window's articles were fetched
    assert stats["nightdesk/article_requests"] == len(stored)


def test_rerun_three_times_is_identical(seed_day):
    data, sources = seed_day
    url = f"sqlite:///{data / 'warehouse.db'}"
    before = (lake.checksum(data), warehouse.checksum(url))
    assert before[0] == before[1]
    files = {p: p.stat().st_mtime_ns for p in (data / "lake" / "articles").rglob("*.parquet")}
    for n in (2, 3):
        proc = cli("run", "--day", "2022-01-31", "--sources", str(sources), "--data-dir",
                   str(data), "--run-id", f"test-run-{n}")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (lake.checksum(data), warehouse.checksum(url)) == before
    # unchanged articles are not rewritten
    assert {p: p.stat().st_mtime_ns for p in files} == files
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        runs = conn.execute(sa.select(warehouse.runs).order_by(warehouse.runs.c.run_id)
                            ).mappings().all()
        first_runs = {r[0] for r in conn.execute(sa.select(warehouse.articles.c.first_run_id))}
    assert [r["run_id"] for r in runs] == ["test-run-1", "test-run-2", "test-run-3"]
    assert runs[0]["inserted"] > 0
    for r in runs[1:]:
        assert (r["inserted"], r["updated"]) == (0, 0)
        # incremental: what was fetched is known, so a rerun fetches no article page at all
        assert (r["article_requests"], r["pages_fetched"]) == (0, 0)
        assert r["known_skipped"] == runs[0]["inserted"]
        assert r["interval_start"].replace(tzinfo=UTC) == datetime(2022, 1, 31, 2, tzinfo=UTC)
    assert first_runs == {"test-run-1"}


def test_window_edges_follow_utc_not_moscow_dates(tmp_path, sources_file, seed_path):
    """Articles published 00:00-05:00 Moscow belong to the previous UTC window."""
    start = datetime(2022, 1, 28, 2, tzinfo=UTC)
    end = start + timedelta(days=1)
    figures = crawl("moscowtimes", start, end, sources_file=sources_file, data_dir=tmp_path)
    raw = Path(figures["window_dir"]) / "articles.jsonl"
    got = {json.loads(line)["article_id"] for line in raw.read_text().splitlines()}
    want = expected_ids(seed_path, start, end)
    assert assert_accounted(figures["window_dir"])["rejected"] == 0
    assert got == want
    assert figures["article_requests"] == len(want)
    from replica.content import load_articles

    next_moscow_day = [a for a in load_articles(seed_path=seed_path)
                       if f"moscowtimes:{a.id}" in got and str(a.published.date()) == "2022-01-29"]
    assert next_moscow_day, "the window must include articles of 00:00-05:00 Moscow on Jan 29"


def test_old_interval_uses_monthly_sitemaps(tmp_path, sources_file, seed_path):
    start = datetime(2021, 12, 16, 2, tzinfo=UTC)
    end = start + timedelta(days=2)
    figures = crawl("moscowtimes", start, end, sources_file=sources_file, data_dir=tmp_path)
    stats = json.loads((Path(figures["window_dir"]) / "stats.json").read_text())
    # the news sitemaps end a month before the replica's clock: the monthly sitemaps (bare URLs,
    # the day their URLs carry, Moscow time) list the window, and the pages decide
    assert stats["nightdesk/sitemap_urls"] > 0 and stats["nightdesk/listed_out_of_window"] > 0
    assert_accounted(figures["window_dir"])
    got = {json.loads(line)["article_id"]
           for line in (Path(figures["window_dir"]) / "articles.jsonl").read_text().splitlines()}
    want = expected_ids(seed_path, start, end)
    assert want and got == want


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_server_fails_clearly_and_loads_nothing(tmp_path):
    sources = write_sources(tmp_path / "dead.toml", replica=False,
                            replica_addr=f"127.0.0.1:{_closed_port()}")
    proc = cli("run", "--day", "2022-01-31", "--sources", str(sources), "--data-dir",
               str(tmp_path))
    assert proc.returncode != 0
    assert "CrawlError" in proc.stderr and "no response at all" in proc.stderr
    assert not (tmp_path / "lake").exists()
    assert not (tmp_path / "staging").exists()
    assert not list((tmp_path / "raw").rglob("stats.json"))  # no window counts as crawled
    with pytest.raises(CrawlError, match="no response at all"):
        crawl("moscowtimes", "2022-01-31T02:00:00+00:00", "2022-02-01T02:00:00+00:00",
              sources_file=sources, data_dir=tmp_path)


def test_a_quiet_night_loads_nothing_and_records_the_run(tmp_path, sources_file):
    """A window with no articles (the replica published none on 2022-01-02) still completes and
    is recorded. (A window after the replica's clock is refused instead: tests/test_health.py.)"""
    proc = cli("run", "--day", "2022-01-02", "--sources", str(sources_file), "--data-dir",
               str(tmp_path), "--run-id", "quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert lake.read(tmp_path).empty
    eng = warehouse.engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    with eng.connect() as conn:
        run = conn.execute(sa.select(warehouse.runs)).mappings().one()
    assert (run["run_id"], run["items"], run["inserted"]) == ("quiet", 0, 0)
    assert run["discovery_requests"] > 0


# -- a site never seen: three publishers on 127.0.0.1 at random ports ---------------------------

def _publisher_sources(path: Path, servers: list, publishers: list) -> Path:
    """One `home`, one `feeds` and one `sitemaps` entry; allowed_domains in its three forms."""
    one, two, three = (s.addr for s in servers)
    entries = [
        f'name = "{publishers[0].name}"\nspider = "news"\nhome = "http://{one}/"',
        f'name = "{publishers[1].name}"\nspider = "news"\nfeeds = ["http://{two}/atom.xml", '
        f'"http://{two}/feed.json"]\nallowed_domains = ["{two}"]',
        f'name = "{publishers[2].name}"\nspider = "news"\nsitemaps = ['
        f'"http://{three}/sitemaps/index.xml"]\nallowed_domains = ["http://www.{three}/"]',
    ]
    polite = ("[source.politeness]\ndownload_delay = 0.0\nautothrottle = false\n"
              "concurrent_requests_per_domain = 8\nretry_times = 0\ndownload_timeout = 10\n")
    path.write_text("".join(f"[[source]]\n{e}\n{polite}\n" for e in entries), encoding="utf-8")
    return path


@pytest.mark.slow  # six crawls and two ETL runs, 25-45 s per backend
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_a_site_never_seen_lands_every_listed_url_once(tmp_path, monkeypatch, request, backend):
    """Every listed URL ends stored or rejected with its reason; stored articles are once in the
    lake and the warehouse, which keeps the URL each was listed at; the rerun fetches no article
    page and changes nothing."""
    from nightdesk.pipeline import run
    from tests.conftest import SHARED
    from tests.sites import publishers as pubs
    from tests.sites.server import SiteServer

    monkeypatch.setenv("NIGHTDESK_ALLOWED_ADDRESSES", "127.0.0.1")
    servers = [SiteServer({}) for _ in range(3)]  # ports first: the listings carry them
    bases = tuple(f"http://{s.addr}" for s in servers)
    publishers = pubs.three_publishers(SHARED, bases)
    for server, pub in zip(servers, publishers, strict=True):
        server.routes.update(pub.routes)
    sources = _publisher_sources(tmp_path / "sources.toml", servers, publishers)
    data = tmp_path / "data"
    wh_url = (request.getfixturevalue("pg_url") if backend == "postgres"
              else f"sqlite:///{tmp_path / 'warehouse.db'}")
    start, end = (t.isoformat() for t in pubs.WINDOW)
    with servers[0], servers[1], servers[2]:
        first = run(start, end, sources_file=str(sources), data_dir=str(data),
                    warehouse_url=wh_url, run_id="first")
        # the rerun replaces the raw window (named by data): read the first night's books now
        books, rejected = [], []
        for crawl_figures in first["crawls"]:
            folder = Path(crawl_figures["window_dir"])
            books.append(assert_accounted(folder))
            rejected.append({r["url"]: r for r in map(
                json.loads, (folder / "rejects.jsonl").read_text().splitlines())})
        for server in servers:
            server.reset_log()
        second = run(start, end, sources_file=str(sources), data_dir=str(data),
                     warehouse_url=wh_url, run_id="second")
        served = [set(s.paths()) for s in servers]

    eng = warehouse.engine(wh_url)
    with eng.connect() as conn:
        memory = {r.url: r.article_id for r in conn.execute(sa.select(warehouse.crawl_state))}
        stored = conn.execute(sa.select(warehouse.articles)).mappings().all()
    in_lake = lake.read(data)
    assert sorted(in_lake["article_id"]) == sorted(r["article_id"] for r in stored)
    assert in_lake["article_id"].is_unique
    by_id = {r["article_id"]: r for r in stored}

    for night, pub, base, server_paths, rejects in zip(books, publishers, bases, served, rejected,
                                                        strict=True):
        want = {(p if "://" in p else base + p): outcome for p, outcome in pub.expect.items()}
        got = {}
        for url in want:
            if url in rejects:
                got[url] = rejects[url]["reason"]
            elif memory.get(url, "").startswith(f"{pub.name}:") and memory[url] in by_id:
                got[url] = "stored"
        assert got == want, pub.name
        assert night["listed"] == len(want)  # nothing listed beyond the design, nothing lost
        for path, day in pub.disagreeing.items():  # the page's own date says why
            assert day in rejects[base + path]["detail"]
        for path in pub.no_date_pages:  # dated by the listing, and saying so
            row = by_id[memory[base + path]]
            assert row["published_at_from"].startswith(("feed:", "sitemap:")), row
        # the rerun: discovery only, no article page requested, every listed URL known
        again = next(c for c in second["crawls"] if c["source"] == pub.name)
        # (off-site and over-long URLs are never fetched: rejected again, at no cost)
        assert again["article_requests"] == 0 and again["known_skipped"] == len(want) - sum(
            1 for o in want.values() if o in ("offsite", "url_too_long"))
        assert not server_paths & {p for p in pub.routes if p.endswith(".html")}
        assert_accounted(again["window_dir"])
    assert all((w["inserted"], w["updated"]) == (0, 0) for w in second["warehouse"].values())
    assert sum(w["inserted"] for w in first["warehouse"].values()) == sum(
        o == "stored" for pub in publishers for o in pub.expect.values())
    assert lake.checksum(data) == warehouse.checksum(wh_url)


def test_a_loopback_site_without_allowed_addresses_says_why(tmp_path, monkeypatch):
    from tests.sites.server import SiteServer

    monkeypatch.delenv("NIGHTDESK_ALLOWED_ADDRESSES", raising=False)
    with SiteServer({}) as server:
        sources = tmp_path / "s.toml"
        sources.write_text(f'[[source]]\nname = "local"\nspider = "news"\n'
                           f'feeds = ["http://{server.addr}/feed.xml"]\n', encoding="utf-8")
        with pytest.raises(CrawlError, match=r"address guard refused .* NIGHTDESK_ALLOWED_ADDRE"):
            crawl("local", "2024-04-22T00:00:00+00:00", "2024-04-23T00:00:00+00:00",
                  sources_file=sources, data_dir=tmp_path)
        assert server.paths() == []  # refused before connecting
