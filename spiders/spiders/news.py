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

Incremental: what earlier runs fetched is passed in (`known_file`, exported from the warehouse by
spiders/run.py; absent = fetch everything). The change signal is what the site itself offers for
a listed URL: a sitemap `<lastmod>` or a feed entry's modification date (Atom `updated`, RSS
`modified`/`updated`, JSON Feed `date_modified`). A URL listed several times gets the latest of
them, e.g. "lastmod:2023-04-28T20:00:00+00:00" (naive times read in the source's timezone, then
UTC; a date alone stays a date); only the time is compared, not where it was read. A known
article (matched by its listed URL, or by the id that URL would give) is not fetched again
(`known_skipped`) unless the signal now offered differs from the stored one; it is then fetched as
"changed", even when its listing or its page puts it outside the window. A known article for which
no listing offers a signal is skipped too: nothing says it changed. One stored without a signal
that now has one gets that signal as its baseline, without a fetch. Everything else in the window
is fetched as "new". Stats: `article_requests_new`, `article_requests_changed`, `known_skipped`
(as for the Moscow Times). Each stored article yields a FetchItem with the URL it was listed
under and the signal seen. Because a URL's signal may come from any document, article pages are
only requested once discovery has finished (the last feed or sitemap answered).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response, TextResponse
from scrapy.utils.url import url_is_from_any_domain
from twisted.python.failure import Failure

from spiders import discovery as disc
from spiders.htmltools import NotAnArticle
from spiders.items import FetchItem
from spiders.spiders._base import NightdeskSpider, extract_page, read_known

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


# How far a listing places a URL in the window: a publication date inside it, no date that rules
# it out, or outside it (then only a changed known article is fetched).
_RANK = {disc.Verdict.IN: 2, disc.Verdict.MAYBE: 1, disc.Verdict.OUT: 0}
SignalKind = Literal["lastmod", "updated"]  # sitemap <lastmod>; a feed entry's modification date


@dataclass
class Listing:
    """Everything discovery said about one URL (by url_key), over all documents that list it."""

    url: str  # without tracking parameters
    order: int  # first listed; ties in rank keep discovery order
    rank: int
    hint: Hint
    changes: set[tuple[SignalKind, disc.Stamp]] = field(default_factory=set)


def change_signal(changes: Iterable[tuple[SignalKind, disc.Stamp]], tz: Any) -> str | None:
    """The latest modification date offered, e.g. "lastmod:2023-04-28T20:00:00+00:00".

    Naive times are read in `tz` and written in UTC; a date alone is written as a date (and is
    later than every time of its local day). Equal times prefer the sitemap's lastmod."""
    best: tuple[datetime, int, str] | None = None
    for kind, stamp in changes:
        if isinstance(stamp, datetime):
            when = disc.localize(stamp, tz).astimezone(UTC)
            key, text = when, when.isoformat()
        else:
            key, text = disc.span(stamp, tz)[1], stamp.isoformat()
        candidate = (key, kind == "lastmod", f"{kind}:{text}")
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else None


def signal_value(signal: str) -> str:
    """What is compared: the time of a lastmod/updated signal, whichever document gave it."""
    kind, sep, value = signal.partition(":")
    return value if sep and kind in ("lastmod", "updated") else signal


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

    def __init__(self, source: str, start: str, end: str, sources_file: str,
                 known_file: str | None = None, **kwargs: Any):
        super().__init__(source, start, end, sources_file, **kwargs)
        src = self.source
        self.tz = ZoneInfo(src.timezone)
        self.allowed_domains = list(src.allowed_domains) or derive_allowed_domains(
            src.discovery_urls)
        # article_id -> {"url", "signal"} of what earlier runs fetched; {} = fetch everything
        self.known = read_known(known_file)
        self.known_by_url = {disc.url_key(k["url"]): aid for aid, k in self.known.items()
                             if k.get("url")}
        self.seen_docs: set[str] = set()
        self.listed: dict[str, Listing] = {}  # url_key -> what discovery said about it
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

    # -- discovery requests -------------------------------------------------------------------
    async def start(self) -> AsyncIterator[scrapy.Request]:
        src = self.source
        requests = []  # all counted as pending before any response can end discovery
        for url in (*src.feeds, *src.sitemaps, *filter(None, (src.newsmap, src.sitemap_index))):
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
        requests = [r for r in self._fetch_listed() if isinstance(r, scrapy.Request)]
        for request in requests:
            self.crawler.engine.crawl(request)
        if requests:
            raise DontCloseSpider

    # -- home page and robots.txt -------------------------------------------------------------
    def parse_home(self, response: Response) -> Iterator[Any]:
        feeds = disc.discover_from_html(response.body, response.url)
        self.logger.info("home page %s advertises feeds %s", response.url, feeds)
        self._stat("feeds_discovered", len(feeds))
        yield from self._follow_discovered(feeds)
        yield from self._home_done(len(feeds))
        yield from self._discovery_done()

    def parse_robots(self, response: Response) -> Iterator[Any]:
        sitemaps: list[str] = []
        if response.status == 200:
            sitemaps = disc.sitemaps_from_robots(response.body.decode("utf-8", "replace"),
                                                 response.url)
        self.logger.info("robots.txt %s lists sitemaps %s", response.url, sitemaps)
        self._stat("sitemaps_discovered", len(sitemaps))
        yield from self._follow_discovered(sitemaps)
        yield from self._home_done(len(sitemaps))
        yield from self._discovery_done()

    def _follow_discovered(self, urls: list[str]) -> Iterator[scrapy.Request]:
        for url in urls:
            if not self._on_site(url):
                continue
            request = self._document(url, level=0)
            if request is not None:
                yield request

    def home_failed_cb(self, failure: Failure) -> Iterator[Any]:
        self.home_failed = True
        yield self._discovery_error(failure)
        yield from self._home_done(0)
        yield from self._discovery_done()

    def _home_done(self, found: int) -> Iterator[Any]:
        self.home_found += found
        self.home_pending -= 1
        if self.home_pending == 0 and self.home_found == 0 and not self.home_failed:
            yield self._unreadable(self.source.home or "", "home page advertises no feed and "
                                   "robots.txt lists no sitemap", "discovery_nothing_found")

    # -- feeds and sitemaps -------------------------------------------------------------------
    def parse_document(self, response: Response, level: int) -> Iterator[Any]:
        try:
            yield from self._document_body(response, level)
        except Exception as exc:  # a parser bug: reported like an unreadable document
            self.logger.exception("discovery failed: %s", response.url)
            yield self._unreadable(response.url, f"{type(exc).__name__}: {exc}",
                                   "discovery_unparseable")
        yield from self._discovery_done()

    def _document_body(self, response: Response, level: int) -> Iterator[Any]:
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
            self._feed(result)
        elif result is not None and result.is_index:
            yield from self._index(result, level)
        elif result is not None:
            self._urlset(result)

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
        for ref in result.sitemaps:
            if disc.window_verdict(None, ref.lastmod, start, end, self.tz) is disc.Verdict.OUT:
                self._stat("sitemaps_skipped_by_lastmod")
                continue
            if not self._on_site(ref.loc):
                continue
            request = self._document(ref.loc, level=level + 1)
            if request is not None:
                yield request

    def _list(self, listed: list[tuple[str, disc.Stamp | None, disc.Stamp | None, SignalKind,
                                       Hint]]) -> None:
        """Remember what a document says about its URLs: whether they may hold window articles
        and their modification dates (the change signal). Pages are requested in _fetch_listed."""
        start, end = self.window
        for url, published, modified, kind, hint in listed:
            verdict = disc.window_verdict(published, modified, start, end, self.tz)
            if verdict is disc.Verdict.OUT:
                self._stat("listed_out_of_window")
            elif verdict is disc.Verdict.MAYBE:
                self._stat("listed_undated" if modified is None else "listed_maybe")
            url = disc.clean_url(url)  # tracking parameters are not part of the article's URL
            key = disc.url_key(url)
            entry = self.listed.get(key)
            if entry is None:
                entry = self.listed[key] = Listing(url, len(self.listed), _RANK[verdict], hint)
            elif _RANK[verdict] > entry.rank:  # the surest listing's hint is used
                entry.rank, entry.hint = _RANK[verdict], hint
            if modified is not None:
                entry.changes.add((kind, modified))

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

    # -- choosing the article pages -----------------------------------------------------------
    def _known_id(self, url: str) -> str | None:
        """The known article a listed URL is: by the URL it was fetched under, else by the id
        that URL gives when the page names no other."""
        aid = self.known_by_url.get(disc.url_key(url))
        if aid is None:
            aid = f"{self.source.name}:{disc.stable_id(url)}"
        return aid if aid in self.known else None

    def _fetch_listed(self) -> Iterator[Any]:
        """Every listed URL that may hold a window article and is new, and every known article
        whose change signal moved: dated listings first, so a max_urls bound drops the undated
        guesses before the sure hits."""
        self.flushed = True
        listed = sorted(self.listed.values(), key=lambda e: (-e.rank, e.order))
        self.listed = {}
        skipped: set[str] = set()
        for entry in listed:
            aid = self._known_id(entry.url)
            signal = change_signal(entry.changes, self.tz)
            if aid is None:
                if entry.rank:
                    yield from self._page(entry, "new", signal)
                continue
            stored = self.known[aid].get("signal")
            if signal is not None and stored is not None and (
                    signal_value(signal) != signal_value(stored)):
                yield from self._page(entry, "changed", signal)
                continue
            self.seen_ids.add(aid.split(":", 1)[1])  # the same article under another URL
            if signal is not None and stored is None:
                # Fetched while no listing offered a signal: today's becomes the baseline.
                yield FetchItem(source=self.source.name, article_id=aid, url=entry.url,
                                signal=signal, fetched_at=None)
            if entry.rank and aid not in skipped:
                skipped.add(aid)
                self._stat("known_skipped")

    def _page(self, entry: Listing, reason: str, signal: str | None) -> Iterator[scrapy.Request]:
        if not self._on_site(entry.url) or not self._spend(entry.url):
            return
        self._stat("article_requests")
        self._stat(f"article_requests_{reason}")
        yield scrapy.Request(entry.url, callback=self.parse_article, errback=self.article_failed,
                             cb_kwargs={"hint": entry.hint}, dont_filter=True,
                             meta={"reason": reason, "signal": signal, "listed": entry.url})

    def discovery_failed(self, failure: Failure) -> Iterator[Any]:
        yield self._discovery_error(failure)
        yield from self._discovery_done()

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
        # An update of a known article is stored whenever it was published; anything else must
        # belong to the window by its own publication time.
        changed = response.meta.get("reason") == "changed"
        if not (changed and record["published_at"] is not None) and not self._in_window(
                record["published_at"]):
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
        item = self._article_item(record, sid)
        yield item
        # The listed URL is remembered, not the page's own: the next crawl meets it in listings.
        yield FetchItem(source=self.source.name, article_id=item["article_id"],
                        url=response.meta.get("listed") or response.url,
                        signal=response.meta.get("signal"), fetched_at=item["crawled_at"])

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
