"""Extraction benchmark: our `spiders.extract.extract` and trafilatura side by side, one run.

    .venv/bin/python -m bench.extraction                 # the shared fundus fixtures
    .venv/bin/python -m bench.extraction --root DIR      # any directory holding manifest.json files
    .venv/bin/python -m bench.extraction --json          # one JSON line instead of the table

Ground truth is the fundus layout (see ../shared/fixtures/fundus_en/SOURCE.md): a manifest.json per
set joins each gzipped page to its expected-values JSON. The pages are read where they lie and
never copied into the repo. Publishers that have a site parser in spiders/sites are left out of the
comparison (the site parser, not the generic extractor, handles them).

Metrics, per extractor:
  body P/R/F1  token 4-gram shingles over lowercased \\w+ tokens; per-page precision and recall,
               averaged over pages, F1 of the two averages. The truth is the whole article text
               fundus gives: summary (lead/standfirst) + every section's headlines and paragraphs.
               A page the extractor failed on counts as P = R = 0.
  title        exact match after whitespace normalisation.
  authors      set equality after whitespace/case normalisation (pages whose truth has authors).
  date         same instant to the minute; a truth without an offset (a publisher's local wall
               clock) is compared with our value's own wall clock. "date(day)" compares the
               calendar day only, since trafilatura gives days.
  invented     share of pages whose truth has no author where the extractor names one.
  pages/s      pages / summed wall time of the extraction calls alone (one process, one core).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/extraction.py` works as `-m bench.extraction` does
    sys.path.insert(0, str(REPO))

_TOKEN = re.compile(r"\w+")
_WS = re.compile(r"\s+")


def shared_dir() -> Path:
    return Path(os.environ.get("NIGHTDESK_SHARED", REPO.parent / "shared"))


def default_roots() -> list[Path]:
    fixtures = shared_dir() / "fixtures"
    return [fixtures / "fundus_en", fixtures / "fundus_ru"]


@dataclass(frozen=True)
class Page:
    """One saved page and what fundus expects from it."""

    key: str  # e.g. "us/Reuters_2023_05_16"
    publisher: str
    url: str
    html: str
    title: str
    authors: tuple[str, ...]
    published: str | None  # fundus' str(datetime), offset optional
    paragraphs: tuple[str, ...]  # summary + section headlines + paragraphs, in order
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _truth_paragraphs(body: dict[str, Any] | None) -> tuple[str, ...]:
    if not body:
        return ()
    out = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        out.extend(section.get("headline") or [])
        out.extend(section.get("paragraphs") or [])
    return tuple(out)


def load_pages(roots: Iterable[Path] | None = None) -> list[Page]:
    """Every page under the given roots (each holds a manifest.json, or subfolders that do)."""
    pages: list[Page] = []
    for root in roots or default_roots():
        manifests = [root / "manifest.json"] if (root / "manifest.json").exists() else sorted(
            root.rglob("manifest.json"))
        for manifest in manifests:
            base = manifest.parent
            expected_cache: dict[str, dict[str, Any]] = {}
            for row in json.loads(manifest.read_text(encoding="utf-8")):
                exp_path = row["expected_json"]
                if exp_path not in expected_cache:
                    expected_cache[exp_path] = json.loads(
                        (base / exp_path).read_text(encoding="utf-8"))
                expected = expected_cache[exp_path][row["version_key"]]
                html = gzip.decompress((base / row["html"]).read_bytes()).decode("utf-8", "replace")
                pages.append(Page(
                    key=row["html"].removeprefix("test_data/").removesuffix(".html.gz"),
                    publisher=row["publisher"],
                    url=row["url"],
                    html=html,
                    title=expected.get("title") or row.get("title") or "",
                    authors=tuple(expected.get("authors") or ()),
                    published=expected.get("publishing_date"),
                    paragraphs=_truth_paragraphs(expected.get("body")),
                    extra={"topics": expected.get("topics"), "lang": row.get("html_lang_attr")},
                ))
    return pages


# --- scoring -------------------------------------------------------------------------------------

def shingles(text: str, n: int = 4) -> set[tuple[str, ...]]:
    tokens = _TOKEN.findall(text.lower())
    if len(tokens) < n:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def body_pr(predicted: str | None, truth: Iterable[str]) -> tuple[float, float]:
    """Shingle precision and recall of one page's body (0, 0 when nothing was extracted)."""
    pred = shingles(predicted or "")
    gold = shingles("\n".join(truth))
    if not pred or not gold:
        return 0.0, 0.0
    common = len(pred & gold)
    return common / len(pred), common / len(gold)


def norm_text(value: str | None) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFC", value or "")).strip()


def norm_author(value: str) -> str:
    return norm_text(value).casefold()


def title_ok(predicted: str | None, truth: str) -> bool:
    return norm_text(predicted) == norm_text(truth)


def authors_ok(predicted: Iterable[str], truth: Iterable[str]) -> bool:
    return {norm_author(a) for a in predicted if a.strip()} == {
        norm_author(a) for a in truth if a.strip()}


def _parse_truth_date(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def date_ok(predicted: datetime | date | None, truth: str | None, *, day_only: bool = False
            ) -> bool:
    """Same instant to the minute (or the same calendar day with day_only)."""
    if predicted is None or not truth:
        return False
    gold = _parse_truth_date(truth)
    if gold is None:
        return False
    if not isinstance(predicted, datetime):  # a bare date can only match on the day
        if not day_only:
            return False
        local = gold
        return local.date() == predicted
    if gold.tzinfo is None or predicted.tzinfo is None:
        # A naive truth is the publisher's wall clock: compare it with ours as the page gives it.
        a, b = predicted.replace(tzinfo=None), gold.replace(tzinfo=None)
    else:
        a, b = predicted.astimezone(gold.tzinfo), gold
    if day_only:
        return a.date() == b.date()
    return a.replace(second=0, microsecond=0) == b.replace(second=0, microsecond=0)


# --- the two extractors, in one shape ----------------------------------------------------------

@dataclass
class Result:
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published: datetime | date | None = None
    body: str = ""
    error: str | None = None


def run_ours(page: Page) -> Result:
    from spiders.extract import extract
    from spiders.htmltools import NotAnArticle

    try:
        row = extract(page.html, page.url)
    except NotAnArticle as exc:
        return Result(error=f"NotAnArticle: {exc}")
    return Result(title=row["title"], authors=list(row["authors"]),
                  published=row["published_at"], body=row["body"] or "")


def run_trafilatura(page: Page) -> Result:
    import trafilatura

    doc = trafilatura.bare_extraction(page.html, url=page.url, with_metadata=True)
    if doc is None:
        return Result(error="no result")
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    raw_date = data.get("date")
    published: datetime | date | None = None
    if raw_date:
        try:
            published = date.fromisoformat(raw_date[:10])
        except ValueError:
            published = None
    authors = [a.strip() for a in (data.get("author") or "").split(";") if a.strip()]
    return Result(title=data.get("title"), authors=authors, published=published,
                  body=data.get("text") or "")


EXTRACTORS: dict[str, Callable[[Page], Result]] = {
    "nightdesk": run_ours,
    "trafilatura": run_trafilatura,
}


@dataclass
class Scores:
    pages: int = 0
    precision: float = 0.0
    recall: float = 0.0
    f1: float = 0.0
    title: float = 0.0
    authors: float = 0.0
    date: float = 0.0
    date_day: float = 0.0
    invented: float | None = None  # None: no page without a credited author
    failed: int = 0
    pages_per_s: float = 0.0


@dataclass
class PageScore:
    key: str
    precision: float
    recall: float
    title: bool
    authors: bool | None  # None: truth names nobody
    invented: bool | None
    date: bool
    date_day: bool
    error: str | None
    seconds: float
    result: Result


def score_page(page: Page, result: Result, seconds: float = 0.0) -> PageScore:
    p, r = body_pr(result.body, page.paragraphs)
    has_truth_authors = any(a.strip() for a in page.authors)
    return PageScore(
        key=page.key, precision=p, recall=r,
        title=title_ok(result.title, page.title),
        authors=authors_ok(result.authors, page.authors) if has_truth_authors else None,
        invented=bool(result.authors) if not has_truth_authors else None,
        date=date_ok(result.published, page.published),
        date_day=date_ok(result.published, page.published, day_only=True),
        error=result.error, seconds=seconds, result=result,
    )


def aggregate(scores: list[PageScore]) -> Scores:
    n = len(scores)
    if not n:
        return Scores()
    p = sum(s.precision for s in scores) / n
    r = sum(s.recall for s in scores) / n
    with_authors = [s.authors for s in scores if s.authors is not None]
    without = [s.invented for s in scores if s.invented is not None]
    seconds = sum(s.seconds for s in scores)
    return Scores(
        pages=n, precision=p, recall=r, f1=2 * p * r / (p + r) if p + r else 0.0,
        title=sum(s.title for s in scores) / n,
        authors=sum(with_authors) / len(with_authors) if with_authors else 0.0,
        date=sum(s.date for s in scores) / n,
        date_day=sum(s.date_day for s in scores) / n,
        invented=sum(without) / len(without) if without else None,
        failed=sum(s.error is not None for s in scores),
        pages_per_s=n / seconds if seconds else 0.0,
    )


def compared_pages(pages: list[Page]) -> list[Page]:
    """The pages the comparison uses: publishers with a site parser are left out."""
    from spiders.extract import site_for

    return [p for p in pages if site_for(p.url) is None]


def benchmark(pages: list[Page], names: Iterable[str] = tuple(EXTRACTORS)
              ) -> dict[str, list[PageScore]]:
    """Run every extractor over every page, interleaved (so machine drift hits both alike),
    timing the extraction calls only."""
    names = list(names)
    for name in names:  # warm-up: imports and lazy initialisation are not extraction time
        if pages:
            EXTRACTORS[name](pages[0])
    out: dict[str, list[PageScore]] = {name: [] for name in names}
    for i, page in enumerate(pages):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            result = EXTRACTORS[name](page)
            elapsed = time.perf_counter() - start
            out[name].append(score_page(page, result, elapsed))
    return out


def _pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def format_table(results: dict[str, Scores]) -> str:
    cols = [("pages", "{:d}", "pages"), ("body P", "{:.3f}", "precision"),
            ("body R", "{:.3f}", "recall"), ("body F1", "{:.3f}", "f1"),
            ("title", "{:.3f}", "title"), ("authors", "{:.3f}", "authors"),
            ("date", "{:.3f}", "date"), ("date(day)", "{:.3f}", "date_day"),
            ("invented", "{:.3f}", "invented"), ("failed", "{:d}", "failed"),
            ("pages/s", "{:.1f}", "pages_per_s")]
    width = max(len(n) for n in results) + 2
    head = "extractor".ljust(width) + "".join(c[0].rjust(10) for c in cols)
    lines = [head, "-" * len(head)]
    for name, s in results.items():
        lines.append(name.ljust(width) + "".join(
            (fmt.format(getattr(s, attr)) if getattr(s, attr) is not None else "-").rjust(10)
            for _, fmt, attr in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, action="append",
                        help="directory with manifest.json (repeatable); default: the shared "
                             "fundus_en and fundus_ru fixtures")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--pages", action="store_true", help="also print per-page results")
    args = parser.parse_args(argv)

    _pin_one_core()
    pages = load_pages(args.root)
    used = compared_pages(pages)
    per_page = benchmark(used)
    results = {name: aggregate(scores) for name, scores in per_page.items()}
    if args.json:
        print(json.dumps({"pages_total": len(pages), "pages_compared": len(used),
                          **{name: vars(s) for name, s in results.items()}}))
        return 0
    print(f"{len(used)} pages compared ({len(pages) - len(used)} left out: site parser)")
    print(format_table(results))
    if args.pages:
        for name, scores in per_page.items():
            print(f"\n{name}")
            for s in scores:
                print(f"  {s.key:40s} P={s.precision:.2f} R={s.recall:.2f} "
                      f"title={'Y' if s.title else 'n'} authors={s.authors} date={s.date} "
                      f"{s.error or ''} {s.result.authors}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
