"""Scrapy items: the article (derived from the one Article schema, contracts/schema.py), the
reject, the page a spider hands to the item pipelines, and a crawl-memory row.

Every URL a crawl lists for its window ends as exactly one ArticleItem or one RejectItem
(spiders/pipelines.py decides for fetched pages); the memory rows say what need not be fetched
again.
"""

from __future__ import annotations

import scrapy

from contracts.schema import CRAWL_FIELDS

# The spider fills the crawl fields; word_count, content_hash and the run ids come later.
ArticleItem = type(
    "ArticleItem", (scrapy.Item,), {name: scrapy.Field() for name in CRAWL_FIELDS}
)

REJECT_FIELDS = ("source", "url", "stage", "reason", "detail", "at")
# Verdicts that stand until the listing offers a change signal: the URL is remembered and not
# fetched again. Everything else (timeouts, 5xx, the guard, robots.txt) is tried again next night.
SETTLED_REASONS = frozenset({"out_of_window", "not_article", "no_date", "duplicate", "http_404",
                             "http_410"})


class CrawledArticle(ArticleItem):
    """An article with what the crawl memory needs (not exported to articles.jsonl)."""

    listed_url = scrapy.Field()  # the URL the listing gave (the page may name another)
    signal = scrapy.Field()  # the change signal the listing offered


class RejectItem(scrapy.Item):
    """A URL the crawl could not turn into an article, with why (becomes a quarantine row).

    stage: discovery | fetch | parse | window; reason: a short slug (offsite, out_of_window,
    not_article, http_404, guard_refused, no_date, url_too_long, robots, dns, timeout, ...);
    detail: free text (the page's own date, the verdict, the server's answer)."""

    source = scrapy.Field()
    url = scrapy.Field()
    stage = scrapy.Field()
    reason = scrapy.Field()
    detail = scrapy.Field()
    at = scrapy.Field()
    # not exported: for the crawl memory and the accounting
    listed_url = scrapy.Field()
    signal = scrapy.Field()
    document = scrapy.Field()  # True: a feed or sitemap, not a listed URL


class PageItem(scrapy.Item):
    """A fetched page and what extraction made of it, for the pipelines to judge."""

    record = scrapy.Field()  # extract()'s dict, or None when extraction refused the page
    refused = scrapy.Field()  # why extraction refused it (NotAnArticle or reject_reason)
    failed = scrapy.Field()  # an extractor error ("TypeError: ...")
    url = scrapy.Field()  # the URL fetched (after redirects)
    listed_url = scrapy.Field()
    hint = scrapy.Field()  # spiders.spiders.news.Hint: what the listing said
    changed = scrapy.Field()  # requested as a change of a known article
    signal = scrapy.Field()


class FetchItem(scrapy.Item):
    """What a run judged (or re-baselined), remembered in the warehouse for incremental crawls."""

    source = scrapy.Field()
    article_id = scrapy.Field()  # the article's id, or "{source}:~{url hash}" for a reject
    url = scrapy.Field()  # the URL as listed
    signal = scrapy.Field()  # the site's change signal when fetched, e.g. a lastmod
    fetched_at = scrapy.Field()  # None: signal re-baselined without fetching
