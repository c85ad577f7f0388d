"""trafilatura's own answers on the tree we already parsed: the floor every field starts from.

The extractor must never be worse than a plain `trafilatura.bare_extraction(html, url=url,
with_metadata=True)`. So each field starts from what trafilatura (and htmldate, which it calls
for dates) would answer, and is replaced only where a more precise source is present (JSON-LD, a
visible byline or <time>, a site parser). The answers are computed on first use only: on most
pages the precise source exists and trafilatura's slower passes (htmldate's scan, the author
search on a copy of the tree) never run. These are the same steps, in the same order, as
trafilatura.metadata.extract_metadata (trafilatura is pinned at 2.3.x for this reason).
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import lxml.html

log = logging.getLogger(__name__)


class Floor:
    def __init__(self, doc: lxml.html.HtmlElement, url: str) -> None:
        self.doc = doc
        self.url = url or None

    @cached_property
    def _meta(self) -> Any:
        """trafilatura's meta-tag and JSON-LD pass (cheap: no copy of the tree)."""
        from trafilatura.metadata import examine_meta, extract_meta_json

        try:
            meta = examine_meta(self.doc)
            if meta.author and " " not in meta.author:
                meta.author = None  # trafilatura's own rule: one-word meta authors are handles
            return extract_meta_json(self.doc, meta)
        except Exception:  # a trafilatura bug on an odd page: no floor for these fields
            log.debug("trafilatura metadata failed on %s", self.url, exc_info=True)
            from trafilatura.settings import Document

            return Document()

    @cached_property
    def title(self) -> str | None:
        from trafilatura.metadata import extract_title

        try:
            return self._meta.title or extract_title(self.doc) or None
        except Exception:
            return None

    @cached_property
    def authors(self) -> list[str]:
        from trafilatura.metadata import extract_author

        try:
            raw = self._meta.author or extract_author(self.doc) or ""
        except Exception:
            raw = ""
        return [a.strip() for a in raw.split(";") if a.strip()]

    @cached_property
    def day(self) -> str | None:
        """htmldate's publication day (YYYY-MM-DD), as trafilatura asks for it."""
        from htmldate import find_date
        from trafilatura.metadata import extract_url
        from trafilatura.settings import set_date_params

        try:
            params = set_date_params(True)
            params["url"] = self._meta.url or extract_url(self.doc, self.url)
            return find_date(self.doc, **params) or None
        except Exception:
            log.debug("htmldate failed on %s", self.url, exc_info=True)
            return None
