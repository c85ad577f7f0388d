"""Print where the rows landed: lake and warehouse counts, and the latest runs per window."""

from __future__ import annotations

import argparse

import sqlalchemy as sa

from etl import config, lake, warehouse


def report(data_dir: str, warehouse_url: str, last: int = 14) -> str:
    df = lake.read(data_dir)
    lines = [f"lake:      {lake.articles_root(data_dir)}  ({len(df)} articles, "
             f"{df['published_month'].nunique() if len(df) else 0} monthly partitions)"]
    eng = warehouse.engine(warehouse_url)
    warehouse.create_schema(eng)
    with eng.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(warehouse.articles)).scalar_one()
        q = conn.execute(sa.select(sa.func.count()).select_from(warehouse.quarantine)).scalar_one()
        runs = conn.execute(
            sa.select(warehouse.runs).order_by(warehouse.runs.c.finished_at.desc()).limit(last)
        ).mappings().all()
    eng.dispose()
    lines.append(f"warehouse: {config.masked(warehouse_url)}  ({n} articles, {q} quarantined)")
    lines.append("latest runs (newest first):")
    lines.append(f"  {'source':<12} {'interval_start':<20} {'mode':<8} {'pages':>5} {'items':>5} "
                 f"{'rej':>4} {'dup':>4} {'ins':>4} {'upd':>4} {'same':>4}  run_id")
    for r in runs:
        lines.append(
            f"  {r['source']:<12} {r['interval_start']:%Y-%m-%d %H:%M}     {r['mode'] or '':<8} "
            f"{r['pages_fetched']:>5} {r['items']:>5} {r['rejected']:>4} {r['duplicates']:>4} "
            f"{r['inserted']:>4} {r['updated']:>4} {r['unchanged']:>4}  {r['run_id']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir")
    parser.add_argument("--warehouse")
    args = parser.parse_args()
    data = config.data_dir(args.data_dir)
    print(report(str(data), config.warehouse_url(args.warehouse, data)))


if __name__ == "__main__":
    main()
