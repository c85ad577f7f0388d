"""The generic extraction pipeline: parse once, read metadata, check the page kind, then body."""

from __future__ import annotations

from typing import Any

from spiders.generic import authors, body, dates, metadata, pagekind
from spiders.generic.page import load
from spiders.htmltools import NotAnArticle


def extract(html: str, url: str, *, timezone: str | None = None) -> dict[str, Any]:
    """One article record (the crawl fields of etl/schema.py, without crawled_at).

    `timezone` (IANA) resolves dates the page gives without a UTC offset; without it they are
    read as UTC. Either way the provenance says so ("...+assumed_tz" / "...+assumed_utc").
    Raises NotAnArticle for pages that are not articles.
    """
    page = load(html, url)
    pagekind.check_page(page)

    # Everything read from the tree happens before the body: trafilatura prunes it in place.
    title = metadata.title(page)
    if not title:
        raise NotAnArticle("no headline")
    canonical = metadata.canonical_url(page)
    published, published_from = dates.find(page, "published", timezone)
    modified, modified_from = dates.find(page, "modified", timezone)
    image_url, image_caption, image_credits = metadata.image(page)
    lead = metadata.standfirst(page, title)
    names = authors.authors(page)
    prose = body.prose_words(page.doc)
    titles = body.title_keys(page, title)
    record: dict[str, Any] = {
        "site_id": None,
        "url": canonical,
        "title": title,
        "subtitle": metadata.subtitle(page, title, lead),
        "authors": names,
        "published_at": published,
        "published_at_from": published_from,
        "modified_at": modified,
        "modified_at_from": modified_from,
        "section": metadata.section(page),
        "tags": metadata.tags(page),
        "language": metadata.language(page),
        "description": metadata.description(page),
        "body": "",
        "image_url": image_url,
        "image_caption": image_caption,
        "image_credits": image_credits,
        "related_urls": metadata.related_urls(page, canonical),
    }
    paragraphs = body.extract_body(page, titles, names, standfirst=lead, prose=prose)
    pagekind.check_body(page, paragraphs)
    record["body"] = "\n\n".join(paragraphs)
    return record
