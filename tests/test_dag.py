"""DAG integrity (broad and cheap) and one full `airflow dags test` run against the replica."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO, write_sources

DAG_FILE = REPO / "dags" / "news_pipeline.py"


def airflow_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, AIRFLOW_HOME=str(REPO), PYTHONPATH=str(REPO),
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp / 'airflow.db'}",
               AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(tmp / "logs"),
               NIGHTDESK_DATA_DIR=str(tmp / "data"), NIGHTDESK_TASK_RETRIES="0")
    env.update(extra)
    return env


def run_py(code: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env=env or dict(os.environ, AIRFLOW_HOME=str(REPO)), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_dag_file_imports_light():
    """Parsing the DAG file imports nothing heavy (its parse time is bench/dag_parse.py's)."""
    out = run_py(f"""
import json, sys, importlib.util
from airflow.sdk import Asset, CronDataIntervalTimetable, chain, dag, get_current_context, task
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("news_pipeline", {str(DAG_FILE)!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
heavy = sorted(m for m in set(sys.modules) - before
               if m.split('.')[0] in ('pandas', 'pyarrow', 'scrapy', 'sqlalchemy', 'lxml',
                                      'spiders', 'etl', 'twisted', 'alembic'))
print(json.dumps({{"heavy": heavy}}))
""")
    assert json.loads(out)["heavy"] == []


def test_dagbag_has_no_import_errors_and_the_expected_shape(tmp_path):
    out = run_py(f"""
import inspect, json
from airflow.models.dagbag import DagBag
bag = DagBag(dag_folder={str(REPO / 'dags')!r})
dag = bag.dags["news_pipeline"]
tasks = {{t.task_id: t for t in dag.tasks}}
print(json.dumps({{
    "errors": {{k: str(v) for k, v in bag.import_errors.items()}},
    "dags": sorted(bag.dags),
    "timetable": type(dag.timetable).__name__,
    "cron": getattr(dag.timetable, "expression", None),
    "catchup": dag.catchup,
    "tasks": sorted(tasks),
    "retries": {{k: t.retries for k, t in tasks.items()}},
    "backoff": all(t.retry_exponential_backoff for t in tasks.values()),
    "mapped": sorted(k for k, t in tasks.items() if t.is_mapped),
    "outlets": {{k: [a.name for a in t.outlets] for k, t in tasks.items() if t.outlets}},
    "downstream": {{k: sorted(t.downstream_task_ids) for k, t in tasks.items()}},
    "params": {{k: sorted(inspect.signature(t.python_callable).parameters)
               for k, t in tasks.items()}},
}}))
""", env=airflow_env(tmp_path, NIGHTDESK_TASK_RETRIES="2"))
    info = json.loads(out)
    assert info["errors"] == {}
    assert info["dags"] == ["news_pipeline"]
    assert info["timetable"] == "CronDataIntervalTimetable"
    assert info["cron"] == "0 2 * * *"
    assert info["catchup"] is False
    assert info["tasks"] == ["check", "crawl", "list_sources", "load_lake", "load_warehouse",
                             "migrate", "transform"]
    assert set(info["retries"].values()) == {2}
    assert info["backoff"]
    assert info["mapped"] == ["crawl"]
    assert info["outlets"] == {"load_lake": ["nightdesk_lake_articles"],
                               "load_warehouse": ["nightdesk_warehouse_articles"]}
    # migrate first; the order is wired with chain, and a task takes only what it reads
    assert info["downstream"]["migrate"] == ["list_sources"]
    assert info["downstream"]["list_sources"] == ["crawl", "transform"]
    assert info["params"]["transform"] == ["sources"]
    assert not any(info["params"][k] for k in ("migrate", "load_lake", "load_warehouse", "check"))
    assert info["downstream"]["crawl"] == ["transform"]
    assert info["downstream"]["transform"] == ["load_lake"]
    assert info["downstream"]["load_lake"] == ["load_warehouse"]
    assert info["downstream"]["load_warehouse"] == ["check"]


@pytest.mark.slow
def test_full_dag_run_against_the_replica(tmp_path, seed_path):
    """One real `airflow dags test`: day 2022-01-31's window through every task."""
    sources = write_sources(tmp_path / "sources.toml")
    env = airflow_env(tmp_path, NIGHTDESK_SOURCES=str(sources))
    proc = subprocess.run([str(REPO / "bin" / "airflow"), "dags", "test", "news_pipeline",
                           "2022-02-01T02:00:00+00:00"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert "state=success" in log and "DagRun Finished" in log
    assert "crawl figures:" in log and "warehouse load figures:" in log  # figures in task logs

    from etl import lake, warehouse

    data = tmp_path / "data"
    rows = lake.read(data)
    assert "moscowtimes:76213" in set(rows["article_id"])
    assert rows["published_at"].min() >= datetime(2022, 1, 31, 2, tzinfo=UTC)
    assert lake.checksum(data) == warehouse.checksum(f"sqlite:///{data / 'warehouse.db'}")

    import sqlite3

    with sqlite3.connect(tmp_path / "airflow.db") as conn:
        labels = conn.execute("SELECT rendered_map_index FROM task_instance "
                              "WHERE task_id = 'crawl'").fetchall()
        extras = [json.loads(e) for (e,) in conn.execute("SELECT extra FROM asset_event")]
    assert labels == [("moscowtimes",)]  # the mapped crawl is labelled by its source
    figures = next(e for e in extras if "sources" in e)  # the warehouse asset's event
    assert figures["window"] == {"start": "2022-01-31T02:00:00+00:00",
                                 "end": "2022-02-01T02:00:00+00:00"}
    assert figures["sources"]["moscowtimes"]["inserted"] == len(rows)
    assert any("partitions_written" in e for e in extras)  # the lake asset's event


@pytest.mark.slow
def test_a_night_after_the_replica_clock_fails_at_once(tmp_path):
    """The first scheduled night under `make ui` is today's window, which the replica (frozen in
    2022) cannot hold: the crawl fails without retries and says why; nothing is loaded."""
    sources = write_sources(tmp_path / "sources.toml")
    env = airflow_env(tmp_path, NIGHTDESK_SOURCES=str(sources), NIGHTDESK_TASK_RETRIES="2")
    proc = subprocess.run([str(REPO / "bin" / "airflow"), "dags", "test", "news_pipeline",
                           "2026-12-07T02:00:00+00:00"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert "moscowtimes is the bundled replica, frozen at 2022-02-02T12:00:00+03:00" in log
    assert "state=failed" in log and "up_for_retry" not in log.lower()
    # the migrate task made the warehouse; nothing was loaded into it
    from etl import warehouse

    assert warehouse.checksum(f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}")[0] == 0


@pytest.mark.slow
def test_a_task_on_a_warehouse_behind_the_code_fails_at_once_and_says_what_to_run(tmp_path):
    """Only the migrate task changes the schema: load_warehouse alone (`airflow tasks test`) on
    a warehouse at 0003 fails without retries, names both versions and leaves it at 0003."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from etl import migrate, warehouse

    (tmp_path / "data").mkdir()
    url = f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}"
    eng = warehouse.engine(url)
    cfg = Config(str(REPO / "alembic.ini"))
    cfg.attributes["configure_logger"] = False
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    env = airflow_env(tmp_path, NIGHTDESK_TASK_RETRIES="2")
    proc = subprocess.run([str(REPO / "bin" / "airflow"), "tasks", "test", "news_pipeline",
                           "load_warehouse", "2022-02-01T02:00:00+00:00"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert (f"AirflowFailException: warehouse schema is at 0003, this code needs "
            f"{migrate.head()}: run `nightdesk migrate`") in log
    assert "new_state=failed" in log and "up_for_retry" not in log.lower()
    with eng.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0003"
    eng.dispose()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_api(port: int, timeout: float) -> None:
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health",
                                        timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"the api-server did not answer within {timeout}s")


def _backfill_states(db: Path) -> dict[str, str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return dict(conn.execute(
            "SELECT run_id, state FROM dag_run WHERE run_id LIKE 'backfill__%'").fetchall())


@pytest.mark.slow
def test_three_day_backfill_through_the_scheduler(tmp_path, seed_path):
    """`airflow backfill create` over three December days, run by a real scheduler and API server:
    older than the news sitemaps, so the spider works through the monthly sitemaps."""
    import signal
    import time

    from etl import lake, warehouse
    from tests.test_crawl_e2e import expected_ids

    port = _free_port()
    env = airflow_env(tmp_path, NIGHTDESK_SOURCES=str(write_sources(tmp_path / "s.toml")),
                      AIRFLOW__API__PORT=str(port),
                      AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
                      # only the backfill's runs: no scheduled run of today's window beside them
                      AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False")
    airflow = str(REPO / "bin" / "airflow")

    def cli(*args: str) -> None:
        proc = subprocess.run([airflow, *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]

    cli("dags", "reserialize")
    cli("backfill", "create", "--dag-id", "news_pipeline", "--from-date", "2021-12-15",
        "--to-date", "2021-12-18")
    cli("dags", "unpause", "news_pipeline")
    # Each component's output is kept beside the test's metadata DB for a failed run's post-mortem.
    def start(component: str) -> subprocess.Popen:
        return subprocess.Popen([airflow, component], cwd=REPO, env=env, start_new_session=True,
                                stdout=open(tmp_path / f"{component}.log", "wb"),
                                stderr=subprocess.STDOUT)

    procs = [start("api-server")]
    try:
        # The scheduler's first tasks call the execution API at once: on a loaded machine a task
        # started before the api-server listens fails with "connection refused" (seen here).
        _wait_for_api(port, timeout=180)
        procs.append(start("scheduler"))
        deadline = time.monotonic() + 420
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = _backfill_states(tmp_path / "airflow.db")
            if len(states) == 3 and set(states.values()) <= {"success", "failed"}:
                break
            time.sleep(3)
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    assert states and set(states.values()) == {"success"}, states
    assert len(states) == 3
    # Each run's real wall-clock time (the scheduler's start, not its 2021 logical date)...
    import sqlite3

    with sqlite3.connect(tmp_path / "airflow.db") as conn:
        spans = conn.execute("SELECT julianday(end_date) - julianday(start_date) FROM dag_run "
                             "WHERE run_id LIKE 'backfill__%'").fetchall()
    assert all(0 < days * 86400 < 600 for (days,) in spans), spans
    # ...and the Nightdesk report's nights are the backfilled windows, each with its figures.
    from etl import runreport

    figs = runreport.figures(f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}")
    assert sorted(n["night"] for n in figs["nights"]) == ["2021-12-15", "2021-12-16",
                                                          "2021-12-17"]
    assert all(n["crawl_seconds"] is not None and n["health"] for n in figs["nights"])

    data = tmp_path / "data"
    start = datetime(2021, 12, 15, 2, tzinfo=UTC)
    want = expected_ids(seed_path, start, datetime(2021, 12, 18, 2, tzinfo=UTC))
    assert want and set(lake.read(data)["article_id"]) == want
    assert lake.checksum(data) == warehouse.checksum(f"sqlite:///{data / 'warehouse.db'}")
    stats = [json.loads(p.read_text()) for p in (data / "raw").rglob("stats.json")]
    # every backfilled window found its articles in the sitemaps (December is older than the news
    # sitemap and the feeds reach: the monthly sitemaps listed them)
    assert len(stats) == 3 and all(s.get("nightdesk/sitemap_urls", 0) > 0 for s in stats)
