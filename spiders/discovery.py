"""Feed and sitemap discovery as pure functions over bytes (no Scrapy), shared by the spiders.

Reads RSS 0.9x/2.0, RSS 1.0 (RDF), Atom and JSON Feed; sitemaps (urlset with the Google News
`news:` fields, sitemap indexes, plain-text sitemaps), gzipped or not; feed links in HTML pages
and `Sitemap:` lines in robots.txt. Real feeds are often not well-formed XML, so bytes are
decoded with BOM > XML declaration > UTF-8 > a cp1251/cp1252 heuristic, raw `&` and HTML entities
are repaired, and lxml parses with recovery. Every repair is listed in the result's `recovered`;
a document that stops early is marked `truncated`; one that yields nothing raises DiscoveryError.

Dates keep what the source said: an aware datetime when it gave an offset, a naive one when it
did not (the caller applies the source's timezone), a `date` when it gave only a day.
"""

from __future__ import annotations

import codecs
import hashlib
import html.entities
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Literal
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from contracts.dates import parse_iso
from contracts.urls import listing_key

# A sitemap may hold 50 MB uncompressed (sitemaps.org); more than that from a .gz is a bomb.
MAX_GUNZIPPED = 50 * 1024 * 1024
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json",
              "application/rdf+xml")

Stamp = datetime | date  # a date alone means "some time on that day"
Kind = Literal["feed", "sitemap", "html", "unknown"]


class DiscoveryError(ValueError):
    """Nothing usable could be read from a feed or sitemap document; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FeedEntry:
    url: str  # the article URL to fetch (FeedBurner's origLink when the feed has one)
    link: str  # the link as the feed gives it
    published: Stamp | None
    updated: Stamp | None
    title: str | None
    id: str | None = None


@dataclass(frozen=True)
class FeedResult:
    format: Literal["rss", "rss1", "atom", "jsonfeed"]
    title: str | None
    entries: tuple[FeedEntry, ...]
    encoding: str
    recovered: tuple[str, ...] = ()
    truncated: bool = False


@dataclass(frozen=True)
class NewsInfo:
    """The Google News `<news:news>` block, which Scrapy's own sitemap support drops."""

    publication_date: Stamp | None
    title: str | None
    keywords: tuple[str, ...]
    language: str | None
    publication_name: str | None
    genres: tuple[str, ...] = ()


@dataclass(frozen=True)
class SitemapUrl:
    loc: str
    lastmod: Stamp | None
    news: NewsInfo | None = None


@dataclass(frozen=True)
class SitemapRef:
    loc: str
    lastmod: Stamp | None


@dataclass(frozen=True)
class SitemapResult:
    is_index: bool
    sitemaps: tuple[SitemapRef, ...]
    urls: tuple[SitemapUrl, ...]
    encoding: str
    recovered: tuple[str, ...] = ()
    truncated: bool = False


# -- bytes -> text ------------------------------------------------------------------------------

_BOMS = (  # UTF-32 before UTF-16: the UTF-32-LE BOM starts with the UTF-16-LE one
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARED = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
# Labels that in practice mean windows-1252 (as the WHATWG encoding standard maps them).
_LATIN1 = {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii",
           "windows-1252", "cp1252"}


def is_gzip(body: bytes) -> bool:
    return body[:2] == b"\x1f\x8b"


def gunzip(body: bytes, max_size: int = MAX_GUNZIPPED) -> bytes:
    """Decompress a gzip body, refusing more than max_size bytes of output."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, max_size)
    except zlib.error as exc:
        raise DiscoveryError(f"broken gzip: {exc}") from None
    if d.unconsumed_tail:
        raise DiscoveryError(f"gzip expands beyond {max_size} bytes")
    if not d.eof:
        raise DiscoveryError("truncated gzip")
    return out


def _guess_single_byte(body: bytes) -> str:
    """cp1251 or cp1252 for bytes that are not UTF-8.

    Both decode every byte, so look at the shape: Cyrillic words are runs of high bytes
    ("Новости" is seven in a row), while accented Latin letters sit alone between ASCII ones
    ("Not\\xedcias"). Most high bytes having a high neighbour means Cyrillic.
    """
    body = body[:256 * 1024]  # a sample decides; a whole 50 MB sitemap need not be walked
    high = [i for i, b in enumerate(body) if b >= 0xC0]
    if not high:
        return "cp1252"
    paired = sum(1 for i in high
                 if (i > 0 and body[i - 1] >= 0x80) or (i + 1 < len(body) and body[i + 1] >= 0x80))
    return "cp1251" if paired / len(high) > 0.5 else "cp1252"


def _decode_single_byte(body: bytes, encoding: str) -> str:
    try:
        return body.decode(encoding)
    except UnicodeDecodeError:  # cp1252 leaves five bytes undefined; latin-1 has them all
        return body.decode("latin-1")


def decode(body: bytes) -> tuple[str, str, list[str]]:
    """Text, the encoding used and what was wrong: BOM, then the declaration, then guesses."""
    problems: list[str] = []
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            try:
                return body[len(bom):].decode(encoding), encoding, problems
            except UnicodeDecodeError:
                problems.append(f"{encoding} BOM but invalid {encoding}")
                body = body[len(bom):]
                break
    m = _DECLARED.match(body[:512])
    declared = m.group(1).decode("ascii").lower() if m else None
    if declared in _LATIN1:
        # A single-byte declaration on bytes that are valid UTF-8 with non-ASCII text is a
        # generator that lied (random Latin-1 text is practically never valid UTF-8).
        if not body.isascii():
            try:
                text = body.decode("utf-8")
                problems.append(f"declared {declared} but is UTF-8")
                return text, "utf-8", problems
            except UnicodeDecodeError:
                pass
        return _decode_single_byte(body, "cp1252"), "cp1252", problems
    if declared:
        try:
            return body.decode(declared), declared, problems
        except LookupError:
            problems.append(f"unknown declared encoding {declared!r}")
        except UnicodeDecodeError:
            problems.append(f"declared {declared} but not valid {declared}")
    elif body.isascii():
        return body.decode("ascii"), "utf-8", problems
    try:
        return body.decode("utf-8"), "utf-8", problems
    except UnicodeDecodeError:
        pass
    guess = _guess_single_byte(body)
    if not declared:
        problems.append(f"no declared encoding and not UTF-8; read as {guess}")
    else:
        problems[-1] += f"; read as {guess}"
    return _decode_single_byte(body, guess), guess, problems


# -- text -> XML tree ---------------------------------------------------------------------------

_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# Parts of a document whose text is literal: nothing inside may be re-escaped.
_LITERAL = re.compile(r"<!\[CDATA\[.*?\]\]>|<!--.*?-->", re.S)
_RAW_AMP = re.compile(r"&(?!#\d+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")
_NAMED = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_STRICT = etree.XMLParser(recover=False, resolve_entities=False, no_network=True,
                          remove_comments=True, remove_pis=True)
_RECOVER = etree.XMLParser(recover=True, resolve_entities=False, no_network=True,
                           remove_comments=True, remove_pis=True)


def _repair(text: str, problems: list[str]) -> str:
    """Escape raw `&`, turn HTML entities into characters and drop characters XML forbids."""
    counts = {"amp": 0, "entity": 0}

    def named(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in _XML_ENTITIES or name not in html.entities.name2codepoint:
            return m.group(0)
        counts["entity"] += 1
        return f"&#{html.entities.name2codepoint[name]};"

    def fix(chunk: str) -> str:
        chunk, n = _RAW_AMP.subn("&amp;", chunk)
        counts["amp"] += n
        chunk = _NAMED.sub(named, chunk)
        # An entity XML does not know and HTML neither (&foo;) is escaped as text.
        chunk, n = re.subn(r"&(?!#|amp;|lt;|gt;|quot;|apos;)", "&amp;", chunk)
        counts["amp"] += n
        return chunk

    out, last = [], 0
    for m in _LITERAL.finditer(text):
        out += [fix(text[last:m.start()]), m.group(0)]
        last = m.end()
    out.append(fix(text[last:]))
    fixed = "".join(out)
    fixed, bad = _BAD_CHARS.subn("", fixed)
    if counts["amp"]:
        problems.append(f"{counts['amp']} raw '&' escaped")
    if counts["entity"]:
        problems.append(f"{counts['entity']} HTML entities replaced")
    if bad:
        problems.append(f"{bad} characters invalid in XML removed")
    return fixed


def _closes(text: str, root: etree._Element) -> bool:
    """Whether the text ends with the root's end tag (or is one self-closed element)."""
    tail = _LITERAL.sub("", text).rstrip()
    qname = etree.QName(root).localname
    if root.prefix:
        qname = f"{root.prefix}:{qname}"
    return bool(re.search(rf"</\s*{re.escape(qname)}\s*>$", tail)) or (
        len(root) == 0 and tail.endswith("/>"))


@dataclass(frozen=True)
class _Xml:
    root: etree._Element
    encoding: str
    recovered: tuple[str, ...]
    truncated: bool


def parse_xml(body: bytes, url: str) -> _Xml:
    """Parse possibly broken XML; raise DiscoveryError when not even recovery gives a root."""
    if is_gzip(body):
        body = gunzip(body)
    if not body.strip():
        raise DiscoveryError("empty document")
    text, encoding, problems = decode(body)
    text = _DECLARATION.sub("", text, count=1).lstrip()
    text = _repair(text, problems)
    data = text.encode("utf-8")
    truncated = False
    try:
        root = etree.fromstring(data, parser=_STRICT, base_url=url)
    except etree.XMLSyntaxError as exc:
        root = etree.fromstring(data, parser=_RECOVER, base_url=url)
        if root is None:
            raise DiscoveryError(f"not XML: {exc}") from None
        problems.append(f"recovered from: {exc}")
        truncated = not _closes(text, root)
    return _Xml(root, encoding, tuple(problems), truncated)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _children(el: etree._Element, *names: str) -> list[etree._Element]:
    """Direct children by local name, so RSS, Atom and sitemap namespaces (or none) all match
    and `image:loc` or `video:title` deeper down never do."""
    return [c for c in el if isinstance(c.tag, str) and _local(c) in names]


def _child(el: etree._Element, *path: str) -> etree._Element | None:
    for name in path:
        found = _children(el, name)
        if not found:
            return None
        el = found[0]
    return el


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    value = " ".join("".join(el.itertext()).split())
    return value or None


def _child_text(el: etree._Element, *path: str) -> str | None:
    return _text(_child(el, *path))


# -- dates --------------------------------------------------------------------------------------

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LEADING_WEEKDAY = re.compile(r"^\s*[^\W\d]{2,}\.?,\s*")
# Month abbreviations of the languages feeds are commonly written in, for RFC 822 dates that
# generators localised by mistake ("Seg, 24 Set 2018 19:42:40 -0300").
_MONTHS = {
    "jan": 1, "fev": 2, "feb": 2, "fév": 2, "mar": 3, "mär": 3, "mrz": 3, "abr": 4, "apr": 4,
    "avr": 4, "mai": 5, "may": 5, "mei": 5, "mag": 5, "jun": 6, "juin": 6, "giu": 6, "jul": 7,
    "juil": 7, "lug": 7, "ago": 8, "aug": 8, "aoû": 8, "août": 8, "set": 9, "sep": 9,
    "out": 10, "oct": 10, "okt": 10, "ott": 10, "nov": 11, "dez": 12, "dec": 12, "dic": 12,
    "déc": 12, "ene": 1, "gen": 1,
}
_RFC822_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                  "Dec")


def _localised_rfc822(raw: str) -> str | None:
    m = re.match(r"^\s*(\d{1,2})\s+([^\W\d]+)\.?\s+(\d{4}\s.*)$", _LEADING_WEEKDAY.sub("", raw))
    if not m:
        return None
    month = _MONTHS.get(m.group(2).lower()) or _MONTHS.get(m.group(2).lower()[:3])
    if not month:
        return None
    return f"{m.group(1)} {_RFC822_MONTHS[month - 1]} {m.group(3)}"


def parse_date(raw: str | None) -> Stamp | None:
    """ISO 8601 / W3C datetime or RFC 822; naive when the source gave no offset."""
    if not raw or not raw.strip():
        return None
    value = raw.strip()
    if _DATE_ONLY.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    when = parse_iso(value)
    if when is not None:
        return when
    for candidate in (_LEADING_WEEKDAY.sub("", value), _localised_rfc822(value)):
        if not candidate:
            continue
        try:
            when = parsedate_to_datetime(candidate)
        except (TypeError, ValueError, IndexError):
            continue
        return when
    return None


# -- feeds --------------------------------------------------------------------------------------

def _absolute(url: str | None, base: str) -> str | None:
    if not url or not url.strip():
        return None
    return urljoin(base, url.strip())


def _first_date(el: etree._Element, *names: str) -> Stamp | None:
    for name in names:
        when = parse_date(_child_text(el, name))
        if when is not None:
            return when
    return None


def _atom_link(el: etree._Element) -> str | None:
    links = _children(el, "link")
    for link in links:
        if link.get("href") and link.get("rel", "alternate") == "alternate" and (
                link.get("type") in (None, "text/html", "application/xhtml+xml")):
            return _absolute(link.get("href"), el.base or "")
    return _absolute(links[0].get("href"), el.base or "") if links else None


def _rss_entry(item: etree._Element, base: str) -> FeedEntry | None:
    link = _child_text(item, "link")
    if link is None:  # atom:link inside RSS, or a permalink guid
        atom = [c for c in _children(item, "link") if c.get("href")]
        link = atom[0].get("href") if atom else None
    guid = _child(item, "guid")
    if link is None and guid is not None and guid.get("isPermaLink", "true") != "false":
        link = _text(guid)
    if link is None and item.get(f"{{{_RDF}}}about"):
        link = item.get(f"{{{_RDF}}}about")
    link = _absolute(link, base)
    if link is None:
        return None
    # FeedBurner rewrites links to its redirector on another host; origLink is the article.
    url = _absolute(_child_text(item, "origLink"), base) or link
    return FeedEntry(
        url=url,
        link=link,
        published=_first_date(item, "pubDate", "date", "published", "issued", "created"),
        updated=_first_date(item, "modified", "updated"),
        title=_child_text(item, "title"),
        id=_text(guid),
    )


_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def _feed_from_xml(x: _Xml, url: str) -> FeedResult:
    root = x.root
    name = _local(root)
    if name in ("rss", "RDF", "channel"):
        channel = _child(root, "channel") if name == "rss" else root
        if channel is None:
            raise DiscoveryError("RSS without a <channel>")
        # RSS 2.0 puts items in the channel, RSS 1.0 next to it.
        items = _children(channel, "item") or _children(root, "item")
        entries = [e for e in (_rss_entry(i, url) for i in items) if e is not None]
        fmt: Literal["rss", "rss1"] = "rss1" if name == "RDF" else "rss"
        rdf_channel = _child(root, "channel")
        title = _child_text(rdf_channel if rdf_channel is not None else channel, "title")
        return FeedResult(fmt, title, tuple(entries), x.encoding, x.recovered, x.truncated)
    if name == "feed":
        atom_entries = []
        for entry in _children(root, "entry"):
            link = _atom_link(entry)
            if link is None:
                continue
            atom_entries.append(FeedEntry(
                url=link, link=link,
                published=_first_date(entry, "published", "issued", "created"),
                updated=_first_date(entry, "updated", "modified"),
                title=_child_text(entry, "title"),
                id=_child_text(entry, "id"),
            ))
        return FeedResult("atom", _child_text(root, "title"), tuple(atom_entries), x.encoding,
                          x.recovered, x.truncated)
    raise DiscoveryError(f"not a feed: root element <{name or root.tag}>")


def _json_feed(body: bytes, url: str) -> FeedResult:
    text, encoding, problems = decode(body)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DiscoveryError(f"JSON Feed is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise DiscoveryError("JSON document without an 'items' list is not a JSON Feed")
    if "jsonfeed.org/version/" not in str(data.get("version", "")):
        problems.append("JSON Feed without a jsonfeed.org version")
    entries = []
    for item in data["items"]:
        if not isinstance(item, dict):
            continue
        ident = item.get("id")
        link = item.get("url") or item.get("external_url")
        if not link and isinstance(ident, str) and ident.startswith(("http://", "https://")):
            link = ident
        link = _absolute(link if isinstance(link, str) else None, url)
        if link is None:
            continue
        title = item.get("title")
        entries.append(FeedEntry(
            url=link, link=link,
            published=parse_date(_str(item.get("date_published"))),
            updated=parse_date(_str(item.get("date_modified"))),
            title=(title.strip() or None) if isinstance(title, str) else None,
            id=None if ident is None else str(ident),
        ))
    title = data.get("title") if isinstance(data.get("title"), str) else None
    return FeedResult("jsonfeed", title, tuple(entries), encoding, tuple(problems))


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_feed(body: bytes, url: str) -> FeedResult:
    """RSS 0.9x/2.0, RSS 1.0, Atom or JSON Feed; raises DiscoveryError when it is none."""
    if is_gzip(body):
        body = gunzip(body)
    if _starts_with(body, b"{"):
        return _json_feed(body, url)
    return _feed_from_xml(parse_xml(body, url), url)


# -- sitemaps -----------------------------------------------------------------------------------

def _news(url_el: etree._Element) -> NewsInfo | None:
    news = _child(url_el, "news")
    if news is None:
        return None
    keywords = _child_text(news, "keywords")
    genres = _child_text(news, "genres")
    return NewsInfo(
        publication_date=parse_date(_child_text(news, "publication_date")),
        title=_child_text(news, "title"),
        keywords=_split(keywords),
        language=_child_text(news, "publication", "language"),
        publication_name=_child_text(news, "publication", "name"),
        genres=_split(genres),
    )


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(k.strip() for k in (value or "").split(",") if k.strip())


def _text_sitemap(body: bytes, url: str) -> SitemapResult | None:
    """A plain-text sitemap (one URL per line, sitemaps.org allows it), else None."""
    text, encoding, problems = decode(body)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or not all(re.match(r"^https?://\S+$", line) for line in lines):
        return None
    urls = tuple(SitemapUrl(urljoin(url, line), None) for line in lines)
    return SitemapResult(False, (), urls, encoding, tuple(problems))


def parse_sitemap(body: bytes, url: str) -> SitemapResult:
    """A urlset (with news: fields), a sitemap index or a text sitemap; gzip or not."""
    if is_gzip(body):
        body = gunzip(body)
    if not _starts_with(body, b"<"):
        plain = _text_sitemap(body, url)
        if plain is not None:
            return plain
    x = parse_xml(body, url)
    name = _local(x.root)
    if name == "sitemapindex":
        refs = []
        for el in _children(x.root, "sitemap"):
            loc = _absolute(_child_text(el, "loc"), url)
            if loc:
                refs.append(SitemapRef(loc, parse_date(_child_text(el, "lastmod"))))
        return SitemapResult(True, tuple(refs), (), x.encoding, x.recovered, x.truncated)
    if name == "urlset":
        urls = []
        for el in _children(x.root, "url"):
            loc = _absolute(_child_text(el, "loc"), url)
            if loc:
                urls.append(SitemapUrl(loc, parse_date(_child_text(el, "lastmod")), _news(el)))
        return SitemapResult(False, (), tuple(urls), x.encoding, x.recovered, x.truncated)
    raise DiscoveryError(f"not a sitemap: root element <{name or x.root.tag}>")


# -- what a document is -------------------------------------------------------------------------

_ROOT = re.compile(rb"<(?![?!])(?:[\w.-]+:)?([\w.-]+)")


def _starts_with(body: bytes, prefix: bytes) -> bool:
    for bom, _ in _BOMS:
        if body.startswith(bom):
            body = body[len(bom):]
            break
    return body.lstrip()[:1] == prefix


def sniff(body: bytes) -> Kind:
    """What a discovery document is, by content (servers label feeds and sitemaps badly)."""
    if is_gzip(body):
        body = gunzip(body)
    if _starts_with(body, b"{"):
        return "feed"
    head = re.sub(rb"<!--.*?-->", b"", body[:4096], flags=re.S)
    if re.search(rb"^\s*<!doctype\s+html", head, re.I | re.M):
        return "html"
    m = _ROOT.search(head)
    if m is None:
        return "sitemap" if re.match(rb"^\s*https?://", body) else "unknown"
    root = m.group(1).decode("ascii", "replace").lower()
    if root in ("rss", "rdf", "feed", "channel"):
        return "feed"
    if root in ("urlset", "sitemapindex"):
        return "sitemap"
    if root in ("html", "head", "body"):
        return "html"
    return "unknown"


# -- HTML pages and robots.txt ------------------------------------------------------------------

# WordPress and others advertise comment feeds next to the article feed; they list comments.
_COMMENTS = re.compile(r"\bcomments?\b|/comments/feed", re.I)


def discover_from_html(html: str | bytes, url: str) -> list[str]:
    """Feed URLs a page advertises with <link rel="alternate" type="...rss/atom/feed+json">."""
    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return []
    base = urljoin(url, (doc.xpath("string(//base/@href)") or "").strip())
    found: list[str] = []
    for link in doc.xpath("//link[@href]"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" not in rel or kind not in FEED_TYPES:
            continue
        if _COMMENTS.search(link.get("title") or "") or _COMMENTS.search(link.get("href")):
            continue
        href = urljoin(base, link.get("href").strip())
        if href not in found:
            found.append(href)
    return found


def sitemaps_from_robots(text: str, base_url: str | None = None) -> list[str]:
    """The `Sitemap:` lines of a robots.txt (any case, anywhere in the file), in order."""
    found: list[str] = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or key.strip().lower() != "sitemap":
            continue
        value = value.split(" #", 1)[0].strip()
        if value:
            value = urljoin(base_url, value) if base_url else value
            if value not in found:
                found.append(value)
    return found


# -- choosing by date ---------------------------------------------------------------------------

class Verdict(Enum):
    IN = "in"  # a publication date inside the window
    MAYBE = "maybe"  # no publication date, and nothing rules the window out: the page decides
    OUT = "out"


def span(value: Stamp, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants a stamp may mean: one for a datetime, a whole local day for a date."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=tz)
        return aware, aware
    lo = datetime.combine(value, time(), tzinfo=tz)
    return lo, datetime.combine(value + timedelta(days=1), time(), tzinfo=tz)


def localize(value: datetime, tz: tzinfo) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def window_verdict(published: Stamp | None, modified: Stamp | None, start: datetime,
                   end: datetime, tz: tzinfo) -> Verdict:
    """Whether a listed URL may hold an article published in [start, end).

    A publication date decides (a day-only one when that local day overlaps the window).
    Without one, a modification date (lastmod, Atom updated) can only rule out: nothing is
    published after its last change, so a change before the window means not in it.
    """
    if published is not None:
        lo, hi = span(published, tz)
        if isinstance(published, datetime):
            return Verdict.IN if start <= lo < end else Verdict.OUT
        return Verdict.IN if lo < end and hi > start else Verdict.OUT
    if modified is not None:
        _, hi = span(modified, tz)
        last_change = hi if isinstance(modified, datetime) else hi - timedelta(microseconds=1)
        return Verdict.OUT if last_change < start else Verdict.MAYBE
    return Verdict.MAYBE


# -- URLs ---------------------------------------------------------------------------------------

def stable_id(url: str) -> str:
    """A short, stable article id for sites without their own: sha1 of the URL key."""
    return hashlib.sha1(listing_key(url).encode("utf-8")).hexdigest()[:16]


def hosts(urls: Iterable[str]) -> list[str]:
    found: list[str] = []
    for url in urls:
        host = (urlsplit(url).hostname or "").lower()
        if host and host not in found:
            found.append(host)
    return found
