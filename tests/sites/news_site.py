"""A small news site for the generic spider's crawls, built at run time.

Articles are real saved pages of eight US publishers from ../shared/fixtures/fundus_en (read and
gunzipped here, never copied into the repo), served under one made-up host. Feeds, sitemaps, a
home page, robots.txt and two non-article pages are generated around them. Some listings tell
the truth about a page's date and some deliberately do not, so tests can tell what the listing
decided (the URL was never requested) from what the page decided (fetched, then dropped).

The test window is [2023-04-28 14:00 UTC, 2023-04-29 14:00 UTC). Page dates (the pages' own):
  ap 17:40Z, cnbc 18:23Z, freebeacon 18:01Z, gateway 18:15Z, intercept 15:54Z   -> in
  washtimes 2023-04-28 13:53:25 without offset -> in only when read as America/New_York
  fox 2023-04-26, reuters 2023-04-25                                            -> out

For incremental crawls, /inc/sitemap.xml (a news sitemap with lastmod) and /inc/feed.json (a JSON
Feed with date_modified) offer change signals, as /feeds/atom.xml does with `updated`. The site
changes between two crawls with `revise`, which edits the AP page and bumps its lastmod.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from tests.sites.server import Route

HOST = "www.nightdesk-news.example"
BASE = f"https://{HOST}"
START = datetime(2023, 4, 28, 14, tzinfo=UTC)
END = START + timedelta(days=1)

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
XML = "application/xml; charset=utf-8"


@dataclass(frozen=True)
class Page:
    path: str
    fixture: str  # under fundus_en/


PAGES: dict[str, Page] = {
    "ap": Page("/2023/04/28/mexico-economy-grew.html", "test_data/us/APNews_2023_04_28.html.gz"),
    "cnbc": Page("/2023/04/28/crypto-buyers-friends.html", "test_data/us/CNBC_2023_04_28.html.gz"),
    "freebeacon": Page("/2023/04/28/soros-family-montana.html",
                       "test_data/us/FreeBeacon_2023_04_28.html.gz"),
    "gateway": Page("/2023/04/28/idaho-plot-twist.html",
                    "test_data/us/TheGatewayPundit_2023_04_28.html.gz"),
    "intercept": Page("/2023/04/28/montana-legislature.html",
                      "test_data/us/TheIntercept_2023_04_28.html.gz"),
    "washtimes": Page("/2023/04/28/indiana-governor-budget.html",
                      "test_data/us/WashingtonTimes_2023_04_28.html.gz"),
    "fox": Page("/2023/04/26/china-committee-fbi.html", "test_data/us/FoxNews_2023_04_28.html.gz"),
    "reuters": Page("/2023/04/25/nepal-flydubai.html", "test_data/us/Reuters_2023_05_16.html.gz"),
}
NON_ARTICLES = ("/world/", "/consent")


def url(path: str) -> str:
    return BASE + path


def page_url(key: str) -> str:
    return url(PAGES[key].path)


def _rss() -> bytes:
    items = [  # (page, pubDate, link suffix)
        ("ap", "Fri, 28 Apr 2023 17:40:08 GMT", "?utm_source=rss&utm_medium=feed"),
        ("freebeacon", "Fri, 28 Apr 2023 18:01:37 +0000", ""),
        ("fox", "Fri, 28 Apr 2023 16:00:00 GMT", ""),  # the listing lies; the page says Apr 26
        ("washtimes", "Fri, 28 Apr 2023 17:53:25 GMT", ""),  # the page's naive time decides
        ("reuters", "Tue, 25 Apr 2023 12:26:15 GMT", ""),  # out of window: never fetched
    ]
    body = "".join(
        f"<item><title>{key}</title><link>{page_url(key)}{escape(suffix)}</link>"
        f"<pubDate>{date}</pubDate></item>" for key, date, suffix in items)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Test Times</title><link>{BASE}/</link>{body}</channel></rss>").encode()


def _atom() -> bytes:
    entries = [  # (page, published, updated)
        ("intercept", "2023-04-28T15:54:24Z", "2023-04-28T16:00:00Z"),
        ("gateway", None, "2023-04-28T19:00:00Z"),  # no publication date: the page decides
        ("reuters", None, "2023-04-26T08:00:00Z"),  # last changed before the window: skipped
    ]
    body = ""
    for key, published, updated in entries:
        pub = f"<published>{published}</published>" if published else ""
        body += (f'<entry><title>{key}</title><link rel="alternate" href="{PAGES[key].path}"/>'
                 f"<id>{page_url(key)}</id>{pub}<updated>{updated}</updated></entry>")
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
            f'xml:base="{BASE}/"><title>Test Times</title><id>{BASE}/</id>'
            f"<updated>2023-04-28T19:00:00Z</updated>{body}</feed>").encode()


def _json_feed() -> bytes:
    return json.dumps({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Test Times",
        "items": [
            {"id": "cnbc", "url": page_url("cnbc"), "title": "cnbc",
             "date_published": "2023-04-28T18:23:00Z"},
            # the RSS feed lists this one with tracking parameters: fetched once
            {"id": "ap", "url": page_url("ap"), "title": "ap",
             "date_published": "2023-04-28T17:40:08+00:00"},
        ],
    }).encode()


def _urlset(urls: str, news: bool = False) -> bytes:
    ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{ns}>{urls}</urlset>').encode()


def _index(children: list[tuple[str, str | None]]) -> bytes:
    body = "".join(f"<sitemap><loc>{url(path)}</loc>"
                   + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "") + "</sitemap>"
                   for path, lastmod in children)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex '
            f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>').encode()


def _news_url(key: str, published: str, title: str, keywords: str = "",
              lastmod: str | None = None) -> str:
    kw = f"<news:keywords>{keywords}</news:keywords>" if keywords else ""
    mod = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
    return (f"<url><loc>{page_url(key)}</loc>{mod}<news:news><news:publication>"
            f"<news:name>Test Times</news:name><news:language>en</news:language>"
            f"</news:publication><news:publication_date>{published}</news:publication_date>"
            f"<news:title>{title}</news:title>{kw}</news:news></url>")


def _news_sitemap() -> bytes:
    urls = "".join([
        # no offset: read in the source's timezone; a raw '&' in the title (real sitemaps do it)
        _news_url("washtimes", "2023-04-28T13:53:25", "Indiana governor & GOP budget",
                  "Indiana, budget"),
        _news_url("intercept", "2023-04-28T15:54:24Z", "Montana legislature"),
        _news_url("gateway", "2023-04-28", "Idaho case"),  # a day only: the page decides
        _news_url("reuters", "2023-04-25T12:26:15Z", "Nepal"),  # out: never fetched
        f"<url><loc>{page_url('cnbc')}</loc><lastmod>2023-04-28T20:00:00Z</lastmod></url>",
        f"<url><loc>{page_url('fox')}</loc><lastmod>2023-04-26T18:00:00Z</lastmod></url>",
    ])
    return _urlset(urls, news=True)


# The incremental site: (news:publication_date, lastmod) per page. Change signals offered, the
# latest of each page's listings: ap and intercept by lastmod (intercept's equals its Atom
# `updated`), cnbc by the JSON Feed's later date_modified, gateway by Atom `updated` only,
# freebeacon none at all. reuters is out of the window and never fetched.
INCREMENTAL: dict[str, tuple[str, str | None]] = {
    "ap": ("2023-04-28T17:40:08Z", "2023-04-28T17:45:00Z"),
    "cnbc": ("2023-04-28T18:23:00Z", "2023-04-28T20:00:00Z"),
    "freebeacon": ("2023-04-28T18:01:37Z", None),
    "gateway": ("2023-04-28", None),
    "intercept": ("2023-04-28T15:54:24Z", "2023-04-28T16:00:00Z"),
    "reuters": ("2023-04-25T12:26:15Z", "2023-04-25T13:00:00Z"),
}
REVISED = "ap"  # the page `revise` edits
_REVISED_SENTENCE = b"which offset a 3.2% drop in agriculture and mining."


def _inc_sitemap(lastmods: dict[str, str | None]) -> bytes:
    return _urlset("".join(_news_url(key, published, key, lastmod=lastmods.get(key, lastmod))
                           for key, (published, lastmod) in INCREMENTAL.items()), news=True)


def _inc_json_feed() -> bytes:
    return json.dumps({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Test Times",
        "items": [
            {"id": "cnbc", "url": page_url("cnbc"), "title": "cnbc",
             "date_published": "2023-04-28T18:23:00Z", "date_modified": "2023-04-28T21:00:00Z"},
            {"id": "ap", "url": page_url("ap"), "title": "ap",
             "date_published": "2023-04-28T17:40:08Z"},
        ],
    }).encode()


def revise(routes: dict[str, Route], lastmod: str, note: str) -> None:
    """Correct the AP story as a site does: `note` joins its body, its sitemap lastmod moves."""
    path = PAGES[REVISED].path
    body = routes[path].body
    assert _REVISED_SENTENCE in body
    routes[path] = Route(body.replace(_REVISED_SENTENCE,
                                      _REVISED_SENTENCE + b" " + note.encode()))
    routes["/inc/sitemap.xml"] = Route(_inc_sitemap({REVISED: lastmod}), XML)


def _html(title: str, head: str = "", body: str = "") -> bytes:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"{head}</head><body>{body}</body></html>").encode()


def _section_front() -> bytes:
    teasers = "".join(f'<li><a href="{p.path}">Story {k}</a></li>' for k, p in PAGES.items())
    return _html("World | Test Times", '<meta property="og:type" content="website">',
                 f'<nav><a href="/">Home</a></nav><main><ul class="teasers">{teasers}</ul></main>')


def _consent() -> bytes:
    return _html("Before you continue", body=(
        '<form class="consent" action="/consent" method="post"><button>Accept all cookies'
        '</button><button>Reject all</button><a href="/privacy">Privacy</a></form>'))


def _home() -> bytes:
    head = ('<link rel="alternate" type="application/rss+xml" title="Test Times" '
            'href="/feeds/rss.xml">'
            '<link rel="alternate" type="application/rss+xml" title="Test Times &raquo; Comments '
            'Feed" href="/comments/feed/">')
    return _html("Test Times", head, '<a href="/world/">World</a>')


def _deep_sitemaps() -> dict[str, Route]:
    """An index chain 0 -> 1 -> 2 -> 3 and a wide urlset under 1, for the bounds."""
    wide = "".join(f"<url><loc>{page_url(k)}</loc></url>" for k in PAGES if k != "reuters")
    return {
        "/deep/0.xml": Route(_index([("/deep/1.xml", None)]), XML),
        "/deep/1.xml": Route(_index([("/deep/2.xml", None), ("/deep/wide.xml", None)]), XML),
        "/deep/2.xml": Route(_index([("/deep/3.xml", None)]), XML),
        "/deep/3.xml": Route(_urlset(f"<url><loc>{page_url('ap')}</loc></url>"), XML),
        "/deep/wide.xml": Route(_urlset(wide), XML),
    }


def _broken() -> dict[str, Route]:
    truncated = _urlset(
        f"<url><loc>{page_url('intercept')}</loc><lastmod>2023-04-28T16:00:00Z</lastmod></url>"
        f"<url><loc>{page_url('cnbc')}</loc><lastm")[:-len("</urlset>")]
    return {
        "/broken/truncated.xml": Route(truncated, XML),
        "/broken/garbage.xml": Route(bytes(range(256)) * 4, XML),
    }


def build_routes(shared: Path) -> dict[str, Route]:
    fundus = shared / "fixtures" / "fundus_en"
    routes: dict[str, Route] = {}
    for page in PAGES.values():
        routes[page.path] = Route(gzip.decompress((fundus / page.fixture).read_bytes()))
    routes |= {
        "/": Route(_home()),
        "/world/": Route(_section_front()),
        "/consent": Route(_consent()),
        "/robots.txt": Route(
            f"User-agent: *\nDisallow: /private/\n\nSitemap: {BASE}/sitemaps/index.xml\n".encode(),
            "text/plain"),
        "/feeds/rss.xml": Route(_rss(), RSS),
        "/feeds/atom.xml": Route(_atom(), ATOM),
        "/feeds/feed.json": Route(_json_feed(), "application/feed+json"),
        "/comments/feed/": Route(_rss(), RSS),  # must never be read: comments are not news
        "/sitemaps/index.xml": Route(_index([
            ("/sitemaps/news-index.xml.gz", "2023-04-28T20:00:00Z"),
            ("/sitemaps/pages.xml", None),
            ("/sitemaps/2023-03.xml", "2023-03-31T23:00:00Z"),  # predates the window: skipped
        ]), XML),
        # a gzipped index served as a file, not as Content-Encoding: the spider gunzips it
        "/sitemaps/news-index.xml.gz": Route(
            gzip.compress(_index([("/sitemaps/news.xml", "2023-04-28T20:00:00Z")]), mtime=0),
            "application/x-gzip"),
        "/sitemaps/news.xml": Route(_news_sitemap(), XML),
        "/sitemaps/pages.xml": Route(_urlset("".join(
            f"<url><loc>{url(p)}</loc></url>" for p in NON_ARTICLES)), XML),
        "/sitemaps/2023-03.xml": Route(_urlset(
            f"<url><loc>{page_url('reuters')}</loc></url>"), XML),
        **_deep_sitemaps(),
        **_broken(),
        "/inc/sitemap.xml": Route(_inc_sitemap({}), XML),
        "/inc/feed.json": Route(_inc_json_feed(), "application/feed+json"),
    }
    return routes
