"""The SQLite load path (etl.warehouse._upsert_sqlite: plain SQL on the DBAPI cursor) against the
generic path it replaced (tests/generic_upsert.py, compiled by SQLAlchemy): same counts, and the
same text in every stored cell, so that rows of either path read back identically."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from bench.pg_load import synth
from etl import warehouse
from etl.dbvalues import json_lists
from tests.test_pg_copy import edge_cases, load, second_night, utc

Batch = pd.DataFrame


@pytest.fixture(scope="module")
def nights() -> tuple[Batch, Batch]:
    first = edge_cases(synth(30))
    return utc(first), utc(second_night(first))


def stored_text(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every cell of articles and article_versions as SQLite holds it (no type processing);
    superseded_at is the wall clock of the load, compared by its format only."""
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        arts = [tuple(r) for r in conn.exec_driver_sql(
            "SELECT * FROM articles ORDER BY article_id")]
        versions = [tuple(r) for r in conn.exec_driver_sql(
            "SELECT *, typeof(superseded_at) FROM article_versions "
            "ORDER BY article_id, content_hash")]
    eng.dispose()
    width = len(warehouse.article_versions.columns)
    at = [c.name for c in warehouse.article_versions.columns].index("superseded_at")
    for row in versions:
        assert len(row[at]) == len("2022-01-31 15:42:00.123456") and row[width] == "text"
    return arts, [r[:at] + r[at + 1:width] for r in versions]


def read_back(url: str) -> list[dict[str, Any]]:
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        rows = [dict(r) for r in conn.execute(
            sa.select(warehouse.articles).order_by(warehouse.articles.c.article_id)).mappings()]
    eng.dispose()
    return rows


def test_sqlite_path_stores_what_the_generic_path_stores(nights, tmp_path: Path):
    first, second = nights
    fast, generic = f"sqlite:///{tmp_path / 'fast.db'}", f"sqlite:///{tmp_path / 'generic.db'}"
    for run_id, batch in (("run-1", first), ("run-2", second), ("run-3", second)):
        counts = load(fast, batch, run_id)
        assert load(generic, batch, run_id, rowwise=True) == counts
        assert stored_text(fast) == stored_text(generic)
        assert read_back(fast) == read_back(generic)
        if run_id == "run-2":
            assert counts == {"inserted": 5, "updated": 7, "unchanged": 23}
        if run_id == "run-3":
            assert counts == {"inserted": 0, "updated": 0, "unchanged": 35}
    got = {r["article_id"]: r for r in read_back(fast)}
    assert got["synth:1"]["authors"] == ["Анна Петрова", 'Jo "JJ" O\'Neil', "back\\slash"]
    assert (got["synth:4"]["tags"], got["synth:6"]["related_urls"]) == (
        ["as", "Parquet", "gives"], None)
    assert got["synth:3"]["published_at"] == pd.Timestamp("2022-01-31 15:42:00.123456")
    assert got["synth:4"]["modified_at"] is None
    assert (got["synth:5"]["first_run_id"], got["synth:5"]["last_run_id"]) == ("run-1", "run-2")


def test_a_batch_naming_an_id_twice(nights, tmp_path: Path):
    first, second = nights
    twice = pd.concat([first.iloc[:3], second.iloc[5:7]], ignore_index=True)
    twice.loc[4, "article_id"] = twice.loc[3, "article_id"]
    urls = {name: f"sqlite:///{tmp_path / name}.db" for name in ("fast", "generic")}
    for name, url in urls.items():
        load(url, first.iloc[:10], "run-1", rowwise=name == "generic")
        assert load(url, twice, "run-2", rowwise=name == "generic") == {
            "inserted": 0, "updated": 2, "unchanged": 3}
    assert stored_text(urls["fast"]) == stored_text(urls["generic"])


def test_a_bad_row_fails_the_whole_load(nights, tmp_path: Path):
    first, second = nights
    url = f"sqlite:///{tmp_path / 'w.db'}"
    load(url, first, "run-1")
    before = stored_text(url)
    bad = second.copy()
    bad.loc[len(bad) - 1, "title"] = None  # a new article violating NOT NULL
    with pytest.raises(sa.exc.IntegrityError, match="title"):
        load(url, bad, "run-2")
    assert stored_text(url) == before  # nor the edits, nor the versions, nor the other new rows


def test_lists_are_serialized_as_json_dumps_writes_them():
    values = [None, [], [""], ["a"], ["a", "b c"], ['say "hi"'], ["back\\slash"], ["Анна", "é"],
              ["\x7f"], ["\x1f", "\t"], [" !#[]~/"], [None], ["a", None], ["emoji 🙂"]]
    array = pa.chunked_array([pa.array(values[:5], pa.list_(pa.string())),
                              pa.array(values[5:], pa.list_(pa.string()))])
    assert json_lists(array, json.dumps).to_pylist() == [json.dumps(v) for v in values]


def _open_at_once(url: str, barrier: Any) -> None:
    """Runs in a child process: an error exits it with status 1 (and its traceback on stderr)."""
    eng = warehouse.engine(url)
    barrier.wait()
    with eng.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    eng.dispose()


def test_processes_opening_a_new_warehouse_file_at_once_all_connect(tmp_path):
    """Two `nightdesk run`s on a new SQLite file both switch it to WAL; SQLite refused the
    loser at once ("database is locked", busy_timeout or not): about one try in fifteen of
    this failed before the switch was read first and retried."""
    ctx = multiprocessing.get_context("fork")
    for rep in range(60):
        url = f"sqlite:///{tmp_path / f'w{rep}.db'}"
        barrier = ctx.Barrier(6)
        procs = [ctx.Process(target=_open_at_once, args=(url, barrier)) for _ in range(6)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [proc.exitcode for proc in procs] == [0] * 6, f"try {rep}: see stderr"
