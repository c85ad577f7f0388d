"""Where things live by default; every function also takes these as explicit arguments."""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir(value: str | Path | None = None) -> Path:
    return Path(value or os.environ.get("NIGHTDESK_DATA_DIR") or REPO_ROOT / "data").resolve()


def sources_file(value: str | Path | None = None) -> Path:
    return Path(
        value or os.environ.get("NIGHTDESK_SOURCES") or REPO_ROOT / "sources" / "demo.toml"
    ).resolve()


def warehouse_url(value: str | None = None, data: str | Path | None = None) -> str:
    """The SQLAlchemy URL of the warehouse; by default a SQLite file beside the lake."""
    return (
        value
        or os.environ.get("NIGHTDESK_WAREHOUSE_URL")
        or f"sqlite:///{data_dir(data) / 'warehouse.db'}"
    )


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


def max_quarantine_share() -> float:
    return float(os.environ.get("NIGHTDESK_MAX_QUARANTINE_SHARE", "0.5"))


def window_label(start: datetime, end: datetime) -> str:
    """How outputs of one data interval are named (by data, never by run id or wall clock)."""
    stamp = "%Y%m%dT%H%M%SZ"
    return f"{start.strftime(stamp)}_{end.strftime(stamp)}"


def utc(value: str | datetime) -> datetime:
    """An interval bound in UTC; a bound without an offset is refused, not guessed."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        raise ValueError(f"interval bounds need an explicit UTC offset: {value!r}")
    return when.astimezone(UTC)


def workers() -> int:
    """Processes that clean a large window and threads that merge lake partitions
    (`NIGHTDESK_WORKERS`; default one per core, at most 4)."""
    return max(1, int(os.environ.get("NIGHTDESK_WORKERS", "0")) or min(os.cpu_count() or 1, 4))
