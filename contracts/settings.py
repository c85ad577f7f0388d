"""The one settings object. Read from the environment once, at an entry point (the `nightdesk`
CLI, a DAG task, the start of a crawl's Scrapy process), then passed down; never at import.

The environment variables (README, docs/running.md) and their defaults:
NIGHTDESK_DATA_DIR (REPO_ROOT/data), NIGHTDESK_SOURCES (REPO_ROOT/sources/demo.toml),
NIGHTDESK_WAREHOUSE_URL (SQLite beside the lake), NIGHTDESK_WORKERS (one per core, at most 4),
NIGHTDESK_CHUNK_ROWS (5000), NIGHTDESK_TASK_RETRIES (2), NIGHTDESK_MAX_QUARANTINE_SHARE (0.5),
NIGHTDESK_NEARDUP (on), NIGHTDESK_CONTACT (none), NIGHTDESK_ALLOWED_ADDRESSES (none),
NIGHTDESK_REPLICA_HANDLER (none: the demo and the tests name the replica's download handler).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_CHUNK_ROWS = 5000
DEFAULT_MAX_QUARANTINE_SHARE = 0.5
_OFF = ("0", "false", "no", "off")


def default_workers() -> int:
    """One per core, at most 4."""
    return min(os.cpu_count() or 1, 4)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = REPO_ROOT / "data"
    sources_file: Path = REPO_ROOT / "sources" / "demo.toml"
    warehouse_url: str = ""  # empty: SQLite in data_dir (see `warehouse`)
    # Processes that clean a large window and threads that merge lake partitions.
    workers: int = dataclasses.field(default_factory=default_workers)
    chunk_rows: int = DEFAULT_CHUNK_ROWS  # articles a transform worker cleans at once
    task_retries: int = 2  # Airflow retries of each DAG task
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE
    neardup: bool = True  # near-duplicate clustering in the transform
    contact: str | None = None  # the operator's address in the crawler's User-Agent
    allowed_addresses: tuple[str, ...] = ()  # local/private addresses a crawl may reach
    replica_handler: str | None = None  # the demo replica's Scrapy download handler (a path)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """The settings the environment gives; `overrides` that are not None win (CLI flags)."""
        env = os.environ if environ is None else environ
        data = Path(env.get("NIGHTDESK_DATA_DIR") or REPO_ROOT / "data")
        settings = cls(
            data_dir=data,
            sources_file=Path(env.get("NIGHTDESK_SOURCES") or REPO_ROOT / "sources/demo.toml"),
            warehouse_url=env.get("NIGHTDESK_WAREHOUSE_URL", ""),
            workers=max(1, int(env.get("NIGHTDESK_WORKERS", "0")) or default_workers()),
            chunk_rows=int(env.get("NIGHTDESK_CHUNK_ROWS", DEFAULT_CHUNK_ROWS)),
            task_retries=int(env.get("NIGHTDESK_TASK_RETRIES", "2")),
            max_quarantine_share=float(env.get("NIGHTDESK_MAX_QUARANTINE_SHARE",
                                               DEFAULT_MAX_QUARANTINE_SHARE)),
            neardup=env.get("NIGHTDESK_NEARDUP", "1").strip().lower() not in _OFF,
            contact=env.get("NIGHTDESK_CONTACT") or None,
            allowed_addresses=tuple(a.strip() for a in
                                    env.get("NIGHTDESK_ALLOWED_ADDRESSES", "").split(",")
                                    if a.strip()),
            replica_handler=env.get("NIGHTDESK_REPLICA_HANDLER") or None,
        )
        return settings.replace(**overrides)

    def replace(self, **overrides: object) -> Settings:
        """A copy with the given fields changed (None: keep); paths are made absolute."""
        given = {k: v for k, v in overrides.items() if v is not None}
        for key in ("data_dir", "sources_file"):
            if key in given:
                given[key] = Path(given[key])  # type: ignore[arg-type]
        new = dataclasses.replace(self, **given)  # type: ignore[arg-type]
        return dataclasses.replace(new, data_dir=new.data_dir.resolve(),
                                   sources_file=new.sources_file.resolve())

    @property
    def warehouse(self) -> str:
        """The SQLAlchemy URL of the warehouse; by default a SQLite file beside the lake."""
        return self.warehouse_url or f"sqlite:///{self.data_dir / 'warehouse.db'}"


# user:password@ in the authority, and password=... among the query parameters (libpq style).
_USERINFO_PASSWORD = re.compile(r"(?P<keep>//[^/?#@\s:]*:)[^/?#\s]*@")
_QUERY_PASSWORD = re.compile(r"(?P<keep>[?&]password=)[^&#\s]*", re.IGNORECASE)


def masked(text: str) -> str:
    """`text` with the password of every URL in it replaced by ***: what may be printed or
    logged (the warehouse URL, a broker URL, an error message quoting one)."""
    text = _USERINFO_PASSWORD.sub(r"\g<keep>***@", text)
    return _QUERY_PASSWORD.sub(r"\g<keep>***", text)


class MaskPasswords(logging.Filter):
    """Masks URL passwords in every record a handler emits (install with mask_logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = masked(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def mask_logs() -> None:
    """Put MaskPasswords on every handler of the root logger (after logging is configured)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskPasswords) for f in handler.filters):
            handler.addFilter(MaskPasswords())
