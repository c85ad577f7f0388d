"""Damage is found, named and repaired (`nightdesk verify`, `nightdesk repair`), and a later
window loads meanwhile. Each test damages a real pipeline state (synthetic raw windows through
transform and the loads, or the replica crawled through `nightdesk run`) and ends with a state
equal to a clean run's: every lake row and warehouse row, column by column, and the index's
labels."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from contracts.dates import nightly_window
from contracts.layout import window_dir
from etl import clusters, lake, load, migrate, transform, warehouse
from etl.load import CheckFailed
from etl.neardup import NearDupIndex
from nightdesk import cli
from tests.conftest import REPO, write_sources
from tests.test_etl import raw_article

DAY1 = datetime(2022, 1, 31, 2, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
VOCAB = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "pe", "ro", "si", "tu", "va", "ze")
         for b in ("bar", "cen", "dol", "fir", "gam", "hul", "jot", "kes", "lim", "mur",
                   "nop", "pax", "quo", "rix", "sul", "tam", "ulo", "vex", "wim", "yor")]


def body(n: int) -> str:
    """A story of its own: random words, so no two are near-duplicates by chance."""
    words = random.Random(n).choices(VOCAB, k=160)
    return " ".join(words[:80]) + ".\n\n" + " ".join(words[80:]) + "."


def story(source: str, n: int, published: str, text: str | None = None) -> dict[str, Any]:
    return raw_article(article_id=f"{source}:{n}", body=text or body(n), published_at=published,
                       modified_at=published, url=f"https://www.{source}.example/news/{n}",
                       title=f"{source} story {n}", crawled_at="2022-02-01T03:00:00+00:00")


def window1() -> list[dict[str, Any]]:
    """alpha: 8 stories in each of 2021-11, 2021-12 and 2022-01, two of them copies."""
    rows = [story("alpha", 100 + 10 * m + i, f"{month}-{10 + i:02d}T08:00:00+00:00")
            for m, month in enumerate(("2021-11", "2021-12", "2022-01")) for i in range(8)
            if (month, i) != ("2021-12", 7)]
    rows.append(story("alpha", 199, "2021-12-20T08:00:00+00:00",
                      body(102) + "\n\nThis story first ran in November."))
    return rows


def window2() -> dict[str, list[dict[str, Any]]]:
    """The next night: beta copies four alpha stories, alpha adds new ones in 2022-02 and one
    late story of 2022-01 (so 2021-11 and 2021-12 are partitions it does not touch)."""
    copies = [story("beta", 200 + i, "2022-02-01T10:00:00+00:00",
                    "From our partners.\n\n" + body(100 + i)) for i in range(4)]
    return {"alpha": [story("alpha", 300 + i, "2022-02-01T09:00:00+00:00") for i in range(4)]
            + [story("alpha", 399, "2022-01-29T09:00:00+00:00")],
            "beta": copies}


def land(data: Path, source: str, start: datetime, articles: list[dict[str, Any]]) -> None:
    folder = window_dir(data, source, start, start + timedelta(days=1))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "articles.jsonl").write_text("".join(json.dumps(a) + "\n" for a in articles),
                                           encoding="utf-8")
    (folder / "stats.json").write_text(json.dumps(
        {"start_time": "2022-02-01T00:00:00+00:00", "nightdesk/articles": len(articles),
         "nightdesk/article_requests": len(articles)}), encoding="utf-8")


def night(data: Path, url: str, start: datetime, sources: list[str], run_id: str,
          checked: bool = True) -> dict[str, Any]:
    end = start + timedelta(days=1)
    transform.transform(start, end, sources=sources, data_dir=data, warehouse_url=url)
    figures = load.load_lake(start, end, data_dir=data, run_id=run_id)
    migrate.migrate(url)
    load.load_warehouse(start, end, data_dir=data, warehouse_url=url, run_id=run_id)
    if checked:
        load.check(start, end, data_dir=data, warehouse_url=url)
    return figures


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC))
    return value


def snapshot(data: Path, url: str, volatile: bool = True) -> dict[str, Any]:
    """Every lake row and warehouse article row, all columns (but the run ids and the fetch
    times when not `volatile`), and the index's labels."""
    skip = set() if volatile else {"first_run_id", "last_run_id", "crawled_at"}
    table = ds.dataset(lake.articles_root(data), format="parquet", partitioning="hive"
                       ).to_table().sort_by("article_id")
    in_lake = [{k: v for k, v in r.items() if k not in skip} for r in table.to_pylist()]
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        in_sql = [{k: _utc(v) for k, v in r.items() if k not in skip} for r in conn.execute(
            sa.select(warehouse.articles).order_by(warehouse.articles.c.article_id)).mappings()]
    eng.dispose()
    index = NearDupIndex.load(clusters.index_path(data)).duplicate_of()
    return {"lake": in_lake, "warehouse": in_sql, "index": index.sort_index().to_dict()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Any]:
    """Window 1 loaded (the state each test damages), and the clean state after window 2."""
    first = tmp_path_factory.mktemp("first")
    land(first, "alpha", DAY1, window1())
    for source, rows in window2().items():
        land(first, source, DAY2, rows)
    night(first, f"sqlite:///{first / 'warehouse.db'}", DAY1, ["alpha"], "w1")
    before = snapshot(first, f"sqlite:///{first / 'warehouse.db'}")
    clean = tmp_path_factory.mktemp("clean")
    shutil.copytree(first, clean, dirs_exist_ok=True)
    url = f"sqlite:///{clean / 'warehouse.db'}"
    night(clean, url, DAY2, ["alpha", "beta"], "w2")
    return {"first": first, "before": before, "clean": snapshot(clean, url), "clean_dir": clean}


@pytest.fixture
def state(built, tmp_path) -> tuple[Path, str]:
    shutil.copytree(built["first"], tmp_path, dirs_exist_ok=True)
    return tmp_path, f"sqlite:///{tmp_path / 'warehouse.db'}"


def nightdesk(capsys, *args: str) -> tuple[int, str]:
    code = cli.main(list(args))
    return code, capsys.readouterr().out


def partition(data: Path, month: str, source: str = "alpha") -> Path:
    return lake.partition_dir(lake.articles_root(data), source, month) / lake.PART


def test_clean_state_verifies_and_is_labelled(built, capsys):
    data = built["clean_dir"]
    code, out = nightdesk(capsys, "verify", "--data-dir", str(data))
    assert (code, out.strip()) == (0, f"verified {data}: no problem found")
    labels = built["clean"]["index"]
    assert labels["alpha:199"] == "alpha:102"
    assert [labels[f"beta:{200 + i}"] for i in range(4)] == [f"alpha:{100 + i}" for i in range(4)]


def repaired(capsys, data: Path, url: str, damaged: Path | str, clean: dict,
             only: tuple[str, ...] = ()) -> str:
    """verify names the damaged file and exits 1; repair exits 0; the state equals `clean`
    and verifies."""
    code, out = nightdesk(capsys, "verify", "--data-dir", str(data), "--warehouse", url)
    print(out)
    assert code == 1
    assert str(damaged) in out.splitlines()  # the damaged file's path on a line of its own
    assert "fix: `nightdesk repair" in out
    code, fixed = nightdesk(capsys, "repair", "--data-dir", str(data), "--warehouse", url,
                            *only)
    print(fixed)
    assert code == 0, fixed
    assert snapshot(data, url) == clean
    assert nightdesk(capsys, "verify", "--data-dir", str(data), "--warehouse", url)[0] == 0
    return out


def test_truncated_partition_does_not_block_the_next_window(state, built, capsys):
    data, url = state
    damaged = partition(data, "2021-12")
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    # The next night loads: it reads only alpha's and beta's partitions, file by file.
    figures = night(data, url, DAY2, ["alpha", "beta"], "w2", checked=False)
    assert figures["inserted"] == 9 and "damaged_partitions" in figures
    assert figures["damaged_partitions"] == [str(damaged)]
    with pytest.raises(CheckFailed, match=str(damaged)):  # the nightly check names it
        load.check(DAY2, DAY2 + timedelta(days=1), data_dir=data, warehouse_url=url)
    out = repaired(capsys, data, url, damaged, built["clean"])
    assert "cannot be read" in out


def test_damaged_partition_the_next_window_writes(state, built, capsys):
    """A partition the night should merge into cannot be read: it is left as it is, the other
    partitions and the warehouse are loaded, and repair rebuilds it with the night's rows."""
    data, url = state
    damaged = partition(data, "2022-01")
    damaged.write_bytes(b"PAR1 this is no longer a Parquet file")
    figures = night(data, url, DAY2, ["alpha", "beta"], "w2", checked=False)
    assert figures["damaged_partitions"] == [str(damaged)]
    assert figures["inserted"] == 8  # everything but the one story of 2022-01
    repaired(capsys, data, url, damaged, built["clean"], only=(str(damaged),))


def test_flipped_bytes_in_an_untouched_partition(state, built, capsys):
    data, url = state
    damaged = partition(data, "2021-11")
    raw = bytearray(damaged.read_bytes())
    rng = random.Random(12)
    for offset in rng.sample(range(4, len(raw) - 8), 64):
        raw[offset] = rng.randrange(256)
    damaged.write_bytes(bytes(raw))
    night(data, url, DAY2, ["alpha", "beta"], "w2", checked=False)  # not blocked
    # The nightly check decodes in full what changed since the last clean check.
    with pytest.raises(CheckFailed, match=str(damaged)):
        load.check(DAY2, DAY2 + timedelta(days=1), data_dir=data, warehouse_url=url)
    repaired(capsys, data, url, damaged, built["clean"])


def test_damage_that_still_decodes_is_found_by_its_content_hash(state, built, capsys):
    """A partition rewritten as valid Parquet with one body changed: checksums and decoding
    pass; the recomputed content hash does not."""
    data, url = state
    damaged = partition(data, "2021-12")
    table = pq.read_table(damaged)
    bodies = table["body"].to_pylist()
    bodies[3] = bodies[3].replace("a", "o", 5)
    lake.write_atomic(table.set_column(table.schema.get_field_index("body"), "body",
                                       pa.array(bodies)), damaged)
    night(data, url, DAY2, ["alpha", "beta"], "w2", checked=False)
    with pytest.raises(CheckFailed, match="no longer match their content hash"):
        load.check(DAY2, DAY2 + timedelta(days=1), data_dir=data, warehouse_url=url)
    out = repaired(capsys, data, url, damaged, built["clean"])
    assert "no longer match their content hash (alpha:113)" in out


def test_garbage_then_deleted_index_is_named_and_rebuilt(state, built, capsys):
    data, url = state
    index = clusters.index_path(data)
    index.write_bytes(random.Random(3).randbytes(5000))
    # The next transform stops with the file and the fix, never a silent new history.
    with pytest.raises(clusters.IndexDamaged) as caught:
        transform.transform(DAY2, DAY2 + timedelta(days=1), sources=["alpha", "beta"],
                            data_dir=data, warehouse_url=url)
    assert str(index) in str(caught.value) and "nightdesk repair" in str(caught.value)
    code, out = nightdesk(capsys, "verify", "--data-dir", str(data), "--warehouse", url)
    assert code == 1 and str(index) in out.splitlines() and "cannot be read" in out
    assert nightdesk(capsys, "repair", "--data-dir", str(data), "--warehouse", url)[0] == 0
    assert snapshot(data, url) == built["before"]

    index.unlink()  # deleted: refused and reported, not a new empty history
    with pytest.raises(clusters.IndexDamaged, match="is missing but the lake holds articles"):
        transform.transform(DAY2, DAY2 + timedelta(days=1), sources=["alpha", "beta"],
                            data_dir=data, warehouse_url=url)
    code, out = nightdesk(capsys, "verify", "--data-dir", str(data), "--warehouse", url)
    assert code == 1 and str(index) in out.splitlines() and "missing while 24 articles" in out
    assert nightdesk(capsys, "repair", "--data-dir", str(data), "--warehouse", url)[0] == 0
    night(data, url, DAY2, ["alpha", "beta"], "w2")
    assert snapshot(data, url) == built["clean"]


def test_verify_and_repair_commands(state, built, capsys):
    """The commands as docs/operations.md shows them, in their own processes, with the
    warehouse from NIGHTDESK_WAREHOUSE_URL: the warehouse loses rows, verify names the
    partition they belong to, repair copies them back from the lake."""
    data, url = state
    eng = warehouse.engine(url)
    with eng.begin() as conn:
        conn.execute(sa.delete(warehouse.articles).where(
            warehouse.articles.c.article_id.in_(["alpha:104", "alpha:105"])))
    eng.dispose()
    env = {"NIGHTDESK_WAREHOUSE_URL": url, "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nightdesk.cli", *args,
                               "--data-dir", str(data)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    found = run("verify")
    assert found.returncode == 1, found.stderr[-2000:]
    assert str(partition(data, "2021-11")) in found.stdout.splitlines()
    assert "2 articles missing or different in the warehouse (alpha:104, alpha:105)" \
        in found.stdout
    fixed = run("repair")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr[-2000:]
    assert nightdesk(capsys, "verify", "--data-dir", str(data), "--warehouse", url)[0] == 0
    assert snapshot(data, url) == built["before"]


@pytest.mark.slow  # three crawls
def test_raw_file_cut_short_is_crawled_again(tmp_path, capsys):
    """The replica crawled through `nightdesk run`; in a second data dir the raw file is cut
    short before transform (the night loses its last article); verify names the raw file;
    repair crawls the window again and the lake, warehouse and index equal the clean run's."""
    sources = write_sources(tmp_path / "sources.toml")
    clean, cut = tmp_path / "clean", tmp_path / "cut"
    assert cli.main(["run", "--day", "2022-01-31", "--sources", str(sources),
                     "--data-dir", str(clean), "--run-id", "night"]) == 0
    start, end = nightly_window("2022-01-31")
    url = f"sqlite:///{cut / 'warehouse.db'}"
    from nightdesk.pipeline import crawl

    crawl("moscowtimes", start, end, sources_file=sources, data_dir=cut, warehouse_url=url)
    raw = window_dir(cut, "moscowtimes", load.utc(start), load.utc(end)) / "articles.jsonl"
    data = raw.read_bytes()
    raw.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 200])  # the last line, cut
    night(cut, url, load.utc(start), ["moscowtimes"], "night")
    capsys.readouterr()
    assert len(snapshot(cut, url)["lake"]) == len(snapshot(clean, f"sqlite:///"
                                                           f"{clean / 'warehouse.db'}")["lake"]) - 1
    code, out = nightdesk(capsys, "verify", "--data-dir", str(cut), "--warehouse", url)
    assert code == 1 and str(raw) in out.splitlines() and "cut short" in out
    code, fixed = nightdesk(capsys, "repair", "--data-dir", str(cut), "--warehouse", url,
                            "--sources", str(sources))
    assert code == 0, fixed
    # The same articles, labels and content; only the fetch times and run ids are the run's.
    assert snapshot(cut, url, volatile=False) == snapshot(
        clean, f"sqlite:///{clean / 'warehouse.db'}", volatile=False)


@pytest.mark.postgres
def test_postgresql_partition_rebuilt_and_rows_copied(tmp_path, pg_url, capsys):
    """The same repairs against the real PostgreSQL: a truncated partition is rebuilt from it,
    rows it lost are copied back from the lake."""
    land(tmp_path, "alpha", DAY1, window1())
    night(tmp_path, pg_url, DAY1, ["alpha"], "w1")
    before = snapshot(tmp_path, pg_url)
    assert nightdesk(capsys, "verify", "--data-dir", str(tmp_path), "--warehouse", pg_url)[0] == 0
    damaged = partition(tmp_path, "2022-01")
    damaged.write_bytes(damaged.read_bytes()[:100])
    eng = warehouse.engine(pg_url)
    with eng.begin() as conn:
        conn.execute(sa.delete(warehouse.articles).where(
            warehouse.articles.c.article_id == "alpha:101"))
    eng.dispose()
    out = repaired(capsys, tmp_path, pg_url, damaged, before)
    assert str(partition(tmp_path, "2021-11")) in out.splitlines()


def test_a_fix_that_fails_does_not_stop_the_others(state, built, capsys, tmp_path):
    """A raw window cut short cannot be crawled again without a usable sources file: repair
    says so for that file, still rebuilds the truncated partition, lists what is left and
    exits 1."""
    data, url = state
    damaged = partition(data, "2021-12")
    damaged.write_bytes(damaged.read_bytes()[:50])
    raw = window_dir(data, "alpha", DAY1, DAY1 + timedelta(days=1)) / "articles.jsonl"
    raw.write_bytes(raw.read_bytes()[:-30])
    code, out = nightdesk(capsys, "repair", "--data-dir", str(data), "--warehouse", url,
                          "--sources", str(tmp_path / "missing.toml"))
    assert code == 1
    assert f"rebuilt {damaged} from the warehouse" in out
    assert f"could not repair {raw}: SourceConfigError: sources file not found" in out
    assert f"still: {raw}: its last line is cut short" in out
    assert snapshot(data, url) == built["before"]


def test_quarantine_and_history_files_rebuilt_from_the_warehouse(state, capsys):
    """A night that changes a story (its old version goes to lake/history) and quarantines
    one; both files are then damaged; repair rebuilds them from the warehouse's rows."""
    data, url = state
    changed = story("alpha", 100, "2021-11-10T08:00:00+00:00", body(100) + "\n\nCorrected.")
    land(data, "alpha", DAY2, [changed, story("alpha", 500, "not a date")])
    night(data, url, DAY2, ["alpha"], "w2")
    files = [next((data / "lake" / name).rglob("part-0.parquet"))
             for name in ("history", "quarantine")]

    def rows(path: Path) -> list[dict[str, Any]]:
        # superseded_at: the lake's and the warehouse's loads each stamp their own clock
        return [{k: v for k, v in r.items() if k != "superseded_at"}
                for r in pq.read_table(path).to_pylist()]

    before = [rows(f) for f in files]
    assert [len(r) for r in before] == [1, 1]
    for f in files:
        f.write_bytes(f.read_bytes()[:-40])
    code, out = nightdesk(capsys, "verify", "--data-dir", str(data), "--warehouse", url)
    assert code == 1 and all(str(f) in out.splitlines() for f in files)
    code, out = nightdesk(capsys, "repair", "--data-dir", str(data), "--warehouse", url)
    assert code == 0, out
    assert [rows(f) for f in files] == before
