"""Publication and modification times, with where each was read.

Evidence in order: the JSON-LD article, then meta tags, microdata, <time datetime> in the
article, and the date in the URL. A page with none of these gets no date here: the core's floor
(floor.py) then takes htmldate's reading of the visible page, once, lazily (so htmldate is not
run twice, and not at all where the page states its date).

A value that carries a UTC offset keeps it (the page's own offset). A value without one is a
wall-clock time in an unknown zone, resolved with the caller's IANA `timezone` (provenance
suffixed "+assumed_tz"), or as UTC ("+assumed_utc") when no timezone was given; only then, a later
candidate stating the same minute with an offset lends its offset. A bare date is midnight of that
day, resolved the same way, unless a later candidate gives a full time on that day.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import timezone as fixed_offset
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError

from contracts.dates import parse_iso
from spiders.generic.page import Page

_PUBLISHED_META = ("article:published_time", "og:article:published_time", "datepublished",
                   "itemprop:datepublished",
                   "published_time", "article_published_time", "parsely-pub-date",
                   "cxenseparse:publishtime", "pubdate", "publishdate", "publish-date",
                   "publish_date", "pub_date", "date.available", "dc.date.issued",
                   "dcterms.issued", "citation_publication_date", "prism.publicationdate",
                   "dc.date", "date", "published", "sailthru.date", "date.created",
                   "datecreated")
_MODIFIED_META = ("article:modified_time", "og:article:modified_time", "datemodified",
                  "itemprop:datemodified",
                  "og:updated_time", "modified_time", "article_modified_time",
                  "last_updated_date", "date.modified", "dcterms.modified",
                  "cxenseparse:modified_time", "lastmod")
_URL_DATE = re.compile(r"/(20\d\d|19\d\d)[/-](0[1-9]|1[0-2])[/-](0[1-9]|[12]\d|3[01])(?:/|-|$)")
_ISOISH = re.compile(
    r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{1,2}:\d{2}(?::\d{1,2}(?:[.,]\d{1,9})?)?))?\s*"
    r"(Z|UTC|GMT|[+-]\d{2}:?\d{2}|[+-]\d{2})?$", re.IGNORECASE)
_EPOCH = re.compile(r"^\d{10}(?:\d{3})?$")


def zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_datetime(raw: str | None) -> tuple[datetime | None, bool]:
    """(value, naive): an ISO-like timestamp, a bare date or epoch seconds/milliseconds.
    Naive values come back naive; the caller decides which zone they are in."""
    if not raw or not isinstance(raw, str):
        return None, False
    value = raw.strip()
    if _EPOCH.match(value):
        seconds = int(value) / (1000 if len(value) == 13 else 1)
        if 946684800 <= seconds <= 4102444800:  # 2000 .. 2100: anything else is not a date
            return datetime.fromtimestamp(seconds, UTC), False
        return None, False
    m = _ISOISH.match(value)
    if not m:
        return None, False
    day, clock, offset = m.groups()
    if clock:  # one-digit hours and seconds ('9:05', '23:15:0') are padded
        clock = re.sub(r"(?<![\d.])(\d)(?=:|\.|$)", r"0\1", clock.replace(",", "."))
    text = day + ("T" + clock if clock else "")
    if offset:
        offset = offset.upper()
        if offset in ("Z", "UTC", "GMT"):
            offset = "+00:00"
        elif len(offset) == 3:
            offset += ":00"
        text += offset
    parsed = parse_iso(text)
    if parsed is None:
        return None, False
    if not 1990 <= parsed.year <= 2100:
        return None, False
    return parsed, parsed.tzinfo is None


def _candidates(page: Page, which: str) -> Iterator[tuple[str, str]]:
    """(provenance, raw value) in order of evidence."""
    keys = ("datePublished", "dateCreated") if which == "published" else ("dateModified",)
    for key in keys:
        value = page.article.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str):
            yield f"jsonld:{key}", value
    for key in _PUBLISHED_META if which == "published" else _MODIFIED_META:
        for value in page.metas.get(key) or page.valued.get(key, ()):
            yield f"meta:{key}", value
    prop = "datePublished" if which == "published" else "dateModified"
    for el in page.doc.xpath(f'//*[@itemprop="{prop}"][not(self::meta)]'):
        value = el.get("datetime") or el.get("content")
        if value:
            yield f"microdata:{prop}", value
    if which == "published":
        # A <time> in an embedded post (blockquote) or a sidebar/nav/footer dates something else.
        own = "[not(ancestor::blockquote or ancestor::aside or ancestor::nav or ancestor::footer)]"
        times = page.doc.xpath(f"//article//time[@datetime]{own} | //time[@pubdate][@datetime]")
        if not times:
            times = page.doc.xpath(f"//time[@datetime]{own}")[:1]
        for el in times[:3]:
            yield "time[datetime]", el.get("datetime", "")
        m = _URL_DATE.search(urlsplit(page.url).path)
        if m:
            yield "url", "-".join(m.groups())


# Country-code domains that are sold as generic names (.io, .tv, .co ...): no country's zone.
_GENERIC_CCTLDS = frozenset("ac ai am cc co fm gg io la ly me nu sh so st tk to tv ws".split())


@lru_cache(maxsize=1)
def _country_zones() -> dict[str, tuple[str, ...]]:
    """ISO country code -> its IANA zones, from the tz database's zone.tab ({} if absent)."""
    texts = []
    with contextlib.suppress(ImportError, OSError):
        from importlib.resources import files

        texts.append(files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8"))
    for root in TZPATH:
        with contextlib.suppress(OSError):
            texts.append(Path(root, "zone.tab").read_text("utf-8"))
    zones: dict[str, list[str]] = {}
    for line in (texts[0] if texts else "").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and not line.startswith("#"):
            zones.setdefault(parts[0], []).append(parts[2])
    return {code: tuple(names) for code, names in zones.items()}


def _site_zones(url: str, tz_name: str | None) -> list[ZoneInfo]:
    """The zone(s) the site's pages live in: the caller's, else its country-code domain's."""
    given = zone(tz_name)
    if given is not None:
        return [given]
    host = (urlsplit(url).hostname or "").rstrip(".")
    tld = host.rsplit(".", 1)[-1] if "." in host else ""
    if len(tld) != 2 or not tld.isalpha() or tld in _GENERIC_CCTLDS:
        return []
    return [z for z in map(zone, _country_zones().get("GB" if tld == "uk" else tld.upper(), ()))
            if z is not None]


def _shown_locally(value: datetime, url: str, tz_name: str | None) -> datetime | None:
    """A time stamped in UTC as the site's own clock shows it (the same instant): in the
    caller's zone, else in its country's when all the country's zones agree on the day (the
    offset shown is the middle one of the country's)."""
    zones = _site_zones(url, tz_name)
    local = [value.astimezone(z) for z in zones]
    if not local or len({t.date() for t in local}) != 1:
        return None
    offsets = sorted(t.utcoffset() or timedelta(0) for t in local)
    offset = offsets[len(offsets) // 2]  # the middle of the country's offsets
    if not offset:
        return None
    return value.astimezone(fixed_offset(offset))


def _resolve(value: datetime, where: str, tz: ZoneInfo | None) -> tuple[datetime, str]:
    if tz is not None:
        # fold=0: an ambiguous wall-clock time (DST fall-back) takes the first occurrence.
        local = value.replace(tzinfo=tz)
        offset = local.utcoffset() or timedelta(0)
        return value.replace(tzinfo=fixed_offset(offset)), f"{where}+assumed_tz"
    return value.replace(tzinfo=UTC), f"{where}+assumed_utc"


def find(page: Page, which: str, tz_name: str | None = None
         ) -> tuple[datetime | None, str | None]:
    """The publication ("published") or modification ("modified") time and its provenance."""
    naive: tuple[datetime, str, bool] | None = None  # (value, provenance, date only)
    for where, raw in _candidates(page, which):
        value, is_naive = parse_datetime(raw)
        if value is None:
            continue
        if not is_naive:
            if naive is None:
                if value.utcoffset() == timedelta(0):
                    # A 'Z' stamp is the server's clock, not the page's: the same instant
                    # shown in the site's zone, when it is known, dates it as readers see it.
                    shown = _shown_locally(value, page.url, tz_name)
                    if shown is not None:
                        return shown, f"{where}+site_tz"
                return value, where
            first, _, date_only = naive
            # The first evidence had no offset. A bare date gives way to a full time on that
            # day. A full wall-clock time takes this candidate's offset only when the caller
            # named no timezone and it is the same minute (the same statement with its zone);
            # with a timezone, the operator's zone decides (CMSs also stamp local time 'Z').
            local = value.replace(tzinfo=None)
            if date_only and local.date() == first.date():
                return value, where
            if tz_name is None and not date_only and \
                    local.replace(second=0, microsecond=0) == first.replace(second=0,
                                                                           microsecond=0):
                return value, where
            continue
        if naive is None:
            naive = (value, where, len(raw.strip()) <= 10)
    if naive is None:
        return None, None
    return _resolve(naive[0], naive[1], zone(tz_name))
