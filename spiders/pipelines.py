"""Item pipelines: every item must reach its feed file.

Lone surrogates (a page's JSON-LD can escape them: "\\ud800") cannot be encoded in UTF-8, so
Scrapy's feed export would drop the whole item with an error and leave no row. They become
U+FFFD here, counted in the stats (`nightdesk/surrogates_replaced`); every other character is
left to the ETL, which decides what valid text is (etl/schema.py) and counts what it cleans.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATES = re.compile("[\ud800-\udfff]")


class EncodableText:
    def __init__(self, stats: Any) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> EncodableText:
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
