"""Extraction benchmark: our `spiders.extract.extract` and trafilatura side by side, one run.

    .venv/bin/python -m bench.extraction                      # every dev set, tune | check halves
    .venv/bin/python -m bench.extraction --half check         # one half (tune, check or all)
    .venv/bin/python -m bench.extraction --set postlight      # some sets only (repeatable)
    .venv/bin/python -m bench.extraction --root DIR           # any directory of manifest.json sets
    .venv/bin/python -m bench.extraction --json               # one JSON line instead of the table
    .venv/bin/python -m bench.extraction --pages              # also every page's misses

The dev sets live in ../shared/fixtures (read where they lie, never copied into the repo):
  fundus_en, fundus_ru  manifest.json layout (see fundus_en/SOURCE.md): body, title, authors, time
  readability           expected.jsonl layout, `synthetic` pages skipped: body, title, authors, day
  htmldate              expected.jsonl: publication day only
  postlight             expected.jsonl: title, authors, day (UTC, +-1 day of slack: SOURCE.md)
Every page is assigned to the `tune` or `check` half by its site (registrable domain of its URL,
or its id stem when it has no URL) through a fixed hash, so both halves hold whole sites: rules
are tuned on `tune` and must hold on `check`.

Metrics, per extractor (a field is scored only on pages whose truth gives it):
  body F1      token 4-gram shingles over lowercased \\w+ tokens (CJK and Thai: characters); per
               page precision and recall averaged over pages, F1 of the two averages. A page the
               extractor failed on or refused counts as P = R = 0. "F1<.5": pages below .5.
  title        exact match after whitespace/Unicode normalisation.
  authors      every expected name is among ours (case-folded, whitespace collapsed).
  authors=     the two sets are equal.
  invented     share of pages whose truth credits nobody where the extractor names someone
               (lower is better).
  day          the publication day as the page gives it (postlight: in UTC, +-1 day).
  time         fundus only: the same instant to the minute.
  refused      pages with no result (an error, or our reject_reason).
  pages/s      pages / summed wall time of the extraction calls alone (one process, one core,
               extractors alternated page by page).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python bench/extraction.py` works as `-m bench.extraction` does
    sys.path.insert(0, str(REPO))

# Scripts written without spaces between words: each character is a token.
_NOSPACE = "\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf" \
           "\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_NOSPACE}]|[^\W{_NOSPACE}]+")
_WS = re.compile(r"\s+")
SETS = ("fundus_en", "fundus_ru", "readability", "htmldate", "postlight")
HALVES = ("tune", "check")


def shared_dir() -> Path:
    return Path(os.environ.get("NIGHTDESK_SHARED", REPO.parent / "shared"))


def fixtures_dir() -> Path:
    return shared_dir() / "fixtures"


def default_roots() -> list[Path]:
    """The fundus (manifest.json) sets."""
    return [fixtures_dir() / "fundus_en", fixtures_dir() / "fundus_ru"]


@dataclass(frozen=True)
class Page:
    """One saved page and what its set expects from it (None / () where the set says nothing)."""

    key: str  # e.g. "us/Reuters_2023_05_16", "postlight/deadline.com"
    publisher: str
    url: str
    html: str
    title: str | None
    authors: tuple[str, ...]
    published: str | None  # ISO-like; offset optional
    paragraphs: tuple[str, ...]  # the article text, paragraph by paragraph
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    set_name: str = "fundus_en"
    lang: str = "en"
    site: str = ""
    # which fields this page scores: body, title, authors, invented, day, time
    scored: frozenset[str] = frozenset({"body", "title", "authors", "invented", "day", "time"})
    day_slack: int = 0  # days of slack on the publication day
    day_in_utc: bool = False  # the truth's day is a UTC day

    @property
    def half(self) -> str:
        return half_of(self.site)


# --- loading -------------------------------------------------------------------------------------

def site_of(url: str | None, fallback: str) -> str:
    """The registrable domain of a URL (contracts.urls: bundled suffix list, no network); else
    the fallback with a trailing '-N' dropped ('nytimes-2' -> 'nytimes')."""
    from contracts.urls import registrable_domain

    host = urlsplit(url).hostname if url and url.startswith(("http://", "https://")) else None
    if host:
        return registrable_domain(host)
    return re.sub(r"-\d+$", "", fallback).lower()


def half_of(site: str) -> str:
    """A fixed, deterministic half for a site (sha1 of its name, not Python's salted hash)."""
    return HALVES[hashlib.sha1(site.encode("utf-8")).digest()[0] % 2]


def _lang(*values: str | None) -> str:
    for value in values:
        code = re.split(r"[-_]", (value or "").strip().lower())[0]
        if re.fullmatch(r"[a-z]{2,3}", code):
            return code
    return "?"


_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([\w:.-]+)""", re.IGNORECASE)


def decode_html(raw: bytes) -> str:
    """Bytes as a browser would read them: BOM, then <meta charset>, then UTF-8, then a guess."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8", "replace")
    m = _CHARSET.search(raw[:4096])
    if m:
        name = m.group(1).decode("ascii", "ignore").lower()
        if name not in ("utf-8", "utf8"):
            with contextlib.suppress(LookupError, UnicodeDecodeError):
                return raw.decode({"iso-8859-1": "cp1252", "latin1": "cp1252"}.get(name, name))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(raw).best()
        return str(best) if best is not None else raw.decode("cp1252", "replace")


def _truth_paragraphs(body: dict[str, Any] | None) -> tuple[str, ...]:
    if not body:
        return ()
    out = list(body.get("summary") or [])
    for section in body.get("sections") or []:
        out.extend(section.get("headline") or [])
        out.extend(section.get("paragraphs") or [])
    return tuple(out)


def _load_manifest_set(root: Path) -> list[Page]:
    pages: list[Page] = []
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
            scored = {"body", "title", "day", "time"}
            if "authors" in expected:
                scored.add("authors" if expected["authors"] else "invented")
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
                set_name=root.name,
                lang=_lang(row.get("html_lang_attr")),
                site=site_of(row["url"], row["publisher"]),
                scored=frozenset(scored),
            ))
    return pages


def _load_jsonl_set(root: Path) -> list[Page]:
    name = root.name
    pages: list[Page] = []
    for line in (root / "expected.jsonl").open(encoding="utf-8"):
        rec = json.loads(line)
        if rec.get("synthetic"):
            continue  # readability's hand-made unit-test pages
        scored: set[str] = set()
        if rec.get("body"):
            scored.add("body")
        asserted = rec.get("asserted") or {}
        if rec.get("title") and (name != "postlight" or "title" in asserted):
            scored.add("title")
        if rec.get("authors"):
            scored.add("authors")
        elif not rec.get("byline_raw") and name != "htmldate" and (
                name != "postlight" or "author" in asserted):
            scored.add("invented")  # the source says nobody is credited
        if rec.get("published"):
            scored.add("day")
        html = decode_html(gzip.decompress((root / rec["page"]).read_bytes()))
        url = rec.get("url") or ""
        pages.append(Page(
            key=f"{name}/{rec['id']}", publisher=rec["id"], url=url, html=html,
            title=rec.get("title"), authors=tuple(rec.get("authors") or ()),
            published=rec.get("published"),
            paragraphs=tuple(p for p in (rec.get("body") or "").split("\n\n") if p.strip()),
            extra={"notes": rec.get("notes")},
            set_name=name, lang=_lang(rec.get("lang"), rec.get("html_lang_attr"),
                                      rec.get("langid")),
            site=site_of(url, rec["id"]), scored=frozenset(scored),
            day_slack=1 if name == "postlight" else 0, day_in_utc=name == "postlight",
        ))
    return pages


def load_set(root: Path) -> list[Page]:
    if (root / "expected.jsonl").exists():
        return _load_jsonl_set(root)
    return _load_manifest_set(root)


def load_pages(roots: Iterable[Path] | None = None) -> list[Page]:
    """Every page under the given roots (default: the fundus sets, as before)."""
    pages: list[Page] = []
    for root in roots or default_roots():
        pages.extend(load_set(root))
    return pages


def load_all(names: Iterable[str] = SETS) -> list[Page]:
    """Every dev set in ../shared/fixtures that is present."""
    roots = [fixtures_dir() / n for n in names]
    return load_pages([r for r in roots if r.exists()])


# --- scoring -------------------------------------------------------------------------------------

def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def shingles(text: str, n: int = 4) -> set[tuple[str, ...]]:
    toks = tokens(text)
    if len(toks) < n:
        return {tuple(toks)} if toks else set()
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def body_pr(predicted: str | None, truth: Iterable[str]) -> tuple[float, float]:
    """Shingle precision and recall of one page's body (0, 0 when nothing was extracted)."""
    pred = shingles(predicted or "")
    gold = shingles("\n".join(truth))
    if not pred or not gold:
        return 0.0, 0.0
    common = len(pred & gold)
    return common / len(pred), common / len(gold)


def norm_text(value: str | None) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", value or "")).strip()


def norm_author(value: str) -> str:
    return norm_text(value).casefold()


def title_ok(predicted: str | None, truth: str | None) -> bool:
    return bool(truth) and norm_text(predicted) == norm_text(truth)


def authors_ok(predicted: Iterable[str], truth: Iterable[str]) -> bool:
    """The two sets of names are equal."""
    return {norm_author(a) for a in predicted if a.strip()} == {
        norm_author(a) for a in truth if a.strip()}


def authors_found(predicted: Iterable[str], truth: Iterable[str]) -> bool:
    """Every expected name is among ours."""
    ours = {norm_author(a) for a in predicted if a.strip()}
    want = {norm_author(a) for a in truth if a.strip()}
    return bool(want) and want <= ours


def _parse_truth_date(value: str) -> datetime | None:
    value = value.strip()
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    with contextlib.suppress(ValueError, OverflowError):
        from dateutil import parser as dateutil_parser

        return dateutil_parser.parse(value)
    return None


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str) and value.strip():
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value.strip()[:10])
    return None


def date_ok(predicted: datetime | date | None, truth: str | None, *, day_only: bool = False,
            slack_days: int = 0, truth_in_utc: bool = False) -> bool:
    """Same instant to the minute (or the same calendar day with day_only, +- slack_days)."""
    if predicted is None or not truth:
        return False
    gold = _parse_truth_date(truth)
    if gold is None:
        return False
    if not isinstance(predicted, datetime):  # a bare date can only match on the day
        if not day_only:
            return False
        return abs((predicted - gold.date()).days) <= slack_days
    if truth_in_utc and predicted.tzinfo is not None:
        a, b = predicted.astimezone(UTC).replace(tzinfo=None), gold.replace(tzinfo=None)
    elif gold.tzinfo is None or predicted.tzinfo is None:
        # A naive truth is the publisher's wall clock: compare it with ours as the page gives it.
        a, b = predicted.replace(tzinfo=None), gold.replace(tzinfo=None)
    elif day_only and len(truth.strip()) <= 10:
        a, b = predicted, gold  # a day as the page shows it: ours in its own offset
    else:
        a, b = predicted.astimezone(gold.tzinfo), gold
    if day_only:
        return abs((a.date() - b.date()).days) <= slack_days
    return a.replace(second=0, microsecond=0) == b.replace(second=0, microsecond=0)


# --- the extractors, in one shape --------------------------------------------------------------

@dataclass
class Result:
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published: datetime | date | None = None
    body: str = ""
    error: str | None = None


def _ours(page: Page, fn: Callable[..., dict[str, Any]]) -> Result:
    from spiders.htmltools import NotAnArticle

    try:
        row = fn(page.html, page.url)
    except NotAnArticle as exc:
        return Result(error=f"NotAnArticle: {exc}")
    except Exception as exc:  # the contract says never; the benchmark must still finish
        return Result(error=f"raised {type(exc).__name__}: {exc}")
    result = Result(title=row.get("title"), authors=list(row.get("authors") or []),
                    published=_as_datetime(row.get("published_at")), body=row.get("body") or "")
    if row.get("reject_reason"):
        # A refused page keeps its metadata; its body does not count as an article's.
        result.error = f"refused: {row['reject_reason']}"
        result.body = ""
    return result


def run_ours(page: Page) -> Result:
    from spiders.extract import extract

    return _ours(page, extract)


def run_generic(page: Page) -> Result:
    """The generic path alone, site parsers bypassed (to check that a site parser earns its
    place)."""
    from spiders.extract import generic_extract

    return _ours(page, generic_extract)


def run_trafilatura(page: Page) -> Result:
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(page.html, url=page.url or None, with_metadata=True)
    except Exception as exc:
        return Result(error=f"raised {type(exc).__name__}: {exc}")
    if doc is None:
        return Result(error="no result")
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    authors = [a.strip() for a in (data.get("author") or "").split(";") if a.strip()]
    return Result(title=data.get("title"), authors=authors,
                  published=_as_datetime(data.get("date")), body=data.get("text") or "")


EXTRACTORS: dict[str, Callable[[Page], Result]] = {
    "nightdesk": run_ours,
    "trafilatura": run_trafilatura,
    "generic": run_generic,
}
DEFAULT_EXTRACTORS = ("nightdesk", "trafilatura")


@dataclass
class PageScore:
    key: str
    precision: float | None  # None: the field is not scored on this page
    recall: float | None
    title: bool | None
    authors: bool | None  # every expected name found
    authors_exact: bool | None
    invented: bool | None
    day: bool | None
    date: bool | None  # to the minute
    error: str | None
    seconds: float
    result: Result
    page: Page | None = None

    @property
    def date_day(self) -> bool | None:  # the name earlier callers used
        return self.day

    @property
    def f1(self) -> float | None:
        if self.precision is None or self.recall is None:
            return None
        return 2 * self.precision * self.recall / ((self.precision + self.recall) or 1)


def score_page(page: Page, result: Result, seconds: float = 0.0) -> PageScore:
    s = page.scored
    p, r = body_pr(result.body, page.paragraphs) if "body" in s else (None, None)
    return PageScore(
        key=page.key, precision=p, recall=r,
        title=title_ok(result.title, page.title) if "title" in s else None,
        authors=authors_found(result.authors, page.authors) if "authors" in s else None,
        authors_exact=authors_ok(result.authors, page.authors) if "authors" in s else None,
        invented=bool(result.authors) if "invented" in s else None,
        day=date_ok(result.published, page.published, day_only=True, slack_days=page.day_slack,
                    truth_in_utc=page.day_in_utc) if "day" in s else None,
        date=date_ok(result.published, page.published) if "time" in s else None,
        error=result.error, seconds=seconds, result=result, page=page,
    )


@dataclass
class Scores:
    pages: int = 0
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    low_f1: int | None = None  # pages with body F1 < .5
    title: float | None = None
    authors: float | None = None
    authors_exact: float | None = None
    invented: float | None = None
    day: float | None = None
    date: float | None = None
    failed: int = 0
    pages_per_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # pages scored per field

    @property
    def date_day(self) -> float | None:
        return self.day


def _share(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(scores: list[PageScore]) -> Scores:
    n = len(scores)
    if not n:
        return Scores()
    bodies = [s for s in scores if s.precision is not None]
    out = Scores(pages=n, failed=sum(s.error is not None for s in scores))
    if bodies:
        p = sum(s.precision or 0.0 for s in bodies) / len(bodies)
        r = sum(s.recall or 0.0 for s in bodies) / len(bodies)
        out.precision, out.recall = p, r
        out.f1 = 2 * p * r / (p + r) if p + r else 0.0
        out.low_f1 = sum((s.f1 or 0.0) < 0.5 for s in bodies)
    for name in ("title", "authors", "authors_exact", "invented", "day", "date"):
        values = [getattr(s, name) for s in scores if getattr(s, name) is not None]
        setattr(out, name, _share(values))
        out.counts[name] = len(values)
    out.counts["body"] = len(bodies)
    seconds = sum(s.seconds for s in scores)
    out.pages_per_s = n / seconds if seconds else 0.0
    return out


def compared_pages(pages: list[Page]) -> list[Page]:
    """The pages a site parser does not handle (for comparisons of the generic path alone)."""
    from spiders.extract import site_for

    return [p for p in pages if site_for(p.url) is None]


def benchmark(pages: list[Page], names: Iterable[str] = DEFAULT_EXTRACTORS
              ) -> dict[str, list[PageScore]]:
    """Run every extractor over every page, alternating their order page by page (so machine
    drift hits all alike), timing the extraction calls only."""
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


# --- grouping and the table ----------------------------------------------------------------------

def language_group(page: Page) -> str:
    if page.lang in ("zh", "ja", "ko", "th", "lo", "km", "my"):
        return "lang:cjk+th"
    if page.lang in ("en", "de", "ru", "es", "fr"):
        return f"lang:{page.lang}"
    return "lang:other"


def groups(pages: list[Page]) -> dict[str, list[int]]:
    """Row groups (indexes into pages): each set, each language group, and all pages."""
    out: dict[str, list[int]] = {}
    for i, page in enumerate(pages):
        out.setdefault(page.set_name, []).append(i)
    for i, page in enumerate(pages):
        out.setdefault(language_group(page), []).append(i)
    out["ALL"] = list(range(len(pages)))
    return out


COLUMNS = (  # (header, Scores attribute, format)
    ("body F1", "f1", "{:.3f}"), ("P", "precision", "{:.3f}"), ("R", "recall", "{:.3f}"),
    ("F1<.5", "low_f1", "{:d}"), ("title", "title", "{:.3f}"), ("authors", "authors", "{:.3f}"),
    ("authors=", "authors_exact", "{:.3f}"), ("invented", "invented", "{:.3f}"),
    ("day", "day", "{:.3f}"), ("time", "date", "{:.3f}"), ("refused", "failed", "{:d}"),
    ("pages/s", "pages_per_s", "{:.1f}"),
)


def summarise(pages: list[Page], per_page: dict[str, list[PageScore]], halves: Iterable[str]
              ) -> dict[str, dict[str, dict[str, Scores]]]:
    """{group: {half: {extractor: Scores}}}."""
    out: dict[str, dict[str, dict[str, Scores]]] = {}
    for group, idx in groups(pages).items():
        out[group] = {}
        for half in halves:
            chosen = [i for i in idx if half == "all" or pages[i].half == half]
            out[group][half] = {name: aggregate([scores[i] for i in chosen])
                                for name, scores in per_page.items()}
    return out


def _cell(values: list[Scores], attr: str, fmt: str) -> str:
    parts = []
    for s in values:
        v = getattr(s, attr)
        parts.append("-" if v is None or not s.pages else fmt.format(v))
    return " / ".join(parts)


def format_table(summary: dict[str, dict[str, dict[str, Scores]]], halves: list[str]) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"extraction: {' / '.join(halves)} halves", box=box.SIMPLE_HEAD,
                  pad_edge=False, padding=(0, 1))
    table.add_column("set", no_wrap=True)
    table.add_column("extractor", no_wrap=True)
    table.add_column("pages", justify="right", no_wrap=True)
    for head, _, _ in COLUMNS:
        table.add_column(head, justify="right", no_wrap=True)
    for group, by_half in summary.items():
        names = list(next(iter(by_half.values())))
        for j, name in enumerate(names):
            values = [by_half[h][name] for h in halves]
            table.add_row(group if j == 0 else "", name, " / ".join(str(v.pages) for v in values),
                          *(_cell(values, attr, fmt) for _, attr, fmt in COLUMNS),
                          end_section=j == len(names) - 1)
    console = Console(width=400, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def summary_json(summary: dict[str, dict[str, dict[str, Scores]]]) -> dict[str, Any]:
    return {group: {half: {name: vars(s) for name, s in by_name.items()}
                    for half, by_name in by_half.items()} for group, by_half in summary.items()}


def _misses(scores: list[PageScore]) -> list[str]:
    lines = []
    for s in scores:
        page = s.page
        bits = []
        if s.f1 is not None and s.f1 < 0.8:
            bits.append(f"body P={s.precision:.2f} R={s.recall:.2f}")
        if s.title is False:
            bits.append(f"title={s.result.title!r} want {page.title!r}")
        if s.authors is False:
            bits.append(f"authors={s.result.authors} want {list(page.authors)}")
        if s.invented:
            bits.append(f"invented={s.result.authors}")
        if s.day is False:
            bits.append(f"day={s.result.published} want {page.published}")
        if s.error:
            bits.append(s.error)
        if bits:
            lines.append(f"  [{page.half}] {s.key}: " + "; ".join(bits))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, action="append",
                        help="a set directory (manifest.json or expected.jsonl; repeatable); "
                             "default: every set in ../shared/fixtures")
    parser.add_argument("--set", action="append", choices=SETS, dest="sets",
                        help="only these shared sets (repeatable)")
    parser.add_argument("--half", choices=("tune", "check", "all", "both"), default="both",
                        help="which half of the sites to score (default: tune and check side "
                             "by side)")
    parser.add_argument("--extractor", action="append", choices=tuple(EXTRACTORS),
                        help="extractors to run (repeatable; default: nightdesk, trafilatura)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--pages", action="store_true", help="also print each page's misses")
    args = parser.parse_args(argv)

    _pin_one_core()
    pages = load_pages(args.root) if args.root else load_all(args.sets or SETS)
    halves = list(HALVES) if args.half == "both" else [args.half]
    if args.half in HALVES:
        pages = [p for p in pages if p.half == args.half]
    per_page = benchmark(pages, args.extractor or DEFAULT_EXTRACTORS)
    summary = summarise(pages, per_page, halves)
    if args.json:
        print(json.dumps({"pages_total": len(pages), "halves": halves,
                          "groups": summary_json(summary)}, default=str))
        return 0
    print(format_table(summary, halves))
    if args.pages:
        for name, scores in per_page.items():
            print(f"\n{name}")
            print("\n".join(_misses(scores)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
