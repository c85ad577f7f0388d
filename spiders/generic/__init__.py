"""The generic article extractor: any news site without a parser of its own.

Evidence is read in order of how much the publisher vouches for it: JSON-LD (the article object,
@graph and @id references resolved), then OpenGraph/meta tags and microdata, then the visible page
(h1, bylines, <time>). The body comes from one trafilatura run, cleaned of boilerplate, or from the
JSON-LD articleBody when that is the complete text. See extract() for the record it returns.

Modules: page.py (parse once, index JSON-LD and meta), metadata.py (title, url, section...),
authors.py, dates.py, body.py (+ boilerplate.py), pagekind.py (the refusals), floor.py
(trafilatura's own answers, the floor of every field).
"""

from spiders.generic.core import empty_record, extract

__all__ = ["empty_record", "extract"]
