"""The Moscow Times: site knowledge (URLs, ids) and the article parser, a pure function of HTML.

Page structure: ../shared/fixtures/moscowtimes/SITE.md and replica/README.md. When a page stops
matching (no article element, no title, no body) the parser raises NotAnArticle instead of
guessing, so a drifted site shows up as rejected pages rather than silently thin rows.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urljoin, urlsplit

from contracts.dates import parse_iso
from spiders.htmltools import (
    NotAnArticle,
    first,
    json_ld,
    meta,
    meta_all,
    parse_html,
    text,
)

NAME = "moscowtimes"
HOSTS = ("www.themoscowtimes.com", "static.themoscowtimes.com")
ALLOWED_DOMAINS = ("themoscowtimes.com",)
TIMEZONE = "Europe/Moscow"
# The site's one honest change signal: this feed carries the full body of its 50 newest items.
CHANGE_FEED = "https://www.themoscowtimes.com/rss/all"

_ARTICLE_PATH = re.compile(r"^/(\d{4})/(\d{2})/(\d{2})/[^/]+-a(\d+)/?$")
# Body blocks whose text is the article's own prose. Image captions, asides, related cards,
# embeds, ads, tags, disclaimers and the donation banner are deliberately not body.
_BODY_BLOCKS = ("html", "header", "quote")


def site_id(url: str) -> str | None:
    """The site's numeric article id from an article URL (the stable identity), else None."""
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith("themoscowtimes.com"):
        return None
    m = _ARTICLE_PATH.match(parts.path)
    return m.group(4) if m else None


def url_date(url: str) -> date | None:
    """The Moscow publication date an article URL carries."""
    m = _ARTICLE_PATH.match(urlsplit(url).path)
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def _block_paragraphs(block) -> list[str]:
    kind = next(
        (c.split("--", 1)[1] for c in block.get("class", "").split() if "article__block--" in c),
        "",
    )
    if kind not in _BODY_BLOCKS:
        return []
    if kind == "html":
        nodes = block.xpath(".//p | .//li | .//h2 | .//h3 | .//h4")
    elif kind == "header":
        nodes = block.xpath(".//h2 | .//h3 | .//h4")
    else:  # quote: the quoted words, not the attribution
        nodes = block.xpath(".//blockquote//p") or block.xpath(".//blockquote")
        for cite in block.xpath(".//cite"):
            cite.drop_tree()
    return [t for t in (text(n) for n in nodes) if t]


def parse(html: str, url: str) -> dict:
    """Parse one article page into the crawl fields of the Article schema (dates keep +03:00)."""
    doc = parse_html(html)
    article = first(doc, "article.article")
    if article is None:
        raise NotAnArticle("no <article class='article'> element")

    canonical = None
    for link in doc.xpath('//link[@rel="canonical"]/@href'):
        candidate = urljoin(url, link.strip())
        if site_id(candidate):  # a canonical pointing off-site or to a non-article is ignored
            canonical = candidate
            break
    canonical = canonical or url
    sid = site_id(canonical)
    if sid is None:
        raise NotAnArticle(f"not an article URL: {canonical}")

    title = text(first(article, ".article__header h1")) or (meta(doc, "og:title") or "")
    if not title:
        raise NotAnArticle("no headline")
    subtitle = text(first(article, ".article__header h2")) or None

    # Every author is in the byline; meta/JSON-LD only name the first one.
    authors = [text(a) for a in article.cssselect(".byline__author .byline__author__name")]
    authors = list(dict.fromkeys(a for a in authors if a))

    ld = next((o for o in json_ld(doc) if o.get("@type") in ("NewsArticle", "Article")), {})
    published, published_from = _date(
        ("meta:article:published_time", meta(doc, "article:published_time")),
        ("jsonld:datePublished", ld.get("datePublished")),
        ("byline:time", _byline_time(article, updated=False)),
    )
    if published is None:
        raise NotAnArticle("no publication date")
    modified, modified_from = _date(
        ("meta:article:modified_time", meta(doc, "article:modified_time")),
        ("jsonld:dateModified", ld.get("dateModified")),
        ("byline:time", _byline_time(article, updated=True)),
    )

    paragraphs: list[str] = []
    for block in article.cssselect(".article__content .article__block"):
        paragraphs.extend(_block_paragraphs(block))
    if not paragraphs:
        raise NotAnArticle("no body paragraphs")

    featured = first(article, "figure.article__featured-image")
    image_url = None
    if featured is not None:
        src = featured.xpath(".//img/@src")
        image_url = urljoin(url, src[0]) if src else None
    tags = meta_all(doc, "article:tag") or [
        t.strip() for t in (meta(doc, "keywords") or "").split(",") if t.strip()
    ]
    related = [
        urljoin(url, href)
        for href in article.xpath(
            './/div[contains(@class, "article__block--link")]//a/@href'
        )
    ]
    return {
        "site_id": sid,
        "url": canonical,
        "title": title,
        "subtitle": subtitle,
        "authors": authors,
        "published_at": published,
        "published_at_from": published_from,
        "modified_at": modified,
        "modified_at_from": modified_from,
        "section": meta(doc, "article:section") or ld.get("articleSection") or None,
        "tags": list(dict.fromkeys(tags)),
        "language": (doc.get("lang") or ld.get("inLanguage") or "").split("-")[0] or None,
        "description": meta(doc, "description") or meta(doc, "og:description"),
        "body": "\n\n".join(paragraphs),
        "image_url": image_url or meta(doc, "og:image"),
        "image_caption": text(first(article, ".article__featured-image__caption")) or None,
        "image_credits": text(first(article, ".article__featured-image__credits")) or None,
        "related_urls": list(dict.fromkeys(related)),
    }


def _byline_time(article, *, updated: bool) -> str | None:
    """The byline's datetime; it shows the UPDATE time after 'Updated:', else publication."""
    el = first(article, "time.byline__datetime")
    if el is None:
        return None
    shows_update = "updated" in text(el.getparent()).lower()
    return el.get("datetime") if shows_update == updated else None


def _date(*candidates: tuple[str, str | None]):
    for where, raw in candidates:
        value = parse_iso(raw)
        if value is not None and value.tzinfo is not None:
            return value, where
    return None, None
