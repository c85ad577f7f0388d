"""How long the scheduler's parse of dags/news_pipeline.py takes, once Airflow's SDK is imported.

The DAG file must stay cheap to parse (the dag-processor parses it every 30 s): tests/test_dag.py
asserts that it imports nothing heavy; this measures the time, which depends on the machine and
its load and so is no test. Each repeat runs in a fresh interpreter (a second parse in one process
would find its modules cached).

    .venv/bin/python -m bench.dag_parse [--repeats 5]

One JSON line: {"repeats": N, "parse_s": [...], "median_s": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "dags" / "news_pipeline.py"

_CHILD = f"""
import importlib.util, time
import airflow.sdk  # imported by every DAG file the processor parses: not this file's cost
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("news_pipeline", {str(DAG_FILE)!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(time.perf_counter() - t)
"""


def parse_seconds() -> float:
    out = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO, check=True, text=True,
                         capture_output=True, env=dict(os.environ, AIRFLOW_HOME=str(REPO)))
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    times = [parse_seconds() for _ in range(args.repeats)]
    print(json.dumps({"repeats": args.repeats, "parse_s": [round(t, 4) for t in times],
                      "median_s": round(statistics.median(times), 4)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
