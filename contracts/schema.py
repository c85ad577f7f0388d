"""The Article schema, defined once.

Everything else derives from ``FIELDS``: the Scrapy item (``spiders.items``), the Parquet schema
(``arrow_schema``), the SQL table (``etl.warehouse``) and the validation rules (``etl.validate``).
``tests/test_schema.py`` holds them together.

This module imports nothing heavy at module level so that spiders and DAG files can read it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    # Longest valid value in characters (code points: PostgreSQL's length(), SQLite's length(),
    # Python's len()); for lists, of each item. None: not text, or computed by the ETL.
    max_chars: int | None = None
    max_items: int | None = None  # longest valid list


# The limits, in characters. Why these numbers (docs/values.md lists them with the same words):
URL_CHARS = 2_083          # Scrapy's URLLENGTH_LIMIT, browsers' historic limit: a longer URL is
                           # not one a reader can follow
ID_CHARS = 200             # article_id: the warehouse's VARCHAR(200) key
SOURCE_CHARS = 100         # a source name: runs/quarantine VARCHAR(100)
RUN_ID_CHARS = 250         # run ids: Airflow's own limit, runs VARCHAR(250)
TITLE_CHARS = 1_000        # headlines run to ~300; 1,000 is an extraction error, not a headline
NAME_CHARS = 300           # one author, tag, section or credit line
SHORT_TEXT_CHARS = 10_000  # subtitle, description, caption: a paragraph or two
BODY_CHARS = 1_000_000     # the longest long-reads are ~300,000; a million is a whole site page
LIST_ITEMS = 1_000         # authors, tags, related URLs of one article
QUARANTINE_URL_CHARS = 65_536  # a rejected URL is recorded this far (the reason names the rest)
PAYLOAD_CHARS = 100_000    # the raw record kept with a quarantine row, for diagnosis
REASON_CHARS = 10_000
STAGE_CHARS = 20

# Valid instants: none before the web had news sites, none later than a day after the crawl
# (time zones and clock skew); optional dates outside this range are dropped by the ETL.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)

# Valid text is Unicode that UTF-8 can encode (no lone surrogates) without C0 controls but tab
# and newline. PostgreSQL text cannot hold NUL; SQLite's length() stops at one; the rest are
# never meant as text. Carriage returns become newlines (CRLF one newline), other controls go.
_NEWLINES = re.compile(r"\r\n?")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> tuple[str, int]:
    """(the text made valid, characters removed or replaced). Lone surrogates become U+FFFD."""
    out = _NEWLINES.sub("\n", text)
    changed = len(text) - len(out)  # each CRLF counts one, a lone CR is replaced below
    out, n = _CONTROLS.subn("", out.replace("\r", "\n"))
    changed += n + text.count("\r") - text.count("\r\n")
    out, n = _SURROGATES.subn("\ufffd", out)
    return out, changed + n


def is_valid_text(text: str) -> bool:
    return not (_CONTROLS.search(text) or _SURROGATES.search(text) or "\r" in text)


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, marked where it was cut (for diagnostics only: a stored
    article value is never cut, an over-limit one is quarantined)."""
    if len(text) <= limit:
        return text
    mark = f"...[cut at {limit:,} of {len(text):,} characters]"
    return text[:limit - len(mark)] + mark


def url_hash(url: str) -> str:
    """The quarantine's key for a URL: URLs of any length, an index entry of 64 characters."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


# The other tables' bounded text columns (quarantine rows are cut to these, never refused).
QUARANTINE_LIMITS: dict[str, int] = {
    "source": SOURCE_CHARS, "url": QUARANTINE_URL_CHARS, "stage": STAGE_CHARS,
    "article_id": ID_CHARS, "reason": REASON_CHARS, "payload": PAYLOAD_CHARS,
}
CRAWL_STATE_LIMITS: dict[str, int] = {"article_id": ID_CHARS, "source": SOURCE_CHARS,
                                      "url": QUARANTINE_URL_CHARS}


FIELDS: tuple[Field, ...] = (
    Field("article_id", "str", True, "crawl", "source + the site's own id, e.g. moscowtimes:76213",
          ID_CHARS),
    Field("source", "str", True, "crawl", "configured source name (lake partition key)",
          SOURCE_CHARS),
    Field("url", "str", True, "crawl", "the site's canonical URL",
          URL_CHARS),
    Field("title", "str", True, "crawl", "headline as shown on the page",
          TITLE_CHARS),
    Field("subtitle", "str", False, "crawl", "standfirst under the headline",
          SHORT_TEXT_CHARS),
    Field("authors", "list[str]", True, "crawl", "every credited author, in byline order",
          NAME_CHARS, LIST_ITEMS),
    Field("published_at", "timestamp", True, "crawl", "first publication, UTC"),
    Field("published_at_from", "str", True, "crawl", "where published_at was read",
          NAME_CHARS),
    Field("modified_at", "timestamp", False, "crawl", "last modification the page states, UTC"),
    Field("modified_at_from", "str", False, "crawl", "where modified_at was read",
          NAME_CHARS),
    Field("section", "str", False, "crawl", "site section, e.g. news, opinion",
          NAME_CHARS),
    Field("tags", "list[str]", True, "crawl", "the page's own tags/keywords",
          NAME_CHARS, LIST_ITEMS),
    Field("language", "str", False, "crawl", "ISO 639-1 language of the article",
          NAME_CHARS),
    Field("description", "str", False, "crawl", "the page's summary/excerpt",
          SHORT_TEXT_CHARS),
    Field("body", "str", True, "crawl", "paragraphs joined by one blank line",
          BODY_CHARS),
    Field("image_url", "str", False, "crawl", "featured image",
          URL_CHARS),
    Field("image_caption", "str", False, "crawl", "featured image caption",
          SHORT_TEXT_CHARS),
    Field("image_credits", "str", False, "crawl", "featured image credits",
          NAME_CHARS),
    Field("related_urls", "list[str]", True, "crawl", "related-article links inside the article",
          URL_CHARS, LIST_ITEMS),
    Field("crawled_at", "timestamp", True, "crawl", "when the page was fetched, UTC"),
    Field("word_count", "int", True, "etl", "words in body"),
    Field("content_hash", "str", True, "etl", "sha256 of the normalised title, authors and body",
          64),
    Field("url_key", "str", True, "etl", "canonical URL key: no scheme, www, tracking, AMP",
          URL_CHARS),
    Field("duplicate_of", "str", False, "etl",
          "article_id of the earliest copy of the same story (near-duplicate cluster), else null",
          ID_CHARS),
    Field("first_run_id", "str", True, "load", "the run that first loaded this article",
          RUN_ID_CHARS),
    Field("last_run_id", "str", True, "load", "the run that last inserted or changed this row",
          RUN_ID_CHARS),
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
