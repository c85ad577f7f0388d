"""Minimal Moscow Times documents: an article page, the RSS feed, news sitemaps, robots.txt.

Written to replica/README.md's contract with only what spiders/sites/moscowtimes.py reads, and
kept independent of replica/ so the fault suite does not move when the replica does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape

WWW = "https://www.themoscowtimes.com"
STATIC = "https://static.themoscowtimes.com"
MOSCOW = timezone(timedelta(hours=3))
# Every article is published on this Moscow day, inside the suite's UTC window
# [2022-01-31 02:00, 2022-02-01 02:00) = [05:00, 05:00 next day) Moscow time.
DATE_PATH = "/2022/01/31"
WINDOW = ("2022-01-31T02:00:00+00:00", "2022-02-01T02:00:00+00:00")


@dataclass(frozen=True)
class Article:
    id: int
    slug: str
    text: str = ""  # extra body text, e.g. non-ASCII for the encoding faults

    @property
    def path(self) -> str:
        return f"{DATE_PATH}/{self.slug}-a{self.id}"

    @property
    def url(self) -> str:
        return WWW + self.path

    @property
    def article_id(self) -> str:
        return f"moscowtimes:{self.id}"

    @property
    def title(self) -> str:
        return f"Fault Suite Article {self.id}"

    @property
    def published(self) -> datetime:
        return datetime(2022, 1, 31, 6 + self.id % 17, self.id % 60, tzinfo=MOSCOW)

    @property
    def paragraphs(self) -> list[str]:
        second = f"It has a second paragraph. {self.text}".strip()
        return [f"This is the body of article {self.id}.", second]


def article_page(article: Article, charset: str = "utf-8") -> str:
    """An article page the site parser accepts; `charset` only goes into <meta charset>."""
    when = article.published.isoformat()
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in article.paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="{charset}">
<title>{escape(article.title)} - The Moscow Times</title>
<link rel="canonical" href="{article.url}">
<meta name="description" content="Description of article {article.id}.">
<meta property="og:title" content="{escape(article.title)}">
<meta property="article:published_time" content="{when}">
<meta property="article:modified_time" content="{when}">
<meta property="article:section" content="news">
<meta property="article:tag" content="Faults">
</head>
<body>
<article class="article article--news">
  <header class="article__header"><h1><a href="{article.url}">{escape(article.title)}</a></h1>
  </header>
  <div class="article__byline byline">
    <div class="byline__author">By <a class="byline__author__name" href="/author/test">Test
      Author</a></div>
    <div class="byline__details"><time class="byline__datetime timeago" datetime="{when}">Jan.
      31, 2022</time></div>
  </div>
  <div class="article__content-container"><div class="article__content">
    <div class="article__block article__block--html">{paragraphs}</div>
  </div></div>
</article>
</body>
</html>
"""


def rss_feed(items: list[tuple[str, datetime]]) -> str:
    """/rss/news: (link, publication time) items."""
    entries = "".join(
        f"<item><title>Item</title><link>{escape(link)}</link>"
        f"<pubDate>{format_datetime(when)}</pubDate><guid>{escape(link)}</guid></item>\n"
        for link, when in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>\n'
        f"<title>The Moscow Times</title><link>{WWW}/</link>\n{entries}</channel></rss>\n"
    )


_SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"


def newsmap_index(names: list[str]) -> str:
    entries = "".join(
        f"<sitemap><loc>{STATIC}/sitemap/newsmap/{name}.xml</loc></sitemap>\n" for name in names
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="{_SITEMAP_NS}">\n{entries}</sitemapindex>\n'
    )


def newsmap(articles: list[Article]) -> str:
    """A Google News sitemap; fewer than 100 URLs, so the spider needs no monthly sitemaps."""
    urls = "".join(
        f"<url><loc>{a.url}</loc><news:news><news:publication><news:name>The Moscow Times"
        "</news:name><news:language>en</news:language></news:publication>"
        f"<news:publication_date>{a.published.isoformat()}</news:publication_date>"
        f"<news:title>{escape(a.title)}</news:title></news:news></url>\n"
        for a in articles
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="{_SITEMAP_NS}" xmlns:news="{_NEWS_NS}">\n{urls}</urlset>\n'
    )


def robots(disallow: list[str], crawl_delay: float | None = None) -> str:
    lines = ["User-agent: *"]
    lines += [f"Disallow: {path}" for path in disallow]
    if crawl_delay is not None:
        lines.append(f"Crawl-delay: {crawl_delay:g}")
    lines.append("Allow: /")
    return "\n".join(lines) + "\n"
