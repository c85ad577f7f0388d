"""The Moscow Times replica, exercised over real HTTP on 127.0.0.1.

Most tests serve a handful of articles written below into a temp dir, so they do not depend on
the content files (replica/articles/) that are written in parallel, nor on the seed file.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from replica.content import (
    DEFAULT_ARTICLES_DIR,
    MOSCOW,
    Author,
    Block,
    ReplicaArticle,
    default_seed_path,
    load_articles,
)
from replica.render import display_date, render_section_feed
from replica.seed import parse_seed
from replica.server import STATIC_HOST, WWW_HOST, ReplicaServer, Site

REPO = Path(__file__).resolve().parent.parent
RSS_NS = {"atom": "http://www.w3.org/2005/Atom", "yandex": "http://news.yandex.ru"}
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"

ARTICLES_TOML = """
[[article]]
id = 75610
published = "2021-12-01T09:00:00+03:00"
section = "news"
slug = "nato-ministers-meet-in-riga"
alt_slugs = ["nato-meets-in-riga"]
title = "NATO Ministers Meet in Riga"
authors = [{ name = "Anna Petrova", slug = "anna-petrova" }]
description = "Ministers discussed troop movements."
tags = ["NATO", "Baltic States"]
image = { file = "5b/riga.jpg", caption = "Riga.", credits = "Photo / Agency" }

[[article.blocks]]
type = "html"
paragraphs = ["First paragraph of A.", "Second paragraph of A."]

[[article.blocks]]
type = "header"
text = "A subheading"

[[article.blocks]]
type = "quote"
text = "A quoted sentence."
cite = "Somebody"

[[article.blocks]]
type = "image"
file = "0c/inline.jpg"
caption = "Inline caption."
credits = "Inline / Credits"

[[article.blocks]]
type = "aside"
text = "A fact box, not body."

[[article.blocks]]
type = "embed"
provider = "telegram"
ref = "somechannel/123"

[[article.blocks]]
type = "html"
paragraphs = ["Last paragraph of A."]

[[article]]
id = 75620
published = "2021-12-02T10:00:00+03:00"
modified = "2021-12-02T13:30:00+03:00"
section = "opinion"
label = "Opinion"
slug = "why-the-talks-matter"
title = "Why the Talks Matter"
subtitle = "A standfirst."
authors = [
  { name = "Ivan Ivanov", slug = "ivan-ivanov" },
  { name = "Olga Orlova", slug = "olga-orlova" },
]
description = "An opinion piece."
tags = ["NATO"]
image = { file = "a3/talks.jpg", caption = "Talks.", credits = "Someone / TASS" }

[[article.blocks]]
type = "html"
paragraphs = ["Opinion paragraph one."]

[[article.blocks]]
type = "link"
article = 75610

[[article.blocks]]
type = "html"
paragraphs = ["Opinion paragraph two."]

[[article]]
id = 76100
published = "2022-01-20T12:00:00+03:00"
section = "ukraine-war"
slug = "three-authors-report"
title = "Three Authors Report"
authors = [
  { name = "Ann Lee", slug = "ann-lee" },
  { name = "Bo Chen", slug = "bo-chen" },
  { name = "Cy Dahl", slug = "cy-dahl" },
]
description = "Reported by three people."
tags = ["Ukraine"]

[[article.blocks]]
type = "html"
paragraphs = ["Ukraine paragraph — with a dash and a ✓ mark."]

[[article]]
id = 76150
published = "2022-01-25T15:30:00+03:00"
section = "news"
slug = "oil-gas-revenues-climb"
title = "Oil & Gas Revenues Climb"
description = "Revenues & exports rose."
tags = ["Energy", "Economy"]

[[article.blocks]]
type = "html"
paragraphs = ["Energy paragraph."]

[[article]]
id = 76300
published = "2022-02-05T09:00:00+03:00"
section = "news"
slug = "a-story-from-the-future"
title = "A Story From the Future"
authors = [{ name = "Anna Petrova", slug = "anna-petrova" }]
description = "Not published yet on Feb. 2."
tags = ["Kremlin"]

[[article.blocks]]
type = "html"
paragraphs = ["Future paragraph."]
"""

A, B, C, D, E = 75610, 75620, 76100, 76150, 76300


# --------------------------------------------------------------------------- helpers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # tests look at the 301 itself


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(
    server: ReplicaServer, path: str, host: str = WWW_HOST, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(server.base_url + path, headers={"Host": host}, method=method)
    try:
        with _OPENER.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def fetch_ok(server: ReplicaServer, path: str, host: str = WWW_HOST) -> bytes:
    status, _, body = fetch(server, path, host)
    assert status == 200, (path, status)
    return body


class _Markup(HTMLParser):
    """Collects class names and element attributes of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.classes: set[str] = set()
        self.by_id: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.classes.update((values.get("class") or "").split())
        if values.get("id"):
            self.by_id[str(values["id"])] = values


def markup(html: bytes) -> _Markup:
    parser = _Markup()
    parser.feed(html.decode("utf-8"))
    return parser


@pytest.fixture(scope="module")
def articles_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("articles")
    (directory / "test.toml").write_text(ARTICLES_TOML, encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def articles(articles_dir: Path) -> dict[int, ReplicaArticle]:
    return {a.id: a for a in load_articles(articles_dir, seed_path=None)}


@pytest.fixture(scope="module")
def server(articles_dir: Path) -> Iterator[ReplicaServer]:
    with ReplicaServer(articles_dir=articles_dir, seed_path=None) as running:
        yield running


def _many_news(count: int) -> list[ReplicaArticle]:
    """`count` small news articles, one an hour, for limit and pagination tests."""
    start = datetime(2022, 1, 1, 8, 0, tzinfo=MOSCOW)
    return [
        ReplicaArticle(
            id=80000 + i,
            published=start + timedelta(hours=i),
            modified=start + timedelta(hours=i),
            section="news",
            label=None,
            slug=f"story-number-{i}",
            alt_slugs=(),
            title=f"Story Number {i}",
            subtitle=None,
            authors=(Author("Anna Petrova", "anna-petrova"),),
            description=f"Excerpt {i}.",
            tags=("Kremlin",),
            image=None,
            blocks=(Block("html", paragraphs=(f"Body {i}.",)),),
        )
        for i in range(count)
    ]


# --------------------------------------------------------------------------- content


def test_load_articles_reads_and_resolves(articles: dict[int, ReplicaArticle]) -> None:
    assert sorted(articles) == [A, B, C, D, E]
    a, b = articles[A], articles[B]
    assert a.canonical_url == (
        "https://www.themoscowtimes.com/2021/12/01/nato-ministers-meet-in-riga-a75610"
    )
    assert a.body_paragraphs == (
        "First paragraph of A.",
        "Second paragraph of A.",
        "A subheading",
        "A quoted sentence.",
        "Last paragraph of A.",
    )
    link = next(block for block in b.blocks if block.type == "link")
    assert (link.url, link.title) == (a.canonical_url, a.title)
    assert b.updated and not a.updated
    assert a.published.utcoffset() == timedelta(hours=3)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("id = 75620", "id = 75610"), "duplicate article id 75610"),
        (lambda t: t.replace("article = 75610", "article = 1"), "unknown article id 1"),
        (lambda t: t.replace('title = "Why the Talks Matter"\n', ""), "missing required"),
        (lambda t: t.replace("2021-12-01T09:00:00+03:00", "2021-12-01T09:00:00Z"), r"\+03:00"),
        (lambda t: t.replace('subtitle = "A', 'subtitel = "A'), "unknown article keys"),
        (lambda t: t.replace('section = "news"', 'section = "sport"', 1), "section 'sport'"),
        (lambda t: t.replace('type = "aside"', 'type = "poll"'), "type 'poll'"),
    ],
)
def test_load_articles_rejects_bad_content(tmp_path: Path, edit, message: str) -> None:
    (tmp_path / "bad.toml").write_text(edit(ARTICLES_TOML), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as raised:
        load_articles(tmp_path, seed_path=None)
    assert "bad.toml" in str(raised.value)


def test_real_content_files_validate() -> None:
    if not any(DEFAULT_ARTICLES_DIR.glob("*.toml")):
        pytest.skip("replica/articles/ has no content files yet")
    loaded = load_articles()  # with the seed when present: its id must not clash
    assert loaded, "content files exist but hold no [[article]]"
    # every article renders, and at a late enough clock every one is served
    site = Site(loaded, now=max(a.modified for a in loaded))
    for article in loaded:
        assert site.get(WWW_HOST, article.path).status == 200, article.path


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2022, 1, 31, 18, 42, tzinfo=MOSCOW), "Jan. 31, 2022"),
        (datetime(2022, 3, 3, 9, 0, tzinfo=MOSCOW), "March 3, 2022"),
        (datetime(2021, 9, 2, 9, 0, tzinfo=MOSCOW), "Sept. 2, 2021"),
        (datetime(2024, 6, 7, 10, 34, tzinfo=MOSCOW), "June 7, 2024"),
        (datetime(2023, 10, 9, 0, 30, tzinfo=MOSCOW), "Oct. 9, 2023"),
        # 22:30 UTC on Dec 31 is already Jan 1 in Moscow
        (datetime.fromisoformat("2021-12-31T22:30:00+00:00"), "Jan. 1, 2022"),
    ],
)
def test_display_date(moment: datetime, shown: str) -> None:
    assert display_date(moment) == shown


# --------------------------------------------------------------------------- robots & feeds


def test_robots_txt(server: ReplicaServer) -> None:
    www = fetch_ok(server, "/robots.txt").decode()
    assert www.startswith("User-agent: *\n")
    for rule in ("Disallow: /preview/", "Disallow: /search/", "Disallow: *?utm", "Disallow: *&utm"):
        assert rule in www.splitlines()
    assert "Sitemap: https://static.themoscowtimes.com/sitemap/sitemap.xml" in www.splitlines()
    static = fetch_ok(server, "/robots.txt", STATIC_HOST).decode()
    assert static.splitlines() == ["User-agent: *", "Allow: /"]


def test_rss_news(server: ReplicaServer, articles: dict[int, ReplicaArticle]) -> None:
    status, headers, body = fetch(server, "/rss/news")
    assert status == 200 and "charset=utf-8" in headers["Content-Type"]
    channel = ET.fromstring(body).find("channel")
    assert channel is not None
    assert channel.findtext("title") == "The Moscow Times - Independent News From Russia"
    assert channel.findtext("ttl") == "600"
    assert channel.find("atom:link", RSS_NS) is not None
    items = channel.findall("item")
    # news section only, newest first, nothing from after the clock
    assert [i.findtext("link") for i in items] == [
        articles[D].canonical_url,
        articles[A].canonical_url,
    ]
    first = items[0]
    assert first.findtext("title") == "Oil & Gas Revenues Climb"
    assert first.findtext("description") == "Revenues & exports rose."
    assert first.findtext("pubDate") == "Tue, 25 Jan 2022 15:30:00 +0300"
    guid = first.find("guid")
    assert guid is not None and guid.text == articles[D].canonical_url and not guid.attrib
    opinion = ET.fromstring(fetch_ok(server, "/rss/opinion")).findall("channel/item")
    assert [i.findtext("title") for i in opinion] == ["Why the Talks Matter"]


def test_rss_news_keeps_newest_fifty() -> None:
    many = _many_news(60)
    now = datetime(2022, 2, 2, 12, 0, tzinfo=MOSCOW)
    items = ET.fromstring(render_section_feed("news", many, now)).findall("channel/item")
    assert len(items) == 50
    assert items[0].findtext("title") == "Story Number 59"
    assert items[-1].findtext("title") == "Story Number 10"
    for item in items:
        pub_date = item.findtext("pubDate") or ""
        assert pub_date.endswith(" +0300")
        assert email.utils.parsedate_to_datetime(pub_date).utcoffset() == timedelta(hours=3)


def test_rss_all_has_full_bodies(
    server: ReplicaServer, articles: dict[int, ReplicaArticle]
) -> None:
    items = {
        i.findtext("guid"): i for i in ET.fromstring(fetch_ok(server, "/rss/all")).iter("item")
    }
    assert set(items) == {articles[i].canonical_url for i in (A, B, C, D)}
    opinion = items[articles[B].canonical_url]
    assert opinion.findtext("title") == "Ivan Ivanov and Olga Orlova: Why the Talks Matter"
    assert opinion.findtext("category") == "Article - Opinion"
    enclosure = opinion.find("enclosure")
    assert enclosure is not None and enclosure.attrib == {
        "url": "https://static.themoscowtimes.com/image/article_1360/a3/talks.jpg",
        "type": "image/jpeg",
    }
    body = opinion.findtext("description") or ""
    assert "<p>Opinion paragraph one.</p>" in body and "<p>Opinion paragraph two.</p>" in body
    assert items[articles[D].canonical_url].findtext("category") == "Article - News"
    assert items[articles[C].canonical_url].find("enclosure") is None
    assert b"<![CDATA[" in fetch_ok(server, "/rss/all")


def test_yandex_feed_is_really_windows_1251(
    server: ReplicaServer, articles: dict[int, ReplicaArticle]
) -> None:
    status, headers, body = fetch(server, "/rss/yandex-news")
    assert status == 200 and "windows-1251" in headers["Content-Type"]
    assert body.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    text = body.decode("cp1251")  # would raise if it were UTF-8 with non-ASCII content
    assert "\u2014" in text  # the em dash is in cp1251 and is encoded as such
    assert "&#10003;" in text  # the check mark is not: a character reference instead
    items = {i.findtext("guid"): i for i in ET.fromstring(body).iter("item")}
    three = items[articles[C].canonical_url]
    assert three.findtext("author") == "Ann Lee, Bo Chen, Cy Dahl"
    full_text = three.findtext("yandex:full-text", namespaces=RSS_NS)
    assert full_text == "Ukraine paragraph \u2014 with a dash and a \u2713 mark."
    assert items[articles[D].canonical_url].find("author") is None


# --------------------------------------------------------------------------- sitemaps


def test_monthly_sitemaps(server: ReplicaServer, articles: dict[int, ReplicaArticle]) -> None:
    index = ET.fromstring(fetch_ok(server, "/sitemap/sitemap.xml", STATIC_HOST))
    assert index.tag == f"{SM}sitemapindex"
    entries = {s.findtext(f"{SM}loc"): s.findtext(f"{SM}lastmod") for s in index}
    assert entries == {
        # month not zero-padded; lastmod = newest modification of the month; Feb not yet
        "https://static.themoscowtimes.com/sitemap/2022-1.xml": "2022-01-25T15:30:00+03:00",
        "https://static.themoscowtimes.com/sitemap/2021-12.xml": "2021-12-02T13:30:00+03:00",
    }
    month = ET.fromstring(fetch_ok(server, "/sitemap/2021-12.xml", STATIC_HOST))
    assert month.tag == f"{SM}urlset"
    assert [[child.tag for child in url] for url in month] == [[f"{SM}loc"]] * 2
    assert {u.findtext(f"{SM}loc") for u in month} == {
        articles[A].canonical_url,
        articles[B].canonical_url,
    }
    assert fetch(server, "/sitemap/2022-01.xml", STATIC_HOST)[0] == 404
    assert fetch(server, "/sitemap/2022-2.xml", STATIC_HOST)[0] == 404


def test_newsmap_has_raw_ampersand(
    server: ReplicaServer, articles: dict[int, ReplicaArticle]
) -> None:
    index = ET.fromstring(fetch_ok(server, "/sitemap/newsmap.xml", STATIC_HOST))
    names = [s.findtext(f"{SM}loc") for s in index]
    assert names == [
        f"https://static.themoscowtimes.com/sitemap/newsmap/{name}.xml"
        for name in (
            "news", "opinion", "meanwhile", "city", "business", "climate", "diaspora",
            "ukraine_war", "lecture_series",
        )
    ]  # fmt: skip

    news = fetch_ok(server, "/sitemap/newsmap/news.xml", STATIC_HOST)
    assert b"<news:title>Oil & Gas Revenues Climb</news:title>" in news
    assert b"<news:keywords>Energy,Economy</news:keywords>" in news
    assert b"<news:publication_date>2022-01-25T15:30:00+03:00</news:publication_date>" in news
    assert b"<news:name>The Moscow Times</news:name><news:language>en</news:language>" in news
    # Dec 1 is more than 30 days before Feb 2: out of the news sitemap
    assert articles[A].canonical_url.encode() not in news
    with pytest.raises(ET.ParseError):
        ET.fromstring(news)  # the raw & is the point: consumers need a recovering parser
    etree = pytest.importorskip("lxml.etree")
    root = etree.fromstring(news, etree.XMLParser(recover=True))
    titles = root.xpath("//*[local-name()='title']/text()")
    assert any("Revenues Climb" in t for t in titles)

    war = fetch_ok(server, "/sitemap/newsmap/ukraine_war.xml", STATIC_HOST)
    assert articles[C].canonical_url.encode() in war
    assert len(ET.fromstring(fetch_ok(server, "/sitemap/newsmap/city.xml", STATIC_HOST))) == 0
    assert fetch(server, "/sitemap/newsmap/sport.xml", STATIC_HOST)[0] == 404


# --------------------------------------------------------------------------- article pages

CONTRACT_CLASSES = {
    "header", "container", "row", "col", "article", "article__header", "label",
    "article__byline", "byline", "byline__author", "byline__author__name", "byline__details",
    "byline__datetime", "timeago", "article__featured-image", "article__featured-image__caption",
    "article__featured-image__credits", "article__content-container", "article__content",
    "article__block", "article__block--html", "banner", "banner--article", "article__tags",
    "contribute-banner", "social", "share", "sidebar", "cluster", "article-excerpt-default",
    "footer",
}  # fmt: skip
BLOCK_CLASSES = {
    "article__block--header", "article__block--quote", "article__quote",
    "article__block--image", "article__image", "article__image__caption",
    "article__image__credits", "article__block--aside", "article__aside",
    "article__block--embed", "article__embed",
}  # fmt: skip


def test_article_page_follows_contract(
    server: ReplicaServer, articles: dict[int, ReplicaArticle]
) -> None:
    opinion = articles[B]
    status, headers, html = fetch(server, opinion.path)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    page = markup(html)
    missing = (CONTRACT_CLASSES | {"article--opinion", "article__disclaimer"}) - page.classes
    assert not missing
    assert {"article__block--link", "article__link", "article__link__title"} <= page.classes
    assert page.by_id["load-next-article"]["data-url"] == f"/all/{B}"
    text = html.decode()
    assert '<span class="label">Opinion</span>' in text
    assert f'<h1><a href="{opinion.canonical_url}">Why the Talks Matter</a></h1>' in text
    assert "<h2>A standfirst.</h2>" in text
    assert (
        '<div class="byline__author">By <a class="byline__author__name" href="/author/ivan-ivanov">'
        'Ivan Ivanov</a> and <a class="byline__author__name" href="/author/olga-orlova">'
        "Olga Orlova</a></div>"
    ) in text
    # edited 3.5 hours after publication: the byline shows the update time
    assert (
        '<div class="byline__details">Updated: <time class="byline__datetime timeago" '
        'datetime="2021-12-02T13:30:00+03:00">Dec. 2, 2021</time></div>'
    ) in text
    assert '<meta property="article:published_time" content="2021-12-02T10:00:00+03:00">' in text
    assert '<meta name="author" content="Ivan Ivanov">' in text
    scripts = re.findall(r'<script type="application/ld\+json">(.*?)</script>', text)
    ld = [json.loads(script) for script in scripts]
    assert len(ld) == 2
    assert ld[0]["@type"] == "NewsArticle" and ld[1]["@type"] == "BreadcrumbList"
    assert ld[0]["author"] == {
        "@type": "Person",
        "name": "Ivan Ivanov",
        "url": "https://www.themoscowtimes.com/author/ivan-ivanov",
    }
    assert ld[0]["datePublished"] == "2021-12-02T10:00:00+03:00"
    assert ld[0]["keywords"] == "NATO" and ld[0]["inLanguage"] == "en"

    full = fetch_ok(server, articles[A].path)
    assert markup(full).classes >= BLOCK_CLASSES
    assert "article__disclaimer" not in markup(full).classes
    assert "we have a small favor to ask" in full.decode()


def test_article_body_and_boilerplate(
    server: ReplicaServer, articles: dict[int, ReplicaArticle]
) -> None:
    lxml_html = pytest.importorskip("lxml.html")
    article = articles[A]
    doc = lxml_html.fromstring(fetch_ok(server, article.path))
    content = doc.xpath("//div[@class='article__content']")[0]
    children = content.xpath("./div")
    assert "banner" in children[1].get("class")  # the ad sits right after block 1
    body: list[str] = []
    for block in content.xpath("./div[contains(@class, 'article__block--')]"):
        kind = block.get("class").split("--")[1]
        if kind == "html":
            body.extend(p.text_content() for p in block.xpath("./p"))
        elif kind == "header":
            body.extend(h.text_content() for h in block.xpath("./h2"))
        elif kind == "quote":
            body.extend(p.text_content() for p in block.xpath(".//blockquote/p"))
    assert tuple(body) == article.body_paragraphs
    banner = doc.xpath("//div[@class='contribute-banner']/p")
    assert len(banner) == 3 and "we have a small favor to ask" in banner[0].text_content()
    tags = doc.xpath("//div[@class='article__tags']")[0]
    assert tags.text_content().startswith("Read more about:")
    assert tags.xpath("./a/@href") == ["/tag/NATO", "/tag/Baltic%20States"]
    sidebar_titles = doc.xpath("//aside[@class='sidebar']//a/text()")
    assert sidebar_titles and article.title not in sidebar_titles
    cards = doc.xpath("//section[@class='cluster']/div/div[@class='article-excerpt-default']")
    assert len(cards) == 3  # four on the site; only three other articles exist at this time
    assert article.title not in [c.xpath("string(.//h3)") for c in cards]


def test_bylines_and_escaping(server: ReplicaServer, articles: dict[int, ReplicaArticle]) -> None:
    three = fetch_ok(server, articles[C].path).decode()
    assert ">Ann Lee</a>, <a " in three and ">Bo Chen</a> and <a " in three
    assert ">Jan. 20, 2022</time>" in three and "Updated:" not in three

    nobody = fetch_ok(server, articles[D].path).decode()
    assert "byline__author" not in nobody
    assert '<meta name="author" content="The Moscow Times">' in nobody
    assert '"author": {"@type": "Organization", "name": "The Moscow Times"}' in nobody
    assert "<h1><a href=" in nobody and ">Oil &amp; Gas Revenues Climb</a></h1>" in nobody
    assert "<title>Oil &amp; Gas Revenues Climb - The Moscow Times</title>" in nobody
    assert "Oil & Gas" not in nobody.split("</head>")[1]


def test_redirects_to_canonical(server: ReplicaServer, articles: dict[int, ReplicaArticle]) -> None:
    canonical = articles[A].canonical_url
    for wrong in (
        "/2021/12/01/nato-meets-in-riga-a75610",  # an alt slug
        "/2021/12/02/nato-ministers-meet-in-riga-a75610",  # wrong date
        "/2020/01/01/anything-at-all-a75610",
        articles[A].path + "/",
    ):
        status, headers, _ = fetch(server, wrong)
        assert (status, headers["Location"]) == (301, canonical), wrong
    status, headers, body = fetch(server, "/2021/12/01/x-a75610", method="HEAD")
    assert (status, headers["Location"], body) == (301, canonical, b"")
    assert fetch(server, "/2021/12/01/nato-ministers-meet-in-riga-a99999")[0] == 404
    # a query string does not change the page
    assert fetch(server, articles[A].path + "?utm_source=x")[0] == 200


def test_future_articles_do_not_exist_until_the_clock_moves(articles_dir: Path) -> None:
    with ReplicaServer(articles_dir=articles_dir, seed_path=None) as replica:
        future = replica.articles[-1]
        assert future.id == E
        assert fetch(replica, future.path)[0] == 404
        assert fetch(replica, f"/2022/02/05/other-slug-a{E}")[0] == 404
        assert future.canonical_url.encode() not in fetch_ok(replica, "/rss/all")
        assert future.canonical_url.encode() not in fetch_ok(replica, "/news")
        assert b"A Story From the Future" not in fetch_ok(replica, "/")

        port = replica.port
        replica.set_now(datetime(2022, 2, 6, 8, 0, tzinfo=MOSCOW))
        assert replica.port == port
        assert fetch(replica, future.path)[0] == 200
        assert future.canonical_url.encode() in fetch_ok(replica, "/rss/news")
        assert b"/sitemap/2022-2.xml" in fetch_ok(replica, "/sitemap/sitemap.xml", STATIC_HOST)

    # a fresh server with an earlier clock: December only
    early = datetime(2021, 12, 2, 11, 0, tzinfo=MOSCOW)
    with ReplicaServer(now=early, articles_dir=articles_dir, seed_path=None) as replica:
        assert fetch(replica, f"/2022/01/20/three-authors-report-a{C}")[0] == 404
        page = fetch_ok(replica, "/2021/12/02/why-the-talks-matter-a75620").decode()
        # the 13:30 edit has not happened yet at 11:00
        assert "Updated:" not in page and ">Dec. 2, 2021</time>" in page
        assert '<meta property="article:modified_time" content="2021-12-02T10:00:00+03:00">' in page


def test_listing_pages_paginate() -> None:
    with ReplicaServer(articles=_many_news(40), now=datetime(2022, 2, 2, tzinfo=MOSCOW)) as replica:
        first = markup(fetch_ok(replica, "/news"))
        assert "article-excerpt-default" in first.classes
        html = fetch_ok(replica, "/news").decode()
        assert html.count('<div class="article-excerpt-default">') == 18
        assert html.index("Story Number 39") < html.index("Story Number 38")  # newest first
        assert 'href="/news/18">Load more' in html
        second = fetch_ok(replica, "/news/18").decode()
        assert "Story Number 21" in second and 'href="/news/36"' in second
        last = fetch_ok(replica, "/news/36").decode()
        assert last.count('<div class="article-excerpt-default">') == 4 and "Load more" not in last
        assert fetch(replica, "/news/40")[0] == 404
        assert fetch_ok(replica, "/news/5").decode().count('article-excerpt-default"') == 18
        assert fetch_ok(replica, "/business").count(b'class="article-excerpt-default"') == 0
        assert b"Story Number 0" in fetch_ok(replica, "/tag/Kremlin/36")
        assert fetch_ok(replica, "/author/anna-petrova").count(b'article-excerpt-default"') == 18
        assert fetch(replica, "/author/nobody")[0] == 404
        assert fetch(replica, "/tag/Nothing")[0] == 404


def test_tag_author_and_next_article(
    server: ReplicaServer, articles: dict[int, ReplicaArticle]
) -> None:
    baltic = fetch_ok(server, "/tag/Baltic%20States").decode()
    assert articles[A].canonical_url in baltic and articles[B].canonical_url not in baltic
    assert articles[A].canonical_url in fetch_ok(server, "/author/anna-petrova").decode()

    fragment = fetch_ok(server, f"/all/{D}").decode()
    assert fragment.startswith('<article class="article article--ukraine-war">')
    assert articles[C].canonical_url in fragment and f'data-url="/all/{C}"' in fragment
    assert fetch(server, f"/all/{A}")[0] == 404  # nothing before the oldest article


def test_images_and_unknown_paths(server: ReplicaServer) -> None:
    status, headers, body = fetch(server, "/image/article_1360/5b/riga.jpg", STATIC_HOST)
    assert (status, headers["Content-Type"]) == (200, "image/jpeg")
    assert body.startswith(b"\xff\xd8") and body.endswith(b"\xff\xd9")
    assert fetch(server, "/image/article_640/0c/inline.jpg", STATIC_HOST)[0] == 200
    assert fetch(server, "/image/article_1360/ff/unknown.jpg", STATIC_HOST)[0] == 404
    status, headers, body = fetch(server, "/live/123")
    assert status == 404 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b"<html" in body
    assert fetch(server, "/rss/news", STATIC_HOST)[0] == 404  # feeds live on www only
    assert fetch(server, "/robots.txt", "example.org")[0] == 404
    assert fetch(server, "/robots.txt", "themoscowtimes.com")[0] == 200
    assert fetch(server, "/robots.txt", f"127.0.0.1:{server.port}")[0] == 200


def test_requests_log_and_concurrency(
    server: ReplicaServer, articles: dict[int, ReplicaArticle]
) -> None:
    server.clear_requests_log()
    paths = [articles[i].path for i in (A, B, C, D)] * 10
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda p: fetch(server, p)[0], paths))
    assert statuses == [200] * 40
    fetch(server, "/sitemap/sitemap.xml", STATIC_HOST)
    log = server.requests_log
    assert len(log) == 41
    assert server.hits(articles[A].path) == 10
    assert log[-1] == (STATIC_HOST, "/sitemap/sitemap.xml", 200)


# --------------------------------------------------------------------------- seed


@pytest.fixture(scope="module")
def seed_file() -> Path:
    path = default_seed_path()
    if not path.is_file():
        pytest.skip(f"seed article file {path} is absent (set NIGHTDESK_SEED_ARTICLE)")
    return path


def test_parse_seed(seed_file: Path) -> None:
    seed = parse_seed(seed_file.read_text(encoding="utf-8"))
    assert seed.title == "Putin, Macron Discuss Ukraine, Russian 'Security Guarantees' — Kremlin"
    assert seed.canonical_url == (
        "https://www.themoscowtimes.com/2022/01/31/"
        "putin-macron-discuss-ukraine-russian-security-guarantees-kremlin-a76213"
    )
    assert seed.id == 76213
    assert seed.published == datetime(2022, 1, 31, 18, 42, tzinfo=MOSCOW) == seed.modified
    assert seed.date_display == "January 31, 2022"
    assert seed.authors == (Author("AFP", "afp"),)
    assert seed.section == "news" and seed.tags == ("Ukraine", "France", "Kremlin")
    assert seed.image is not None
    assert seed.image.file == "e2/macron-putin-call.jpg"
    assert seed.image.caption == "French president Emmanuel Macron."
    assert seed.image.credits == "Olivier Hoslet / Pool / EPA / TASS"

    assert [b.type for b in seed.blocks] == ["html", "html", "link", "html"]
    assert [len(b.paragraphs) for b in seed.blocks] == [1, 2, 0, 4]
    paragraphs = seed.body_paragraphs
    assert len(paragraphs) == 7
    assert paragraphs[0].startswith("Russian President Vladimir Putin")
    assert paragraphs[-1] == (
        "The Kremlin added that Putin and Macron discussed the possibility of a face-to-face"
        " meeting."
    )
    assert seed.description == paragraphs[0]
    assert all("Related article" not in p and "\n" not in p for p in paragraphs)
    link = seed.blocks[2]
    assert link.url == (
        "https://www.themoscowtimes.com/2025/10/30/"
        "frances-macron-calls-for-eu-russia-security-pact-in-break-with-us-calls-for-unity"
    )
    assert (
        link.title
        == "France’s Macron Calls for EU-Russia Security Pact in Break With U.S. Calls for Unity"
    )


def test_seed_is_served(seed_file: Path, articles_dir: Path) -> None:
    lxml_html = pytest.importorskip("lxml.html")
    seed = parse_seed(seed_file.read_text(encoding="utf-8"))
    with ReplicaServer(articles_dir=articles_dir, seed_path=seed_file) as replica:
        assert any(a.id == 76213 for a in replica.articles)
        html = fetch_ok(replica, seed.path)
        status, headers, _ = fetch(replica, "/2022/01/31/putin-macron-a76213")
        assert (status, headers["Location"]) == (301, seed.canonical_url)
    doc = lxml_html.fromstring(html)
    assert doc.xpath("string(//article//h1)") == seed.title
    assert doc.xpath("string(//time[contains(@class, 'byline__datetime')])") == "January 31, 2022"
    assert doc.xpath("string(//a[@class='byline__author__name'])") == "AFP"
    caption = doc.xpath("string(//span[@class='article__featured-image__caption'])")
    assert caption == "French president Emmanuel Macron."
    blocks = doc.xpath("//div[contains(@class, 'article__block--html')]/p")
    assert tuple(p.text_content() for p in blocks) == seed.body_paragraphs
    assert doc.xpath("string(//span[@class='article__link__title'])") == seed.blocks[2].title


def test_seed_id_collision_is_reported(seed_file: Path, tmp_path: Path) -> None:
    clash = ARTICLES_TOML.replace("id = 75610", "id = 76213").replace(
        "article = 75610", "article = 76213"
    )
    (tmp_path / "clash.toml").write_text(clash, encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate article id 76213"):
        load_articles(tmp_path, seed_path=seed_file)


# --------------------------------------------------------------------------- command line


def test_command_line_serves_until_stopped(articles_dir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "replica", "--port", "0", "--no-seed",
         "--articles-dir", str(articles_dir), "--now", "2022-02-02T12:00:00+03:00"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert banner.startswith("Moscow Times replica on http://127.0.0.1:"), banner
        base = banner.split()[4]
        with urllib.request.urlopen(base + "/robots.txt", timeout=10) as response:
            assert b"Sitemap: https://static.themoscowtimes.com" in response.read()
    finally:
        process.terminate()
        process.wait(timeout=10)


# --------------------------------------------------------------------------- how crawls reach it


def test_production_code_imports_no_replica() -> None:
    """The crawl, the pipelines, the ETL and the CLI run without the replica package: a source
    with `replica = true` reaches it only through the download handler NIGHTDESK_REPLICA_HANDLER
    names (set by the checkout: make, bin/airflow, the tests)."""
    modules = ["spiders.run", "spiders.spiders.news", "spiders.pipelines", "spiders.middlewares",
               "spiders.replica_routing", "spiders.settings", "nightdesk.cli", "etl.load",
               "etl.transform"]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'replica'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
    handler = os.environ["NIGHTDESK_REPLICA_HANDLER"]  # tests/conftest.py, as make and bin/airflow
    module, _, name = handler.rpartition(".")
    assert module.split(".")[0] == "replica"
    assert getattr(__import__(module, fromlist=[name]), name).__name__ == name


def test_the_package_does_not_ship_the_replica() -> None:
    import fnmatch
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    include = setuptools["packages"]["find"]["include"]
    packages = [p.name for p in REPO.iterdir() if (p / "__init__.py").exists()]
    shipped = {p for p in packages if any(fnmatch.fnmatch(p, pat) for pat in include)}
    assert {"contracts", "spiders", "etl", "nightdesk"} <= shipped and "replica" not in shipped
    assert "replica" not in setuptools.get("package-data", {})
    # ... and no shipped module names it, in an import or in a setting's dotted path
    naming = re.compile(r"^\s*(from|import)\s+replica\b|[\"']replica\.", re.MULTILINE)
    named = [str(path.relative_to(REPO)) for package in sorted(shipped)
             for path in (REPO / package).rglob("*.py")
             if naming.search(path.read_text(encoding="utf-8"))]
    assert named == []
