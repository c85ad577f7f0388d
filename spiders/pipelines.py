"""Item pipelines: every fetched page becomes one article or one reject, and the crawl memory is
written for every verdict.

- VerdictPipeline (100): a PageItem (what the spider fetched and extraction made of it) becomes
  a CrawledArticle or a RejectItem: `not_article` (with extraction's verdict), `no_date` (neither
  the page nor any listing dates it), `out_of_window` (with the page's own date), `duplicate`
  (an article already stored under another URL this night). A page without a date of its own
  takes its listing's, and `published_at_from` says where it came from.
- EncodableText (800): lone surrogates (a page's JSON-LD can escape them: "\\ud800") cannot be
  encoded in UTF-8, so the feed export would drop the whole item and leave no row; they become
  U+FFFD, counted (`nightdesk/surrogates_replaced`). Everything else is left to the ETL, which
  decides what valid text is (contracts/schema.py) and counts what it cleans.
- LedgerPipeline (900): counts each row (`nightdesk/articles`, `nightdesk/rejected`,
  `nightdesk/rejected/<reason>`) and writes the memory rows (fetched.jsonl, see spiders/run.py):
  one per article and per settled reject (items.SETTLED_REASONS), and the spider's re-baselined
  FetchItems. The load records them only once the data is safe (etl/load.py).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from scrapy.crawler import Crawler

from spiders import discovery as disc
from spiders.items import (
    SETTLED_REASONS,
    ArticleItem,
    CrawledArticle,
    FetchItem,
    PageItem,
    RejectItem,
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def reject_key(source: str, url: str) -> str:
    """The crawl-memory id of a rejected URL (an article id names an article)."""
    return f"{source}:~{disc.stable_id(url)}"


class VerdictPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.first_url: dict[str, str] = {}  # site id -> the URL it was first stored from

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> VerdictPipeline:
        return cls(crawler)

    def _stat(self, key: str) -> None:
        self.stats.inc_value(f"nightdesk/{key}")

    def process_item(self, item: Any) -> Any:  # Scrapy 2.13+: the spider is the crawler's
        if not isinstance(item, PageItem):
            return item
        return self._judge(item, self.crawler.spider)

    def _judge(self, page: PageItem, spider: Any) -> ArticleItem | RejectItem:
        url = page["url"]

        def reject(stage: str, reason: str, detail: str) -> RejectItem:
            return spider.reject(url, stage, reason, detail, listed_url=page.get("listed_url"),
                                 signal=page.get("signal"))

        if page.get("failed"):
            self._stat("parse_failed")
            return reject("parse", "parse_error", page["failed"])
        record = dict(page.get("record") or {})
        refused = page.get("refused") or record.get("reject_reason")
        if refused:
            self._stat("not_article")
            spider.logger.info("not an article: %s (%s)", url, refused)
            # the verdict without the slug the extractor may put in front of it
            return reject("parse", "not_article", str(refused).removeprefix("not_article: "))
        record.pop("reject_reason", None)
        hint = page["hint"]
        record, day_only = self._dated(record, hint, spider)
        published = record.get("published_at")
        if published is None:
            self._stat("no_date")
            return reject("parse", "no_date", "neither the page nor its listing gives a "
                          "publication date")
        # An update of a known article is stored whenever it was published; anything else must
        # belong to the window by its own publication time (a day-only listing: by its day).
        if not page.get("changed") and not spider.in_window(published, day_only=day_only):
            self._stat("out_of_window")
            listed = hint.published.isoformat() if hint.published is not None else "undated"
            return reject("window", "out_of_window",
                          f"page dated {published.isoformat()} "
                          f"({record.get('published_at_from')}); listed as {listed}")
        record["url"] = record.get("url") or url
        sid = record.pop("site_id", None) or disc.stable_id(record["url"])
        if sid in spider.seen_ids:
            self._stat("duplicates")
            return reject("parse", "duplicate",
                          f"the same article as {self.first_url.get(sid, 'a known URL')}")
        spider.seen_ids.add(sid)
        self.first_url[sid] = url
        if not record.get("title"):
            record["title"] = hint.title
        if not record.get("tags"):
            record["tags"] = list(hint.keywords)
        if not record.get("language"):
            record["language"] = hint.language
        for key in ("authors", "tags", "related_urls"):
            record[key] = record.get(key) or []
        record["article_id"] = f"{spider.source.name}:{sid}"
        record["source"] = spider.source.name
        record["crawled_at"] = now_iso()
        for key in ("published_at", "modified_at"):
            if isinstance(record.get(key), datetime):
                record[key] = record[key].isoformat()
        self._stat("articles")
        # Extraction may grow keys the crawl schema does not have; the item takes its own.
        item = CrawledArticle(**{k: record.get(k) for k in ArticleItem.fields})
        item["listed_url"] = page.get("listed_url") or url
        item["signal"] = page.get("signal")
        return item

    @staticmethod
    def _dated(record: dict[str, Any], hint: Any, spider: Any) -> tuple[dict[str, Any], bool]:
        """The page's own dates in the source's timezone; the listing's when it has none
        (a day-only listing gives the day's local midnight; the second value says so). A date
        the page does not state (htmldate's guess from its text) yields to a listing's date:
        the publisher's feed or sitemap says it outright."""
        for key in ("published_at", "modified_at"):
            if isinstance(record.get(key), datetime):
                record[key] = disc.localize(record[key], spider.tz)
        guessed = str(record.get("published_at_from") or "").startswith("htmldate")
        if hint.published is None or (record.get("published_at") is not None and not guessed):
            return record, False
        lo, _ = disc.span(hint.published, spider.tz)
        day_only = not isinstance(hint.published, datetime)
        record["published_at"] = lo
        record["published_at_from"] = f"{hint.origin}{' (day only)' if day_only else ''}"
        spider.crawler.stats.inc_value("nightdesk/published_from_listing")
        return record, day_only


_SURROGATES = re.compile("[\ud800-\udfff]")


class EncodableText:
    def __init__(self, stats: Any) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EncodableText:
        return cls(crawler.stats)

    def _fix(self, value: Any) -> Any:
        if isinstance(value, str):
            fixed, n = _SURROGATES.subn("\ufffd", value)
            if n:
                self.stats.inc_value("nightdesk/surrogates_replaced", n)
            return fixed
        if isinstance(value, list | tuple):
            return [self._fix(v) for v in value]
        if isinstance(value, dict):
            return {k: self._fix(v) for k, v in value.items()}
        return value

    def process_item(self, item: Any) -> Any:
        for key in list(item.keys()):
            item[key] = self._fix(item[key])
        return item


class LedgerPipeline:
    def __init__(self, crawler: Crawler, path: str | None) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.path = path
        self.out: IO[str] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LedgerPipeline:
        return cls(crawler, crawler.settings.get("CRAWL_FETCHED_PATH"))

    def open_spider(self) -> None:
        if self.path:
            self.out = Path(self.path).open("w", encoding="utf-8")  # noqa: SIM115 (closed at close_spider)

    def close_spider(self) -> None:
        if self.out is not None:
            self.out.close()

    def _remember(self, **row: Any) -> None:
        if self.out is not None:
            self.out.write(json.dumps(row, ensure_ascii=False) + "\n")
            self.out.flush()

    def process_item(self, item: Any) -> Any:
        source = self.crawler.spider.source.name
        if isinstance(item, CrawledArticle):
            self._remember(source=source, article_id=item["article_id"],
                           url=item.get("listed_url"), signal=item.get("signal"),
                           fetched_at=item["crawled_at"])
        elif isinstance(item, RejectItem) and item.get("document"):
            self.stats.inc_value("nightdesk/documents_rejected")
        elif isinstance(item, RejectItem):
            self.stats.inc_value("nightdesk/rejected")
            self.stats.inc_value(f"nightdesk/rejected/{item['reason']}")
            listed = item.get("listed_url")
            if listed and item["reason"] in SETTLED_REASONS:
                self._remember(source=source, article_id=reject_key(source, listed), url=listed,
                               signal=item.get("signal"), fetched_at=item["at"])
        elif isinstance(item, FetchItem):
            self._remember(**dict(item))
        return item
