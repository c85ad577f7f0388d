"""Crash safety and concurrency: kill -9 in the middle of a crawl, a Parquet write and a warehouse
load, then rerun; concurrent runs; retries after a commit. Each test prints row counts and
checksums before and after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa

from contracts.layout import window_dir
from etl import lake, warehouse
from tests.conftest import REPO, write_sources

START = datetime(2022, 1, 31, 2, tzinfo=UTC)
END = START + timedelta(days=1)
WORDS = ("kremlin ministry talks sanctions ruble pipeline winter court election agency drills "
         "border treaty minister statement economy inflation market energy gas security").split()


def synthetic_window(data: Path, n: int, source: str = "moscowtimes") -> None:
    """A crawled window of n distinct articles in the spiders' raw format, spread over months."""
    folder = window_dir(data, source, START, END)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "articles.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            words = [WORDS[(i * 7 + j * 3 + j * j) % len(WORDS)] for j in range(120)]
            body = " ".join(words[:60]) + f" story {i}.\n\n" + " ".join(words[60:]) + f" end {i}."
            published = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(hours=4 * i)
            fh.write(json.dumps({
                "article_id": f"{source}:{900000 + i}", "source": source,
                "url": f"https://www.themoscowtimes.com/x/story-a{900000 + i}",
                "title": f"Synthetic story {i}", "subtitle": None, "authors": ["A. Writer"],
                "published_at": published.isoformat(), "published_at_from": "test",
                "modified_at": None, "modified_at_from": None, "section": "news", "tags": [],
                "language": "en", "description": None, "body": body, "image_url": None,
                "image_caption": None, "image_credits": None, "related_urls": [],
                "crawled_at": "2022-02-01T00:00:00+00:00"}) + "\n")
    (folder / "rejects.jsonl").write_text("")
    (folder / "stats.json").write_text(json.dumps({"start_time": "2022-02-01T00:00:00+00:00"}))


def step(code: str, data: Path, url: str, run_id: str = "r1") -> subprocess.Popen:
    """One pipeline step in its own process, so it can be killed with SIGKILL."""
    prelude = (f"from etl.transform import transform; from etl.load import load_lake, "
               f"load_warehouse, check; s={START.isoformat()!r}; e={END.isoformat()!r}; "
               f"d={str(data)!r}; u={url!r}; r={run_id!r}\n")
    return subprocess.Popen([sys.executable, "-c", prelude + code], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> None:
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]


def kill_after(proc: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL the step after `seconds`; False when it had already finished."""
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def state(data: Path, url: str) -> dict:
    files = sorted(p.relative_to(data) for p in (data / "lake").rglob("*") if p.is_file())
    visible = [p for p in files if not any(part.startswith(".") for part in p.parts)]
    # every visible file must be a complete Parquet file (the dataset reads them all)
    lake_rows = lake.checksum(data)
    try:
        wh = warehouse.checksum(url)
    except sa.exc.OperationalError:
        wh = (0, "no warehouse")
    result = {"lake": lake_rows, "warehouse": wh, "visible_files": len(visible),
              "hidden_files": [str(p) for p in files if p not in visible and p.name != ".lock"]}
    print(json.dumps(result, default=str))
    return result


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The state an uninterrupted run reaches on the synthetic window."""
    data = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{data / 'w.db'}"
    synthetic_window(data, 6000)
    finish(step("transform(s, e, sources=['moscowtimes'], data_dir=d, warehouse_url=u); "
                "load_lake(s, e, data_dir=d, run_id=r); "
                "load_warehouse(s, e, data_dir=d, warehouse_url=u, run_id=r)", data, url))
    return state(data, url)


@pytest.mark.parametrize("delay", [0.5, 1.5, 3.0])
def test_kill_during_parquet_write_then_rerun(tmp_path, reference, delay):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    synthetic_window(tmp_path, 6000)
    finish(step("transform(s, e, sources=['moscowtimes'], data_dir=d, warehouse_url=u)",
                tmp_path, url))
    killed = kill_after(step("load_lake(s, e, data_dir=d, run_id=r)", tmp_path, url), delay)
    during = state(tmp_path, url)  # readable: no partial file is visible to a reader
    if (tmp_path / "lake" / "articles").exists():
        ds.dataset(tmp_path / "lake" / "articles", format="parquet",
                   partitioning="hive").to_table()
    finish(step("load_lake(s, e, data_dir=d, run_id=r); "
                "load_warehouse(s, e, data_dir=d, warehouse_url=u, run_id=r); "
                "check(s, e, data_dir=d, warehouse_url=u)", tmp_path, url))
    after = state(tmp_path, url)
    print(f"killed={killed} during={during['lake']} after={after['lake']}")
    assert after["lake"] == reference["lake"] and after["warehouse"] == reference["warehouse"]
    assert after["hidden_files"] == []


@pytest.mark.parametrize("delay", [0.3, 1.0])
def test_kill_during_warehouse_load_then_rerun(tmp_path, reference, delay):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    synthetic_window(tmp_path, 6000)
    finish(step("transform(s, e, sources=['moscowtimes'], data_dir=d, warehouse_url=u); "
                "load_lake(s, e, data_dir=d, run_id=r)", tmp_path, url))
    killed = kill_after(step("load_warehouse(s, e, data_dir=d, warehouse_url=u, run_id=r)",
                             tmp_path, url), delay)
    during = state(tmp_path, url)
    # one transaction: after a kill the warehouse holds all of the load or none of it
    assert during["warehouse"][0] in (0, reference["warehouse"][0])
    finish(step("load_warehouse(s, e, data_dir=d, warehouse_url=u, run_id=r); "
                "check(s, e, data_dir=d, warehouse_url=u)", tmp_path, url))
    after = state(tmp_path, url)
    print(f"killed={killed} during={during['warehouse']} after={after['warehouse']}")
    assert after["warehouse"] == reference["warehouse"]


def test_retry_after_commit_is_a_no_op(tmp_path, reference):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    synthetic_window(tmp_path, 6000)
    code = ("transform(s, e, sources=['moscowtimes'], data_dir=d, warehouse_url=u); "
            "load_lake(s, e, data_dir=d, run_id=r); "
            "print(load_warehouse(s, e, data_dir=d, warehouse_url=u, run_id=r))")
    finish(step(code, tmp_path, url))
    before = state(tmp_path, url)
    retry = step("print(load_warehouse(s, e, data_dir=d, warehouse_url=u, run_id=r))",
                 tmp_path, url)
    out, err = retry.communicate(timeout=300)
    assert retry.returncode == 0, err
    assert "'inserted': 6000" in out  # the recorded figures of the committed load, not a recount
    assert state(tmp_path, url) == before
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(warehouse.runs)).scalar() == 1


def _cli(data: Path, sources: Path, day: str, run_id: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nightdesk.cli", "run", "--day", day,
                             "--sources", str(sources), "--data-dir", str(data),
                             "--run-id", run_id],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_during_crawl_then_rerun(tmp_path, sources_file):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    proc = _cli(tmp_path, sources_file, "2022-01-31", "killed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((tmp_path / "raw").rglob("crawl.log")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state(tmp_path, url)
    assert not list((tmp_path / "raw").rglob("stats.json"))  # the window is not complete
    assert not (tmp_path / "lake" / "articles").exists()
    rerun = _cli(tmp_path, sources_file, "2022-01-31", "rerun")
    _out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-3000:]
    after = state(tmp_path, url)
    assert after["lake"] == after["warehouse"] and after["lake"][0] == 6


def test_concurrent_runs_same_and_different_intervals(tmp_path):
    sources = write_sources(tmp_path / "s.toml")
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    procs = [_cli(tmp_path, sources, day, f"c{i}")
             for i, day in enumerate(["2022-01-31", "2022-01-31", "2022-01-30", "2022-02-01"])]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    after = state(tmp_path, url)
    assert after["lake"] == after["warehouse"]
    assert after["lake"][0] == 6 + 3 + 3  # Jan 31, Jan 30 and Feb 1 windows, once each
    ids = lake.read(tmp_path, ["article_id"])["article_id"]
    assert not ids.duplicated().any()
