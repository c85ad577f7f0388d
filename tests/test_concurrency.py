"""Two windows at once (a backfill with `--max-active-runs 2`) end with the same rows and
`duplicate_of` labels as the two loaded one after the other: labelling, the lake merge and the
index update happen under one lock at load (etl.clusters.load_window)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from etl import load, migrate, transform
from etl.neardup import NearDupIndex
from tests.conftest import REPO
from tests.test_verify import DAY1, DAY2, body, land, night, snapshot, story

WINDOWS = {DAY1: ("w1", ["alpha"]), DAY2: ("w2", ["beta"])}


def raw(data: Path) -> None:
    """Night 1: six alpha stories. Night 2: beta runs four of them (each a copy published a
    day later) and two of its own. The second window's transform must see the first window's
    stories to label its copies."""
    land(data, "alpha", DAY1, [story("alpha", 10 + i, "2022-01-31T08:00:00+00:00")
                               for i in range(6)])
    land(data, "beta", DAY2, [story("beta", 20 + i, "2022-02-01T09:00:00+00:00",
                                    "Syndicated.\n\n" + body(10 + i)) for i in range(4)]
         + [story("beta", 30 + i, "2022-02-01T09:00:00+00:00") for i in range(2)])


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> dict[tuple, dict[str, Any]]:
    """The state after the two windows one after the other, in either order."""
    states = {}
    for order in ((DAY1, DAY2), (DAY2, DAY1)):
        data = tmp_path_factory.mktemp("serial")
        raw(data)
        url = f"sqlite:///{data / 'warehouse.db'}"
        for day in order:
            night(data, url, day, WINDOWS[day][1], WINDOWS[day][0])
        states[order] = snapshot(data, url)
    return states


def test_serial_orders_label_the_copies(serial):
    labels = [row["duplicate_of"] for row in serial[(DAY1, DAY2)]["lake"]]
    assert labels == [None] * 6 + [f"alpha:{10 + i}" for i in range(4)] + [None] * 2


def test_both_transforms_before_either_load(tmp_path, serial):
    """The shape that lost labels: window 2 is transformed before window 1 is loaded, so its
    transform labels against an index without window 1's stories."""
    raw(tmp_path)
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    for day, (_, sources) in WINDOWS.items():
        transform.transform(day, day + timedelta(days=1), sources=sources, data_dir=tmp_path,
                            warehouse_url=url)
    for day, (run_id, _) in WINDOWS.items():
        load.load_lake(day, day + timedelta(days=1), data_dir=tmp_path, run_id=run_id)
    migrate.migrate(url)
    for day, (run_id, _) in reversed(WINDOWS.items()):
        load.load_warehouse(day, day + timedelta(days=1), data_dir=tmp_path, warehouse_url=url,
                            run_id=run_id)
        load.check(day, day + timedelta(days=1), data_dir=tmp_path, warehouse_url=url)
    assert snapshot(tmp_path, url) == serial[(DAY1, DAY2)]


RUN = """
import sys, time
from pathlib import Path
from datetime import datetime, timedelta
from etl.transform import transform
from etl.load import load_lake, load_warehouse, check
from etl.migrate import migrate
day, data, url, run_id, source, me, other = sys.argv[1:]
s = datetime.fromisoformat(day); e = s + timedelta(days=1)
migrate(url)  # both at once, as two `nightdesk run`s would
transform(s, e, sources=[source], data_dir=data, warehouse_url=url)
Path(me).touch()
while not Path(other).exists():  # both transforms read the index before either load
    time.sleep(0.01)
load_lake(s, e, data_dir=data, run_id=run_id)
load_warehouse(s, e, data_dir=data, warehouse_url=url, run_id=run_id)
check(s, e, data_dir=data, warehouse_url=url)
"""


def test_two_processes_at_once(tmp_path, serial):
    """Two windows in two processes at the same time, both transformed before either loads:
    the result is the serial one in the order their loads took the lock."""
    data = tmp_path / "data"
    raw(data)
    url = f"sqlite:///{data / 'warehouse.db'}"
    flags = [tmp_path / "t1", tmp_path / "t2"]
    procs = [subprocess.Popen(
        [sys.executable, "-c", RUN, day.isoformat(), str(data), url, run_id, sources[0],
         str(flags[i]), str(flags[1 - i])], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, (day, (run_id, sources)) in enumerate(WINDOWS.items())]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    # The index appends each window's stories as its load commits: its first id tells which
    # window went first.
    from etl import clusters

    first = NearDupIndex.load(clusters.index_path(data)).duplicate_of().index[0]
    order = (DAY1, DAY2) if first.startswith("alpha:") else (DAY2, DAY1)
    print("loads committed in the order", [d.date().isoformat() for d in order])
    assert snapshot(data, url) == serial[order]
    shutil.rmtree(data)
