"""The generic extraction pipeline: parse once, read metadata, the body, then the verdict.

Every field has a floor: what trafilatura itself would answer on the same tree (floor.py). A
field is taken from a more precise source when the page has one (JSON-LD, meta tags, a visible
byline or <time>: metadata.py, authors.py, dates.py) and from the floor otherwise; `*_from`
says which. A page is refused only when it has nothing to extract (pagekind.verdict); the
record is then still returned whole, with `reject_reason` set. Nothing here raises on a page.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from datetime import timezone as fixed_offset
from typing import Any

import spiders.generic.metadata as metadata
from spiders.generic.authors import authors as page_authors
from spiders.generic.authors import split_byline
from spiders.generic.body import extract_body, title_keys
from spiders.generic.dates import find as find_date
from spiders.generic.dates import zone
from spiders.generic.floor import Floor
from spiders.generic.page import load
from spiders.generic.pagekind import link_text, verdict, word_count
from spiders.htmltools import NotAnArticle, text

log = logging.getLogger(__name__)

# Where a date is stated by the publisher for this article (not guessed from the URL).
_PRECISE_DATE = ("jsonld:", "meta:", "microdata:", "time[datetime]")


def empty_record(url: str) -> dict[str, Any]:
    return {
        "site_id": None, "url": url, "title": None, "title_from": None, "subtitle": None,
        "authors": [], "authors_from": None, "published_at": None, "published_at_from": None,
        "modified_at": None, "modified_at_from": None, "section": None, "tags": [],
        "language": None, "description": None, "body": "", "body_from": None,
        "image_url": None, "image_caption": None, "image_credits": None, "related_urls": [],
        "reject_reason": None,
    }


def _day(value: str, tz_name: str | None) -> tuple[datetime, str]:
    """htmldate's day as midnight in the operator's zone (else UTC), saying so."""
    day = datetime.fromisoformat(value[:10])
    tz = zone(tz_name)
    if tz is not None:
        offset = day.replace(tzinfo=tz).utcoffset() or timedelta(0)
        return day.replace(tzinfo=fixed_offset(offset)), "htmldate+assumed_tz"
    return day.replace(tzinfo=UTC), "htmldate+assumed_utc"


_CALENDAR = re.compile(
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|"
    r"sept|oct|nov|dec)[a-z]*\.?\s+\d|\b(?:january|february|march|april|june|july|august|"
    r"september|october|november|december)\b", re.IGNORECASE)


# Words of 3+ letters; in Chinese, Japanese and Korean, where words are not spaced, characters.
_CJK_CHARS = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af"
_TITLE_WORD = re.compile(rf"[{_CJK_CHARS}]|[^\W\d_{_CJK_CHARS}]{{3,}}")


def _same_story(h1: str, ours: str) -> bool:
    """An <h1> that is another wording of our headline shares some of its words; one that
    shares none is a logo, a section name or a widget's heading ('Follow us on Twitter')."""
    a = {w.casefold() for w in _TITLE_WORD.findall(h1)}
    b = {w.casefold() for w in _TITLE_WORD.findall(ours)}
    if not a or not b:
        return True  # digits or short words only: nothing to compare
    return len(a & b) >= 2 or len(a & b) >= 0.5 * min(len(a), len(b))


def _title(page, floor: Floor) -> tuple[str | None, str | None]:
    """Ours (JSON-LD headline, og:title, <h1> ...), unless trafilatura's title is the headline
    as the page shows it: the text of an <h1> that tells the same story (social and JSON-LD
    headlines are often another wording)."""
    ours = metadata.title(page)
    if not ours:
        return floor.title, "trafilatura" if floor.title else None
    other_h1 = {text(h) for h in page.doc.iter("h1")} - {ours, ""}
    if not other_h1:
        return ours, "page"  # the rule cannot apply: spare trafilatura's JSON-LD pass
    theirs = floor.title
    if theirs and theirs != ours and theirs in other_h1 and _same_story(theirs, ours):
        return theirs, "trafilatura+h1"
    return ours, "page"


def _floor_authors(floor: Floor) -> list[str]:
    """trafilatura's authors, when the page gave us no credit of its own, through the same
    normalisation as ours; a lone Latin word (a handle: 'Steventroughtonsmith') or a name
    with a date in it ('Joe Wee Monday') is dropped rather than invented."""
    names = [n for raw in floor.authors for n in split_byline(raw, whole=True)]
    return [n for n in names if not _CALENDAR.search(n) and
            (len(n.split()) >= 2 or word_count(n) >= 2)]


def _published(page, floor: Floor, tz_name: str | None) -> tuple[datetime | None, str | None]:
    value, where = find_date(page, "published", tz_name)
    if value is not None and where and where.startswith(_PRECISE_DATE):
        return value, where
    day = floor.day  # no statement of ours: htmldate's reading of the page (as trafilatura's)
    if day and not (value is not None and value.date().isoformat() == day[:10]):
        try:
            return _day(day, tz_name)
        except ValueError:
            pass
    return value, where


def extract(html: str, url: str, *, timezone: str | None = None) -> dict[str, Any]:
    """One article record (the crawl fields of contracts/schema.py, without crawled_at, plus the
    `*_from` provenance fields and `reject_reason`).

    `timezone` (IANA) resolves dates the page gives without a UTC offset; without it they are
    read as UTC. Either way the provenance says so ("...+assumed_tz" / "...+assumed_utc").
    """
    record = empty_record(url)
    try:
        page = load(html, url)
    except NotAnArticle as exc:
        record["reject_reason"] = f"not_article: {exc}"
        return record
    floor = Floor(page.doc, url)

    record["title"], record["title_from"] = _title(page, floor)
    title = record["title"] or ""
    canonical = metadata.canonical_url(page)
    published, published_from = _published(page, floor, timezone)
    modified, modified_from = find_date(page, "modified", timezone)
    image_url, image_caption, image_credits = metadata.image(page)
    lead = metadata.standfirst(page, title) if title else None
    names, names_from = page_authors(page), "page"
    if not names:
        names, names_from = _floor_authors(floor), "trafilatura"
    page.link_text = link_text(page)
    record.update({
        "url": canonical,
        "subtitle": metadata.subtitle(page, title, lead),
        "authors": names,
        "authors_from": names_from if names else None,
        "published_at": published,
        "published_at_from": published_from,
        "modified_at": modified,
        "modified_at_from": modified_from,
        "section": metadata.section(page),
        "tags": metadata.tags(page),
        "language": metadata.language(page),
        "description": metadata.description(page),
        "image_url": image_url,
        "image_caption": image_caption,
        "image_credits": image_credits,
        "related_urls": metadata.related_urls(page, canonical),
    })
    paragraphs, record["body_from"] = extract_body(
        page, title_keys(page, title), names, standfirst=lead)
    record["body"] = "\n\n".join(paragraphs)
    refusal = verdict(page, paragraphs, title)
    if refusal:
        record["reject_reason"] = f"not_article: {refusal}"
    return record
