"""Metadata alone: our title/authors/date functions against trafilatura's metadata, one run.

    .venv/bin/python -m bench.metadata_fields                    # every dev set, tune | check
    .venv/bin/python -m bench.metadata_fields --set postlight --misses authors

Same pages, halves and scoring as bench.extraction, but only the metadata functions the generic
core calls (metadata.title, authors.authors, dates.find "published", no timezone) run, so a page
the body or page-kind checks refuse still scores its metadata. Three rows per group:
  metadata     our functions alone
  floor        ours where we return something, else trafilatura's value (what the core gives
               when it falls back to trafilatura per field)
  trafilatura  bare_extraction(html, url=url, with_metadata=True)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from bench import extraction as bx


def run_metadata(page: bx.Page) -> bx.Result:
    from spiders.generic import authors, dates, metadata
    from spiders.generic.page import load

    try:
        doc = load(page.html, page.url)
    except Exception as exc:  # an empty or unparseable page: nothing to score
        return bx.Result(error=f"{type(exc).__name__}: {exc}")
    published, _ = dates.find(doc, "published", None)
    return bx.Result(title=metadata.title(doc), authors=authors.authors(doc),
                     published=published)


def floor(ours: bx.Result, theirs: bx.Result) -> bx.Result:
    return bx.Result(title=ours.title or theirs.title, authors=ours.authors or theirs.authors,
                     published=ours.published or theirs.published)


def _misses(field: str, pages: list[bx.Page], ours: list[bx.PageScore],
            theirs: list[bx.PageScore]) -> list[str]:
    lines = []
    for page, o, t in zip(pages, ours, theirs, strict=True):
        ok = getattr(o, "day" if field == "day" else field)
        if ok is None or (ok if field == "invented" else not ok):
            continue
        got = {"title": o.result.title, "authors": o.result.authors,
               "invented": o.result.authors, "day": o.result.published}[field]
        want = {"title": page.title, "authors": page.authors, "invented": (),
                "day": page.published}[field]
        lines.append(f"[{page.half}] {page.key}: want {want!r} got {got!r} "
                     f"(trafilatura {'right' if getattr(t, field) else 'wrong'})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", action="append", choices=bx.SETS, dest="sets")
    parser.add_argument("--half", choices=("tune", "check", "both"), default="both")
    parser.add_argument("--misses", choices=("title", "authors", "invented", "day"),
                        help="also list our misses on this field")
    args = parser.parse_args(argv)

    pages = bx.load_all(args.sets or bx.SETS)
    halves = list(bx.HALVES) if args.half == "both" else [args.half]
    # metadata only: the body is bench.extraction's to score
    pages = [replace(p, scored=p.scored - {"body"}) for p in pages if p.half in halves]
    per_page: dict[str, list[bx.PageScore]] = {"metadata": [], "floor": [], "trafilatura": []}
    for page in pages:
        ours, theirs = run_metadata(page), bx.run_trafilatura(page)
        per_page["metadata"].append(bx.score_page(page, ours))
        per_page["floor"].append(bx.score_page(page, floor(ours, theirs)))
        per_page["trafilatura"].append(bx.score_page(page, theirs))
    print(bx.format_table(bx.summarise(pages, per_page, halves), halves))
    if args.misses:
        print("\n".join(_misses(args.misses, pages, per_page["metadata"],
                                per_page["trafilatura"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
