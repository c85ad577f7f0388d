"""Write the crawl's stats to a JSON file when the spider closes.

`scrapy crawl` exits 0 even when every request failed, so spiders/run.py judges a crawl by these
stats (finish_reason, error and item counts), never by the exit code.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from scrapy import signals


class StatsDump:
    def __init__(self, crawler, path: str | None) -> None:
        self.crawler = crawler
        self.path = path

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler, crawler.settings.get("CRAWL_STATS_PATH"))
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider, reason: str) -> None:
        if not self.path:
            return
        stats = {
            k: (v.isoformat() if isinstance(v, datetime) else v)
            for k, v in self.crawler.stats.get_stats().items()
        }
        stats["finish_reason"] = reason
        tmp = Path(self.path).with_name("." + Path(self.path).name + ".tmp")
        tmp.write_text(json.dumps(stats, indent=1, sort_keys=True, default=str), encoding="utf-8")
        os.replace(tmp, self.path)
