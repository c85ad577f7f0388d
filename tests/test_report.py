"""`nightdesk report` and `nightdesk backfill` on real runs: the summary table (an idempotent
rerun reads as found/known_skipped, not as nothing), one self-contained HTML file with embedded
plots whose numbers are the warehouse's, and the backfill's progress bar."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import write_sources
from tests.test_query import nightdesk


def table_row(out: str, night: str) -> dict[str, str]:
    """The summary table's row of `night`, by heading."""
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("┃") and "known_skipped" in line)
    names = [c.strip() for c in re.split(r"[┃│]", head)[1:-1]]
    row = next(line for line in lines if line.startswith("│") and f" {night} " in line)
    return dict(zip(names, [c.strip() for c in row.split("│")[1:-1]], strict=True))


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory, seed_path):
    """`nightdesk backfill` of two nights, then the second night again (an idempotent rerun)."""
    data = tmp_path_factory.mktemp("report")
    sources = write_sources(data / "sources.toml")
    first = nightdesk("backfill", "--from", "2022-01-30", "--to", "2022-01-31", "--sources",
                      str(sources), "--data-dir", str(data))
    assert first.returncode == 0, first.stderr[-3000:]
    rerun = nightdesk("backfill", "--from", "2022-01-31", "--to", "2022-01-31", "--sources",
                      str(sources), "--data-dir", str(data))
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    return data, first, rerun


def warehouse_runs(data: Path) -> list[dict]:
    eng = sa.create_engine(f"sqlite:///{data / 'warehouse.db'}")
    with eng.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text(
            "select * from runs order by finished_at")).mappings()]
    eng.dispose()
    return rows


def test_backfill_shows_progress_and_ends_with_the_summary(backfilled):
    data, first, _ = backfilled
    assert "2/2" in first.stderr  # the progress bar's count, on stderr
    assert "{" not in first.stdout  # a table, not raw JSON
    runs = warehouse_runs(data)
    for night, run in (("2022-01-30", runs[0]), ("2022-01-31", runs[1])):
        row = table_row(first.stdout, night)
        assert int(row["new"]) == run["inserted"] > 0
        assert int(row["found"]) == run["inserted"]
        assert int(row["pages"]) == run["pages_fetched"]
        assert row["mode"] == "replica"
    assert re.search(r"backfill-\S+\.log", first.stderr)


def test_rerun_reads_as_found_and_known_skipped(backfilled):
    _, first, rerun = backfilled
    before = table_row(first.stdout, "2022-01-31")
    row = table_row(rerun.stdout, "2022-01-31")
    assert int(row["new"]) == 0 and int(row["changed"]) == 0
    assert int(row["known_skipped"]) == int(before["new"]) > 0
    assert row["found"] == before["found"]  # the same articles found, none fetched again
    assert "2022-01-30" not in rerun.stdout  # only the nights this backfill ran


def test_report_writes_one_self_contained_html_file(backfilled):
    data, _, _ = backfilled
    proc = nightdesk("report", "--data-dir", str(data))
    assert proc.returncode == 0, proc.stderr
    path = Path(re.search(r"^report: (.+\.html)$", proc.stdout, re.M).group(1))
    assert path.parent == data / "reports" and path.exists()
    html = path.read_text(encoding="utf-8")
    assert html.count("<svg") >= 2  # plots are embedded, not linked
    local = html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name, not a fetch
    for remote in ("<script", "src=", "href=", "url(", "@import", "http://", "https://"):
        assert remote not in local, f"the report must load nothing ({remote!r})"
    # The numbers shown are the warehouse's: the latest run's row per source.
    latest = warehouse_runs(data)[-1]
    cells = _figures(html)
    assert cells[("moscowtimes", "2022-01-31", "known_skipped")] == str(latest["known_skipped"])
    assert cells[("moscowtimes", "2022-01-31", "inserted")] == str(latest["inserted"])
    # The terminal summary covers both nights, the latest run of each.
    assert table_row(proc.stdout, "2022-01-30")["new"] != "0"
    assert table_row(proc.stdout, "2022-01-31")["known_skipped"] == str(latest["known_skipped"])
    assert f"({_lake_count(data)} articles" in proc.stdout


def test_report_to_a_chosen_file_and_without_html(backfilled, tmp_path):
    data, _, _ = backfilled
    out = tmp_path / "night.html"
    proc = nightdesk("report", "--data-dir", str(data), "--output", str(out), "--last", "1")
    assert proc.returncode == 0, proc.stderr
    assert out.exists() and f"report: {out}" in proc.stdout
    assert "2022-01-30" not in proc.stdout and "2022-01-31" in proc.stdout
    bare = nightdesk("report", "--data-dir", str(data), "--no-html")
    assert bare.returncode == 0 and "report:" not in bare.stdout


def test_report_on_an_empty_warehouse(tmp_path):
    proc = nightdesk("report", "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "no runs in the warehouse yet" in proc.stdout
    assert list((tmp_path / "reports").glob("*.html"))


def _lake_count(data: Path) -> int:
    import pyarrow.dataset as ds

    return ds.dataset(data / "lake" / "articles", format="parquet",
                      partitioning="hive").count_rows()


def _figures(html: str) -> dict[tuple[str, str, str], str]:
    """(source, night, figure) -> text of every data-figure cell inside a data-source row."""

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.row: tuple[str, str] | None = None
            self.figure: str | None = None
            self.found: dict[tuple[str, str, str], str] = {}

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "tr" and "data-source" in a:
                self.row = (a["data-source"], a["data-night"])
            elif "data-figure" in a and self.row:
                self.figure = a["data-figure"]

        def handle_data(self, data):
            if self.figure and self.row:
                self.found.setdefault((*self.row, self.figure), data.strip())
                self.figure = None

    parser = Cells()
    parser.feed(html)
    return parser.found


def test_backfill_refuses_a_reversed_range_in_one_line(tmp_path):
    proc = nightdesk("backfill", "--from", "2022-01-31", "--to", "2022-01-30", "--data-dir",
                     str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "nightdesk backfill: --to 2022-01-30 is before --from 2022-01-31"
    assert not (tmp_path / "raw").exists()


def test_backfill_reports_a_failed_window_and_goes_on(tmp_path, seed_path):
    """A window whose crawl fails (a feed answering 404) is named; the exit code says so."""
    bad = write_sources(tmp_path / "bad.toml",
                        feeds=["https://www.themoscowtimes.com/rss/no-such-feed"])
    proc = nightdesk("backfill", "--from", "2022-01-31", "--to", "2022-01-31", "--sources",
                     str(bad), "--data-dir", str(tmp_path))
    assert proc.returncode == 1
    assert "window 2022-01-31 FAILED:" in proc.stderr
    assert "1 of 1 windows failed: 2022-01-31" in proc.stderr
