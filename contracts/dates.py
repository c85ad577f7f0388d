"""Dates: the one ISO 8601 parser (dateutil underneath) and our rules on top.

Rules: an instant keeps the offset it was written with (as a fixed offset, UTC for Z/+00:00); a
value without an offset stays naive and the caller decides its zone (a page's, a source's); an
interval bound without an offset is refused, never guessed.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

from dateutil.parser import isoparse

# A full calendar date first: "2022-01" or "2022" are not instants anyone meant.
_FULL_DATE = re.compile(r"^\d{4}-?\d{2}-?\d{2}(?:$|[T ])")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_iso(value: str | None) -> datetime | None:
    """An ISO 8601 date-time (or date, as its midnight); None when absent or unreadable.
    Offsets become fixed `timezone`s (UTC for Z and +00:00), like datetime.fromisoformat."""
    text = (value or "").strip()
    if not _FULL_DATE.match(text):
        return None
    try:
        parsed = isoparse(text)
    except (ValueError, OverflowError):
        return None
    offset = parsed.utcoffset()
    if offset is None:
        return parsed
    return parsed.replace(tzinfo=UTC if offset == timedelta(0) else timezone(offset))


def parse_day(value: str) -> date:
    """A calendar date written YYYY-MM-DD; ValueError saying why when it is not one."""
    text = value.strip()
    if not _DATE_ONLY.match(text):
        raise ValueError(f"takes a date (YYYY-MM-DD), not {value!r}")
    return date.fromisoformat(text)


def utc(value: str | datetime) -> datetime:
    """An interval bound in UTC; a bound without an offset is refused, not guessed."""
    when = parse_iso(value) if isinstance(value, str) else value
    if when is None:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    if when.tzinfo is None:
        raise ValueError(f"interval bounds need an explicit UTC offset: {value!r}")
    return when.astimezone(UTC)


def nightly_window(day: str) -> tuple[str, str]:
    """A date's nightly window: [D 02:00 UTC, D+1 02:00 UTC), the run that starts at D+1 02:00
    (the DAG's schedule)."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time()).replace(
        hour=2, tzinfo=UTC)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()
