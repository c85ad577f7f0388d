"""Shared fixtures: the seed file, a running replica, per-test data dirs and sources files,
and the real PostgreSQL server on 127.0.0.1:5432 (a fresh schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Crawls of `replica = true` sources reach the demo replica through its download handler, which
# the checkout names (as `make` and bin/airflow do): the shipped package names no replica.
os.environ.setdefault("NIGHTDESK_REPLICA_HANDLER", "replica.handler.ReplicaDownloadHandler")
SHARED = Path(os.environ.get("NIGHTDESK_SHARED", REPO.parent / "shared"))
PG_BASE = os.environ.get("NIGHTDESK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def seed_path() -> Path:
    path = Path(os.environ.get("NIGHTDESK_SEED_ARTICLE",
                               SHARED / "fixtures" / "moscowtimes" / "seed-article.txt"))
    if not path.exists():
        pytest.fail(f"the seed article is required for these tests and is missing: {path} "
                    "(set NIGHTDESK_SEED_ARTICLE or NIGHTDESK_SHARED)")
    return path


@pytest.fixture(scope="session")
def replica(seed_path: Path) -> Iterator:
    from replica.server import ReplicaServer

    with ReplicaServer(seed_path=seed_path) as server:
        yield server


def write_sources(path: Path, **overrides: object) -> Path:
    """A one-source sources file for the replica (overrides go into the [[source]] entry)."""
    entry = {
        "name": "moscowtimes",
        "spider": "news",
        "timezone": "Europe/Moscow",
        "feeds": ["https://www.themoscowtimes.com/rss/news"],
        "sitemaps": ["https://static.themoscowtimes.com/sitemap/newsmap.xml",
                     "https://static.themoscowtimes.com/sitemap/sitemap.xml"],
        "replica": True,
        **overrides,
    }
    lines = ["[[source]]"]
    for key, value in entry.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, list):
            lines.append(f"{key} = [{', '.join(repr(v).replace(chr(39), chr(34)) for v in value)}]")
        else:
            lines.append(f'{key} = "{value}"')
    lines += ["[source.politeness]", "download_delay = 0.0", "autothrottle = false",
              "concurrent_requests_per_domain = 8", "retry_times = 1", "download_timeout = 10"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def sources_file(tmp_path: Path) -> Path:
    return write_sources(tmp_path / "sources.toml")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL server, dropped afterwards."""
    import sqlalchemy as sa

    schema = f"nd_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_BASE)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required (make services): {exc}")
    try:
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator:
    """Airflow components (tests/test_production.py's Stack), stopped even when the test fails
    (set `stack.env` before starting); the production, browser and Nightdesk UI tests use it."""
    from tests.test_production import Stack

    s = Stack(env={}, logs=tmp_path / "component-logs")
    try:
        yield s
    finally:
        s.stop()
