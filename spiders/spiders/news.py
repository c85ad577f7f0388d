"""The generic news spider: any site with feeds, sitemaps or just a home page, for one window.

Discovery reads every configured feed and sitemap URL, and for a `home` page the feeds it
advertises (<link rel="alternate">) and the sitemaps robots.txt lists. Documents are recognised
by content, not by the URL they were configured under. Sitemap indexes are followed down to
`max_sitemap_depth` levels (children whose lastmod predates the window are skipped), and at most
`max_urls` URLs (child sitemaps and article pages together) are requested from what discovery
finds; hitting either bound is counted in the stats (`nightdesk/max_*_hit`) and logged.

A listed URL is requested when its feed or news-sitemap publication date lies in [start, end),
or when it has no publication date and its modification date (lastmod, Atom updated) does not
rule the window out; the page's own date then decides what is kept. Dates without an offset are
read in the source's `timezone`. Unreadable discovery documents become RejectItems (stage
"discovery") and count as `nightdesk/discovery_failed`, which fails the crawl in spiders/run.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.utils.url import url_is_from_any_domain
from twisted.python.failure import Failure

from spiders import discovery as disc
from spiders.htmltools import NotAnArticle
from spiders.spiders._base import NightdeskSpider, extract_page

# Host prefixes that name a service of the site rather than the site: feeds on feeds.example.com
# still link articles on www.example.com.
_SERVICE_PREFIXES = ("www.", "feeds.", "feed.", "rss.", "static.", "sitemap.", "sitemaps.",
                     "m.", "amp.", "news.")
_DISCOVERY_PRIORITY = 10  # finish reading feeds and sitemaps before fetching articles
# Requests are de-duplicated here (url_key) and sent with dont_filter: one Scrapy's dupefilter
# dropped would be counted as requested but never answered. dont_filter also lifts Scrapy's
# offsite check, so every URL passes _on_site first (and redirects meet the redirect policy).


@dataclass(frozen=True)
class Hint:
    """What a feed or sitemap said about a URL, used when the page itself is silent."""

    published: disc.Stamp | None = None
    origin: str | None = None  # where `published` was read, e.g. "sitemap:news:publication_date"
    title: str | None = None
    keywords: tuple[str, ...] = ()
    language: str | None = None


def derive_allowed_domains(urls: tuple[str, ...]) -> list[str]:
    domains: list[str] = []
    for host in disc.hosts(urls):
        for prefix in _SERVICE_PREFIXES:
            if host.startswith(prefix) and host.count(".") >= 2:
                host = host[len(prefix):]
                break
        if host not in domains:
            domains.append(host)
    return domains


def _parse_as(kind: disc.Kind, body: bytes, url: str) -> disc.FeedResult | disc.SitemapResult:
    """Documents are recognised by content: a configured "feed" may well be a sitemap."""
    if kind == "feed":
        return disc.parse_feed(body, url)
    if kind == "sitemap":
        return disc.parse_sitemap(body, url)
    raise disc.DiscoveryError("neither a feed nor a sitemap")


class NewsSpider(NightdeskSpider):
    name = "news"

    def __init__(self, source: str, start: str, end: str, sources_file: str, **kwargs: Any):
        super().__init__(source, start, end, sources_file, **kwargs)
        src = self.source
        self.tz = ZoneInfo(src.timezone)
        self.allowed_domains = list(src.allowed_domains) or derive_allowed_domains(
            src.discovery_urls)
        self.seen_docs: set[str] = set()
        self.seen_pages: set[str] = set()
        self.seen_ids: set[str] = set()
        self.budget_used = 0
        self.home_pending = 0
        self.home_found = 0
        self.home_failed = False
        self._warned: set[str] = set()

    # -- discovery requests -------------------------------------------------------------------
    async def start(self) -> AsyncIterator[scrapy.Request]:
        src = self.source
        for url in (*src.feeds, *src.sitemaps, *filter(None, (src.newsmap, src.sitemap_index))):
            request = self._document(url, level=0, counted=False)
            if request is not None:
                yield request
        if src.home:
            self.home_pending = 2
            self._stat("discovery_requests", 2)
            yield scrapy.Request(src.home, callback=self.parse_home, errback=self.home_failed_cb,
                                 priority=_DISCOVERY_PRIORITY)
            yield scrapy.Request(urljoin(src.home, "/robots.txt"), callback=self.parse_robots,
                                 errback=self.home_failed_cb, priority=_DISCOVERY_PRIORITY,
                                 meta={"handle_httpstatus_list": [401, 403, 404, 410],
                                       "dont_obey_robotstxt": True})

    def _document(self, url: str, *, level: int, counted: bool = True) -> scrapy.Request | None:
        """A feed or sitemap request, once per URL; `counted` ones spend the max_urls budget."""
        key = disc.url_key(url)
        if key in self.seen_docs:
            return None
        if level > self.source.max_sitemap_depth:
            self._bound("max_sitemap_depth", url)
            return None
        if counted and not self._spend(url):
            return None
        self.seen_docs.add(key)
        self._stat("discovery_requests")
        return scrapy.Request(url, callback=self.parse_document, errback=self.discovery_failed,
                              cb_kwargs={"level": level}, priority=_DISCOVERY_PRIORITY,
                              dont_filter=True)

    def _spend(self, url: str) -> bool:
        if self.budget_used >= self.source.max_urls:
            self._bound("max_urls", url)
            return False
        self.budget_used += 1
        return True

    def _bound(self, which: str, url: str) -> None:
        self._stat(f"{which}_hit")
        if which not in self._warned:
            self._warned.add(which)
            self.logger.warning("%s bound (%s) hit at %s: further URLs are not requested",
                                which, getattr(self.source, which), url)

    # -- home page and robots.txt -------------------------------------------------------------
    def parse_home(self, response: Response) -> Iterator[Any]:
        feeds = disc.discover_from_html(response.body, response.url)
        self.logger.info("home page %s advertises feeds %s", response.url, feeds)
        self._stat("feeds_discovered", len(feeds))
        yield from self._follow_discovered(feeds)
        yield from self._home_done(len(feeds))

    def parse_robots(self, response: Response) -> Iterator[Any]:
        sitemaps: list[str] = []
        if response.status == 200:
            sitemaps = disc.sitemaps_from_robots(response.body.decode("utf-8", "replace"),
                                                 response.url)
        self.logger.info("robots.txt %s lists sitemaps %s", response.url, sitemaps)
        self._stat("sitemaps_discovered", len(sitemaps))
        yield from self._follow_discovered(sitemaps)
        yield from self._home_done(len(sitemaps))

    def _follow_discovered(self, urls: list[str]) -> Iterator[scrapy.Request]:
        for url in urls:
            if not self._on_site(url):
                continue
            request = self._document(url, level=0)
            if request is not None:
                yield request

    def home_failed_cb(self, failure: Failure) -> Iterator[Any]:
        self.home_failed = True
        yield from self.discovery_failed(failure)
        yield from self._home_done(0)

    def _home_done(self, found: int) -> Iterator[Any]:
        self.home_found += found
        self.home_pending -= 1
        if self.home_pending == 0 and self.home_found == 0 and not self.home_failed:
            yield self._unreadable(self.source.home or "", "home page advertises no feed and "
                                   "robots.txt lists no sitemap", "discovery_nothing_found")

    # -- feeds and sitemaps -------------------------------------------------------------------
    def parse_document(self, response: Response, level: int) -> Iterator[Any]:
        try:  # once here, not in every parser: a .gz sitemap is served as a file, not encoded
            body = disc.gunzip(response.body) if disc.is_gzip(response.body) else response.body
        except disc.DiscoveryError as exc:
            yield self._unreadable(response.url, exc.reason, "discovery_unparseable")
            return
        kind = disc.sniff(body)
        if kind == "html":
            yield from self._html_instead(response, level)
            return
        result, rejects = self._read_document(response.url,
                                              lambda: _parse_as(kind, body, response.url))
        yield from rejects
        if isinstance(result, disc.FeedResult):
            yield from self._feed(result)
        elif result is not None and result.is_index:
            yield from self._index(result, level)
        elif result is not None:
            yield from self._urlset(result)

    def _html_instead(self, response: Response, level: int) -> Iterator[Any]:
        """A configured feed or sitemap URL that serves a page: follow the feeds it links."""
        feeds = [u for u in disc.discover_from_html(response.body, response.url)
                 if self._on_site(u)]
        if not feeds:
            yield self._unreadable(response.url, "an HTML page that links no feed",
                                   "discovery_unparseable")
            return
        self._stat("feeds_discovered", len(feeds))
        for url in feeds:
            request = self._document(url, level=level + 1)
            if request is not None:
                yield request

    def _feed(self, result: disc.FeedResult) -> Iterator[Any]:
        self._stat("feed_entries", len(result.entries))
        candidates = [
            (e.url, e.published, e.updated,
             Hint(e.published, f"feed:{result.format}:published" if e.published else None,
                  e.title))
            for e in result.entries
        ]
        yield from self._candidates(candidates)

    def _urlset(self, result: disc.SitemapResult) -> Iterator[Any]:
        self._stat("sitemap_urls", len(result.urls))
        candidates = []
        for u in result.urls:
            news = u.news
            published = news.publication_date if news else None
            hint = Hint(published, "sitemap:news:publication_date" if published else None,
                        news.title if news else None, news.keywords if news else (),
                        news.language if news else None)
            candidates.append((u.loc, published, u.lastmod, hint))
        yield from self._candidates(candidates)

    def _index(self, result: disc.SitemapResult, level: int) -> Iterator[Any]:
        start, end = self.window
        for ref in result.sitemaps:
            if disc.window_verdict(None, ref.lastmod, start, end, self.tz) is disc.Verdict.OUT:
                self._stat("sitemaps_skipped_by_lastmod")
                continue
            if not self._on_site(ref.loc):
                continue
            request = self._document(ref.loc, level=level + 1)
            if request is not None:
                yield request

    def _candidates(
        self, listed: list[tuple[str, disc.Stamp | None, disc.Stamp | None, Hint]],
    ) -> Iterator[scrapy.Request]:
        """Request the listed URLs that may hold window articles: dated ones first, so a
        max_urls bound drops the undated guesses before the sure hits."""
        start, end = self.window
        sure, maybe = [], []
        for url, published, modified, hint in listed:
            verdict = disc.window_verdict(published, modified, start, end, self.tz)
            if verdict is disc.Verdict.OUT:
                self._stat("listed_out_of_window")
            elif verdict is disc.Verdict.IN:
                sure.append((url, hint))
            else:
                self._stat("listed_undated" if modified is None else "listed_maybe")
                maybe.append((url, hint))
        for url, hint in sure + maybe:
            request = self._page(url, hint)
            if request is not None:
                yield request

    def _on_site(self, url: str) -> bool:
        if url_is_from_any_domain(url, self.allowed_domains):
            return True
        self._stat("offsite_skipped")
        if "offsite" not in self._warned:
            self._warned.add("offsite")
            self.logger.warning("skipping %s: not under allowed_domains %s (configure "
                                "allowed_domains if articles live on other hosts)",
                                url, self.allowed_domains)
        return False

    def _page(self, url: str, hint: Hint) -> scrapy.Request | None:
        url = disc.clean_url(url)  # tracking parameters are not part of the article's URL
        key = disc.url_key(url)
        if key in self.seen_pages or not self._on_site(url) or not self._spend(url):
            return None
        self.seen_pages.add(key)
        self._stat("article_requests")
        return scrapy.Request(url, callback=self.parse_article, errback=self.article_failed,
                              cb_kwargs={"hint": hint}, dont_filter=True)

    def discovery_failed(self, failure: Failure) -> Iterator[Any]:
        yield self._discovery_error(failure)

    # -- articles -----------------------------------------------------------------------------
    def parse_article(self, response: Response, hint: Hint) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            kind = response.headers.get("Content-Type", b"").decode("latin-1")
            self._not_article(response.url, f"not a text page ({kind})")
            return
        try:
            record = extract_page(response.text, response.url, self.source.timezone)
        except NotAnArticle as exc:
            self._not_article(response.url, str(exc))
            return
        except Exception as exc:  # an extractor bug must show up as a rejected page, not vanish
            self.logger.exception("extraction failed: %s", response.url)
            self._stat("parse_failed")
            yield self._reject_reason(response.url, "parse", f"{type(exc).__name__}: {exc}")
            return
        record = self._dated(record, hint)
        if not self._in_window(record["published_at"]):
            self._stat("out_of_window")
            return
        record["url"] = record.get("url") or response.url
        sid = record.pop("site_id", None) or disc.stable_id(record["url"])
        if sid in self.seen_ids:  # the same article under two URLs
            self._stat("duplicates")
            return
        self.seen_ids.add(sid)
        if not record.get("title"):
            record["title"] = hint.title
        if not record.get("tags"):
            record["tags"] = list(hint.keywords)
        if not record.get("language"):
            record["language"] = hint.language
        for key in ("authors", "tags", "related_urls"):
            record[key] = record.get(key) or []
        yield self._article_item(record, sid)

    def _dated(self, record: dict[str, Any], hint: Hint) -> dict[str, Any]:
        """The page's own dates in the source's timezone; a listed exact date when it has none."""
        record = dict(record)
        for key in ("published_at", "modified_at"):
            if isinstance(record.get(key), datetime):
                record[key] = disc.localize(record[key], self.tz)
        if record.get("published_at") is None and isinstance(hint.published, datetime):
            record["published_at"] = disc.localize(hint.published, self.tz)
            record["published_at_from"] = hint.origin
            self._stat("published_from_listing")
        return record

    def _not_article(self, url: str, why: str) -> None:
        self._stat("not_article")
        self.logger.info("not an article: %s (%s)", url, why)
