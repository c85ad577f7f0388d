"""Small HTML helpers shared by the site parsers and the generic extractor (pure functions)."""

from __future__ import annotations

import json
import re
from typing import Any

import lxml.html

_WS = re.compile(r"\s+")


class NotAnArticle(ValueError):
    """The page does not look like an article of the expected kind (a quality-gate failure)."""


def parse_html(html: str) -> lxml.html.HtmlElement:
    if not html or not html.strip():
        raise NotAnArticle("empty page")
    try:
        return lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise NotAnArticle(f"unparseable HTML: {exc}") from None


def text(el: lxml.html.HtmlElement | None) -> str:
    """Visible text of an element with whitespace collapsed (newlines never survive)."""
    if el is None:
        return ""
    return _WS.sub(" ", el.text_content()).strip()


def first(doc: lxml.html.HtmlElement, css: str) -> lxml.html.HtmlElement | None:
    found = doc.cssselect(css)
    return found[0] if found else None


def meta(doc: lxml.html.HtmlElement, key: str) -> str | None:
    """A <meta name=...> or <meta property=...> value, stripped; None when absent or empty."""
    for attr in ("property", "name"):
        for el in doc.xpath(f"//meta[@{attr}=$k]", k=key):
            value = (el.get("content") or "").strip()
            if value:
                return value
    return None


def meta_all(doc: lxml.html.HtmlElement, key: str) -> list[str]:
    values = [(el.get("content") or "").strip() for el in doc.xpath("//meta[@property=$k]", k=key)]
    return [v for v in values if v]


def json_ld(doc: lxml.html.HtmlElement) -> list[dict[str, Any]]:
    """Every JSON-LD object on the page, with @graph lists flattened; broken blocks are skipped."""
    objects: list[dict[str, Any]] = []
    for script in doc.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text_content() or "")
        except json.JSONDecodeError:
            continue
        stack = data if isinstance(data, list) else [data]
        for obj in stack:
            if not isinstance(obj, dict):
                continue
            graph = obj.get("@graph")
            if isinstance(graph, list):
                objects.extend(o for o in graph if isinstance(o, dict))
            else:
                objects.append(obj)
    return objects


