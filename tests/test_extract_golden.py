"""spiders.extract.extract() on every saved fundus page (../shared/fixtures/fundus_en and
fundus_ru, read where they lie): aggregate floors per field over all pages, so a regression
anywhere fails, and exact field matches for the pages a site parser handles.

The floors sit a little under what the extractor achieves (bench/extraction.py prints the same
figures, with trafilatura beside them). Scoring is bench.extraction's: body F1 over token
4-gram shingles, title exact after whitespace normalisation, authors as a set (case-folded),
publication time to the minute.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from bench.extraction import Page, PageScore, default_roots, load_pages, run_ours, score_page
from spiders.extract import extract, site_for

# What the suite enforces over all 86 pages; each comment gives what was achieved when set.
FLOORS = {
    "body_f1": 0.970,  # achieved 0.979
    "title": 0.82,  # achieved 0.837
    "authors": 0.92,  # achieved 0.941 (pages whose truth names someone)
    "date": 0.97,  # achieved 0.988
}
MAX_INVENTED = 0.0  # pages whose truth has no author: we must not name one


@pytest.fixture(scope="module")
def pages() -> list[Page]:
    roots = default_roots()
    missing = [r for r in roots if not (r / "manifest.json").exists()]
    if missing:
        pytest.fail(f"the fundus golden pages are required and missing: {missing} "
                    "(set NIGHTDESK_SHARED)")
    found = load_pages(roots)
    assert len(found) >= 86
    return found


@pytest.fixture(scope="module")
def scores(pages) -> list[PageScore]:
    return [score_page(page, run_ours(page)) for page in pages]


def _share(values: list[bool]) -> float:
    return sum(values) / len(values)


def test_every_page_is_an_article(scores):
    assert [s.key for s in scores if s.error] == []


def test_body_f1_floor(scores):
    p = sum(s.precision for s in scores) / len(scores)
    r = sum(s.recall for s in scores) / len(scores)
    f1 = 2 * p * r / (p + r)
    assert f1 >= FLOORS["body_f1"], (f"body F1 {f1:.3f} (P {p:.3f} R {r:.3f})", sorted(
        (round(2 * s.precision * s.recall / ((s.precision + s.recall) or 1), 2), s.key)
        for s in scores)[:8])


def test_title_floor(scores):
    got = _share([s.title for s in scores])
    assert got >= FLOORS["title"], (got, [(s.key, s.result.title) for s in scores
                                          if not s.title])


def test_authors_floor_and_no_invented_authors(scores):
    credited = [s.authors for s in scores if s.authors is not None]
    got = _share(credited)
    assert got >= FLOORS["authors"], (got, [(s.key, s.result.authors) for s in scores
                                            if s.authors is False])
    uncredited = [s.invented for s in scores if s.invented is not None]
    assert not uncredited or _share(uncredited) <= MAX_INVENTED, [(s.key, s.result.authors) for s in scores
                                                if s.invented]


def test_publication_date_floor(scores):
    got = _share([s.date for s in scores])
    assert got >= FLOORS["date"], (got, [(s.key, s.result.published) for s in scores
                                         if not s.date])


def test_dates_carry_an_offset_and_a_provenance(pages):
    for page in pages:
        row = extract(page.html, page.url)
        assert isinstance(row["published_at"], datetime), page.key
        assert row["published_at"].tzinfo is not None, page.key
        assert row["published_at_from"], page.key
        assert all(p.strip() and "\n" not in p for p in row["body"].split("\n\n")), page.key


def test_cyrillic_pages(scores):
    ru = [s for s in scores if s.key.startswith(("ru/", "ua/"))]
    assert len(ru) == 2
    assert all(s.title and s.authors and s.date for s in ru)
    assert all(s.precision > 0.9 and s.recall > 0.9 for s in ru)


# --- exact matches where a site parser is in charge ----------------------------------------------

def test_site_parser_pages_match_exactly(pages):
    handled = [p for p in pages if site_for(p.url) is not None]
    assert [p.key for p in handled] == ["uk/TheGuardian_2024_02_24"]
    for page in handled:
        row = extract(page.html, page.url)
        assert row["title"] == page.title
        assert row["authors"] == list(page.authors)
        assert row["published_at"] == datetime.fromisoformat(page.published)
        # fundus gives the standfirst as the body's summary: here it is the subtitle, and the
        # body is the article's own paragraphs (the Moscow Times parser's convention).
        assert row["subtitle"] == page.paragraphs[0]
        assert row["body"].split("\n\n") == list(page.paragraphs[1:])
        assert row["site_id"] == ("world/2024/feb/24/death-toll-in-valencia-fire-rises-to-10-"
                                  "as-remains-of-last-missing-person-found")
        assert row["url"] == page.url
        assert row["section"] == "World news"
        assert row["tags"] == ["Spain", "Europe", "World news"]
        assert row["image_caption"] == ("The gutted remains of the two buildings, which had "
                                        "about 140 apartments.")
        assert row["image_credits"] == "Eva Manez/Reuters"
