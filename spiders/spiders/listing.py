"""What discovery says about a listed URL, and the change signals compared across nights.

Pure functions and small records (no Scrapy): the spider in news.py collects a Listing per URL
over every feed and sitemap, then decides from it and the crawl memory what to fetch.

Change signals are strings "<kind>:<value>". Kinds, strongest first:
- "rss-body": a hash of the article's full body in a change feed (spiders/spiders/hooks.py);
- "lastmod" / "updated": the latest modification time a sitemap or feed offers (one family:
  only the time is compared, not where it was read);
- "listed": the publication date the listing gives, when it offers nothing else; a changed
  listing date means the site republished the URL. A day-only value equals every time of it.
Two signals are compared only within one family; a stronger one replaces a weaker or missing
stored one as the baseline, without a fetch (nothing says the page changed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from spiders import discovery as disc

SignalKind = Literal["lastmod", "updated"]  # sitemap <lastmod>; a feed entry's modification date
_FAMILY = {"lastmod": "time", "updated": "time", "listed": "listed", "rss-body": "body"}
_STRENGTH = {"body": 3, "time": 2, "listed": 1}

# Host prefixes that name a service of the site rather than the site: feeds on feeds.example.com
# still link articles on www.example.com.
_SERVICE_PREFIXES = ("www.", "feeds.", "feed.", "rss.", "static.", "sitemap.", "sitemaps.",
                     "m.", "amp.", "news.")


@dataclass(frozen=True)
class Hint:
    """What a feed or sitemap said about a URL, used when the page itself is silent."""

    published: disc.Stamp | None = None
    origin: str | None = None  # where `published` was read, e.g. "sitemap:news:publication_date"
    title: str | None = None
    keywords: tuple[str, ...] = ()
    language: str | None = None


# How far a listing places a URL in the window: a publication date inside it, no date that rules
# it out, or outside it (then only a changed known article is fetched).
RANK = {disc.Verdict.IN: 2, disc.Verdict.MAYBE: 1, disc.Verdict.OUT: 0}


def precision(stamp: disc.Stamp | None) -> int:
    """2 for an exact time, 1 for a day, 0 for nothing: an exact listing beats a day-only one."""
    if stamp is None:
        return 0
    return 2 if isinstance(stamp, datetime) else 1


@dataclass
class Listing:
    """Everything discovery said about one URL (by url_key), over all documents that list it."""

    url: str  # without tracking parameters
    order: int  # first listed; ties in rank keep discovery order
    rank: int
    hint: Hint
    changes: set[tuple[SignalKind, disc.Stamp]] = field(default_factory=set)

    def merge(self, rank: int, hint: Hint) -> None:
        """Another document lists the URL: the most exact publication date decides the rank;
        between equally exact ones the surer rank (listings that disagree are read inclusively),
        then the earlier date, so the choice never depends on which document answered first."""
        new, old = precision(hint.published), precision(self.hint.published)
        if (new, rank) != (old, self.rank):
            if new > old or (new == old and rank > self.rank):
                self.rank, self.hint = rank, hint
        elif new and _sort_key(hint.published) < _sort_key(self.hint.published):
            self.hint = hint


def _sort_key(stamp: disc.Stamp | None) -> tuple[str, str]:
    """Stamps of one precision in order (naive and aware times alike, by their wall clock and
    offset text: close enough to pick one of two disagreeing listings the same way each night)."""
    return (stamp.isoformat(), "") if stamp is not None else ("", "")


def change_signal(changes: Iterable[tuple[SignalKind, disc.Stamp]], tz: Any) -> str | None:
    """The latest modification date offered, e.g. "lastmod:2023-04-28T20:00:00+00:00".

    Naive times are read in `tz` and written in UTC; a date alone is written as a date (and is
    later than every time of its local day). Equal times prefer the sitemap's lastmod."""
    best: tuple[datetime, int, str] | None = None
    for kind, stamp in changes:
        if isinstance(stamp, datetime):
            when = disc.localize(stamp, tz).astimezone(UTC)
            key, text = when, when.isoformat()
        else:
            key, text = disc.span(stamp, tz)[1], stamp.isoformat()
        candidate = (key, kind == "lastmod", f"{kind}:{text}")
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best else None


def listed_signal(published: disc.Stamp | None, tz: tzinfo) -> str | None:
    """The listing's publication date as a signal, in the source's local time (so its first ten
    characters are the local day a day-only listing would give)."""
    if published is None:
        return None
    if isinstance(published, datetime):
        return "listed:" + disc.localize(published, tz).astimezone(tz).isoformat()
    return "listed:" + published.isoformat()


def signal_value(signal: str) -> str:
    """What is compared: the time of a lastmod/updated signal, whichever document gave it."""
    kind, sep, value = signal.partition(":")
    return value if sep and kind in ("lastmod", "updated") else signal


def family(signal: str) -> str:
    kind = signal.partition(":")[0]
    return _FAMILY.get(kind, kind)


Decision = Literal["changed", "same", "rebaseline"]


def compare(now: str | None, stored: str | None) -> Decision:
    """What tonight's signal says about a URL judged before (see the module doc)."""
    if now is None:
        return "same"  # nothing says it changed
    if stored is None:
        return "rebaseline"
    if family(now) != family(stored):
        stronger = _STRENGTH.get(family(now), 0) > _STRENGTH.get(family(stored), 0)
        return "rebaseline" if stronger else "same"
    if family(now) == "listed":
        a, b = now.partition(":")[2], stored.partition(":")[2]
        if len(a) == 10 or len(b) == 10:  # a day-only listing: compare the days
            a, b = a[:10], b[:10]
        return "same" if a == b else "changed"
    return "same" if signal_value(now) == signal_value(stored) else "changed"


def derive_allowed_domains(urls: Iterable[str]) -> list[str]:
    """The sites of a source's configured URLs: host (without service prefixes such as `www.`,
    `feeds.`, `static.`) and port, e.g. ["example.com", "127.0.0.1:8080"]."""
    from urllib.parse import urlsplit

    from spiders.middlewares import ip_literal
    from spiders.urls import site_entry

    domains: list[str] = []
    for url in urls:
        entry = site_entry(url)
        host = (urlsplit(url).hostname or "").lower()
        if ip_literal(host) is None:
            for prefix in _SERVICE_PREFIXES:
                if entry.startswith(prefix) and host.count(".") >= 2:
                    entry = entry[len(prefix):]
                    break
        if entry not in domains:
            domains.append(entry)
    return domains

