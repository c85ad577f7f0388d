"""The ETL benchmark: the whole ETL on N synthetic raw articles, against a floor and a naive ETL.

    make bench-etl                  # N=100000
    make bench-etl N=1000000
    .venv/bin/python -m bench.etl_bench --n 50000 --profile /tmp/etl.prof   # + top-10 profile

One run, on the same rows:

1. raw: bench.synth writes N rows (5 sources, one window 2019-01-01 .. 2026-11-27 holding every
   publication date, 5 % exact and 5 % near copies, 0.5 % bad rows) into the cache
   `data/bench/n{N}-seed{S}-{synth version}/`, reused by later runs. It also lands a PRELOAD
   window (another window label) holding the first 20 % (--preload) of every source's lines.
2. preload (not timed into wall_s): transform + load_lake + load_warehouse of the preload window
   into a fresh work dir (lake + SQLite warehouse), so the timed run meets a warehouse that
   already holds a fifth of its articles: those come back unchanged, and copies of them are
   caught by the dedupe against what is loaded, as on a real night after a backfill.
3. etl (timed: wall_s): etl.transform.transform, etl.load.load_lake and etl.load.load_warehouse
   of the main window (all N rows), each called as the DAG calls it.
4. floor (floor_s): what no ETL of these rows can avoid: pyarrow.json.read_json of the same raw
   files, one Parquet file written (zstd), and the rows inserted into SQLite with executemany in
   one transaction (table keyed by article_id, list fields as JSON text). Nothing else.
5. naive (naive_s): pandas.read_json(lines=True, convert_dates=False) of every file, concat,
   drop_duplicates("article_id"), list fields to JSON text, DataFrame.to_sql into SQLite.

Each of 2..5 runs in its own Python process, so peak_rss_mb is the ETL's own: the maximum of the
child's own peak (VmHWM, and getrusage CHILDREN ru_maxrss for any helper it waited for, read by
the child at the end) and of the summed RSS of its process tree sampled every 0.1 s by the
parent. A child over --rss-limit-mb or --timeout-s is killed; the figures then say which step it
was in (the machine has no swap: protect it).

Prints progress on stderr and ONE JSON line on stdout:
{"n", "wall_s", "rows_per_s", "peak_rss_mb", "floor_s", "naive_s", "ratio_to_floor", ...details}.
Exit status 1 when the ETL itself failed or was killed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.settings import REPO_ROOT

REPO = REPO_ROOT
START = "2019-01-01T02:00:00+00:00"
END = "2026-11-27T02:00:00+00:00"
PRELOAD_END = "2026-11-26T02:00:00+00:00"  # only names the preload window's folders

# Module level imports stay stdlib-only: the floor child must not pay for pandas it never uses.


def log(msg: str) -> None:
    print(f"bench-etl: {msg}", file=sys.stderr, flush=True)


# -- the raw batch (cached) ----------------------------------------------------------------------

def synth_version() -> str:
    """Cached batches are keyed by the generator's source too: a changed generator regenerates."""
    return hashlib.sha1((REPO / "bench" / "synth.py").read_bytes()).hexdigest()[:8]


def ensure_raw(n: int, seed: int, preload: float, cache_root: Path) -> tuple[Path, dict[str, Any]]:
    """The cached raw batch for (n, seed, generator), with a preload window of that share."""
    from bench import synth

    cache = cache_root / f"n{n}-seed{seed}-{synth_version()}"
    marker = cache / "complete.json"
    if marker.exists():
        log(f"reusing the raw batch in {cache}")
        info = {**json.loads(marker.read_text(encoding="utf-8")), "synth_s": None, "cached": True}
    else:
        shutil.rmtree(cache, ignore_errors=True)
        log(f"generating {n} raw rows into {cache} (seed {seed})")
        truth = synth.write(n, cache, START, END, seed=seed, jobs=min(2, os.cpu_count() or 1),
                            log=True)
        info = {"n": n, "seed": seed, "counts": truth["counts"], "sources": truth["sources"],
                "raw_mb": round(_raw_bytes(cache, START, END) / 2**20, 1), "preload": None}
        marker.write_text(json.dumps(info), encoding="utf-8")
        info.update(synth_s=truth["seconds"], cached=False)
    if info.get("preload") != preload:  # the preload window is cheap to redo: only it changes
        info["preload_rows"] = _write_preload(cache, preload, info["sources"])
        info["preload"] = preload
        marker.write_text(json.dumps({k: v for k, v in info.items()
                                      if k not in ("synth_s", "cached")}), encoding="utf-8")
    return cache, info


def _windows(data_dir: Path, start: str, end: str) -> list[Path]:
    from bench import synth
    from contracts.dates import utc
    from contracts.layout import window_dir

    return [window_dir(data_dir, s, utc(start), utc(end)) for s in synth.source_names()]


def _raw_bytes(data_dir: Path, start: str, end: str) -> int:
    return sum((w / "articles.jsonl").stat().st_size for w in _windows(data_dir, start, end))


def _write_preload(cache: Path, share: float, counts: dict[str, int]) -> int:
    """The preload window: the first `share` of every source's lines, as a complete crawl
    (streamed: at 1M rows a source's file is over a gigabyte)."""
    from bench import synth

    total = 0
    for name, main, pre in zip(synth.source_names(), _windows(cache, START, END),
                               _windows(cache, START, PRELOAD_END), strict=True):
        pre.mkdir(parents=True, exist_ok=True)
        (pre / "stats.json").unlink(missing_ok=True)  # incomplete until rewritten
        keep = int(counts[name] * share)
        with open(main / "articles.jsonl", "rb") as src, \
                open(pre / "articles.jsonl", "wb") as dst:
            dst.writelines(itertools.islice(src, keep))
        (pre / "rejects.jsonl").write_bytes(b"")
        stats = json.loads((main / "stats.json").read_text(encoding="utf-8"))
        stats.update({"nightdesk/articles": keep, "nightdesk/article_requests": keep,
                      "nightdesk/article_failed": 0})
        (pre / "stats.json").write_text(json.dumps(stats, indent=1), encoding="utf-8")
        total += keep
    return total


# -- children and their watchdog -----------------------------------------------------------------

@dataclass
class ChildResult:
    name: str
    ok: bool
    seconds: float  # wall clock of the process, start to exit
    peak_rss_mb: float
    result: dict[str, Any] = field(default_factory=dict)  # the child's final record
    last_step: str | None = None
    error: str | None = None


def _tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):  # exited between listing and reading
            total += p.memory_info().rss
    return total


def run_child(name: str, args: list[str], work: Path, *, rss_limit_mb: float,
              timeout_s: float) -> ChildResult:
    """Run `python -m bench.etl_bench --child ...`, sample its tree's RSS, kill it over limits."""
    import psutil

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    err_path = work / f"{name}.stderr.log"
    began = time.perf_counter()
    with open(err_path, "w", encoding="utf-8") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bench.etl_bench", "--child", *args],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=REPO)
    peak = 0
    killed: list[str] = []

    def watch() -> None:
        nonlocal peak
        try:
            ps = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while proc.poll() is None:
            try:
                peak = max(peak, _tree_rss(ps))
            except psutil.Error:
                return
            elapsed = time.perf_counter() - began
            reason = (f"RSS {peak / 2**20:.0f} MB over the limit of {rss_limit_mb:.0f} MB"
                      if peak > rss_limit_mb * 2**20 else
                      f"still running after {timeout_s:.0f} s" if elapsed > timeout_s else None)
            if reason:
                killed.append(reason)
                for p in [*ps.children(recursive=True), ps]:
                    with contextlib.suppress(psutil.Error):
                        p.kill()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, _ = proc.communicate()
    watcher.join()
    seconds = time.perf_counter() - began
    # Only our own records: anything else the ETL printed on stdout is not ours to parse.
    events = [json.loads(line) for line in out.splitlines() if line.startswith('{"event": ')]
    started = [e["step"] for e in events if e.get("event") == "start"]
    final = next((e for e in reversed(events) if e.get("event") == "done"), None)
    self_peak = (final or {}).get("maxrss_kb", 0) * 1024
    res = ChildResult(name, final is not None and proc.returncode == 0, round(seconds, 2),
                      round(max(peak, self_peak) / 2**20, 1), final or {},
                      started[-1] if started else None)
    if not res.ok:
        tail = err_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-6:]
        res.error = (killed[0] if killed else f"exit status {proc.returncode}") + (
            f" in step {res.last_step}" if res.last_step else "") + (
            ": " + " | ".join(tail) if tail and not killed else "")
    return res


def _emit(**record: Any) -> None:
    print(json.dumps(record, default=str), flush=True)


def _maxrss_kb() -> int:
    """This process's peak RSS in KB, and that of any helper process it waited for.

    Not getrusage(RUSAGE_SELF) alone: Linux carries the parent's high-water mark across fork and
    exec into ru_maxrss, so a child of a big parent would report the parent's size. VmHWM in
    /proc/self/status is the peak of this process's own memory since exec."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                own = int(line.split()[1])
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


# -- the three measured workloads (run inside the children) --------------------------------------

class _StepPeaks:
    """Peak RSS of this process and its workers, per step (which step holds the memory is what
    to fix when peak_rss_mb is over target), sampled every 0.1 s like the parent's total."""

    def __init__(self) -> None:
        import psutil

        self.step: str | None = None
        self.peaks: dict[str, float] = {}
        self._proc = psutil.Process()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(0.1):
            if self.step:
                mb = _tree_rss(self._proc) / 2**20
                self.peaks[self.step] = round(max(self.peaks.get(self.step, 0.0), mb), 1)

    def stop(self) -> dict[str, float]:
        self._done.set()
        self._thread.join()
        return self.peaks


def child_etl(work: Path, phase: str, profile: str | None, top: int) -> None:
    from contracts.settings import Settings
    from etl.load import load_lake, load_warehouse
    from etl.migrate import migrate
    from etl.transform import transform

    start, end = (START, END) if phase == "main" else (START, PRELOAD_END)
    data, url, run_id = str(work), f"sqlite:///{work / 'warehouse.db'}", f"bench__{phase}"
    from bench import synth

    sources = synth.source_names()
    migrate(url)  # the deploy step, not timed
    settings = Settings.from_env()  # NIGHTDESK_CHUNK_ROWS / NIGHTDESK_WORKERS, as the DAG reads
    calls = (
        ("transform", lambda: transform(start, end, sources=sources, data_dir=data,
                                        warehouse_url=url, chunk_rows=settings.chunk_rows,
                                        workers=settings.workers)),
        ("load_lake", lambda: load_lake(start, end, data_dir=data, run_id=run_id)),
        ("load_warehouse", lambda: load_warehouse(start, end, data_dir=data, warehouse_url=url,
                                                  run_id=run_id)),
    )
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    steps: dict[str, float] = {}
    results: dict[str, Any] = {}
    peaks = _StepPeaks()
    began = time.perf_counter()
    for name, call in calls:
        _emit(event="start", step=name)
        peaks.step = name
        t = time.perf_counter()
        if prof:
            prof.enable()
        results[name] = call()
        if prof:
            prof.disable()
        steps[f"{name}_s"] = round(time.perf_counter() - t, 2)
    wall = time.perf_counter() - began
    record: dict[str, Any] = {"wall_s": round(wall, 2), "steps": steps,
                              "peak_rss_mb_by_step": peaks.stop(),
                              "figures": _etl_figures(results)}
    if prof:
        prof.dump_stats(profile)
        record["profile_top"] = profile_top(profile, top)
    _emit(event="done", maxrss_kb=_maxrss_kb(), **record)


def _etl_figures(results: dict[str, Any]) -> dict[str, Any]:
    """The counts the ETL reported, to compare with the generator's ground truth."""
    t = results["transform"]
    wh: dict[str, int] = {}
    for figures in results["load_warehouse"].values():
        for k in ("inserted", "updated", "unchanged"):
            wh[k] = wh.get(k, 0) + int(figures.get(k, 0))
    lake = results["load_lake"]
    return {"staged": t.get("articles"), "quarantined": t.get("quarantined"),
            "duplicates": t.get("duplicates"), "transform_phases_s": t.get("phases"),
            "lake": {k: lake.get(k) for k in ("inserted", "updated", "unchanged")
                     if k in lake},
            "warehouse": wh}


def profile_top(path: str, top: int) -> list[dict[str, Any]]:
    """The `top` functions by cumulative time, file paths relative to the repo; the bench's own
    wrappers are left out (they only repeat the ETL functions' totals)."""
    import pstats

    stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda kv: kv[1][3], reverse=True)
    out = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in rows:
        where = os.path.relpath(file, REPO) if file.startswith(str(REPO)) else file
        if where.startswith("bench/"):
            continue
        out.append({"function": f"{where}:{line}({func})", "ncalls": nc,
                    "tottime_s": round(tt, 2), "cumtime_s": round(ct, 2)})
        if len(out) == top:
            break
    return out


def _raw_files(work: Path) -> list[Path]:
    return [w / "articles.jsonl" for w in _windows(work, START, END)]


def _raw_schema() -> Any:
    """Every crawl field as the spider writes it: text, or a list of text. Explicit, so pyarrow
    neither guesses timestamps (dropping their offsets) nor trips over a bad row."""
    import pyarrow as pa

    from contracts.schema import CRAWL_FIELDS, LIST_FIELDS

    return pa.schema([(f, pa.list_(pa.string()) if f in LIST_FIELDS else pa.string())
                      for f in CRAWL_FIELDS])


def child_floor(work: Path) -> None:
    import sqlite3

    import pyarrow.json as pj
    import pyarrow.parquet as pq

    from contracts.schema import CRAWL_FIELDS, LIST_FIELDS

    out = work / "floor"
    out.mkdir()
    schema = _raw_schema()
    cols = ", ".join(f"{c} TEXT PRIMARY KEY" if c == "article_id" else f"{c} TEXT"
                     for c in CRAWL_FIELDS)
    insert = (f"INSERT OR REPLACE INTO articles VALUES ({', '.join('?' * len(CRAWL_FIELDS))})")
    parts = {"read_s": 0.0, "parquet_s": 0.0, "sqlite_s": 0.0}
    began = time.perf_counter()
    conn = sqlite3.connect(out / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")  # as etl.warehouse configures SQLite
    conn.execute(f"CREATE TABLE articles ({cols})")
    conn.execute("BEGIN")
    writer = None
    rows = 0
    for path in _raw_files(work):
        _emit(event="start", step=f"floor {path.parent.parent.name}")
        t = time.perf_counter()
        table = pj.read_json(path, read_options=pj.ReadOptions(block_size=16 << 20),
                             parse_options=pj.ParseOptions(explicit_schema=schema))
        parts["read_s"] += time.perf_counter() - t
        t = time.perf_counter()
        if writer is None:
            writer = pq.ParquetWriter(out / "floor.parquet", table.schema, compression="zstd")
        writer.write_table(table)
        parts["parquet_s"] += time.perf_counter() - t
        t = time.perf_counter()
        for batch in table.to_batches(max_chunksize=20_000):
            data = batch.to_pydict()
            for c in LIST_FIELDS:
                data[c] = [json.dumps(v, ensure_ascii=False) for v in data[c]]
            conn.executemany(insert, zip(*(data[c] for c in CRAWL_FIELDS), strict=True))
        parts["sqlite_s"] += time.perf_counter() - t
        rows += table.num_rows
        del table
    if writer is not None:
        writer.close()
    t = time.perf_counter()
    conn.execute("COMMIT")
    conn.close()
    parts["sqlite_s"] += time.perf_counter() - t
    _emit(event="done", maxrss_kb=_maxrss_kb(), wall_s=round(time.perf_counter() - began, 2),
          rows=rows, steps={k: round(v, 2) for k, v in parts.items()})


def child_naive(work: Path) -> None:
    import sqlite3

    import pandas as pd

    from contracts.schema import LIST_FIELDS

    out = work / "naive"
    out.mkdir()
    began = time.perf_counter()
    _emit(event="start", step="naive read_json")
    # convert_dates=False: pandas' date guessing turns mixed-offset columns into Timestamp
    # objects that sqlite3 cannot bind; dates stay text, as in the floor.
    df = pd.concat([pd.read_json(p, lines=True, convert_dates=False) for p in _raw_files(work)],
                   ignore_index=True)
    _emit(event="start", step="naive drop_duplicates")
    df = df.drop_duplicates("article_id")
    _emit(event="start", step="naive to_sql")
    for c in LIST_FIELDS:  # sqlite3 cannot bind lists
        df[c] = df[c].map(lambda v: json.dumps(v, ensure_ascii=False))
    with sqlite3.connect(out / "naive.db") as conn:
        df.to_sql("articles", conn, index=False)
    _emit(event="done", maxrss_kb=_maxrss_kb(), wall_s=round(time.perf_counter() - began, 2),
          rows=len(df))


# -- the parent ----------------------------------------------------------------------------------

def _git_state() -> str:
    """Which ETL was measured: the commit, and whether etl/ or spiders/ had local changes."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "etl", "spiders"],
                               cwd=REPO, text=True, capture_output=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{rev}+{len(dirty.splitlines())} changed files in etl/ spiders/" if dirty else rev


def bench(args: argparse.Namespace) -> tuple[dict[str, Any], int]:
    cache_root = Path(args.cache_dir).resolve()
    cache_root.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(cache_root).free / 2**30
    need_gb = args.n * 5.4e3 * 5 / 2**30  # raw + preload + staging + lake + 3 SQLite files
    if free_gb < need_gb:
        log(f"warning: {free_gb:.0f} GB free under {cache_root}, this run may need {need_gb:.0f}")
    load_start = os.getloadavg()
    cache, raw = ensure_raw(args.n, args.seed, args.preload, cache_root)
    truth = json.loads(next(cache.glob("synth-*.json")).read_text(encoding="utf-8"))["counts"]
    work = cache_root / f"run-{os.getpid()}-{int(time.time())}"
    work.mkdir()
    (work / "raw").symlink_to(cache / "raw", target_is_directory=True)
    limits = {"rss_limit_mb": args.rss_limit_mb, "timeout_s": args.timeout_s}
    record: dict[str, Any] = {"n": args.n}
    status = 0
    try:
        pre = None
        if raw["preload_rows"]:
            log(f"preload: ETL of {raw['preload_rows']} rows (the first {args.preload:.0%})")
            pre = run_child("preload", ["etl", str(work), "preload"], work, **limits)
        if pre is None or pre.ok:
            log(f"main: ETL of {args.n} rows")
            child = ["etl", str(work), "main"]
            if args.profile:
                child += ["--profile", str(Path(args.profile).resolve()), "--top", str(args.top)]
            etl = run_child("etl", child, work, **limits)
        else:  # without the preload the timed run would measure something else: do not run it
            etl = ChildResult("etl", False, 0.0, 0.0, error="not run: the preload failed")
        floor = naive = None
        if not args.skip_floor:
            log("floor: pyarrow read + Parquet write + SQLite executemany")
            floor = run_child("floor", ["floor", str(work)], work, **limits)
        if not args.skip_naive:
            log("naive: pandas read_json + drop_duplicates + to_sql")
            naive = run_child("naive", ["naive", str(work)], work, **limits)
        wall = etl.result.get("wall_s") if etl.ok else None
        floor_s = floor.result.get("wall_s") if floor and floor.ok else None
        record.update({
            "wall_s": wall,
            "rows_per_s": round(args.n / wall) if wall else None,
            "peak_rss_mb": etl.peak_rss_mb or None,
            "floor_s": floor_s,
            "naive_s": naive.result.get("wall_s") if naive and naive.ok else None,
            "ratio_to_floor": round(wall / floor_s, 2) if wall and floor_s else None,
            "steps": etl.result.get("steps"),
            "peak_rss_mb_by_step": etl.result.get("peak_rss_mb_by_step"),
            "etl": etl.result.get("figures"),
            "truth": {**truth, "preload_rows": raw["preload_rows"]},
            "preload_s": pre.result.get("wall_s") if pre else None,
            "preload_peak_rss_mb": pre.peak_rss_mb if pre else None,
            "floor_steps": floor.result.get("steps") if floor else None,
            "floor_peak_rss_mb": floor.peak_rss_mb if floor else None,
            "naive_peak_rss_mb": naive.peak_rss_mb if naive else None,
            "seed": args.seed,
            "raw_mb": raw["raw_mb"],
            "synth_s": raw["synth_s"],
            "profiled": bool(args.profile),
            "etl_version": _git_state(),
            "loadavg": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
            "cpus": os.cpu_count(),
        })
        if args.profile and etl.ok:
            record["profile_top"] = etl.result.get("profile_top")
        failed = [c for c in (pre, etl, floor, naive) if c is not None and not c.ok]
        if failed:
            record["errors"] = {c.name: c.error for c in failed}
            record["elapsed_before_failure_s"] = {c.name: c.seconds for c in failed}
            record["peak_rss_before_failure_mb"] = {c.name: c.peak_rss_mb for c in failed}
        status = 0 if etl.ok else 1
    finally:
        if args.keep:
            log(f"kept the work dir {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return record, status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.etl_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="raw rows (default 100000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--preload", type=float, default=0.2,
                   help="share of the rows loaded before the timed run (default 0.2)")
    p.add_argument("--cache-dir", default=str(REPO / "data" / "bench"),
                   help="raw batches are cached here, runs work here (default data/bench)")
    p.add_argument("--rss-limit-mb", type=float, default=8000,
                   help="kill a child whose process tree passes this RSS (default 8000)")
    p.add_argument("--timeout-s", type=float, default=1800, help="per child (default 1800)")
    p.add_argument("--profile", help="cProfile the timed ETL into this file (slows it down)")
    p.add_argument("--top", type=int, default=10, help="profile rows to report (default 10)")
    p.add_argument("--skip-floor", action="store_true")
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the work dir (lake, warehouse)")
    p.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args.child)
    record, status = bench(args)
    if record.get("profile_top"):
        log("top functions by cumulative time (profiled run):")
        for row in record["profile_top"]:
            log(f"  {row['cumtime_s']:>9.2f} s cum {row['tottime_s']:>8.2f} s own "
                f"{row['ncalls']:>9} calls  {row['function']}")
    print(json.dumps(record), flush=True)
    return status


def _child(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="etl_bench --child")
    p.add_argument("kind", choices=("etl", "floor", "naive"))
    p.add_argument("work", type=Path)
    p.add_argument("phase", nargs="?", default="main", choices=("main", "preload"))
    p.add_argument("--profile")
    p.add_argument("--top", type=int, default=10)
    a = p.parse_args(argv)
    if a.kind == "etl":
        child_etl(a.work, a.phase, a.profile, a.top)
    elif a.kind == "floor":
        child_floor(a.work)
    else:
        child_naive(a.work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
