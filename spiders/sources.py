"""The sources file: one TOML `[[source]]` entry per site (sources/demo.toml, sources/live.toml,
docs/adding-a-site.md).

The whole file is checked when it is loaded, before anything runs: every problem is reported at
once, each on one line naming the file, the source and the key ("sources.toml: source 'metro',
key 'feed': unknown key; did you mean 'feeds'?"). A retired key only warns, so files that once
worked keep working.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import re
import socket
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.dates import parse_iso
from spiders.urls import SiteScope

log = logging.getLogger(__name__)


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
# The type each politeness value must have (a string "1.0" would reach Scrapy and fail there).
_POLITENESS_TYPES: dict[str, tuple[type, ...]] = {
    "download_delay": (int, float), "autothrottle": (bool,),
    "concurrent_requests_per_domain": (int,), "download_timeout": (int, float),
    "retry_times": (int,), "user_agent": (str,),
}

SPIDERS = ("news",)  # the `spider` values the crawl knows
# `spider` values older files use: read as "news", with a warning (one crawl path since).
RETIRED_SPIDERS = ("moscowtimes",)
KEYS = ("name", "spider", "home", "feeds", "sitemaps", "timezone", "allowed_domains",
        "max_urls", "max_sitemap_depth", "politeness",
        # the demo's Moscow Times entry and test routing
        "newsmap", "sitemap_index", "replica", "replica_now", "replica_addr")
# Keys that used to mean something: key -> what to write instead. They warn and are ignored.
RETIRED: dict[str, str] = {}
# Keys still read, with a warning: The Moscow Times' news and monthly sitemaps are plain
# `sitemaps` now.
READ_AS_SITEMAP = {"newsmap": "list it under 'sitemaps'",
                   "sitemap_index": "list it under 'sitemaps'"}

SLUG = re.compile(r"[A-Za-z0-9_-]+")
DEFAULT_MAX_URLS = 5000
DEFAULT_MAX_SITEMAP_DEPTH = 3


class SourceConfigError(ValueError):
    """The sources file cannot be used; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
    # empty: derived from the hosts of the URLs above; else host names or host:port
    allowed_domains: tuple[str, ...] = ()
    max_urls: int = DEFAULT_MAX_URLS
    max_sitemap_depth: int = DEFAULT_MAX_SITEMAP_DEPTH

    @property
    def discovery_urls(self) -> tuple[str, ...]:
        """Every configured feed, sitemap and home page URL."""
        extra = (self.newsmap, self.sitemap_index, self.home)
        return (*self.feeds, *self.sitemaps, *(u for u in extra if u))

    def scrapy_settings(self) -> dict[str, Any]:
        return {POLITENESS_SETTINGS[k]: v for k, v in self.politeness.items()}

    @cached_property
    def mode(self) -> str:
        """Where the site lives: "replica" (the bundled replica or a routed server), "local" (a
        loopback or private address) or "live"; recorded with every crawl."""
        if self.replica or self.replica_addr:
            return "replica"
        return "local" if any(is_local_host(h) for h in _hosts(self.discovery_urls)) else "live"


def is_local_host(host: str) -> bool:
    """Whether a host is, or resolves to, an address the address guard calls non-public
    (loopback, private, ...); a name that does not resolve counts as not local."""
    from spiders.middlewares import address_class, ip_literal  # the guard's own rule

    ip = ip_literal(host)
    if ip is not None:
        return address_class(ip) is not None
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return any(address_class(ipaddress.ip_address(info[4][0].split("%")[0])) is not None
               for info in infos)


def _hosts(urls: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(h for u in urls if (h := urlsplit(u).hostname)))


def suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """The end of an unknown-key message: "did you mean" a near miss, else the valid keys."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; valid: {', '.join(choices)}"


def http_url_problem(url: object) -> str | None:
    """Why `url` is not an absolute http(s) URL with a host, or None when it is one."""
    if not isinstance(url, str) or not url.strip():
        return f"{url!r} is not a URL"
    if url != url.strip() or any(c.isspace() for c in url):
        return f"{url!r} holds white space"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError as exc:
        return f"{url!r} is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"{url!r} is not an http(s) URL"
    if not parts.hostname:
        return f"{url!r} has no host"
    return None


class _Entry:
    """One [[source]] table being checked: typed getters that record problems, not raise."""

    def __init__(self, data: dict[str, Any], path: Path, index: int) -> None:
        self.data = data
        name = data.get("name")
        self.label = f"source {name!r}" if isinstance(name, str) and name else f"source #{index}"
        self.path = path
        self.problems: list[str] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"{self.path}: {self.label}, key {key!r}: {message}")

    def url(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, list):
            self.problem(key, f'takes one URL, not a list (e.g. {key} = "https://...")')
            return None
        why = http_url_problem(value)
        if why:
            self.problem(key, why)
            return None
        return value

    def urls(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if isinstance(value, str):
            self.problem(key, f'takes a list of URLs (e.g. {key} = ["{value}"])')
            return ()
        if not isinstance(value, list):
            self.problem(key, "takes a list of URLs")
            return ()
        good = []
        for url in value:
            why = http_url_problem(url)
            if why:
                self.problem(key, why)
            else:
                good.append(url)
        return tuple(good)

    def count(self, key: str, default: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problem(key, f"must be a non-negative integer, not {value!r}")
            return default
        return value


def _allowed_domain(entry: _Entry, value: object) -> str | None:
    """`host`, `host:port` or a full URL, as a lower-case `host[:port]`."""
    if not isinstance(value, str) or not value.strip():
        entry.problem("allowed_domains", f"{value!r} is not a host name")
        return None
    text = value.strip().lower()
    try:
        parts = urlsplit(text if "://" in text else f"http://{text}")
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if parts is None or not parts.hostname:  # a URL's path and query do not matter
        entry.problem("allowed_domains", f"{value!r} is not a host, host:port or site URL")
        return None
    return parts.netloc.rsplit("@", 1)[-1]


def _check_keys(entry: _Entry) -> None:
    for key in entry.data:
        if key in RETIRED:
            log.warning("%s: %s, key %r is retired and ignored: %s", entry.path, entry.label,
                        key, RETIRED[key])
        elif key in READ_AS_SITEMAP:
            log.warning("%s: %s, key %r is retired (%s); read as a sitemap for now",
                        entry.path, entry.label, key, READ_AS_SITEMAP[key])
        elif key not in KEYS:
            entry.problem(key, "unknown key" + suggest(key, KEYS))


def _politeness(entry: _Entry) -> dict[str, Any]:
    table = entry.data.get("politeness", {})
    if not isinstance(table, dict):
        entry.problem("politeness", "must be a table ([source.politeness])")
        return {}
    good = {}
    for key, value in table.items():
        where = f"politeness.{key}"
        if key not in POLITENESS_SETTINGS:
            entry.problem(where, "unknown key" + suggest(key, tuple(POLITENESS_SETTINGS)))
        elif not isinstance(value, _POLITENESS_TYPES[key]) or (
                isinstance(value, bool) and bool not in _POLITENESS_TYPES[key]):
            kinds = " or ".join(t.__name__ for t in _POLITENESS_TYPES[key])
            entry.problem(where, f"must be a {kinds}, not {value!r}")
        elif not isinstance(value, (bool, str)) and value < 0:
            entry.problem(where, f"must not be negative, not {value!r}")
        else:
            good[key] = value
    return good


def _source(entry: _Entry) -> Source | None:
    d = entry.data
    _check_keys(entry)
    name = d.get("name")
    if not isinstance(name, str) or not name:
        entry.problem("name", "is required (a slug: letters, digits, '_' and '-')")
    elif not SLUG.fullmatch(name):
        entry.problem("name", f"{name!r} is not a slug: use only letters, digits, '_' and '-' "
                      "(it names folders, partitions and article ids)")
    spider = d.get("spider", "news")
    if spider in RETIRED_SPIDERS:
        log.warning("%s: %s, spider = %r is retired; crawled as spider = \"news\"",
                    entry.path, entry.label, spider)
        spider = "news"
    elif spider not in SPIDERS:
        entry.problem("spider", f"{spider!r} is not a spider" + suggest(str(spider), SPIDERS))
    feeds, sitemaps = entry.urls("feeds"), entry.urls("sitemaps")
    home, newsmap, index = entry.url("home"), entry.url("newsmap"), entry.url("sitemap_index")
    timezone = d.get("timezone", "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        entry.problem("timezone", f"{timezone!r} is not an IANA zone (e.g. 'Europe/Berlin')")
    domains = d.get("allowed_domains", [])
    if not isinstance(domains, list):
        entry.problem("allowed_domains", "takes a list of host names")
        domains = []
    # host, host:port or a URL; scheme and www. do not change the site (spiders/urls.py)
    scope = SiteScope([a for a in (_allowed_domain(entry, v) for v in domains) if a])
    allowed = scope.entries
    configured = (*feeds, *sitemaps, *filter(None, (home, newsmap, index)))
    if spider == "news" and not configured and not entry.problems:  # else: a typo said it
        entry.problem("feeds", "a news source needs feeds, sitemaps or home")
    for url in configured if allowed else ():
        # Offsite filtering would drop a configured URL silently; refuse the config instead.
        if url not in scope:
            entry.problem("allowed_domains",
                          f"{url!r} is outside allowed_domains {list(allowed)}")
    replica = d.get("replica", False)
    if not isinstance(replica, bool):
        entry.problem("replica", f"must be true or false, not {replica!r}")
    now = d.get("replica_now")
    if isinstance(now, str):
        now = parse_iso(now) or now  # a bad string is reported just below
    if now is not None and (not isinstance(now, datetime) or now.tzinfo is None):
        entry.problem("replica_now", "must be a datetime with an offset")
    addr = d.get("replica_addr")
    if addr is not None and (not isinstance(addr, str)
                             or not re.fullmatch(r"[\w.-]+:\d{1,5}", addr)):
        entry.problem("replica_addr", f"{addr!r} is not host:port")
    politeness = _politeness(entry)
    max_urls = entry.count("max_urls", DEFAULT_MAX_URLS)
    depth = entry.count("max_sitemap_depth", DEFAULT_MAX_SITEMAP_DEPTH)
    if entry.problems:
        return None
    return Source(name=name, spider=spider, feeds=feeds, newsmap=newsmap, sitemap_index=index,
                  replica=replica, replica_now=now, replica_addr=addr, politeness=politeness,
                  sitemaps=sitemaps, home=home, timezone=timezone, allowed_domains=allowed,
                  max_urls=max_urls, max_sitemap_depth=depth)


def load_sources(path: str | Path) -> dict[str, Source]:
    """Every source of a file, by name; SourceConfigError lists every problem found."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceConfigError([f"sources file not found: {path}"]) from None
    except IsADirectoryError:
        raise SourceConfigError([f"{path}: a folder, not a sources file"]) from None
    except UnicodeDecodeError as exc:
        raise SourceConfigError([f"{path}: not UTF-8 text: {exc}"]) from None
    return parse_sources(text, path)


def parse_sources(text: str, path: str | Path) -> dict[str, Source]:
    """load_sources for TOML text; `path` only names it in messages."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourceConfigError([f"{path}: not valid TOML: {exc}"]) from None
    problems = [f"{path}: unknown top-level key {key!r}" + suggest(key, ("source",))
                for key in data if key != "source"]
    entries = data.get("source", [])
    if not isinstance(entries, list):
        problems.append(f"{path}: write each source as [[source]] (double brackets)")
        entries = []
    sources: dict[str, Source] = {}
    names: set[object] = set()
    for index, raw in enumerate(entries, 1):
        if not isinstance(raw, dict):
            problems.append(f"{path}: source #{index}: not a table; write each source as "
                            "[[source]] with its keys below it")
            continue
        entry = _Entry(raw, path, index)
        src = _source(entry)
        problems += entry.problems
        name = raw.get("name")
        if isinstance(name, str) and name in names:
            problems.append(f"{path}: {entry.label}, key 'name': defined twice")
        names.add(name)
        if src is not None:
            sources[src.name] = src
    if not entries and not problems:
        problems.append(f"{path}: no [[source]] entries")
    if problems:
        raise SourceConfigError(problems)
    return sources


def source_names(path: str | Path) -> list[str]:
    return list(load_sources(path))
