"""The extractor's rules on small hand-built pages: author normalisation, time zones, JSON-LD
@graph, canonical URLs, the body, and NotAnArticle for pages that are not articles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from spiders.extract import SITE_PARSERS, extract, generic_extract, site_for
from spiders.generic.authors import split_byline
from spiders.generic.dates import parse_datetime
from spiders.htmltools import NotAnArticle
from spiders.sites import moscowtimes

URL = "https://news.example.com/2024/03/10/council-votes-on-budget"
KEYS = {"site_id", "url", "title", "subtitle", "authors", "published_at", "published_at_from",
        "modified_at", "modified_at_from", "section", "tags", "language", "description", "body",
        "image_url", "image_caption", "image_credits", "related_urls", "title_from", "authors_from",
        "body_from", "reject_reason"}

SENTENCES = [
    "The city council voted on Tuesday to approve a revised budget after weeks of debate.",
    "Members said the plan would fund road repairs, libraries and two new health clinics.",
    "Opponents argued that the spending was too high for a city still recovering from floods.",
    "The mayor said the budget balanced the needs of residents with the limits of the treasury.",
    "A final reading is expected next month, when the council will also set property tax rates.",
    "Local business groups welcomed the decision but asked for more detail on the timetable.",
]
# Twelve distinct paragraphs: enough running text for an article.
PARAS = SENTENCES + [s[:-1] + ", officials said later in the week." for s in SENTENCES]


def article_html(*, head: str = "", byline: str = "", paragraphs: list[str] | None = None,
                 title: str = "Council approves revised budget after long debate",
                 ld: object | None = None, lang: str = "en") -> str:
    paras = paragraphs if paragraphs is not None else PARAS
    ld_block = (f'<script type="application/ld+json">{json.dumps(ld)}</script>'
                if ld is not None else "")
    body = "".join(f"<p>{p}</p>" for p in paras)
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f"<title>{title} | Example News</title>"
            f'<meta property="og:site_name" content="Example News">{head}{ld_block}</head>'
            f'<body><nav><a href="/">Home</a> <a href="/world">World</a></nav>'
            f"<article><h1>{title}</h1>{byline}<div class='article-body'>{body}</div></article>"
            f"<footer>Example News 2024</footer></body></html>")


def news_ld(**fields: object) -> dict:
    return {"@context": "https://schema.org", "@type": "NewsArticle",
            "headline": "Council approves revised budget after long debate", **fields}


# --- authors -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "names"), [
    ("By Jane Doe and John Roe", ["Jane Doe", "John Roe"]),
    ("Jane Doe, Reuters", ["Jane Doe", "Reuters"]),
    ("Jane Doe, Staff Writer", ["Jane Doe"]),
    ("John Smith, Correspondent", ["John Smith"]),
    ("By JANE DOE, SENIOR POLITICAL CORRESPONDENT", ["Jane Doe"]),
    ("Steffan Rhys Deputy Content Hub Director", ["Steffan Rhys"]),
    ("Updated by Jane Doe", ["Jane Doe"]),
    ("Written by: Jane Doe", ["Jane Doe"]),
    ("Jane Doe and John Roe; Photographs by Ann Lee", ["Jane Doe", "John Roe"]),
    ("Photo: John Smith", []),
    ("Jane Doe (Image: Getty Images)", ["Jane Doe"]),
    ("Staff", []),
    ("Staff reports", []),
    ("By Staff Reports", []),
    ("Kate Dore, CFP®", ["Kate Dore"]),
    ("STEVE PEOPLES", ["Steve Peoples"]),
    ("chuck-ross", []),  # a CMS slug, not a credit
    ("https://www.facebook.com/somepage", []),
    ("Андрей Колесников", ["Андрей Колесников"]),
    ("A, B, C and D Smith", ["A", "B", "C", "D Smith"]),
])
def test_split_byline(raw, names):
    assert split_byline(raw) == names


def test_one_of_several_structured_names_is_not_split():
    assert split_byline("Marks and Spencer", whole=True) == ["Marks and Spencer"]


def test_jsonld_single_string_byline_is_split():
    html = article_html(ld=news_ld(author="Samya Kullab and Vasilisa Stepanenko"))
    assert generic_extract(html, URL)["authors"] == ["Samya Kullab", "Vasilisa Stepanenko"]


def test_publisher_as_author_is_dropped_without_a_byline():
    # A house default: the publisher in the author field, nobody credited on the page.
    html = article_html(ld=news_ld(author={"@type": "Organization", "name": "Example News"},
                                   publisher={"@type": "Organization", "name": "Example News"}))
    assert generic_extract(html, URL)["authors"] == []


def test_publisher_credited_in_a_visible_byline_is_kept():
    html = article_html(ld=news_ld(author={"@type": "Person", "name": "Example News"}),
                        byline='<div class="byline">By Example News with agencies</div>')
    assert generic_extract(html, URL)["authors"] == ["Example News"]


def test_agency_author_that_is_not_the_publisher_is_kept():
    html = article_html(ld=news_ld(author=[{"@type": "Person", "name": "Jane Doe"},
                                           {"@type": "Organization", "name": "Reuters"}]),
                        byline='<div class="byline">By Jane Doe and Reuters</div>')
    assert generic_extract(html, URL)["authors"] == ["Jane Doe", "Reuters"]


def test_meta_authors_and_inverted_dublin_core_names():
    html = article_html(head='<meta name="dc.creator" content="Brazil, Rachel">'
                             '<meta name="dc.creator" content="You, Xiaoying">'
                             '<meta property="og:type" content="article">')
    assert generic_extract(html, URL)["authors"] == ["Rachel Brazil", "Xiaoying You"]


def test_no_author_rather_than_a_guess():
    # A lone CMS account name in microdata and image credits are not bylines.
    html = article_html(
        head='<meta property="og:type" content="article">',
        byline='<span itemprop="author" itemscope><meta itemprop="name" content="eddie"></span>'
               '<meta itemprop="author" content="(Image: Getty Images)">')
    assert generic_extract(html, URL)["authors"] == []


def test_byline_lists_more_authors_than_jsonld():
    # JSON-LD names only the first author; the byline links every one, in order.
    html = article_html(
        ld=news_ld(author={"@type": "Person", "name": "Anna Petrova"}),
        byline='<div class="article__byline">By <a href="/author/anna-petrova">Anna Petrova</a>'
               ' and <a href="/author/ivan-ivanov">Ivan Ivanov</a></div>')
    assert generic_extract(html, URL)["authors"] == ["Anna Petrova", "Ivan Ivanov"]


@pytest.mark.parametrize(("raw", "names"), [
    ("著者 山田花子 イラスト 佐藤一郎", ["山田花子"]),  # author label, then an illustrator
    ("文● 鈴木／ニュース編集部", ["鈴木"]),  # text by ..., then the editorial department
    ("John Doe　著、田中 次郎　監訳、木村 三郎　訳", ["John Doe"]),  # name, then its role
    ("作者：王小明", ["王小明"]),
    ("文/李华", ["李华"]),
    ("写真：高橋", []),  # a photo credit only
    ("山田花子", ["山田花子"]),  # no label: as given
])
def test_split_byline_cjk_role_labels(raw, names):
    assert split_byline(raw) == names
    assert split_byline(raw, whole=True) == names


# --- dates and time zones ----------------------------------------------------------------------

def dated(value: str, where: str = "ld") -> str:
    if where == "ld":
        return article_html(ld=news_ld(datePublished=value))
    return article_html(head=f'<meta property="article:published_time" content="{value}">'
                             '<meta property="og:type" content="article">')


def test_offset_is_kept_as_the_page_gives_it():
    row = generic_extract(dated("2024-03-10T14:05:00+05:30"), URL, timezone="Europe/London")
    assert row["published_at"] == datetime(2024, 3, 10, 8, 35, tzinfo=UTC)
    assert row["published_at"].utcoffset() == timedelta(hours=5, minutes=30)
    assert row["published_at_from"] == "jsonld:datePublished"


def test_naive_time_is_resolved_in_the_given_zone():
    row = generic_extract(dated("2024-07-01T12:00:00"), URL, timezone="America/New_York")
    assert row["published_at"] == datetime(2024, 7, 1, 16, 0, tzinfo=UTC)  # EDT, -04:00
    assert row["published_at"].utcoffset() == timedelta(hours=-4)
    assert row["published_at_from"] == "jsonld:datePublished+assumed_tz"
    winter = generic_extract(dated("2024-01-15T12:00:00"), URL, timezone="America/New_York")
    assert winter["published_at"].utcoffset() == timedelta(hours=-5)  # EST


def test_naive_time_without_a_zone_is_read_as_utc_and_says_so():
    row = generic_extract(dated("2024-07-01T12:00:00", "meta"), URL)
    assert row["published_at"] == datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    assert row["published_at_from"] == "meta:article:published_time+assumed_utc"


def test_unknown_zone_name_falls_back_to_utc():
    row = generic_extract(dated("2024-07-01T12:00:00"), URL, timezone="Mars/Olympus")
    assert row["published_at"] == datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    assert row["published_at_from"].endswith("+assumed_utc")


def test_bare_date_gives_way_to_a_full_time_on_that_day():
    html = article_html(head='<meta name="dc.date" content="2024-03-10">'
                             '<meta name="parsely-pub-date" content="2024-03-10T09:15:00Z">'
                             '<meta property="og:type" content="article">')
    row = generic_extract(html, URL)
    assert row["published_at"] == datetime(2024, 3, 10, 9, 15, tzinfo=UTC)
    assert row["published_at_from"] == "meta:parsely-pub-date"


def test_time_element_and_url_date_are_the_last_resort():
    html = article_html(head='<meta property="og:type" content="article">',
                        byline='<time datetime="2024-03-10T08:00:00+01:00">10 March</time>')
    row = generic_extract(html, URL)
    assert row["published_at_from"] == "time[datetime]"
    assert row["published_at"] == datetime(2024, 3, 10, 7, 0, tzinfo=UTC)
    bare = generic_extract(article_html(head='<meta property="og:type" content="article">'),
                           URL, timezone="Europe/Berlin")
    assert bare["published_at_from"] == "url+assumed_tz"
    assert bare["published_at"] == datetime(2024, 3, 10, tzinfo=timezone(timedelta(hours=1)))


def test_utc_stamp_is_shown_in_the_site_zone():
    # The same instant, as the site's clock shows it: the country-code domain's zone when all
    # of the country's zones agree on the day, else the caller's zone; the stamp's own 'Z'
    # otherwise.
    html = dated("2020-08-25T00:23:33Z")
    row = generic_extract(html, "https://nouvelles.example.ca/article/transport-scolaire")
    assert row["published_at"] == datetime(2020, 8, 25, 0, 23, 33, tzinfo=UTC)
    assert row["published_at"].date().isoformat() == "2020-08-24"  # every Canadian zone
    assert row["published_at_from"] == "jsonld:datePublished+site_tz"
    dotcom = generic_extract(html, "https://news.example.com/transport")
    assert dotcom["published_at"].utcoffset() == timedelta(0)
    assert dotcom["published_at_from"] == "jsonld:datePublished"
    given = generic_extract(html, "https://news.example.com/transport",
                            timezone="America/Toronto")
    assert given["published_at"].utcoffset() == timedelta(hours=-4)
    # Russia's zones do not agree on the day of 21:00 UTC: the stamp stays as it is.
    late = generic_extract(dated("2020-08-24T21:00:00Z"), "https://news.example.ru/a/1")
    assert late["published_at"].utcoffset() == timedelta(0)
    # A country-code domain sold as a generic name (.io, .tv ...) names no country.
    assert generic_extract(html, "https://news.example.io/a")["published_at"].utcoffset() == \
        timedelta(0)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2026-06-05T17:20:55+0000", datetime(2026, 6, 5, 17, 20, 55, tzinfo=UTC)),
    ("2024-04-30 16:38:37 +02:00", datetime(2024, 4, 30, 14, 38, 37, tzinfo=UTC)),
    ("2024-08-08T08:00Z", datetime(2024, 8, 8, 8, 0, tzinfo=UTC)),
    ("2020-12-05T23:15:0Z", datetime(2020, 12, 5, 23, 15, tzinfo=UTC)),  # one-digit seconds
    ("1750680000000", datetime(2025, 6, 23, 12, 0, tzinfo=UTC)),  # epoch milliseconds
    ("next Tuesday", None),
    ("1970-01-01T00:00:00Z", None),
])
def test_parse_datetime_forms(raw, expected):
    value, naive = parse_datetime(raw)
    assert value == expected
    assert not naive


# --- JSON-LD -----------------------------------------------------------------------------------

def test_jsonld_graph_with_id_references_and_type_arrays():
    graph = {"@context": "https://schema.org", "@graph": [
        {"@type": "WebSite", "@id": "https://news.example.com/#website", "name": "Example News"},
        {"@type": "Organization", "@id": "https://news.example.com/#org", "name": "Example News"},
        {"@type": "Person", "@id": "https://news.example.com/#/person/1", "name": "Jane Doe"},
        {"@type": "WebPage", "@id": URL, "datePublished": "2020-01-01T00:00:00Z"},
        {"@type": ["NewsArticle", "Article"], "@id": URL + "#article",
         "headline": "Council approves revised budget after long debate",
         "author": {"@id": "https://news.example.com/#/person/1"},
         "publisher": {"@id": "https://news.example.com/#org"},
         "datePublished": "2024-03-10T09:00:00+01:00",
         "dateModified": "2024-03-10T11:30:00+01:00",
         "articleSection": ["Politics", "Local"], "keywords": ["budget", "council"],
         "inLanguage": "en-GB", "mainEntityOfPage": {"@id": URL}},
    ]}
    row = generic_extract(article_html(ld=graph), URL)
    assert row["title"] == "Council approves revised budget after long debate"
    assert row["authors"] == ["Jane Doe"]
    assert row["published_at"] == datetime(2024, 3, 10, 8, 0, tzinfo=UTC)
    assert row["published_at_from"] == "jsonld:datePublished"
    assert row["modified_at_from"] == "jsonld:dateModified"
    assert row["section"] == "Politics"
    assert row["tags"] == ["budget", "council"]


def test_broken_jsonld_is_skipped_and_entities_are_decoded():
    html = article_html(
        head='<script type="application/ld+json">{"@type": "NewsArticle",,, </script>'
             '<meta property="og:type" content="article">'
             '<meta property="og:title" content="Council&#8217;s budget passes | Example News">')
    html = html.replace("<h1>", "<h1 hidden>")
    row = generic_extract(html, URL)
    assert row["title"] == "Council’s budget passes"


@pytest.mark.parametrize("open_, close", [("<![CDATA[", "]]>"), ("//<![CDATA[", "//]]>")])
def test_jsonld_in_a_cdata_wrapper_is_read(open_, close):
    data = {"@type": "NewsArticle", "headline": "Council budget passes",
            "datePublished": "2024-03-10T09:30:00+01:00"}
    html = article_html(head=f'<script type="application/ld+json">\n  {open_}\n'
                             f'  {json.dumps(data)}\n  {close}\n</script>')
    row = generic_extract(html, URL)
    assert row["published_at_from"] == "jsonld:datePublished"
    assert row["published_at"] == datetime(2024, 3, 10, 9, 30, tzinfo=timezone(timedelta(hours=1)))


def test_articlebody_with_paragraphs_is_the_body_when_complete():
    text = "\n\n".join(PARAS)
    html = article_html(ld=news_ld(articleBody=text), paragraphs=PARAS[:4])
    assert generic_extract(html, URL)["body"].split("\n\n") == PARAS


# --- the record --------------------------------------------------------------------------------

def test_record_shape_and_body_layout():
    row = generic_extract(article_html(ld=news_ld()), URL)
    assert set(row) == KEYS
    assert row["site_id"] is None
    paragraphs = row["body"].split("\n\n")
    assert paragraphs == PARAS
    assert all(p and "\n" not in p and "  " not in p for p in paragraphs)
    assert row["language"] == "en"


def test_canonical_url_only_when_on_the_same_site():
    same = article_html(ld=news_ld(), head=f'<link rel="canonical" href="{URL}?amp=0">')
    assert generic_extract(same, URL + "?utm_source=x")["url"] == URL + "?amp=0"
    other = article_html(ld=news_ld(),
                         head='<link rel="canonical" href="https://aggregator.example.org/x">')
    assert generic_extract(other, URL)["url"] == URL


def test_boilerplate_paragraphs_are_dropped():
    junk = ["Sign up for our daily newsletter to get the best stories in your inbox.",
            "Advertisement", "Photo: Jane Doe/Reuters", "Share this article"]
    html = article_html(ld=news_ld(), paragraphs=[*PARAS[:6], *junk, *PARAS[6:]])
    body = generic_extract(html, URL)["body"]
    assert all(j not in body for j in junk)
    assert body.split("\n\n") == PARAS


def test_a_box_with_a_close_button_is_an_overlay():
    prompt = ('<div class="update-tip"><strong>Browser update</strong><span>Log in without a '
              'code and load pages five times faster</span><a href="/get">Update now</a>'
              '<em action-type="close">×</em></div>')
    sheet = ('<div class="bsBox"><div class="bsClose">X</div><div>Choose another platform '
             '&gt;&gt;</div><span>Share to</span></div>')
    html = article_html(ld=news_ld()).replace("<div class='article-body'>",
                                             f"<div class='article-body'>{prompt}").replace(
        f"<p>{PARAS[5]}</p>", f"<p>{PARAS[5]}</p>{sheet}")
    body = generic_extract(html, URL)["body"]
    assert body.split("\n\n") == PARAS
    # An X that closes nothing (no 'close' in its attributes), or a close button on a big
    # block (a modal holding the article), removes nothing.
    import lxml.html

    from spiders.generic.body import drop_overlays

    doc = lxml.html.fromstring('<div><div id="a"><span>X</span> Vote: X or Y</div>'
                               f'<div id="b"><b class="close">×</b>{" ".join(PARAS)}</div></div>')
    drop_overlays(doc)
    assert doc.xpath('//*[@id="a"]') and doc.xpath('//*[@id="b"]')


@pytest.mark.parametrize("stamp", ["08.04.2015 12:46", "2017-03-10 09:58 Source: Example Wire",
                                   "2017-03-10 09:58 来源：示例通讯社"])
def test_a_date_stamp_line_is_not_body(stamp):
    html = article_html(ld=news_ld(), paragraphs=[stamp, *PARAS])
    assert generic_extract(html, URL)["body"].split("\n\n") == PARAS


def test_a_dated_byline_line_stays():
    from spiders.generic.boilerplate import is_boilerplate_text

    assert not is_boilerplate_text("2/26/2015 7:11 AM PST BY TMZ STAFF")
    assert not is_boilerplate_text("2017-03-10 09:58 the council met again to vote on it")


def test_true_text_is_kept_embeds_closing_lines_and_shown_code():
    closing = "© 2024 The Associated Press. All rights reserved."
    tweet = ('<blockquote class="twitter-tweet"><p>The council has voted to approve the revised '
             "budget after weeks of debate, the mayor said on Tuesday evening.</p></blockquote>")
    html = article_html(ld=news_ld(), paragraphs=[*PARAS, closing]).replace(
        f"<p>{PARAS[3]}</p>", f"<p>{PARAS[3]}</p>{tweet}")
    body = generic_extract(html, URL)["body"].split("\n\n")
    assert body[-1] == closing
    assert any(p.startswith("The council has voted to approve") for p in body)


def test_a_paragraph_the_article_repeats_is_kept():
    refrain = "We will not stop until every street in this city is safe again, the mayor said."
    paragraphs = [*PARAS[:4], refrain, *PARAS[4:8], refrain, *PARAS[8:]]
    body = generic_extract(article_html(ld=news_ld(), paragraphs=paragraphs), URL)["body"]
    assert body.split("\n\n") == paragraphs


def test_section_h1s_and_an_introduced_short_list_stay_in_the_body():
    # Several <h1>s: the ones after the headline are section headings of the text, and a list
    # of short items that a paragraph introduces with a colon is the text's own list.
    intro = "The new budget has two advantages that the council members stressed on Tuesday:"
    html = article_html(ld=news_ld(), paragraphs=PARAS[:4]).replace(
        "</div></article>",
        f"<h1>Why the vote matters for residents</h1><p>{PARAS[6]}</p><p>{PARAS[7]}</p>"
        f"<p>{intro}</p><ul><li>it funds road repairs</li><li>it keeps taxes flat</li></ul>"
        f"<p>{PARAS[8]}</p><p>{PARAS[9]}</p></div></article>")
    body = generic_extract(html, URL)["body"].split("\n\n")
    assert "Why the vote matters for residents" in body
    assert "it funds road repairs" in body and "it keeps taxes flat" in body
    assert "Council approves revised budget after long debate" not in body


def test_dispatch_by_host():
    assert site_for("https://www.theguardian.com/world/2024/feb/24/x") is None
    assert site_for("https://www.themoscowtimes.com/2022/01/31/x-a1") is moscowtimes
    assert site_for(URL) is None
    assert all(hasattr(s, attr) for s in SITE_PARSERS
               for attr in ("NAME", "HOSTS", "ALLOWED_DOMAINS", "TIMEZONE", "site_id", "parse"))
    assert extract(article_html(ld=news_ld()), URL, timezone="UTC")["site_id"] is None


# --- not articles ------------------------------------------------------------------------------

def _front(og_type: str = "website", ld: object | None = None) -> str:
    cards = "".join(
        f'<li><a href="/2024/03/{i:02d}/story-{i}">Council story number {i} about the city '
        f"budget and what it means</a></li>" for i in range(1, 30))
    ld_block = (f'<script type="application/ld+json">{json.dumps(ld)}</script>'
                if ld is not None else "")
    return (f'<html lang="en"><head><title>World | Example News</title>'
            f'<meta property="og:type" content="{og_type}">{ld_block}</head>'
            f'<body><h1>World</h1><ul class="teasers">{cards}</ul></body></html>')


@pytest.mark.parametrize(("html", "reason"), [
    ("", "empty"),
    ("   ", "empty"),
    ("\x00\x01 garbage bytes", "no body"),
    (_front(), "listing page"),
    (_front(og_type="", ld={"@type": "CollectionPage", "name": "World"}), "CollectionPage page"),
    ('<html><head><title>Watch: the council vote</title><meta property="og:type" '
     'content="video.other"></head><body><h1>Watch: the council vote</h1><video src="v.mp4">'
     "</video><p>Watch the vote.</p></body></html>", "no body"),
    ('<html><head><title>Before you continue</title></head><body><form class="consent">'
     "<button>Accept all cookies</button><button>Reject all</button></form></body></html>",
     "no body"),
    ('<html><head><title>Just a moment...</title></head><body><p>Checking your browser '
     "before accessing the site. Please enable JavaScript and cookies.</p></body></html>",
     "block or consent"),
    (article_html(ld=news_ld(), paragraphs=["Short note."]), "no body"),
])
def test_pages_with_nothing_to_extract_are_refused_with_a_reason(html, reason):
    for fn in (generic_extract, extract):
        row = fn(html, URL)  # never raises
        assert set(row) == KEYS
        assert row["reject_reason"].startswith("not_article: ")
        assert reason in row["reject_reason"]


def _listicle() -> str:
    """A list-style article with og:type website and more teaser links than paragraphs."""
    items = "".join(f"<li><p>{s} <a href='/x/{i}'>More on the item number {i} here</a></p></li>"
                    for i, s in enumerate(PARAS))
    links = "".join(f"<a href='/other/{i}'>Another story about the city number {i}</a>"
                    for i in range(20))
    return ('<html lang="en"><head><title>Ten things the budget changes | Example News</title>'
            '<meta property="og:type" content="website"></head><body>'
            f'<aside>{links}</aside><h1>Ten things the budget changes</h1><ol>{items}</ol>'
            "</body></html>")


def test_a_listed_page_is_an_article_until_proven_otherwise():
    # Nothing says this run of teaser links is not an article: it is kept, as trafilatura would.
    links_only = generic_extract(_front(og_type=""), URL)
    assert links_only["reject_reason"] is None and "Council story number 7" in links_only["body"]
    row = generic_extract(_listicle(), URL)
    assert row["reject_reason"] is None
    assert row["title"] == "Ten things the budget changes"
    assert PARAS[0] in row["body"]


CJK = ["市議会は火曜日、数週間にわたる議論の末、修正予算案を可決した。",
       "議員らは、この計画により道路の補修、図書館、そして二つの新しい診療所の資金が賄われると述べた。",
       "反対派は、洪水からの復興途上にある市にとって支出が多すぎると主張した。",
       "市長は、この予算は住民の必要と財政の限界との釣り合いを取ったものだと述べた。",
       "最終的な審議は来月に予定されており、その際に固定資産税率も決められる見通しだ。",
       "地元の経済団体はこの決定を歓迎したが、日程についてより詳しい説明を求めた。"]
# Real articles pass trafilatura's size floor.
CJK += [s.replace("。", "と関係者は語った。") for s in CJK]
THAI = ["สภาเมืองลงมติอนุมัติงบประมาณฉบับแก้ไขเมื่อวันอังคารหลังการอภิปรายหลายสัปดาห์",
        "สมาชิกกล่าวว่าแผนนี้จะจัดสรรเงินสำหรับซ่อมถนนห้องสมุดและคลินิกสุขภาพแห่งใหม่สองแห่ง",
        "ฝ่ายค้านแย้งว่าการใช้จ่ายสูงเกินไปสำหรับเมืองที่ยังฟื้นตัวจากน้ำท่วม",
        "นายกเทศมนตรีกล่าวว่างบประมาณนี้สร้างสมดุลระหว่างความต้องการของประชาชนกับข้อจำกัดของคลัง",
        "คาดว่าจะมีการพิจารณาวาระสุดท้ายในเดือนหน้าซึ่งสภาจะกำหนดอัตราภาษีทรัพย์สินด้วย"]


@pytest.mark.parametrize(("paragraphs", "lang"), [(CJK, "ja"), (THAI, "th")])
def test_text_without_spaces_is_counted_by_characters(paragraphs, lang):
    html = article_html(paragraphs=paragraphs, title="市議会が修正予算案を可決", lang=lang,
                        head='<meta property="og:type" content="website">')
    row = generic_extract(html, URL)
    assert row["reject_reason"] is None
    assert row["body"].split("\n\n") == paragraphs


def test_cjk_paragraph_naming_the_author_is_not_a_byline():
    from spiders.generic.body import _byline_residue

    assert _byline_residue("By Jane Doe, Staff Writer", ["Jane Doe"])
    assert not _byline_residue("記者の松村太郎は、" + CJK[1], ["松村太郎"])


def test_capitals_inside_cjk_text_are_not_shouting():
    from spiders.generic.body import Block, _shouting

    assert _shouting(Block("p", "WHAT ARE CHINA'S OVERSEAS POLICE STATIONS AND WHY NOW?", ""))
    chinese = ("DNC建立在神经网络的概念之上，神经网络可以模拟人类思想活动的方式。"
               "这种AI技术很适合与机器习得配套使用。")
    assert not _shouting(Block("p", chinese, ""))


def test_word_count_and_sentence_end_by_script():
    from spiders.generic.pagekind import SENTENCE_END, word_count

    assert word_count("The council voted.") == 3
    assert word_count(CJK[0]) == len(CJK[0]) - 3  # each character but the punctuation
    assert word_count("Tokyo 東京 votes") == 4
    assert SENTENCE_END.search(CJK[0]) and SENTENCE_END.search("「可決した」")
    assert not SENTENCE_END.search("市議会は")


def test_a_site_parser_that_declines_hands_the_page_to_the_generic_path():
    url = "https://www.themoscowtimes.com/2024/03/10/council-votes-on-budget-a90000"
    html = article_html(ld=news_ld(author={"@type": "Person", "name": "Jane Doe"}))
    with pytest.raises(NotAnArticle):
        moscowtimes.parse(html, url)  # not the site's layout
    row = extract(html, url)
    assert row["reject_reason"] is None and row["authors"] == ["Jane Doe"]
    assert row["body"].split("\n\n") == PARAS


def test_fields_say_where_they_came_from():
    row = generic_extract(article_html(ld=news_ld(datePublished="2024-03-10T08:00:00Z")), URL)
    assert (row["title_from"], row["published_at_from"], row["body_from"]) == (
        "page", "jsonld:datePublished", "trafilatura")
    no_meta = "<html><body><article><h1>Council approves revised budget</h1>" + "".join(
        f"<p>{p}</p>" for p in PARAS) + "</article></body></html>"
    row = generic_extract(no_meta, "")  # no URL, nothing but the visible page
    assert row["reject_reason"] is None and row["title"] == "Council approves revised budget"


def test_an_h1_that_shares_no_words_with_the_headline_is_not_the_title():
    # A logo <h1> ('Example Logo Mark') beside the story's: trafilatura may name it the title.
    html = article_html(ld=news_ld()).replace(
        "<nav>", "<header><h1>Example Logo Mark</h1></header><nav>")
    assert generic_extract(html, URL)["title"] == \
        "Council approves revised budget after long debate"


def test_core_same_story_compares_words():
    from spiders.generic.core import _same_story

    assert _same_story("Chelsea send clear message of intent at Cobham",
                       "Chelsea send clear message of intent in battling win")
    assert not _same_story("Follow us on Twitter", "Grim global outlook for IMF meetings")
    assert _same_story("セキュリティとAI", "セキュリティとAI進化の両立")  # by characters
    assert _same_story("2024", "Budget vote")  # nothing to compare: allowed
