"""A Moscow Times look-alike whose articles misbehave by id, for one FaultServer.

www serves robots.txt, the RSS feed /rss/news (listing every faulty article), an empty /rss/all
(the spider's change-signal feed) and the articles;
static serves robots.txt and the news sitemaps (listing the good articles, in chunks of fewer
than 100 so the spider needs no monthly sitemaps).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tests.faults.catalog import BY_NAME, Context, Expect, Fault, listed_url, ok
from tests.faults.pages import (
    Article,
    newsmap,
    newsmap_index,
    robots,
    rss_feed,
)
from tests.faults.server import Exchange, Handler

WWW_HOST = "www.themoscowtimes.com"
STATIC_HOST = "static.themoscowtimes.com"
_ARTICLE = re.compile(r"^/2022/01/31/[a-z0-9-]+-a(\d+)$")
NEWSMAP_CHUNK = 40
GOOD = Fault("good", ok, Expect("article", requests=1))  # a plain, well-behaved article


@dataclass(frozen=True)
class Entry:
    fault: Fault
    article: Article
    listed: str  # the URL discovery lists


class FaultSite:
    """`faults` (names from the catalog) get ids from `first_id` on; then `good` plain articles.

    www_robots_status: answer www's robots.txt with this status instead of the rules.
    static_crawl_delay: a Crawl-delay for static's robots.txt.
    """

    def __init__(self, faults: Sequence[str], good: int, *, first_id: int = 90001,
                 sentinel_port: int, www_robots_status: int | None = None,
                 static_crawl_delay: float | None = None) -> None:
        self.sentinel_port = sentinel_port
        self.www_robots_status = www_robots_status
        self.static_crawl_delay = static_crawl_delay
        chosen = [BY_NAME[name] for name in faults] + [GOOD] * good
        self.entries: dict[int, Entry] = {}
        for i, fault in enumerate(chosen):
            article = Article(first_id + i, fault.slug, fault.text)
            self.entries[article.id] = Entry(fault, article,
                                             listed_url(fault, article, sentinel_port))

    # -- what the crawl should see ----------------------------------------------------------
    def by_fault(self, name: str) -> Entry:
        return next(e for e in self.entries.values() if e.fault.name == name)

    @property
    def good(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.fault is GOOD]

    @property
    def faulty(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.fault is not GOOD]

    def _chunks(self) -> list[list[Article]]:
        good = [e.article for e in self.good]
        return [good[i:i + NEWSMAP_CHUNK] for i in range(0, len(good), NEWSMAP_CHUNK)] or [[]]

    # -- routing ----------------------------------------------------------------------------
    def router(self, host: str, path: str) -> Handler | None:
        if host == WWW_HOST:
            return self._www(path)
        if host == STATIC_HOST:
            return self._static(path)
        return None

    def _www(self, path: str) -> Handler | None:
        if path == "/robots.txt":
            if self.www_robots_status is not None:
                status = self.www_robots_status
                return lambda ex: ex.respond(status, b"unavailable\n", "text/plain")
            blocked = [e.article.path for e in self.faulty
                       if e.fault.name == "robots_disallowed"]
            return _text(robots(blocked), "text/plain; charset=utf-8")
        if path == "/rss/news":
            items = [(e.listed, e.article.published) for e in self.faulty]
            return _text(rss_feed(items), "application/rss+xml; charset=utf-8")
        if path == "/rss/all":  # the spider's change-signal feed: nothing changed here
            return _text(rss_feed([]), "application/rss+xml; charset=utf-8")
        match = _ARTICLE.match(path)
        entry = self.entries.get(int(match.group(1))) if match else None
        if entry is None:
            return None
        context = Context(entry.article, self.sentinel_port)
        return lambda ex: entry.fault.serve(ex, context)

    def _static(self, path: str) -> Handler | None:
        xml = "application/xml; charset=utf-8"
        if path == "/robots.txt":
            return _text(robots([], self.static_crawl_delay), "text/plain; charset=utf-8")
        chunks = self._chunks()
        names = [f"news-{i}" for i in range(len(chunks))]
        if path == "/sitemap/newsmap.xml":
            return _text(newsmap_index(names), xml)
        for name, chunk in zip(names, chunks, strict=True):
            if path == f"/sitemap/newsmap/{name}.xml":
                return _text(newsmap(chunk), xml)
        return None


def _text(body: str, content_type: str) -> Handler:
    data = body.encode("utf-8")

    def serve(ex: Exchange) -> None:
        ex.respond(200, data, content_type)

    return serve
