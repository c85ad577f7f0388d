"""The article body: one trafilatura run, cleaned; or the JSON-LD articleBody when it is complete.

trafilatura finds the main text well but lets through what sits inside the article container:
the headline again, newsletter and share prompts, photo credits, author bios, "More from ..."
teaser blocks. Those are removed by general rules (boilerplate.py). When the page's JSON-LD
carries the full articleBody with paragraph breaks, it is the publisher's own statement of the
text and wins; a one-blob articleBody (no breaks) still serves as a whitelist that tells which of
trafilatura's paragraphs are article text.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cached_property

import lxml.html
from lxml import etree

from spiders.generic.boilerplate import (
    BIO,
    is_boilerplate_class,
    is_boilerplate_text,
    is_tail_boilerplate,
    is_tail_marker,
    starts_with_tail_marker,
)
from spiders.generic.page import Page, clean_text
from spiders.generic.pagekind import SENTENCE_END, word_count
from spiders.htmltools import text

log = logging.getLogger(__name__)
_WS = re.compile(r"\s+")
_WORDS = re.compile(r"\w+")


@dataclass
class Block:
    kind: str  # p, head, item, quote, code
    text: str
    attrs: str  # the source element's class and id, as trafilatura kept them
    group: int = -1  # list items: which list they belong to

    @cached_property
    def words(self) -> int:
        return word_count(self.text)


_BLOCKISH = frozenset({"p", "lb", "head", "item", "list", "quote", "cell", "row", "table"})


def _flat(el: etree._Element) -> str:
    """The element's text; nested block elements (a quote's paragraphs, a line break) are
    separated by a space so 'economically.</p><p>NATO' does not become 'economically.NATO'."""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            if child.tag in _BLOCKISH:
                parts.append(" ")
            walk(child)
            if child.tag in _BLOCKISH:
                parts.append(" ")
            if child.tail:
                parts.append(child.tail)

    walk(el)
    return _WS.sub(" ", "".join(parts)).strip()


def _attrs(el: etree._Element) -> str:
    return f"{el.get('class', '')} {el.get('id', '')}".strip()


def _blocks(body: etree._Element) -> list[Block]:
    blocks: list[Block] = []
    # A list's group is its position in the body: id() of the element would do only while its
    # proxy lives, and lxml frees it after each step, so two lists could share an id (and be
    # judged as one list) depending on memory reuse, which made the body differ run to run.
    for position, child in enumerate(body):
        tag = child.tag
        if tag == "list":
            for item in child.iter("item"):
                value = _flat(item)
                if value:
                    blocks.append(Block("item", value, _attrs(item) or _attrs(child),
                                        group=position))
        elif tag == "table":
            # One paragraph per row, cells joined by a space (a list article's table, a
            # schedule); a row of links or a single short cell is dropped as navigation later.
            for row in child.iter("row"):
                cells = [_flat(c) for c in row if c.tag == "cell"]
                value = " ".join(c for c in cells if c)
                if value:
                    blocks.append(Block("row", value, _attrs(child), group=position))
        elif tag in ("p", "head", "quote", "code"):
            value = _flat(child)
            if value:
                blocks.append(Block(tag, value, _attrs(child)))
    return blocks


_XML_TAGS = frozenset({"p", "head", "list", "quote", "code", "table", "graphic", "ref", "lb"})


def run_trafilatura(doc: lxml.html.HtmlElement, url: str, *, recall: bool = True
                    ) -> list[Block]:
    """One trafilatura call on the already-parsed tree (trafilatura 2.3 works on a copy of it;
    only our own drop_overlays changes page.doc).

    favor_recall by default: it keeps more of long articles (subheads, short paragraphs), and
    what it lets through in excess is what the cleaning removes anyway."""
    import trafilatura

    try:
        result = trafilatura.bare_extraction(
            doc, url=url, with_metadata=False, include_comments=False, include_tables=True,
            include_images=False, include_links=False, deduplicate=False, favor_recall=recall)
    except Exception:  # a trafilatura bug on an odd tree: fall back to articleBody, or reject
        log.warning("trafilatura failed on %s", url, exc_info=True)
        return []
    if result is None or getattr(result, "body", None) is None:
        return []
    if all(child.tag in _XML_TAGS for child in result.body):
        return _blocks(result.body)
    # A fallback extractor won and returned raw HTML: use the plain text, one line a paragraph.
    return [Block("p", line.strip(), "") for line in (result.text or "").split("\n")
            if line.strip()]


def _key(value: str) -> str:
    return " ".join(_WORDS.findall(value.casefold()))


def _ld_body(page: Page) -> str:
    raw = page.article.get("articleBody")
    if isinstance(raw, list):
        raw = "\n\n".join(r for r in raw if isinstance(r, str))
    return raw if isinstance(raw, str) else ""


_GLUED = re.compile(r"(?<=[a-z0-9%][.!?])(?=[A-Z])|(?<=[.!?][”\"’])(?=[A-Z“])")


def _fragment(line: str) -> bool:
    """'browser that', 'supports HTML5': a piece of a message broken across lines, not a
    paragraph or a heading (those start with a capital, a digit or a quote)."""
    return len(line.split()) < 4 and line[:1].islower()


def _ld_paragraphs(raw: str) -> list[str]:
    """articleBody split at its line breaks (HTML in it is flattened first)."""
    if "<" in raw and ">" in raw:
        raw = re.sub(r"(?i)</p>|<br\s*/?>|</h\d>|</li>", "\n", raw)
        raw = re.sub(r"<[^>]{0,500}>", " ", raw)
    parts = [clean_text(p) for p in re.split(r"\n\s*\n|\r?\n", raw)]
    parts = [p for p in parts if p]
    if len(parts) == 1:
        # One blob made by gluing <p> texts together: "...for several years.A series of..."
        # A sentence end followed by a capital with no space is where a paragraph ended.
        parts = [p for p in _GLUED.split(parts[0]) if p.strip()]
    return parts


def _byline_residue(text: str, authors: list[str], words: int | None = None) -> bool:
    """'Fouzia Van Der Fort|Published', 'By Jane Doe, Staff Writer': a short block that is the
    byline again (an author's name and little else). `words`: word_count(text), if known."""
    if not authors:
        return False
    if words is None:
        words = word_count(text)  # by characters in CJK: one 'word' by spaces is a paragraph
    if words > 14:
        return False
    low = text.casefold()
    return any(a.casefold() in low and words <= word_count(a) + 6 for a in authors)


def _author_bio(text: str, authors: list[str]) -> bool:
    """'A 38-year industry veteran ..., Lance has covered technology ...': a paragraph about
    one of the authors (only asked near the end of the body)."""
    low = text.casefold()
    about_author = any(a.casefold() in low for a in authors) or any(
        re.search(rf"\b{re.escape(a.split()[0].casefold())}\b", low[:120])
        for a in authors if len(a.split()) >= 2 and len(a.split()[0]) >= 3)
    return about_author and bool(BIO.search(text))


_SENTENCE_END = SENTENCE_END
_GLUED_DATE = re.compile(r"[^\W\d]\d{4}-\d{2}-\d{2}|\d{4}-\d{2}-\d{2}[^\W\d]")
_CODE = re.compile(r"\w\.\w+\s*\(\s*[{'\"]|=>|\bfunction\s*\(|\bvar\s+\w+\s*=|\bdocument\.\w+|"
                   r"\bwindow\.\w+|</?[a-z]+\s[^>]*>|\w+\.push\(")


def _is_prose(block: Block, article_attrs: str) -> bool:
    """A block that reads as the article's own running text: a paragraph of a sentence or more,
    unclassed or classed like the article's paragraphs so far (teaser cards are headings, list
    items, blurbs with their own classes, or fragments)."""
    return (block.kind in ("p", "quote") and block.attrs in ("", article_attrs) and
            block.words >= 12 and bool(_SENTENCE_END.search(block.text)) and
            not _GLUED_DATE.search(block.text))


def _shouting(block: Block) -> bool:
    """'WHAT ARE CHINA'S OVERSEAS POLICE STATIONS?': an all-capitals line in running text is a
    cross-link or promo, not a paragraph."""
    value = block.text
    if block.kind == "head" or value.upper() != value or value.lower() == value:
        return False  # a lower-case letter, or no cased letters at all (CJK)
    # Capitals in text of a script without case ('DNC' and 'AI' in Chinese) are not shouting.
    return block.words >= 4 and sum(c.upper() != c.lower() for c in value) >= 20 and \
        sum(c.isalpha() and c.upper() == c.lower() for c in value) < 5


def _short_lists(blocks: list[Block]) -> set[int]:
    """Lists whose items are all a few words: tables of contents, spec sheets, link lists,
    'Book an odd number of nights' tip headers. Lists of sentences are kept."""
    sizes: dict[int, list[int]] = {}
    introduced: set[int] = set()  # 'There are two advantages:' + a list: the text's own list
    previous: Block | None = None
    for b in blocks:
        if b.kind == "item":
            sizes.setdefault(b.group, []).append(b.words)
            if previous is not None and previous.kind == "p" and \
                    previous.text.rstrip().endswith((":", "：")):
                introduced.add(b.group)
        previous = b
    return {g for g, words in sizes.items() if max(words) < 8 and g not in introduced}


def _is_title(key: str, titles: set[str]) -> bool:
    """The headline again, alone or behind a kicker ('Politics The presidential ...')."""
    if key in titles:
        return True
    # words counted only for a title the key ends with (most blocks end with none)
    return any(key.endswith(t) and word_count(key) <= word_count(t) + 3 for t in titles)


def _clean(blocks: list[Block], titles: set[str], authors: list[str]) -> list[Block]:
    """Drop the headline repeated, boilerplate by text and by class, teaser runs.

    `titles`: _key()s of the page's headline variants (JSON-LD, og:, <title>, h1)."""
    total = sum(b.words for b in blocks) or 1
    short_lists = _short_lists(blocks)
    # All-capitals lines are promos only when they are the exception, not the house style.
    shouting_ok = sum(_shouting(b) for b in blocks) > len(blocks) / 2
    attrs_seen: dict[str, int] = {}
    out: list[Block] = []
    done = 0
    teasers = False  # after "More from ...", "Related", "Read more": until prose resumes
    for i, block in enumerate(blocks):
        before = done
        done += block.words
        key = _key(block.text)
        if not key:
            continue
        if _is_title(key, titles) or (block.kind == "head" and i < 2 and
                                      any(t.startswith(key) for t in titles)):
            continue
        if block.kind == "item" and block.group in short_lists:
            continue
        if is_tail_marker(block.text):
            teasers = True
            continue
        if teasers:
            article_attrs = max(attrs_seen, key=attrs_seen.__getitem__) if attrs_seen else ""
            if not _is_prose(block, article_attrs):
                continue
            teasers = False
        if starts_with_tail_marker(block.text) and before >= 100 and \
                before / total > 0.3:
            teasers = True  # 'You might also like <teaser>...' glued into one block
            continue
        in_tail = before / total > 0.7
        if block.kind not in ("head", "code") and is_boilerplate_text(block.text):
            continue
        if in_tail and (is_tail_boilerplate(block.text) or
                        _author_bio(block.text, authors)):
            continue
        if is_boilerplate_class(block.attrs):
            continue
        if _byline_residue(block.text, authors, block.words) or \
                (_shouting(block) and not shouting_ok):
            continue
        if block.kind == "p" and sum(block.text.count(c) for c in "{};") >= 2 and \
                _CODE.search(block.text):  # the cheap count first: few paragraphs have two
            continue  # a script's text that leaked into the page (shown code is kept)
        half = len(block.text) // 2
        if len(block.text) > 20 and block.text[:half].strip() == block.text[half:].strip():
            continue  # 'Title Title': a teaser card that repeats its own headline
        # A paragraph the page repeats stays: articles repeat lines (a refrain, a quoted
        # statement), and the shingle scores cannot see the difference either way.
        out.append(block)
        if block.kind == "p" and block.words >= 12:
            attrs_seen[block.attrs] = attrs_seen.get(block.attrs, 0) + 1
    # A heading with nothing after it is a leftover of a removed block.
    while out and out[-1].kind == "head":
        out.pop()
    return out


def _shingles(value: str, n: int = 3) -> set[tuple[str, ...]]:
    words = _key(value).split()
    return {tuple(words[i:i + n]) for i in range(max(len(words) - n + 1, 1))}


def _whitelist(blocks: list[Block], ld_text: str) -> list[Block]:
    """Keep the blocks the one-blob articleBody contains (most of their word triples: a blob
    glues paragraphs together, "end.Next", so exact containment is too strict); headings stay
    when the block after them is kept (articleBody often leaves subheads out)."""
    hay = _shingles(ld_text)

    def inside(block: Block) -> bool:
        own = _shingles(block.text)
        return len(own & hay) >= 0.5 * len(own)

    kept = [b.kind == "head" or inside(b) for b in blocks]
    out = []
    for i, block in enumerate(blocks):
        if not kept[i]:
            continue
        if block.kind == "head":
            after = next((kept[j] for j in range(i + 1, len(blocks))
                          if blocks[j].kind != "head"), False)
            if not after:
                continue
        out.append(block)
    return out


_CLOSE_GLYPHS = frozenset("×xX✕✖✗╳")
_KEEP_TAGS = frozenset({"html", "body", "main", "article"})
# The elements that can be a close button: no child elements, some attribute, a glyph in the
# text. A superset of what drop_overlays accepts, found in C instead of one Python proxy per
# element of the page; drop_overlays then applies its own tests to these few.
_CLOSE_CANDIDATES = etree.XPath(
    "descendant-or-self::*[not(*)][@*][" +
    " or ".join(f"contains(., '{g}')" for g in sorted(_CLOSE_GLYPHS)) + "]")


def drop_overlays(doc: lxml.html.HtmlElement) -> None:
    """A small box with a close button (a lone ×/X whose class, id or action says 'close') is
    an overlay: a browser-update prompt, a share sheet, a cookie or app banner. Its text is
    not the article's; the box goes before the main-text extraction."""
    boxes = []
    for el in _CLOSE_CANDIDATES(doc):
        if not isinstance(el.tag, str) or len(el) or (el.text or "").strip() not in _CLOSE_GLYPHS:
            continue
        if not any("close" in str(value).lower() for value in el.attrib.values()):
            continue
        box = el.getparent()
        if box is not None and box.tag not in _KEEP_TAGS and \
                len(" ".join(box.text_content().split())) <= 200:
            boxes.append(box)
    for box in boxes:
        if box.getparent() is not None:
            box.drop_tree()


def prose_words(doc: lxml.html.HtmlElement) -> int:
    """Words in the page's prose paragraphs (<p> of 12+ words): what a body should roughly
    hold."""
    total = 0
    for p in doc.iter("p"):
        n = word_count(p.text_content() or "")
        if n >= 12:
            total += n
    return total


def _words(blocks: list[Block]) -> int:
    return sum(b.words for b in blocks)


def title_keys(page: Page, headline: str) -> set[str]:
    """Every form of the headline the page gives, to recognise it when it recurs in the text."""
    variants = [headline, clean_text(page.article.get("headline")), page.meta("og:title"),
                page.meta("twitter:title"), text(page.doc.find(".//title"))]
    heads = [text(h) for h in page.doc.iter("h1")]
    # One <h1> is the headline; where a page has several, the others are its section headings
    # (kept in the body), so only the headline itself counts then.
    variants.extend(heads if len(heads) == 1 else [])
    return {k for k in (_key(v or "") for v in variants) if word_count(k) >= 3}


PRIMARY_RECALL = True


def extract_body(page: Page, titles: set[str], authors: list[str], *,
                 standfirst: str | None = None) -> tuple[list[str], str]:
    """The body's paragraphs, in order, each one line of text, and where they came from
    ("trafilatura", "trafilatura+default", "jsonld:articleBody", "trafilatura+jsonld").

    The standfirst is not put in front of the body: it is the subtitle (the record keeps it
    there), and the body starts where the page's own text does."""
    prose = prose_words(page.doc)
    source = "trafilatura"
    drop_overlays(page.doc)
    blocks = _clean(run_trafilatura(page.doc, page.url, recall=PRIMARY_RECALL), titles, authors)
    if prose >= 150 and _words(blocks) < 0.4 * prose:
        # favor_recall sometimes settles on one small container (a lead block) of an article
        # split into several: a second opinion from the default heuristics.
        again = _clean(run_trafilatura(page.doc, page.url, recall=not PRIMARY_RECALL), titles,
                       authors)
        if _words(again) >= 1.5 * _words(blocks):
            blocks, source = again, "trafilatura+default"
    extracted_len = sum(len(b.text) for b in blocks)
    ld_raw = _ld_body(page)
    if ld_raw:
        ld_paras = _ld_paragraphs(ld_raw)
        ld_len = sum(len(p) for p in ld_paras)
        structured = "\n" in ld_raw.strip() or ld_len > 1.3 * extracted_len
        if len(ld_paras) >= 3 and ld_len >= 0.9 * extracted_len and structured:
            ld_blocks = _clean([Block("p", p, "") for p in ld_paras if not _fragment(p)],
                               titles, authors)
            if ld_blocks:
                blocks, source = ld_blocks, "jsonld:articleBody"
        elif ld_len >= 0.8 * extracted_len and extracted_len:
            filtered = _whitelist(blocks, ld_raw)
            if sum(len(b.text) for b in filtered) >= 0.6 * extracted_len:
                blocks, source = filtered, "trafilatura+jsonld"
        elif not blocks and ld_len >= 400:
            blocks, source = [Block("p", p, "") for p in ld_paras], "jsonld:articleBody"
    return [b.text for b in blocks], source
