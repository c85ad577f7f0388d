"""Crash safety and concurrency: kill -9 in the middle of a crawl, a Parquet write and a warehouse
load, then rerun; concurrent runs; retries after a commit. Each test prints row counts and
checksums before and after.

A kill lands mid-step by construction, not by timing: the step pauses at the n-th call of a function
it uses (a Parquet writer's write_table, os.replace, the SQL statement recording the run, the
alignment of the lake's run ids) and writes a marker; the test then sends SIGKILL and checks the
step had not ended and died of that signal. When the code no longer makes such a call, the test
fails saying the step ended before its kill point: choose another."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

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


class Pause(NamedTuple):
    """The n-th call of `owner`'s function `name` (`owner`: "module" or "module:Class") whose
    first argument's text contains `match`."""

    owner: str
    name: str
    nth: int = 1
    match: str = ""


def step(code: str, data: Path, url: str, run_id: str = "r1",
         pause: tuple[Pause, Path] | None = None) -> subprocess.Popen:
    """One pipeline step in its own process, so it can be killed with SIGKILL. With `pause`
    (where, marker): that call writes the marker and blocks, for kill_paused(); the step writes
    marker.end if it gets to its end."""
    prelude = (f"from etl.transform import transform; from etl.load import load_lake, "
               f"load_warehouse, check; from etl.migrate import migrate; "
               f"s={START.isoformat()!r}; e={END.isoformat()!r}; "
               f"d={str(data)!r}; u={url!r}; r={run_id!r}; migrate(u)\n")
    if pause:
        where, marker = pause
        prelude += PAUSE.format(**where._asdict(), marker=str(marker))
        code += f"\nopen({str(marker) + '.end'!r}, 'w').close()"
    return subprocess.Popen([sys.executable, "-c", prelude + code], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


PAUSE = """
import importlib, time
_path, _, _attr = {owner!r}.partition(":")
_owner = importlib.import_module(_path)
_owner = getattr(_owner, _attr) if _attr else _owner
_real, _calls = getattr(_owner, {name!r}), [0]
def _paused(*args, **kwargs):
    first = args[1] if isinstance(_owner, type) else (args[0] if args else None)
    hit = not {match!r} or {match!r} in str(first)
    _calls[0] += hit
    if hit and _calls[0] == {nth}:
        open({marker!r}, "w").close()
        time.sleep(600)  # the test kills this process here
    return _real(*args, **kwargs)
setattr(_owner, {name!r}, _paused)
"""


def finish(proc: subprocess.Popen) -> None:
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]


def kill_paused(proc: subprocess.Popen, marker: Path, timeout: float = 300) -> None:
    """SIGKILL the step once it has paused at its marker, and check it died mid-step: it was
    still running, had not ended, and died of SIGKILL."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            _out, err = proc.communicate()
            pytest.fail(f"the step ended ({proc.returncode}) before its kill point: {err[-2000:]}")
        assert time.monotonic() < deadline, "the step never reached its kill point"
        time.sleep(0.02)
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert not Path(f"{marker}.end").exists()


def state(data: Path, url: str) -> dict:
    files = sorted(p.relative_to(data) for p in (data / "lake").rglob("*") if p.is_file())
    visible = [p for p in files if not any(part.startswith(".") for part in p.parts)]
    # every visible file must be a complete Parquet file (the dataset reads them all); a kill
    # inside the first file's write leaves only hidden files: an empty lake
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


# The lake load of the synthetic window writes 33 partition files (one write_table and one
# os.replace each): killed inside the first and the 20th file's write, and between the 25th file's
# write and its rename.
@pytest.mark.parametrize("pause", [Pause("pyarrow.parquet:ParquetWriter", "write_table", 1),
                                   Pause("pyarrow.parquet:ParquetWriter", "write_table", 20),
                                   Pause("os", "replace", 25)], ids=lambda p: f"{p.name}{p.nth}")
def test_kill_during_parquet_write_then_rerun(tmp_path, reference, pause):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    synthetic_window(tmp_path, 6000)
    finish(step("transform(s, e, sources=['moscowtimes'], data_dir=d, warehouse_url=u)",
                tmp_path, url))
    marker = tmp_path / "paused"
    kill_paused(step("load_lake(s, e, data_dir=d, run_id=r)", tmp_path, url,
                     pause=(pause, marker)), marker)
    during = state(tmp_path, url)  # readable: no partial file is visible to a reader
    if (tmp_path / "lake" / "articles").exists():
        ds.dataset(tmp_path / "lake" / "articles", format="parquet",
                   partitioning="hive").to_table()
    finish(step("load_lake(s, e, data_dir=d, run_id=r); "
                "load_warehouse(s, e, data_dir=d, warehouse_url=u, run_id=r); "
                "check(s, e, data_dir=d, warehouse_url=u)", tmp_path, url))
    after = state(tmp_path, url)
    print(f"killed at {pause}: during={during['lake']} after={after['lake']}")
    assert 0 < during["lake"][0] < reference["lake"][0] or pause.nth == 1  # some partitions in
    assert after["lake"] == reference["lake"] and after["warehouse"] == reference["warehouse"]
    assert after["hidden_files"] == []


# Inside the load's one transaction (its articles written, the runs row being recorded): nothing
# committed. After its commit, while the lake's rows take the run ids: all of it.
WAREHOUSE_KILLS = {
    "before_commit": (Pause("sqlalchemy.engine:Connection", "execute", match="INSERT INTO runs"),
                      0),
    "after_commit": (Pause("etl.runids", "align_lake"), 6000),
}


@pytest.mark.parametrize("where", sorted(WAREHOUSE_KILLS))
def test_kill_during_warehouse_load_then_rerun(tmp_path, reference, where):
    pause, rows = WAREHOUSE_KILLS[where]
    url = f"sqlite:///{tmp_path / 'w.db'}"
    synthetic_window(tmp_path, 6000)
    finish(step("transform(s, e, sources=['moscowtimes'], data_dir=d, warehouse_url=u); "
                "load_lake(s, e, data_dir=d, run_id=r)", tmp_path, url))
    marker = tmp_path / "paused"
    kill_paused(step("load_warehouse(s, e, data_dir=d, warehouse_url=u, run_id=r)", tmp_path, url,
                     pause=(pause, marker)), marker)
    during = state(tmp_path, url)
    # one transaction: after a kill the warehouse holds all of the load or none of it
    assert during["warehouse"][0] == rows
    finish(step("load_warehouse(s, e, data_dir=d, warehouse_url=u, run_id=r); "
                "check(s, e, data_dir=d, warehouse_url=u)", tmp_path, url))
    after = state(tmp_path, url)
    print(f"killed {where}: during={during['warehouse']} after={after['warehouse']}")
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
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: see the crawl kill


def test_kill_during_crawl_then_rerun(tmp_path, sources_file):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    proc = _cli(tmp_path, sources_file, "2022-01-31", "killed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((tmp_path / "raw").rglob("crawl.log")):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    # The crawl has begun (Scrapy writes its log) and not ended (stats.json is written last):
    # SIGKILL to the CLI and its Scrapy child at once, as a machine's crash would stop both.
    assert list((tmp_path / "raw").rglob("crawl.log"))
    assert proc.poll() is None and not list((tmp_path / "raw").rglob("stats.json"))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
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
