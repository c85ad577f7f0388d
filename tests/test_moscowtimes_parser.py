"""The Moscow Times parser, on pages served by the replica over HTTP: the seed article exactly,
every replica article's body, and no boilerplate in any body."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spiders.htmltools import NotAnArticle
from spiders.sites import moscowtimes

SEED_URL = ("https://www.themoscowtimes.com/2022/01/31/"
            "putin-macron-discuss-ukraine-russian-security-guarantees-kremlin-a76213")
RELATED = ("https://www.themoscowtimes.com/2025/10/30/"
           "frances-macron-calls-for-eu-russia-security-pact-in-break-with-us-calls-for-unity")


def fetch(replica, url: str) -> str:
    host, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3]
    req = urllib.request.Request(f"http://127.0.0.1:{replica.port}{path}", headers={"Host": host})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read().decode("utf-8")


def seed_paragraphs(seed_path: Path) -> list[str]:
    """The seed's body paragraphs, read independently of the replica's own seed reader: the
    blocks between the caption line and 'Original url:', lines joined, related card dropped."""
    blocks = seed_path.read_text(encoding="utf-8").split("\n\n")
    start = next(i for i, b in enumerate(blocks) if "/ TASS" in b) + 1
    body = []
    for block in blocks[start:]:
        kept = []
        for line in block.split("\n"):
            if line.startswith((" Related article:", "Original url:")):
                break
            kept.append(line)
        if kept:
            body.append(" ".join(kept))
        if "Original url:" in block:
            return body
    return body


def test_seed_article_every_field(replica, seed_path):
    row = moscowtimes.parse(fetch(replica, SEED_URL), SEED_URL)
    assert row["url"] == SEED_URL
    assert row["site_id"] == "76213"
    assert row["title"] == "Putin, Macron Discuss Ukraine, Russian 'Security Guarantees' — Kremlin"
    assert row["authors"] == ["AFP"]
    assert row["published_at"].astimezone(UTC) == datetime(2022, 1, 31, 15, 42, tzinfo=UTC)
    assert row["published_at_from"] == "meta:article:published_time"
    assert row["image_caption"] == "French president Emmanuel Macron."
    assert row["image_credits"] == "Olivier Hoslet / Pool / EPA / TASS"
    assert RELATED in row["related_urls"]
    paragraphs = row["body"].split("\n\n")
    assert paragraphs == seed_paragraphs(seed_path)
    assert len(paragraphs) == 7
    assert paragraphs[0].startswith("Russian President Vladimir Putin")
    assert paragraphs[-1] == ("The Kremlin added that Putin and Macron discussed the possibility "
                              "of a face-to-face meeting.")
    assert any("\"panic'" in p for p in paragraphs)  # the seed's odd quote, unrepaired
    assert all("\n" not in p and "  " not in p for p in paragraphs)
    assert "Related article" not in row["body"]


def _articles(seed_path, now=None):
    """The replica's articles as its pages show them at the replica's clock."""
    from replica.content import as_of, load_articles
    from replica.server import DEFAULT_NOW

    return [as_of(a, now or DEFAULT_NOW) for a in load_articles(seed_path=seed_path)]


def test_every_replica_article_parses_to_its_content(replica, seed_path):
    articles = _articles(seed_path)
    assert len(articles) >= 41
    for art in articles:
        row = moscowtimes.parse(fetch(replica, art.canonical_url), art.canonical_url)
        assert row["url"] == art.canonical_url
        assert row["title"] == art.title, art.id
        assert row["subtitle"] == art.subtitle, art.id
        assert row["authors"] == [a.name for a in art.authors], art.id
        assert row["published_at"] == art.published, art.id
        assert row["modified_at"] == art.modified, art.id
        assert row["body"] == "\n\n".join(art.body_paragraphs), art.id
        assert row["section"] == art.section
        assert row["tags"] == list(art.tags)


# Everything on an article page that is not the article's own prose.
NOT_BODY = (".contribute-banner", ".article__tags", ".banner", ".article__disclaimer",
            ".article__block--link", ".article__block--aside", ".article__block--image",
            ".article__block--embed", ".social", "aside.sidebar", "section.cluster",
            "figure.article__featured-image", "header.header", "footer")


def test_boilerplate_never_reaches_a_body(replica, seed_path):
    import lxml.html

    seen = set()
    for art in _articles(seed_path):
        html = fetch(replica, art.canonical_url)
        body = moscowtimes.parse(html, art.canonical_url)["body"]
        doc = lxml.html.document_fromstring(html)
        for css in NOT_BODY:
            for el in doc.cssselect(css):
                seen.add(css)
                whole = " ".join(el.text_content().split())
                assert len(whole) < 25 or whole not in body, (art.id, css, whole)
                for piece in el.itertext():  # sentences, card titles, captions
                    piece = " ".join(piece.split())
                    if len(piece) >= 40:
                        assert piece not in body, (art.id, css, piece)
    # banner, tags, ad, disclaimer and related cards were all present somewhere and checked
    assert {".contribute-banner", ".article__tags", ".banner", ".article__disclaimer",
            ".article__block--link"} <= seen


def test_opinion_page_has_disclaimer_that_parser_drops(replica, seed_path):
    opinion = [a for a in _articles(seed_path) if a.section == "opinion"]
    assert opinion, "the replica needs an opinion piece"
    html = fetch(replica, opinion[0].canonical_url)
    assert "article__disclaimer" in html
    assert "do not necessarily reflect" not in moscowtimes.parse(html, opinion[0].canonical_url)[
        "body"]


def test_updated_article_takes_publication_time_from_meta(replica, seed_path):
    updated = [a for a in _articles(seed_path) if a.updated]
    assert updated, "the replica needs an Updated: article"
    art = updated[0]
    html = fetch(replica, art.canonical_url)
    assert "Updated:" in html
    row = moscowtimes.parse(html, art.canonical_url)
    assert row["published_at"] == art.published
    assert row["modified_at"] == art.modified > art.published


@pytest.mark.parametrize("html", ["", "<html><body><p>Hello</p></body></html>",
                                  "\x00\x01 garbage bytes", "<html><article class='article'>"
                                  "<header class='article__header'><h1>T</h1></header></article>"])
def test_pages_that_do_not_match_raise_not_an_article(html):
    with pytest.raises(NotAnArticle):
        moscowtimes.parse(html, SEED_URL)


def test_site_id_and_url_date():
    assert moscowtimes.site_id(SEED_URL) == "76213"
    assert moscowtimes.site_id("https://www.themoscowtimes.com/news") is None
    assert moscowtimes.site_id("https://example.com/2022/01/31/x-a1") is None
    assert str(moscowtimes.url_date(SEED_URL)) == "2022-01-31"
