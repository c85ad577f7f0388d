"""What the one news spider may know about a particular site, beyond its sources entry.

A site parser module (spiders/sites/<name>.py, chosen by host as extraction chooses it) may
offer, as plain module attributes:
- `site_id(url)`: the site's own article id from a URL (the article's identity before fetching);
- `url_date(url)`: the publication day an article URL carries (a listing date for archive
  sitemaps that list bare URLs);
- `CHANGE_FEED`: a feed that carries each recent article's full body; a hash of that body is the
  article's change signal (a site whose lastmod cannot be trusted). It is read as one more feed.
Everything else is the generic spider's business; a site without a parser has no hooks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from types import ModuleType

import lxml.html
from lxml import etree

from contracts.urls import listing_key
from spiders import discovery as disc
from spiders.extract import site_for

BODY_SIGNAL = "rss-body"  # the kind of a change-feed signal: "rss-body:<32 hex>"


@dataclass(frozen=True)
class SiteHooks:
    site_id: Callable[[str], str | None] = lambda url: None
    url_date: Callable[[str], date | None] = lambda url: None
    change_feeds: tuple[str, ...] = ()


NONE = SiteHooks()


def hooks_for(urls: Iterable[str]) -> SiteHooks:
    """The hooks of the site parser the first of `urls` with one belongs to (none otherwise)."""
    for url in urls:
        site = site_for(url)
        if site is not None:
            return _from_module(site)
    return NONE


def _from_module(site: ModuleType) -> SiteHooks:
    feed = getattr(site, "CHANGE_FEED", None)
    return SiteHooks(
        site_id=getattr(site, "site_id", NONE.site_id),
        url_date=getattr(site, "url_date", NONE.url_date),
        change_feeds=(feed,) if feed else (),
    )


def body_signals(body: bytes, url: str) -> dict[str, str]:
    """{article URL: "rss-body:<hash>"} from a full-body feed: the hash of each item's body text
    (whitespace collapsed), so a corrected article shows up as a new signal."""
    root = disc.parse_xml(body, url).root
    signals: dict[str, str] = {}
    for item in root.iter():
        if not isinstance(item.tag, str) or etree.QName(item).localname != "item":
            continue
        link = _child_text(item, "link")
        if not link:
            continue
        html = _child_text(item, "description") or ""
        text = " ".join(lxml.html.fragment_fromstring(html, create_parent="div")
                        .text_content().split()) if html.strip() else ""
        digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        signals[listing_key(link)] = f"{BODY_SIGNAL}:{digest}"
    return signals


def _child_text(el: etree._Element, name: str) -> str | None:
    for child in el:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return (child.text or "").strip()
    return None
