"""`nightdesk try URL`: what Nightdesk would find on a site, before it is added.

Given a site's home page, feed or sitemap, it discovers as the crawl does (spiders/discovery.py:
the feeds a page advertises, the sitemaps robots.txt lists, feed entries, sitemap URLs and
indexes), fetches at most --max-pages of the newest listed pages politely
(spiders/politefetch.py: robots.txt, a delay, the project's User-Agent, the address guard),
prints each page's extracted fields (spiders.extract.extract) and a `[[source]]` entry to paste
into a sources file. It writes nothing.

Exit codes: 0 with at least one article found; 1 when the URL cannot be read, nothing is listed
or no page is an article; 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.urls import listing_key, strip_tracking
from spiders import discovery as disc

if TYPE_CHECKING:  # Scrapy is imported only when a site is tried, not by every CLI command
    from spiders.politefetch import Fetched, PoliteFetcher

MAX_DOCUMENTS = 3  # feeds, and sitemaps, read per kind: enough to see what a site lists


@dataclass(frozen=True)
class Listed:
    url: str
    published: disc.Stamp | None
    where: str  # e.g. "feed:rss", "sitemap:news"


class TryFailed(Exception):
    """The trial cannot go on (exit 1); the message is for the user."""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Registers `nightdesk try` (called from nightdesk/cli.py's main)."""
    p = sub.add_parser("try", parents=[common],
                       help="try a site (home page, feed or sitemap) before adding it: what is "
                            "found, what is extracted, and a sources entry; writes nothing")
    p.add_argument("url", help="the site's home page, a feed or a sitemap (http or https)")
    p.add_argument("--max-pages", type=_positive, default=10,
                   help="article pages to fetch, newest first (default 10; feeds, sitemaps and "
                        f"robots.txt come on top, at most {MAX_DOCUMENTS} of each kind)")
    p.add_argument("--timezone", type=_zone, default=None,
                   help="IANA zone for dates the site gives without an offset (default UTC)")
    p.add_argument("--delay", type=float, default=None,
                   help="seconds between requests (default DOWNLOAD_DELAY of spiders/settings.py;"
                        " a longer robots.txt Crawl-delay wins)")
    p.set_defaults(func=command)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of pages >= 1, not {text!r}")
    return int(text)


def _zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IANA zone (e.g. Europe/Berlin)") from None
    return text


def command(args: argparse.Namespace) -> int:
    from contracts.cliargs import UsageError
    from spiders.politefetch import PoliteFetcher
    from spiders.sources import http_url_problem

    why = http_url_problem(args.url)
    if why:
        raise UsageError(why)
    if args.delay is not None and args.delay < 0:
        raise UsageError("--delay must not be negative")
    settings = args.settings  # read by the CLI (nightdesk/cli.py)
    fetcher = PoliteFetcher(delay=args.delay, contact=settings.contact,
                            allowed_addresses=settings.allowed_addresses)
    trial = Trial(args.url, fetcher, args.timezone, args.max_pages)
    try:
        return trial.run()
    except TryFailed as exc:
        print(f"nightdesk try: failed: {exc}", file=sys.stderr)
        return 1


class Trial:
    def __init__(self, url: str, fetcher: PoliteFetcher, timezone: str | None,
                 max_pages: int) -> None:
        self.url = url
        self.fetcher = fetcher
        self.timezone = timezone
        self.max_pages = max_pages
        self.kind: disc.Kind = "unknown"
        self.title: str | None = None
        self.listed: dict[str, Listed] = {}
        self.feeds: list[str] = []  # readable feeds and top-level sitemaps: the entry's URLs
        self.sitemaps: list[str] = []
        self.hosts = {_site_host(url)}
        self.dated_by_page = 0  # articles with a date of their own
        self.naive = 0  # ... read without an offset (the source's timezone matters)

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    # -- discovery ----------------------------------------------------------------------------
    def _fetch_ok(self, url: str) -> Fetched:
        from spiders.politefetch import FetchError

        try:
            got = self.fetcher.get(url)
        except FetchError as exc:
            raise TryFailed(str(exc)) from None
        if got.status != 200:
            raise TryFailed(f"{url} answered HTTP {got.status}")
        return got

    def discover(self) -> None:
        got = self._fetch_ok(self.url)
        body = disc.gunzip(got.body) if disc.is_gzip(got.body) else got.body
        self.kind = disc.sniff(body)
        if self.kind == "feed":
            self.say(f"{self.url} is a feed")
            self._feed(self.url, body)
        elif self.kind == "sitemap":
            self.say(f"{self.url} is a sitemap")
            self._sitemap(self.url, body, depth=0)
        elif self.kind == "html":
            self.say(f"{self.url} is an HTML page: looking for the feeds it advertises and the "
                     "sitemaps robots.txt lists")
            self._home(got)
        else:
            raise TryFailed(f"{self.url} is neither a feed, a sitemap nor an HTML page "
                            f"(Content-Type {got.content_type or 'none'})")

    def _home(self, got: Fetched) -> None:
        feeds = disc.discover_from_html(got.body, got.url)
        robots = self.fetcher.robots(self.url)
        sitemaps = disc.sitemaps_from_robots(robots.text, self.url) if robots.text else []
        self.title = _html_title(got.body)
        self.say(f"  advertised feeds: {', '.join(feeds) or 'none'}")
        self.say(f"  sitemaps in robots.txt: {', '.join(sitemaps) or 'none'}"
                 + (f" ({robots.why})" if robots.why else ""))
        for url in feeds[:MAX_DOCUMENTS]:
            self._document(url, "feed")
        for url in sitemaps[:MAX_DOCUMENTS]:
            self._document(url, "sitemap")

    def _document(self, url: str, expected: str, depth: int = 0) -> None:
        try:
            got = self._fetch_ok(url)
        except TryFailed as exc:
            self.say(f"  {expected} {url}: {exc}")
            return
        body = disc.gunzip(got.body) if disc.is_gzip(got.body) else got.body
        kind = disc.sniff(body)
        if kind == "feed":
            self._feed(url, body)
        elif kind == "sitemap":
            self._sitemap(url, body, depth)
        else:
            self.say(f"  {expected} {url}: not a feed or sitemap ({kind})")

    def _feed(self, url: str, body: bytes) -> None:
        try:
            feed = disc.parse_feed(body, url)
        except disc.DiscoveryError as exc:
            self.say(f"  feed {url}: unreadable: {exc.reason}")
            return
        self.title = self.title or feed.title
        self.feeds.append(url)
        self.say(f"  feed {url} ({feed.format}, {feed.title or 'untitled'!r}): "
                 f"{len(feed.entries)} entries" + _repairs(feed.recovered, feed.truncated))
        for e in feed.entries:
            self._list(e.url, e.published, f"feed:{feed.format}")

    def _sitemap(self, url: str, body: bytes, depth: int) -> None:
        try:
            sitemap = disc.parse_sitemap(body, url)
        except disc.DiscoveryError as exc:
            self.say(f"  sitemap {url}: unreadable: {exc.reason}")
            return
        extra = _repairs(sitemap.recovered, sitemap.truncated)
        if depth == 0:
            self.sitemaps.append(url)
        if sitemap.is_index:
            children = sorted(sitemap.sitemaps, key=lambda r: _sort_key(r.lastmod), reverse=True)
            self.say(f"  sitemap index {url}: {len(children)} sitemaps; reading the newest "
                     f"{min(len(children), MAX_DOCUMENTS)}{extra}")
            if depth < 2:
                for ref in children[:MAX_DOCUMENTS]:
                    self._document(ref.loc, "sitemap", depth + 1)
            return
        news = sum(1 for u in sitemap.urls if u.news is not None)
        self.say(f"  sitemap {url}: {len(sitemap.urls)} URLs"
                 + (f", {news} with Google News dates" if news else "") + extra)
        for u in sitemap.urls:
            published = u.news.publication_date if u.news else None
            self._list(u.loc, published, "sitemap:news" if u.news else "sitemap")

    def _list(self, url: str, published: disc.Stamp | None, where: str) -> None:
        key = listing_key(url)
        old = self.listed.get(key)
        if old is None or (old.published is None and published is not None):
            self.listed[key] = Listed(strip_tracking(url), published, where)

    # -- pages --------------------------------------------------------------------------------
    def candidates(self) -> list[Listed]:
        on_site = [x for x in self.listed.values() if _site_host(x.url) in self.hosts]
        offsite = len(self.listed) - len(on_site)
        allowed = [x for x in on_site if not self.fetcher.disallowed(x.url)]
        allowed.sort(key=lambda x: _sort_key(x.published), reverse=True)
        picked = allowed[:self.max_pages]
        self.say(f"{len(self.listed)} URLs listed: {len(on_site) - len(allowed)} disallowed by "
                 f"robots.txt, {offsite} on other hosts; fetching the newest {len(picked)} of "
                 f"{len(allowed)} (--max-pages {self.max_pages})")
        return picked

    def page(self, n: int, item: Listed) -> bool:
        """Fetches and extracts one page, prints its fields; True when it is an article."""
        from spiders.politefetch import FetchError

        self.say(f"\n[{n}] {item.url}")
        self.say(f"    listed by {item.where}"
                 + (f", dated {_iso(item.published)}" if item.published else ", undated"))
        try:
            got = self.fetcher.get(item.url)
        except FetchError as exc:
            self.say(f"    not fetched: {exc}")
            return False
        if got.status != 200:
            self.say(f"    not fetched: HTTP {got.status}")
            return False
        record, reject = extract_page(got, self.timezone)
        if reject:
            self.say(f"    not an article: {reject}")
            return False
        body = record.get("body") or ""
        self.say(f"    title: {record.get('title')}")
        self.say(f"    authors: {', '.join(record.get('authors') or []) or '-'}")
        published = record.get("published_at")
        self.say(f"    published_at: {_iso(published) if published else '-'}"
                 f" (published_at_from: {record.get('published_at_from') or '-'})")
        words = " ".join(body.split()[:25])
        self.say(f"    body: {len(body)} chars: {words}{' ...' if len(body.split()) > 25 else ''}")
        self.dated_by_page += bool(published)
        self.naive += "assumed" in str(record.get("published_at_from") or "")
        return True

    def run(self) -> int:
        self.discover()
        if not self.listed:
            raise TryFailed(f"found no feed or sitemap listing articles at {self.url}; a source "
                            "needs a feed, a sitemap, or a home page that advertises a feed")
        picked = self.candidates()
        articles = sum(self.page(n, item) for n, item in enumerate(picked, 1))
        self.say(f"\n{articles} of {len(picked)} pages are articles; {self.dated_by_page} carry "
                 f"their own date ({len(self.fetcher.requests)} requests in all)")
        self.say("\nSuggested entry for your sources file (then: nightdesk run --sources FILE "
                 "--day YYYY-MM-DD):\n")
        self.say(self.suggestion())
        if not articles:
            print("nightdesk try: failed: no page fetched was an article", file=sys.stderr)
            return 1
        return 0

    # -- the entry ----------------------------------------------------------------------------
    def suggestion(self) -> str:
        from spiders.sources import is_local_host, parse_sources

        parts = urlsplit(self.url)
        lines = ["[[source]]", f'name = "{_slug(self.title, parts.hostname or "site")}"',
                 'spider = "news"']
        # What was read and listed articles; a home page's discovery would find the same each
        # night, so it is offered as the alternative.
        for key, urls in (("feeds", self.feeds), ("sitemaps", self.sitemaps)):
            if urls:
                lines.append(f"{key} = {json.dumps(urls)}")  # a JSON list of strings is TOML
        if self.kind == "html":
            lines.append(f"# home = {json.dumps(self.url)}  # instead of feeds and sitemaps: "
                         "finds them again every night")
        if self.timezone:
            lines.append(f'timezone = "{self.timezone}"')
        elif self.naive:
            lines.append('# timezone = "Europe/London"  # pages give times without an offset: '
                         "set the site's zone (now read as UTC)")
        if parts.port is not None:
            lines.append(f"allowed_domains = {json.dumps([_site_host(self.url)])}  # with its port")
        if is_local_host(parts.hostname or ""):
            lines.insert(0, f"# {parts.hostname} is a loopback or private address: crawls need "
                         f"NIGHTDESK_ALLOWED_ADDRESSES={parts.hostname}")
        text = "\n".join(lines) + "\n"
        parse_sources(text, "the suggested entry")  # a suggestion that does not load is a bug
        return text


def extract_page(got: Fetched, timezone: str | None) -> tuple[dict[str, Any], str | None]:
    """spiders.extract.extract on a fetched page: (record, reject reason or None). Handles both
    contracts: NotAnArticle raised, or `reject_reason` set in the returned record."""
    from w3lib.encoding import html_to_unicode

    from spiders.extract import extract
    from spiders.htmltools import NotAnArticle

    _, html = html_to_unicode(got.content_type, got.body)
    try:
        record = extract(html, got.url, timezone=timezone)
    except NotAnArticle as exc:
        return {}, str(exc) or "not an article"
    return record, record.get("reject_reason") or None


def _site_host(url: str) -> str:
    """A URL's host with its port, without `www.`: what makes two URLs one site."""
    return urlsplit(url).netloc.lower().rsplit("@", 1)[-1].removeprefix("www.")


def _slug(title: str | None, host: str) -> str:
    text = title or host.removeprefix("www.").rsplit(".", 1)[0]
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-")
    return slug or "site"


def _html_title(body: bytes) -> str | None:
    m = re.search(rb"<title[^>]*>([^<]{1,200})</title>", body, re.I)
    return m.group(1).decode("utf-8", "replace").split("|")[0].strip() or None if m else None


def _sort_key(stamp: disc.Stamp | None) -> datetime:
    if stamp is None:
        return datetime.min.replace(tzinfo=UTC)
    lo, _ = disc.span(stamp, UTC)
    return lo


def _iso(stamp: object) -> str:
    return stamp.isoformat() if hasattr(stamp, "isoformat") else str(stamp)


def _repairs(recovered: tuple[str, ...], truncated: bool) -> str:
    notes = list(recovered) + (["truncated"] if truncated else [])
    return f" (repaired: {'; '.join(notes)})" if notes else ""
