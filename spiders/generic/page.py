"""One parsed page with its structured data indexed once: JSON-LD objects, meta tags, site names.

Everything the metadata, author and date modules read comes from here, so each page's JSON-LD is
decoded and its <meta> elements walked exactly once.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import lxml.html

from contracts.urls import registrable_domain
from spiders.htmltools import NotAnArticle

# schema.org types that are an article (or a post that reads as one).
ARTICLE_TYPES = frozenset({
    "Article", "NewsArticle", "AnalysisNewsArticle", "AskPublicNewsArticle",
    "BackgroundNewsArticle", "OpinionNewsArticle", "ReportageNewsArticle", "ReviewNewsArticle",
    "SatiricalArticle", "ScholarlyArticle", "TechArticle", "Report", "BlogPosting",
    "LiveBlogPosting", "SocialMediaPosting", "DiscussionForumPosting",
})
# Parsed like trafilatura parses (no comments or processing instructions), so the tree can be
# handed to trafilatura afterwards without a second parse.
_PARSER = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False,
                               default_doctype=False)
_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"\W+")


def clean_text(value: Any) -> str:
    """A JSON-LD or meta string as a reader would see it: entities decoded (some sites escape
    twice: '&amp;#8217;'), tags dropped, whitespace collapsed."""
    if not isinstance(value, str):
        return ""
    if "&" in value:
        value = htmllib.unescape(htmllib.unescape(value))
    if "<" in value and ">" in value:
        value = re.sub(r"<[^>]{0,300}>", " ", value)
    return _WS.sub(" ", value).strip()


def name_key(value: str) -> str:
    """A loose key to compare organisation names: 'The Daily' ~ 'daily' ~ 'thedaily.example'.
    """
    key = _NON_WORD.sub("", value.casefold())
    for suffix in ("com", "couk", "org", "net", "news"):
        if key.endswith(suffix) and len(key) > len(suffix) + 3:
            key = key[: -len(suffix)]
            break
    return key.removeprefix("the").removeprefix("www")


def types_of(obj: dict[str, Any]) -> set[str]:
    raw = obj.get("@type")
    items = raw if isinstance(raw, list) else [raw]
    # "http://schema.org/NewsArticle" and "schema:NewsArticle" are the same type.
    return {re.split(r"[/:]", t)[-1] for t in items if isinstance(t, str)}


def parse_document(html: str) -> lxml.html.HtmlElement:
    """The tree trafilatura itself would build (its load_html: the same parser options, plus its
    repairs of doctypes libxml2 mishandles), so the floor is computed on the page trafilatura
    sees; lxml's document parser when trafilatura finds no tree."""
    if not html or not html.strip():
        raise NotAnArticle("empty page")
    doc = None
    try:
        from trafilatura.utils import load_html

        doc = load_html(html)
    except Exception:  # a trafilatura bug on odd input: parse it ourselves
        doc = None
    if doc is None or doc.tag != "html":
        try:
            try:
                doc = lxml.html.document_fromstring(html, parser=_PARSER)
            except ValueError:  # a str with an XML encoding declaration: lxml wants bytes
                doc = lxml.html.document_fromstring(html.encode("utf-8"), parser=_PARSER)
        except (lxml.etree.ParserError, ValueError) as exc:
            raise NotAnArticle(f"unparseable HTML: {exc}") from None
    if doc is None or len(doc) == 0:
        raise NotAnArticle("empty page")
    return doc


def _walk_jsonld(data: Any, out: list[dict[str, Any]], depth: int = 0) -> None:
    """Collect top-level objects, @graph members and list members (not every nested object:
    an article's author or image are reached through the article itself)."""
    if depth > 4:
        return
    if isinstance(data, list):
        for item in data:
            _walk_jsonld(item, out, depth + 1)
    elif isinstance(data, dict):
        graph = data.get("@graph")
        if isinstance(graph, list | dict):
            _walk_jsonld(graph, out, depth + 1)
        if "@type" in data or "@id" in data:
            out.append(data)
        main = data.get("mainEntity")
        if isinstance(main, dict) and types_of(main) & ARTICLE_TYPES:
            out.append(main)


# A CDATA wrapper (XHTML habit, sometimes behind `//`) that the HTML parser keeps as text.
_CDATA = re.compile(r"^(?://\s*)?<!\[CDATA\[|(?://\s*)?\]\]>$")


def _jsonld(doc: lxml.html.HtmlElement) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for script in doc.xpath('//script[@type="application/ld+json"]'):
        raw = (script.text or "").strip()
        if raw.startswith(("<![CDATA[", "//")):
            raw = _CDATA.sub("", raw).strip()
        if not raw:
            continue
        try:
            # strict=False: raw newlines inside strings are common in hand-written JSON-LD.
            data = json.loads(raw, strict=False)
        except json.JSONDecodeError:
            try:  # trailing commas and HTML comment wrappers are the usual breakages
                fixed = re.sub(r",\s*([}\]])", r"\1", raw.strip().removeprefix("<!--")
                               .removesuffix("-->"))
                data = json.loads(fixed, strict=False)
            except json.JSONDecodeError:
                continue
        _walk_jsonld(data, objects)
    return objects


@dataclass
class Page:
    url: str
    doc: lxml.html.HtmlElement
    jsonld: list[dict[str, Any]]
    by_id: dict[str, dict[str, Any]]
    metas: dict[str, list[str]]  # lowercased name/property ("itemprop:x") -> contents, in order
    article: dict[str, Any] = field(default_factory=dict)  # the JSON-LD article object, if any
    site_names: set[str] = field(default_factory=set)  # name_key()s of the site and publisher
    html: str = ""  # the source, for the rare second parse
    link_text: set[str] = field(default_factory=set)  # every link's text, filled by pagekind

    def meta(self, *keys: str) -> str | None:
        """The first non-empty value of the first key present (keys in order of preference)."""
        for key in keys:
            for value in self.metas.get(key, ()):
                if value:
                    return value
        return None

    def meta_all(self, key: str) -> list[str]:
        return [v for v in self.metas.get(key, ()) if v]

    def resolve(self, value: Any) -> Any:
        """A JSON-LD {"@id": ...} reference replaced by the object it names, when present."""
        if isinstance(value, dict) and set(value) <= {"@id", "@type"} and "@id" in value:
            return self.by_id.get(value["@id"], value)
        return value

    def is_site_name(self, name: str) -> bool:
        key = name_key(name)
        return bool(key) and any(key == s or (len(s) >= 4 and key.startswith(s) and
                                              len(key) - len(s) <= 4) for s in self.site_names)


def _metas(doc: lxml.html.HtmlElement) -> dict[str, list[str]]:
    metas: dict[str, list[str]] = {}
    for el in doc.iter("meta"):
        key = el.get("property") or el.get("name")
        if not key:
            # Microdata <meta itemprop> describes whatever item encloses it (an image's author
            # is its photographer): kept apart from the page-level meta tags.
            prop = el.get("itemprop")
            if not prop:
                continue
            key = "itemprop:" + prop
        content = el.get("content")
        if content is None:
            content = el.get("datetime") or ""
        metas.setdefault(key.strip().lower(), []).append(_WS.sub(" ", content).strip())
    return metas


def _pick_article(page: Page) -> dict[str, Any]:
    """The article object: article-typed, preferring the one about this URL and the richest."""
    candidates = [o for o in page.jsonld if types_of(o) & ARTICLE_TYPES]
    if not candidates:
        return {}
    path = urlsplit(page.url).path.rstrip("/")

    def score(obj: dict[str, Any]) -> tuple[int, int]:
        own = obj.get("url") or obj.get("mainEntityOfPage") or ""
        if isinstance(own, dict):
            own = own.get("@id") or own.get("url") or ""
        same = bool(path) and isinstance(own, str) and urlsplit(own).path.rstrip("/") == path
        richness = sum(k in obj for k in ("headline", "datePublished", "author", "articleBody"))
        return int(same), richness

    return max(candidates, key=score)  # max keeps the first of equals: page order


def _site_names(page: Page) -> set[str]:
    names: list[str] = []
    # <meta value=...> (no content): browsers ignore it, but it is the page's own word
    valued: dict[str, list[str]] = {}
    for el in page.doc.xpath("//meta[@value][not(@content)]"):
        key = (el.get("name") or el.get("property") or "").strip().lower()
        valued.setdefault(key, []).append(" ".join(el.get("value", "").split()))
    for key in ("og:site_name", "application-name", "apple-mobile-web-app-title", "twitter:site",
                "publisher", "dc.publisher", "article:publisher"):
        values = page.meta_all(key) or valued.get(key, [])
        names.extend(v.lstrip("@") for v in values if v and "/" not in v)
    for obj in page.jsonld:
        kinds = types_of(obj)
        if kinds & {"WebSite", "NewsMediaOrganization", "Organization"} and \
                not kinds & {"Person"}:
            if obj is page.article:
                continue
            names.append(clean_text(obj.get("name")))
            alt = obj.get("alternateName")
            names.extend(clean_text(a) for a in (alt if isinstance(alt, list) else [alt]))
    publisher = page.resolve(page.article.get("publisher"))
    for pub in publisher if isinstance(publisher, list) else [publisher]:
        pub = page.resolve(pub)
        if isinstance(pub, dict):
            names.append(clean_text(pub.get("name")))
        elif isinstance(pub, str):
            names.append(pub)
    host = (urlsplit(page.url).hostname or "").removeprefix("www.")
    names.append(host)
    domain = registrable_domain(host)
    if "." in domain and domain.rsplit(".", 1)[1].isalpha():  # not an IP address
        # the registrable label: 'thedaily' of thedaily.com, 'paper' of paper.co.uk
        names.append(domain.split(".", 1)[0])
    return {k for k in (name_key(n) for n in names if n) if len(k) >= 2}


def load(html: str, url: str) -> Page:
    doc = parse_document(html)
    objects = _jsonld(doc)
    by_id = {o["@id"]: o for o in objects
             if isinstance(o.get("@id"), str) and set(o) - {"@id", "@type", "@context"}}
    page = Page(url=url, doc=doc, jsonld=objects, by_id=by_id, metas=_metas(doc), html=html)
    page.article = _pick_article(page)
    page.site_names = _site_names(page)
    return page
