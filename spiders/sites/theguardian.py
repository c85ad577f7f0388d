"""The Guardian: site knowledge (URLs, ids) and the article parser, a pure function of HTML.

Page structure (the "DCR" renderer): the page marks its regions with data-gu-name attributes:
headline, standfirst, meta (byline and date), media (lead image), body. Class names are hashed
("dcr-4cudl2") and change with every deploy, so nothing here relies on them. The article's own
prose is the <p>/<h2> children of the body region; figures inside it (videos, newsletter
sign-ups, "most viewed" cards) are not body. When a page stops matching (no headline, no body
paragraphs, no date) the parser raises NotAnArticle instead of guessing.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from spiders.htmltools import (
    NotAnArticle,
    first,
    json_ld,
    meta,
    meta_all,
    parse_html,
    parse_iso,
    text,
)

NAME = "theguardian"
HOSTS = ("www.theguardian.com",)
ALLOWED_DOMAINS = ("theguardian.com",)
TIMEZONE = "Europe/London"

# /<section>[/<subsection>]/[live/]<yyyy>/<mon>/<dd>/<slug>: the path is the Guardian's own
# content id (the id its Content API uses), so it is the stable identity.
_ARTICLE_PATH = re.compile(
    r"^/((?:[a-z0-9-]+/){1,2}(?:live/)?\d{4}/[a-z]{3}/\d{2}/[a-z0-9-]+)/?$")
# Body children that are prose. Figures, asides and embeds (video, newsletter promotion, related
# cards) are not.
_BODY_TAGS = ("p", "h2", "h3", "blockquote", "ul", "ol")
_CREDIT = re.compile(r"\s*\b(Photograph|Photo|Illustration|Composite|Video|Image)\s*:\s*", re.I)


def site_id(url: str) -> str | None:
    """The Guardian's content id ('world/2024/feb/24/slug') of an article URL, else None."""
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith("theguardian.com"):
        return None
    m = _ARTICLE_PATH.match(parts.path)
    return m.group(1) if m else None


def _region(doc, name: str):
    return first(doc, f'[data-gu-name="{name}"]')


def _paragraphs(body) -> list[str]:
    out: list[str] = []
    for child in body:
        if not isinstance(child.tag, str) or child.tag not in _BODY_TAGS:
            continue
        if child.tag in ("ul", "ol"):
            out.extend(t for t in (text(li) for li in child.iter("li")) if t)
        elif value := text(child):
            out.append(value)
    return out


def _authors(doc) -> list[str]:
    """JSON-LD authors (the Guardian lists each contributor, or a house credit such as
    'Guardian staff reporter'); the byline's profile links when JSON-LD has none. The plain
    byline text ('Associated Press in Valencia') is a dateline credit, not an author list."""
    ld = next((o for o in json_ld(doc) if o.get("@type") in ("NewsArticle", "Article",
                                                              "LiveBlogPosting")), {})
    raw = ld.get("author") or []
    names = [(a.get("name") if isinstance(a, dict) else a) for a in
             (raw if isinstance(raw, list) else [raw])]
    names = [" ".join(n.split()) for n in names if isinstance(n, str) and n.strip()]
    if not names:
        names = [text(a) for a in doc.xpath('//*[@data-gu-name="meta"]//a[@rel="author"]')]
    return list(dict.fromkeys(n for n in names if n))


def _caption(doc) -> tuple[str | None, str | None]:
    """'Caption text. Photograph: Name/Agency' -> (caption, 'Name/Agency')."""
    media = _region(doc, "media")
    cap = first(media, "figcaption") if media is not None else None
    if cap is None:
        return None, None
    parts = _CREDIT.split(text(cap), maxsplit=1)
    caption = parts[0].strip() or None
    credits = parts[2].strip() if len(parts) == 3 else None
    return caption, credits or None


def parse(html: str, url: str) -> dict:
    """Parse one article page into the crawl fields of the Article schema (dates keep the
    page's own offset, UTC on this site)."""
    doc = parse_html(html)
    canonical = None
    for link in doc.xpath('//link[@rel="canonical"]/@href'):
        candidate = urljoin(url, link.strip())
        if site_id(candidate):
            canonical = candidate
            break
    canonical = canonical or url
    sid = site_id(canonical)
    if sid is None:
        raise NotAnArticle(f"not an article URL: {canonical}")

    headline = _region(doc, "headline")
    title = text(first(headline, "h1")) if headline is not None else ""
    title = title or (meta(doc, "og:title") or "")
    if not title:
        raise NotAnArticle("no headline")
    body = _region(doc, "body")
    container = first(body, ".article-body-commercial-selector") if body is not None else None
    paragraphs = _paragraphs(container if container is not None else body) \
        if body is not None else []
    if not paragraphs:
        raise NotAnArticle("no body paragraphs")

    published = parse_iso(meta(doc, "article:published_time"))
    if published is None or published.tzinfo is None:
        raise NotAnArticle("no publication date")
    modified = parse_iso(meta(doc, "article:modified_time"))
    standfirst = _region(doc, "standfirst")
    caption, credits = _caption(doc)
    tags = [t.strip() for value in meta_all(doc, "article:tag") for t in value.split(",")]
    related = [urljoin(url, h) for h in body.xpath(".//a/@href")
               if site_id(urljoin(url, h)) and site_id(urljoin(url, h)) != sid]
    return {
        "site_id": sid,
        "url": canonical,
        "title": title,
        "subtitle": text(standfirst) or None if standfirst is not None else None,
        "authors": _authors(doc),
        "published_at": published,
        "published_at_from": "meta:article:published_time",
        "modified_at": modified if modified is not None and modified.tzinfo else None,
        "modified_at_from": "meta:article:modified_time" if modified is not None else None,
        "section": meta(doc, "article:section"),
        "tags": list(dict.fromkeys(t for t in tags if t)),
        "language": (doc.get("lang") or "").split("-")[0] or None,
        "description": meta(doc, "description") or meta(doc, "og:description"),
        "body": "\n\n".join(paragraphs),
        "image_url": meta(doc, "og:image"),
        "image_caption": caption,
        "image_credits": credits,
        "related_urls": list(dict.fromkeys(related)),
    }
