"""Unit tier of the ETL: clean, validate, dedupe, the Parquet lake, the SQL warehouse, transform
and the checks, on small hand-made batches in the exact format the spider lands.

Real components only: Parquet files under tmp_path, a SQLite file warehouse, raw windows written
in the crawl's own layout (contracts.layout.window_dir). The bugs this file found are fixed;
their tests stay as regressions.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from contracts.layout import window_dir
from contracts.schema import CRAWL_FIELDS
from etl import dedupe, lake, load, migrate, transform, warehouse
from etl.clean import clean, clean_body
from etl.load import CheckFailed
from etl.transform import MissingCrawl
from etl.validate import split_valid
from tests.generic_upsert import arrow

START = datetime(2022, 1, 31, 2, tzinfo=UTC)
END = START + timedelta(days=1)
SOURCE = "moscowtimes"
SHA256 = re.compile(r"[0-9a-f]{64}")
DISCLAIMER = ("The views expressed in opinion pieces do not necessarily reflect the position "
              "of The Moscow Times.")


# -- helpers ------------------------------------------------------------------------------------

def raw_article(**overrides: Any) -> dict[str, Any]:
    """One article as the spider lands it (a line of articles.jsonl). URL, title and body follow
    the article id, so two ids are two distinct stories unless a test says otherwise."""
    article_id = overrides.get("article_id", "moscowtimes:76213")
    sid = article_id.split(":", 1)[1]
    row = {
        "article_id": article_id,
        "source": article_id.split(":", 1)[0],
        "url": f"https://www.themoscowtimes.com/2022/01/31/story-a{sid}",
        "title": f"Story {sid} Headline",
        "subtitle": None,
        "authors": ["AFP"],
        "published_at": "2022-01-31T18:42:00+03:00",
        "published_at_from": "meta:article:published_time",
        "modified_at": "2022-01-31T18:42:00+03:00",
        "modified_at_from": "meta:article:modified_time",
        "section": "news",
        "tags": ["Ukraine", "Kremlin"],
        "language": "en",
        "description": f"Summary of story {sid}.",
        "body": f"First paragraph of story {sid}.\n\nSecond paragraph with more words.",
        "image_url": None,
        "image_caption": None,
        "image_credits": None,
        "related_urls": [],
        "crawled_at": "2022-02-01T03:00:00.123456+00:00",
    }
    unknown = set(overrides) - set(row)
    assert not unknown, f"not a crawl field: {unknown}"
    return row | overrides


def raw_frame(*articles: dict[str, Any]) -> pd.DataFrame:
    """Raw articles as transform.read_raw builds them from articles.jsonl."""
    return pd.DataFrame(list(articles), columns=list(CRAWL_FIELDS))


def cleaned(*articles: dict[str, Any]) -> pd.DataFrame:
    return clean(raw_frame(*articles))


def one(*articles: dict[str, Any]) -> dict[str, Any]:
    """The first cleaned row as a dict."""
    return cleaned(*articles).iloc[0].to_dict()


def reject(url: str, reason: str = "HTTP 500", stage: str = "fetch",
           at: str = "2022-02-01T03:05:00.250000+00:00") -> dict[str, Any]:
    """One line of rejects.jsonl (spiders.items.RejectItem)."""
    return {"source": SOURCE, "url": url, "stage": stage, "reason": reason, "at": at}


def land(data: Path, articles: list[dict[str, Any]], rejects: list[dict[str, Any]] = (),
         *, stats: bool = True) -> Path:
    """Write one crawl window in the crawl's layout; stats.json (written last) marks it done."""
    folder = window_dir(data, SOURCE, START, END)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "articles.jsonl").write_text(
        "".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
    (folder / "rejects.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rejects), encoding="utf-8")
    if stats:
        (folder / "stats.json").write_text(json.dumps({
            "finish_reason": "finished",
            "start_time": "2022-02-01T02:59:58.000001+00:00",
            "downloader/request_count": 20 + len(articles) + len(rejects),
            "nightdesk/discovery_requests": 20,
            "nightdesk/article_requests": len(articles) + len(rejects),
            "nightdesk/article_failed": len(rejects),
            "nightdesk/articles": len(articles),
            "nightdesk/mode": "replica",
        }), encoding="utf-8")
    return folder


def recount(folder: Path, articles: int) -> None:
    """Make the landed window's stats count `articles` (after its articles.jsonl was rewritten)."""
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    stats["nightdesk/articles"] = articles
    (folder / "stats.json").write_text(json.dumps(stats), encoding="utf-8")


def stage(data: Path, url: str, articles: list[dict[str, Any]],
          rejects: list[dict[str, Any]] = (), workers: int | None = None) -> dict[str, Any]:
    """Land a raw window and transform it into staging."""
    land(data, articles, rejects)
    return transform.transform(START, END, sources=[SOURCE], data_dir=data, warehouse_url=url,
                               workers=workers)


def staged_quarantine(data: Path) -> pd.DataFrame:
    return pq.read_table(transform.staging_dir(data, START, END) / "quarantine.parquet").to_pandas()


def load_wh(data: Path, url: str, run_id: str) -> dict[str, Any]:
    migrate.migrate(url)
    return load.load_warehouse(START, END, data_dir=data, warehouse_url=url, run_id=run_id)


def rows(url: str, table: sa.Table) -> list[dict[str, Any]]:
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        out = [dict(r) for r in conn.execute(sa.select(table)).mappings()]
    eng.dispose()
    return out


def warehouse_state(url: str) -> tuple[Any, ...]:
    """Everything in the warehouse: the articles checksum and every row of every table."""
    tables = (warehouse.articles, warehouse.runs, warehouse.quarantine)
    dump = tuple(sorted(repr(sorted(r.items())) for r in rows(url, t)) for t in tables)
    return warehouse.checksum(url), dump


def lake_files(data: Path) -> dict[Path, tuple[int, int]]:
    """Every file under the lake with (inode, mtime): a rewrite changes both."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in (data / "lake").rglob("*") if p.is_file()}


def partition_file(data: Path, month: str, source: str = SOURCE) -> Path:
    return lake.partition_dir(lake.articles_root(data), source, month) / lake.PART


def staged_batch(data: Path) -> pa.Table:
    """The staged articles of the window (one file per lake partition)."""
    files = transform.staged_partitions(transform.staging_dir(data, START, END))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({})


@pytest.fixture
def wh_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/w.db"


# -- clean ---------------------------------------------------------------------------------------

def test_clean_composes_decomposed_unicode():
    decomposed = unicodedata.normalize("NFD", "Café")
    assert len(decomposed) == 5
    row = one(raw_article(title=f"{decomposed} Pushkin", body=f"A {decomposed} in Moscow."))
    assert row["title"] == "Café Pushkin"
    assert row["body"] == "A Café in Moscow."
    assert unicodedata.is_normalized("NFC", row["title"] + row["body"])


def test_clean_collapses_whitespace_and_keeps_paragraphs_one_blank_line_apart():
    body = "  One   two\tthree \n four\u00a0five.  \n\n\n \n\nSecond\n\n   \n\n  third  para. "
    want = "One two three four five.\n\nSecond\n\nthird para."
    assert one(raw_article(body=body))["body"] == want


def test_clean_drops_donation_appeal_and_read_more_paragraphs():
    body = ("Real news.\n\n"
            "Dear reader, we have a small favor to ask. Please support us.\n\n"
            "Read more about: Ukraine, Kremlin\n\n"
            "You can read more about it in the report.")
    assert one(raw_article(body=body))["body"] == (
        "Real news.\n\nYou can read more about it in the report.")


def test_clean_drops_opinion_disclaimer_only_for_moscowtimes():
    body = f"An opinion.\n\n{DISCLAIMER}"
    got = cleaned(raw_article(body=body), raw_article(article_id="otherpaper:1", body=body))
    assert got["body"].tolist() == ["An opinion.", f"An opinion.\n\n{DISCLAIMER}"]


def test_clean_leaves_odd_quotes_untouched():
    body = 'Pleas to avoid stirring "panic\' over a build-up.'
    row = one(raw_article(body=body, title="Russian 'Security Guarantees\""))
    assert row["body"] == body
    assert row["title"] == "Russian 'Security Guarantees\""


def test_clean_splits_a_single_raw_byline_into_authors():
    assert one(raw_article(authors=["By Anna Ivanova, Boris Petrov and Carl Smith"]))[
        "authors"] == ["Anna Ivanova", "Boris Petrov", "Carl Smith"]


def test_clean_keeps_separately_given_author_names_whole():
    assert one(raw_article(authors=["Marks and Spencer", "X"]))["authors"] == [
        "Marks and Spencer", "X"]


def test_clean_composes_decomposed_unicode_in_authors():
    decomposed = unicodedata.normalize("NFD", "José Martí")
    composed = cleaned(raw_article(authors=[decomposed]), raw_article(authors=["José Martí"]))
    assert composed["authors"].iloc[0] == ["José Martí"]
    assert composed["content_hash"].iloc[0] == composed["content_hash"].iloc[1]


def test_clean_converts_offset_dates_to_utc():
    got = cleaned(raw_article(published_at="2022-01-31T18:42:00+03:00",
                              modified_at="2022-01-31T23:30:00-05:00",
                              crawled_at="2022-02-01T03:00:00.5Z"))
    for col in ("published_at", "modified_at", "crawled_at"):
        assert str(got[col].dtype) == "datetime64[us, UTC]", col
    row = got.iloc[0]
    assert row["published_at"] == pd.Timestamp("2022-01-31T15:42:00Z")
    assert row["modified_at"] == pd.Timestamp("2022-02-01T04:30:00Z")
    assert row["crawled_at"] == pd.Timestamp("2022-02-01T03:00:00.5Z")


@pytest.mark.parametrize("value", ["2022-01-31T18:42:00", "yesterday", "", None])
def test_clean_turns_dates_without_offset_or_unreadable_into_nat(value):
    got = cleaned(raw_article(published_at=value), raw_article(article_id="moscowtimes:2"))
    assert pd.isna(got["published_at"].iloc[0])
    assert got["published_at"].iloc[1] == pd.Timestamp("2022-01-31T15:42:00Z")
    assert str(got["published_at"].dtype) == "datetime64[us, UTC]"


def test_clean_counts_words_of_the_cleaned_body():
    body = "Three small words.\n\nWe have a small favour to ask of you today.\n\nTwo more."
    row = one(raw_article(body=body))
    assert row["word_count"] == 5


@pytest.mark.parametrize(("paragraph", "dropped"), [
    ("Read more about: Ukraine, Kremlin", True),
    ("ADVERTISEMENT", True),
    ("Related articles tell more.", False),  # "article" must end a word
    ("The ministry said it had no advertisement budget.", False),  # not at the start
    ("Dear reader, we have a small favor to ask. Please donate.", True),  # anywhere in it
    ("Firms that owe have a small favour to ask of the bank.", False),  # \b: whole words
    ("The views expressed in opinion pieces do not necessarily reflect the position of The "
     "Moscow Times.", True),
    ("The views expressed in opinion pieces do not necessarily reflect the position of The "
     "Moscow Times, our columnist says.", False),  # the whole paragraph, or nothing
])
def test_boilerplate_patterns_drop_whole_paragraphs(paragraph, dropped):
    body = f"First words here.\n\n{paragraph}\n\nLast words."
    got = clean_body(pd.Series([body]), pd.Series(["moscowtimes"]))[0]
    assert (paragraph not in got) is dropped
    assert got.startswith("First words here.") and got.endswith("Last words.")


def test_content_hash_ignores_dates_but_follows_body():
    base = raw_article()
    got = cleaned(
        base,
        raw_article(modified_at="2022-02-03T10:00:00+03:00",
                    crawled_at="2022-02-04T01:00:00+00:00"),
        raw_article(body=base["body"] + " Corrected."),
    )
    hashes = got["content_hash"].tolist()
    assert all(SHA256.fullmatch(h) for h in hashes)
    assert hashes[0] == hashes[1]
    assert hashes[2] != hashes[0]


# -- validate ------------------------------------------------------------------------------------

def test_article_without_title_reaches_validation():
    valid, invalid = split_valid(cleaned(raw_article(title=None),
                                         raw_article(article_id="moscowtimes:2")))
    assert valid["article_id"].tolist() == ["moscowtimes:2"]
    assert invalid["reason"].tolist() == ["title is missing"]


def test_split_valid_names_every_broken_rule():
    df = cleaned(raw_article(body="", published_at="1970-01-01T00:00:00+00:00"),
                 raw_article(article_id="moscowtimes:2"))
    # A missing title cannot get through clean() (see the xfail above): blank it afterwards.
    df.loc[0, "title"] = None
    valid, invalid = split_valid(df)
    assert valid["article_id"].tolist() == ["moscowtimes:2"]
    assert set(invalid.loc[0, "reason"].split("; ")) == {
        "title is missing", "body is missing", "body has no words",
        "published_at is before 1990"}


@pytest.mark.parametrize(("published_at", "reason"), [
    ("1970-01-01T00:00:00+00:00", "published_at is before 1990"),
    ("2022-02-02T03:00:01+00:00", "published_at is in the future"),  # crawled_at + 1 day + 1 s
    ("yesterday", "published_at is missing or unreadable"),
    ("2022-01-31T18:42:00", "published_at is missing or unreadable"),
])
def test_split_valid_rejects_bogus_dates(published_at, reason):
    _, invalid = split_valid(cleaned(raw_article(published_at=published_at,
                                                 crawled_at="2022-02-01T03:00:00+00:00")))
    assert invalid["reason"].tolist() == [reason]


def test_split_valid_allows_a_day_of_clock_skew():
    valid, invalid = split_valid(cleaned(raw_article(published_at="2022-02-02T03:00:00+00:00",
                                                     crawled_at="2022-02-01T03:00:00+00:00")))
    assert invalid.empty and len(valid) == 1


def test_split_valid_leaves_valid_rows_untouched():
    df = cleaned(raw_article(), raw_article(article_id="moscowtimes:2", body=""),
                 raw_article(article_id="moscowtimes:3"))
    valid, invalid = split_valid(df)
    assert invalid["article_id"].tolist() == ["moscowtimes:2"]
    assert "reason" not in valid
    pd.testing.assert_frame_equal(valid, df.loc[[0, 2]])


# -- dedupe --------------------------------------------------------------------------------------

def test_within_batch_keeps_latest_crawl_of_an_article_id():
    df = cleaned(raw_article(crawled_at="2022-02-01T05:00:00+00:00", body="Newer words here."),
                 raw_article(crawled_at="2022-02-01T03:00:00+00:00", body="Older words here."))
    kept, dropped = dedupe.within_batch(df)
    assert kept["body"].tolist() == ["Newer words here."]
    assert dropped["body"].tolist() == ["Older words here."]
    assert dropped["duplicate_of"].tolist() == ["moscowtimes:76213"]


SAME_STORY = "https://www.themoscowtimes.com/2022/01/31/same-story"


@pytest.mark.parametrize("second_url", [
    SAME_STORY,
    "http://themoscowtimes.com/2022/01/31/same-story/?utm_source=rss#top",  # same url_key
])
def test_within_batch_keeps_earliest_published_of_one_url(second_url):
    df = cleaned(raw_article(article_id="moscowtimes:1", url=SAME_STORY,
                             published_at="2022-01-31T12:00:00+00:00"),
                 raw_article(article_id="moscowtimes:2", url=second_url,
                             published_at="2022-01-31T10:00:00+00:00"))
    kept, dropped = dedupe.within_batch(df)
    assert kept["article_id"].tolist() == ["moscowtimes:2"]
    assert dropped["article_id"].tolist() == ["moscowtimes:1"]


def test_within_batch_keeps_earliest_published_of_one_content():
    same = {"title": "Same Story", "body": "Exactly the same words."}
    df = cleaned(raw_article(article_id="moscowtimes:1", published_at="2022-01-31T09:00:00Z",
                             **same),
                 raw_article(article_id="moscowtimes:2", published_at="2022-01-31T11:00:00Z",
                             **same),
                 raw_article(article_id="moscowtimes:3"))
    kept, dropped = dedupe.within_batch(df)
    assert kept["article_id"].tolist() == ["moscowtimes:1", "moscowtimes:3"]
    assert dropped["article_id"].tolist() == ["moscowtimes:2"]


def against_loaded_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A batch and what is stored: 1 repeats stored 9's URL, 2 repeats stored 3's content,
    4 is an update of stored 4 (same id: not a duplicate), 5 is new."""
    stored = cleaned(raw_article(article_id="moscowtimes:9", url=SAME_STORY),
                     raw_article(article_id="moscowtimes:3"),
                     raw_article(article_id="moscowtimes:4"))
    copied = raw_article(article_id="moscowtimes:3")
    batch = cleaned(
        raw_article(article_id="moscowtimes:1", url=SAME_STORY),
        raw_article(article_id="moscowtimes:2", title=copied["title"], body=copied["body"]),
        raw_article(article_id="moscowtimes:4", body="A correction of a stored article."),
        raw_article(article_id="moscowtimes:5"),
    )
    return batch, stored[["article_id", "url_key", "content_hash"]]


def test_against_loaded_drops_url_or_content_stored_under_another_id():
    kept, dropped = dedupe.against_loaded(*against_loaded_case())
    assert kept["article_id"].tolist() == ["moscowtimes:4", "moscowtimes:5"]
    assert sorted(dropped["article_id"]) == ["moscowtimes:1", "moscowtimes:2"]


def test_dropped_duplicates_name_the_article_they_repeat():
    df = cleaned(raw_article(article_id="moscowtimes:1", url=SAME_STORY,
                             published_at="2022-01-31T12:00:00+00:00"),
                 raw_article(article_id="moscowtimes:2", url=SAME_STORY,
                             published_at="2022-01-31T10:00:00+00:00"),
                 raw_article(article_id="moscowtimes:3", title="Copy", body="Same words."),
                 raw_article(article_id="moscowtimes:4", title="Copy", body="Same words.",
                             published_at="2022-01-31T09:00:00+00:00"))
    _, dropped = dedupe.within_batch(df)
    assert sorted(zip(dropped["article_id"], dropped["duplicate_of"], strict=True)) == [
        ("moscowtimes:1", "moscowtimes:2"), ("moscowtimes:3", "moscowtimes:4")]
    _, dropped = dedupe.against_loaded(*against_loaded_case())
    assert sorted(zip(dropped["article_id"], dropped["duplicate_of"], strict=True)) == [
        ("moscowtimes:1", "moscowtimes:9"), ("moscowtimes:2", "moscowtimes:3")]


# -- lake ----------------------------------------------------------------------------------------

def test_lake_writes_hive_partitions_readable_as_a_dataset(tmp_path):
    batch = cleaned(raw_article(article_id="moscowtimes:1"),
                    raw_article(article_id="moscowtimes:2",
                                published_at="2022-02-01T01:30:00+03:00"),  # January in UTC
                    raw_article(article_id="moscowtimes:3",
                                published_at="2022-02-01T12:00:00+03:00"),
                    raw_article(article_id="otherpaper:4"))
    counts = lake.load(batch, tmp_path, "run-1")
    assert counts == {"inserted": 4, "updated": 0, "unchanged": 0, "partitions_written": 3}
    root = lake.articles_root(tmp_path)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.parquet")) == [
        "source=moscowtimes/published_month=2022-01/part-0.parquet",
        "source=moscowtimes/published_month=2022-02/part-0.parquet",
        "source=otherpaper/published_month=2022-01/part-0.parquet",
    ]
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    got = {(r["article_id"], r["source"], str(r["published_month"])) for r in table.to_pylist()}
    assert got == {("moscowtimes:1", "moscowtimes", "2022-01"),
                   ("moscowtimes:2", "moscowtimes", "2022-01"),
                   ("moscowtimes:3", "moscowtimes", "2022-02"),
                   ("otherpaper:4", "otherpaper", "2022-01")}


def test_lake_of_only_hidden_leftovers_reads_as_empty(tmp_path):
    """A kill inside the first partition's write leaves a hidden temporary file only."""
    leftover = tmp_path / "lake" / "articles" / "source=x" / "published_month=2022-01"
    leftover.mkdir(parents=True)
    (leftover / ".part-0.parquet.tmp").write_bytes(b"PAR1 cut short")
    assert lake.checksum(tmp_path) == (0, hashlib.sha256().hexdigest())
    assert lake.read(tmp_path, ["article_id"]).empty


def test_lake_files_have_no_source_column_and_explicit_types(tmp_path):
    lake.load(cleaned(raw_article(modified_at=None)), tmp_path, "run-1")
    schema = pq.read_table(partition_file(tmp_path, "2022-01")).schema
    assert "source" not in schema.names and "published_month" not in schema.names
    for col in ("published_at", "modified_at", "crawled_at"):
        assert schema.field(col).type == pa.timestamp("us", tz="UTC"), col
    for col in ("authors", "tags", "related_urls"):
        assert schema.field(col).type == pa.list_(pa.string()), col
    assert schema.field("word_count").type == pa.int64()
    row = pq.read_table(partition_file(tmp_path, "2022-01")).to_pylist()[0]
    assert row["published_at"] == datetime(2022, 1, 31, 15, 42, tzinfo=UTC)
    assert row["modified_at"] is None
    assert row["related_urls"] == [] and row["tags"] == ["Ukraine", "Kremlin"]


def test_lake_second_load_of_same_batch_rewrites_nothing(tmp_path):
    batch = cleaned(raw_article(article_id="moscowtimes:1"),
                    raw_article(article_id="moscowtimes:2"))
    lake.load(batch, tmp_path, "run-1")
    before, checksum = lake_files(tmp_path), lake.checksum(tmp_path)
    counts = lake.load(batch, tmp_path, "run-2")
    assert counts == {"inserted": 0, "updated": 0, "unchanged": 2, "partitions_written": 0}
    assert lake_files(tmp_path) == before
    assert lake.checksum(tmp_path) == checksum
    assert set(lake.read(tmp_path)["last_run_id"]) == {"run-1"}


def test_lake_changed_body_updates_and_keeps_first_run(tmp_path):
    lake.load(cleaned(raw_article(article_id="moscowtimes:1"),
                      raw_article(article_id="moscowtimes:2")), tmp_path, "run-1")
    counts = lake.load(cleaned(raw_article(article_id="moscowtimes:1", body="Corrected text."),
                               raw_article(article_id="moscowtimes:2")), tmp_path, "run-2")
    assert counts == {"inserted": 0, "updated": 1, "unchanged": 1, "partitions_written": 1}
    got = lake.read(tmp_path).set_index("article_id")
    assert len(got) == 2
    assert got.loc["moscowtimes:1", "body"] == "Corrected text."
    assert got.loc["moscowtimes:1", ["first_run_id", "last_run_id"]].tolist() == ["run-1", "run-2"]
    assert got.loc["moscowtimes:2", ["first_run_id", "last_run_id"]].tolist() == ["run-1", "run-1"]


def test_lake_stores_an_article_whose_date_moved_once(tmp_path):
    lake.load(cleaned(raw_article(article_id="moscowtimes:1"),
                      raw_article(article_id="moscowtimes:2")), tmp_path, "run-1")
    lake.load(cleaned(raw_article(article_id="moscowtimes:1",
                                  published_at="2022-02-02T10:00:00+03:00")), tmp_path, "run-2")
    got = lake.read(tmp_path)
    assert sorted(zip(got["article_id"], got["published_month"].astype(str), strict=True)) == [
        ("moscowtimes:1", "2022-02"), ("moscowtimes:2", "2022-01")]
    moved = got.set_index("article_id").loc["moscowtimes:1"]
    assert (moved["first_run_id"], moved["last_run_id"]) == ("run-1", "run-2")
    old = pq.read_table(partition_file(tmp_path, "2022-01")).column("article_id").to_pylist()
    assert old == ["moscowtimes:2"]


def test_lake_removes_the_file_of_a_partition_left_empty_by_a_move(tmp_path):
    lake.load(cleaned(raw_article()), tmp_path, "run-1")
    lake.load(cleaned(raw_article(published_at="2022-02-02T10:00:00+03:00")), tmp_path, "run-2")
    assert not partition_file(tmp_path, "2022-01").exists()
    assert lake.read(tmp_path)["article_id"].tolist() == ["moscowtimes:76213"]


def test_lake_rerun_after_crash_mid_move_removes_the_second_copy(tmp_path, monkeypatch):
    lake.load(cleaned(raw_article(article_id="moscowtimes:1"),
                      raw_article(article_id="moscowtimes:2")), tmp_path, "run-1")
    moved = cleaned(raw_article(article_id="moscowtimes:1",
                                published_at="2022-02-02T10:00:00+03:00"))
    real_write, old_file = lake.write_atomic, partition_file(tmp_path, "2022-01")

    def disk_full_on_cleanup(table: pa.Table, path: Path) -> None:
        if path == old_file and "moscowtimes:1" not in table.column("article_id").to_pylist():
            raise OSError("No space left on device")
        real_write(table, path)

    monkeypatch.setattr(lake, "write_atomic", disk_full_on_cleanup)
    with pytest.raises(OSError):
        lake.load(moved, tmp_path, "run-2")
    monkeypatch.undo()
    lake.load(moved, tmp_path, "run-2")  # the retry
    ids = lake.read(tmp_path)["article_id"]
    assert not ids.duplicated().any(), ids.tolist()


def test_lake_leaves_no_hidden_temp_files(tmp_path):
    lake.load(cleaned(raw_article(article_id="moscowtimes:1"),
                      raw_article(article_id="moscowtimes:2")), tmp_path, "run-1")
    lake.load(cleaned(raw_article(article_id="moscowtimes:1", body="Changed words."),
                      raw_article(article_id="moscowtimes:2",
                                  published_at="2022-02-03T10:00:00+00:00")), tmp_path, "run-2")
    files = [p for p in (tmp_path / "lake").rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    # The lake root may hold the writers' lock file; no dataset folder holds a hidden file.
    in_datasets = [p for p in files if p.parent != tmp_path / "lake"]
    assert [p for p in in_datasets if p.name.startswith(".")] == []


def test_failed_atomic_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "part" / lake.PART
    lake.write_atomic(pa.table({"v": [1]}), path)

    def rename_fails(src: object, dst: object) -> None:
        raise OSError("Input/output error")

    monkeypatch.setattr(os, "replace", rename_fails)
    with pytest.raises(OSError, match="Input/output"):
        lake.write_atomic(pa.table({"v": [2]}), path)
    monkeypatch.undo()
    assert pq.read_table(path).column("v").to_pylist() == [1]
    assert [p.name for p in path.parent.iterdir()] == [lake.PART]


# -- warehouse -----------------------------------------------------------------------------------

def test_upsert_articles_counts_and_keeps_first_run(wh_url):
    migrate.migrate(wh_url)
    eng = warehouse.engine(wh_url)
    with eng.begin() as conn:
        first = warehouse.upsert_articles(
            conn, arrow(cleaned(raw_article(article_id="moscowtimes:1"),
                                raw_article(article_id="moscowtimes:2"))), "run-1")
    with eng.begin() as conn:
        second = warehouse.upsert_articles(
            conn, arrow(cleaned(raw_article(article_id="moscowtimes:1", body="Corrected words."),
                                raw_article(article_id="moscowtimes:2"),
                                raw_article(article_id="moscowtimes:3"))), "run-2")
    eng.dispose()
    assert first == {"inserted": 2, "updated": 0, "unchanged": 0}
    assert second == {"inserted": 1, "updated": 1, "unchanged": 1}
    got = {r["article_id"]: r for r in rows(wh_url, warehouse.articles)}
    assert {k: (r["first_run_id"], r["last_run_id"]) for k, r in got.items()} == {
        "moscowtimes:1": ("run-1", "run-2"),
        "moscowtimes:2": ("run-1", "run-1"),
        "moscowtimes:3": ("run-2", "run-2"),
    }
    assert got["moscowtimes:1"]["body"] == "Corrected words."
    assert got["moscowtimes:1"]["authors"] == ["AFP"]
    assert got["moscowtimes:1"]["published_at"].replace(tzinfo=UTC) == datetime(
        2022, 1, 31, 15, 42, tzinfo=UTC)


def test_upsert_articles_reports_the_run_ids_it_leaves(wh_url):
    """What align_lake compares the lake with before it asks the warehouse: exactly the run
    ids the articles hold after the call (new, changed and unchanged rows)."""
    migrate.migrate(wh_url)
    eng = warehouse.engine(wh_url)
    with eng.begin() as conn:
        warehouse.upsert_articles(conn, arrow(cleaned(raw_article(article_id="moscowtimes:1"),
                                                      raw_article(article_id="moscowtimes:2"))),
                                  "run-1")
    held: list[pa.Table] = []
    with eng.begin() as conn:
        warehouse.upsert_articles(
            conn, arrow(cleaned(raw_article(article_id="moscowtimes:1", body="Corrected words."),
                                raw_article(article_id="moscowtimes:2"),
                                raw_article(article_id="moscowtimes:3"))), "run-2", held)
    eng.dispose()
    stored = {r["article_id"]: (r["first_run_id"], r["last_run_id"])
              for r in rows(wh_url, warehouse.articles)}
    reported = pa.concat_tables(held).to_pylist()
    assert {r["article_id"]: (r["first_run_id"], r["last_run_id"]) for r in reported} == stored
    assert stored["moscowtimes:1"] == ("run-1", "run-2") and len(reported) == 3


def test_load_warehouse_loads_a_staged_window(tmp_path, wh_url):
    stage(tmp_path, wh_url, [raw_article(article_id="moscowtimes:1"),
                             raw_article(article_id="moscowtimes:2")],
          [reject("https://www.themoscowtimes.com/2022/01/31/broken-a3")])
    figures = load_wh(tmp_path, wh_url, "run-1")
    assert list(figures) == [SOURCE] and set(figures[SOURCE]) == set(warehouse.RUN_FIGURES)
    assert {k: figures[SOURCE][k] for k in (
        "pages_fetched", "items", "rejected", "duplicates", "inserted", "updated", "unchanged",
        "discovery_requests", "requests")} == {
        "pages_fetched": 2, "items": 2, "rejected": 1, "duplicates": 0, "inserted": 2,
        "updated": 0, "unchanged": 0, "discovery_requests": 20, "requests": 23}
    assert sorted(r["article_id"] for r in rows(wh_url, warehouse.articles)) == [
        "moscowtimes:1", "moscowtimes:2"]
    [run] = rows(wh_url, warehouse.runs)
    assert (run["run_id"], run["source"], run["mode"]) == ("run-1", SOURCE, "replica")
    assert run["interval_start"].replace(tzinfo=UTC) == START
    assert run["interval_end"].replace(tzinfo=UTC) == END


def test_load_warehouse_retry_with_same_run_id_changes_nothing(tmp_path, wh_url):
    stage(tmp_path, wh_url, [raw_article(article_id="moscowtimes:1")],
          [reject("https://www.themoscowtimes.com/2022/01/31/broken-a3")])
    first = load_wh(tmp_path, wh_url, "run-1")
    before = warehouse_state(wh_url)
    assert load_wh(tmp_path, wh_url, "run-1") == first
    assert warehouse_state(wh_url) == before  # not even runs.finished_at moved


def test_load_warehouse_crash_mid_load_leaves_previous_state(tmp_path, wh_url, monkeypatch):
    stage(tmp_path, wh_url, [raw_article(article_id="moscowtimes:1")])
    load_wh(tmp_path, wh_url, "run-1")
    stage(tmp_path, wh_url, [raw_article(article_id="moscowtimes:1", body="Corrected words."),
                             raw_article(article_id="moscowtimes:2")],
          [reject("https://www.themoscowtimes.com/2022/01/31/broken-a3")])
    before = warehouse_state(wh_url)
    real_record_run = warehouse.record_run

    def killed_after_writing(conn: sa.Connection, row: dict[str, Any]) -> None:
        real_record_run(conn, row)  # every write of the load is done, then the worker dies
        raise RuntimeError("worker killed before commit")

    monkeypatch.setattr(warehouse, "record_run", killed_after_writing)
    with pytest.raises(RuntimeError, match="worker killed"):
        load_wh(tmp_path, wh_url, "run-2")
    assert warehouse_state(wh_url) == before
    monkeypatch.undo()
    figures = load_wh(tmp_path, wh_url, "run-2")  # the retry does the whole load
    assert (figures[SOURCE]["inserted"], figures[SOURCE]["updated"]) == (1, 1)


# -- transform and quarantine --------------------------------------------------------------------

def test_transform_stages_crawl_rejects_and_invalid_rows_in_quarantine(tmp_path, wh_url):
    bad_url = "https://www.themoscowtimes.com/2022/01/31/broken-a3"
    summary = stage(tmp_path, wh_url,
                    [raw_article(article_id="moscowtimes:1"),
                     raw_article(article_id="moscowtimes:2",
                                 published_at="1970-01-01T00:00:00+00:00")],
                    [reject(bad_url)])
    assert (summary["articles"], summary["quarantined"]) == (1, 2)
    q = staged_quarantine(tmp_path).set_index("stage")
    assert sorted(q.index) == ["fetch", "validate"]
    assert q.loc["fetch", ["url", "reason"]].tolist() == [bad_url, "HTTP 500"]
    assert pd.isna(q.loc["fetch", "article_id"])
    assert q.loc["fetch", "seen_at"] == pd.Timestamp("2022-02-01T03:05:00.25Z")
    assert q.loc["validate", ["article_id", "reason"]].tolist() == [
        "moscowtimes:2", "published_at is before 1990"]
    assert json.loads(q.loc["validate", "payload"])["published_at"] == "1970-01-01T00:00:00+00:00"
    assert (q["interval_start"] == START).all() and (q["interval_end"] == END).all()
    assert staged_batch(tmp_path).column("article_id").to_pylist() == ["moscowtimes:1"]


def test_transform_in_worker_processes_stages_what_one_process_stages(tmp_path, monkeypatch):
    """A large window is cleaned by a pool of processes, one chunk each: the staged batch,
    quarantine, figures and duplicates must not depend on how it was split or who finished first."""
    articles = [raw_article(article_id=f"moscowtimes:{i}",
                            url=f"https://www.themoscowtimes.com/2022/01/31/story-a{i}",
                            body=f"Paragraph one of story {i}.\n\nIts second paragraph, {i * 7}.")
                for i in range(1, 12)]
    articles[3]["published_at"] = "not a date"
    articles[7] = {**articles[2], "article_id": "moscowtimes:99"}  # same content, another id
    lines = [json.dumps(a, ensure_ascii=False) for a in articles]
    lines.insert(5, "{broken json")
    staged = {}
    real = transform._run_chunks
    for name, chunk_rows, n_workers in (("inline", 1000, 1), ("pool", 3, 2)):
        data = tmp_path / name
        land(data, [])
        folder = window_dir(data, SOURCE, START, END)
        (folder / "articles.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        recount(folder, len(lines))
        calls = []
        monkeypatch.setattr(transform, "_run_chunks", lambda chunks, n, calls=calls: (
            calls.append((len(chunks), n)) or real(chunks, n)))
        summary = transform.transform(START, END, sources=[SOURCE], data_dir=data,
                                      warehouse_url=f"sqlite:///{data / 'w.db'}",
                                      chunk_rows=chunk_rows, workers=n_workers)
        # seconds per phase: timing, not content
        assert set(summary.pop("phases")) == {"clean_s", "dedupe_s", "near_duplicates_s",
                                              "batch_s", "rest_s"}
        quarantine = staged_quarantine(data).drop(columns="seen_at")
        manifest = json.loads((transform.staging_dir(data, START, END) / "manifest.json")
                              .read_text(encoding="utf-8"))
        staged[name] = (summary, staged_batch(data).to_pylist(),
                        quarantine.sort_values("url").to_dict("records"), manifest)
        assert calls == [(4 if name == "pool" else 1, n_workers)]
    assert staged["pool"] == staged["inline"]
    summary, batch, quarantine, manifest = staged["pool"]
    assert (summary["articles"], summary["quarantined"], summary["duplicates"]) == (9, 2, 1)
    assert sorted(int(r["article_id"].split(":")[1]) for r in batch) == [1, 2, 3, 5, 6, 7, 9,
                                                                         10, 11]
    assert sorted(q["reason"].split(":")[0] for q in quarantine) == [
        "published_at is missing or unreadable", "unreadable JSON line"]
    assert manifest["sources"][SOURCE]["items"] == 12


def test_escaped_lone_surrogates_become_replacement_characters(tmp_path, wh_url):
    """JSON may escape a lone surrogate, which UTF-8 cannot encode: one such article must not
    fail the batch (Arrow, the hash and the warehouse all encode to UTF-8)."""
    broken = raw_article(article_id="moscowtimes:1", title="Half a pair \ud83d here",
                         body="Words before \udc00 and after.", tags=["ok", "bad \ud800"])
    emoji = raw_article(article_id="moscowtimes:2", url="https://www.themoscowtimes.com/a2",
                        body="A whole pair \ud83d\ude00 stays.")
    land(tmp_path, [])
    folder = window_dir(tmp_path, SOURCE, START, END)
    (folder / "articles.jsonl").write_text(  # ensure_ascii: surrogates as \\uXXXX escapes
        "".join(json.dumps(a) + "\n" for a in (broken, emoji)), encoding="ascii")
    recount(folder, 2)
    summary = transform.transform(START, END, sources=[SOURCE], data_dir=tmp_path,
                                  warehouse_url=wh_url)
    assert (summary["articles"], summary["quarantined"]) == (2, 0)
    got = {r["article_id"]: r for r in staged_batch(tmp_path).to_pylist()}
    assert got["moscowtimes:1"]["title"] == "Half a pair \ufffd here"
    assert got["moscowtimes:1"]["body"] == "Words before \ufffd and after."
    assert got["moscowtimes:1"]["tags"] == ["ok", "bad \ufffd"]
    assert got["moscowtimes:2"]["body"] == "A whole pair \U0001f600 stays."
    load.load_lake(START, END, data_dir=tmp_path, run_id="run-1")
    assert load_wh(tmp_path, wh_url, "run-1")[SOURCE]["inserted"] == 2


def test_transform_in_a_daemonic_process_cleans_in_process(tmp_path, wh_url, monkeypatch):
    """Some executors run tasks in daemonic processes, which may not start children."""
    def no_pool(*args, **kwargs):
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(transform, "CHUNK_ROWS", 1)
    monkeypatch.setattr(transform, "ProcessPoolExecutor", no_pool)
    monkeypatch.setattr(transform.multiprocessing, "current_process",
                        lambda: type("Daemon", (), {"daemon": True})())
    summary = stage(tmp_path, wh_url, [raw_article(article_id=f"moscowtimes:{i}",
                                                   url=f"https://www.themoscowtimes.com/a{i}",
                                                   body=f"Story number {i}.")
                                       for i in range(3)], workers=2)
    assert summary["articles"] == 3


def test_load_warehouse_writes_the_quarantine_table(tmp_path, wh_url):
    bad_url = "https://www.themoscowtimes.com/2022/01/31/broken-a3"
    stage(tmp_path, wh_url, [raw_article(article_id="moscowtimes:1"),
                             raw_article(article_id="moscowtimes:2", body="")],
          [reject(bad_url)])
    load_wh(tmp_path, wh_url, "run-1")
    got = sorted((r["stage"], r["url"], r["reason"], r["run_id"])
                 for r in rows(wh_url, warehouse.quarantine))
    assert got == [
        ("fetch", bad_url, "HTTP 500", "run-1"),
        ("validate", raw_article(article_id="moscowtimes:2")["url"],
         "body is missing; body has no words", "run-1"),
    ]


def test_rerun_of_a_window_keeps_one_quarantine_row_per_source_url_stage(tmp_path, wh_url):
    articles = [raw_article(article_id="moscowtimes:1"),
                raw_article(article_id="moscowtimes:2", published_at="yesterday")]
    rejects = [reject("https://www.themoscowtimes.com/2022/01/31/broken-a3")]
    for run_id in ("run-1", "run-2"):
        stage(tmp_path, wh_url, articles, rejects)
        load_wh(tmp_path, wh_url, run_id)
    got = rows(wh_url, warehouse.quarantine)
    assert len(got) == 2
    assert {r["run_id"] for r in got} == {"run-2"}
    assert [r["run_id"] for r in rows(wh_url, warehouse.runs)] == ["run-1", "run-2"]


def test_transform_of_a_window_without_stats_raises_missing_crawl(tmp_path, wh_url):
    folder = land(tmp_path, [raw_article()], stats=False)
    with pytest.raises(MissingCrawl) as err:
        transform.transform(START, END, sources=[SOURCE], data_dir=tmp_path, warehouse_url=wh_url)
    message = str(err.value)
    assert "moscowtimes" in message and "20220131T020000Z_20220201T020000Z" in message
    assert str(folder / "stats.json") in message and "run the crawl first" in message
    assert not transform.staging_dir(tmp_path, START, END).exists()
    assert not any((tmp_path / "staging").glob(".*"))  # no half-built staging left behind


def test_article_without_url_is_quarantined_and_loads(tmp_path, wh_url):
    stage(tmp_path, wh_url, [raw_article(article_id="moscowtimes:1"),
                             raw_article(article_id="moscowtimes:2", url=None)])
    q = staged_quarantine(tmp_path)
    assert q["url"].tolist() == ["(no url) moscowtimes:2"]
    load_wh(tmp_path, wh_url, "run-1")
    [row] = rows(wh_url, warehouse.quarantine)
    assert (row["url"], row["stage"]) == ("(no url) moscowtimes:2", "validate")
    assert "url is missing" in row["reason"].split("; ")


def test_window_with_only_rejects_stages_and_loads_its_quarantine(tmp_path, wh_url):
    bad_url = "https://www.themoscowtimes.com/2022/01/31/broken-a3"
    summary = stage(tmp_path, wh_url, [], [reject(bad_url)])
    assert (summary["articles"], summary["quarantined"]) == (0, 1)
    assert staged_batch(tmp_path).num_rows == 0
    figures = load_wh(tmp_path, wh_url, "run-1")
    assert (figures[SOURCE]["inserted"], figures[SOURCE]["rejected"]) == (0, 1)
    assert [r["url"] for r in rows(wh_url, warehouse.quarantine)] == [bad_url]
    assert rows(wh_url, warehouse.articles) == []


def test_transform_keeps_the_crawl_time_of_every_reject(tmp_path, wh_url):
    # datetime.isoformat() drops the fraction when microsecond == 0: both shapes occur.
    stage(tmp_path, wh_url, [raw_article()],
          [reject("https://www.themoscowtimes.com/a1", at="2022-02-01T03:05:00+00:00"),
           reject("https://www.themoscowtimes.com/a2", at="2022-02-01T03:06:00.250000+00:00")])
    q = staged_quarantine(tmp_path).set_index("url")
    assert q.loc["https://www.themoscowtimes.com/a2", "seen_at"] == pd.Timestamp(
        "2022-02-01T03:06:00.25Z")


# -- check ---------------------------------------------------------------------------------------

def test_check_fails_when_quarantine_share_exceeds_the_limit(tmp_path, wh_url):
    stage(tmp_path, wh_url,
          [raw_article(article_id=f"moscowtimes:{n}") for n in (1, 2, 3)]
          + [raw_article(article_id="moscowtimes:4", body="")],
          [reject("https://www.themoscowtimes.com/2022/01/31/broken-a5")])
    load.load_lake(START, END, data_dir=tmp_path, run_id="run-1")
    load_wh(tmp_path, wh_url, "run-1")
    result = load.check(START, END, data_dir=tmp_path, warehouse_url=wh_url,
                        max_quarantine_share=0.4)
    assert (result["quarantine_share"], result["problems"]) == (0.4, [])
    with pytest.raises(CheckFailed, match=r"2 of 5 pages quarantined"):
        load.check(START, END, data_dir=tmp_path, warehouse_url=wh_url,
                   max_quarantine_share=0.39)


@pytest.mark.parametrize("lines", [
    # typical rows, extra and missing fields, an all-null column, a blank line
    [{"subtitle": None, "extra": 1}, {"tags": [], "subtitle": None}, {"authors": ["A", "B"]}],
    [{"title": "Ünïcödé — “quotes”", "body": "Тело статьи.\n\nВторой абзац."}, {}],
])
def test_arrow_and_careful_json_readers_give_the_same_frame(lines):
    """The fast reader must hand clean() exactly what the careful one would."""
    rows = []
    for i, extra in enumerate(lines):
        row = raw_article(article_id=f"moscowtimes:{i}", url=f"https://www.themoscowtimes.com/{i}")
        row.update(extra)
        rows.append({k: v for k, v in row.items() if k != "modified_at"})
    data = ("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n").encode()
    fast = transform._read_arrow(data)
    careful, broken = transform._read_python(data, "articles.jsonl", SOURCE, 1)
    assert fast is not None and broken == []
    pd.testing.assert_frame_equal(fast, careful)
    pd.testing.assert_frame_equal(clean(fast), clean(careful))


@pytest.mark.parametrize("line", [
    b"not json", b'["an", "array"]', b'{"title": 5}', b'{"authors": "one string"}',
    b'{"title": "bad \\ud800 half"}', b'{"title": "latin-1 \xe9"}',
])
def test_lines_the_arrow_reader_cannot_take_go_the_careful_way(line):
    ok = json.dumps(raw_article()).encode()
    assert transform._read_arrow(ok + b"\n" + line + b"\n") is None
    assert transform._read_arrow(ok + b"\n") is not None


def test_word_count_counts_runs_of_word_characters_in_any_script():
    from etl.clean import word_count

    bodies = pd.Series(["Привет, мир! 42 café_au_lait ٣ — x²", "", None, "a\x00b", "end."])
    assert word_count(bodies).tolist() == [6, 0, 0, 2, 1]


@pytest.mark.postgres
def test_crawl_rejects_reach_the_quarantine_with_slug_detail_and_over_long_urls(tmp_path, pg_url):
    """A crawl's rejects (reason slug, detail) land in the quarantine; a URL over 2,083
    characters (rejected as url_too_long before any request) too, on PostgreSQL."""
    long_url = "https://www.themoscowtimes.com/search?q=" + "x" * 2100
    rejects = [
        {"source": SOURCE, "url": long_url, "stage": "discovery", "reason": "url_too_long",
         "detail": f"{len(long_url)} characters", "at": "2022-02-01T03:00:00+00:00"},
        {"source": SOURCE, "url": "https://www.themoscowtimes.com/2022/01/31/old-a1",
         "stage": "window", "reason": "out_of_window", "at": "2022-02-01T03:00:00+00:00",
         "detail": "page dated 2021-06-01T10:00:00+03:00 (meta); listed as 2022-01-31"},
    ]
    stage(tmp_path, pg_url, [raw_article()], rejects)
    load.load_lake(START, END, data_dir=tmp_path, run_id="r1")
    load_wh(tmp_path, pg_url, "r1")
    load.check(START, END, data_dir=tmp_path, warehouse_url=pg_url)  # routine: no alarm
    got = {r["reason"]: r for r in rows(pg_url, warehouse.quarantine)}
    assert set(got) == {"url_too_long", "out_of_window"}
    assert got["out_of_window"]["payload"].startswith("page dated 2021-06-01")
    too_long = got["url_too_long"]
    assert too_long["url"] == long_url  # kept whole: the quarantine's url is unbounded text


# -- the decision --------------------------------------------------------------------------------

def test_decide_new_changed_unchanged_once_per_batch():
    from etl.decision import decide, stored_keys

    t = pd.Timestamp("2022-01-31 12:00", tz="UTC")
    stored = stored_keys(["a", "b", "c", "d", "e", "m"], ["h1", "h2", "h3", None, "h5", "h8"],
                         [t, t, t, t, None, t])
    batch = pa.table({
        "article_id": ["a", "b", "c", "d", "e", "m", "n", "n"],
        "content_hash": ["h1", "x", "h3", None, "h5", "h8", "h6", "h7"],
        # c: the same instant given in Moscow time; e: a time where none was stored; m: moved
        "published_at": pa.array([t, t, t.tz_convert("Europe/Moscow"), t, t,
                                  t + pd.Timedelta(hours=1), t, t], pa.timestamp("us", tz="UTC")),
    })
    d = decide(batch, stored)
    assert d.is_new.to_pylist() == [False] * 6 + [True, True]
    assert d.changed.to_pylist() == [False, True, False, False, True, True, False, False]
    # new or changed, and only the last row naming an id (a row-by-row upsert ends with it)
    assert d.write.to_pylist() == [False, True, False, False, True, True, False, True]
    assert d.counts() == {"inserted": 2, "updated": 3, "unchanged": 3}
