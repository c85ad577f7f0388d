"""The one Article schema and everything derived from it stay in step."""

from __future__ import annotations

import pyarrow as pa

from contracts.schema import (
    CRAWL_FIELDS,
    FIELD_NAMES,
    FIELDS,
    PARTITION_COLUMNS,
    REQUIRED_FIELDS,
    arrow_schema,
)
from etl import warehouse
from etl.validate import rules
from spiders.items import ArticleItem


def test_scrapy_item_has_exactly_the_crawl_fields():
    assert set(ArticleItem.fields) == set(CRAWL_FIELDS)
    assert {"word_count", "content_hash", "first_run_id"}.isdisjoint(ArticleItem.fields)


def test_parquet_schema_matches_fields_and_types():
    schema = arrow_schema()
    assert tuple(schema.names) == FIELD_NAMES
    assert schema.field("authors").type == pa.list_(pa.string())
    for name in ("published_at", "modified_at", "crawled_at"):
        assert schema.field(name).type == pa.timestamp("us", tz="UTC")
    for f in FIELDS:
        assert schema.field(f.name).nullable is (not f.required)


def test_parquet_file_schema_drops_partition_keys():
    names = arrow_schema(for_files=True).names
    assert "source" not in names
    assert set(names) | set(PARTITION_COLUMNS) >= set(FIELD_NAMES)


def test_sql_table_matches_fields():
    cols = warehouse.articles.columns
    assert tuple(c.name for c in cols) == FIELD_NAMES
    assert [c.name for c in warehouse.articles.primary_key.columns] == ["article_id"]
    for f in FIELDS:
        assert cols[f.name].nullable is (not f.required), f.name


def test_validation_covers_every_required_field():
    import pandas as pd

    empty = pd.DataFrame({name: pd.Series(dtype="object") for name in FIELD_NAMES})
    covered = " ".join(rules(empty))
    for name in REQUIRED_FIELDS:
        assert name in covered, f"no validation rule for required field {name}"


def test_batch_schema_is_the_article_schema_without_the_load_fields():
    from contracts.schema import FIELDS, arrow_schema, batch_schema

    load_filled = {f.name for f in FIELDS if f.origin == "load"}
    assert load_filled == {"first_run_id", "last_run_id"}
    full = arrow_schema()
    assert batch_schema() == pa.schema([f for f in full if f.name not in load_filled])
