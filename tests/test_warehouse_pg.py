"""The warehouse on the real PostgreSQL server (127.0.0.1:5432, a fresh schema per test)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from etl import lake, warehouse
from etl.load import check, load_lake, load_warehouse
from etl.migrate import migrate
from etl.transform import transform
from spiders.run import crawl

pytestmark = pytest.mark.postgres

START, END = "2022-01-31T02:00:00+00:00", "2022-02-01T02:00:00+00:00"


def test_seed_day_loads_into_postgres_idempotently(tmp_path, sources_file, pg_url):
    crawl("moscowtimes", START, END, sources_file=sources_file, data_dir=tmp_path)
    migrate(pg_url)
    for run_id in ("pg-run-1", "pg-run-2"):
        transform(START, END, sources=["moscowtimes"], data_dir=tmp_path, warehouse_url=pg_url)
        load_lake(START, END, data_dir=tmp_path, run_id=run_id)
        figures = load_warehouse(START, END, data_dir=tmp_path, warehouse_url=pg_url,
                                 run_id=run_id)
        check(START, END, data_dir=tmp_path, warehouse_url=pg_url)
        if run_id == "pg-run-1":
            inserted = figures["moscowtimes"]["inserted"]
            assert inserted > 0
        else:
            assert figures["moscowtimes"]["inserted"] == 0
            assert figures["moscowtimes"]["updated"] == 0
            assert figures["moscowtimes"]["unchanged"] == inserted

    assert warehouse.checksum(pg_url) == lake.checksum(tmp_path)
    eng = warehouse.engine(pg_url)
    with eng.connect() as conn:
        assert eng.dialect.name == "postgresql"
        row = conn.execute(sa.select(warehouse.articles).where(
            warehouse.articles.c.article_id == "moscowtimes:76213")).mappings().one()
        kinds = dict(conn.execute(sa.text(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'articles' AND table_schema = current_schema()")).all())
        runs = conn.execute(sa.select(warehouse.runs.c.run_id)).scalars().all()
    eng.dispose()
    assert row["published_at"] == datetime(2022, 1, 31, 15, 42, tzinfo=UTC)  # aware from PG
    assert row["authors"] == ["AFP"]
    assert row["first_run_id"] == "pg-run-1"
    assert kinds["published_at"] == "timestamp with time zone"
    assert kinds["authors"] == "json"
    assert sorted(runs) == ["pg-run-1", "pg-run-2"]


def test_retry_of_a_committed_load_is_a_no_op(tmp_path, sources_file, pg_url):
    crawl("moscowtimes", START, END, sources_file=sources_file, data_dir=tmp_path)
    transform(START, END, sources=["moscowtimes"], data_dir=tmp_path, warehouse_url=pg_url)
    migrate(pg_url)
    first = load_warehouse(START, END, data_dir=tmp_path, warehouse_url=pg_url, run_id="r1")
    before = warehouse.checksum(pg_url)
    again = load_warehouse(START, END, data_dir=tmp_path, warehouse_url=pg_url, run_id="r1")
    assert again == first  # the recorded figures, not a second count
    assert warehouse.checksum(pg_url) == before
