"""A hostile news site for tests/test_hostile.py: good articles beside pages built to break a night.

Served by tests/sites/server.py on 127.0.0.1 at a random port, at its own URLs
(http://127.0.0.1:PORT/...). Every page is made
here; nothing is copied from elsewhere. The hostile pages hold, in every text field they
can reach (title, authors, description, body; through HTML and through JSON-LD escapes): NUL and
other C0 controls, lone surrogates, a 1 MB title, no date at all, dates in year 9999 and 0001,
and URLs of 2,000 to 10,000 characters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from tests.sites.server import Route

START = datetime(2023, 4, 28, tzinfo=UTC)
END = START + timedelta(days=1)
PUBLISHED = "2023-04-28T10:00:00+00:00"
GOOD = 10  # more good pages than bad ones: the quarantine share stays under its alarm (50%)
CONTROLS = "".join(chr(c) for c in range(32) if chr(c) not in "\t\n")
SURROGATES = "\ud800\udbff\udc00\udfff"


@dataclass(frozen=True)
class Page:
    key: str
    path: str
    title: str
    author: str
    description: str
    published: str | None  # the page's own date (meta and JSON-LD); None: no date on the page
    modified: str | None = None
    listed: bool = True  # the feed gives its pubDate (a page without its own date takes it)
    html_text: str = ""  # raw text put into the HTML's paragraphs (not via JSON-LD)


def _words(key: str, n: int = 7) -> str:
    return " ".join(f"Sentence {i} of the {key} story tells the harbour council what the "
                    f"ferry timetable means for the island's {key} residents this spring."
                    for i in range(n))


def _long_path(key: str, total: int, base: str) -> str:
    """A path that makes the URL `total` characters long."""
    head = f"/news/{key}-"
    return head + "x" * (total - len(base) - len(head) - len(".html")) + ".html"


def pages(base: str) -> list[Page]:
    good = [Page(f"good-{i}", f"/news/good-{i}.html", f"Good story number {i} about the ferry",
                 f"Reporter {i}", f"Summary of good story {i}.", PUBLISHED) for i in range(GOOD)]
    hostile = [
        # NUL and every other C0 control, in every text field (JSON-LD escapes, HTML references)
        Page("controls", "/news/controls.html", f"Controls{CONTROLS}in the title",
             f"Ann{CONTROLS}Smith", f"Desc{CONTROLS}end", PUBLISHED,
             html_text="NUL \x00 here"),
        # lone surrogates in every text field (JSON-LD escapes; &#xD800; in the HTML)
        Page("surrogates", "/news/surrogates.html", f"Surrogates{SURROGATES}title",
             f"Bob{SURROGATES}Jones", f"Desc{SURROGATES}end", PUBLISHED,
             html_text="&#xD800; &#xDFFF;"),
        Page("huge-title", "/news/huge-title.html", "T" * (1 << 20), "Carl Huge",
             "A page whose title is a megabyte.", PUBLISHED),
        # no date of its own: takes its listing's date
        Page("no-date", "/news/no-date.html", "Undated page listed with a date", "Dora Day",
             "No date on the page.", None),
        Page("modified-9999", "/news/modified-9999.html", "Modified in year 9999", "Eve Late",
             "Its modification date is bogus.", PUBLISHED, modified="9999-12-31T23:59:59+00:00"),
        Page("modified-0001", "/news/modified-0001.html", "Modified in year 0001", "Fay Early",
             "Its modification date is bogus.", PUBLISHED, modified="0001-01-01T00:00:00+00:00"),
        # published in year 9999 / 0001 by the page itself (listed in the window)
        Page("published-9999", "/news/published-9999.html", "Published in year 9999",
             "Ida Far", "Its publication date is bogus.", "9999-12-31T23:59:59+00:00"),
        Page("published-0001", "/news/published-0001.html", "Published in year 0001",
             "Jon Old", "Its publication date is bogus.", "0001-01-01T00:00:00+00:00"),
        # a URL of 2,050 characters: within the limit (2,083), stored
        Page("long-2050", _long_path("long-2050", 2050, base), "A long but valid URL",
             "Gus Long", "URL of 2,050 characters.", PUBLISHED),
    ]
    over = [Page(f"long-{n}", _long_path(f"long-{n}", n, base), f"A URL of {n} characters",
                 "Hal Over", "Over the URL limit.", PUBLISHED) for n in (2100, 5000, 10000)]
    return good + hostile + over


def _html(page: Page) -> bytes:
    ld: dict[str, object] = {"@context": "https://schema.org", "@type": "NewsArticle",
                             "headline": page.title, "description": page.description,
                             "author": [{"@type": "Person", "name": page.author}]}
    meta = ""
    if page.published:
        ld["datePublished"] = page.published
        meta += f'<meta property="article:published_time" content="{page.published}">'
    if page.modified:
        ld["dateModified"] = page.modified
        meta += f'<meta property="article:modified_time" content="{page.modified}">'
    # JSON-LD escapes reach the extractor as the characters themselves (\u0000, \ud800).
    script = json.dumps(ld, ensure_ascii=True).replace("</", "<\\/")
    # The visible title without controls: character references to them make lxml drop the
    # whole page (the page would then test the extractor, not the night). JSON-LD carries them.
    # Cut to 2,000 characters: a megabyte of <h1> stalls the extractor for minutes (a crawl-side
    # matter); the 1 MB title arrives through JSON-LD.
    visible = "".join(c for c in page.title[:2000] if c.isprintable())
    paragraphs = "".join(f"<p>{s.replace(' council ', f' council {page.html_text} ')}.</p>"
                         for s in _words(page.key).split(". "))
    html = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{visible}</title>{meta}"
            f"<script type=\"application/ld+json\">{script}</script></head>"
            f"<body><article><h1>{visible}</h1><p class=\"byline\">By Staff</p>"
            f"{paragraphs}</article></body></html>")
    return html.encode("utf-8")


def _rss(base: str, listed: list[Page]) -> bytes:
    when = format_datetime(datetime.fromisoformat(PUBLISHED))
    items = "".join(f"<item><title>item</title><link>{base}{p.path}</link>"
                    f"<pubDate>{when}</pubDate></item>" for p in listed)
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Hostile</title><link>{base}/</link>{items}</channel></rss>").encode()


def build_routes(base: str) -> dict[str, Route]:
    """path -> Route for a site served at `base` (http://127.0.0.1:PORT)."""
    site = pages(base)
    routes = {p.path: Route(_html(p)) for p in site}
    routes["/feed.xml"] = Route(_rss(base, [p for p in site if p.listed]),
                                "application/rss+xml; charset=utf-8")
    routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", "text/plain")
    return routes


def url(base: str, page: Page) -> str:
    return base + page.path
