"""The PostgreSQL load path (etl/pgcopy.py: COPY into staging, one merge) against the generic
row-by-row path: same counts, same rows, same checksum, history kept, all or nothing, and
concurrent loads that end with every article exactly once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from bench.pg_load import synth
from etl import migrate, pgcopy, warehouse
from tests.conftest import PG_BASE
from tests.generic_upsert import arrow, upsert_rows

pytestmark = pytest.mark.postgres

Batch = pd.DataFrame


def edge_cases(batch: Batch) -> Batch:
    """Values the COPY encoding must carry exactly: quotes, separators, backslashes, a lone
    "\\." line (COPY's end-of-data marker), CR/LF/tab, non-ASCII in text and JSON, empty string
    against null, empty lists, lists as numpy arrays, microseconds."""
    b = batch.copy()
    b.loc[0, "title"] = 'He said "no", then\tleft; C:\\path\\ and 50% off'
    b.loc[0, "body"] = "First line\r\n\\.\nmiddle \\N and \\\\\n\n\\."
    b.loc[1, "subtitle"] = ""
    b.loc[2, "subtitle"] = None
    b.at[1, "authors"] = ["Анна Петрова", 'Jo "JJ" O\'Neil', "back\\slash"]
    b.at[2, "tags"] = []
    b.at[3, "related_urls"] = ["https://x/ü?a=1&b=2"]
    b.at[4, "tags"] = np.array(["as", "Parquet", "gives"], dtype=object)
    b.at[6, "related_urls"] = None  # JSON null, as SQLAlchemy binds it (not SQL NULL)
    b.loc[3, "published_at"] = pd.Timestamp("2022-01-31 15:42:00.123456", tz="UTC")
    b.loc[4, "modified_at"] = pd.NaT
    b.loc[5, "description"] = "emoji 🙂 and NUL-free control \x07 char"
    return b


def second_night(first: Batch) -> Batch:
    """Rows 0-4 unchanged, 5-9 edited (new hash), 10-11 moved (published_at only), 12-13 with
    a new title but the same hash (not a change: stays untouched), plus 5 new articles; times
    given in Moscow time."""
    b = first.copy()
    for i in range(5, 10):
        b.loc[i, "body"] = b.loc[i, "body"] + "\n\nA correction."
        b.loc[i, "content_hash"] = f"{i:064x}"
    for i in (10, 11):
        b.loc[i, "published_at"] = b.loc[i, "published_at"] + pd.Timedelta(hours=1)
    for i in (12, 13):
        b.loc[i, "title"] = "A retitled story"
    extra = synth(len(first) + 5, seed=1).iloc[len(first):]
    b = pd.concat([b, extra], ignore_index=True)
    # The same instants in another zone: no change for that alone.
    b["published_at"] = b["published_at"].dt.tz_convert("Europe/Moscow")
    return b


def utc(batch: Batch) -> Batch:
    """The times in UTC, as etl.clean gives them. (SQLite stores a datetime's wall clock and
    drops its zone: a Moscow time would land there three hours off.)"""
    return batch.assign(published_at=batch["published_at"].dt.tz_convert(UTC))


@pytest.fixture(scope="module")
def nights() -> tuple[Batch, Batch]:
    first = edge_cases(synth(30))
    return first, second_night(first)


def pg_schema() -> Iterator[str]:
    schema = f"nd_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_BASE)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def other_pg_url() -> Iterator[str]:
    yield from pg_schema()


def load(url: str, batch: Batch, run_id: str, *, rowwise: bool = False) -> dict[str, int]:
    migrate.migrate(url)
    eng = warehouse.engine(url)
    with eng.begin() as conn:
        counts = (upsert_rows(conn, batch, run_id) if rowwise
                  else warehouse.upsert_articles(conn, arrow(batch), run_id))
    eng.dispose()
    return counts


def _norm(value: Any) -> Any:
    # SQLite hands back naive datetimes (stored in UTC); PostgreSQL aware ones.
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def dump(url: str, table: sa.Table, *, skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        rows = [{k: _norm(v) for k, v in r.items() if k not in skip}
                for r in conn.execute(sa.select(table)).mappings()]
    eng.dispose()
    return sorted(rows, key=lambda r: (r["article_id"], r.get("content_hash", "")))


def state(url: str) -> tuple[Any, ...]:
    """Everything the article load writes. superseded_at is the wall clock of the load."""
    return (warehouse.checksum(url), dump(url, warehouse.articles),
            dump(url, warehouse.article_versions, skip=("superseded_at",)))


def json_text(url: str) -> list[tuple]:
    """The JSON columns as PostgreSQL stores their text (json keeps it verbatim)."""
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        rows = conn.exec_driver_sql("SELECT article_id, authors::text, tags::text, "
                                    "related_urls::text FROM articles ORDER BY 1").all()
    eng.dispose()
    return [tuple(r) for r in rows]


def test_copy_path_equals_the_row_by_row_paths(nights, pg_url, other_pg_url, tmp_path,
                                               monkeypatch):
    first, second = nights
    calls = []
    real = pgcopy.upsert_articles
    monkeypatch.setattr(pgcopy, "upsert_articles", lambda *a: calls.append(1) or real(*a))
    sqlite_url = f"sqlite:///{tmp_path / 'w.db'}"
    for run_id, batch in (("run-1", first), ("run-2", second), ("run-3", second)):
        copy = load(pg_url, batch, run_id)
        assert load(other_pg_url, batch, run_id, rowwise=True) == copy
        assert load(sqlite_url, utc(batch), run_id) == copy
        assert state(pg_url) == state(other_pg_url) == state(sqlite_url)
        if run_id == "run-2":
            assert copy == {"inserted": 5, "updated": 7, "unchanged": 23}
        if run_id == "run-3":
            assert copy == {"inserted": 0, "updated": 0, "unchanged": 35}
    assert len(calls) == 3  # the PostgreSQL loads above went through COPY, not row by row
    assert json_text(pg_url) == json_text(other_pg_url)
    got = {r["article_id"]: r for r in dump(pg_url, warehouse.articles)}
    want = first.set_index("article_id")
    assert got["synth:0"]["title"] == want.loc["synth:0", "title"]
    assert got["synth:0"]["body"] == want.loc["synth:0", "body"]
    assert got["synth:1"]["authors"] == ["Анна Петрова", 'Jo "JJ" O\'Neil', "back\\slash"]
    assert (got["synth:1"]["subtitle"], got["synth:2"]["subtitle"]) == ("", None)
    assert got["synth:2"]["tags"] == []
    assert got["synth:3"]["published_at"] == datetime(2022, 1, 31, 15, 42, 0, 123456, tzinfo=UTC)
    assert got["synth:4"]["modified_at"] is None
    assert (got["synth:4"]["tags"], got["synth:6"]["related_urls"]) == (["as", "Parquet", "gives"],
                                                                        None)


def test_an_update_keeps_history_and_first_run_id(nights, pg_url):
    first, second = nights
    load(pg_url, first, "run-1")
    load(pg_url, second, "run-2")
    current = {r["article_id"]: r for r in dump(pg_url, warehouse.articles)}
    versions = dump(pg_url, warehouse.article_versions)
    changed = [f"synth:{i}" for i in range(5, 12)]
    assert sorted(v["article_id"] for v in versions) == sorted(changed)
    old = first.set_index("article_id")
    for v in versions:
        now = current[v["article_id"]]
        assert v["content_hash"] == old.loc[v["article_id"], "content_hash"]
        assert v["body"] == old.loc[v["article_id"], "body"]
        assert (v["first_run_id"], v["last_run_id"]) == ("run-1", "run-1")
        assert v["superseded_by_run_id"] == "run-2"
        assert (now["first_run_id"], now["last_run_id"]) == ("run-1", "run-2")
    assert current["synth:12"]["title"] == old.loc["synth:12", "title"]  # same hash: untouched
    assert current["synth:12"]["last_run_id"] == "run-1"
    assert current["synth:30"]["first_run_id"] == "run-2"


def test_a_bad_row_fails_the_whole_load(nights, pg_url):
    first, second = nights
    load(pg_url, first, "run-1")
    before = state(pg_url)
    bad = second.copy()
    bad.loc[len(bad) - 1, "title"] = None  # a new article violating NOT NULL
    with pytest.raises(sa.exc.IntegrityError, match="title"):  # as the generic path raises
        load(pg_url, bad, "run-2")
    assert state(pg_url) == before  # nor the edits, nor the versions, nor the other new rows


def test_an_exception_after_the_merge_rolls_everything_back(nights, pg_url):
    first, second = nights
    load(pg_url, first, "run-1")
    before = state(pg_url)
    eng = warehouse.engine(pg_url)
    with pytest.raises(RuntimeError, match="after the merge"), eng.begin() as conn:
        assert warehouse.upsert_articles(conn, arrow(second), "run-2")["updated"] == 7
        raise RuntimeError("crash after the merge")
    assert state(pg_url) == before
    # The pooled connection is reused: its staging table went with the rollback.
    with eng.begin() as conn:
        assert warehouse.upsert_articles(conn, arrow(second), "run-2")["updated"] == 7
    eng.dispose()
    assert state(pg_url) != before


def test_two_sources_in_one_transaction(nights, pg_url):
    """load_warehouse calls upsert_articles once per source inside ONE transaction."""
    first, _ = nights
    migrate.migrate(pg_url)
    eng = warehouse.engine(pg_url)
    with eng.begin() as conn:
        a = warehouse.upsert_articles(conn, arrow(first.iloc[:20]), "run-1")
        b = warehouse.upsert_articles(conn, arrow(first.iloc[10:]), "run-1")
    eng.dispose()
    assert (a["inserted"], b) == (20, {"inserted": 10, "updated": 0, "unchanged": 10})


def test_a_batch_naming_an_id_twice_matches_sqlite(nights, pg_url, tmp_path):
    first, second = nights
    twice = pd.concat([first.iloc[:3], utc(second).iloc[5:7]], ignore_index=True)
    twice.loc[4, "article_id"] = twice.loc[3, "article_id"]
    sqlite_url = f"sqlite:///{tmp_path / 'w.db'}"
    for url in (pg_url, sqlite_url):
        load(url, first.iloc[:10], "run-1")
        assert load(url, twice, "run-2") == {"inserted": 0, "updated": 2, "unchanged": 3}
    assert state(pg_url) == state(sqlite_url)


def test_concurrent_loads_end_with_every_article_once(pg_url):
    """Two loads of overlapping batches at once (a backfill with --max-active-runs 2): both
    commit, neither deadlocks, each article is stored once and the counts add up."""
    rows = synth(1200, seed=2)
    a, b = rows.iloc[:800], rows.iloc[400:].copy()
    b.loc[b.index[:200], "content_hash"] = "f" * 64  # 200 shared ids differ between the two
    load(pg_url, rows.iloc[:0], "none")  # creates the schema
    start, results, errors = threading.Barrier(2), {}, []

    def run(name: str, batch: Batch) -> None:
        eng = warehouse.engine(pg_url)
        try:
            start.wait()
            with eng.begin() as conn:
                results[name] = warehouse.upsert_articles(conn, arrow(batch), name)
        except BaseException as exc:  # any failure is the test's finding
            errors.append(exc)
        finally:
            eng.dispose()

    threads = [threading.Thread(target=run, args=x) for x in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    eng = warehouse.engine(pg_url)
    with eng.connect() as conn:
        total, distinct = conn.exec_driver_sql(
            "SELECT count(*), count(DISTINCT article_id) FROM articles").one()
    eng.dispose()
    assert total == distinct == 1200
    # Whichever came second saw the first one's rows: 400 shared ids, 200 of them changed.
    assert results["a"]["inserted"] + results["b"]["inserted"] == 1200
    assert sorted([results["a"]["updated"], results["b"]["updated"]]) == [0, 200]
    assert results["a"]["unchanged"] + results["b"]["unchanged"] == 200
