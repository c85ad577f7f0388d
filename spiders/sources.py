"""The sources file: one TOML entry per site (see sources/demo.toml and sources/live.toml)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

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
             "replica_addr", "politeness"}
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
    return Source(
        name=entry["name"],
        spider=entry["spider"],
        feeds=tuple(entry.get("feeds", ())),
        newsmap=entry.get("newsmap"),
        sitemap_index=entry.get("sitemap_index"),
        replica=bool(entry.get("replica", False)),
        replica_now=now,
        replica_addr=entry.get("replica_addr"),
        politeness=politeness,
    )


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
