"""The news spider: every source, from its feeds, sitemaps or just a home page, for one window.

Discovery reads every configured feed and sitemap URL, and for a `home` page the feeds it
advertises (<link rel="alternate">) and the sitemaps robots.txt lists. Documents are recognised
by content, not by the URL they were configured under. Sitemap indexes are followed down to
`max_sitemap_depth` levels (children whose lastmod predates the window are skipped), and at most
`max_urls` URLs (child sitemaps and article pages together) are requested; hitting either bound
is counted (`nightdesk/max_*_hit`), logged, and each URL it leaves out gets a reject row.

A site with a parser may add hooks (spiders/spiders/hooks.py): its own article ids, the date its
URLs carry, and a full-body change feed (The Moscow Times).

Which URLs are listed for the window: those whose feed or news-sitemap publication date lies in
[start, end) (a day-only date: its local day overlaps the window), and those without one whose
modification date does not rule the window out; the page's own date then decides. An exact date
beats a day-only one. Dates without an offset are read in the source's `timezone`.

Every listed URL ends in exactly one row, counted in the stats (`nightdesk/listed` = articles +
rejected + known_skipped): an article, a reject (spiders/items.py: offsite, url_too_long,
max_urls, http_404, guard_refused, ..., and from the pipelines not_article, no_date,
out_of_window, duplicate), or a URL already judged on an earlier night that nothing says has
changed (`known_skipped`). Unreadable discovery documents are rejected too (stage discovery,
`nightdesk/discovery_failed`), which fails the crawl in spiders/run.py.

Incremental: what earlier runs judged is passed in (`known_file`, exported from the warehouse by
spiders/run.py; absent = fetch everything); articles and settled rejects alike. A known URL is
fetched again only when its change signal moved (spiders/spiders/listing.py), then as "changed"
even when its listing or its page puts it outside the window. Because a URL's signal may come
from any document, article pages are only requested once discovery has finished.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.utils.defer import deferred_from_coro
from twisted.python.failure import Failure

from contracts.dates import utc
from contracts.urls import listing_key, strip_tracking
from spiders import discovery as disc
from spiders.extract import extract
from spiders.htmltools import NotAnArticle
from spiders.items import FetchItem, PageItem, RejectItem
from spiders.pipelines import now_iso
from spiders.sources import load_sources
from spiders.spiders import hooks as site_hooks
from spiders.spiders.listing import (
    RANK,
    Hint,
    Listing,
    SignalKind,
    change_signal,
    compare,
    derive_allowed_domains,
    listed_signal,
)
from spiders.urls import SiteScope

_DISCOVERY_PRIORITY = 10  # finish reading feeds and sitemaps before fetching articles
# Requests are de-duplicated here (url_key) and sent with dont_filter: one Scrapy's dupefilter
# dropped would be counted as requested but never answered. dont_filter also lifts Scrapy's
# offsite check, so every URL passes the site scope first (redirects meet the redirect policy).


def failure_reason(failure: Failure) -> tuple[str, str]:
    """(reason slug, detail) of a failed request: http_<status>, guard_refused, robots, ..."""
    exc = failure.value
    response = getattr(exc, "response", None)
    if response is not None:
        return f"http_{response.status}", f"HTTP {response.status}"
    name, message = failure.type.__name__, failure.getErrorMessage()
    detail = f"{name}: {message}"
    if isinstance(exc, IgnoreRequest):
        for needle, reason in (("address guard", "guard_refused"), ("robots.txt", "robots"),
                               ("redirect loop", "redirect_loop"),
                               ("redirect to off-site", "offsite_redirect"),
                               ("DOWNLOAD_MAXSIZE", "too_large"), ("as declared", "bad_encoding")):
            if needle in message:
                return reason, detail
        return "ignored", detail
    lowered = name.lower()
    if "dns" in lowered:
        return "dns", detail
    if "timeout" in lowered:
        return "timeout", detail
    if "refused" in lowered:
        return "connection_refused", detail
    return "fetch_error", detail


def _parse_as(kind: disc.Kind, body: bytes, url: str) -> disc.FeedResult | disc.SitemapResult:
    """Documents are recognised by content: a configured "feed" may well be a sitemap."""
    if kind == "feed":
        return disc.parse_feed(body, url)
    if kind == "sitemap":
        return disc.parse_sitemap(body, url)
    raise disc.DiscoveryError("neither a feed nor a sitemap")


class NewsSpider(scrapy.Spider):
    """Args `source`, `start`, `end`, `sources_file`, `known_file` (see spiders/run.py)."""

    name = "news"

    def __init__(self, source: str, start: str, end: str, sources_file: str,
                 known_file: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        src = self.source = load_sources(sources_file)[source]
        self.window = (utc(start), utc(end))
        if any(t.tzinfo is None for t in self.window):
            raise ValueError("start and end must carry a UTC offset")
        self.tz = ZoneInfo(src.timezone)
        self.hooks = site_hooks.hooks_for(src.discovery_urls)
        self.scope = SiteScope(list(src.allowed_domains)
                               or derive_allowed_domains(src.discovery_urls))
        self.allowed_domains = self.scope.hosts  # Scrapy's offsite check takes host names only
        # id -> {"url", "signal"} of what earlier runs judged; {} = fetch everything
        self.known: dict[str, dict[str, Any]] = (
            json.loads(Path(known_file).read_text(encoding="utf-8")) if known_file else {})
        self.known_by_url = {listing_key(k["url"]): aid for aid, k in self.known.items()
                             if k.get("url")}
        self.seen_docs: set[str] = set()
        self.listed: dict[str, Listing] = {}  # url_key -> what discovery said about it
        self.body_signals: dict[str, str] = {}  # url_key -> a change feed's body signal
        self.seen_ids: set[str] = set()
        self.budget_used = 0
        self.discovery_pending = 0  # discovery responses still outstanding
        self.flushed = False  # article pages requested (discovery finished)
        self.home_pending = 0
        self.home_found = 0
        self.home_failed = False
        self._warned: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> NewsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        return spider

    # -- small helpers ------------------------------------------------------------------------
    def _stat(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"nightdesk/{key}", n)

    def in_window(self, when: datetime | None, *, day_only: bool = False) -> bool:
        if when is None:
            return False
        if day_only:  # some time on that local day: the day overlapping the window is enough
            lo, hi = disc.span(when.astimezone(self.tz).date(), self.tz)
            return lo < self.window[1] and hi > self.window[0]
        return self.window[0] <= when < self.window[1]

    def reject(self, url: str, stage: str, reason: str, detail: str, *,
               listed_url: str | None = None, signal: str | None = None,
               document: bool = False) -> RejectItem:
        return RejectItem(source=self.source.name, url=url, stage=stage, reason=reason,
                          detail=detail, at=now_iso(), listed_url=listed_url, signal=signal,
                          document=document)

    def _document_failed(self, url: str, reason: str, detail: str, stat: str) -> RejectItem:
        """A discovery document that could not (fully) be read: reported, never skipped."""
        self._stat("discovery_failed")
        self._stat(stat)
        self.logger.error("discovery failed: %s: %s", url, detail)
        return self.reject(url, "discovery", reason, detail, document=True)

    def _too_long(self, url: str) -> bool:
        return len(url) > self.settings.getint("URLLENGTH_LIMIT", 2083)

    # -- discovery requests -------------------------------------------------------------------
    async def start(self) -> AsyncIterator[scrapy.Request]:
        src = self.source
        requests = []  # all counted as pending before any response can end discovery
        for url in (*src.feeds, *src.sitemaps, *filter(None, (src.newsmap, src.sitemap_index)),
                    *self.hooks.change_feeds):
            request = self._document(url, level=0, counted=False)
            if request is not None:
                requests.append(request)
        if src.home:
            self.home_pending = 2
            self.discovery_pending += 2
            self._stat("discovery_requests", 2)
            requests.append(scrapy.Request(src.home, callback=self.parse_home,
                                           errback=self.home_failed_cb,
                                           priority=_DISCOVERY_PRIORITY))
            requests.append(scrapy.Request(
                urljoin(src.home, "/robots.txt"), callback=self.parse_robots,
                errback=self.home_failed_cb, priority=_DISCOVERY_PRIORITY,
                meta={"handle_httpstatus_list": [401, 403, 404, 410],
                      "dont_obey_robotstxt": True}))
        for request in requests:
            yield request

    def _document(self, url: str, *, level: int, counted: bool = True) -> scrapy.Request | None:
        """A feed or sitemap request, once per URL; `counted` ones spend the max_urls budget."""
        key = listing_key(url)
        if key in self.seen_docs:
            return None
        if level > self.source.max_sitemap_depth:
            self._bound("max_sitemap_depth", url)
            return None
        if counted and not self._spend(url):
            return None
        self.seen_docs.add(key)
        self._stat("discovery_requests")
        self.discovery_pending += 1
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

    def _follow(self, urls: list[str], level: int) -> Iterator[Any]:
        """Discovery documents found in other documents: on-site ones are requested, the rest
        rejected with the reason."""
        for url in urls:
            if url not in self.scope:
                self._stat("offsite_skipped")
                yield self.reject(url, "discovery", "offsite",
                                  f"not under the source's sites {list(self.scope.entries)}",
                                  document=True)
            elif self._too_long(url):
                yield self.reject(url, "discovery", "url_too_long", f"{len(url)} characters",
                                  document=True)
            elif (request := self._document(url, level=level)) is not None:
                yield request

    def _discovery_done(self) -> Iterator[Any]:
        """One discovery response handled; after the last one, request the article pages."""
        self.discovery_pending -= 1
        if self.discovery_pending == 0 and not self.flushed:
            yield from self._fetch_listed()

    def _idle(self) -> None:
        """A safety net: discovery that never reported back (a request dropped without an
        errback) must not leave the window unfetched."""
        if self.flushed:
            return
        self.logger.warning("discovery idle with %d responses unaccounted for: requesting the "
                            "article pages now", self.discovery_pending)
        for item in self._fetch_listed():
            if isinstance(item, scrapy.Request):
                self.crawler.engine.crawl(item)
            else:  # rows still reach the pipelines and feeds
                deferred_from_coro(self.crawler.engine.scraper.start_itemproc_async(
                    item, response=None))
        raise DontCloseSpider

    # -- home page and robots.txt -------------------------------------------------------------
    def parse_home(self, response: Response) -> Iterator[Any]:
        feeds = disc.discover_from_html(response.body, response.url)
        self.logger.info("home page %s advertises feeds %s", response.url, feeds)
        self._stat("feeds_discovered", len(feeds))
        yield from self._follow(feeds, 0)
        yield from self._home_done(len(feeds))
        yield from self._discovery_done()

    def parse_robots(self, response: Response) -> Iterator[Any]:
        sitemaps: list[str] = []
        if response.status == 200:
            sitemaps = disc.sitemaps_from_robots(response.body.decode("utf-8", "replace"),
                                                 response.url)
        self.logger.info("robots.txt %s lists sitemaps %s", response.url, sitemaps)
        self._stat("sitemaps_discovered", len(sitemaps))
        yield from self._follow(sitemaps, 0)
        yield from self._home_done(len(sitemaps))
        yield from self._discovery_done()

    def home_failed_cb(self, failure: Failure) -> Iterator[Any]:
        self.home_failed = True
        yield self._discovery_error(failure)
        yield from self._home_done(0)
        yield from self._discovery_done()

    def _home_done(self, found: int) -> Iterator[Any]:
        self.home_found += found
        self.home_pending -= 1
        if self.home_pending == 0 and self.home_found == 0 and not self.home_failed:
            yield self._document_failed(self.source.home or "", "nothing_found",
                                        "home page advertises no feed and robots.txt lists no "
                                        "sitemap", "discovery_nothing_found")

    def _discovery_error(self, failure: Failure) -> RejectItem:
        reason, detail = failure_reason(failure)
        return self._document_failed(failure.request.url, reason, detail, "discovery_errors")

    def discovery_failed(self, failure: Failure) -> Iterator[Any]:
        yield self._discovery_error(failure)
        yield from self._discovery_done()

    # -- feeds and sitemaps -------------------------------------------------------------------
    def parse_document(self, response: Response, level: int) -> Iterator[Any]:
        try:
            yield from self._document_body(response, level)
        except Exception as exc:  # a parser bug: reported like an unreadable document
            self.logger.exception("discovery failed: %s", response.url)
            yield self._document_failed(response.url, "unparseable",
                                        f"{type(exc).__name__}: {exc}", "discovery_unparseable")
        yield from self._discovery_done()

    def _document_body(self, response: Response, level: int) -> Iterator[Any]:
        try:  # once here, not in every parser: a .gz sitemap is served as a file, not encoded
            body = disc.gunzip(response.body) if disc.is_gzip(response.body) else response.body
        except disc.DiscoveryError as exc:
            yield self._document_failed(response.url, "unparseable", exc.reason,
                                        "discovery_unparseable")
            return
        kind = disc.sniff(body)
        if kind == "html":
            yield from self._html_instead(response, level)
            return
        try:
            result = _parse_as(kind, body, response.url)
        except disc.DiscoveryError as exc:
            yield self._document_failed(response.url, "unparseable", exc.reason,
                                        "discovery_unparseable")
            return
        if result.recovered:
            self._stat("discovery_recovered")
            self.logger.warning("recovered %s: %s", response.url, "; ".join(result.recovered))
        if result.truncated:  # what it held is still used
            yield self._document_failed(response.url, "truncated",
                                        "truncated: " + "; ".join(result.recovered),
                                        "discovery_truncated")
        if isinstance(result, disc.FeedResult):
            if listing_key(response.url) in map(listing_key, self.hooks.change_feeds):
                self.body_signals.update(site_hooks.body_signals(body, response.url))
            self._feed(result)
        elif result.is_index:
            yield from self._index(result, level)
        else:
            self._urlset(result)

    def _html_instead(self, response: Response, level: int) -> Iterator[Any]:
        """A configured feed or sitemap URL that serves a page: follow the feeds it links."""
        feeds = disc.discover_from_html(response.body, response.url)
        if not feeds:
            yield self._document_failed(response.url, "unparseable",
                                        "an HTML page that links no feed",
                                        "discovery_unparseable")
            return
        self._stat("feeds_discovered", len(feeds))
        yield from self._follow(feeds, level + 1)

    def _feed(self, result: disc.FeedResult) -> None:
        self._stat("feed_entries", len(result.entries))
        self._list([
            (e.url, e.published, e.updated, "updated",
             Hint(e.published, f"feed:{result.format}:published" if e.published else None,
                  e.title))
            for e in result.entries
        ])

    def _urlset(self, result: disc.SitemapResult) -> None:
        self._stat("sitemap_urls", len(result.urls))
        listed = []
        for u in result.urls:
            news = u.news
            published = news.publication_date if news else None
            hint = Hint(published, "sitemap:news:publication_date" if published else None,
                        news.title if news else None, news.keywords if news else (),
                        news.language if news else None)
            listed.append((u.loc, published, u.lastmod, "lastmod", hint))
        self._list(listed)

    def _index(self, result: disc.SitemapResult, level: int) -> Iterator[Any]:
        start, end = self.window
        children = []
        for ref in result.sitemaps:
            if disc.window_verdict(None, ref.lastmod, start, end, self.tz) is disc.Verdict.OUT:
                self._stat("sitemaps_skipped_by_lastmod")
                continue
            children.append(ref.loc)
        yield from self._follow(children, level + 1)

    def _list(self, listed: list[tuple[str, disc.Stamp | None, disc.Stamp | None, SignalKind,
                                       Hint]]) -> None:
        """Remember what a document says about its URLs: whether they may hold window articles
        and their modification dates (the change signal). Pages are requested in _fetch_listed."""
        start, end = self.window
        for url, published, modified, kind, hint in listed:
            if published is None and (day := self.hooks.url_date(url)) is not None:
                published = day  # the date the site writes into its article URLs
                hint = Hint(day, "url:date", hint.title, hint.keywords, hint.language)
            verdict = disc.window_verdict(published, modified, start, end, self.tz)
            if verdict is disc.Verdict.OUT:
                self._stat("listed_out_of_window")
            elif verdict is disc.Verdict.MAYBE:
                self._stat("listed_undated" if modified is None else "listed_maybe")
            url = strip_tracking(url)  # tracking parameters are not part of the article's URL
            key = listing_key(url)
            entry = self.listed.get(key)
            if entry is None:
                entry = self.listed[key] = Listing(url, len(self.listed), RANK[verdict], hint)
            else:
                entry.merge(RANK[verdict], hint)
            if modified is not None:
                entry.changes.add((kind, modified))

    # -- choosing the article pages -----------------------------------------------------------
    def _site_id(self, url: str) -> str:
        return self.hooks.site_id(url) or disc.stable_id(url)

    def _known_id(self, url: str) -> str | None:
        """What an earlier night judged a listed URL to be: by the URL it was listed under, else
        by the article id that URL gives when the page names no other."""
        aid = self.known_by_url.get(listing_key(url))
        if aid is None:
            aid = f"{self.source.name}:{self._site_id(url)}"
        return aid if aid in self.known else None

    def _signal(self, key: str, entry: Listing) -> str | None:
        return (self.body_signals.get(key) or change_signal(entry.changes, self.tz)
                or listed_signal(entry.hint.published, self.tz))

    def _fetch_listed(self) -> Iterator[Any]:
        """Every listed URL that may hold a window article and is new, and every known URL whose
        change signal moved: dated listings first, so a max_urls bound drops the undated guesses
        before the sure hits. Every URL listed for the window gets its row or is known."""
        self.flushed = True
        listed = sorted(self.listed.items(), key=lambda kv: (-kv[1].rank, kv[1].order))
        self.listed = {}
        for key, entry in listed:
            aid = self._known_id(entry.url)
            signal = self._signal(key, entry)
            if aid is None:
                if entry.rank:
                    self._stat("listed")
                    yield from self._page(entry, "new", signal)
                continue
            decision = compare(signal, self.known[aid].get("signal"))
            if decision == "changed":  # a rejected URL that changed is judged afresh
                self._stat("listed")
                yield from self._page(entry, "changed", signal, article=":~" not in aid)
                continue
            if ":~" not in aid:  # an article: the same one under another URL is a duplicate
                self.seen_ids.add(aid.split(":", 1)[1])
            if decision == "rebaseline":
                # Judged while no listing offered this signal: today's becomes the baseline.
                yield FetchItem(source=self.source.name, article_id=aid, url=entry.url,
                                signal=signal, fetched_at=None)
            if entry.rank:
                self._stat("listed")
                self._stat("known_skipped")

    def _page(self, entry: Listing, reason: str, signal: str | None,
              article: bool = False) -> Iterator[Any]:
        url = entry.url
        if url not in self.scope:
            self._stat("offsite_skipped")
            if "offsite" not in self._warned:
                self._warned.add("offsite")
                self.logger.warning("not fetching %s: outside the source's sites %s (configure "
                                    "allowed_domains if articles live elsewhere)", url,
                                    list(self.scope.entries))
            yield self.reject(url, "discovery", "offsite",
                              f"not under the source's sites {list(self.scope.entries)}")
            return
        if self._too_long(url):
            yield self.reject(url, "discovery", "url_too_long",
                              f"{len(url)} characters, over URLLENGTH_LIMIT")
            return
        if not self._spend(url):
            yield self.reject(url, "discovery", "max_urls",
                              f"the max_urls bound ({self.source.max_urls}) was reached")
            return
        self._stat("article_requests")
        self._stat(f"article_requests_{reason}")
        yield scrapy.Request(url, callback=self.parse_article, errback=self.article_failed,
                             cb_kwargs={"hint": entry.hint}, dont_filter=True,
                             meta={"reason": reason, "signal": signal, "listed": url,
                                   "known_article": article})

    # -- articles -----------------------------------------------------------------------------
    def article_failed(self, failure: Failure) -> Iterator[Any]:
        reason, detail = failure_reason(failure)
        # robots.txt forbidding a page is the site's policy, not a failed fetch: it is a reject
        # row, but does not count towards the crawl's failure share (nothing was requested)
        self._stat("article_robots" if reason == "robots" else "article_failed")
        meta = failure.request.meta
        yield self.reject(failure.request.url, "fetch", reason, detail,
                          listed_url=meta.get("listed"), signal=meta.get("signal"))

    def parse_article(self, response: Response, hint: Hint) -> Iterator[Any]:
        page = PageItem(url=response.url, listed_url=response.meta.get("listed"), hint=hint,
                        changed=bool(response.meta.get("known_article")),
                        signal=response.meta.get("signal"), record=None, refused=None,
                        failed=None)
        if not isinstance(response, TextResponse):
            kind = response.headers.get("Content-Type", b"").decode("latin-1")
            page["refused"] = f"not a text page ({kind})"
            yield page
            return
        try:
            page["record"] = extract(response.text, response.url,
                                     timezone=self.source.timezone)
        except NotAnArticle as exc:
            page["refused"] = str(exc) or "not an article"
        except Exception as exc:  # an extractor bug must show up as a rejected page, not vanish
            self.logger.exception("extraction failed: %s", response.url)
            page["failed"] = f"{type(exc).__name__}: {exc}"
        yield page
