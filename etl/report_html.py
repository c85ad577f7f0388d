"""The HTML form of `nightdesk report`: one self-contained file (inline CSS and SVG plots, no
script, nothing fetched from the network), so it can be mailed or opened from disk anywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from etl.report_cli import Summary

COLOURS = {"new": "#2b7bba", "changed": "#e08a1e", "unchanged": "#7fb069",
           "known_skipped": "#b8c4cc", "rejected": "#c4403a", "took (s)": "#6a4c93"}
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}
th:nth-child(-n+3),td:nth-child(-n+3){text-align:left}
.meta{color:#555} svg{display:block;margin:.5em 0} .legend span{margin-right:1em}
"""


def bar_chart(title: str, labels: list[str], series: dict[str, list[float]],
              width: int = 900, height: int = 220) -> str:
    """Stacked bars, one per label, as an inline <svg> element."""
    left, bottom, top = 48, 40, 24
    n = max(len(labels), 1)
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    peak = max([*totals, 1])
    plot_h = height - bottom - top
    step = (width - left - 10) / n
    bar_w = max(step * 0.8, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(title)}">',
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
             'stroke="#999"/>']
    for frac in (0.5, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
                     f"{peak * frac:.4g}</text>"
                     f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" '
                     'stroke="#eee"/>')
    every = max(1, n // 12)  # at most ~12 date labels
    for i, label in enumerate(labels):
        x = left + i * step + (step - bar_w) / 2
        base = top + plot_h
        for name, values in series.items():
            h = plot_h * values[i] / peak
            if h > 0:
                base -= h
                parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                             f'height="{h:.1f}" fill="{COLOURS.get(name, "#888")}">'
                             f"<title>{escape(label)} {escape(name)}: {values[i]:g}</title></rect>")
        if i % every == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" font-size="10" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span><svg width="10" height="10" style="display:inline"><rect width="10"'
                     f' height="10" fill="{COLOURS.get(k, "#888")}"/></svg> {escape(k)}</span>'
                     for k in series)
    return "".join(parts) + f'<div class="legend">{legend}</div>'


def _nightly(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[float]],
                                                   dict[str, list[float]]]:
    """Per window (all sources added up): found split by kind, and rejects and duration."""
    by_day: dict[str, dict[str, float]] = {}
    for r in rows:
        day = by_day.setdefault(f"{r['interval_start']:%Y-%m-%d}", {})
        for key, col in (("new", "inserted"), ("changed", "updated"), ("unchanged", "unchanged"),
                         ("known_skipped", "known_skipped"), ("rejected", "rejected")):
            day[key] = day.get(key, 0) + float(r.get(col) or 0)
        took = (r["finished_at"] - r["started_at"]).total_seconds()
        day["took (s)"] = max(day.get("took (s)", 0.0), took)
    labels = sorted(by_day)
    found = {k: [by_day[d][k] for d in labels]
             for k in ("new", "changed", "unchanged", "known_skipped")}
    other = {k: [by_day[d][k] for d in labels] for k in ("rejected", "took (s)")}
    return labels, found, other


def _table(headings: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(summary: Summary) -> str:
    from etl.report_cli import COLUMNS, headline, table_rows

    plots = []
    for span in (30, 365):
        labels, found, other = _nightly(summary.history[-span:] if span == 30
                                        else summary.history)
        if not labels:
            continue
        labels = labels[-span:]
        found = {k: v[-span:] for k, v in found.items()}
        plots.append(bar_chart(f"articles found per night, last {span} nights", labels, found))
        if span == 30:
            plots.append(bar_chart("rejected per night, last 30 nights", labels,
                                   {"rejected": other["rejected"][-span:]}))
            plots.append(bar_chart("crawl to load, seconds per night (slowest source), last 30 "
                                   "nights", labels, {"took (s)": other["took (s)"][-span:]}))
    rejects = _table(["window", "source", "reason", "rejects"],
                     [[r["crawl_window"] or "", r["source"] or "", r["reason"] or "", str(r["n"])]
                      for r in summary.rejects]) if summary.rejects else "<p>no rejects</p>"
    made = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    meta = "".join(f'<div class="meta">{escape(line)}</div>' for line in headline(summary))
    runs = (_table([h for h, _ in COLUMNS], table_rows(summary)) if summary.rows
            else "<p>no runs in the warehouse yet</p>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Nightdesk report {escape(made)}</title><style>{CSS}</style></head><body>"
            f"<h1>Nightdesk report</h1><div class='meta'>made {escape(made)}</div>{meta}"
            f"<h2>Nights</h2>{''.join(plots) or '<p>no runs to plot</p>'}"
            f"<h2>Latest run of each source and window</h2>{runs}"
            f"<p class='meta'>found = new + changed + unchanged + known_skipped (known articles "
            f"not fetched again: an idempotent rerun finds them all as known)</p>"
            f"<h2>Rejects by reason</h2>{rejects}</body></html>")
