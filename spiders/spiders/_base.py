"""What every Nightdesk spider shares: its source and window, stats, rejects and article items."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import scrapy
from twisted.python.failure import Failure

from spiders.discovery import DiscoveryError, FeedResult, SitemapResult
from spiders.extract import extract
from spiders.htmltools import NotAnArticle
from spiders.items import ArticleItem, RejectItem
from spiders.sources import Source, load_sources

Parsed = TypeVar("Parsed", FeedResult, SitemapResult)

# Extraction is being taught the source's timezone; until then it takes only (html, url).
_EXTRACT_TAKES_TZ = "timezone" in inspect.signature(extract).parameters


def extract_page(html: str, url: str, timezone: str) -> dict[str, Any]:
    """The extracted record; a refusal (`reject_reason`) raised as NotAnArticle, as before."""
    record = extract(html, url, timezone=timezone) if _EXTRACT_TAKES_TZ else extract(html, url)
    if record.get("reject_reason"):
        raise NotAnArticle(record["reject_reason"])
    return record


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def read_known(known_file: str | None) -> dict[str, dict[str, Any]]:
    """What earlier runs fetched, {article_id: {"url", "signal"}} as spiders/run.py exports it
    (etl.warehouse.export_known); no file means nothing is known: fetch everything."""
    if not known_file:
        return {}
    return json.loads(Path(known_file).read_text(encoding="utf-8"))


class NightdeskSpider(scrapy.Spider):
    """Base for the site spiders: args `source`, `start`, `end`, `sources_file` (see run.py)."""

    source: Source
    window: tuple[datetime, datetime]

    def __init__(self, source: str, start: str, end: str, sources_file: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.source = load_sources(sources_file)[source]
        self.window = (datetime.fromisoformat(start), datetime.fromisoformat(end))
        if any(t.tzinfo is None for t in self.window):
            raise ValueError("start and end must carry a UTC offset")

    def _stat(self, key: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(f"nightdesk/{key}", n)

    def _in_window(self, when: datetime | None) -> bool:
        return when is not None and self.window[0] <= when < self.window[1]

    def _reject_reason(self, url: str, stage: str, reason: str) -> RejectItem:
        return RejectItem(source=self.source.name, url=url, stage=stage, reason=reason,
                          at=now_iso())

    def _reject(self, url: str, stage: str, failure: Failure) -> RejectItem:
        response = getattr(failure.value, "response", None)
        if response is not None:
            reason = f"HTTP {response.status}"
        else:
            reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        return self._reject_reason(url, stage, reason)

    def _discovery_error(self, failure: Failure) -> RejectItem:
        """A feed or sitemap request that failed (HTTP error, network): counted and rejected."""
        self._stat("discovery_failed")
        url = failure.request.url
        self.logger.error("discovery failed: %s: %s", url, failure.getErrorMessage())
        return self._reject(url, "discovery", failure)

    def _unreadable(self, url: str, reason: str, stat: str) -> RejectItem:
        """A discovery document that could not (fully) be read: reported, never skipped."""
        self._stat("discovery_failed")
        self._stat(stat)
        self.logger.error("discovery failed: %s: %s", url, reason)
        return self._reject_reason(url, "discovery", reason)

    def _read_document(self, url: str, parse: Callable[[], Parsed],
                       ) -> tuple[Parsed | None, list[RejectItem]]:
        """Run a spiders.discovery parser: repairs are logged and counted, an unreadable or
        truncated document is rejected (what a truncated one held is still returned)."""
        try:
            result = parse()
        except DiscoveryError as exc:
            return None, [self._unreadable(url, exc.reason, "discovery_unparseable")]
        if result.recovered:
            self._stat("discovery_recovered")
            self.logger.warning("recovered %s: %s", url, "; ".join(result.recovered))
        if result.truncated:
            reason = "truncated: " + "; ".join(result.recovered)
            return result, [self._unreadable(url, reason, "discovery_truncated")]
        return result, []

    def article_failed(self, failure: Failure) -> Iterator[Any]:
        self._stat("article_failed")
        yield self._reject(failure.request.url, "fetch", failure)

    def _article_item(self, record: dict[str, Any], sid: str) -> ArticleItem:
        """The crawl record as an item: the article id, the source and ISO timestamps."""
        record = dict(record)
        record["article_id"] = f"{self.source.name}:{sid}"
        record["source"] = self.source.name
        record["crawled_at"] = now_iso()
        for key in ("published_at", "modified_at"):
            if isinstance(record.get(key), datetime):
                record[key] = record[key].isoformat()
        self._stat("articles")
        # Extraction may grow keys the crawl schema does not have; the item takes its own.
        return ArticleItem(**{k: record.get(k) for k in ArticleItem.fields})
