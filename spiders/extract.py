"""One extraction entry point for every spider: the site's own parser first, generic otherwise.

`extract(html, url, timezone=...)` returns the crawl fields of the Article schema
(contracts/schema.py) and never raises on a page: a page with nothing to extract comes back
with `reject_reason` set
("not_article: no body (3 words)"), which the crawl turns into a reject row. A site parser
(spiders/sites/<name>.py, listed in SITE_PARSERS) is chosen by the URL's host; when it does not
recognise the page (a new layout), or for any other host, the generic extractor (spiders/generic)
reads it: trafilatura's answers as the floor, replaced where the page states a field precisely.
See docs/extraction.md.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from spiders import generic
from spiders.htmltools import NotAnArticle
from spiders.sites import moscowtimes

log = logging.getLogger(__name__)

# Site parsers, chosen by host (a module's ALLOWED_DOMAINS and their subdomains). Each is a
# module with NAME, HOSTS, ALLOWED_DOMAINS, TIMEZONE, site_id(url) and parse(html, url), and
# each must beat the generic path on its site's pages (bench/extraction.py --extractor generic;
# docs/extraction.md): the Guardian's did not (equal on its 2016, 2019 and 2024 pages) and went.
SITE_PARSERS: tuple[ModuleType, ...] = (moscowtimes,)


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
    site = site_for(url or "")
    if site is not None:
        try:
            return site.parse(html, url)
        except NotAnArticle as exc:
            # The site's layout changed (or the page is not its kind): the generic path decides.
            log.info("%s parser declined %s (%s): generic extraction", site.NAME, url, exc)
        except Exception:
            log.exception("%s parser failed on %s: generic extraction", site.NAME, url)
    return generic_extract(html, url, timezone=timezone)


def generic_extract(html: str, url: str, *, timezone: str | None = None) -> dict[str, Any]:
    """The generic extractor alone, whatever the host (benchmarks, tests, new-site trials).
    Never raises on a page: an extractor bug becomes a refusal that says so."""
    try:
        return generic.extract(html, url or "", timezone=timezone)
    except Exception as exc:
        log.exception("generic extraction failed on %s", url)
        record = generic.empty_record(url or "")
        record["reject_reason"] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
        return record
