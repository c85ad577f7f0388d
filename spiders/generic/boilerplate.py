"""Paragraphs that are never article text, recognised by general patterns (no per-site lists).

Three kinds of evidence: the paragraph's own words (newsletter prompts, share prompts, ad
markers, copyright lines, photo credits), the class/id the page gave its element (trafilatura
keeps them: "newsletter-form__strapline", "related-links"), and the paragraph's place: a
"More from ..." or "Related" heading near the end starts a block of teasers, not more article.
"""

from __future__ import annotations

import re

# Whole-paragraph patterns, matched case-insensitively against whitespace-collapsed text.
_TEXT = re.compile(r"""^(?:
    advertisement|advertisements?\s*[-–]?\s*scroll\s+to\s+continue.*|ad|sponsored|
    story\s+continues\s+below(?:\s+this)?\s+(?:advertisement|ad)\.?|
    continue\s+reading\s+(?:below|the\s+main\s+story).*|scroll\s+(?:down\s+)?to\s+continue.*|
    (?:read|see|watch|listen)\s*(?:more|also|next)\s*:?.{0,160}|
    more\s*:.{0,160}|related\s*:.{0,160}|(?:related|recommended)\s+(?:articles?|stories|reading|content|video)\s*:?.{0,160}|
    (?:most\s+)?(?:popular|trending|read)(?:\s+(?:now|today|stories|articles))?|
    you\s+(?:may|might)\s+(?:also\s+)?(?:like|be\s+interested\s+in).{0,120}|
    (?:click|tap)\s+here\b.{0,200}|
    (?:sign\s+up|subscribe)\b.{0,300}|register\s+(?:now|here|today|for\s+free|to\s+(?:read|continue|get))\b.{0,300}|
    (?:get\s+in\s+touch|contact\s+us|email\s+us|send\s+us|write\s+to\s+us)\b.{0,300}|
    .{0,200}\b(?:get\s+in\s+touch|contact\s+us|email\s+us|send\s+(?:us|your))\b.{0,80}@[\w.-]+\.\w+.{0,80}|
    .{0,200}\b(?:sign(?:ing)?\s+up|subscrib\w*)\b.{0,100}\bnewsletters?\b.{0,100}|
    (?:you\s+can\s+also\s+(?:read|check|see|watch)|also\s+(?:read|see|watch))\s*:.{0,300}|also\s+read\b.{0,200}|
    .{0,120}\b(?:we\s+may\s+earn|earns?\s+(?:a|an)\s+(?:small\s+)?(?:affiliate\s+)?commission|affiliate\s+links?)\b.{0,300}|
    to\s+view\s+this\s+(?:video|content).{0,200}|(?:up\s+next|previous\s+page|next\s+page)|
    .{0,300}\((?:picture|photo|image|photograph|pic|credit)s?\s*:[^)]{0,120}\)\.?|
    .{0,120}\bnewsletters?\b.{0,80}(?:sign\s+up|subscribe|inbox|delivered).{0,120}|
    (?:get|receive)\s+(?:our|the|breaking|daily|free|all\s+the).{0,120}(?:newsletter|inbox|alerts|emails?)\b.{0,120}|
    (?:follow|like)\s+(?:us|@?\w+(?:\.\w+)*)\s+on\s+(?:twitter|x|facebook|instagram|google\s+news|whatsapp|telegram|linkedin|tiktok|threads|youtube).{0,200}|
    (?:share|email|print|copy\s+link|tweet|comment|comments|bookmark|save|listen(?:\s+to\s+(?:this\s+)?article)?|
       share\s+(?:this|on|via).{0,60}|\d+\s+comments?|view\s+comments|leave\s+a\s+comment.{0,60}|
       join\s+the\s+(?:conversation|discussion).{0,120}|show\s+comments|hide\s+comments)|
    (?:photo|image|picture|video|graphic|illustration|file\s+photo|credit|source)s?\s*(?::|by\b|credit\b).{0,160}|
    \(?(?:photo|image|picture)\s*:.{0,120}\)?|
    (?:getty\s+images|reuters|ap\s+photo|afp(?:\s+via\s+getty\s+images)?|shutterstock|alamy|epa|pa(?:\s+media|\s+wire)?)\.?|
    got\s+a\s+(?:story|news\s+tip|tip)\b.{0,300}|
    for\s+more\s+(?:stories|news|articles)\s+like\s+this.{0,200}|
    (?:we\s+have\s+a\s+small\s+favou?r\s+to\s+ask|support\s+(?:our|independent)\s+journalism).{0,400}|
    this\s+(?:is\s+a\s+)?(?:breaking|developing)\s+(?:news?\s+)?story.{0,120}|
    pictured\b.{0,400}|(?:\(|\[)?(?:photo|image|picture|pictures|video)\s*:.{0,160}|
    (?:this\s+article|this\s+story|the\s+article)\s+(?:was|has\s+been)\s+(?:originally\s+)?(?:published|updated|amended|corrected|produced).{0,200}|
    (?:additional\s+reporting\s+by|reporting\s+by|writing\s+by|editing\s+by|edited\s+by|compiled\s+by)\b.{0,200}|
    (?:you\s+must|please)\s+(?:log\s*in|sign\s*in|confirm|enable|logout|accept).{0,200}|
    (?:download|get)\s+(?:the|our)\s+(?:free\s+)?app\b.{0,200}|
    (?:skip|jump)\s+to\s+(?:content|main|navigation).{0,40}|
    (?:loading|please\s+wait)\W*|
    (?:watch|listen)\s*:?\s*.{0,100}\b(?:video|podcast|audio)\b.{0,40}|
    (?:join|start)\s+(?:our|the)\s+(?:commenting\s+)?(?:forum|conversation|discussion).{0,200}|
    (?:tags?|topics?|filed\s+under|categories|category)\s*:.{0,300}|
    (?:recommended|suggested)\s+(?:for\s+you|videos?|stories)?|
    \W*(?:next|previous)\s+(?:article|story|post)\W*.{0,160}
)$""", re.IGNORECASE | re.VERBOSE | re.DOTALL)

# Phrases that mark a promo even inside a longer paragraph, anywhere in the body.
_CONTAINS = re.compile(
    r"pic\.twitter\.com/|https?://t\.co/|\bsubscribers?[- ]only\b|"
    r"\bunlimited\s+access\b.{0,80}\bsubscri|\bsign\s+up\s+(?:here|now|today)\b.{0,40}\bnewsletter|"
    r"\bthis\s+(?:content|article|story)\s+(?:is|was)\s+(?:created|produced)\s+"
    r"(?:by|in\s+partnership)",
    re.IGNORECASE)

# Near the end of a body only: appeals for money or membership, comment prompts. (Earlier in
# the text the same words can be news: "a donation of $5m".)
_TAIL = re.compile(
    r"\b(?:donate|donation|donating|become\s+a\s+(?:member|subscriber|supporter|patron)|"
    r"reader[- ]supported|support\s+(?:us|our\s+(?:work|journalism|reporting|newsroom)|"
    r"independent\s+journalism)|make\s+a\s+(?:tax[- ]deductible\s+)?contribution|"
    r"(?:join|start)\s+(?:our|the)\s+(?:commenting\s+)?(?:forum|conversation|discussion|community)|"
    r"in\s+the\s+comments\s+(?:below|section)|"
    r"(?:follow|like)\s+(?:us|@?[\w.]+)\s+on\s+(?:twitter|x|facebook|instagram|google\s+news|"
    r"whatsapp|telegram|linkedin|tiktok|threads|youtube))\b",
    re.IGNORECASE)

# An author bio: the author's name (checked by the caller) with a career description.
BIO = re.compile(
    r"\b(?:journalist|reporter|correspondent|editor|columnist|writer|contributor|freelancer|"
    r"has\s+(?:covered|written|reported|worked)|covers\b|award[- ]winning|appearances|"
    r"is\s+(?:a|an|the)\s+(?:[\w-]+\s+){0,4}(?:at|for|with)\b|graduated|based\s+in|"
    r"follow\s+(?:him|her|them)|email\s+(?:him|her|them))",
    re.IGNORECASE)

# Class/id words of elements that hold no article text.
_CLASS = re.compile(
    r"newsletter|signup|sign-up|subscribe|subscription|promo|advert|\bads?\b|ad-slot|adslot|"
    r"sponsor|related|recommend|read-?more|more-?stories|share|social|author-?bio|"
    r"bio-?box|about-?the-?author|byline|caption|credit|copyright|disclaimer|outbrain|taboola|"
    r"teaser|trending|popular|most-?read|breadcrumb|tags|comment",
    re.IGNORECASE)

# A short heading-like paragraph after which only teasers follow.
_TAIL_MARKER = re.compile(
    r"^(?:more\s+(?:from|on|about|in|stories|news|like\s+this)\b.{0,60}|more\s+stories|"
    r"related(?:\s+(?:articles?|stories|content|coverage|news|reading|topics|posts))?\s*:?|"
    r"(?:you\s+(?:may|might)\s+also\s+like|recommended(?:\s+for\s+you)?|"
    r"(?:most\s+)?popular(?:\s+(?:now|stories|articles))?|most\s+read|trending(?:\s+now)?|"
    r"read\s+(?:more|next)|latest\s+(?:news|stories)|top\s+stories|in\s+other\s+news|"
    r"editor'?s\s+picks?|what\s+to\s+read\s+next|around\s+the\s+web|"
    r"about\s+the\s+authors?|share\s+this\s+(?:article|story)|comments?|"
    r"join\s+the\s+conversation|leave\s+a\s+(?:comment|reply))\s*:?)$",
    re.IGNORECASE)


# A date stamp line: a numeric date, perhaps a time, perhaps a source label and its name
# ('08.04.2015 12:46', '2017-03-10 09:58 Source: ...'), not a byline ('... BY TMZ STAFF').
_STAMP = re.compile(
    r"^(?:\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})"
    r"(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?"
    r"(?:\s*(?:source|quelle|fuente|fonte|источник|来源|來源|出典|출처)\s*[:：]\s*\S.{0,40})?$",
    re.IGNORECASE)


def is_boilerplate_text(paragraph: str) -> bool:
    return bool(_TEXT.match(paragraph) or _CONTAINS.search(paragraph) or
                _STAMP.match(paragraph))


def is_tail_boilerplate(paragraph: str) -> bool:
    return bool(_TAIL.search(paragraph))


def is_boilerplate_class(attrs: str) -> bool:
    return bool(attrs and _CLASS.search(attrs))


_TAIL_PREFIX = re.compile(
    r"^(?:you\s+(?:may|might)\s+also\s+like|more\s+from\s+|related\s+(?:articles?|stories)\b|"
    r"recommended\s+for\s+you|most\s+read\b|read\s+next\b)", re.IGNORECASE)


def is_tail_marker(paragraph: str) -> bool:
    return len(paragraph) <= 80 and bool(_TAIL_MARKER.match(paragraph))


def starts_with_tail_marker(paragraph: str) -> bool:
    return bool(_TAIL_PREFIX.match(paragraph))
