"""The sources file: one TOML entry per site (see sources/demo.toml and sources/live.toml)."""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spiders.urls import SiteScope

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES = REPO_ROOT / "sources" / "demo.toml"

# Politeness keys a source may override, and the Scrapy setting each one sets. Anything else is
# refused: a typo must not silently leave a crawl at the defaults, and robots.txt is not optional.
POLITENESS_SETTINGS = {
    "download_delay": "DOWNLOAD_DELAY",
    "autothrottle": "AUTOTHROTTLE_ENABLED",
    "concurrent_requests_per_domain": "CONCURRENT_REQUESTS_PER_DOMAIN",
    "download_timeout": "DOWNLOAD_TIMEOUT",
    "retry_times": "RETRY_TIMES",
    "user_agent": "USER_AGENT",
}


log = logging.getLogger(__name__)

# Keys older sources files use: still read, with a warning, never an error. `spider` has one
# value left ("news"); The Moscow Times' news and monthly sitemaps are plain `sitemaps` now.
RETIRED = {"newsmap": "list it under 'sitemaps'", "sitemap_index": "list it under 'sitemaps'"}
RETIRED_SPIDERS = {"moscowtimes"}

DEFAULT_MAX_URLS = 5000
DEFAULT_MAX_SITEMAP_DEPTH = 3


class SourceConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Source:
    name: str
    spider: str
    feeds: tuple[str, ...] = ()
    newsmap: str | None = None
    sitemap_index: str | None = None
    replica: bool = False
    replica_now: datetime | None = None
    # Route the site's hosts to an already running server (tests: fault servers, dead ports)
    # instead of starting the bundled replica.
    replica_addr: str | None = None
    politeness: dict[str, Any] = field(default_factory=dict)
    # Generic sources (spider "news"): discovery inputs besides `feeds`, and their bounds.
    sitemaps: tuple[str, ...] = ()
    home: str | None = None
    timezone: str = "UTC"  # IANA name for dates a site gives without an offset
    allowed_domains: tuple[str, ...] = ()  # empty: derived from the hosts of the URLs above
    max_urls: int = DEFAULT_MAX_URLS
    max_sitemap_depth: int = DEFAULT_MAX_SITEMAP_DEPTH

    @property
    def discovery_urls(self) -> tuple[str, ...]:
        """Every configured feed, sitemap and home page URL."""
        extra = (self.newsmap, self.sitemap_index, self.home)
        return (*self.feeds, *self.sitemaps, *(u for u in extra if u))

    def scrapy_settings(self) -> dict[str, Any]:
        return {POLITENESS_SETTINGS[k]: v for k, v in self.politeness.items()}

    @property
    def mode(self) -> str:
        return "replica" if self.replica or self.replica_addr else "live"


def _source(entry: dict[str, Any], path: Path) -> Source:
    where = f"{path}: source {entry.get('name', '?')!r}"
    for required in ("name", "spider"):
        if not isinstance(entry.get(required), str) or not entry[required]:
            raise SourceConfigError(f"{where}: '{required}' is required")
    known = {"name", "spider", "feeds", "newsmap", "sitemap_index", "replica", "replica_now",
             "replica_addr", "politeness", "sitemaps", "home", "timezone", "allowed_domains",
             "max_urls", "max_sitemap_depth"}
    unknown = set(entry) - known
    if unknown:
        raise SourceConfigError(f"{where}: unknown keys {sorted(unknown)}")
    politeness = dict(entry.get("politeness", {}))
    bad = set(politeness) - set(POLITENESS_SETTINGS)
    if bad:
        raise SourceConfigError(
            f"{where}: unknown politeness keys {sorted(bad)}; "
            f"allowed: {sorted(POLITENESS_SETTINGS)}"
        )
    now = entry.get("replica_now")
    if isinstance(now, str):
        now = datetime.fromisoformat(now)
    if now is not None and (not isinstance(now, datetime) or now.tzinfo is None):
        raise SourceConfigError(f"{where}: replica_now must be a datetime with an offset")
    spider = entry["spider"]
    if spider in RETIRED_SPIDERS:
        log.warning("%s: spider = %r is retired; crawled as spider = \"news\"", where, spider)
        spider = "news"
    for key in sorted(set(entry) & set(RETIRED)):
        log.warning("%s: '%s' is retired (%s); read as a sitemap for now", where, key,
                    RETIRED[key])
    generic = _generic({**entry, "spider": spider}, where)
    return Source(
        name=entry["name"],
        spider=spider,
        feeds=tuple(entry.get("feeds", ())),
        newsmap=entry.get("newsmap"),
        sitemap_index=entry.get("sitemap_index"),
        replica=bool(entry.get("replica", False)),
        replica_now=now,
        replica_addr=entry.get("replica_addr"),
        politeness=politeness,
        **generic,
    )


def _url_list(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SourceConfigError(f"{where}: '{key}' must be a list of URLs")
    for url in value:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise SourceConfigError(f"{where}: '{key}' holds {url!r}, not an http(s) URL")
    return tuple(value)


def _non_negative_int(entry: dict[str, Any], key: str, default: int, where: str) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SourceConfigError(f"{where}: '{key}' must be a non-negative integer")
    return value


def _generic(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """The keys of generic sources, checked: a bad value must fail at load, not mid-crawl."""
    home = entry.get("home")
    if home is not None:
        _url_list({"home": [home]}, "home", where)
    timezone = entry.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise SourceConfigError(f"{where}: timezone {timezone!r} is not an IANA zone") from None
    domains = entry.get("allowed_domains", [])
    if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
        raise SourceConfigError(f"{where}: 'allowed_domains' must be a list of hosts")
    try:  # host, host:port or a URL; scheme and www. do not change the site
        scope = SiteScope(domains)
    except ValueError as exc:
        raise SourceConfigError(f"{where}: 'allowed_domains': {exc}") from None
    values = {
        "sitemaps": _url_list(entry, "sitemaps", where),
        "home": home,
        "timezone": timezone,
        "allowed_domains": scope.entries,
        "max_urls": _non_negative_int(entry, "max_urls", DEFAULT_MAX_URLS, where),
        "max_sitemap_depth": _non_negative_int(entry, "max_sitemap_depth",
                                           DEFAULT_MAX_SITEMAP_DEPTH, where),
    }
    feeds = entry.get("feeds", [])
    if entry.get("spider") == "news":  # the Moscow Times spider has always taken feeds as given
        feeds = list(_url_list(entry, "feeds", where))
    configured = [*feeds, *values["sitemaps"],
                  *filter(None, (home, entry.get("newsmap"), entry.get("sitemap_index")))]
    if entry.get("spider") == "news" and not configured:
        raise SourceConfigError(f"{where}: a news source needs feeds, sitemaps or home")
    for url in configured if scope.entries else ():
        # Offsite filtering would drop a configured URL silently; refuse the config instead.
        if url not in scope:
            raise SourceConfigError(
                f"{where}: {url!r} is outside allowed_domains {list(scope.entries)}")
    return values


def load_sources(path: str | Path = DEFAULT_SOURCES) -> dict[str, Source]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceConfigError(f"sources file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SourceConfigError(f"{path}: not valid TOML: {exc}") from None
    sources: dict[str, Source] = {}
    for entry in data.get("source", []):
        src = _source(entry, path)
        if src.name in sources:
            raise SourceConfigError(f"{path}: source {src.name!r} is defined twice")
        sources[src.name] = src
    if not sources:
        raise SourceConfigError(f"{path}: no [[source]] entries")
    return sources


def source_names(path: str | Path = DEFAULT_SOURCES) -> list[str]:
    return list(load_sources(path))
