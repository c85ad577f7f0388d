"""`nightdesk verify`: find damage in the data dir and the warehouse, name each damaged file and
its fix (`nightdesk repair`, etl/repair.py, applies the fixes).

Full verify: every lake file is decoded in full (page checksums verified where written), each
article's content hash is recomputed from its fields (so damage that still decodes is found),
lake and warehouse are compared per (article_id, content_hash) and per partition, the
near-duplicate index is decoded and compared with its own digest and with the stored articles,
and every raw window is read line by line against its crawl's count. `cheap` is the part the
nightly check runs: the footer of every lake file and of the index, the index present when the
lake holds articles.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from contracts.schema import arrow_schema
from contracts.settings import default_workers
from etl import clusters, lake, warehouse
from etl.clean import content_hash
from etl.neardup import NearDupIndex

# What repair does for each kind of problem.
LAKE_PARTITION = "lake_partition"  # rebuild the partition from the warehouse
WAREHOUSE = "warehouse"  # copy the partition's intact rows into the warehouse
LAKE_FILE = "lake_file"  # quarantine/history file: rebuild it from the warehouse
INDEX = "index"  # rebuild the near-duplicate index from the lake
RAW = "raw"  # crawl the window again (--refetch), transform and load it
LOST = "lost"  # no intact copy anywhere: crawl again

FIXES = {
    LAKE_PARTITION: "`nightdesk repair` rebuilds the partition from the warehouse",
    WAREHOUSE: "`nightdesk repair` copies the partition's rows into the warehouse",
    LAKE_FILE: "`nightdesk repair` rebuilds the file from the warehouse",
    INDEX: "`nightdesk repair` rebuilds the index from the lake",
    RAW: "`nightdesk repair --sources FILE` crawls the window again (--refetch) and reloads it",
    LOST: "no intact copy in the lake or the warehouse: crawl the window again with "
          "`nightdesk run --refetch`",
}
_EXAMPLES = 3


@dataclass(frozen=True)
class Problem:
    kind: str
    path: str  # the damaged file (for the warehouse: the lake partition its rows belong to)
    detail: str
    ids: tuple[str, ...] = field(default=(), compare=False)  # articles concerned, for repair

    @property
    def fix(self) -> str:
        return FIXES[self.kind]

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}; fix: {self.fix}"


def _examples(ids: Iterable[str]) -> str:
    ids = sorted(ids)
    more = f" and {len(ids) - _EXAMPLES} more" if len(ids) > _EXAMPLES else ""
    return ", ".join(ids[:_EXAMPLES]) + more


def _month_path(data_dir: str | Path, source: str, month: str) -> Path:
    return lake.partition_dir(lake.articles_root(data_dir), source, month) / lake.PART


def _recomputed(frame: pd.DataFrame) -> pd.Series:
    """Content hashes from the fields (etl.clean.content_hash, the one rule)."""
    if frame.empty:
        return pd.Series([], dtype=object, index=frame.index)
    return content_hash(frame.assign(authors=frame["authors"].map(
        lambda v: list(v) if v is not None else [])))


# -- the lake -------------------------------------------------------------------------------------

def scan_partition(path: Path) -> tuple[pd.DataFrame | None, Problem | None]:
    """Decode a partition in full and recompute its hashes: (keys of its rows: article_id,
    content_hash, intact, month; or None when unreadable) and the problem found, if any."""
    try:
        table = lake.read_file(path, schema=arrow_schema(for_files=True))
    except lake.DamagedPartition as exc:
        return None, Problem(LAKE_PARTITION, str(path), f"cannot be read ({exc.__cause__})")
    frame = table.select(["article_id", "title", "authors", "body", "content_hash",
                          "published_at"]).to_pandas()
    intact = _recomputed(frame).to_numpy() == frame["content_hash"].to_numpy()
    month = frame["published_at"].dt.strftime("%Y-%m")
    keys = pd.DataFrame({"article_id": frame["article_id"], "content_hash": frame["content_hash"],
                         "intact": intact, "month": month, "file": str(path)})
    bad = keys.loc[~keys["intact"], "article_id"]
    if len(bad):
        return keys, Problem(LAKE_PARTITION, str(path), f"{len(bad)} articles whose fields no "
                             f"longer match their content hash ({_examples(bad)})",
                             tuple(bad))
    return keys, None


def _scan_lake(data_dir: str | Path, workers: int
               ) -> tuple[pd.DataFrame, list[Problem], set[str]]:
    files = lake.partition_files(data_dir)
    with ThreadPoolExecutor(workers) as pool:
        scanned = list(pool.map(scan_partition, files))
    problems = [p for _, p in scanned if p is not None]
    unreadable = {str(f) for f, (k, _) in zip(files, scanned, strict=True) if k is None}
    frames = [k for k, _ in scanned if k is not None]
    keys = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["article_id", "content_hash", "intact", "month", "file"])
    return keys, problems, unreadable


def _other_lake_files(data_dir: str | Path) -> list[Path]:
    root = Path(data_dir) / "lake"
    return sorted(p for name in ("quarantine", "history") for p in (root / name).rglob("*.parquet")
                  if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts))


def _scan_other(path: Path) -> Problem | None:
    try:
        lake.read_file(path)
    except lake.DamagedPartition as exc:
        return Problem(LAKE_FILE, str(path), f"cannot be read ({exc.__cause__})")
    return None


# -- the warehouse --------------------------------------------------------------------------------

_SQL_KEYS = ["article_id", "content_hash", "intact", "source", "month"]


def _warehouse_keys(url: str, batch_rows: int = 20_000) -> pd.DataFrame:
    """article_id, content_hash, intact (hash recomputed from the stored fields), source and
    month of every stored article, read in batches."""
    a = warehouse.articles.c
    eng = warehouse.engine(url)
    if eng.dialect.name == "sqlite" and eng.url.database and not Path(eng.url.database).exists():
        return pd.DataFrame(columns=_SQL_KEYS)  # never loaded (and not created by a look)
    frames = []
    try:
        with eng.connect() as conn:
            if not sa.inspect(conn).has_table("articles"):  # a data dir never loaded
                return pd.DataFrame(columns=_SQL_KEYS)
            result = conn.execution_options(stream_results=True).execute(
                sa.select(a.article_id, a.source, a.published_at, a.title, a.authors, a.body,
                          a.content_hash))
            for rows in result.partitions(batch_rows):
                frame = pd.DataFrame([tuple(r) for r in rows], dtype=object,
                                     columns=["article_id", "source", "published_at", "title",
                                              "authors", "body", "content_hash"])
                frames.append(pd.DataFrame({
                    "article_id": frame["article_id"], "content_hash": frame["content_hash"],
                    "intact": _recomputed(frame).to_numpy() == frame["content_hash"].to_numpy(),
                    "source": frame["source"],
                    "month": pd.to_datetime(frame["published_at"], utc=True, format="ISO8601")
                    .dt.strftime("%Y-%m")}))
    finally:
        eng.dispose()
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=_SQL_KEYS)


def _compare(data_dir: str | Path, in_lake: pd.DataFrame, in_sql: pd.DataFrame,
             unreadable: set[str]) -> list[Problem]:
    """Lake against warehouse, per article: which copy is intact decides the repair."""
    problems: list[Problem] = []
    sql = in_sql.assign(expected=[str(_month_path(data_dir, s, m))
                                  for s, m in zip(in_sql["source"], in_sql["month"], strict=True)])
    both = in_lake.merge(sql, on="article_id", how="outer", suffixes=("", "_sql"),
                         indicator=True)
    lake_ok = both["intact"].eq(True)
    sql_ok = both["intact_sql"].eq(True)
    # Rows the warehouse places elsewhere or lacks in a readable partition: the warehouse
    # holds them intact, so the partition is rebuilt from it.
    wrong_place = (both["_merge"] == "both") & sql_ok & both["file"].ne(both["expected"])
    missing = (both["_merge"] == "right_only") & sql_ok & ~both["expected"].isin(unreadable)
    for path, rows in both[missing].groupby("expected"):
        problems.append(Problem(LAKE_PARTITION, path, f"{len(rows)} articles of the warehouse "
                                f"are missing here ({_examples(rows['article_id'])})",
                                tuple(rows["article_id"])))
    for path, rows in both[wrong_place].groupby("file"):
        problems.append(Problem(LAKE_PARTITION, path, f"{len(rows)} articles stored here "
                                f"belong to another month ({_examples(rows['article_id'])})",
                                tuple(rows["article_id"])))
    # The lake's copy is intact and the warehouse lacks it, differs or is damaged.
    differs = lake_ok & ~wrong_place & (
        (both["_merge"] == "left_only") | ~sql_ok | both["content_hash"].ne(
            both["content_hash_sql"]))
    for path, rows in both[differs].groupby("file"):
        problems.append(Problem(WAREHOUSE, path, f"{len(rows)} articles missing or different in "
                                f"the warehouse ({_examples(rows['article_id'])})",
                                tuple(rows["article_id"])))
    lost = both["_merge"].ne("right_only") & ~lake_ok & ~sql_ok
    lost |= both["_merge"].eq("right_only") & ~sql_ok
    for path, rows in both[lost].groupby(both["file"].fillna(both["expected"])):
        problems.append(Problem(LOST, path, f"{len(rows)} articles damaged in both the lake and "
                                f"the warehouse ({_examples(rows['article_id'])})",
                                tuple(rows["article_id"])))
    return problems


# -- the near-duplicate index and the raw windows -------------------------------------------------

def _check_index(data_dir: str | Path, ids: set[str] | None) -> list[Problem]:
    """The index decodes, matches its digest and (`ids` given) indexes exactly `ids`."""
    path = clusters.index_path(data_dir)
    if not path.exists():
        if ids:
            return [Problem(INDEX, str(path), f"missing while {len(ids)} articles are stored "
                            "(a new index would forget them)")]
        return []
    try:
        index = NearDupIndex.load(path)
    except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
        return [Problem(INDEX, str(path), f"cannot be read ({type(exc).__name__}: "
                        f"{str(exc)[:200]})")]
    if index.generation and index.digest() != index.generation:
        return [Problem(INDEX, str(path), "its content does not match its recorded digest")]
    if ids is None:
        return []
    indexed = set(index.duplicate_of().index)
    lacking, extra = ids - indexed, indexed - ids
    if lacking or extra:
        return [Problem(INDEX, str(path), f"{len(lacking)} stored articles not indexed "
                        f"({_examples(lacking)}), {len(extra)} indexed articles not stored "
                        f"({_examples(extra)})")]
    return []


def _check_raw(data_dir: str | Path) -> list[Problem]:
    """Each complete raw window (stats.json) holds whole JSON lines, as many as the crawl
    counted (`nightdesk/articles`, when the crawl recorded it)."""
    problems = []
    for stats_path in sorted(Path(data_dir, "raw").glob("source=*/window=*/stats.json")):
        articles = stats_path.parent / "articles.jsonl"
        try:
            expected = json.loads(stats_path.read_text(encoding="utf-8")).get(
                "nightdesk/articles")
        except ValueError:
            problems.append(Problem(RAW, str(stats_path), "the crawl's stats are not JSON"))
            continue
        data = articles.read_bytes() if articles.exists() else b""
        lines = data.split(b"\n")
        cut = bool(data) and not data.endswith(b"\n")
        whole = [line for line in (lines[:-1] if data else []) if line.strip()]
        broken = 0
        for line in whole:
            try:
                json.loads(line)
            except ValueError:
                broken += 1
        found = []
        if cut:
            found.append("its last line is cut short")
        if broken:
            found.append(f"{broken} lines are not JSON")
        if expected is not None and len(whole) != int(expected):
            found.append(f"{len(whole)} whole lines where the crawl wrote {expected} articles")
        if found:
            problems.append(Problem(RAW, str(articles), "; ".join(found)))
    return problems


# -- entry points ---------------------------------------------------------------------------------

def verify(data_dir: str | Path, warehouse_url: str, *, workers: int | None = None,
           neardup: bool = True) -> list[Problem]:
    """Every problem in the data dir and the warehouse (full verify), reading in `workers`
    threads (default: one per core); the near-duplicate index only when `neardup` is on."""
    workers = workers or default_workers()
    in_lake, problems, unreadable = _scan_lake(data_dir, workers)
    with ThreadPoolExecutor(workers) as pool:
        problems += [p for p in pool.map(_scan_other, _other_lake_files(data_dir)) if p]
    in_sql = _warehouse_keys(warehouse_url)
    problems += _compare(data_dir, in_lake, in_sql, unreadable)
    if neardup:
        problems += _check_index(data_dir,
                                 set(in_lake["article_id"]) | set(in_sql["article_id"]))
    problems += _check_raw(data_dir)
    return problems


def _stamp(data_dir: str | Path) -> Path:
    # Outside lake/ and hidden: readers and the lake's own file listings never see it.
    return Path(data_dir) / ".verified"


def cheap(data_dir: str | Path, done: Iterable[Path] = (), *, neardup: bool = True
          ) -> list[Problem]:
    """The nightly part: each lake file changed since the last clean check (so also one whose
    bytes were overwritten since) decoded in full with its hashes recomputed, every other
    file's footer (a cut or garbled end fails it), the index likewise, and an index present
    when the lake holds articles. `done`: files the caller has decoded already. Damage that
    changes no modification time (bit rot) is left to the full verify."""
    since = _stamp(data_dir).stat().st_mtime_ns if _stamp(data_dir).exists() else 0
    done = {str(p) for p in done}
    problems = []
    files = lake.partition_files(data_dir)
    for path in files + _other_lake_files(data_dir):
        if str(path) in done:
            continue
        is_partition = path in files
        try:
            if path.stat().st_mtime_ns < since:
                pq.read_metadata(path)
            elif is_partition:
                problem = scan_partition(path)[1]
                problems += [problem] if problem else []
            else:
                problems += [p for p in [_scan_other(path)] if p]
        except (OSError, pa.ArrowException) as exc:
            kind = LAKE_PARTITION if is_partition else LAKE_FILE
            problems.append(Problem(kind, str(path), f"cannot be read ({exc})"))
    if neardup:
        path = clusters.index_path(data_dir)
        if path.exists() and path.stat().st_mtime_ns >= since:
            problems += _check_index(data_dir, None)
        else:
            try:
                clusters.generation(data_dir)
                if not path.exists() and files:
                    problems.append(Problem(INDEX, str(path),
                                            "missing while the lake holds articles"))
            except clusters.IndexDamaged as exc:
                problems.append(Problem(INDEX, str(path), f"cannot be read ({exc.__cause__})"))
    return problems


def window_lake(data_dir: str | Path, files: list[Path], *, neardup: bool = True
                ) -> tuple[dict[str, str], int, list[Problem]]:
    """The nightly check's part: a window's lake partitions (`files`) decoded in full with
    their hashes recomputed, the ids of their sources' other partitions (an article stored
    twice), and `cheap` for the rest. When nothing is damaged, the time the check started is
    recorded: the next check decodes in full only what changed since. Returns (content hash
    by id in `files`, ids stored twice, problems)."""
    started = time.time_ns()
    files = [f for f in files if f.exists()]
    scanned = [scan_partition(f) for f in files]
    problems = [p for _, p in scanned if p is not None] + cheap(data_dir, done=files,
                                                              neardup=neardup)
    keys = [k for k, _ in scanned if k is not None]
    in_lake = {a: h for k in keys
               for a, h in zip(k["article_id"], k["content_hash"], strict=True)}
    sources = {_key(f.parent.parent.name) for f in files}
    named = {p.path for p in problems}
    ids = []
    for path in lake.partition_files(data_dir, sources):
        if str(path) not in named:
            try:
                ids.append(lake.read_file(path, columns=["article_id"])["article_id"].to_pandas())
            except lake.DamagedPartition as exc:
                problems.append(Problem(LAKE_PARTITION, str(path),
                                        f"cannot be read ({exc.__cause__})"))
    twice = int(pd.concat(ids).duplicated().sum()) if ids else 0
    stamp = _stamp(data_dir)
    if not problems and (not stamp.exists() or stamp.stat().st_mtime_ns < started):
        stamp.touch()
        os.utime(stamp, ns=(started, started))
    return in_lake, twice, problems


def _key(folder: str) -> str:
    return folder.split("=", 1)[1]


def first_line(exc: BaseException) -> str:
    """A database error as one line, without the URL (it may hold a password)."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def main(data_dir: str | Path, warehouse_url: str, *, workers: int | None = None,
         neardup: bool = True) -> int:
    """Print each problem (file, what, fix) and each damaged file's path; 1 when any (2 when
    the data dir or the warehouse cannot be read at all)."""
    if not Path(data_dir).is_dir():
        print(f"nightdesk verify: no data dir at {data_dir}", file=sys.stderr)
        return 2
    try:
        problems = verify(data_dir, warehouse_url, workers=workers, neardup=neardup)
    except sa.exc.SQLAlchemyError as exc:  # the message only: the URL may hold a password
        print(f"nightdesk verify: cannot read the warehouse: {first_line(exc)}",
              file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problems; damaged files:")
        for path in sorted({p.path for p in problems}):
            print(path)
        return 1
    print(f"verified {data_dir}: no problem found")
    return 0
