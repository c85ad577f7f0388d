"""Is this page an article? Section fronts, tag pages, video-only pages, consent walls and bot
blocks raise NotAnArticle with a reason, so spiders count and skip them instead of storing junk.

Checked twice: before the body (cheap structural evidence: block-page titles, what the page says
it is in og:type and JSON-LD, teaser links against prose paragraphs) and after it (too little
text). Article evidence (an article-typed JSON-LD object or og:type article) protects a page from
the structural verdicts, since real articles often also carry WebPage/ItemList JSON-LD.
"""

from __future__ import annotations

import re

from spiders.generic.page import Page, types_of
from spiders.htmltools import NotAnArticle, text

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
_LISTING_TYPES = frozenset({"CollectionPage", "SearchResultsPage", "ProfilePage", "ItemPage",
                            "ContactPage", "AboutPage", "FAQPage"})
_VIDEO_TYPES = frozenset({"VideoObject", "VideoGallery", "Clip", "Episode", "Movie",
                          "PodcastEpisode", "AudioObject", "ImageGallery"})
_SENTENCE_END = re.compile(r"[.!?…:;)\"'”’»]\s*$")
MIN_WORDS = 25  # below this nothing is an article
WEAK_WORDS = 80  # below this a page needs article evidence


def has_article_evidence(page: Page) -> bool:
    og_type = (page.meta("og:type") or "").lower()
    return bool(page.article) or og_type == "article" or og_type.startswith("article")


def _teasers_and_prose(page: Page) -> tuple[int, int]:
    """Links that look like story teasers (5+ words of link text) and paragraphs of prose
    (20+ words not inside a link). The teasers' text is kept on the page for check_body."""
    teasers = 0
    texts = []
    for a in page.doc.iter("a"):
        words = (a.text_content() or "").split()
        if len(words) >= 5:
            teasers += 1
            texts.append(" ".join(words))
    page.link_text = "\n".join(texts)
    prose = 0
    for p in page.doc.iter("p"):
        if len((p.text_content() or "").split()) >= 20 and next(p.iterancestors("a"), None) \
                is None:
            prose += 1
    return teasers, prose


def check_page(page: Page) -> None:
    """Structural verdicts, before any body extraction."""
    title = text(page.doc.find(".//title"))
    if title and len(title.split()) <= 8 and _BLOCK_TITLE.match(title) and not page.article:
        raise NotAnArticle(f"block or consent page (title {title[:60]!r})")
    if has_article_evidence(page):
        return
    types = set().union(*(types_of(o) for o in page.jsonld)) if page.jsonld else set()
    og_type = (page.meta("og:type") or "").lower()
    if og_type.startswith("video") or (types & _VIDEO_TYPES and not types - _VIDEO_TYPES - {
            "WebPage", "WebSite", "Organization", "BreadcrumbList", "NewsMediaOrganization",
            "ImageObject", "Person"}):
        raise NotAnArticle("video or gallery page (og:type/JSON-LD, no article)")
    listing = types & _LISTING_TYPES
    teasers, prose = _teasers_and_prose(page)
    if listing and prose < 8:
        raise NotAnArticle(f"JSON-LD {sorted(listing)[0]} without an article")
    if og_type in ("website", "profile", "book", "music.playlist") and (teasers >= 5 or prose < 3):
        raise NotAnArticle(f"og:type {og_type} without an article ({teasers} teaser links, "
                           f"{prose} paragraphs)")
    if teasers >= 5 and teasers > 2 * prose:
        raise NotAnArticle(f"section or tag page ({teasers} teaser links, {prose} paragraphs, "
                           f"og:type {og_type or 'none'})")


def check_body(page: Page, paragraphs: list[str]) -> None:
    """Verdicts on the extracted text."""
    if not paragraphs:
        raise NotAnArticle("no body text found")
    words = sum(len(p.split()) for p in paragraphs)
    evidence = has_article_evidence(page)
    # A wall's few lines ask for cookies or JavaScript. (A real article about cookie rules is
    # longer, or says it is an article.)
    if (words < WEAK_WORDS or (words < 200 and not evidence)) and \
            _BLOCK_BODY.search(" ".join(paragraphs[:6])):
        raise NotAnArticle("block or consent page (body asks for cookies/JS/verification)")
    if words < MIN_WORDS:
        raise NotAnArticle(f"very short body ({words} words)")
    # Running text: paragraphs of a dozen words or more that end like sentences. Menus, link
    # lists and teaser grids have words but no sentences.
    running = sum(len(p.split()) for p in paragraphs
                  if len(p.split()) >= 12 and _SENTENCE_END.search(p))
    if words < WEAK_WORDS:
        types = set().union(*(types_of(o) for o in page.jsonld)) if page.jsonld else set()
        if types & _VIDEO_TYPES or (page.meta("og:type") or "").lower().startswith("video"):
            raise NotAnArticle(f"video or gallery page ({words} words of text)")
    if running < (0.3 if evidence else 0.5) * words:
        raise NotAnArticle(f"no running text ({running} of {words} words in sentences)")
    if evidence:
        return
    if words < WEAK_WORDS:
        raise NotAnArticle(f"short body ({words} words) and nothing says it is an article")
    if page.link_text:
        # A section front whose teaser cards are whole links: the "body" is link text.
        linked = sum(len(p.split()) for p in paragraphs if " ".join(p.split()) in page.link_text)
        if linked >= 0.5 * words:
            raise NotAnArticle(f"listing page ({linked} of {words} body words are link text)")
