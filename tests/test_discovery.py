"""Feed and sitemap discovery (spiders/discovery.py): golden tests over real feeds and sitemaps
from ../shared/fixtures/feeds_sitemaps (read in place), then synthetic malformed documents."""

from __future__ import annotations

import codecs
import gzip
import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from contracts.urls import listing_key, strip_tracking
from spiders import discovery as d
from spiders.spiders.listing import derive_allowed_domains
from tests.conftest import SHARED

FIXTURES = SHARED / "fixtures" / "feeds_sitemaps"
RSS_PARSER = FIXTURES / "rss_parser"
FEEDS = sorted(p.name for p in (RSS_PARSER / "input").glob("*")) if RSS_PARSER.exists() else []


@pytest.fixture(scope="module", autouse=True)
def _fixtures_present() -> None:
    if not FIXTURES.exists():
        pytest.fail(f"feeds_sitemaps fixtures missing: {FIXTURES} (set NIGHTDESK_SHARED)")


def _ws(text: str | None) -> str:
    return " ".join((text or "").split())


def _expected(name: str) -> dict:
    raw = (RSS_PARSER / "expected" / f"{Path(name).stem}.json").read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))["feed"]
    except UnicodeDecodeError:  # SOURCE.md: encoding.json is stored in Latin-1
        return json.loads(raw.decode("latin-1"))["feed"]


def _same_title(ours: str | None, theirs: str | None) -> bool:
    """Equal up to whitespace; U+FFFD in the oracle (uolNoticias.json, decoded as UTF-8 upstream
    by mistake, see SOURCE.md) stands for the one character it destroyed."""
    pattern = ".".join(re.escape(part) for part in _ws(theirs).split("\ufffd"))
    return re.fullmatch(pattern, _ws(ours)) is not None


# -- golden: rss-parser's feeds ------------------------------------------------------------------

@pytest.mark.parametrize("name", FEEDS)
def test_rss_parser_feeds_match_the_oracle(name: str) -> None:
    feed = _expected(name)
    result = d.parse_feed((RSS_PARSER / "input" / name).read_bytes(), feed.get("feedUrl") or "")
    items = feed["items"]
    assert len(result.entries) == len(items)
    assert _ws(result.title) == _ws(feed["title"]) or "\ufffd" in feed["title"]
    for entry, item in zip(result.entries, items, strict=True):
        assert _same_title(entry.title, item.get("title")), (entry.title, item.get("title"))
        assert entry.link == item["link"].strip()
        if item.get("isoDate"):
            when = entry.published or entry.updated
            assert isinstance(when, datetime) and when.tzinfo is not None
            assert when == datetime.fromisoformat(item["isoDate"].replace("Z", "+00:00"))


def test_rss_parser_formats_and_encodings() -> None:
    def parse(name: str) -> d.FeedResult:
        return d.parse_feed((RSS_PARSER / "input" / name).read_bytes(), "https://x.example/")

    assert parse("heise.atom").format == "atom"
    assert parse("rss-1.rss").format == "rss1"
    assert parse("guardian.rss").format == "rss"
    latin = parse("encoding.rss")  # declared ISO-8859-1
    assert latin.title == "Jornal de Notícias - Últimas Notícias" and not latin.recovered
    # FeedBurner: the article URL is origLink, not the redirector on feeds.jn.pt
    assert latin.entries[0].url.startswith("https://www.jn.pt/")
    assert latin.entries[0].link.startswith("http://feeds.jn.pt/~r/")
    uol = parse("uolNoticias.rss")  # no declaration, Latin-1 bytes
    assert "simulações de 2º turno" in uol.entries[0].title
    assert uol.recovered == ("no declared encoding and not UTF-8; read as cp1252",)
    # "Seg, 24 Set 2018": a Portuguese RFC 822 date, which the oracle could not read
    assert uol.entries[0].published == datetime(2018, 9, 24, 19, 42, 40,
                                                tzinfo=timezone(timedelta(hours=-3)))
    assert all(e.published is not None for e in uol.entries)


def test_npr_json_feed() -> None:
    path = FIXTURES / "trafilatura" / "npr-technology-feed.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    result = d.parse_feed(path.read_bytes(), raw["feed_url"])
    assert result.format == "jsonfeed" and result.title == "Technology"
    assert len(result.entries) == len(raw["items"]) == 25
    for entry, item in zip(result.entries, raw["items"], strict=True):
        assert (entry.url, entry.title, entry.id) == (item["url"], item["title"], item["id"])
        assert entry.published == datetime.fromisoformat(item["date_published"])
        assert entry.updated == d.parse_date(item.get("date_modified"))
    assert d.sniff(path.read_bytes()) == "feed"


# -- golden: crawler-commons' sitemaps -----------------------------------------------------------

def _expected_date(raw: str) -> datetime | date:
    return date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)


@pytest.mark.parametrize("name", ["google-example-sitemap-news.xml",
                                  "hebdenbridgetimes-articles-sitemap.xml",
                                  "shinpaideshou-news-sitemap.xml"])
def test_crawler_commons_sitemaps(name: str) -> None:
    expected = json.loads((FIXTURES / "crawler_commons" / "expected_derived.json").read_text())
    want = expected[name]
    body = (FIXTURES / "crawler_commons" / name).read_bytes()
    result = d.parse_sitemap(body, f"https://x.example/{name}")
    assert not result.is_index and not result.recovered and not result.truncated
    assert len(result.urls) == want["url_count"] == len(want["urls"])
    for got, exp in zip(result.urls, want["urls"], strict=True):
        assert got.loc == exp["loc"]  # never an image:loc from inside the <url>
        assert got.lastmod == (_expected_date(exp["lastmod"]) if "lastmod" in exp else None)
        if "news" not in exp:
            assert got.news is None
            continue
        news = exp["news"]
        assert got.news is not None
        assert got.news.publication_date == _expected_date(news["publication_date"])
        assert got.news.title == news["title"]
        assert got.news.keywords == d._split(news.get("keywords"))
        assert got.news.language == news.get("publication_language")
        assert got.news.publication_name == news.get("publication_name")  # empty name: None
        assert got.news.genres == d._split(news.get("genres"))
    assert d.sniff(body) == "sitemap"


# -- synthetic: broken XML -----------------------------------------------------------------------

def _rss(items: str, declaration: str = '<?xml version="1.0" encoding="UTF-8"?>') -> str:
    return f"{declaration}<rss version='2.0'><channel><title>T</title>{items}</channel></rss>"


ITEM = ("<item><title>{title}</title><link>https://x.example/a?x=1&y=2</link>"
        "<pubDate>Mon, 31 Jan 2022 15:42:00 +0300</pubDate></item>")


def test_raw_ampersands_and_html_entities_are_repaired() -> None:
    body = _rss(ITEM.format(title="Tom & Jerry&nbsp;&eacute;t&eacute; &amp; <![CDATA[a & b]]>"))
    result = d.parse_feed(body.encode(), "https://x.example/feed")
    entry = result.entries[0]
    assert entry.title == "Tom & Jerry été & a & b"  # whitespace (nbsp too) collapsed
    assert entry.link == "https://x.example/a?x=1&y=2"
    assert entry.published == datetime(2022, 1, 31, 12, 42, tzinfo=UTC)
    assert "2 raw '&' escaped" in result.recovered
    assert "3 HTML entities replaced" in result.recovered and not result.truncated


@pytest.mark.parametrize("bom, encoding", [(codecs.BOM_UTF8, "utf-8"),
                                           (codecs.BOM_UTF16_LE, "utf-16-le"),
                                           (codecs.BOM_UTF16_BE, "utf-16-be")])
def test_byte_order_marks_win(bom: bytes, encoding: str) -> None:
    body = bom + _rss(ITEM.format(title="Новости")).encode(encoding)
    result = d.parse_feed(body, "https://x.example/feed")
    assert result.entries[0].title == "Новости" and result.encoding == encoding


def test_cp1251_declared_utf8() -> None:
    body = _rss(ITEM.format(title="Путин и Макрон обсудили Украину")).encode("cp1251")
    result = d.parse_feed(body, "https://x.example/feed")
    assert result.entries[0].title == "Путин и Макрон обсудили Украину"
    assert result.encoding == "cp1251"
    assert "declared utf-8 but not valid utf-8; read as cp1251" in result.recovered


def test_windows_1251_declared_and_undeclared() -> None:
    text = ITEM.format(title="Новости дня")
    declared = _rss(text, '<?xml version="1.0" encoding="windows-1251"?>').encode("cp1251")
    assert d.parse_feed(declared, "u").entries[0].title == "Новости дня"
    bare = _rss(text, "").encode("cp1251")
    assert d.parse_feed(bare, "u").entries[0].title == "Новости дня"


def test_iso_8859_1() -> None:
    latin = _rss(ITEM.format(title="Notícias – São Paulo"),
                 '<?xml version="1.0" encoding="ISO-8859-1"?>').encode("cp1252")
    assert d.parse_feed(latin, "u").entries[0].title == "Notícias – São Paulo"
    # a generator that declares Latin-1 but writes UTF-8
    lying = _rss(ITEM.format(title="Notícias"), '<?xml version="1.0" encoding="ISO-8859-1"?>')
    result = d.parse_feed(lying.encode("utf-8"), "u")
    assert result.entries[0].title == "Notícias"
    assert "declared iso-8859-1 but is UTF-8" in result.recovered


SITEMAP = ('<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/'
           'sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{}</urlset>')
NEWS_URL = ("<url><loc>https://x.example/{n}</loc><news:news><news:publication><news:name>X"
            "</news:name><news:language>ru</news:language></news:publication>"
            "<news:publication_date>2022-01-31T18:42:00+03:00</news:publication_date>"
            "<news:title>{title}</news:title><news:keywords>a, b</news:keywords>"
            "</news:news></url>")


def test_gzipped_sitemap_and_index() -> None:
    urls = SITEMAP.format(NEWS_URL.format(n=1, title="Markets & oil"))
    result = d.parse_sitemap(gzip.compress(urls.encode()), "https://x.example/s.xml.gz")
    news = result.urls[0].news
    assert news is not None and news.title == "Markets & oil" and news.keywords == ("a", "b")
    assert news.language == "ru"
    assert news.publication_date == datetime(2022, 1, 31, 15, 42, tzinfo=UTC)
    index = ('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap>'
             "<loc> /s1.xml.gz </loc><lastmod>2022-01-31</lastmod></sitemap></sitemapindex>")
    result = d.parse_sitemap(gzip.compress(index.encode()), "https://x.example/index.xml")
    assert result.is_index
    assert result.sitemaps == (d.SitemapRef("https://x.example/s1.xml.gz", date(2022, 1, 31)),)
    assert d.sniff(gzip.compress(index.encode())) == "sitemap"


def test_gzip_bounds_and_damage() -> None:
    with pytest.raises(d.DiscoveryError, match="expands beyond"):
        d.gunzip(gzip.compress(b"<urlset>" + b" " * 10_000), max_size=1000)
    with pytest.raises(d.DiscoveryError, match="gzip"):
        d.parse_sitemap(gzip.compress(SITEMAP.encode())[:30], "u")


def test_truncated_xml_keeps_what_was_read_and_says_so() -> None:
    full = SITEMAP.format(NEWS_URL.format(n=1, title="one") + NEWS_URL.format(n=2, title="two"))
    result = d.parse_sitemap(full[: full.index("two") - 20].encode(), "u")
    assert result.truncated
    assert [u.loc for u in result.urls][:1] == ["https://x.example/1"]
    assert any(p.startswith("recovered from:") for p in result.recovered)
    # a mistake mid-document that lxml recovers from is not a truncation
    broken = SITEMAP.format("<url><loc>https://x.example/1</loc></urll></url>")
    assert not d.parse_sitemap(broken.encode(), "u").truncated


@pytest.mark.parametrize("body, reason", [
    (b"", "empty document"),
    (b"   \n", "empty document"),
    (bytes(range(256)) * 4, "not XML"),
    (b"<html><body><p>Hi</p></body></html>", "not a sitemap: root element <html>"),
])
def test_unparseable_sitemaps_raise_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(d.DiscoveryError, match=re.escape(reason)):
        d.parse_sitemap(body, "u")


@pytest.mark.parametrize("body, reason", [
    (b"<html><head><title>x</title></head></html>", "not a feed: root element <html>"),
    (b'{"items": [', "not valid JSON"),
    (b'{"title": "x"}', "without an 'items' list"),
    (b"<rss version='2.0'><foo/></rss>", "RSS without a <channel>"),
])
def test_unparseable_feeds_raise_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(d.DiscoveryError, match=re.escape(reason)):
        d.parse_feed(body, "u")


def test_text_sitemap() -> None:
    result = d.parse_sitemap(b"https://x.example/a\r\n\r\nhttps://x.example/b\n", "u")
    assert [u.loc for u in result.urls] == ["https://x.example/a", "https://x.example/b"]


@pytest.mark.parametrize("body, kind", [
    (b"<?xml version='1.0'?><!-- x --><rss/>", "feed"),
    (b"<rdf:RDF xmlns:rdf='x'/>", "feed"),
    (b"\xef\xbb\xbf<feed xmlns='http://www.w3.org/2005/Atom'/>", "feed"),
    (b"<!DOCTYPE html><html></html>", "html"),
    (b"<sitemapindex/>", "sitemap"),
    (b"https://x.example/a\n", "sitemap"),
    (b"hello", "unknown"),
])
def test_sniff(body: bytes, kind: str) -> None:
    assert d.sniff(body) == kind


# -- HTML pages and robots.txt -------------------------------------------------------------------

def test_discover_feeds_from_html() -> None:
    page = """<html><head><base href="https://cdn.x.example/base/">
    <link rel="alternate" type="application/rss+xml" title="News" href="/rss">
    <link rel="Alternate" type="application/atom+xml; charset=utf-8" href="atom.xml">
    <link rel="alternate" type="application/feed+json" href="https://x.example/feed.json">
    <link rel="alternate" type="application/rss+xml" title="News" href="/rss">
    <link rel="alternate" type="application/rss+xml" title="X &raquo; Comments Feed" href="/c">
    <link rel="alternate" type="application/json" href="/wp-json/wp/v2/posts/1">
    <link rel="stylesheet" type="text/css" href="/s.css">
    <link rel="alternate" hreflang="de" href="/de/">
    </head><body></body></html>"""
    assert d.discover_from_html(page, "https://x.example/") == [
        "https://cdn.x.example/rss", "https://cdn.x.example/base/atom.xml",
        "https://x.example/feed.json"]
    assert d.discover_from_html("", "https://x.example/") == []


def test_sitemaps_from_robots() -> None:
    robots = ("User-agent: *\nDisallow: /admin\n# Sitemap: https://x.example/commented.xml\n"
              "SITEMAP: https://x.example/a.xml\nsitemap:/b.xml # relative\n"
              "Sitemap: https://x.example/a.xml\n")
    assert d.sitemaps_from_robots(robots, "https://x.example/robots.txt") == [
        "https://x.example/a.xml", "https://x.example/b.xml"]


# -- dates and the window ------------------------------------------------------------------------

@pytest.mark.parametrize("raw, want", [
    ("Mon, 31 Jan 2022 15:42:00 GMT", datetime(2022, 1, 31, 15, 42, tzinfo=UTC)),
    ("Wed, 03 Jan 2018 13:47:00 GMT\r\n      ", datetime(2018, 1, 3, 13, 47, tzinfo=UTC)),
    ("Seg, 24 Set 2018 19:42:40 -0300",
     datetime(2018, 9, 24, 19, 42, 40, tzinfo=timezone(timedelta(hours=-3)))),
    ("Di, 14 Mär 2023 08:00:00 +0100",
     datetime(2023, 3, 14, 8, tzinfo=timezone(timedelta(hours=1)))),
    ("2022-01-31T15:42:00Z", datetime(2022, 1, 31, 15, 42, tzinfo=UTC)),
    ("2023-06-26T12:00:29.055Z", datetime(2023, 6, 26, 12, 0, 29, 55000, tzinfo=UTC)),
    ("2022-01-31T18:42", datetime(2022, 1, 31, 18, 42)),  # naive: the source's zone applies
    ("2022-01-31", date(2022, 1, 31)),
    ("yesterday", None),
    ("", None),
    (None, None),
])
def test_parse_date(raw: str | None, want: object) -> None:
    assert d.parse_date(raw) == want


MOSCOW = ZoneInfo("Europe/Moscow")
START = datetime(2022, 1, 31, 2, tzinfo=UTC)
END = START + timedelta(days=1)


@pytest.mark.parametrize("published, modified, verdict", [
    (datetime(2022, 1, 31, 2, tzinfo=UTC), None, d.Verdict.IN),  # the start is inside
    (datetime(2022, 2, 1, 2, tzinfo=UTC), None, d.Verdict.OUT),  # the end is not
    (datetime(2022, 1, 31, 4, 59), None, d.Verdict.OUT),  # naive Moscow = 01:59Z
    (datetime(2022, 1, 31, 5, 0), None, d.Verdict.IN),
    (date(2022, 1, 31), None, d.Verdict.IN),
    (date(2022, 2, 1), None, d.Verdict.IN),  # the Moscow day starts 21:00Z, inside
    (date(2022, 2, 2), None, d.Verdict.OUT),
    (date(2022, 1, 30), None, d.Verdict.OUT),  # ends 21:00Z Jan 30, before the start
    # the publication date decides even against a later lastmod
    (datetime(2022, 1, 20, tzinfo=UTC), datetime(2022, 1, 31, 12, tzinfo=UTC), d.Verdict.OUT),
    (None, datetime(2022, 1, 31, 1, tzinfo=UTC), d.Verdict.OUT),  # unchanged since before
    (None, datetime(2022, 2, 5, tzinfo=UTC), d.Verdict.MAYBE),  # changed later: may be ours
    (None, date(2022, 1, 31), d.Verdict.MAYBE),
    (None, date(2022, 1, 30), d.Verdict.OUT),
    (None, None, d.Verdict.MAYBE),
])
def test_window_verdict(published: object, modified: object, verdict: d.Verdict) -> None:
    assert d.window_verdict(published, modified, START, END, MOSCOW) is verdict


# -- URLs ----------------------------------------------------------------------------------------

def test_urls_and_ids() -> None:
    a = "https://X.example/a/b?id=7&utm_source=rss&utm_medium=feed#top"
    assert strip_tracking(a) == "https://X.example/a/b?id=7"
    assert listing_key(a) == listing_key("https://x.example/a/b?id=7")
    assert listing_key("https://x.example") == "https://x.example/"
    assert d.stable_id(a) == d.stable_id("https://x.example/a/b?id=7")
    assert re.fullmatch(r"[0-9a-f]{16}", d.stable_id(a))
    assert d.stable_id("https://x.example/a/b?id=8") != d.stable_id(a)
    assert derive_allowed_domains(("https://www.x.example/", "https://feeds.x.example/rss",
                                   "https://y.example/s.xml", "https://x.example/")) == [
        "x.example", "y.example"]


def test_sites_keep_their_ports_and_ignore_scheme_and_www() -> None:
    from spiders.urls import SiteScope, site_entry

    assert derive_allowed_domains(("http://127.0.0.1:8080/", "http://127.0.0.1:8080/feed.xml",
                                   "https://static.x.example:8443/s.xml")) == [
        "127.0.0.1:8080", "x.example:8443"]
    assert site_entry("http://www.Example.com:80/feed") == "example.com"
    assert site_entry("example.com:443") == "example.com" == site_entry("https://example.com")
    assert site_entry("[::1]:8080") == "[::1]:8080"
    with pytest.raises(ValueError):
        site_entry("example.com/news")
    scope = SiteScope(["127.0.0.1:8080", "example.com", "[::1]:9000"])
    for url in ("http://127.0.0.1:8080/a", "https://example.com/a", "http://www.example.com:80/a",
                "https://news.example.com/a", "http://[::1]:9000/x"):
        assert url in scope, url
    for url in ("http://127.0.0.1/a", "http://127.0.0.1:9090/a", "https://example.com:8443/a",
                "https://notexample.com/a", "http://[::1]/x", "mailto:x@example.com"):
        assert url not in scope, url
    assert scope.hosts == ["127.0.0.1", "example.com", "::1"]
