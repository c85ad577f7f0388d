"""A small news site as a new user would point Nightdesk at: its own URLs on 127.0.0.1 at a free
port (no routing, no made-up host), for `nightdesk try` and the CLI's tests.

Five real pages of ../shared/fixtures/fundus_en (read at run time, never copied) are articles of
2023-04-28; a section front is not an article. The home page advertises an RSS feed; robots.txt
lists a Google News sitemap and disallows /private/, where one more listed page lives.
"""

from __future__ import annotations

import gzip
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from xml.sax.saxutils import escape

from tests.sites.news_site import PAGES
from tests.sites.server import Route, SiteServer

DAY = "2023-04-28"  # every article's own day; `--day 2023-04-28` covers them all
ARTICLES = {  # key of tests.sites.news_site.PAGES -> the page's own publication time
    "ap": "2023-04-28T17:40:08Z",
    "cnbc": "2023-04-28T18:23:00Z",
    "freebeacon": "2023-04-28T18:01:37Z",
    "gateway": "2023-04-28T18:15:00Z",
    "intercept": "2023-04-28T15:54:24Z",
}
SECTION = "/world/"
PRIVATE = "/private/hidden.html"


def _rss(base: str) -> bytes:
    items = "".join(
        f"<item><title>{key}</title><link>{base}{PAGES[key].path}</link>"
        f"<pubDate>{when}</pubDate></item>" for key, when in ARTICLES.items())
    items += (f"<item><title>World</title><link>{base}{SECTION}</link>"
              f"<pubDate>2023-04-28T12:00:00Z</pubDate></item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Local Times</title><link>{base}/</link>{items}</channel></rss>").encode()


def _news_sitemap(base: str) -> bytes:
    listed = [(PAGES[key].path, key, when) for key, when in ARTICLES.items()]
    listed.append((PRIVATE, "hidden", "2023-04-28T10:00:00Z"))  # robots.txt forbids it
    urls = "".join(
        f"<url><loc>{escape(base + path)}</loc><news:news><news:publication>"
        f"<news:name>Local Times</news:name><news:language>en</news:language>"
        f"</news:publication><news:publication_date>{when}</news:publication_date>"
        f"<news:title>{title}</news:title></news:news></url>" for path, title, when in listed)
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>').encode()


def _html(title: str, head: str = "", body: str = "") -> bytes:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"{head}</head><body>{body}</body></html>").encode()


def build_routes(shared: Path, base: str) -> dict[str, Route]:
    fundus = shared / "fixtures" / "fundus_en"
    routes = {PAGES[key].path: Route(gzip.decompress((fundus / PAGES[key].fixture).read_bytes()))
              for key in ARTICLES}
    teasers = "".join(f'<li><a href="{PAGES[k].path}">Story {k}</a></li>' for k in ARTICLES)
    routes |= {
        "/": Route(_html("Local Times", '<link rel="alternate" type="application/rss+xml" '
                         'title="Local Times" href="/feed.xml">',
                         f'<a href="{SECTION}">World</a>')),
        SECTION: Route(_html("World | Local Times", '<meta property="og:type" content="website">',
                             f"<main><ul>{teasers}</ul></main>")),
        PRIVATE: Route(_html("Hidden")),
        "/feed.xml": Route(_rss(base), "application/rss+xml; charset=utf-8"),
        "/news-sitemap.xml": Route(_news_sitemap(base), "application/xml; charset=utf-8"),
        "/robots.txt": Route(f"User-agent: *\nDisallow: /private/\n\n"
                             f"Sitemap: {base}/news-sitemap.xml\n".encode(), "text/plain"),
    }
    return routes


class AgentLoggingServer(SiteServer):
    """A SiteServer that also records each request's User-Agent and monotonic time."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.seen: list[tuple[float, str, str]] = []  # (time, path, User-Agent)
        super().__init__(routes)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        base, server = super()._handler(), self

        class Handler(base):  # type: ignore[valid-type,misc]
            def do_GET(self) -> None:
                server.seen.append((time.monotonic(), self.path,
                                    self.headers.get("User-Agent", "")))
                super().do_GET()

        return Handler

    @property
    def base(self) -> str:
        return f"http://{self.addr}"


def local_site(shared: Path) -> AgentLoggingServer:
    """A server (start it with `with`) serving the site at its own http://127.0.0.1:PORT."""
    server = AgentLoggingServer({})
    server.routes.update(build_routes(shared, server.base))
    return server
