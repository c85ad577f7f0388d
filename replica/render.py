"""Pure rendering: articles in, page/feed/sitemap text out.

Every function takes the articles it may show (already filtered to those published by the
replica's "now", newest first) and returns str, or bytes where the encoding is part of the
contract (the windows-1251 Yandex feed). The article page follows the HTML contract in
replica/README.md exactly, because the site parser is written against that contract.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from html import escape
from itertools import islice
from urllib.parse import quote

from replica.content import (
    MOSCOW,
    STATIC,
    WWW,
    Author,
    Block,
    ReplicaArticle,
    image_url,
)

SITE_NAME = "The Moscow Times"
TAGLINE = "30 YEARS INDEPENDENT NEWS FROM RUSSIA"
CHANNEL_TITLE = "The Moscow Times - Independent News From Russia"
CHANNEL_DESCRIPTION = "Independent news from Russia"
SITE_IMAGE_FILE = "00/the-moscow-times.jpg"  # og:image when an article has no picture
PAGE_SIZE = 18  # cards per section/tag/author page, as on the site
FEED_SIZE = 50
NEWSMAP_SIZE = 100
NEWSMAP_WINDOW = timedelta(days=30)

# Feeds SITE.md lists -> sections they carry. The replica has no city, podcast or in-depth
# content, so those feeds exist but are empty, as a feed with no recent items would be.
FEED_SECTIONS: dict[str, tuple[str, ...]] = {
    "news": ("news",),
    "opinion": ("opinion",),
    "meanwhile": ("meanwhile",),
    "arts-and-life": ("arts-and-life",),
    "city": (),
    "podcasts": (),
    "in-depth": (),
}

NEWSMAP_NAMES = (
    "news", "opinion", "meanwhile", "city", "business", "climate", "diaspora", "ukraine_war",
    "lecture_series",
)  # fmt: skip
# Sections without a news sitemap of their own (features, arts-and-life) are filed under news.
SECTION_NEWSMAP = {
    "news": "news",
    "features": "news",
    "arts-and-life": "news",
    "opinion": "opinion",
    "meanwhile": "meanwhile",
    "business": "business",
    "climate": "climate",
    "diaspora": "diaspora",
    "ukraine-war": "ukraine_war",
    "lectures": "lecture_series",
}

# AP style, which the site uses: short months take a period, March-July are spelled out.
_MONTHS = (
    "Jan.", "Feb.", "March", "April", "May", "June", "July", "Aug.", "Sept.", "Oct.", "Nov.",
    "Dec.",
)  # fmt: skip


def esc(text: str) -> str:
    return escape(text, quote=True)


def display_date(moment: datetime) -> str:
    """The site's `M. j, Y`: "Jan. 31, 2022", "March 3, 2022", "Sept. 2, 2021"."""
    local = moment.astimezone(MOSCOW)
    return f"{_MONTHS[local.month - 1]} {local.day}, {local.year}"


def iso(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).isoformat()


def rfc822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(MOSCOW))  # "Mon, 31 Jan 2022 18:42:00 +0300"


def join_names(names: Sequence[str]) -> str:
    """Join names the way bylines do: "A", "A and B", "A, B and C"."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def section_title(section: str) -> str:
    return section.replace("-", " ").title()


def tag_path(tag: str) -> str:
    return "/tag/" + quote(tag, safe="")


# --------------------------------------------------------------------------- article page


@dataclass(frozen=True)
class Neighbours:
    """The article lists the per-page boxes draw from, sorted once per clock.

    Building these once keeps rendering every article page linear in the article count.
    """

    newest: tuple[ReplicaArticle, ...]
    most_read: tuple[ReplicaArticle, ...]
    by_section: Mapping[str, tuple[ReplicaArticle, ...]]

    @classmethod
    def of(cls, visible: Iterable[ReplicaArticle]) -> Neighbours:
        newest = tuple(sorted(visible, key=lambda a: (a.published, a.id), reverse=True))
        # "Most read" needs page views; a fixed scramble of ids stands in for them.
        most_read = tuple(sorted(newest, key=lambda a: (a.id * 2654435761) % 2**32))
        by_section: dict[str, list[ReplicaArticle]] = {}
        for article in newest:
            by_section.setdefault(article.section, []).append(article)
        return cls(newest, most_read, {k: tuple(v) for k, v in by_section.items()})


def _first(articles: Iterable[ReplicaArticle], count: int, skip: set[int]) -> list[ReplicaArticle]:
    return list(islice((a for a in articles if a.id not in skip), count))


def render_article_page(article: ReplicaArticle, neighbours: Neighbours) -> str:
    """The full article page; `neighbours` feeds the sidebar and "Read more" boxes."""
    main = (
        '<div class="container"><div class="row"><div class="col">\n'
        f"{render_article_element(article)}"
        "</div>\n"
        f"{_sidebar(article, neighbours)}"
        "</div></div>\n"
        f"{_read_more(article, neighbours)}"
        f'<div id="load-next-article" data-url="/all/{article.id}"></div>\n'
    )
    return _page(f"{article.title} - {SITE_NAME}", _article_head(article), main)


def render_next_fragment(article: ReplicaArticle) -> str:
    """What /all/{id} returns for infinite scroll: the article element and the next hook."""
    return (
        f"{render_article_element(article)}"
        f'<div id="load-next-article" data-url="/all/{article.id}"></div>\n'
    )


def render_article_element(article: ReplicaArticle) -> str:
    parts = [f'<article class="article article--{esc(article.section)}">\n']
    parts.append('  <header class="article__header">\n')
    if article.label:
        parts.append(f'    <span class="label">{esc(article.label)}</span>\n')
    url = esc(article.canonical_url)
    parts.append(f'    <h1><a href="{url}">{esc(article.title)}</a></h1>\n')
    if article.subtitle:
        parts.append(f"    <h2>{esc(article.subtitle)}</h2>\n")
    parts.append("  </header>\n")
    parts.append(_byline(article))
    if article.image is not None:
        parts.append(
            '  <figure class="article__featured-image">\n'
            f'    <img src="{esc(article.image.url)}" alt="{esc(article.image.caption)}">\n'
            "    <figcaption>"
            f'<span class="article__featured-image__caption">{esc(article.image.caption)}</span>\n'
            "      "
            f'<span class="article__featured-image__credits">{esc(article.image.credits)}</span>'
            "</figcaption>\n"
            "  </figure>\n"
        )
    parts.append('  <div class="article__content-container">\n')
    parts.append('    <div class="article__content">\n')
    for index, block in enumerate(article.blocks):
        parts.append(
            f'      <div class="article__block article__block--{block.type}">'
            f"{_block_html(block)}</div>\n"
        )
        if index == 0:
            parts.append('      <div class="banner banner--article">advertisement</div>\n')
    parts.append("    </div>\n")
    if article.section == "opinion":
        parts.append(
            '    <div class="article__disclaimer">The views expressed in opinion pieces do not '
            f"necessarily reflect the position of {SITE_NAME}.</div>\n"
        )
    tag_links = " ".join(f'<a href="{esc(tag_path(t))}">{esc(t)}</a>' for t in article.tags)
    parts.append(f'    <div class="article__tags">Read more about: {tag_links}</div>\n')
    parts.append(_CONTRIBUTE_BANNER)
    parts.append(_share(article))
    parts.append("  </div>\n</article>\n")
    return "".join(parts)


# A redesign for tests and demos of source health: NIGHTDESK_REPLICA_TEMPLATE=no-bylines renders
# article pages without their author names, as a site whose new template strips bylines would.
TEMPLATE_ENV = "NIGHTDESK_REPLICA_TEMPLATE"


def _byline(article: ReplicaArticle) -> str:
    out = ['  <div class="article__byline byline">\n']
    if article.authors and os.environ.get(TEMPLATE_ENV) != "no-bylines":
        links = [
            f'<a class="byline__author__name" href="{esc(a.path)}">{esc(a.name)}</a>'
            for a in article.authors
        ]
        out.append(f'    <div class="byline__author">By {join_names(links)}</div>\n')
    if article.updated:
        prefix, moment, shown = "Updated: ", article.modified, display_date(article.modified)
    else:
        shown = article.date_display or display_date(article.published)
        prefix, moment = "", article.published
    out.append(
        f'    <div class="byline__details">{prefix}<time class="byline__datetime timeago" '
        f'datetime="{iso(moment)}">{esc(shown)}</time></div>\n'
    )
    out.append("  </div>\n")
    return "".join(out)


def _block_html(block: Block) -> str:
    if block.type == "html":
        return "".join(f"<p>{esc(p)}</p>" for p in block.paragraphs)
    if block.type == "header":
        return f"<h2>{esc(block.text)}</h2>"
    if block.type == "quote":
        cite = f"<cite>{esc(block.cite)}</cite>" if block.cite else ""
        return f'<blockquote class="article__quote"><p>{esc(block.text)}</p>{cite}</blockquote>'
    if block.type == "image":
        return (
            f'<figure class="article__image"><img src="{esc(image_url(block.file))}" '
            f'alt="{esc(block.caption)}"><figcaption>'
            f'<span class="article__image__caption">{esc(block.caption)}</span> '
            f'<span class="article__image__credits">{esc(block.credits)}</span>'
            "</figcaption></figure>"
        )
    if block.type == "aside":
        return f'<aside class="article__aside"><p>{esc(block.text)}</p></aside>'
    if block.type == "link":
        return (
            f'<a class="article__link" href="{esc(block.url)}">'
            '<span class="label">Related article:</span> '
            f'<span class="article__link__title">{esc(block.title)}</span></a>'
        )
    if block.type == "embed":
        return f'<div class="article__embed">{_embed(block)}</div>'
    raise ValueError(f"unknown block type {block.type!r}")


def _embed(block: Block) -> str:
    # Markup only, no third-party scripts: the replica must work offline.
    if block.provider == "telegram":
        return (
            f'<blockquote class="telegram-post" data-telegram-post="{esc(block.ref)}">'
            f'<a href="https://t.me/{esc(block.ref)}">t.me/{esc(block.ref)}</a></blockquote>'
        )
    if block.provider == "x":
        return (
            f'<blockquote class="twitter-tweet"><a href="{esc(block.ref)}">'
            f"{esc(block.ref)}</a></blockquote>"
        )
    return (
        f'<iframe class="youtube" src="https://www.youtube.com/embed/{esc(block.ref)}" '
        'title="YouTube video" allowfullscreen></iframe>'
    )


_CONTRIBUTE_BANNER = (
    '    <div class="contribute-banner">'
    "<p>Dear reader, we have a small favor to ask. Independent journalism about Russia is "
    "harder to do every year.</p>"
    "<p>Our reporting is free to read and we intend to keep it that way.</p>"
    "<p>If you can, please support us with a one-time or monthly contribution.</p>"
    "</div>\n"
)


def _share(article: ReplicaArticle) -> str:
    url = quote(article.canonical_url, safe="")
    targets = (
        ("facebook", f"https://www.facebook.com/sharer/sharer.php?u={url}"),
        ("x", f"https://x.com/intent/post?url={url}"),
        ("telegram", f"https://t.me/share/url?url={url}"),
    )
    buttons = "".join(
        f'<a class="share__button share__button--{name}" href="{esc(href)}">{name}</a>'
        for name, href in targets
    )
    return f'    <div class="social share">{buttons}</div>\n'


def _sidebar(article: ReplicaArticle, neighbours: Neighbours) -> str:
    skip = {article.id}
    return (
        '<aside class="sidebar">\n'
        f"{_sidebar_list('Most read', _first(neighbours.most_read, 5, skip))}"
        f"{_sidebar_list('Just in', _first(neighbours.newest, 5, skip))}"
        "</aside>\n"
    )


def _sidebar_list(heading: str, articles: Sequence[ReplicaArticle]) -> str:
    items = "".join(
        f'<li><a href="{esc(a.canonical_url)}">{esc(a.title)}</a></li>' for a in articles
    )
    return (
        f'<section class="sidebar__section"><h3 class="sidebar__header">{heading}</h3>'
        f"<ul>{items}</ul></section>\n"
    )


def _read_more(article: ReplicaArticle, neighbours: Neighbours) -> str:
    # Newest of the same section first, then newest of any section: cheap and plausible.
    skip = {article.id}
    picked = _first(neighbours.by_section.get(article.section, ()), 4, skip)
    picked += _first(neighbours.newest, 4 - len(picked), skip | {a.id for a in picked})
    cards = "".join(render_card(a) for a in picked)
    return (
        '<section class="cluster"><h2 class="cluster__header">Read more</h2>\n'
        f'<div class="cluster__items">\n{cards}</div></section>\n'
    )


def render_card(article: ReplicaArticle) -> str:
    """A div.article-excerpt-default teaser, as on section pages and in "Read more"."""
    image = ""
    if article.image is not None:
        image = (
            '<div class="article-excerpt-default__image-wrapper">'
            f'<img src="{esc(image_url(article.image.file, "article_640"))}" '
            f'alt="{esc(article.image.caption)}"></div>'
        )
    label = f'<span class="label">{esc(article.label)}</span>' if article.label else ""
    return (
        '<div class="article-excerpt-default">'
        f'<a class="article-excerpt-default__link" href="{esc(article.canonical_url)}">{image}'
        f'<div class="article-excerpt-default__content">{label}'
        f'<h3 class="article-excerpt-default__headline">{esc(article.title)}</h3>'
        f'<div class="article-excerpt-default__teaser">{esc(article.description)}</div>'
        f'<time class="article-excerpt-default__datetime" datetime="{iso(article.published)}">'
        f"{display_date(article.published)}</time>"
        "</div></a></div>\n"
    )


def _article_head(article: ReplicaArticle) -> str:
    keywords = ",".join(article.tags)
    author = article.authors[0].name if article.authors else SITE_NAME
    image = article.image.url if article.image else image_url(SITE_IMAGE_FILE)
    metas = [
        f'<link rel="canonical" href="{esc(article.canonical_url)}">',
        f'<meta name="keywords" content="{esc(keywords)}">',
        f'<meta name="news_keywords" content="{esc(keywords)}">',
        f'<meta name="description" content="{esc(article.description)}">',
        f'<meta name="author" content="{esc(author)}">',
        f'<meta property="og:title" content="{esc(article.title)}">',
        f'<meta property="og:url" content="{esc(article.canonical_url)}">',
        '<meta property="og:type" content="article">',
        f'<meta property="og:description" content="{esc(article.description)}">',
        f'<meta property="og:image" content="{esc(image)}">',
        f'<meta property="og:site_name" content="{SITE_NAME}">',
        f'<meta property="article:published_time" content="{iso(article.published)}">',
        f'<meta property="article:modified_time" content="{iso(article.modified)}">',
        f'<meta property="article:section" content="{esc(article.section)}">',
        *(f'<meta property="article:tag" content="{esc(tag)}">' for tag in article.tags),
        '<meta property="article:content_tier" content="free">',
        _json_ld(_news_article_ld(article, image)),
        _json_ld(_breadcrumb_ld(article)),
    ]
    return "\n".join(metas)


def _news_article_ld(article: ReplicaArticle, image: str) -> dict[str, object]:
    author: dict[str, str]
    if article.authors:
        first: Author = article.authors[0]
        author = {"@type": "Person", "name": first.name, "url": first.url}
    else:
        author = {"@type": "Organization", "name": SITE_NAME}
    return {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "mainEntityOfPage": {"@type": "WebPage", "@id": article.canonical_url},
        "dateCreated": iso(article.published),
        "datePublished": iso(article.published),
        "dateModified": iso(article.modified),
        "headline": article.title,
        "description": article.description,
        "keywords": ",".join(article.tags),
        "articleSection": article.section,
        "isAccessibleForFree": True,
        "image": {"@type": "ImageObject", "url": image},
        "publisher": {
            "@type": "Organization",
            "name": SITE_NAME,
            "logo": {"@type": "ImageObject", "url": image_url(SITE_IMAGE_FILE)},
        },
        "inLanguage": "en",
        "author": author,
    }


def _breadcrumb_ld(article: ReplicaArticle) -> dict[str, object]:
    trail = [
        (SITE_NAME, WWW + "/"),
        (section_title(article.section), f"{WWW}/{article.section}"),
        (article.title, article.canonical_url),
    ]
    return {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": i, "name": name, "item": url}
            for i, (name, url) in enumerate(trail, start=1)
        ],
    }


def _json_ld(data: dict[str, object]) -> str:
    # Escape <, > and & so no title can close the script element; JSON readers undo it.
    text = json.dumps(data, ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/ld+json">{text}</script>'


# --------------------------------------------------------------------------- other pages

_SECTION_MENU = (
    ("news", "News"),
    ("opinion", "Opinion"),
    ("business", "Business"),
    ("ukraine-war", "Ukraine War"),
    ("features", "Features"),
    ("arts-and-life", "Arts and Life"),
    ("climate", "Climate"),
    ("diaspora", "Diaspora"),
    ("meanwhile", "Meanwhile"),
    ("lectures", "Lectures"),
)

_SITE_HEADER = (
    '<header class="header">'
    f'<div class="header__logo"><a href="/">{SITE_NAME}</a></div>'
    f'<div class="header__tagline">{TAGLINE}</div>'
    '<nav class="header__menu">'
    + "".join(f'<a href="/{slug}">{name}</a>' for slug, name in _SECTION_MENU)
    + "</nav></header>"
)
_FOOTER = f'<footer class="footer"><div class="footer__copyright">{SITE_NAME}</div></footer>'


def _page(title: str, head: str, main: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n"
        f"{head}\n"
        "</head>\n<body>\n"
        f"{_SITE_HEADER}\n{main}{_FOOTER}\n"
        "</body>\n</html>\n"
    )


def render_listing_page(
    heading: str,
    path: str,
    articles: Sequence[ReplicaArticle],
    offset: int,
) -> str:
    """One page of cards (section, tag, author, home): PAGE_SIZE from `offset`, newest first.

    "Load more" links to the next offset only while there are more articles.
    """
    page = articles[offset : offset + PAGE_SIZE]
    cards = "".join(render_card(a) for a in page)
    more = ""
    if offset + PAGE_SIZE < len(articles):
        base = path.rstrip("/")
        more = (
            f'<div class="pagination"><a class="load-more" rel="next" '
            f'href="{esc(base)}/{offset + PAGE_SIZE}">Load more</a></div>\n'
        )
    canonical = WWW + (path if offset == 0 else f"{path.rstrip('/')}/{offset}")
    main = (
        '<div class="container"><div class="row"><div class="col">\n'
        f'<h1 class="section-header">{esc(heading)}</h1>\n'
        f'<div class="listing">\n{cards}</div>\n{more}'
        "</div></div></div>\n"
    )
    head = f'<link rel="canonical" href="{esc(canonical)}">'
    return _page(f"{heading} - {SITE_NAME}", head, main)


def render_not_found() -> str:
    main = '<div class="container"><h1 class="error">Page not found</h1></div>\n'
    return _page(f"Page not found - {SITE_NAME}", "", main)


def render_redirect(location: str) -> str:
    url = esc(location)
    return (
        f'<!DOCTYPE html>\n<html><body><a href="{url}">Moved permanently: {url}</a></body></html>\n'
    )


# --------------------------------------------------------------------------- robots

ROBOTS_WWW = (
    "User-agent: *\n"
    "Disallow: /preview/\n"
    "Disallow: /search/\n"
    "Disallow: *?utm\n"
    "Disallow: *&utm\n"
    "\n"
    f"Sitemap: {STATIC}/sitemap/sitemap.xml\n"
)
ROBOTS_STATIC = "User-agent: *\nAllow: /\n"


# --------------------------------------------------------------------------- feeds


def _x(text: str) -> str:
    return escape(text, quote=False)


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _channel_open(feed_path: str, now: datetime, namespaces: str = "") -> str:
    return (
        f'<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"{namespaces}>\n'
        "<channel>\n"
        f"<title>{_x(CHANNEL_TITLE)}</title>\n"
        f"<link>{WWW}/</link>\n"
        f"<description>{_x(CHANNEL_DESCRIPTION)}</description>\n"
        "<language>en</language>\n"
        f"<lastBuildDate>{rfc822(now)}</lastBuildDate>\n"
        "<ttl>600</ttl>\n"
        f'<atom:link href="{WWW}{feed_path}" rel="self" type="application/rss+xml"/>\n'
    )


def _newest(articles: Iterable[ReplicaArticle], limit: int) -> list[ReplicaArticle]:
    return sorted(articles, key=lambda a: (a.published, a.id), reverse=True)[:limit]


def render_section_feed(name: str, visible: Sequence[ReplicaArticle], now: datetime) -> str:
    """/rss/{name}: excerpts of the newest FEED_SIZE articles of the feed's sections."""
    sections = FEED_SECTIONS[name]
    items = []
    for article in _newest((a for a in visible if a.section in sections), FEED_SIZE):
        items.append(
            "<item>\n"
            f"<title>{_x(article.title)}</title>\n"
            f"<link>{_x(article.canonical_url)}</link>\n"
            f"<description>{_x(article.description)}</description>\n"
            f"<pubDate>{rfc822(article.published)}</pubDate>\n"
            f"<guid>{_x(article.canonical_url)}</guid>\n"
            "</item>\n"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        + _channel_open(f"/rss/{name}", now)
        + "".join(items)
        + "</channel>\n</rss>\n"
    )


def body_html(article: ReplicaArticle) -> str:
    """The article's content blocks as HTML, without the page's ads and boilerplate."""
    return "\n".join(_block_html(block) for block in article.blocks)


def feed_title(article: ReplicaArticle) -> str:
    # The site's full feed names opinion writers in the title: "A and B: Title".
    if article.section == "opinion" and article.authors:
        return f"{join_names(article.author_names)}: {article.title}"
    return article.title


def render_all_feed(visible: Sequence[ReplicaArticle], now: datetime) -> str:
    """/rss/all: the newest FEED_SIZE articles of every section, full body in CDATA."""
    items = []
    for article in _newest(visible, FEED_SIZE):
        enclosure = ""
        if article.image is not None:
            enclosure = f'<enclosure url="{esc(article.image.url)}" type="image/jpeg"/>\n'
        items.append(
            "<item>\n"
            f"<title>{_x(feed_title(article))}</title>\n"
            f"<link>{_x(article.canonical_url)}</link>\n"
            f"<description>{_cdata(body_html(article))}</description>\n"
            f"<pubDate>{rfc822(article.published)}</pubDate>\n"
            f"<guid>{_x(article.canonical_url)}</guid>\n"
            f"<category>Article - {_x(section_title(article.section))}</category>\n"
            f"{enclosure}"
            "</item>\n"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        + _channel_open("/rss/all", now)
        + "".join(items)
        + "</channel>\n</rss>\n"
    )


def render_yandex_feed(visible: Sequence[ReplicaArticle], now: datetime) -> bytes:
    """/rss/yandex-news, really encoded in windows-1251 as it declares.

    Characters cp1251 lacks become XML character references, which any XML parser decodes.
    """
    items = []
    for article in _newest(visible, FEED_SIZE):
        author = ""
        if article.authors:
            author = f"<author>{_x(', '.join(article.author_names))}</author>\n"
        enclosure = ""
        if article.image is not None:
            enclosure = f'<enclosure url="{esc(article.image.url)}" type="image/jpeg"/>\n'
        full_text = "\n\n".join(article.body_paragraphs)
        items.append(
            "<item>\n"
            f"<title>{_x(article.title)}</title>\n"
            f"<link>{_x(article.canonical_url)}</link>\n"
            f"<description>{_x(article.description)}</description>\n"
            f"{author}"
            f"<category>{_x(section_title(article.section))}</category>\n"
            f"{enclosure}"
            f"<pubDate>{rfc822(article.published)}</pubDate>\n"
            f"<guid>{_x(article.canonical_url)}</guid>\n"
            f"<yandex:full-text>{_x(full_text)}</yandex:full-text>\n"
            "</item>\n"
        )
    text = (
        '<?xml version="1.0" encoding="windows-1251"?>\n'
        + _channel_open("/rss/yandex-news", now, ' xmlns:yandex="http://news.yandex.ru"')
        + "".join(items)
        + "</channel>\n</rss>\n"
    )
    return text.encode("cp1251", errors="xmlcharrefreplace")


# --------------------------------------------------------------------------- sitemaps

_SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"


def month_key(article: ReplicaArticle) -> str:
    """The monthly sitemap an article is listed in: "2022-1" (month not zero-padded)."""
    local = article.published.astimezone(MOSCOW)
    return f"{local.year}-{local.month}"


def render_sitemap_index(visible: Sequence[ReplicaArticle]) -> str:
    """sitemap.xml: one monthly file per month that has articles, newest month first."""
    lastmod: dict[tuple[int, int], datetime] = {}
    for article in visible:
        local = article.published.astimezone(MOSCOW)
        key = (local.year, local.month)
        if key not in lastmod or article.modified > lastmod[key]:
            lastmod[key] = article.modified
    entries = "".join(
        f"<sitemap><loc>{STATIC}/sitemap/{year}-{month}.xml</loc>"
        f"<lastmod>{iso(lastmod[(year, month)])}</lastmod></sitemap>\n"
        for year, month in sorted(lastmod, reverse=True)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="{_SITEMAP_NS}">\n{entries}</sitemapindex>\n'
    )


def render_month_sitemap(articles: Sequence[ReplicaArticle]) -> str:
    """{YYYY}-{M}.xml: a urlset of <loc>s only, newest first."""
    urls = "".join(
        f"<url><loc>{_x(a.canonical_url)}</loc></url>\n" for a in _newest(articles, len(articles))
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{_SITEMAP_NS}">\n{urls}</urlset>\n'
    )


def render_newsmap_index() -> str:
    entries = "".join(
        f"<sitemap><loc>{STATIC}/sitemap/newsmap/{name}.xml</loc></sitemap>\n"
        for name in NEWSMAP_NAMES
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="{_SITEMAP_NS}">\n{entries}</sitemapindex>\n'
    )


def newsmap_articles(
    name: str, visible: Sequence[ReplicaArticle], now: datetime
) -> list[ReplicaArticle]:
    since = now - NEWSMAP_WINDOW
    chosen = (
        a for a in visible if SECTION_NEWSMAP.get(a.section) == name and since < a.published <= now
    )
    return _newest(chosen, NEWSMAP_SIZE)


def render_newsmap(name: str, visible: Sequence[ReplicaArticle], now: datetime) -> str:
    """newsmap/{name}.xml: Google News sitemap of the last 30 days, at most 100 articles.

    The site's generator does not escape titles, so a raw "&" reaches the XML; the replica
    reproduces that on purpose (consumers must parse with a recovering parser).
    """
    urls = []
    for article in newsmap_articles(name, visible, now):
        urls.append(
            f"<url><loc>{_x(article.canonical_url)}</loc><news:news><news:publication>"
            f"<news:name>{SITE_NAME}</news:name><news:language>en</news:language>"
            "</news:publication>"
            f"<news:publication_date>{iso(article.published)}</news:publication_date>"
            f"<news:title>{article.title}</news:title>"
            f"<news:keywords>{_x(','.join(article.tags))}</news:keywords>"
            "</news:news></url>\n"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="{_SITEMAP_NS}" xmlns:news="{_NEWS_NS}">\n' + "".join(urls) + "</urlset>\n"
    )
