"""Authors: read from the page's own credits, normalised to names, never guessed.

Order of evidence: the JSON-LD article's `author`, then author meta tags, then the visible byline.
Every raw credit goes through split_byline(): "By A and B" -> [A, B], roles and photo credits
dropped, "Staff" -> nobody; Chinese/Japanese role labels likewise ("著者 A イラスト B" -> [A]).
An organisation that is the site or its publisher becomes an author only when a visible byline
credits it ("By Euronews with agencies", AP's own "Associated Press"): a publisher in the author
field of a page with no byline is a house default, not a credit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from spiders.generic.page import Page, clean_text, name_key, types_of
from spiders.htmltools import text

# Meta keys that carry author names, in order of how often they hold clean names.
_META_KEYS = ("author", "article:author", "article:author_name", "og:author", "parsely-author",
              "sailthru.author", "cxenseparse:author", "mrf:authors", "dcsext.author",
              "dc.creator", "dcterms.creator", "citation_author", "byl", "byline")
# Meta keys in "Last, First" form.
_INVERTED_KEYS = frozenset({"dc.creator", "dcterms.creator", "citation_author"})

_PREFIX = re.compile(
    r"^(?:(?:written|words|story|text|reporting|reported|compiled|posted|published|updated|"
    r"interview|analysis|opinion|commentary|column|review|report)\s+)*by\s*:?\s+"
    r"|^(?:author|authors|byline|by)\s*:\s*", re.IGNORECASE)
# A segment that credits pictures, video or editing, not writing: dropped whole.
_NOT_WRITING = re.compile(
    r"^(?:photos?|pictures?|images?|photograph(?:s|y)?|illustrations?|graphics?|video|"
    r"videography|additional reporting|edited|editing|fact[- ]checked|produced|design|"
    r"data|maps?|animation|artwork|source|sources|credit|courtesy)\b", re.IGNORECASE)
_SPLIT = re.compile(r"\s*(?:,|;|\||•|·|/|\band\b|&|\bwith\b|\bund\b|\bet\b|\bи\b|\n)\s*",
                    re.IGNORECASE)
# Nouns that make a job title; the words before them in a title.
_ROLE_HEADS = frozenset("""
writer writers reporter reporters correspondent correspondents editor editors columnist
columnists contributor contributors producer producers director journalist journalists
photographer photographers analyst analysts staff critic critics anchor presenter host
commentator blogger intern fellow researcher strategist officer manager lead head chief
""".split())
_ROLE_WORDS = _ROLE_HEADS | frozenset("""
senior junior deputy associate assistant managing executive contributing political politics
news sports sport lifestyle features feature freelance digital special investigative business
economics economic foreign national international local city health science technology tech
travel entertainment culture arts music film fashion food money finance markets market
consumer property education environment climate crime courts legal royal social media
content hub desk breaking trending weekend weekday night day morning evening global us uk
europe european africa asia washington white house wire general chief audience engagement
video data community public affairs cartoonist opinion editorial correspondent's bureau
""".split())
# Credits that name nobody.
_NOBODY = re.compile(
    r"^(?:(?:our|the|from)\s+)?(?:staff|staff\s+(?:reports?|writers?|reporters?)|"
    r"wire\s+(?:reports?|services?)|wires|agencies|news\s+agencies|web\s+desk|news\s+desk|"
    r"newsdesk|editorial\s+(?:staff|team|board)|admin|administrator|editor|editors|guest|"
    r"unknown|anonymous|none|null|n/?a|reporter|correspondent|contributor|"
    r"special\s+correspondent|our\s+correspondent|team|"
    # CMS placeholders printed where the author field was left empty
    r"no\s+authors?|no\s+byline|authors?|by|unknown\s+authors?|author\s+unknown|"
    r"not\s+available|default|user|undefined)$", re.IGNORECASE)
_CREDENTIAL = re.compile(r"^(?:ph\.?d|m\.?d|cfa|cfp|mba|esq|cpa|rn)\.?[®™]?$", re.IGNORECASE)
_BAD = re.compile(r"https?://|www\.|@|\d|\.(?:com|org|net)\b|[<>{}=]")
# A date or update stamp the byline runs on into: 'By A Updated on December 12, 2016',
# 'Joshua Sokol May 21, 2019'. A month name counts only when a day number follows it, since
# May and June are also names.
_DATE_TAIL = re.compile(
    r"\s+(?:(?:updated|published|posted|last\s+updated)\b(?!\s*by\b)|"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d).*$",
    re.IGNORECASE | re.DOTALL)
_SLUG = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")  # 'chuck-ross', 'aligharib', 'sauli.giliard'


def _strip_role(part: str) -> str:
    """'Steffan Rhys Deputy Content Hub Director' -> 'Steffan Rhys'; a credit that is nothing but
    a role -> ''; a house credit like 'MND Staff' or 'Guardian staff reporter' stays whole (one
    word before the role is an outlet, not a person's name)."""
    tokens = part.split()
    end = len(tokens)
    while end > 0 and tokens[end - 1].casefold().strip(".,") in _ROLE_WORDS:
        end -= 1
    if end == len(tokens):
        return part
    if not any(t.casefold().strip(".,") in _ROLE_HEADS for t in tokens[end:]):
        return part  # 'Gear Team', 'Business Desk Smith': no job noun, leave it
    if end == 0:
        return ""
    if end == 1:
        return part  # house credit
    return " ".join(tokens[:end])


def _tidy(name: str) -> str:
    name = " ".join(name.split()).strip(" \t-–—:.,;|()[]\"'“”‘’*")
    name = re.sub(r"[®™©]", "", name).strip()
    letters = [c for c in name if c.isalpha()]
    # 'STEVE PEOPLES' reads as a name shouted by the site's CSS: give it its usual case.
    if len(name.split()) >= 2 and letters and all(c.isupper() for c in letters):
        name = name.title()
    return name


def _plausible(name: str) -> bool:
    if not name or len(name) > 60 or _BAD.search(name) or _CREDENTIAL.match(name):
        return False
    words = name.split()
    if len(words) > 6:
        return False
    if len(words) == 1 and _SLUG.match(name) and ("-" in name or "." in name or "_" in name
                                                  or name.islower()):
        return False
    return any(c.isalpha() for c in name)


# Credits written the Chinese/Japanese way: a role label before the name ('著者 A イラスト B',
# '文● A／B編集部', '作者：A', '文/A') or after it ('A 著、B 監訳、C 訳'). Writing roles credit
# an author; drawing, photographs, translation and editing do not, nor does an editorial
# department ('…編集部').
_CJK_WRITING = ("著者", "作者", "筆者", "执笔", "執筆", "撰文", "記者", "记者", "原作", "文", "著")
_CJK_OTHER = ("イラスト", "翻訳者", "翻訳", "訳者", "監訳", "监译", "译者", "翻译", "写真", "撮影",
              "摄影", "编辑", "編集", "責任編輯", "责任编辑", "监修", "監修", "插画", "漫画", "絵",
              "画", "図", "图", "訳", "译")
_CJK_ROLE = "|".join(sorted(_CJK_WRITING + _CJK_OTHER, key=len, reverse=True))
_CJK_LABELS = rf"(?:{_CJK_ROLE})(?:[・&＆](?:{_CJK_ROLE}))*"
_HAS_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
# A label before a name: at the start or after a space or list separator, then a mark or space.
_CJK_PREFIX = re.compile(rf"(?:^|(?<=[\s、，,;；]))({_CJK_LABELS})(?:\s*[/／●○■◆◎：:]\s*|\s+)")
_CJK_SUFFIX = re.compile(rf"^(.+?)\s+({_CJK_LABELS})$")  # a label after the name
_CJK_SEGMENT = re.compile(r"\s*[、，,／/|;；]\s*")
_CJK_DEPARTMENT = re.compile(r"(?:編集部|编辑部|編輯部)$")


def _writing_role(labels: str) -> bool:
    return any(label in _CJK_WRITING for label in re.split(r"[・&＆]", labels))


def _cjk_credits(value: str) -> list[str] | None:
    """The writers in a credit with Chinese/Japanese role labels; None when it has none."""
    if not _HAS_CJK.search(value):
        return None
    if not (_CJK_PREFIX.search(value) or any(_CJK_SUFFIX.match(seg) for seg in
                                              _CJK_SEGMENT.split(value))):
        return None
    marked = _CJK_PREFIX.sub(lambda m: f"\x00{m.group(1)}\x01", value)
    names: list[str] = []
    for segment in _CJK_SEGMENT.split(marked):
        # [text before the first label, label, its text, label, its text ...]
        pieces = re.split(r"\x00([^\x01]*)\x01", segment)
        head = pieces[0].strip()
        if head:
            m = _CJK_SUFFIX.match(head)
            if m:
                if _writing_role(m.group(2)):
                    names.append(m.group(1))
            elif not _CJK_DEPARTMENT.search(head):
                names.append(head)
        for label, name in zip(pieces[1::2], pieces[2::2], strict=True):
            name = name.strip()
            if name and _writing_role(label) and not _CJK_DEPARTMENT.search(name):
                names.append(name)
    return names


def split_byline(raw: str, *, whole: bool = False) -> list[str]:
    """Names in one raw credit. `whole`: the credit is one name already (one of several
    structured authors), so it is not split at 'and' or commas ('Marks and Spencer')."""
    value = clean_text(raw)
    if not value:
        return []
    value = re.sub(r"^(?:updated|published|posted|edited)\s*(?:on|at)?\s*:?\s*$", "", value,
                   flags=re.IGNORECASE)
    value = _DATE_TAIL.sub("", value)
    # '(Image: Getty)', '[Photo: AP]': a picture credit in brackets is nobody's byline
    value = re.sub(r"[(\[]\s*(?:image|photo|picture|pictures|photograph|video|credit)s?\b[^)\]]*"
                   r"[)\]]?", " ", value, flags=re.IGNORECASE).strip()
    cjk = _cjk_credits(value)  # role labels name the writers, even in one structured name
    parts = cjk if cjk is not None else [value] if whole else _SPLIT.split(value)
    names: list[str] = []
    for part in parts:
        part = part.strip()
        while True:  # 'Updated by', 'Reporting by' ... possibly stacked
            stripped = _PREFIX.sub("", part).strip()
            if stripped == part:
                break
            part = stripped
        part = part.strip("()[] ")
        if not part or _NOT_WRITING.match(part) or _NOBODY.match(part):
            continue
        if re.match(r"^(?:updated|published|posted)\b", part, re.IGNORECASE):
            continue  # a date line that came along with the byline
        name = _tidy(_strip_role(part))
        if _NOBODY.match(name) or not _plausible(name):
            continue
        names.append(name)
    return _dedupe(names)


def _dedupe(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for n in names:
        key = " ".join(n.casefold().split())
        if key not in seen:
            seen.add(key)
            out.append(n)
    return out


def _inverted(value: str) -> str:
    """'Brazil, Rachel' -> 'Rachel Brazil' (Dublin Core / citation order)."""
    last, sep, first = value.partition(",")
    if sep and first.strip() and len(last.split()) <= 3 and len(first.split()) <= 3:
        return f"{first.strip()} {last.strip()}"
    return value


def byline_texts(page: Page) -> list[str]:
    """Visible byline texts: elements whose class/id says byline or author, and itemprop=author.
    Used to check an organisation's credit and as the last source of names."""
    found: list[str] = []
    for el in page.doc.xpath(
            '//body//*[self::div or self::span or self::p or self::a or self::address or '
            'self::li or self::section or self::header or self::footer or self::strong]'
            '[contains(translate(@class, "BYLINEAUTHOR", "bylineauthor"), "byline") or '
            'contains(translate(@class, "BYLINEAUTHOR", "bylineauthor"), "author") or '
            'contains(translate(@class, "CONTRIBUTOR", "contributor"), "contributor") or '
            'contains(translate(@id, "BYLINEAUTHOR", "bylineauthor"), "byline") or '
            '@itemprop="author"]'):
        value = text(el)
        if value and len(value) <= 200:
            found.append(value)
    return found


def _credited(name: str, bylines: list[str]) -> bool:
    pattern = re.compile(r"(?<!\w)" + re.escape(name.casefold()) + r"(?!\w)")
    return any(pattern.search(b.casefold()) for b in bylines)


def _jsonld_credits(page: Page) -> list[tuple[str, bool, bool]]:
    """(raw name, given as one of several, typed Organization) per JSON-LD author."""
    raw: Any = page.article.get("author") or page.article.get("creator")
    items = raw if isinstance(raw, list) else [raw] if raw else []
    several = len(items) > 1
    out = []
    for item in items:
        item = page.resolve(item)
        if isinstance(item, str):
            out.append((item, several, False))
        elif isinstance(item, dict):
            name = item.get("name")
            if isinstance(name, list):
                name = " ".join(n for n in name if isinstance(n, str))
            if not isinstance(name, str) or not name.strip():
                continue
            org = bool(types_of(item) & {"Organization", "NewsMediaOrganization",
                                         "Corporation"}) and "Person" not in types_of(item)
            out.append((name, several, org))
    return out


def _accept(names: list[str], page: Page, bylines: list[str] | None, *, org: bool = False
            ) -> tuple[list[str], list[str] | None]:
    """Drop site/publisher names (and typed organisations) no visible byline credits."""
    kept = []
    host_key = name_key(urlsplit(page.url).hostname or "")
    for name in names:
        key = name_key(name)
        # 'NewsWire' on news.newswire.example: one word found in the host is the brand
        brand = " " not in name and len(key) >= 4 and key in host_key
        if org or brand or page.is_site_name(name):
            if bylines is None:
                bylines = byline_texts(page)
            if not _credited(name, bylines):
                continue
        kept.append(name)
    return kept, bylines


_COPYRIGHT = re.compile(r"copyright|\(c\)|©|all rights reserved|\d{4}|[.,]", re.IGNORECASE)


def _copyright_holders(page: Page, unvalued: dict[str, list[str]]) -> set[str]:
    """name_key()s of whoever the copyright meta names ('Copyright (c) Condé Nast 2022')."""
    out = set()
    for key in ("copyright", "dc.rights", "dcterms.rights", "dcterms.rightsholder"):
        for value in page.meta_all(key) or unvalued.get(key, []):
            out.add(name_key(_COPYRIGHT.sub(" ", value)))
    return out - {""}


# A class token of an element that holds one author's name and nothing else ('author-name',
# 'authorText', 'author-info__name', 'bylineName', 'article-detail__meta__author', 'author').
_NAME_CLASS = re.compile(r"author[-_]*(?:info__|card__details__)?(?:name|text)|"
                         r"byline[-_]*(?:name|text|author)|(?:^|[-_])author$", re.IGNORECASE)
# A class or id token of a block that is not the article's own byline: teasers, sidebars,
# comments ('withSidebar' is a layout flag, not a sidebar).
_ASIDE = re.compile(r"^(?:related|recommend|sidebar|comment|footer|teaser|promo|more)",
                    re.IGNORECASE)


def _tokens(el) -> list[str]:
    return (el.get("class", "") + " " + el.get("id", "")).split()


def _name_like(value: str) -> bool:
    """'Pete Evans', '小暮ひさのり': a person's name as a byline shows it, not a sentence."""
    words = value.split()
    if 2 <= len(words) <= 4:
        return all(w[0].isupper() or not w[0].isalpha() for w in words if w[0].isalpha()
                   ) and any(w[0].isupper() for w in words)
    return len(words) == 1 and 2 <= len(value) <= 12 and not value.isascii()


def _name_elements(page: Page) -> list[str]:
    """Names in elements whose class says they hold an author's name: the first such element
    and its siblings in the same byline (co-authors), none from related-article teasers."""
    first_block = None
    names: list[str] = []
    # XPath narrows to classes mentioning author/byline; the regex then reads each token.
    for el in page.doc.xpath('//body//*[self::span or self::a or self::div or self::p or '
                             'self::strong or self::h3 or self::h4][contains(translate(@class, '
                             '"AUTHORBYLINE", "authorbyline"), "author") or contains('
                             'translate(@class, "BYLINE", "byline"), "byline")]'):
        if not any(_NAME_CLASS.search(t) for t in el.get("class", "").split()):
            continue
        if any(_ASIDE.match(t) for a in el.iterancestors() if a.tag not in ("body", "html")
               for t in _tokens(a)):
            continue
        value = text(el)
        if not value or len(value) > 60 or not _name_like(value):
            continue
        block = el.getparent().getparent() if el.getparent() is not None else None
        if first_block is None:
            first_block = block
        elif block is not first_block:
            break
        names.extend(split_byline(value, whole=True))
    return _dedupe(names)[:8]


_PROFILE_HREF = re.compile(r"/(?:authors?|profiles?|people|journalists?|staff|contributors?|"
                           r"writers?|reporters?|by)/", re.IGNORECASE)


def _byline_links(page: Page, first: str) -> list[str]:
    """Names linked to author pages inside the byline block that credits `first`, in byline
    order. Some sites put only the first author into JSON-LD and meta; the byline has all."""
    key = first.casefold()
    for block in page.doc.xpath(
            '//body//*[contains(translate(@class, "BYLINE", "byline"), "byline")]'):
        block_text = text(block)
        if key not in block_text.casefold() or len(block_text) > 300:
            continue
        names = []
        for a in block.iter("a"):
            if a.get("rel") == "author" or _PROFILE_HREF.search(a.get("href") or ""):
                names.extend(split_byline(text(a), whole=True))
        if names:
            return _dedupe(names)
    return []


def authors(page: Page) -> list[str]:
    bylines: list[str] | None = None
    names: list[str] = []
    for raw, several, org in _jsonld_credits(page):
        found, bylines = _accept(split_byline(raw, whole=several), page, bylines, org=org)
        names.extend(found)
    if names:
        names = _dedupe(names)
        linked = _byline_links(page, names[0])
        keys = {n.casefold() for n in linked}
        if len(linked) > len(names) and all(n.casefold() in keys for n in names):
            return linked
        return names

    unvalued = page.valued
    holders: set[str] | None = None
    house: list[str] = []
    for key in _META_KEYS:
        values = page.meta_all(key) or unvalued.get(key, [])
        if not values:
            continue
        several = len(values) > 1
        for value in values:
            if key in _INVERTED_KEYS:
                value = _inverted(value)
            value = re.sub(r"\s*https?://\S+", "", value)  # 'The Washington Times https://...'
            found, bylines = _accept(split_byline(value, whole=several), page, bylines)
            names.extend(found)
        if names:
            if holders is None:
                holders = _copyright_holders(page, unvalued)
            if house or not all(name_key(n) in holders for n in names):
                return _dedupe(names)
            # 'author' = the copyright holder: a house default when another key names someone
            house, names = names, []
    if house:
        return _dedupe(house)

    # Last resort, the visible credit: itemprop=author names, rel=author links, then a
    # "By ..." byline. Only short, name-like texts count, and a lone word ('Eddie', a CMS
    # account) only when it is an agency-style acronym: the weakest evidence must look like a
    # full name.
    for xpath in ('//*[@itemprop="author"]//*[@itemprop="name"]',
                  '//*[@itemprop="author"][not(*)][not(self::meta)]', '//a[@rel="author"]'):
        for el in page.doc.xpath(xpath):
            value = (el.get("content") or text(el)).strip()
            if value and len(value) <= 80:
                found, bylines = _accept(split_byline(value), page, bylines)
                names.extend(n for n in found if len(n.split()) >= 2 or n.isupper())
        if names:
            return _dedupe(names)[:8]
    found, bylines = _accept(_name_elements(page), page, bylines)
    if found:
        return found
    if bylines is None:
        bylines = byline_texts(page)
    for value in bylines:
        m = re.match(r"^\s*by\s*:?\s+(.{3,100})$", value, re.IGNORECASE)
        if m:
            # the byline often runs on into the date: cut at the date, else the first digit
            credit = re.split(r"\d", _DATE_TAIL.sub("", m.group(1)), maxsplit=1)[0]
            found, bylines = _accept(split_byline(credit), page, bylines)
            found = [n for n in found if len(n.split()) >= 2 or n.isupper()]
            if found:
                return found
    return []
