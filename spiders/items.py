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


class FetchItem(scrapy.Item):
    """What a run fetched (or re-baselined), remembered in the warehouse for incremental crawls."""

    source = scrapy.Field()
    article_id = scrapy.Field()
    url = scrapy.Field()
    signal = scrapy.Field()  # the site's change signal when fetched, e.g. a feed body hash
    fetched_at = scrapy.Field()  # None: signal re-baselined without fetching
