"""One hostile article never blocks a night (issue 12): valid values are defined once
(etl/schema.py), every record is stored identically in the lake and the warehouse or quarantined
with its reason, on SQLite and PostgreSQL; plus run ids, password masking, stale work folders and
the task log servers' address.

The property tests write hostile records as a crawl lands them (articles.jsonl, JSON with
escapes, so NUL and lone surrogates arrive as they would) and run the real night: transform, lake
load, warehouse load, check. The hostile-site tests crawl a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from etl import lake, load, runids, transform, warehouse
from etl.schema import (
    FIELD_NAMES,
    FIELDS,
    QUARANTINE_LIMITS,
    TITLE_CHARS,
    URL_CHARS,
    is_valid_text,
)
from spiders.run import window_dir
from tests.sites import hostile_site as site
from tests.sites.server import SiteServer

START = datetime(2022, 1, 31, 2, tzinfo=UTC)
END = START + timedelta(days=1)
SOURCE = "hostile"
_ids = itertools.count()  # article ids unique across examples (PostgreSQL keeps one schema)


def _sqlite(data: Path) -> str:
    return f"sqlite:///{data / 'warehouse.db'}"


# -- a night over landed records --------------------------------------------------------------

def good_record(n: int) -> dict[str, Any]:
    return {
        "article_id": f"{SOURCE}:{n}", "source": SOURCE,
        "url": f"https://hostile.example/news/{n}",
        "title": f"Headline {n}", "subtitle": None, "authors": ["Ann Reporter"],
        "published_at": "2022-01-31T18:42:00+03:00",
        "published_at_from": "meta:article:published_time",
        "modified_at": None, "modified_at_from": None, "section": "news", "tags": ["ferry"],
        "language": "en", "description": f"Summary {n}.",
        "body": f"First paragraph of story {n}.\n\nSecond paragraph of story {n}.",
        "image_url": None, "image_caption": None, "image_credits": None, "related_urls": [],
        "crawled_at": "2022-02-01T03:00:00.123456+00:00",
    }


def land(data: Path, records: list[dict[str, Any]], rejects: list[dict[str, Any]] = ()) -> None:
    """One crawl window as spiders/run.py leaves it (JSON escapes: NUL and lone surrogates
    arrive as \\u0000 and \\ud800, as they do from a page's JSON-LD)."""
    folder = window_dir(data, SOURCE, START, END)
    folder.mkdir(parents=True, exist_ok=True)

    def lines(rows: list[dict[str, Any]]) -> str:
        return "".join(json.dumps(r, ensure_ascii=True) + "\n" for r in rows)

    (folder / "articles.jsonl").write_text(lines(records), encoding="utf-8")
    (folder / "rejects.jsonl").write_text(lines(list(rejects)), encoding="utf-8")
    (folder / "fetched.jsonl").write_text(lines([
        {"source": SOURCE, "article_id": r["article_id"], "url": r["url"], "signal": None,
         "fetched_at": "2022-02-01T03:00:00+00:00"} for r in records]), encoding="utf-8")
    (folder / "stats.json").write_text(json.dumps({
        "finish_reason": "finished", "start_time": "2022-02-01T02:59:58+00:00",
        "nightdesk/article_requests": len(records), "nightdesk/articles": len(records),
        "nightdesk/mode": "live"}), encoding="utf-8")


def night(data: Path, urls: list[str], run_id: str) -> dict[str, Any]:
    """The night's steps after the crawl, as `nightdesk run` calls them, with the warehouse load
    and the check once per warehouse in `urls` (the same staged window: one transform serves
    both backends); raises if a step fails."""
    staged = transform.transform(START, END, sources=[SOURCE], data_dir=data,
                                 warehouse_url=urls[0])
    load.load_lake(START, END, data_dir=data, run_id=run_id)
    for url in urls:
        load.load_warehouse(START, END, data_dir=data, warehouse_url=url, run_id=run_id)
        checked = load.check(START, END, data_dir=data, warehouse_url=url)
        assert checked["problems"] == []
    return staged


def norm(value: Any) -> Any:
    """One value as both stores give it back: SQLite's naive UTC times, Parquet's arrays."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        stamp = pd.Timestamp(value)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if isinstance(value, np.ndarray | list | tuple):
        return [norm(v) for v in list(value)]
    if isinstance(value, np.integer):
        return int(value)
    return value


def lake_rows(data: Path) -> dict[str, dict[str, Any]]:
    frame = lake.read(data)
    return {r["article_id"]: {k: norm(r[k]) for k in FIELD_NAMES}
            for r in frame.to_dict("records")}


def warehouse_rows(url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        rows = conn.execute(sa.select(warehouse.articles).where(
            warehouse.articles.c.article_id.in_(ids))).mappings().all()
    eng.dispose()
    return {r["article_id"]: {k: norm(r[k]) for k in FIELD_NAMES} for r in rows}


def quarantine_rows(data: Path, url: str) -> tuple[list[dict], list[dict]]:
    """(the lake's quarantine rows, the warehouse's) of the window."""
    folder = data / "lake" / "quarantine"
    in_lake = (ds.dataset(folder, format="parquet", partitioning="hive").to_table()
               .to_pylist() if folder.exists() else [])
    eng = warehouse.engine(url)
    with eng.connect() as conn:
        q = warehouse.quarantine
        in_sql = [dict(r) for r in conn.execute(sa.select(q).where(
            q.c.interval_start == START)).mappings()]
    eng.dispose()
    return in_lake, in_sql


def assert_valid(row: dict[str, Any]) -> None:
    """A stored row holds only valid values (etl/schema.py)."""
    for f in FIELDS:
        value = row[f.name]
        texts = value if f.kind == "list[str]" else [value] if f.kind == "str" else []
        for text in texts:
            if text is None:
                continue
            assert is_valid_text(text), (f.name, text[:80])
            assert f.max_chars is None or len(text) <= f.max_chars, (f.name, len(text))
        if f.kind == "list[str]" and f.max_items:
            assert len(value) <= f.max_items


def assert_stored_or_quarantined(data: Path, url: str, records: list[dict[str, Any]]) -> None:
    """Every record: in the lake and the warehouse, identically and validly, or quarantined
    with a reason in both; never both, never neither."""
    ids = [r["article_id"] for r in records]
    in_lake = lake_rows(data)
    in_sql = warehouse_rows(url, ids)
    q_lake, q_sql = quarantine_rows(data, url)
    why_lake = {r["article_id"]: r["reason"] for r in q_lake if r["stage"] == "validate"}
    why_sql = {r["article_id"]: r["reason"] for r in q_sql if r["stage"] == "validate"}
    for article_id in ids:
        if article_id in in_sql:
            assert in_lake.get(article_id) == in_sql[article_id], article_id
            assert article_id not in why_sql
            assert_valid(in_sql[article_id])
        else:
            assert article_id not in in_lake
            assert why_sql.get(article_id), f"{article_id}: neither stored nor quarantined"
            assert why_lake.get(article_id) == why_sql[article_id]
    for row in q_sql:  # quarantine rows are storable too: valid text within their limits
        for col, limit in QUARANTINE_LIMITS.items():
            if isinstance(row[col], str):
                assert is_valid_text(row[col]) and len(row[col]) <= limit, col
        assert row["url_hash"] == hashlib.sha256(row["url"].encode()).hexdigest()


# -- hostile values ---------------------------------------------------------------------------

SPECIALS = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\r", "\r\n", "\x1b", "\x1f", "\t",
            "\n", "\x7f", "\x85", "\u2028", "\ufeff", "\ud800", "\udbff", "\udc00", "\udfff",
            "\U0001f600", "e\u0301", "\u202e"]
any_char = st.one_of(st.characters(exclude_categories=()), st.sampled_from(SPECIALS))
hostile_text = st.lists(any_char, max_size=30).map("".join)
huge_text = st.builds(lambda seed, n: (seed or "x") * n, st.text(max_size=3),
                      st.sampled_from([TITLE_CHARS, TITLE_CHARS + 1, 2_084, 10_001]))
text_value = st.one_of(hostile_text, huge_text, st.none())
bogus_date = st.one_of(
    st.sampled_from(["9999-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00",
                     "0001-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "not a date", "",
                     "2022-01-31T18:42:00", "2022-02-30T00:00:00+00:00", "1970-01-01T00:00:00Z",
                     "2022-01-31T18:42:00+14:00", None]),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.just(UTC)).map(datetime.isoformat))
odd_url = st.one_of(
    st.builds(lambda n, fill: "https://hostile.example/" + ((fill or "a") * n)[:n],
              st.integers(2_000, 10_000), st.text(min_size=1, max_size=4)),
    st.sampled_from(["javascript:alert(1)", "ftp://hostile.example/x", "http://", "//x/y",
                     " https://hostile.example/ spaced ", "https://hostile.example/\x00nul",
                     "https://hostile.example/\ud800", "https://hôstile.example/ü"]),
    hostile_text)
text_list = st.one_of(st.lists(st.one_of(hostile_text, huge_text), max_size=4),
                      st.just(["x"] * 1_001), st.none())
FUZZ = {"title": text_value, "subtitle": text_value, "authors": text_list,
        "published_at": bogus_date, "published_at_from": text_value, "modified_at": bogus_date,
        "modified_at_from": text_value, "section": text_value, "tags": text_list,
        "language": text_value, "description": text_value, "body": text_value,
        "image_url": st.one_of(odd_url, st.none()), "image_caption": text_value,
        "image_credits": text_value, "related_urls": text_list, "crawled_at": bogus_date,
        "url": odd_url}


@st.composite
def hostile_record(draw: st.DrawFn) -> dict[str, Any]:
    n = next(_ids)
    record = good_record(n)
    for name in sorted(draw(st.sets(st.sampled_from(sorted(FUZZ)), min_size=1, max_size=6))):
        record[name] = draw(FUZZ[name])
    # Each record its own story and URL: the test is about values, not duplicates.
    record["body"] = f"{record['body'] or ''}\n\nUnique record {n}."
    if isinstance(record["url"], str):
        record["url"] += f"?record={n}"
    return record


def everything_hostile() -> list[dict[str, Any]]:
    """The issue's cases, every time: controls and surrogates in every text field, a 1 MB
    title, a body over its limit, URLs of 2,083 and 10,000 characters, years 9999 and 0001, no
    date."""
    ugly = "".join(SPECIALS)
    base = [good_record(next(_ids)) for _ in range(8)]
    texts = ("title", "subtitle", "published_at_from", "modified_at_from", "section", "language",
             "description", "image_caption", "image_credits")
    base[0].update({k: f"{k} {ugly} end" for k in texts}, authors=[f"Ann {ugly}", "\x00"],
                   tags=[ugly], body=f"First {ugly} para.\r\n\r\nSecond\x00para {ugly}.")
    base[1].update(title="T" * (1 << 20))
    base[2].update(body="word " * 200_001)
    base[3].update(url="https://hostile.example/" + "u" * (URL_CHARS - 24))  # at the limit
    base[4].update(url="https://hostile.example/" + "v" * (10_000 - 24))
    base[5].update(published_at="9999-12-31T23:59:59+00:00",
                   modified_at="0001-01-01T00:00:00+00:00")
    base[6].update(modified_at="9999-12-31T23:59:59+00:00")
    base[7].update(published_at=None)
    return base


# Few examples: each runs a whole night, loaded into SQLite and PostgreSQL (~2-5 s). The issue's
# own cases run every time in the test below.
@pytest.mark.postgres
# No shrinking: a failure prints its example at once (shrinking nights took minutes). A longer
# hunt: NIGHTDESK_HYPOTHESIS_EXAMPLES=200.
@settings(max_examples=int(os.environ.get("NIGHTDESK_HYPOTHESIS_EXAMPLES", "5")),
          deadline=None, database=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=st.lists(hostile_record(), min_size=1, max_size=4))
def test_every_hostile_record_is_stored_identically_or_quarantined(
        records, pg_url, tmp_path_factory, monkeypatch):
    # A window of hostile records is mostly quarantined: the share alarm (a site's markup
    # changed) is not what this test is about.
    monkeypatch.setenv("NIGHTDESK_MAX_QUARANTINE_SHARE", "1")
    data = tmp_path_factory.mktemp("night")
    records = [good_record(next(_ids)), *records]
    land(data, records)
    night(data, [_sqlite(data), pg_url], runids.cli_run_id())  # never raises: no failed window
    for url in (_sqlite(data), pg_url):
        assert_stored_or_quarantined(data, url, records)
        assert records[0]["article_id"] in warehouse_rows(url, [records[0]["article_id"]])


@pytest.mark.postgres
def test_the_issue_cases_land_where_they_should(pg_url, tmp_path, monkeypatch):
    """The property, and where each of the issue's cases lands, spelt out."""
    monkeypatch.setenv("NIGHTDESK_MAX_QUARANTINE_SHARE", "1")
    records = everything_hostile()
    land(tmp_path, records)
    staged = night(tmp_path, [_sqlite(tmp_path), pg_url], runids.cli_run_id())
    for url in (_sqlite(tmp_path), pg_url):
        assert_stored_or_quarantined(tmp_path, url, records)
        assert warehouse_rows(url, [r["article_id"] for r in records]) == \
            warehouse_rows(pg_url, [r["article_id"] for r in records])
    url = pg_url
    stored = warehouse_rows(url, [r["article_id"] for r in records])
    _, q_sql = quarantine_rows(tmp_path, url)
    why = {r["article_id"]: r["reason"] for r in q_sql}
    assert sorted(stored) == sorted(records[i]["article_id"] for i in (0, 3, 6))
    # Controls gone (CR as newline, then whitespace collapsed), lone surrogates U+FFFD, a pair
    # escaped as two halves joined, NFC; DEL, BOM and bidi controls are not C0 and stay.
    kept = "\x7f \ufeff\ufffd\U0010fc00\ufffd\U0001f600\u00e9\u202e"
    controls = stored[records[0]["article_id"]]
    assert controls["title"] == f"title {kept} end"
    assert controls["description"] == f"description {kept} end"
    assert controls["authors"] == [f"Ann {kept}"]  # the NUL-only author is gone
    assert controls["tags"] == [kept]
    assert controls["language"] is None  # not a language code
    assert "Secondpara" in controls["body"] and "\x00" not in controls["body"]
    assert staged["sources"][SOURCE]["cleaned_chars"] > 0
    assert staged["sources"][SOURCE]["dropped_dates"] == 2  # 0001 and 9999 modification dates
    assert stored[records[3]["article_id"]]["url"] == records[3]["url"]  # 2,083 characters
    assert stored[records[6]["article_id"]]["modified_at"] is None
    assert f"title is longer than {TITLE_CHARS:,} characters" in why[records[1]["article_id"]]
    assert "body is longer than 1,000,000 characters" in why[records[2]["article_id"]]
    assert why[records[4]["article_id"]].startswith(f"url is longer than {URL_CHARS:,} characters")
    assert next(r["url"] for r in q_sql if r["article_id"] == records[4]["article_id"]) \
        == records[4]["url"]  # the whole URL, 10,000 characters
    assert "published_at is in the future" in why[records[5]["article_id"]]
    assert why[records[7]["article_id"]] == "published_at is missing or unreadable"


# -- the hostile site ---------------------------------------------------------------------------

@pytest.mark.postgres
def test_a_hostile_site_night_succeeds_and_every_bad_page_has_a_row(tmp_path, pg_url):
    """A real crawl of tests/sites/hostile_site.py on 127.0.0.1 (a made-up host routed to the
    server, as for every test site), then the night into SQLite (`nightdesk run`'s own steps)
    and the same staged window into PostgreSQL. Good pages are stored; each bad one is stored
    clean or has a quarantine row saying why; every listed URL ends in exactly one row."""
    from etl.cli import run

    base = "https://www.hostile-news.example"
    pages = {p.key: p for p in site.pages(base)}
    with SiteServer({}) as server:
        server.routes.update(site.build_routes(base))
        sources = tmp_path / "sources.toml"
        sources.write_text("\n".join([
            "[[source]]", 'name = "hostile"', 'spider = "news"', f'feeds = ["{base}/feed.xml"]',
            f'replica_addr = "{server.addr}"', "[source.politeness]", "download_delay = 0.0",
            "autothrottle = false", "concurrent_requests_per_domain = 8", "retry_times = 0",
            "download_timeout = 20"]) + "\n", encoding="utf-8")
        sqlite = _sqlite(tmp_path)
        result = run(site.START.isoformat(), site.END.isoformat(), sources_file=str(sources),
                     data_dir=str(tmp_path), warehouse_url=sqlite, run_id=runids.cli_run_id())
    assert result["check"]["problems"] == []
    # The same staged window into PostgreSQL: the loads and the check a night runs there.
    load.load_warehouse(site.START, site.END, data_dir=tmp_path, warehouse_url=pg_url,
                        run_id=result["run_id"])
    assert load.check(site.START, site.END, data_dir=tmp_path,
                      warehouse_url=pg_url)["problems"] == []

    stored_ok = {f"good-{i}" for i in range(site.GOOD)} | {
        "controls", "surrogates", "no-date", "modified-9999", "modified-0001", "long-2050"}
    quarantined = {"huge-title": "title is longer than 1,000 characters",
                   "long-2100": "url", "long-5000": "url", "long-10000": "url"}
    assert stored_ok | set(quarantined) == set(pages)
    in_lake = {r["url"]: r for r in lake_rows(tmp_path).values()}
    for url in (sqlite, pg_url):
        eng = warehouse.engine(url)
        with eng.connect() as conn:
            stored = {r["url"]: {k: norm(r[k]) for k in FIELD_NAMES} for r in conn.execute(
                sa.select(warehouse.articles)).mappings()}
            rows = [dict(r) for r in conn.execute(sa.select(warehouse.quarantine)).mappings()]
            memory = {r.url for r in conn.execute(sa.select(warehouse.crawl_state.c.url))}
        eng.dispose()
        assert stored == in_lake  # identical in lake and warehouse
        listed = [site.url(base, p) for p in pages.values()]
        for key, page in pages.items():  # every listed URL: exactly one row
            address = site.url(base, page)
            held = [r for r in rows if r["url"] == address]
            assert (address in stored) + len(held) == 1, key
            if key in quarantined:
                assert quarantined[key] in held[0]["reason"], (key, held[0]["reason"])
        assert set(stored) <= set(listed)
        for row in stored.values():
            assert_valid(row)
        by_key = {k: stored[site.url(base, p)] for k, p in pages.items()
                  if site.url(base, p) in stored}
        assert set(by_key) == stored_ok
        assert by_key["controls"]["title"] == "Controls in the title"
        assert by_key["controls"]["authors"] == ["Ann Smith"]
        assert by_key["controls"]["description"] == "Desc end"
        assert "\ufffd" in by_key["surrogates"]["title"]
        assert by_key["no-date"]["published_at"] == pd.Timestamp(site.PUBLISHED)
        assert by_key["modified-9999"]["modified_at"] is None
        assert by_key["modified-0001"]["modified_at"] is None
        assert site.url(base, pages["long-2050"]) in memory  # a 2,050-character crawl memory
    assert result["transform"]["sources"]["hostile"]["cleaned_chars"] > 0
