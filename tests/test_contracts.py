"""contracts/: URL identity, dates, the data layout and the settings both sides share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from contracts.dates import nightly_window, parse_day, parse_iso, utc
from contracts.layout import parse_window_dir, staging_dir, window_dir
from contracts.settings import REPO_ROOT, Settings
from contracts.urls import canonical_key, listing_key, registrable_domain, strip_tracking


@pytest.mark.parametrize(("host", "domain"), [
    ("www.zdf.de", "zdf.de"), ("m.bbc.co.uk", "bbc.co.uk"), ("o.paper.com", "paper.com"),
    ("paper.co.uk", "paper.co.uk"), ("WWW.Example.ORG.", "example.org"),
    ("127.0.0.1", "127.0.0.1"), ("localhost", "localhost"), ("feeds.x.example", "x.example"),
])
def test_registrable_domain_follows_the_public_suffix_list(host, domain):
    assert registrable_domain(host) == domain


def test_one_tracking_list_for_both_keys():
    url = "https://www.X.example/a/b/?b=2&utm_source=rss&a=1&fbclid=z&ref=feed#top"
    assert strip_tracking(url) == "https://www.X.example/a/b/?b=2&a=1"  # order and bytes kept
    assert listing_key(url) == "https://www.x.example/a/b/?b=2&a=1"
    assert canonical_key(url) == "x.example/a/b?a=1&b=2"
    assert canonical_key("http://m.x.example/a/b/amp") == canonical_key(url.split("?")[0])


def test_one_iso_parser_keeps_the_written_offset():
    assert parse_iso("2022-01-31T02:00:00Z") == datetime(2022, 1, 31, 2, tzinfo=UTC)
    assert parse_iso("2022-01-31T02:00:00Z").tzinfo is UTC
    moscow = parse_iso(" 2022-01-31T05:00:00+03:00 ")
    assert moscow.utcoffset() == timedelta(hours=3) and moscow.tzinfo == timezone(
        timedelta(hours=3))
    assert parse_iso("2022-01-31T05:00").tzinfo is None  # the caller decides the zone
    for bad in ("2022-01", "Jan 31 2022", "", None, "2022-13-01T00:00Z"):
        assert parse_iso(bad) is None


def test_interval_bounds_need_an_offset():
    assert utc("2022-01-31T05:00:00+03:00") == datetime(2022, 1, 31, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="explicit UTC offset"):
        utc("2022-01-31T05:00:00")
    with pytest.raises(ValueError, match="out of range"):
        parse_day("2023-04-31")
    assert nightly_window("2022-01-31") == ("2022-01-31T02:00:00+00:00",
                                            "2022-02-01T02:00:00+00:00")


def test_layout_names_folders_by_data_and_reads_them_back():
    start, end = datetime(2022, 1, 31, 2, tzinfo=UTC), datetime(2022, 2, 1, 2, tzinfo=UTC)
    folder = window_dir("/d", "moscowtimes", start, end)
    assert folder == Path("/d/raw/source=moscowtimes/window=20220131T020000Z_20220201T020000Z")
    assert parse_window_dir(folder) == ("moscowtimes", start, end)
    assert staging_dir("/d", start, end) == Path(
        "/d/staging/window=20220131T020000Z_20220201T020000Z")


def test_settings_are_read_from_the_given_environment_only():
    default = Settings.from_env({})
    assert default.data_dir == (REPO_ROOT / "data").resolve()
    assert default.sources_file == (REPO_ROOT / "sources" / "demo.toml").resolve()
    assert default.warehouse == f"sqlite:///{default.data_dir / 'warehouse.db'}"
    assert (default.chunk_rows, default.task_retries, default.neardup) == (5000, 2, True)
    assert default.replica_handler is None and default.allowed_addresses == ()
    env = {"NIGHTDESK_DATA_DIR": "/srv/d", "NIGHTDESK_WAREHOUSE_URL": "postgresql://h/db",
           "NIGHTDESK_WORKERS": "3", "NIGHTDESK_CHUNK_ROWS": "20000", "NIGHTDESK_NEARDUP": "off",
           "NIGHTDESK_ALLOWED_ADDRESSES": " 10.0.0.0/8, ::1 ,", "NIGHTDESK_TASK_RETRIES": "0",
           "NIGHTDESK_MAX_QUARANTINE_SHARE": "0.25", "NIGHTDESK_CONTACT": "ops@example.org"}
    s = Settings.from_env(env, data_dir=None, warehouse_url="sqlite:///x.db")  # a flag wins
    assert (s.data_dir, s.warehouse, s.workers, s.chunk_rows, s.neardup) == (
        Path("/srv/d"), "sqlite:///x.db", 3, 20000, False)
    assert (s.allowed_addresses, s.task_retries, s.max_quarantine_share, s.contact) == (
        ("10.0.0.0/8", "::1"), 0, 0.25, "ops@example.org")
    with pytest.raises(AttributeError):
        s.workers = 1  # type: ignore[misc]  # frozen: passed down, never changed on the way
