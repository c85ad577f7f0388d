"""`nightdesk query "SQL"`: DuckDB over a real lake and warehouse made by real pipeline runs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from nightdesk.cli import main
from nightdesk.pipeline import run
from tests.conftest import REPO, write_sources

RAW_REJECTS = [  # the contract's reject rows, as the crawl writes them
    {"source": "moscowtimes", "url": "https://www.themoscowtimes.com/2022/01/31/gone-a1",
     "stage": "fetch", "reason": "http_404", "detail": "", "at": "2022-01-31T10:00:00+00:00"},
    {"source": "moscowtimes", "url": "https://www.themoscowtimes.com/news", "stage": "parse",
     "reason": "not_article", "detail": "not_article: no body",
     "at": "2022-01-31T10:00:01+00:00"},
]


def nightdesk(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`nightdesk ARGS` in this process (no interpreter start per call): exit code and output."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    try:
        os.chdir(cwd or REPO)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["nightdesk", *args], code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def state(tmp_path_factory, seed_path):
    """Two nights loaded (2022-01-30 and 2022-01-31), one raw rejects file with two rows (and
    one of a killed crawl)."""
    data = tmp_path_factory.mktemp("query")
    url = f"sqlite:///{data / 'warehouse.db'}"
    sources = write_sources(data / "sources.toml")
    for i, (start, end) in enumerate([("2022-01-30T02:00:00+00:00", "2022-01-31T02:00:00+00:00"),
                                      ("2022-01-31T02:00:00+00:00", "2022-02-01T02:00:00+00:00")]):
        run(start, end, sources_file=str(sources), data_dir=str(data), warehouse_url=url,
            run_id=f"q-{i}")
    rejects = next((data / "raw").glob("source=moscowtimes/window=20220131*/rejects.jsonl"))
    rejects.write_text("".join(json.dumps(r) + "\n" for r in RAW_REJECTS), encoding="utf-8")
    # A crawl killed while writing leaves a hidden folder: not a complete window, not counted.
    killed = rejects.parent.parent / ".tmp-window=20220201T020000Z_20220202T020000Z-0badf00d"
    killed.mkdir()
    (killed / "rejects.jsonl").write_text(json.dumps({**RAW_REJECTS[0], "reason": "dns"}) + "\n")
    return data, url


def lake_count(data: Path) -> int:
    return ds.dataset(data / "lake" / "articles", format="parquet",
                      partitioning="hive").count_rows()


def test_csv_count_of_articles_is_the_lake_count(state):
    data, _ = state
    proc = nightdesk("query", "--data-dir", str(data), "--format", "csv",
                     "select count(*) as n from articles")
    assert proc.returncode == 0, proc.stderr
    n = lake_count(data)
    assert n >= 5
    assert proc.stdout.splitlines() == ["n", str(n)]


def test_runs_view_is_the_warehouse_runs_table(state):
    data, url = state
    proc = nightdesk("query", "--data-dir", str(data), "--format", "csv",
                     "select run_id, source, inserted, interval_start from runs order by run_id")
    assert proc.returncode == 0, proc.stderr
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        want = conn.execute(sa.text("select run_id, source, inserted from runs order by run_id")
                            ).all()
    eng.dispose()
    got = [line.split(",") for line in proc.stdout.splitlines()[1:]]
    assert [(r[0], r[1], int(r[2])) for r in got] == [tuple(w) for w in want]
    assert got[0][3].startswith("2022-01-30 02:00:00")  # a timestamp, in UTC


def test_articles_join_runs_and_partitions(state):
    data, _ = state
    proc = nightdesk("query", "--data-dir", str(data), "--format", "csv",
                     "select a.source, count(*) as n from articles a join runs r "
                     "on a.first_run_id = r.run_id group by all")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["source,n", f"moscowtimes,{lake_count(data)}"]


def test_rejects_view_reads_raw_files_and_a_warehouse_rejects_table(state, tmp_path):
    data, _ = state
    sql = "select reason, stage, crawl_window, origin from rejects order by reason"
    proc = nightdesk("query", "--data-dir", str(data), "--format", "csv", sql)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "reason,stage,crawl_window,origin",
        "http_404,fetch,20220131T020000Z_20220201T020000Z,raw",
        "not_article,parse,20220131T020000Z_20220201T020000Z,raw"]
    # A warehouse with a rejects table (one row the raw file also has, one new): both counted,
    # the shared one once.
    copy = tmp_path / "warehouse.db"
    copy.write_bytes((data / "warehouse.db").read_bytes())
    eng = sa.create_engine(f"sqlite:///{copy}")
    with eng.begin() as conn:
        conn.execute(sa.text("create table rejects (source text, url text, stage text, "
                             "reason text, detail text, at text, window text)"))
        for r in (RAW_REJECTS[0], {**RAW_REJECTS[0], "url": "https://x.test/a", "reason": "dns"}):
            conn.execute(sa.text("insert into rejects values (:source, :url, :stage, :reason, "
                                 ":detail, :at, '20220131T020000Z_20220201T020000Z')"), r)
    eng.dispose()
    proc = nightdesk("query", "--data-dir", str(data), "--warehouse", f"sqlite:///{copy}",
                     "--format", "csv", "select reason, count(*) as n from rejects "
                     "group by all order by reason")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["reason,n", "dns,1", "http_404,1", "not_article,1"]


def test_parquet_output_and_default_table(state, tmp_path):
    data, _ = state
    out = tmp_path / "titles.parquet"
    sql = "select article_id, title, published_at from articles order by article_id"
    proc = nightdesk("query", "--data-dir", str(data), "--format", "parquet", "--output",
                     str(out), sql)
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(out)
    assert table.num_rows == lake_count(data)
    assert table.column_names == ["article_id", "title", "published_at"]
    assert all(table.column("title").to_pylist())
    shown = nightdesk("query", "--data-dir", str(data), sql)
    assert shown.returncode == 0, shown.stderr
    assert "article_id" in shown.stdout and f"{lake_count(data)} rows" in shown.stdout
    assert table.column("article_id")[0].as_py() in shown.stdout


def test_empty_data_dir_has_empty_views_and_creates_nothing(tmp_path):
    proc = nightdesk("query", "--data-dir", str(tmp_path), "--format", "csv",
                     "select (select count(*) from articles) as a, (select count(*) from runs) "
                     "as r, (select count(*) from rejects) as j")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["a,r,j", "0,0,0"]
    assert list(tmp_path.iterdir()) == []  # no warehouse file made by a query


def test_bad_input_gets_a_one_line_error(state):
    data, _ = state
    proc = nightdesk("query", "--data-dir", str(data), "select * from nowhere")
    assert proc.returncode == 1
    assert proc.stderr.startswith("nightdesk query: ") and len(proc.stderr.splitlines()) == 1
    assert "nowhere" in proc.stderr
    proc = nightdesk("query", "--data-dir", str(data), "--format", "parquet", "select 1")
    assert proc.returncode == 2 and "--output" in proc.stderr


@pytest.mark.postgres
def test_runs_and_quarantine_from_a_postgresql_warehouse(tmp_path, pg_url, seed_path):
    sources = write_sources(tmp_path / "sources.toml")
    result = run("2022-01-31T02:00:00+00:00", "2022-02-01T02:00:00+00:00",
                 sources_file=str(sources), data_dir=str(tmp_path), warehouse_url=pg_url,
                 run_id="pg-1")
    proc = nightdesk("query", "--data-dir", str(tmp_path), "--warehouse", pg_url, "--format",
                     "csv", "select run_id, inserted, (select count(*) from quarantine) as q, "
                     "(select count(*) from articles) as a from runs")
    assert proc.returncode == 0, proc.stderr
    inserted = result["warehouse"]["moscowtimes"]["inserted"]
    assert proc.stdout.splitlines() == ["run_id,inserted,q,a", f"pg-1,{inserted},0,{inserted}"]


def test_rejects_view_takes_a_lake_rejects_dataset(tmp_path):
    """A `lake/rejects/` dataset (when the loads write one) joins the view with origin `lake`."""
    folder = tmp_path / "lake" / "rejects" / "window=W"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"source": ["moscowtimes"], "url": ["https://x.test/a"],
                             "stage": ["load"], "reason": ["guard_refused"],
                             "window": ["20220131T020000Z_20220201T020000Z"]}),
                   folder / "part-0.parquet")
    proc = nightdesk("query", "--data-dir", str(tmp_path), "--format", "csv",
                     "select reason, stage, crawl_window, origin, detail from rejects")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "reason,stage,crawl_window,origin,detail",
        "guard_refused,load,20220131T020000Z_20220201T020000Z,lake,"]
