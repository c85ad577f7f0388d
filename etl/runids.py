"""Run ids: how the CLI names a run, and which run ids the lake's rows carry.

A run id names one attempt at a window. The warehouse's `runs` table is the record of runs that
finished their load, so the run ids on article rows follow the warehouse: when a run is killed
between its lake load and its warehouse load, the rerun (another run id) finds the lake's rows
unchanged and keeps them, while the warehouse records them under the rerun. `align_lake`, run
after each warehouse load, gives the window's lake rows the warehouse's first_run_id and
last_run_id where they differ, so no row names a run that never finished and lake and warehouse
hold the same rows. Nothing is rewritten when they already agree (every night but such a rerun).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from contracts.schema import arrow_schema
from etl import lake, warehouse

log = logging.getLogger(__name__)

RUN_COLUMNS = ("first_run_id", "last_run_id")


def cli_run_id(now: datetime | None = None) -> str:
    """`cli__<UTC timestamp>__<8 hex of a uuid4>`: two runs started in the same microsecond
    still get two ids."""
    now = now or datetime.now(UTC)
    return f"cli__{now:%Y-%m-%dT%H:%M:%S.%fZ}__{uuid.uuid4().hex[:8]}"


def align_lake(data_dir: str | Path, partitions: list[Path], conn: sa.Connection,
               held: pa.Table | None = None) -> int:
    """Give the lake rows of the staged `partitions` the warehouse's run ids where they differ;
    returns the partition files rewritten. `held`: the run ids the load just gave the batch's
    articles (warehouse.upsert_articles); a partition whose lake rows agree with them is left
    without asking the warehouse, which is asked only where they differ (another load may have
    moved on since: the warehouse decides)."""
    root = lake.articles_root(data_dir)
    known = None if held is None else (pd.Index(held["article_id"].to_pandas()), held)
    rewritten = 0
    with lake.locked(data_dir):
        for staged in partitions:
            source = staged.parent.parent.name.split("=", 1)[1]
            month = staged.parent.name.split("=", 1)[1]
            path = lake.partition_dir(root, source, month) / lake.PART
            if not path.exists():
                continue
            ids = pq.read_table(staged, columns=["article_id"])["article_id"]
            # The ids and run ids first: the whole partition only when they differ. A damaged
            # partition is left as it is: the lake load reported it (`nightdesk repair`).
            try:
                keys = pq.read_table(path, columns=["article_id", *RUN_COLUMNS])
                if known is not None:
                    at = known[0].get_indexer(ids.to_pandas())
                    if (at >= 0).all() and _agree(keys, known[1].take(at)):
                        continue
                truth = _table(warehouse.run_ids(conn, ids.to_pylist()))
                if truth.num_rows == 0 or _agree(keys, truth):
                    continue
                table = pq.read_table(path, schema=arrow_schema(for_files=True))
            except (pa.ArrowException, OSError) as exc:
                log.warning("run ids not aligned in damaged partition %s: %s", path, exc)
                continue
            lake.write_atomic(_aligned(table, truth), path)
            rewritten += 1
    return rewritten


def _table(truth: pd.DataFrame) -> pa.Table:
    return pa.table({name: pa.array(truth[name], pa.string())
                     for name in ("article_id", *RUN_COLUMNS)})


def _wanted(table: pa.Table, truth: pa.Table) -> dict[str, pa.ChunkedArray]:
    """Each run column as the warehouse has it (the lake's own where the warehouse lacks a row)."""
    at = pc.index_in(table["article_id"], value_set=truth["article_id"].combine_chunks())
    return {name: pc.coalesce(truth[name].take(at), table[name]) for name in RUN_COLUMNS}


def _agree(table: pa.Table, truth: pa.Table) -> bool:
    return all(pc.all(pc.equal(wanted, table[name])).as_py()
               for name, wanted in _wanted(table, truth).items())


def _aligned(table: pa.Table, truth: pa.Table) -> pa.Table:
    for name, wanted in _wanted(table, truth).items():
        index = table.schema.get_field_index(name)
        table = table.set_column(index, table.schema.field(name), wanted)
    return table
