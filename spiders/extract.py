"""One extraction entry point for every spider: the site's own parser first, generic otherwise.

The generic path reads JSON-LD and meta tags for metadata and trafilatura for the body. It is the
fallback for sites without a parser; issue 3 grows it.
"""

from __future__ import annotations

from types import ModuleType
from urllib.parse import urlsplit

from spiders.htmltools import NotAnArticle, json_ld, meta, meta_all, parse_html, parse_iso, text
from spiders.sites import moscowtimes

SITE_PARSERS: tuple[ModuleType, ...] = (moscowtimes,)


def site_for(url: str) -> ModuleType | None:
    host = (urlsplit(url).hostname or "").lower()
    for site in SITE_PARSERS:
        if any(host == h or host.endswith("." + h) for h in site.ALLOWED_DOMAINS):
            return site
    return None


def extract(html: str, url: str) -> dict:
    site = site_for(url)
    if site is not None:
        return site.parse(html, url)
    return generic(html, url)


_ARTICLE_TYPES = {"NewsArticle", "Article", "ReportageNewsArticle", "AnalysisNewsArticle",
                  "OpinionNewsArticle", "BlogPosting", "LiveBlogPosting"}


def _authors(ld: dict) -> list[str]:
    raw = ld.get("author") or []
    items = raw if isinstance(raw, list) else [raw]
    names = [(a.get("name") if isinstance(a, dict) else a) for a in items]
    return [n.strip() for n in names if isinstance(n, str) and n.strip()]


def generic(html: str, url: str) -> dict:
    import trafilatura

    doc = parse_html(html)
    ld = next(
        (o for o in json_ld(doc)
         if (set(o["@type"]) if isinstance(o.get("@type"), list) else {o.get("@type")})
         & _ARTICLE_TYPES),
        {},
    )
    body = trafilatura.extract(html, url=url, include_comments=False, include_tables=False,
                               favor_precision=True) or ""
    paragraphs = [" ".join(p.split()) for p in body.split("\n") if p.strip()]
    if not paragraphs:
        raise NotAnArticle("no body text found")
    published_raw = meta(doc, "article:published_time") or ld.get("datePublished")
    published = parse_iso(published_raw)
    modified = parse_iso(meta(doc, "article:modified_time") or ld.get("dateModified"))
    title = ld.get("headline") or meta(doc, "og:title") or text(doc.find(".//title"))
    return {
        "site_id": None,
        "url": url,
        "title": title,
        "subtitle": None,
        "authors": _authors(ld),
        "published_at": published,
        "published_at_from": "meta/jsonld" if published else None,
        "modified_at": modified,
        "modified_at_from": "meta/jsonld" if modified else None,
        "section": meta(doc, "article:section"),
        "tags": meta_all(doc, "article:tag"),
        "language": (doc.get("lang") or "").split("-")[0] or None,
        "description": meta(doc, "description") or meta(doc, "og:description"),
        "body": "\n\n".join(paragraphs),
        "image_url": meta(doc, "og:image"),
        "image_caption": None,
        "image_credits": None,
        "related_urls": [],
    }
