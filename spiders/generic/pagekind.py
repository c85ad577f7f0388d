"""Is this page an article? A listed page is one until proven otherwise.

A page is refused only when there is nothing to extract: no body at all, a block or consent wall
(its few lines ask for cookies or JavaScript), or a page that says it is not an article (og:type
website or a JSON-LD CollectionPage/ItemList; a video) and whose "body" is nothing but teaser
links or a caption. Everything else, however
short, list-like or oddly typed (og:type website is common on real articles), is an article.
The verdict is a short string that becomes the record's reject_reason ("not_article: ...").

Words are counted per script: text written without spaces (Chinese, Japanese, Korean in part,
Thai, Lao, Khmer, Burmese) counts each character, since splitting on spaces would see one
"word" in a whole paragraph.
"""

from __future__ import annotations

import re

from spiders.generic.page import Page, types_of
from spiders.htmltools import text

NOSPACE = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff" \
          "\uf900-\ufaff\uac00-\ud7af\uff66-\uff9f"
_WORD = re.compile(rf"[{NOSPACE}]|[^\W{NOSPACE}]+")
# A sentence ends with these (CJK full stops and quotes included).
SENTENCE_END = re.compile(r"[.!?…:;)\]\"'”’»。！？」』）]\s*$")

_BLOCK_TITLE = re.compile(
    r"^(?:access\s+denied|just\s+a\s+moment|attention\s+required|are\s+you\s+a\s+robot|"
    r"security\s+check|verify(?:ing)?\s+you\s+are\s+(?:a\s+)?human|captcha|"
    r"page\s+not\s+found|404\b|not\s+found|error\b|forbidden|service\s+unavailable|"
    r"before\s+you\s+continue|we\s+value\s+your\s+privacy|privacy\s+(?:settings|choices)|"
    r"cookie\s+(?:consent|settings|policy)|consent|subscribe\s+to\s+continue|"
    r"please\s+enable\s+(?:javascript|cookies)|one\s+more\s+step|pardon\s+our\s+interruption)",
    re.IGNORECASE)
_BLOCK_BODY = re.compile(
    r"enable\s+(?:javascript|cookies)|(?:accept|reject)\s+(?:all\s+)?cookies|"
    r"we\s+(?:and\s+our\s+partners\s+)?(?:use|store)\s+cookies|cookie\s+(?:policy|settings)|"
    r"verify\s+(?:that\s+)?you\s+are\s+(?:a\s+)?human|unusual\s+traffic|access\s+(?:to\s+this\s+"
    r"page\s+)?(?:has\s+been\s+)?denied|are\s+you\s+a\s+robot|captcha|ray\s+id|"
    r"consent\s+(?:to|preferences)|manage\s+(?:your\s+)?(?:privacy|consent)",
    re.IGNORECASE)
_LISTING_TYPES = frozenset({"CollectionPage", "SearchResultsPage", "ProfilePage", "ItemList"})
_VIDEO_TYPES = frozenset({"VideoObject", "VideoGallery", "Clip", "Episode", "Movie",
                          "PodcastEpisode", "AudioObject", "ImageGallery"})
MIN_WORDS = 10  # fewer words than this is no body at all
CAPTION_WORDS = 40  # a video or listing page with less than this has only a caption


def word_count(value: str) -> int:
    return len(_WORD.findall(value))


def has_article_evidence(page: Page) -> bool:
    og_type = (page.meta("og:type") or "").lower()
    return bool(page.article) or og_type.startswith("article")


def link_text(page: Page) -> set[str]:
    """The text of every link of up to 40 words (a menu item or a teaser headline, not a whole
    article some sites wrap in a link), whitespace collapsed; read before the body is
    extracted."""
    texts = set()
    for a in page.doc.iter("a"):
        words = (a.text_content() or "").split()
        if 1 <= len(words) <= 40:
            texts.add(" ".join(words))
    return texts


def _linked_words(paragraphs: list[str], joined: str, links: set[str]) -> int:
    """Body words that are link text: paragraphs that are a whole link, or link texts of 2+
    words found as whole words inside a paragraph trafilatura glued together (each text
    counted once)."""
    whole = sum(word_count(p) for p in paragraphs if " ".join(p.split()) in links)
    inside = sum(word_count(t) for t in links if len(t.split()) >= 2 and
                 _contains_word(joined, t))
    return max(whole, inside)


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"  # exactly the regex \w on str (CPython's sre: ISALNUM or _)


def _contains_word(haystack: str, needle: str) -> bool:
    r"""`needle` occurs in `haystack` with no word character right before or after it: what
    re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack) answers, without compiling a
    pattern per link text (hundreds per page, past the re module's cache)."""
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        if (start == 0 or not _is_word_char(haystack[start - 1])) and \
                (end == len(haystack) or not _is_word_char(haystack[end])):
            return True
        start = haystack.find(needle, start + 1)
    return False


def verdict(page: Page, paragraphs: list[str], title: str = "") -> str | None:
    """None for an article; else why the page has nothing to extract."""
    joined = " ".join(" ".join(p.split()) for p in paragraphs)
    if title:
        joined = joined.replace(" ".join(title.split()), " ")  # the headline alone is no body
    words = word_count(joined)
    linked = min(words, _linked_words(paragraphs, joined, page.link_text))
    evidence = has_article_evidence(page)
    if words < MIN_WORDS or (words - linked < MIN_WORDS and evidence):
        return f"no body ({words - linked} words besides links and the headline)"
    page_title = text(page.doc.find(".//title"))
    if not page.article and words < 200 and (
            (page_title and len(page_title.split()) <= 8 and _BLOCK_TITLE.match(page_title)) or
            (words < 80 and _BLOCK_BODY.search(joined[:2000]))):
        return "block or consent page"
    if evidence:
        return None
    types = set().union(*(types_of(o) for o in page.jsonld)) if page.jsonld else set()
    og_type = (page.meta("og:type") or "").lower()
    if words < CAPTION_WORDS and (og_type.startswith("video") or types & _VIDEO_TYPES):
        return f"video or gallery page ({words} words of text)"
    listing = types & _LISTING_TYPES or og_type in ("website", "profile", "object")
    if listing and linked >= 0.8 * words:
        # A page that says it is a front or a collection, whose "body" is its teaser cards
        # (other pages' headlines). Without that statement, a list of links is an article.
        kind = sorted(types & _LISTING_TYPES)[0] if types & _LISTING_TYPES else "listing"
        return f"{kind} page ({linked} of {words} body words are link text)"
    return None
