"""Crawl-memory benchmark: a week of nights on a local site, and a polite single-host backfill.

`python -m bench.crawl_week` (week mode): a news site on 127.0.0.1 at a random port, built at run
time from ../shared pages (fundus_en, readability, postlight), publishes new articles every night
for 7 nights (the fundus pages of the week on their own dates; pages with no date of their own
under the night's listing date), updates a few earlier ones (body edited, lastmod moved), lists
some pages with dates that disagree with the page (older stories listed as new) and some
non-article pages. Its home page advertises an RSS feed of the last three nights; robots.txt
lists a news sitemap of everything with lastmod. Each night runs `nightdesk run`'s pipeline
(nightdesk.pipeline.run: crawl, transform, load, check) into a SQLite warehouse. Reported, on
one JSON line:
article requests (from the server's log, discovery documents counted apart) per new-or-changed
URL the site offered (target <= 1.1), and per stored new-or-changed article.

`python -m bench.crawl_week --backfill 181` (backfill mode): one wide interval over N pages of
one host with the default politeness of spiders/settings.py (no overrides), timed crawl and ETL
(target: 181 pages in <= 7 minutes).

Options: --shared DIR (default ../shared), --keep DIR (keep the data dir), --nights N.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contracts.settings import REPO_ROOT
from tests.sites import publishers as pubs
from tests.sites.server import Route, SiteServer

REPO = REPO_ROOT
WEEK_START = datetime(2024, 4, 24, tzinfo=UTC)  # the fundus pages of 24-30 April 2024
DISCOVERY = {"/", "/robots.txt", "/feed.xml", "/sitemap.xml"}
FEED_NIGHTS = 3  # the feed lists the last three nights


def _nodate_refs(shared: Path) -> list[str]:
    """readability and postlight pages their fixtures give no publication date."""
    refs = []
    for corpus in ("readability", "postlight"):
        for line in (shared / "fixtures" / corpus / "expected.jsonl").read_text().splitlines():
            row = json.loads(line)
            if not row.get("published"):
                refs.append(f"{corpus}:{Path(row['page']).name.removesuffix('.html.gz')}"
                            if row.get("page") else f"{corpus}:{row['id']}")
    return refs


def _undated_articles(shared: Path, refs: list[str], want: int) -> list[str]:
    """The first `want` of `refs` that extraction takes as articles without a date of their own:
    the site lists them under the night's date (the fixtures also hold small test documents and
    pages that are not articles, which would only measure extraction here)."""
    from spiders.extract import generic_extract
    from spiders.htmltools import NotAnArticle

    chosen = []
    for ref in refs:
        try:
            record = generic_extract(pubs.page(shared, ref).decode("utf-8", "replace"),
                                     "http://127.0.0.1/a/story.html")
        except NotAnArticle:
            continue
        if not record.get("reject_reason") and record.get("published_at") is None:
            chosen.append(ref)
            if len(chosen) == want:
                break
    return chosen


def _slug(ref: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", ref.split(":", 1)[1].lower()).strip("-")


class WeekSite:
    """The site's state: what is published (path -> listing date) and edited, night by night."""

    def __init__(self, shared: Path, nights: int) -> None:
        self.shared = shared
        self.pages: dict[str, bytes] = {}
        self.kind: dict[str, str] = {}
        self.listed: dict[str, datetime] = {}  # path -> listing (publication) date
        self.lastmod: dict[str, datetime] = {}
        self.plan: dict[int, list[tuple[str, str, datetime]]] = {n: [] for n in range(nights)}
        self.updates: dict[int, list[str]] = {}
        week = [(ref, when) for ref, when in pubs.fundus_pages(shared)
                if WEEK_START <= when < WEEK_START + timedelta(days=nights)]
        for ref, when in week:  # real articles on their own night
            self.plan[(when - WEEK_START).days].append((ref, "article", when))
        nodate = _undated_articles(shared, _nodate_refs(shared), 5 * nights)
        for i, ref in enumerate(nodate):  # no date of their own: the listing's stands in
            night = i % nights
            self.plan[night].append((ref, "article", WEEK_START + timedelta(days=night,
                                                                               hours=6 + i % 12)))
        old = [ref for ref, when in pubs.fundus_pages(shared) if when.year < 2024][:nights // 2 + 1]
        for i, ref in enumerate(old):  # older stories listed as tonight's
            night = 1 + 2 * i if 1 + 2 * i < nights else nights - 1
            self.plan[night].append((ref, "disagreeing", WEEK_START + timedelta(days=night,
                                                                                hours=9)))
        for night in (1, 4):  # pages that are not articles
            if night < nights:
                self.plan[night].append(("section", "section", WEEK_START + timedelta(
                    days=night, hours=5)))
                self.plan[night].append(("consent", "consent", WEEK_START + timedelta(
                    days=night, hours=5, minutes=30)))
        for night in range(2, nights, 2):  # a few earlier articles corrected
            self.updates[night] = []

    def publish(self, night: int) -> dict[str, int]:
        """Put the night's pages up and edit a few older ones; returns what is new or changed."""
        new = 0
        for ref, kind, when in self.plan[night]:
            path = f"/{night}/{_slug(ref) if kind not in ('section', 'consent') else kind}.html"
            if kind == "section":
                body = pubs.section_front(list(self.pages)[:5]).body
            elif kind == "consent":
                body = pubs.consent().body
            else:
                body = pubs.page(self.shared, ref)
            self.pages[path] = body
            self.kind[path] = kind
            self.listed[path] = self.lastmod[path] = when
            new += 1
        changed = 0
        if night in self.updates:
            stamp = WEEK_START + timedelta(days=night, hours=3)
            earlier = [p for p, kind in self.kind.items()
                       if kind == "article" and not p.startswith(f"/{night}/")]
            for path in earlier[night - 1: night + 1]:
                html = self.pages[path]
                note = f"<p>Correction, night {night}: an earlier version misstated a figure.</p>"
                self.pages[path] = html.replace(b"</p>", b"</p>" + note.encode(), 1)
                self.lastmod[path] = stamp
                self.updates[night].append(path)
                changed += 1
        return {"new": new, "changed": changed}

    def routes(self, base: str, night: int) -> dict[str, Route]:
        recent = [p for p, when in self.listed.items()
                  if when >= WEEK_START + timedelta(days=night - FEED_NIGHTS + 1)]
        rfc = "%a, %d %b %Y %H:%M:%S GMT"
        return {
            "/": pubs.home("/feed.xml"),
            "/robots.txt": pubs.robots(base, ["/sitemap.xml"]),
            "/feed.xml": pubs.rss(base, [pubs.Entry(p, self.listed[p].strftime(rfc))
                                         for p in recent]),
            "/sitemap.xml": pubs.news_sitemap(base, [
                pubs.Entry(p, self.listed[p].isoformat(), self.lastmod[p].isoformat())
                for p in self.listed]),
            **{p: Route(body) for p, body in self.pages.items()},
        }


def _sources(path: Path, base: str, polite: bool) -> Path:
    text = f'[[source]]\nname = "week"\nspider = "news"\nhome = "{base}/"\n'
    if not polite:
        text += ("[source.politeness]\ndownload_delay = 0.0\nautothrottle = false\n"
                 "concurrent_requests_per_domain = 8\n")
    path.write_text(text, encoding="utf-8")
    return path


def week(shared: Path, data: Path, nights: int) -> dict:
    from nightdesk.pipeline import run

    site = WeekSite(shared, nights)
    wh_url = f"sqlite:///{data / 'warehouse.db'}"
    totals = {"article_requests": 0, "discovery_requests": 0, "new": 0, "changed": 0,
              "inserted": 0, "updated": 0, "rejected": 0}
    per_night = []
    with SiteServer({}) as server:
        base = f"http://{server.addr}"
        sources = _sources(data / "sources.toml", base, polite=False)
        for night in range(nights):
            offered = site.publish(night)
            server.routes.clear()
            server.routes.update(site.routes(base, night))
            server.reset_log()
            start = WEEK_START + timedelta(days=night)
            result = run(start.isoformat(), (start + timedelta(days=1)).isoformat(),
                         sources_file=str(sources), data_dir=str(data), warehouse_url=wh_url,
                         run_id=f"night-{night + 1}")
            paths = server.paths()
            articles = sum(1 for p in paths if p not in DISCOVERY)
            crawl, loaded = result["crawls"][0], result["warehouse"]["week"]
            row = {"night": night + 1, **offered, "article_requests": articles,
                   "discovery_requests": len(paths) - articles, "inserted": loaded["inserted"],
                   "updated": loaded["updated"], "rejected": crawl["rejected"],
                   "duplicates": result["transform"]["sources"]["week"]["duplicates"],
                   "rejected_by_reason": crawl["rejected_by_reason"],
                   "known_skipped": crawl["known_skipped"]}
            per_night.append(row)
            for key in totals:
                totals[key] += row[key]
            print(json.dumps(row), file=sys.stderr)
    offered = totals["new"] + totals["changed"]
    stored = totals["inserted"] + totals["updated"]
    return {"mode": "week", "nights": nights, **totals,
            "requests_per_new_or_changed_url": round(totals["article_requests"] / offered, 3),
            "requests_per_stored_new_or_changed_article": round(
                totals["article_requests"] / stored, 3) if stored else None,
            "per_night": per_night}


def backfill(shared: Path, data: Path, n: int) -> dict:
    """N pages of one host, one interval, default politeness: timed."""
    from etl.load import check, load_lake, load_warehouse
    from etl.migrate import migrate
    from etl.transform import transform
    from nightdesk.pipeline import crawl, run

    refs = [ref for ref, _ in pubs.fundus_pages(shared)] + _nodate_refs(shared)
    refs += [f"postlight:{Path(json.loads(line)['page']).name.removesuffix('.html.gz')}"
             for line in (shared / "fixtures" / "postlight" / "expected.jsonl").read_text()
             .splitlines() if json.loads(line).get("published")]
    refs = list(dict.fromkeys(refs))[:n]
    start, end = datetime(2012, 1, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    wh_url = f"sqlite:///{data / 'warehouse.db'}"
    del run
    with SiteServer({}) as server:
        base = f"http://{server.addr}"
        entries, routes = [], {}
        for i, ref in enumerate(refs):
            path = f"/a/{i:04d}-{_slug(ref)}.html"
            routes[path] = Route(pubs.page(shared, ref))
            listed = (start + timedelta(days=20 * i)).isoformat()  # pages without a date take it
            entries.append(pubs.Entry(path, listed, listed))
        server.routes.update(routes | {
            "/": pubs.home("/feed.xml"), "/feed.xml": pubs.rss(base, []),
            "/robots.txt": pubs.robots(base, ["/sitemap.xml"]),
            "/sitemap.xml": pubs.news_sitemap(base, entries)})
        sources = _sources(data / "sources.toml", base, polite=True)
        migrate(wh_url)
        t0 = time.monotonic()
        figures = crawl("week", start, end, sources_file=sources, data_dir=data,
                        warehouse_url=wh_url)
        t1 = time.monotonic()
        transform(start, end, sources=["week"], data_dir=data, warehouse_url=wh_url)
        load_lake(start, end, data_dir=data, run_id="backfill")
        loaded = load_warehouse(start, end, data_dir=data, warehouse_url=wh_url,
                                run_id="backfill")
        check(start, end, data_dir=data, warehouse_url=wh_url)
        t2 = time.monotonic()
    return {"mode": "backfill", "pages": len(refs), "crawl_s": round(t1 - t0, 1),
            "etl_s": round(t2 - t1, 1), "total_s": round(t2 - t0, 1),
            "article_requests": figures["article_requests"], "items": figures["items"],
            "rejected": figures["rejected"], "rejected_by_reason": figures["rejected_by_reason"],
            "inserted": loaded["week"]["inserted"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.crawl_week", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--nights", type=int, default=7)
    parser.add_argument("--backfill", type=int, default=0, metavar="N",
                        help="instead: one polite backfill of N pages, timed")
    parser.add_argument("--keep", type=Path, default=None, help="data dir to keep")
    args = parser.parse_args(argv)
    os.environ["NIGHTDESK_ALLOWED_ADDRESSES"] = "127.0.0.1"  # the site is on loopback
    with tempfile.TemporaryDirectory(prefix="crawl-week-") as tmp:
        data = args.keep or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        result = (backfill(args.shared, data, args.backfill) if args.backfill
                  else week(args.shared, data, args.nights))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
