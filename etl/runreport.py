"""The night at a glance: a run's report from the warehouse's `runs` table, as one HTML page.

One module for every rendering of the same report: the Nightdesk page and run tab in the Airflow
UI (plugins/nightdesk_view.py wires etl/nightdesk_app.py, which calls this) and a standalone file.

    from etl import runreport
    figs = runreport.figures(warehouse_url)                  # the latest run, the last 365 nights
    figs = runreport.figures(warehouse_url, run_id=run_id)   # one run (an Airflow or CLI run id)
    html = runreport.render_html(figs)                       # a complete, self-contained document

`figures()` returns plain JSON-able data (dates as ISO strings):
  {"generated_at", "newest_night",
   "run":    {"run_id", "interval_start", "interval_end", "started_at", "finished_at",
              "wall_seconds", "sources": [ROW, ...]} or None when the warehouse has no run,
   "nights": [ROW, ...]  one per source and night (the night's latest run), newest first}
ROW: the runs row's columns (inserted, updated, unchanged, known_skipped, pages_fetched, items,
rejected, crawl_rejects, quarantined, not_article, duplicates, near_duplicates, crawl_seconds,
load_seconds, health, ...), "night" (the window's start date), "rejects_by_reason" as a dict and
the etl/health.py figures (yield, authors_share, page_date_share, body_words_median,
not_article_share, reject_share).

`render_html()` uses inline CSS and inline SVG plots only: no script, nothing from the network.
Every shown figure sits in an element with data-figure="NAME" inside a row with data-source and
data-night, so tests (and scrapers) find numbers without parsing layout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any

import pandas as pd
import sqlalchemy as sa

from etl import health, warehouse

NIGHTS = 365
_COUNTS = ("inserted", "updated", "unchanged", "known_skipped", "pages_fetched", "items",
           "rejected", "crawl_rejects", "quarantined", "not_article", "duplicates",
           "near_duplicates")


def _iso(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).tz_localize("UTC").isoformat() if pd.Timestamp(
        value).tzinfo is None else pd.Timestamp(value).tz_convert("UTC").isoformat()


def _row(raw: Mapping[str, Any]) -> dict[str, Any]:
    row = {k: (int(raw[k]) if raw.get(k) is not None else None) for k in _COUNTS}
    row.update({
        "run_id": raw["run_id"], "source": raw["source"], "mode": raw.get("mode"),
        "interval_start": _iso(raw["interval_start"]), "interval_end": _iso(raw["interval_end"]),
        "started_at": _iso(raw["started_at"]), "finished_at": _iso(raw["finished_at"]),
        "night": pd.Timestamp(raw["interval_start"]).strftime("%Y-%m-%d"),
        "crawl_seconds": raw.get("crawl_seconds"), "load_seconds": raw.get("load_seconds"),
        "body_words_median": raw.get("body_words_median"), "health": raw.get("health"),
        "rejects_by_reason": json.loads(raw["rejects_by_reason"])
        if raw.get("rejects_by_reason") else {},
    })
    row.update(health.figures(raw))
    return row


def figures(warehouse_url: str, *, run_id: str | None = None, nights: int = NIGHTS
            ) -> dict[str, Any]:
    """The report's data: the run `run_id` (default: the latest) and up to `nights` nights per
    source ending at the newest night in the warehouse."""
    eng = warehouse.engine(warehouse_url)
    warehouse.create_schema(eng)
    r = warehouse.runs
    with eng.connect() as conn:
        if run_id is None:
            run_id = conn.execute(sa.select(r.c.run_id).order_by(r.c.finished_at.desc())
                                  .limit(1)).scalar()
        rows = conn.execute(sa.select(r).where(r.c.run_id == run_id).order_by(r.c.source)
                            ).mappings().all() if run_id else []
        history = health.nights(conn, limit=nights)
    eng.dispose()
    run = None
    if rows:
        sources = [_row(x) for x in rows]
        start = min(pd.Timestamp(x["started_at"]) for x in rows)
        end = max(pd.Timestamp(x["finished_at"]) for x in rows)
        run = {"run_id": run_id, "interval_start": sources[0]["interval_start"],
               "interval_end": sources[0]["interval_end"], "started_at": _iso(start),
               "finished_at": _iso(end), "wall_seconds": (end - start).total_seconds(),
               "sources": sources}
    table = [_row(x) for x in history]
    return {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "newest_night": table[0]["night"] if table else None, "run": run, "nights": table}


# ---- rendering -------------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#1a202c;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:20px 0 6px}
table{border-collapse:collapse;margin:4px 0 12px}
th,td{padding:3px 8px;border-bottom:1px solid #e2e8f0}
th{text-align:left;background:#f7fafc;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ok{color:#276749} .warn{color:#975a16} .fail{color:#c53030;font-weight:600}
.muted{color:#718096} .plots{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;border:1px solid #e2e8f0;padding:6px} figcaption{font-weight:600;font-size:13px}
svg text{font:11px system-ui,sans-serif;fill:#4a5568}
"""
_COLORS = ("#3182ce", "#dd6b20", "#38a169", "#a0aec0", "#805ad5", "#e53e3e", "#d69e2e")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _when(iso: str, seconds: bool = False) -> str:
    return pd.Timestamp(iso).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def _health_cell(verdict: str | None) -> str:
    if not verdict:
        return '<td data-figure="health" class="muted">not checked</td>'
    css = verdict.split(":", 1)[0]
    return f'<td data-figure="health" class="{escape(css)}">{escape(verdict)}</td>'


# (column title, key, formatter) of the per-source tables
_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("inserted", "inserted", str), ("updated", "updated", str),
    ("unchanged", "unchanged", str), ("known, skipped", "known_skipped", str),
    ("pages fetched", "pages_fetched", str), ("rejects", "rejected", str),
    ("duplicates", "duplicates", str), ("near-dups", "near_duplicates", str),
    ("quarantined", "quarantined", lambda v: "n/a" if v is None else str(v)),
    ("crawl", "crawl_seconds", duration), ("load", "load_seconds", duration),
    ("with authors", "authors_share", _pct), ("page date", "page_date_share", _pct),
    ("median words", "body_words_median", lambda v: "n/a" if v is None else f"{v:g}"),
    ("not article", "not_article_share", _pct),
)


def _table(rows: Sequence[Mapping[str, Any]], first: str) -> str:
    head = "".join(f"<th>{escape(t)}</th>" for t, _, _ in _COLUMNS)
    out = [f"<table><tr><th>{first}</th>{head}<th>rejects by reason</th><th>health</th></tr>"]
    for row in rows:
        label = row["source"] if first == "source" else f"{row['night']} {row['source']}"
        cells = "".join(f'<td class="n" data-figure="{k}">{escape(fmt(row.get(k)))}</td>'
                        for _, k, fmt in _COLUMNS)
        reasons = ", ".join(f"{escape(k)} {v}"
                            for k, v in sorted(row["rejects_by_reason"].items()))
        out.append(f'<tr data-source="{escape(row["source"])}" data-night="{row["night"]}">'
                   f"<td>{escape(label)}</td>{cells}"
                   f'<td data-figure="rejects_by_reason">{reasons or "none"}</td>'
                   f"{_health_cell(row.get('health'))}</tr>")
    out.append("</table>")
    return "".join(out)


def svg_chart(days: Sequence[date], series: Mapping[str, Sequence[float | None]], *,
              stacked: bool = True, lines: bool = False, unit: str = "",
              width: int = 560, height: int = 170) -> str:
    """A bar (stacked) or line chart of one value per day and series, as inline SVG."""
    left, bottom, top = 44, 20, 8
    plot_w, plot_h = width - left - 8, height - bottom - top
    n = max(len(days), 1)
    totals = [sum((s[i] or 0) for s in series.values()) if stacked and not lines
              else max([(s[i] or 0) for s in series.values()] or [0]) for i in range(n)]
    peak = max([*totals, 0]) or 1
    step = plot_w / n
    y = lambda v: top + plot_h - v / peak * plot_h  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img"><line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" '
             f'y2="{top + plot_h}" stroke="#a0aec0"/>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{peak:g}{unit}</text>',
             f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>']
    if lines:
        for color, values in zip(_COLORS, series.values(), strict=False):
            points = [f"{left + (i + 0.5) * step:.1f},{y(v):.1f}" for i, v in enumerate(values)
                      if v is not None]
            if points:
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                             f'points="{" ".join(points)}"/>')
                parts += [f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" '
                          f'fill="{color}"/>' for p in points] if len(points) <= 60 else []
    else:
        base = [0.0] * n
        for color, (name, values) in zip(_COLORS, series.items(), strict=False):
            for i, v in enumerate(values):
                if not v:
                    continue
                x = left + i * step + step * 0.1
                parts.append(f'<rect x="{x:.1f}" y="{y(base[i] + v):.1f}" width="'
                             f'{max(step * 0.8, 0.5):.1f}" height="{v / peak * plot_h:.1f}" '
                             f'fill="{color}"><title>{days[i]} {escape(name)}: {v:g}</title>'
                             "</rect>")
                base[i] += v
    for i, anchor in ((0, "start"), (n // 2, "middle"), (n - 1, "end")):
        if i < len(days):
            x = {"start": left, "middle": left + (i + 0.5) * step, "end": width - 8}[anchor]
            parts.append(f'<text x="{x:.1f}" y="{height - 5}" text-anchor="{anchor}">'
                         f"{days[i]:%Y-%m-%d}</text>")
    parts.append("</svg>")
    legend = " ".join(f'<span style="color:{c}">&#9632; {escape(k)}</span>'
                      for c, k in zip(_COLORS, series, strict=False))
    return "".join(parts) + f"<div>{legend}</div>"


def _plots(nights: Sequence[Mapping[str, Any]], newest: date, span: int) -> str:
    days = [newest - timedelta(days=span - 1 - i) for i in range(span)]
    index = {d: i for i, d in enumerate(days)}

    def per_day(key: str, how: str = "sum") -> list[float | None]:
        values: list[list[float]] = [[] for _ in days]
        for row in nights:
            i = index.get(date.fromisoformat(row["night"]))
            v = row.get(key)
            if i is not None and v is not None:
                values[i].append(float(v))
        if how == "sum":
            return [sum(v) if v else None for v in values]
        return [min(v) if v else None for v in values]  # coverage: the weakest source

    charts = {
        "articles found": (svg_chart(days, {
            "inserted": per_day("inserted"), "updated": per_day("updated"),
            "unchanged": per_day("unchanged"), "known, skipped": per_day("known_skipped")})),
        "pages fetched and rejects": svg_chart(days, {
            "pages fetched": per_day("pages_fetched"), "rejects": per_day("rejected"),
            "duplicates": per_day("duplicates"), "near-dups": per_day("near_duplicates")},
            stacked=False, lines=True),
        "crawl and load seconds": svg_chart(days, {
            "crawl": per_day("crawl_seconds"), "load": per_day("load_seconds")}, unit=" s"),
        "coverage (weakest source)": svg_chart(days, {
            "with authors": per_day("authors_share", "min"),
            "page-given date": per_day("page_date_share", "min")}, stacked=False, lines=True),
    }
    return "".join(f"<figure><figcaption>{escape(t)}, last {span} nights</figcaption>{svg}"
                   "</figure>" for t, svg in charts.items())


def render_html(figs: Mapping[str, Any], *, title: str = "Nightdesk", nights_shown: int = 30
                ) -> str:
    """A complete HTML document of `figures()`: the run, plots over the last 30 and 365 nights,
    and the per-source table of the last `nights_shown` nights."""
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
           f"</title><style>{_CSS}</style></head><body><h1>{escape(title)}</h1>"]
    run = figs.get("run")
    if run is None:
        out.append("<p>No run in the warehouse yet: run the pipeline first (make run).</p>")
    else:
        out.append(
            f'<h2>Run <span data-figure="run_id">{escape(run["run_id"])}</span></h2><p>'
            f'window <b data-figure="interval_start">{_when(run["interval_start"])}</b> to '
            f'<b data-figure="interval_end">{_when(run["interval_end"])}</b> UTC; crawl and '
            f'load took <b data-figure="wall">{duration(run["wall_seconds"])}</b> of wall-clock '
            "time, from "
            f'its first crawl\'s start ({_when(run["started_at"], True)}) to the warehouse '
            f'commit ({_when(run["finished_at"], True)})</p>')
        out.append(_table(run["sources"], "source"))
    nights = figs.get("nights") or []
    if nights:
        newest = date.fromisoformat(figs["newest_night"])
        out.append('<h2>Over the nights</h2><div class="plots">')
        out.append(_plots(nights, newest, 30) + _plots(nights, newest, 365))
        out.append(f"</div><h2>Per source and night (last {nights_shown} nights)</h2>")
        cutoff = (newest - timedelta(days=nights_shown - 1)).isoformat()
        out.append(_table([n for n in nights if n["night"] >= cutoff], "night"))
    out.append(f'<p class="muted">From the warehouse\'s runs table, generated '
               f'{escape(figs["generated_at"])}.</p></body></html>')
    return "".join(out)
