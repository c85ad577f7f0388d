"""Turn the seed file (one real article as a reader copied it) into a ReplicaArticle.

The file is plain text: blank-line separated blocks, lines wrapped at a fixed width. Its text is
read at run time only; none of it is copied into this repository. What the file does not say
(time of day, section, tags, image file name) is fixed by our spec below.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time

from replica.model import MOSCOW, Author, Block, ContentError, Image, ReplicaArticle

SEED_PUBLISHED_TIME = time(18, 42)  # the reader's copy shows only the date
SEED_SECTION = "news"
SEED_TAGS = ("Ukraine", "France", "Kremlin")
SEED_IMAGE_FILE = "e2/macron-putin-call.jpg"

RELATED_MARK = " Related article:"  # the leading space tells a card from body text
ORIGINAL_MARK = "Original url:"
CHROME_BLOCKS = 2  # logo and tagline

_CANONICAL_RE = re.compile(
    r"^https://www\.themoscowtimes\.com/(\d{4})/(\d{2})/(\d{2})/([a-z0-9-]+)-a(\d+)$"
)


def parse_seed(text: str) -> ReplicaArticle:
    lines = text.splitlines()
    cut = next((i for i, line in enumerate(lines) if line.strip() == ORIGINAL_MARK), None)
    if cut is None:
        raise ContentError(f"seed has no {ORIGINAL_MARK!r} line")
    blocks = _split_blocks(lines[:cut])
    if len(blocks) < CHROME_BLOCKS + 5:
        raise ContentError(f"seed has only {len(blocks)} text blocks before {ORIGINAL_MARK!r}")
    title_block, byline_block, date_block, caption_block, *body = blocks[CHROME_BLOCKS:]

    urls = _urls(lines[cut + 1 :])
    if not urls:
        raise ContentError(f"seed has no URL after {ORIGINAL_MARK!r}")
    match = _CANONICAL_RE.match(urls[0])
    if match is None:
        raise ContentError(f"seed canonical URL {urls[0]!r} is not an article URL")
    year, month, day, slug, article_id = match.groups()

    byline = _join(byline_block)
    if not byline.startswith("By "):
        raise ContentError(f"seed byline {byline!r} does not start with 'By '")

    blocks_out = _body_blocks(body, related_urls=_dedupe(urls[1:]))
    paragraphs = [p for b in blocks_out if b.type == "html" for p in b.paragraphs]
    if not paragraphs:
        raise ContentError("seed has no body paragraphs")

    caption, credits = _caption_credits(_join(caption_block))
    published = datetime.combine(
        date(int(year), int(month), int(day)), SEED_PUBLISHED_TIME, tzinfo=MOSCOW
    )
    return ReplicaArticle(
        id=int(article_id),
        published=published,
        modified=published,
        section=SEED_SECTION,
        label=None,
        slug=slug,
        alt_slugs=(),
        title=_join(title_block),
        subtitle=None,
        authors=_authors(byline[len("By ") :]),
        description=paragraphs[0],
        tags=SEED_TAGS,
        image=Image(SEED_IMAGE_FILE, caption, credits),
        blocks=blocks_out,
        date_display=_join(date_block),
    )


def _split_blocks(lines: list[str]) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _join(lines: list[str]) -> str:
    return " ".join(line.strip() for line in lines)


def _urls(lines: list[str]) -> list[str]:
    """URLs wrapped over several lines: a continuation line does not start with http."""
    urls: list[str] = []
    for line in (raw.strip() for raw in lines):
        if not line:
            continue
        if line.startswith(("http://", "https://")) or not urls:
            urls.append(line)
        else:
            urls[-1] += line
    return urls


def _dedupe(urls: list[str]) -> list[str]:
    # The copy repeats a card's URL (link text and href); keep each once, in order.
    out: list[str] = []
    for url in urls:
        if url not in out:
            out.append(url)
    return out


def _caption_credits(text: str) -> tuple[str, str]:
    # "Caption sentence. Photographer / Agency": the credits tail follows the last ". ".
    head, sep, tail = text.rpartition(". ")
    if not sep:
        return text, ""
    return head + ".", tail


def _authors(names: str) -> tuple[Author, ...]:
    out = []
    for name in re.split(r", | and ", names):
        name = name.strip()
        if name:
            out.append(Author(name, re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")))
    return tuple(out)


def _body_blocks(blocks: list[list[str]], related_urls: list[str]) -> tuple[Block, ...]:
    """Body paragraphs and related-article cards, grouped the way the site's editor does.

    The first paragraph is a block of its own (the site injects its ad banner after block 1,
    which in the original sits right after the lead paragraph); later paragraphs share an html
    block until a related-article card interrupts them.
    """
    items: list[tuple[str, str]] = []  # ("p", text) or ("link", card title)
    for block in blocks:
        paragraph: list[str] = []
        card: list[str] | None = None
        for line in block:
            if card is not None:
                card.append(line)  # a card runs to the end of its block
            elif line.startswith(RELATED_MARK):
                if paragraph:
                    items.append(("p", _join(paragraph)))
                    paragraph = []
                card = [line[len(RELATED_MARK) :]]
            else:
                paragraph.append(line)
        if paragraph:
            items.append(("p", _join(paragraph)))
        if card is not None:
            items.append(("link", _join(card)))

    cards = sum(1 for kind, _ in items if kind == "link")
    if cards > len(related_urls):
        raise ContentError(f"seed has {cards} related cards but {len(related_urls)} related URLs")
    urls = iter(related_urls)

    out: list[Block] = []
    group: list[str] = []
    for kind, text in items:
        if kind == "p":
            group.append(text)
            if len(out) == 0 and len(group) == 1:
                out.append(Block("html", paragraphs=tuple(group)))
                group = []
            continue
        if group:
            out.append(Block("html", paragraphs=tuple(group)))
            group = []
        out.append(Block("link", url=next(urls), title=text))
    if group:
        out.append(Block("html", paragraphs=tuple(group)))
    return tuple(out)
