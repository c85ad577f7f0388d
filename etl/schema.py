"""The Article schema, defined once.

Everything else derives from ``FIELDS``: the Scrapy item (``spiders.items``), the Parquet schema
(``arrow_schema``), the SQL table (``etl.warehouse``) and the validation rules (``etl.validate``).
``tests/test_schema.py`` holds them together.

This module imports nothing heavy at module level so that spiders and DAG files can read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa

Kind = Literal["str", "int", "timestamp", "list[str]"]
# Who fills a field: the spider (crawl), the ETL (derived from crawl fields) or the loader.
Origin = Literal["crawl", "etl", "load"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool
    origin: Origin
    doc: str


FIELDS: tuple[Field, ...] = (
    Field("article_id", "str", True, "crawl", "source + the site's own id, e.g. moscowtimes:76213"),
    Field("source", "str", True, "crawl", "configured source name (lake partition key)"),
    Field("url", "str", True, "crawl", "the site's canonical URL"),
    Field("title", "str", True, "crawl", "headline as shown on the page"),
    Field("subtitle", "str", False, "crawl", "standfirst under the headline"),
    Field("authors", "list[str]", True, "crawl", "every credited author, in byline order"),
    Field("published_at", "timestamp", True, "crawl", "first publication, UTC"),
    Field("published_at_from", "str", True, "crawl", "where published_at was read"),
    Field("modified_at", "timestamp", False, "crawl", "last modification the page states, UTC"),
    Field("modified_at_from", "str", False, "crawl", "where modified_at was read"),
    Field("section", "str", False, "crawl", "site section, e.g. news, opinion"),
    Field("tags", "list[str]", True, "crawl", "the page's own tags/keywords"),
    Field("language", "str", False, "crawl", "ISO 639-1 language of the article"),
    Field("description", "str", False, "crawl", "the page's summary/excerpt"),
    Field("body", "str", True, "crawl", "paragraphs joined by one blank line"),
    Field("image_url", "str", False, "crawl", "featured image"),
    Field("image_caption", "str", False, "crawl", "featured image caption"),
    Field("image_credits", "str", False, "crawl", "featured image credits"),
    Field("related_urls", "list[str]", True, "crawl", "related-article links inside the article"),
    Field("crawled_at", "timestamp", True, "crawl", "when the page was fetched, UTC"),
    Field("word_count", "int", True, "etl", "words in body"),
    Field("content_hash", "str", True, "etl", "sha256 of the normalised title, authors and body"),
    Field("url_key", "str", True, "etl", "canonical URL key: no scheme, www, tracking, AMP"),
    Field("duplicate_of", "str", False, "etl",
          "article_id of the earliest copy of the same story (near-duplicate cluster), else null"),
    Field("first_run_id", "str", True, "load", "the run that first loaded this article"),
    Field("last_run_id", "str", True, "load", "the run that last inserted or changed this row"),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
CRAWL_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.origin == "crawl")
LIST_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind == "list[str]")
TIMESTAMP_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.kind == "timestamp")
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
KEY = "article_id"

# The lake is partitioned by data, never by run: source and the UTC publication month.
# Partition keys live only in the directory names, not again as file columns.
PARTITION_COLUMNS: tuple[str, ...] = ("source", "published_month")


def arrow_schema(*, for_files: bool = False) -> pa.Schema:
    """The Parquet schema. ``for_files`` drops the partition keys that live in directory names."""
    import pyarrow as pa

    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "list[str]": pa.list_(pa.string()),
    }
    return pa.schema(
        [
            pa.field(f.name, types[f.kind], nullable=not f.required)
            for f in FIELDS
            if not (for_files and f.name in PARTITION_COLUMNS)
        ]
    )


def batch_schema() -> pa.Schema:
    """What the ETL hands to the loads (staged batches): every field but those the load fills
    in (first_run_id, last_run_id)."""
    import pyarrow as pa

    schema = arrow_schema()
    return pa.schema([schema.field(f.name) for f in FIELDS if f.origin != "load"])
