"""Sites of several publishers on 127.0.0.1, each on its own random port, built at run time from
real saved pages in ../shared/fixtures (fundus_en, readability, postlight; read and gunzipped
here, never copied into the repo). URLs carry the port, as a new user's local site would.

Helpers build the listings (RSS, Atom, JSON Feed, news sitemaps, plain sitemaps, a sitemap index,
robots.txt, a home page advertising a feed); `three_publishers` is the site the end-to-end test
crawls (tests/test_crawl_e2e.py) through one `home`, one `feeds` and one `sitemaps` entry, and
bench/crawl_week.py builds its week-long site from the same parts.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from tests.sites.server import Route

RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
JSONFEED = "application/feed+json"
XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


def page(shared: Path, ref: str) -> bytes:
    """A saved page by reference: "fundus_en:us/Wired_2024_04_28", "readability:aclu",
    "postlight:www.wired.com"."""
    corpus, name = ref.split(":", 1)
    base = shared / "fixtures" / corpus
    path = base / "test_data" / f"{name}.html.gz" if corpus == "fundus_en" else (
        base / "pages" / f"{name}.html.gz")
    return gzip.decompress(path.read_bytes())


def undated(shared: Path, ref: str) -> bytes:
    """A page with no date anywhere: a saved page's expected title and body text (digits
    dropped, so no date can be read or guessed from it) in plain markup. ref as for `page`,
    from a set with expected.jsonl (readability, postlight)."""
    corpus, name = ref.split(":", 1)
    lines = (shared / "fixtures" / corpus / "expected.jsonl").read_text(encoding="utf-8")
    rec = next(r for r in map(json.loads, lines.splitlines()) if r["id"] == name)
    paras = [escape("".join(c for c in p if not c.isdigit())) for p in rec["body"].split("\n\n")]
    title = escape("".join(c for c in rec["title"] if not c.isdigit()))
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            + "".join(f"<p>{p}</p>" for p in paras) + "</article></body></html>").encode()


def fundus_pages(shared: Path) -> list[tuple[str, datetime]]:
    """Every fundus_en page with the publication time its manifest gives: [(ref, when)]."""
    manifest = json.loads((shared / "fixtures" / "fundus_en" / "manifest.json").read_text())
    out = []
    for row in manifest:
        when = datetime.fromisoformat(row["publishing_date"])
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        ref = row["html"].removeprefix("test_data/").removesuffix(".html.gz")
        out.append((f"fundus_en:{ref}", when))
    return out


@dataclass(frozen=True)
class Entry:
    """One listed URL: its path (or a full URL elsewhere), the dates the listing gives."""

    path: str
    published: str | None = None  # as the listing writes it
    updated: str | None = None
    title: str = "story"


def _href(base: str, path: str) -> str:
    return path if "://" in path else base + path


def rss(base: str, entries: list[Entry]) -> Route:
    items = "".join(
        f"<item><title>{escape(e.title)}</title><link>{escape(_href(base, e.path))}</link>"
        + (f"<pubDate>{e.published}</pubDate>" if e.published else "") + "</item>"
        for e in entries)
    return Route((f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
                  f"<title>News</title><link>{base}/</link>{items}</channel></rss>").encode(), RSS)


def atom(base: str, entries: list[Entry]) -> Route:
    body = "".join(
        f'<entry><title>{escape(e.title)}</title><link rel="alternate" '
        f'href="{escape(_href(base, e.path))}"/><id>{escape(_href(base, e.path))}</id>'
        + (f"<published>{e.published}</published>" if e.published else "")
        + f"<updated>{e.updated or e.published}</updated></entry>" for e in entries)
    return Route((f'<?xml version="1.0" encoding="utf-8"?><feed '
                  f'xmlns="http://www.w3.org/2005/Atom"><title>News</title><id>{base}/</id>'
                  f"<updated>2024-04-30T00:00:00Z</updated>{body}</feed>").encode(), ATOM)


def json_feed(base: str, entries: list[Entry]) -> Route:
    items = [{"id": _href(base, e.path), "url": _href(base, e.path), "title": e.title,
              **({"date_published": e.published} if e.published else {}),
              **({"date_modified": e.updated} if e.updated else {})} for e in entries]
    return Route(json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "News",
                             "items": items}).encode(), JSONFEED)


def news_sitemap(base: str, entries: list[Entry]) -> Route:
    """A Google News sitemap; an entry without `published` is a plain <url> (with its lastmod
    as `updated`, if any)."""
    urls = ""
    for e in entries:
        mod = f"<lastmod>{e.updated}</lastmod>" if e.updated else ""
        news = (f"<news:news><news:publication><news:name>News</news:name><news:language>en"
                f"</news:language></news:publication><news:publication_date>{e.published}"
                f"</news:publication_date><news:title>{escape(e.title)}</news:title></news:news>"
                if e.published else "")
        urls += f"<url><loc>{escape(_href(base, e.path))}</loc>{mod}{news}</url>"
    return Route((f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset '
                  f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                  f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{urls}</urlset>'
                  ).encode(), XML)


def sitemap_index(base: str, children: list[str]) -> Route:
    body = "".join(f"<sitemap><loc>{base}{c}</loc></sitemap>" for c in children)
    return Route((f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex '
                  f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>'
                  ).encode(), XML)


def html(title: str, head: str = "", body: str = "") -> bytes:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"{head}</head><body>{body}</body></html>").encode()


def home(feed_path: str) -> Route:
    return Route(html("News", f'<link rel="alternate" type="application/rss+xml" title="News" '
                              f'href="{feed_path}">', '<a href="/section/">Section</a>'))


def section_front(paths: list[str]) -> Route:
    """A section page: og:type website and teaser links, not an article."""
    teasers = "".join(f'<li><a href="{p}">Story</a></li>' for p in paths)
    return Route(html("Section | News", '<meta property="og:type" content="website">',
                      f'<main><ul class="teasers">{teasers}</ul></main>'))


def consent() -> Route:
    return Route(html("Before you continue", body=(
        '<form class="consent" action="/consent" method="post"><button>Accept all cookies'
        '</button><button>Reject all</button><a href="/privacy">Privacy</a></form>')))


def robots(base: str, sitemaps: list[str]) -> Route:
    lines = "".join(f"Sitemap: {base}{s}\n" for s in sitemaps)
    return Route(f"User-agent: *\nDisallow: /private/\n\n{lines}".encode(), TEXT)


# -- the end-to-end test's site ----------------------------------------------------------------

WINDOW = (datetime(2024, 4, 22, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC))  # a backfill


@dataclass
class Publisher:
    """One publisher: its routes and what each listed URL must end as ("stored" or a reject
    reason), by the path or full URL it is listed under."""

    name: str
    routes: dict[str, Route] = field(default_factory=dict)
    expect: dict[str, str] = field(default_factory=dict)
    no_date_pages: set[str] = field(default_factory=set)  # stored with the listing's date
    disagreeing: dict[str, str] = field(default_factory=dict)  # path -> the page's own day


def _add(pub: Publisher, shared: Path, path: str, ref: str, expect: str) -> str:
    pub.routes[path] = Route(page(shared, ref))
    pub.expect[path] = expect
    return path


def three_publishers(shared: Path, bases: tuple[str, str, str]) -> list[Publisher]:
    """Three publishers at `bases` ("http://127.0.0.1:PORT" each): the first is found from its
    home page (a feed it advertises, sitemaps its robots.txt lists), the second from two feeds,
    the third from a sitemap index. Each lists articles dated in WINDOW by the page itself,
    pages with no date of their own (the listing's date stands in), pages whose own date is a
    year older than the listing says, non-article pages, and a URL that must be rejected before
    any request (off-site, too long) or by the server (404)."""
    home_base, feeds_base, maps_base = bases
    one, two, three = Publisher("pub_home"), Publisher("pub_feeds"), Publisher("pub_maps")

    # 1: home page -> RSS; robots.txt -> a news sitemap
    a = _add(one, shared, "/uk/daily-mail.html", "fundus_en:uk/DailyMail_2024_04_27", "stored")
    b = _add(one, shared, "/uk/daily-star.html", "fundus_en:uk/DailyStar_2024_04_23", "stored")
    c = _add(one, shared, "/world/euronews.html", "fundus_en:uk/EuronewsEN_2024_04_30",
             "stored")
    d = _add(one, shared, "/us/ap-mexico.html", "fundus_en:us/APNews_2023_04_28",
             "out_of_window")
    one.disagreeing[d] = "2023-04-28"
    e = _add(one, shared, "/opinion/links.html", "readability:clean-links", "stored")
    one.no_date_pages.add(e)
    elsewhere = f"{feeds_base}/us/techcrunch.html"  # the other publisher: another port
    one.expect[elsewhere] = "offsite"
    one.expect["/gone.html"] = "http_404"
    one.routes |= {
        "/": home("/feed.xml"),
        "/robots.txt": robots(home_base, ["/news-sitemap.xml"]),
        "/feed.xml": rss(home_base, [
            Entry(a, "Sat, 27 Apr 2024 14:56:35 GMT"), Entry(b, "Tue, 23 Apr 2024 10:58:49 GMT"),
            Entry(c, "Tue, 30 Apr 2024 14:38:37 GMT"),
            Entry(d, "Sat, 27 Apr 2024 09:00:00 GMT"),  # the page says 2023-04-28
            Entry(e, "Thu, 25 Apr 2024 08:00:00 GMT"),  # the page says nothing
            Entry(elsewhere, "Sun, 28 Apr 2024 13:30:00 GMT"),
            Entry("/gone.html", "Mon, 29 Apr 2024 08:00:00 GMT")]),
        "/section/": section_front([a, b, c]),
    }
    f = _add(one, shared, "/uk/mirror.html", "fundus_en:uk/TheMirror_2024_04_28", "stored")
    one.expect["/section/"] = "not_article"
    one.routes["/news-sitemap.xml"] = news_sitemap(home_base, [
        Entry(f, "2024-04-28T13:00:00Z"), Entry("/section/", None, "2024-04-29T08:00:00Z")])

    # 2: an Atom feed and a JSON Feed
    g = _add(two, shared, "/uk/the-sun.html", "fundus_en:uk/TheSun_2024_04_22", "stored")
    h = _add(two, shared, "/us/techcrunch.html", "fundus_en:us/TechCrunch_2024_04_28", "stored")
    i = _add(two, shared, "/us/cnbc.html", "fundus_en:us/CNBC_2023_04_28", "out_of_window")
    two.disagreeing[i] = "2023-04-28"
    j = _add(two, shared, "/blog/buzzfeed.html", "readability:buzzfeed-1", "stored")
    two.no_date_pages.add(j)
    k = _add(two, shared, "/us/voa.html", "fundus_en:us/VoiceOfAmerica_2024_04_28", "stored")
    m = _add(two, shared, "/tech/lwn.html", "readability:lwn-1", "stored")
    two.no_date_pages.add(m)
    long_path = "/search?q=" + "x" * 2100
    two.expect[long_path] = "url_too_long"
    two.expect["/consent"] = "not_article"
    two.routes |= {
        "/atom.xml": atom(feeds_base, [
            Entry(g, "2024-04-22T21:04:00Z"), Entry(h, "2024-04-28T13:30:00Z"),
            Entry(i, "2024-04-28T18:23:00Z"),  # the page says 2023-04-28
            Entry(j, "2024-04-24T12:00:00Z"), Entry("/consent", "2024-04-29T10:00:00Z")]),
        "/feed.json": json_feed(feeds_base, [
            Entry(k, "2024-04-28T07:00:00Z"), Entry(m, "2024-04-26T09:00:00Z"),
            Entry(long_path, "2024-04-27T10:00:00Z")]),
        "/consent": consent(),
    }

    # 3: a sitemap index -> a news sitemap and a plain one
    n = _add(three, shared, "/politics/wapo.html", "fundus_en:us/WashingtonPost_2024_04_26",
             "stored")
    o = _add(three, shared, "/culture/wired.html", "fundus_en:us/Wired_2024_04_28", "stored")
    p = _add(three, shared, "/science/quanta.html", "readability:quanta-1", "stored")
    three.no_date_pages.add(p)
    q = "/archive/nytimes.html"  # no date on the page or in its listing
    three.routes[q] = Route(undated(shared, "readability:nytimes-5"))
    three.expect[q] = "no_date"
    three.routes |= {
        "/sitemaps/index.xml": sitemap_index(maps_base, ["/sitemaps/news.xml",
                                                          "/sitemaps/pages.xml"]),
        "/sitemaps/news.xml": news_sitemap(maps_base, [
            Entry(n, "2024-04-26T15:24:04Z"), Entry(o, "2024-04-28T14:00:00Z"),
            Entry(p, "2024-04-27T06:30:00Z")]),
        "/sitemaps/pages.xml": news_sitemap(maps_base, [Entry(q)]),  # no date anywhere
    }
    return [one, two, three]
