"""One extraction entry point for every spider: the site's own parser first, generic otherwise.

`extract(html, url, timezone=...)` returns the crawl fields of the Article schema (etl/schema.py)
or raises spiders.htmltools.NotAnArticle with a reason. A site parser (spiders/sites/<name>.py,
listed in SITE_PARSERS) is chosen by the URL's host; every other page goes through the generic
extractor (spiders/generic), which reads JSON-LD, meta tags and the visible page for metadata and
one trafilatura run (or the JSON-LD articleBody) for the body.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from spiders import generic
from spiders.sites import moscowtimes, theguardian

# Site parsers, chosen by host (a module's ALLOWED_DOMAINS and their subdomains). Each is a
# module with NAME, HOSTS, ALLOWED_DOMAINS, TIMEZONE, site_id(url) and parse(html, url).
SITE_PARSERS: tuple[ModuleType, ...] = (moscowtimes, theguardian)


def site_for(url: str) -> ModuleType | None:
    """The site parser for a URL's host (the host or any subdomain of an allowed domain)."""
    host = (urlsplit(url).hostname or "").lower()
    for site in SITE_PARSERS:
        if any(host == h or host.endswith("." + h) for h in site.ALLOWED_DOMAINS):
            return site
    return None


def extract(html: str, url: str, *, timezone: str | None = None) -> dict[str, Any]:
    """The article on a page. `timezone` (IANA) resolves dates given without a UTC offset on the
    generic path; a site parser knows its own zone (its TIMEZONE) and ignores it."""
    site = site_for(url)
    if site is not None:
        return site.parse(html, url)
    return generic.extract(html, url, timezone=timezone)


def generic_extract(html: str, url: str, *, timezone: str | None = None) -> dict[str, Any]:
    """The generic extractor alone, whatever the host (benchmarks, tests, new-site trials)."""
    return generic.extract(html, url, timezone=timezone)
