"""PostgreSQL load benchmark: our warehouse load path against a bare COPY of the same rows.

    .venv/bin/python -m bench.pg_load                    # 200000 synthetic articles (~4 KB bodies)
    .venv/bin/python -m bench.pg_load --n 20000
    .venv/bin/python -m bench.pg_load --repeat 3       # best of three, rounds interleaved
    NIGHTDESK_BENCH_PG=postgresql+psycopg://user@host/db .venv/bin/python -m bench.pg_load

One run, one synthetic batch, each measurement in its own fresh schema of the same database:

  load     etl.warehouse.upsert_articles in one transaction (eng.begin(), commit included) on an
           empty warehouse made by etl.migrate.migrate: staging COPY, counts, merge, indexes, WAL;
  copy     the same rows COPY'd into a bare table with the same columns (CREATE TABLE AS ...
           WITH NO DATA: no key, no index), commit included. Both COPYs encode the rows with
           etl.dbvalues and etl.pgcopy's CSV, so the ratio measures what the load adds to a
           plain COPY;
           encode_rows_per_s says what the encoding alone costs;
  rerun    the same batch loaded again: every row unchanged, nothing written.
(The row-by-row path it was once compared with is now the tests' oracle, tests/generic_upsert.py.)

A CHECKPOINT (superuser; skipped if refused) precedes each timed step so that one step does not
pay for the previous one's dirty buffers. Prints the figures on stderr and ONE JSON line on stdout:
{"n", "load_rows_per_s", "copy_rows_per_s", "ratio", ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/pg_load.py` works like `python -m bench.pg_load`
    sys.path.insert(0, str(REPO))

from contracts.schema import FIELDS, batch_schema  # noqa: E402
from etl import migrate, pgcopy, warehouse  # noqa: E402
from etl.dbvalues import db_table  # noqa: E402

PG_BASE = os.environ.get("NIGHTDESK_BENCH_PG",
                         os.environ.get("NIGHTDESK_TEST_PG",
                                        "postgresql+psycopg://postgres@127.0.0.1:5432/test"))


# -- synthetic articles -------------------------------------------------------------------------

def _vocabulary(rng: np.random.Generator, size: int = 6000) -> tuple[list[str], np.ndarray]:
    """Pseudo-words with a Zipf-like frequency, so bodies compress about as well as prose."""
    letters = np.array(list("etaoinshrdlucmfwypvbgkjqxz"))
    words = ["".join(rng.choice(letters, int(k))) for k in rng.integers(2, 11, size)]
    weights = 1.0 / np.arange(1, size + 1)
    return words, weights / weights.sum()


def synth(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` articles in the batch format etl.transform stages (dtypes included): bodies of seven
    paragraphs (~4 KB) drawn from a pool, each article opening with its own sentence."""
    rng = np.random.default_rng(seed)
    words, p = _vocabulary(rng)

    def sentences(count: int, lo: int, hi: int) -> list[str]:
        lengths = rng.integers(lo, hi, count)
        picks = rng.choice(len(words), (count, hi), p=p).tolist()
        return [" ".join(words[j] for j in row[:k]).capitalize() for row, k in
                zip(picks, lengths.tolist(), strict=True)]

    paragraphs = [s + "." for s in sentences(3000, 40, 120)]
    titles, leads = sentences(n, 5, 12), sentences(n, 12, 25)
    pick = rng.integers(0, len(paragraphs), (n, 7)).tolist()
    bodies = ["\n\n".join([lead + ".", *(paragraphs[j] for j in row)])
              for lead, row in zip(leads, pick, strict=True)]
    people = [f"{a.capitalize()} {b.capitalize()}" for a, b in zip(words[100:400], words[400:700],
                                                                    strict=True)]
    tag_pool = [w.capitalize() for w in words[:300]]
    published = (pd.Timestamp("2022-01-01", tz="UTC")
                 + pd.to_timedelta(rng.integers(0, 31 * 86400, n), unit="s")).as_unit("us")
    ids = [f"synth:{i}" for i in range(n)]
    urls = [f"https://news.example.com/2022/01/story-a{i}" for i in range(n)]
    n_rel = rng.integers(0, 4, n)

    def lists(pool: list[str], lo: int, hi: int) -> list[list[str]]:
        """Per row, lo..hi-1 picks from pool (drawn at once, then cut into rows)."""
        sizes = rng.integers(lo, hi, n)
        flat = [pool[j] for j in rng.integers(0, len(pool), int(sizes.sum())).tolist()]
        ends = np.cumsum(sizes).tolist()
        return [flat[e - k:e] for e, k in zip(ends, sizes.tolist(), strict=True)]

    digests = rng.bytes(32 * n)  # stands in for sha256: only its uniqueness matters here
    frame = pd.DataFrame({
        "article_id": ids,
        "source": "synth",
        "url": urls,
        "title": titles,
        "subtitle": [t if i % 3 else None for i, t in enumerate(leads)],
        "authors": lists(people, 1, 3),
        "published_at": published,
        "published_at_from": "meta:article:published_time",
        "modified_at": published + pd.to_timedelta(rng.integers(0, 7200, n), unit="s"),
        "modified_at_from": "meta:article:modified_time",
        "section": np.array(["news", "opinion", "business", "culture"])[rng.integers(0, 4, n)],
        "tags": lists(tag_pool, 2, 6),
        "language": "en",
        "description": leads,
        "body": bodies,
        "image_url": [f"https://img.example.com/{i}.jpg" if i % 2 else None for i in range(n)],
        "image_caption": [t if i % 2 else None for i, t in enumerate(titles)],
        "image_credits": [("AFP" if i % 2 else None) for i in range(n)],
        "related_urls": [urls[max(0, i - k):i] for i, k in enumerate(n_rel.tolist())],
        "crawled_at": published + pd.Timedelta(hours=3),
        "word_count": np.array([b.count(" ") + 1 for b in bodies], dtype=np.int64),
        "content_hash": [digests[i:i + 32].hex() for i in range(0, 32 * n, 32)],
        "url_key": [u.removeprefix("https://") for u in urls],
        "duplicate_of": pd.Series([None] * n, dtype=object),
    })
    for name in ("modified_at", "crawled_at"):
        frame[name] = frame[name].dt.as_unit("us")
    return frame[[f.name for f in FIELDS if f.origin != "load"]]


# -- measurements -------------------------------------------------------------------------------

@contextmanager
def fresh_schema() -> Iterator[str]:
    """A new schema, dropped afterwards; the URL routes every table into it (search_path)."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_BASE)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _checkpoint(eng: sa.Engine) -> None:
    try:
        with eng.connect() as conn:
            conn.exec_driver_sql("CHECKPOINT")
            conn.commit()
    except sa.exc.DBAPIError:  # not a superuser: measure without it
        pass


def _timed(url: str, work: Callable[[sa.Connection], object]) -> tuple[float, object]:
    """Seconds of `work` in one transaction, commit included, on a new engine (as every load
    of the pipeline has: connection state such as psycopg's prepared statements is not
    carried from one step to the next)."""
    eng = warehouse.engine(url)
    _checkpoint(eng)
    t0 = time.perf_counter()
    with eng.begin() as conn:
        out = work(conn)
    seconds = time.perf_counter() - t0
    eng.dispose()
    return seconds, out


def _fresh_warehouse(url: str) -> None:
    migrate.migrate(url)


def measure_load(batch: pa.Table) -> dict[str, float]:
    with fresh_schema() as url:
        _fresh_warehouse(url)
        first, counts = _timed(url, lambda c: warehouse.upsert_articles(c, batch, "bench-1"))
        assert counts == {"inserted": len(batch), "updated": 0, "unchanged": 0}, counts
        again, counts = _timed(url, lambda c: warehouse.upsert_articles(c, batch, "bench-2"))
        assert counts == {"inserted": 0, "updated": 0, "unchanged": len(batch)}, counts
    return {"load_s": first, "rerun_s": again}


def measure_copy(batch: pa.Table) -> float:
    columns = [c.name for c in warehouse.articles.columns]
    run = pa.repeat(pa.scalar("bench-1"), len(batch))
    rows = batch.append_column("first_run_id", run).append_column("last_run_id", run)
    with fresh_schema() as url:
        _fresh_warehouse(url)  # only to copy the column types below
        eng = warehouse.engine(url)
        with eng.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE bare AS SELECT * FROM articles WITH NO DATA")
        eng.dispose()

        def copy(conn: sa.Connection) -> None:
            with conn.connection.driver_connection.cursor() as cur:
                pgcopy.copy_in(cur, "bare", db_table(rows, columns, "postgresql"))

        seconds, _ = _timed(url, copy)
        eng = warehouse.engine(url)
        with eng.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM bare").scalar() == len(batch)
        eng.dispose()
    return seconds


def measure_encode(batch: pa.Table) -> float:
    t0 = time.perf_counter()
    for _ in pgcopy.csv_chunks(db_table(batch, pgcopy.BATCH_COLUMNS, "postgresql")):
        pass
    return time.perf_counter() - t0


def _rate(n: int, seconds: list[float]) -> int:
    """Rows per second of the fastest repetition: on a shared machine the slow ones measure the
    neighbours."""
    return round(n / min(seconds))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="synthetic articles (default 200000)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds of load + copy, interleaved; the best of each counts")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    frame = synth(args.n, args.seed)
    mb = frame["body"].str.len().sum() / 1e6
    batch = pa.Table.from_pandas(frame, schema=batch_schema(), preserve_index=False)
    print(f"synthesised {args.n} articles, {mb:.0f} MB of body text, "
          f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    encode = measure_encode(batch)
    loads, reruns, copies = [], [], []
    for _ in range(args.repeat):
        load = measure_load(batch)
        loads.append(load["load_s"])
        reruns.append(load["rerun_s"])
        copies.append(measure_copy(batch))
    result: dict[str, object] = {
        "n": args.n,
        "load_rows_per_s": _rate(args.n, loads),
        "copy_rows_per_s": _rate(args.n, copies),
        "ratio": round(min(copies) / min(loads), 3),
        "round_ratios": [round(c / x, 3) for c, x in zip(copies, loads, strict=True)],
        "rerun_rows_per_s": _rate(args.n, reruns),
        "encode_rows_per_s": round(args.n / encode),
        "avg_body_bytes": round(mb * 1e6 / args.n),
    }
    for key, value in result.items():
        print(f"  {key:26} {value}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
