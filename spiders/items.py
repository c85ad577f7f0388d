"""Scrapy items derived from the one Article schema (etl/schema.py)."""

from __future__ import annotations

import scrapy

from etl.schema import CRAWL_FIELDS

# The spider fills the crawl fields; word_count, content_hash and the run ids come later.
ArticleItem = type(
    "ArticleItem", (scrapy.Item,), {name: scrapy.Field() for name in CRAWL_FIELDS}
)


class RejectItem(scrapy.Item):
    """A URL the crawl could not turn into an article, with why (becomes a quarantine row)."""

    source = scrapy.Field()
    url = scrapy.Field()
    stage = scrapy.Field()  # discovery | fetch | parse
    reason = scrapy.Field()
    at = scrapy.Field()
