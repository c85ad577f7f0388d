"""Metadata rules of the generic extractor: title, publication date, authors.

Each test is one rule on a small page written here (no fixture text is copied into the repo); the
measured effect of the rules on the shared dev sets is in the issue note, not asserted here.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from spiders.generic import authors, dates, metadata
from spiders.generic.page import load


def _page(head: str = "", body: str = "", url: str = "https://news.example.org/2021/a-story"):
    return load(f"<html><head>{head}</head><body>{body}</body></html>", url)


# --- title ---------------------------------------------------------------------------------------

def test_title_prefers_the_only_headline_h1_over_an_seo_title():
    page = _page("<title>Seven Places to Find Hidden Treasure | Example News</title>",
                 "<h1>Seven Unexpected Places You Could Find Cash Around Your House</h1>"
                 "<p>Text.</p>")
    assert metadata.title(page) == "Seven Unexpected Places You Could Find Cash Around Your House"


def test_title_h1_without_site_suffix_when_the_title_tag_carries_one():
    page = _page("<title>Housing market slowdown continues this autumn | CBC News</title>",
                 "<h1>Housing market slowdown continues this autumn</h1>")
    assert metadata.title(page) == "Housing market slowdown continues this autumn"


@pytest.mark.parametrize("h1", ["POLITICO Logo", "Original text"])
def test_title_ignores_a_logo_or_label_h1(h1):
    page = _page("<title>Insiders: Trump will sink Pence in VP debate - POLITICO</title>",
                 f"<h1>{h1}</h1>", url="https://www.politico.com/story/2016/10/x")
    assert metadata.title(page) == "Insiders: Trump will sink Pence in VP debate"


def test_title_two_h1s_fall_back_to_the_title_tag():
    page = _page("<title>The real headline of this page</title>",
                 "<h1>Section name here today</h1><h1>Another block heading here</h1>")
    assert metadata.title(page) == "The real headline of this page"


def test_title_cjk_h1_counts_characters_not_spaces():
    page = _page("<title>セキュリティとAI進化の両立なるか - CNET Japan</title>",
                 "<h1>セキュリティとAI進化の両立なるか</h1>")
    assert metadata.title(page) == "セキュリティとAI進化の両立なるか"


def test_title_structured_headline_still_wins_over_h1():
    page = _page('<meta property="og:title" content="Social headline of the story | Example">'
                 '<meta property="og:site_name" content="Example">',
                 "<h1>The printed headline that differs from it</h1>")
    assert metadata.title(page) == "Social headline of the story"


def test_title_jsonld_name_when_the_headline_field_holds_a_description():
    ld = ('<script type="application/ld+json">{"@context": "https://schema.org", '
          '"@type": "Article", "name": "New Zealand", '
          '"headline": "constitutional monarchy in Oceania"}</script>')
    page = _page(f"<title>New Zealand - Wikipedia</title>{ld}", "<h1>New Zealand</h1>")
    assert metadata.title(page) == "New Zealand"


def test_title_keeps_a_leading_segment_that_is_part_of_the_title():
    page = _page('<meta property="og:title" content="Firefox — Customize and make it your own">'
                 '<meta property="og:site_name" content="Firefox">', "<h1>Make it yours</h1>")
    assert metadata.title(page) == "Firefox — Customize and make it your own"


# --- dates ---------------------------------------------------------------------------------------

def test_date_only_from_a_stated_source_here():
    # a date only in the visible text is htmldate's job, done once by the core's floor
    page = _page("", '<p class="date">Published on 3 March 2021</p><p>Body.</p>',
                 url="https://blog.example.org/a-story")
    assert dates.find(page, "published", None) == (None, None)


@pytest.mark.parametrize("tz, offset, where", [
    (None, timedelta(0), "htmldate+assumed_utc"),
    ("Asia/Tokyo", timedelta(hours=9), "htmldate+assumed_tz"),
])
def test_extract_takes_htmldate_day_where_the_page_states_none(tz, offset, where):
    from spiders.extract import generic_extract

    html = ("<html><head><title>A story without metadata at all</title></head><body>"
            "<h1>A story without metadata at all</h1>"
            '<div class="meta">Published on 3 March 2021</div>'
            + "<p>" + "Body text of the story that runs on for a while. " * 20 + "</p>"
            "</body></html>")
    row = generic_extract(html, "https://blog.example.org/a-story", timezone=tz)
    assert row["published_at_from"] == where
    assert row["published_at"].date() == date(2021, 3, 3)
    assert row["published_at"].utcoffset() == offset


def test_date_structured_value_keeps_its_offset():
    # a late-evening time with an offset must not become the next day (no UTC conversion)
    page = _page('<meta property="article:published_time" content="2020-02-17T21:18:11-05:00">',
                 "<p>Posted 1 January 2019</p>")
    value, where = dates.find(page, "published", None)
    assert where == "meta:article:published_time"
    assert value is not None and value.date() == date(2020, 2, 17)
    assert value.utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize("where", ["aside", "blockquote", "footer"])
def test_date_time_element_in_a_sidebar_or_embedded_post_is_not_the_articles(where):
    body = (f'<{where}><time datetime="2019-07-30">30 July 2019</time></{where}>'
            '<p>Body.</p><span class="date"><time datetime="2019-06-27">27 June</time></span>')
    value, found = dates.find(_page("", body, url="https://blog.example.org/a-story"),
                              "published", None)
    assert found == "time[datetime]+assumed_utc"
    assert value is not None and value.date() == date(2019, 6, 27)


def test_date_meta_written_with_value_instead_of_content():
    page = _page('<meta name="article:published_time" value="2017-06-21T19:50:00+00:00">')
    value, where = dates.find(page, "published")
    assert (value.isoformat(), where) == ("2017-06-21T19:50:00+00:00",
                                          "meta:article:published_time")


def test_date_none_when_nothing_on_the_page_is_a_date():
    page = _page("<title>About us</title>", "<p>We write about gardens.</p>",
                 url="https://blog.example.org/about")
    assert dates.find(page, "published", None) == (None, None)


# --- authors -------------------------------------------------------------------------------------

def test_authors_meta_written_with_value_instead_of_content():
    page = _page('<meta name="author" value="Mattias Geniar">')
    assert authors.authors(page) == ["Mattias Geniar"]


def test_authors_content_attribute_still_preferred():
    page = _page('<meta name="author" content="Jane Roe" value="Someone Else">')
    assert authors.authors(page) == ["Jane Roe"]


@pytest.mark.parametrize("attr", ["content", "value"])
def test_authors_copyright_holder_as_author_yields_to_a_named_person(attr):
    head = (f'<meta name="author" {attr}="Cond&#xE9; Nast">'
            f'<meta name="copyright" {attr}="Copyright (c) Cond&#xE9; Nast 2022">'
            f'<meta property="article:author" {attr}="Larry Fitzmaurice">')
    assert authors.authors(_page(head)) == ["Larry Fitzmaurice"]
    # the copyright holder alone is still the only credit the page gives
    alone = head.split("<meta property")[0]
    assert authors.authors(_page(alone)) == ["Condé Nast"]


def test_authors_site_name_given_as_value_is_not_an_author():
    page = _page('<meta value="Us Weekly" name="og:site_name">'
                 '<meta name="author" value="Us Weekly Staff">')
    assert authors.authors(page) == []


@pytest.mark.parametrize("raw, names", [
    ("By Emily Kirkpatrick Updated on December 12, 2016 09:22 AM", ["Emily Kirkpatrick"]),
    ("Joshua Sokol May 21, 2019", ["Joshua Sokol"]),
    ("By Theresa May", ["Theresa May"]),  # a month name without a day is a name
    ("Updated by Jane Doe", ["Jane Doe"]),
    ("By Jane Doe, Published 3 May 2020", ["Jane Doe"]),
])
def test_split_byline_cuts_a_date_or_update_stamp(raw, names):
    assert authors.split_byline(raw) == names


@pytest.mark.parametrize("raw", ["No Author", "By No Author", "Unknown Author", "Author",
                                 "undefined", "Staff"])
def test_split_byline_placeholders_name_nobody(raw):
    assert authors.split_byline(raw) == []


def test_authors_from_an_author_name_element():
    page = _page("", '<div class="detailBodyContainer withSidebar"><div class="bylineDetails">'
                     '<span class="authorText">Pete Evans</span> · CBC News · Posted: Oct 14'
                     "</div><p>Text.</p></div>")
    assert authors.authors(page) == ["Pete Evans"]


def test_authors_name_elements_take_co_authors_of_the_first_byline_only():
    page = _page("", '<div class="byline"><span><a class="author-name">Ann Lee</a></span>'
                     '<span><a class="author-name">Bob Stone</a></span></div>'
                     '<section class="more-stories"><div><span class="author-name">Carl Fox'
                     "</span></div></section>"
                     '<div class="footer-list"><p><span class="author-name">Dana Wu</span></p>'
                     "</div>")
    assert authors.authors(page) == ["Ann Lee", "Bob Stone"]


def test_authors_teaser_author_names_are_not_credits():
    page = _page("", '<aside class="related"><span class="author-name">Carl Fox</span></aside>'
                     "<p>An article with no byline.</p>")
    assert authors.authors(page) == []


def test_authors_brand_found_in_the_host_is_not_an_author():
    page = _page('<meta name="author" content="ScanNetSecurity">', "<p>Text.</p>",
                 url="https://scan.netsecurity.ne.jp/article/2019/03/05/1.html")
    assert authors.authors(page) == []


def test_authors_brand_kept_when_a_visible_byline_credits_it():
    page = _page('<meta name="author" content="Euronews">',
                 '<div class="byline">By Euronews with AFP</div>',
                 url="https://www.euronews.com/2024/04/30/a-story")
    assert authors.authors(page) == ["Euronews"]


def test_authors_visible_by_line_cut_at_its_date_stamp():
    page = _page("", '<div class="byline">By Joshua Sokol May 21, 2019</div><p>Text.</p>')
    assert authors.authors(page) == ["Joshua Sokol"]


# --- bench.metadata_fields -----------------------------------------------------------------------

def test_bench_metadata_fields_scores_our_functions_and_the_floor():
    from bench import extraction as bx
    from bench import metadata_fields as mf

    page = bx.Page(key="t/1", publisher="t", url="https://blog.example.org/a-story",
                   html="<html><head><title>A headline long enough here</title>"
                        '<meta name="author" content="Jane Roe">'
                        '<meta property="article:published_time" content="2021-03-03T09:00:00Z">'
                        "</head><body><h1>A headline long enough here</h1><p>Text.</p>"
                        "</body></html>",
                   title="A headline long enough here", authors=("Jane Roe",),
                   published="2021-03-03", paragraphs=(), set_name="t",
                   scored=frozenset({"title", "authors", "day"}))
    ours = mf.run_metadata(page)
    score = bx.score_page(page, ours)
    assert (score.title, score.authors, score.day) == (True, True, True)
    theirs = bx.Result(title="Other", authors=["Someone Else"], published=date(2020, 1, 1))
    assert mf.floor(bx.Result(), theirs).authors == ["Someone Else"]
    assert mf.floor(ours, theirs).authors == ["Jane Roe"]
