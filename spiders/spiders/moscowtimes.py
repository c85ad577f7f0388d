"""The Moscow Times spider: the articles of one data interval [start, end), and only those.

Discovery, in two phases:
1. the configured feeds and the news sitemaps (last 30 days of each section) give URLs with exact
   publication times; articles inside the window are requested at once;
2. when the window starts before what the news sitemaps still cover, the monthly sitemaps
   (`{YYYY}-{M}.xml`, URLs only) are read too. Their URLs carry a Moscow date, so every URL dated
   on a Moscow day the window touches is fetched and the page's own time decides.
Every fetched page is kept only if its own publication time lies in the window.

Incremental: what earlier runs fetched is passed in (`known_file`, exported from the warehouse by
spiders/run.py). A known article is not fetched again unless the site's own change signal says it
changed: for The Moscow Times that is the full-body `/rss/all` feed (a changed body hash). Such an
update is fetched even when the article was published before the window. Article requests are
therefore only issued once discovery has finished.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import lxml.html
import scrapy
from lxml import etree
from scrapy.http import Response
from twisted.python.failure import Failure

from spiders import discovery as disc
from spiders.htmltools import NotAnArticle
from spiders.items import ArticleItem, FetchItem, RejectItem
from spiders.sites import moscowtimes as site
from spiders.spiders._base import NightdeskSpider, Parsed, now_iso

NEWSMAP_DAYS = 30
NEWSMAP_MAX_URLS = 100
_MONTHLY = re.compile(r"/(\d{4})-(\d{1,2})\.xml$")


def _local(root: etree._Element, path: str) -> list[etree._Element]:
    """XPath by local names, so RSS, Atom and sitemap namespaces (or their absence) all match."""
    steps = "/".join(f"*[local-name()='{p}']" for p in path.split("/"))
    return root.xpath(f".//{steps}")


def _child_text(el: etree._Element, path: str) -> str | None:
    found = _local(el, path)
    return (found[0].text or "").strip() if found else None


def _aware(when: disc.Stamp | None) -> datetime | None:
    """Only exact times select Moscow Times articles (its feeds and sitemaps all carry them)."""
    return when if isinstance(when, datetime) and when.tzinfo is not None else None


class MoscowTimesSpider(NightdeskSpider):
    name = "moscowtimes"
    allowed_domains: ClassVar[list[str]] = list(site.ALLOWED_DOMAINS)

    def __init__(self, source: str, start: str, end: str, sources_file: str,
                 known_file: str | None = None, **kwargs: Any):
        super().__init__(source, start, end, sources_file, **kwargs)
        # article_id -> {"url", "signal"} of what earlier runs fetched; {} = fetch everything
        self.known: dict[str, dict[str, Any]] = (
            json.loads(Path(known_file).read_text(encoding="utf-8")) if known_file else {}
        )
        self.candidates: dict[str, str] = {}  # site id -> URL, found in the window
        self.signals: dict[str, str] = {}  # site id -> change signal from the full-body feed
        self.tz = ZoneInfo(site.TIMEZONE)
        self.seen_ids: set[str] = set()
        self.pending = 0  # phase-1 discovery responses still outstanding
        self.discovery_seen: set[str] = set()
        self.newsmap_dates: list[datetime] = []
        self.newsmap_full_oldest: list[datetime] = []
        self.discovery_ok = True

    # -- requests ---------------------------------------------------------------------------
    def _discovery(self, url: str, callback, *, phase1: bool = True) -> Iterator[scrapy.Request]:
        # Our own de-duplication: a request Scrapy's dupefilter dropped silently would leave
        # phase 1 waiting forever for its response.
        if url in self.discovery_seen:
            return
        self.discovery_seen.add(url)
        self._stat("discovery_requests")
        if phase1:
            self.pending += 1
        yield scrapy.Request(url, callback=callback, errback=self.discovery_failed,
                             meta={"phase1": phase1}, priority=10, dont_filter=True)

    def _candidate(self, url: str) -> None:
        sid = site.site_id(url)
        if sid is not None:
            self.candidates.setdefault(sid, url)

    def _article(self, sid: str, url: str, reason: str) -> Iterator[scrapy.Request]:
        if sid in self.seen_ids:
            return
        self.seen_ids.add(sid)
        self._stat("article_requests")
        self._stat(f"article_requests_{reason}")
        yield scrapy.Request(url, callback=self.parse_article, errback=self.article_failed,
                             meta={"reason": reason, "signal": self.signals.get(sid)})

    def _fetch_candidates(self) -> Iterator[Any]:
        """Request every new candidate and every known article whose change signal moved."""
        candidates, self.candidates = self.candidates, {}
        for sid, url in sorted(candidates.items()):
            known = self.known.get(f"{self.source.name}:{sid}")
            if known is None:
                yield from self._article(sid, url, "new")
            elif self._changed(sid, known):
                yield from self._article(sid, known.get("url") or url, "changed")
            elif sid not in self.seen_ids:
                self.seen_ids.add(sid)
                self._stat("known_skipped")
        for sid in sorted(self.signals):
            known = self.known.get(f"{self.source.name}:{sid}")
            if known is None or sid in self.seen_ids:
                continue
            if self._changed(sid, known):
                yield from self._article(sid, known["url"], "changed")
            elif known.get("signal") is None:
                # Fetched before the feed carried it: remember today's signal as the baseline.
                self.seen_ids.add(sid)
                yield FetchItem(source=self.source.name, article_id=f"{self.source.name}:{sid}",
                                url=known["url"], signal=self.signals[sid], fetched_at=None)

    def _changed(self, sid: str, known: dict[str, Any]) -> bool:
        new, old = self.signals.get(sid), known.get("signal")
        return new is not None and old is not None and new != old

    async def start(self) -> AsyncIterator[scrapy.Request]:
        requests = [*self._discovery(site.CHANGE_FEED, self.parse_change_feed)]
        for feed in self.source.feeds:
            requests += self._discovery(feed, self.parse_feed)
        if self.source.newsmap:
            requests += self._discovery(self.source.newsmap, self.parse_newsmap_index)
        for request in requests:  # counted before any response can finish phase 1
            yield request

    # -- phase 1 ----------------------------------------------------------------------------
    def _phase1_done(self) -> Iterator[Any]:
        self.pending -= 1
        if self.pending == 0:
            yield from self._fetch_candidates()
            yield from self._phase2()

    def _read(self, response: Response, parse: Callable[[bytes, str], Parsed],
              ) -> tuple[Parsed | None, list[RejectItem]]:
        """A discovery document through spiders.discovery; unreadable ones are rejected."""
        result, rejects = self._read_document(response.url,
                                              lambda: parse(response.body, response.url))
        if rejects:
            self.discovery_ok = False
        return result, rejects

    def parse_feed(self, response: Response) -> Iterator[Any]:
        feed, rejects = self._read(response, disc.parse_feed)
        yield from rejects
        for entry in feed.entries if feed else ():
            if self._in_window(_aware(entry.published)):
                self._candidate(entry.url)
        yield from self._phase1_done()

    def parse_change_feed(self, response: Response) -> Iterator[Any]:
        """The full-body feed: a hash of each item's body is the article's change signal."""
        try:
            root = disc.parse_xml(response.body, response.url).root
        except disc.DiscoveryError as exc:
            self.discovery_ok = False
            yield self._unreadable(response.url, exc.reason, "discovery_unparseable")
            root = etree.Element("rss")
        for item in _local(root, "item"):
            sid = site.site_id(_child_text(item, "link") or "")
            if sid is None:
                continue
            body = lxml.html.fragment_fromstring(_child_text(item, "description") or "",
                                                 create_parent="div").text_content()
            text = " ".join(body.split())
            self.signals[sid] = "rss-body:" + hashlib.sha256(text.encode()).hexdigest()[:32]
            if self._in_window(_aware(disc.parse_date(_child_text(item, "pubDate")))):
                self._candidate(response.urljoin(_child_text(item, "link") or ""))
        yield from self._phase1_done()

    def parse_newsmap_index(self, response: Response) -> Iterator[Any]:
        index, rejects = self._read(response, disc.parse_sitemap)
        yield from rejects
        for ref in index.sitemaps if index else ():
            yield from self._discovery(ref.loc, self.parse_newsmap)
        yield from self._phase1_done()

    def parse_newsmap(self, response: Response) -> Iterator[Any]:
        newsmap, rejects = self._read(response, disc.parse_sitemap)
        yield from rejects
        dates = []
        for url in newsmap.urls if newsmap else ():
            when = _aware(url.news.publication_date) if url.news else None
            if when is not None:
                dates.append(when)
            if self._in_window(when):
                self._candidate(url.loc)
        self.newsmap_dates.extend(dates)
        if len(dates) >= NEWSMAP_MAX_URLS:  # a full sitemap has dropped older articles
            self.newsmap_full_oldest.append(min(dates))
        yield from self._phase1_done()

    def newsmap_coverage_start(self) -> datetime | None:
        """The earliest time from which the news sitemaps still list every article."""
        if not self.newsmap_dates:
            return None
        start = max(self.newsmap_dates) - timedelta(days=NEWSMAP_DAYS)
        return max([start, *self.newsmap_full_oldest])

    # -- phase 2 ----------------------------------------------------------------------------
    def _phase2(self) -> Iterator[Any]:
        covered_from = self.newsmap_coverage_start()
        self.logger.info("news sitemaps cover articles from %s", covered_from)
        if covered_from is not None and self.window[0] >= covered_from:
            return
        if not self.source.sitemap_index:
            self.logger.warning("window predates the news sitemaps and no sitemap_index is set")
            return
        self._stat("monthly_sitemaps_used")
        yield from self._discovery(self.source.sitemap_index, self.parse_sitemap_index,
                                   phase1=False)

    def moscow_days(self) -> set[date]:
        first = self.window[0].astimezone(self.tz).date()
        last = (self.window[1] - timedelta(microseconds=1)).astimezone(self.tz).date()
        return {first + timedelta(days=i) for i in range((last - first).days + 1)}

    def parse_sitemap_index(self, response: Response) -> Iterator[Any]:
        months = {(d.year, d.month) for d in self.moscow_days()}
        index, rejects = self._read(response, disc.parse_sitemap)
        yield from rejects
        for ref in index.sitemaps if index else ():
            m = _MONTHLY.search(ref.loc)
            if m and (int(m.group(1)), int(m.group(2))) in months:
                yield from self._discovery(ref.loc, self.parse_monthly, phase1=False)

    def parse_monthly(self, response: Response) -> Iterator[Any]:
        days = self.moscow_days()
        monthly, rejects = self._read(response, disc.parse_sitemap)
        yield from rejects
        for url in monthly.urls if monthly else ():
            if site.url_date(url.loc) in days:
                self._candidate(url.loc)
        yield from self._fetch_candidates()

    def discovery_failed(self, failure: Failure) -> Iterator[Any]:
        self.discovery_ok = False
        yield self._discovery_error(failure)
        if failure.request.meta.get("phase1"):
            yield from self._phase1_done()

    # -- articles ---------------------------------------------------------------------------
    def parse_article(self, response: Response) -> Iterator[Any]:
        try:
            record = site.parse(response.text, response.url)  # this spider's own site
        except (NotAnArticle, AttributeError, UnicodeDecodeError) as exc:
            self._stat("parse_failed")
            yield RejectItem(source=self.source.name, url=response.url, stage="parse",
                             reason=f"{type(exc).__name__}: {exc}", at=now_iso())
            return
        # An update of a known article is stored whenever it was published; anything else must
        # belong to the window by its own publication time.
        if response.meta.get("reason") != "changed" and not self._in_window(
                record["published_at"]):
            self._stat("out_of_window")
            return
        sid = record.pop("site_id")
        if sid != site.site_id(response.url):
            self.seen_ids.add(sid)
        record["article_id"] = f"{self.source.name}:{sid}"
        record["source"] = self.source.name
        record["crawled_at"] = now_iso()
        for key in ("published_at", "modified_at"):
            if record[key] is not None:
                record[key] = record[key].isoformat()
        self._stat("articles")
        yield ArticleItem(**record)
        yield FetchItem(source=self.source.name, article_id=record["article_id"],
                        url=record["url"], signal=response.meta.get("signal"),
                        fetched_at=record["crawled_at"])
