"""Title, canonical URL, standfirst, section, tags, language, description and lead image.

Each field is read from the strongest evidence that has it: JSON-LD article, then OpenGraph/meta,
then the visible page. Social titles and <title> carry the site name ("... | TechCrunch"), which
is cut off when the cut part names the site.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from contracts.urls import registrable_domain
from spiders.generic.page import Page, clean_text, name_key
from spiders.htmltools import text

_TITLE_SEP = re.compile(r"(\s+[|\-–—•·»:]\s+|\s+[|»]\s*)")
_STANDFIRST_CLASS = re.compile(
    r"standfirst|sub-?title|sub-?head|\bdek\b|deck|strap-?line|article[-_]?summary|"
    r"article[-_]?lead|lede|intro|excerpt|teaser-?text|summary", re.IGNORECASE)


def canonical_url(page: Page) -> str:
    """The page's canonical URL when it stays on the same site, else the URL it was fetched as."""
    own = registrable_domain(urlsplit(page.url).hostname or "")
    for href in page.doc.xpath('//link[@rel="canonical"]/@href'):
        candidate = urljoin(page.url, href.strip())
        parts = urlsplit(candidate)
        if parts.scheme in ("http", "https") and registrable_domain(parts.hostname or "") == own:
            return candidate
    return page.url


def _strip_site(title: str, page: Page) -> str:
    """'Headline | Site' -> 'Headline' when the cut segments name the site (or are 'by X')."""
    segments = _TITLE_SEP.split(title)
    while len(segments) >= 3:
        last = segments[-1].strip()
        if page.is_site_name(last) or last.lower().startswith("by ") or \
                any(s and s in name_key(last) for s in page.site_names if len(s) >= 5):
            segments = segments[:-2]
        else:
            break
    return "".join(segments).strip()


def _h1(page: Page, others: list[str]) -> str:
    heads = [text(h) for h in page.doc.iter("h1")]
    heads = [h for h in heads if len(h.split()) >= 3]
    if not heads:
        return ""
    keys = {name_key(o)[:40] for o in others if o}
    for h in heads:  # the h1 that agrees with the meta titles, if any does
        if name_key(h)[:40] in keys:
            return h
    return heads[0]


# Han, kana and hangul: headlines in these scripts have no spaces to count words by.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def _headline_like(value: str) -> bool:
    """Long enough to be a headline rather than a logo or a section label ('POLITICO Logo')."""
    return len(value.split()) >= 4 or len(_CJK.findall(value)) >= 8


def _ld_headline(page: Page) -> str:
    """The JSON-LD headline; its `name` instead when the two differ and only the name is the
    title the page shows (<title> or an <h1>): some pages put a description in `headline`."""
    headline = clean_text(page.article.get("headline"))
    name = clean_text(page.article.get("name"))
    if not (headline and name) or headline == name:
        return headline or name
    shown = [text(page.doc.find(".//title"))] + [text(h) for h in page.doc.iter("h1")]
    keys = [name_key(v) for v in shown if v]

    def agrees(value: str) -> bool:
        key = name_key(value)
        return len(key) >= 4 and any(k.startswith(key) or key.startswith(k) for k in keys
                                     if len(k) >= 4)

    return name if agrees(name) and not agrees(headline) else headline


def title(page: Page) -> str:
    """The structured headline (JSON-LD, og:title, twitter:title) with the site name cut off;
    without one, the page's only <h1> when it reads as a headline (the <title> is often an SEO
    variant of it or carries the site name), else the <title>, else an <h1>."""
    ld = _ld_headline(page)
    og = clean_text(page.meta("og:title"))
    tw = clean_text(page.meta("twitter:title"))
    for candidate in (ld, og, tw):
        if candidate:
            return _strip_site(candidate, page)
    doc_title = _strip_site(text(page.doc.find(".//title")), page)
    heads = [h for h in (text(h) for h in page.doc.iter("h1")) if h]
    if len(heads) == 1 and _headline_like(heads[0]):
        return heads[0]
    return doc_title or _h1(page, [doc_title])


def _lead_like(value: str, headline: str) -> bool:
    words = value.split()
    return (5 <= len(words) <= 80 and value != headline and not value.lower().startswith("by ")
            and not re.search(r"\b(?:19|20)\d\d\b.{0,20}(?:•|\||·)|updated|published",
                              value, re.IGNORECASE))


def _headline_element(page: Page, headline: str):
    key = name_key(headline)[:40]
    first = None
    for h in page.doc.iter("h1"):
        if first is None:
            first = h
        if key and name_key(text(h))[:40] == key:
            return h
    return first


def standfirst(page: Page, headline: str) -> str | None:
    """The lead shown under the headline: the meta description when the page also shows it as
    its own element (editors write it as the dek), else the first lead-like element right after
    the <h1> (an <h2>, or a standfirst/dek/summary-classed element) within its header block."""
    desc = description(page)
    if desc and len(desc) >= 30:
        prefix = desc[:30]
        for el in page.doc.iter("p", "h2", "div", "span", "h3"):
            own = el.text
            if own and prefix in own and text(el) == desc and \
                    next(el.iterancestors("head", "script", "noscript"), None) is None:
                return desc
    h1 = _headline_element(page, headline)
    if h1 is None:
        return None
    scope, seen = h1, 0
    for _ in range(3):  # the h1's later siblings, then its parent's, then its grandparent's
        for el in scope.itersiblings():
            seen += 1
            if seen > 8 or not isinstance(el.tag, str):
                break
            if el.tag in ("h2", "p") or _STANDFIRST_CLASS.search(el.get("class", "")):
                value = text(el)
                if _lead_like(value, headline) and name_key(headline)[:30] not in name_key(value):
                    return value
        scope = scope.getparent()
        if scope is None or scope.tag in ("body", "html"):
            break
    return None


def subtitle(page: Page, headline: str, lead: str | None) -> str | None:
    """JSON-LD alternativeHeadline, else the visible standfirst."""
    alt = clean_text(page.article.get("alternativeHeadline"))
    if alt and alt != headline:
        return alt
    return lead


def description(page: Page) -> str | None:
    value = page.meta("description", "og:description", "twitter:description") or \
        clean_text(page.article.get("description"))
    return clean_text(value) or None


def _first_str(value: Any) -> str:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), "")
    return clean_text(value)


def section(page: Page) -> str | None:
    return (clean_text(page.meta("article:section")) or _first_str(
        page.article.get("articleSection")) or None)


def tags(page: Page) -> list[str]:
    values = page.meta_all("article:tag")
    if not values:
        keywords = page.article.get("keywords")
        if isinstance(keywords, list):
            values = [k for k in keywords if isinstance(k, str)]
        elif isinstance(keywords, str):
            values = keywords.split(",")
    if not values:
        raw = page.meta("news_keywords", "keywords")
        values = raw.split(",") if raw else []
    out = [clean_text(v) for v in values]
    return list(dict.fromkeys(v for v in out if v and len(v) <= 80))


def language(page: Page) -> str | None:
    for raw in (page.doc.get("lang"), _first_str(page.article.get("inLanguage")),
                page.meta("og:locale", "content-language", "language", "dc.language")):
        code = re.split(r"[-_]", (raw or "").strip().lower())[0]
        if re.fullmatch(r"[a-z]{2}", code):
            return code
    return None


def _image_object(page: Page) -> dict[str, Any]:
    image = page.resolve(page.article.get("image"))
    if isinstance(image, list):
        image = page.resolve(image[0]) if image else None
    if isinstance(image, str):
        return {"url": image}
    return image if isinstance(image, dict) else {}


def image(page: Page) -> tuple[str | None, str | None, str | None]:
    """(url, caption, credits) of the lead image."""
    obj = _image_object(page)
    url = page.meta("og:image", "og:image:url", "og:image:secure_url", "twitter:image")
    if not url:
        url = obj.get("url") or obj.get("contentUrl")
    caption = clean_text(obj.get("caption")) or clean_text(page.meta("og:image:alt")) or None
    credit: Any = obj.get("creditText") or obj.get("copyrightHolder") or obj.get("author")
    if isinstance(credit, list):
        credit = credit[0] if credit else None
    if isinstance(credit, dict):
        credit = credit.get("name")
    credits = clean_text(credit) or None
    if isinstance(url, str) and url.strip():
        return urljoin(page.url, url.strip()), caption, credits
    return None, caption, credits


def related_urls(page: Page, canonical: str) -> list[str]:
    """Links the article itself offers as related reading (a related block inside <article>)."""
    own = registrable_domain(urlsplit(page.url).hostname or "")
    out: list[str] = []
    for href in page.doc.xpath(
            '//article//*[contains(translate(@class, "RELATED", "related"), "related")]//a/@href'):
        url = urljoin(page.url, href.strip()).split("#")[0]
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and registrable_domain(parts.hostname or "") == own \
                and url != canonical and parts.path.count("/") >= 2:
            out.append(url)
    return list(dict.fromkeys(out))[:30]
