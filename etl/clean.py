"""Cleaning, vectorised in pandas: unicode, whitespace, boilerplate blocks, authors, dates to UTC.

Text is normalised to NFC and whitespace collapsed; nothing else about the words is touched (no
quote repair: the site's own odd quotes stay as published).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata

import numpy as np
import pandas as pd

from etl.neardup import word_table
from etl.schema import LIST_FIELDS, TIMESTAMP_FIELDS
from spiders.urls import canonical_key

# Blocks that are never article text, whatever the parser let through. Per source, searched in
# each paragraph (lowercased, whitespace collapsed): anchor with ^ and $ to match a whole one
# (not \A or \Z: a body is first searched whole, a paragraph per line); "*" applies to every
# source. Searched rather than fullmatched with .* around them: a leading
# .* makes the regex engine backtrack over every paragraph (a fifth of the cleaning time).
BOILERPLATE: dict[str, tuple[str, ...]] = {
    "*": (
        r"^(?:read more about|related article|advertisement)\b",
        r"\bwe have a small favou?r to ask\b",
    ),
    "moscowtimes": (
        r"^the views expressed in opinion pieces do not necessarily reflect the position of "
        r"the moscow times\.?$",
    ),
}

# Mojibake: UTF-8 read as Latin-1/cp1252 ("â€™", "Ã©", "Ð¼"). A cheap vectorised test picks the
# few rows that need ftfy (about 800 documents/s per core: too slow to run on every row).
_MOJIBAKE = r"(?:Ã[\u0080-\u00bf]|Â[\u0080-\u00bf]|â€|Ð[\u0080-\u00bf]|Ñ[\u0080-\u00bf])"
_TEXT_FIELDS = ("title", "subtitle", "description", "body", "image_caption")

_SINGLE_LINE = ("title", "subtitle", "section", "language", "description", "image_url",
                "image_caption", "image_credits", "url")
_BYLINE_PREFIX = re.compile(r"^\s*by\s+", re.IGNORECASE)
_SPLIT_AUTHORS = re.compile(r"\s*(?:,|\band\b|&)\s*", re.IGNORECASE)


def repair_unicode(s: pd.Series) -> pd.Series:
    """Fix mojibake where the vectorised check flags it; quotes and everything else untouched."""
    flagged = s.str.contains(_MOJIBAKE, regex=True, na=False)
    if not flagged.any():
        return s
    import ftfy

    config = ftfy.TextFixerConfig(uncurl_quotes=False, fix_latin_ligatures=False,
                                  fix_character_width=False, unescape_html=False,
                                  fix_line_breaks=False, normalization="NFC")
    out = s.copy()
    out[flagged] = s[flagged].map(lambda t: ftfy.fix_text(t, config=config))
    return out


def _collapse(text: str) -> str:
    """NFC, whitespace runs to one space, stripped: str.split() splits on exactly the characters
    Python's re calls `\\s`, and does it in C."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _text(s: pd.Series) -> pd.Series:
    values = s.astype("str").to_numpy(object)
    return pd.Series([_collapse(t) if isinstance(t, str) else t for t in values], index=s.index,
                     dtype="str")


def _clean_list(values: object, split: bool = False) -> list[str]:
    """Strip, dedupe, and for authors split a single raw byline ("By A, B and C") into names;
    names already given separately are left whole ("Marks and Spencer" stays one)."""
    if not isinstance(values, list | tuple):
        return []
    split = split and len(values) == 1
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            continue
        value = _BYLINE_PREFIX.sub("", " ".join(unicodedata.normalize("NFC", value).split()))
        parts = _SPLIT_AUTHORS.split(value) if split else [value]
        out.extend(p.strip() for p in parts if p.strip())
    return list(dict.fromkeys(out))


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def _quick(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """`pattern` without a leading \\b: Python's re scans about 10x faster for a pattern that
    starts with a literal, and dropping a \\b only widens the matches."""
    if pattern.startswith("\\b"):
        try:
            return re.compile(pattern[2:], flags)
        except re.error:
            pass
    return re.compile(pattern, flags)


@dataclasses.dataclass(frozen=True)
class _Boilerplate:
    """One source's patterns: `maybe` searches a whole body (its paragraphs one per line) with
    the quick forms, so that most bodies skip the paragraph by paragraph `junk` test; `junk`
    is exact."""

    quick: tuple[re.Pattern[str], ...]
    whole: tuple[re.Pattern[str], ...]
    exact: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, source: str) -> _Boilerplate:
        patterns = BOILERPLATE["*"] + BOILERPLATE.get(source, ())
        return cls(tuple(_quick(p) for p in patterns),
                   tuple(_quick(p, re.MULTILINE) for p in patterns),
                   tuple(re.compile(p) for p in patterns))

    def maybe(self, lines: str) -> bool:
        return any(rx.search(lines) for rx in self.whole)

    def junk(self, paragraph: str) -> bool:
        return any(q.search(paragraph) and x.search(paragraph)
                   for q, x in zip(self.quick, self.exact, strict=True))


def clean_body(bodies: pd.Series, sources: pd.Series) -> pd.Series:
    r"""Split into paragraphs, normalise each, drop boilerplate, join with one blank line.

    One pass per body: NFC, then per paragraph `" ".join(p.split())` (the same whitespace as
    `\s` in Python's re, collapsed in C); the boilerplate patterns search the whole body first
    and the paragraphs only if that finds something. This replaced exploding bodies into a
    Series of paragraphs, which cost a pandas regex call per paragraph and was a third of the
    transform's time."""
    patterns = {name: _Boilerplate.of(name) for name in sources.dropna().unique()}
    generic = _Boilerplate.of("*")

    def one(body: object, source: object) -> str:
        if not isinstance(body, str) or not body:
            return ""
        rules = patterns.get(source, generic)
        paras = [" ".join(p.split()) for p in
                 _PARAGRAPH_BREAK.split(unicodedata.normalize("NFC", body))]
        paras = [p for p in paras if p]
        if rules.maybe("\n".join(paras).lower()):
            paras = [p for p in paras if not rules.junk(p.lower())]
        return "\n\n".join(paras)

    cleaned = [one(b, s) for b, s in zip(bodies.to_numpy(object), sources.to_numpy(object),
                                         strict=True)]
    return pd.Series(cleaned, index=bodies.index, dtype="str")


_COUNT_CHARS = 1 << 20  # text per word-counting step (~4 MB of code points)


def word_count(bodies: pd.Series) -> pd.Series:
    """Runs of word characters (Python's `\\w`: letters and digits of any script, underscore) in
    each body: a code-point table lookup in numpy, twice as fast as a regex count in Arrow."""
    values = [b if isinstance(b, str) else "" for b in bodies.to_numpy(object)]
    counts = np.zeros(len(values), np.int64)
    is_word = word_table()
    lo = 0
    while lo < len(values):
        hi, size = lo, 0
        while hi < len(values) and (hi == lo or size < _COUNT_CHARS):
            size += len(values[hi]) + 1
            hi += 1
        chunk = values[lo:hi]
        # Joined by a space (not a word character); each body ends where its length says.
        text = " ".join(chunk).encode("utf-32-le", "surrogatepass")
        word = is_word[np.frombuffer(text, np.uint32)]
        starts = np.flatnonzero(word & ~np.concatenate(([False], word[:-1])))
        ends = np.cumsum([len(b) + 1 for b in chunk])
        counts[lo:hi] = np.bincount(np.searchsorted(ends, starts, "right"), minlength=len(chunk))
        lo = hi
    return pd.Series(counts, index=bodies.index, dtype="int64")


def content_hash(df: pd.DataFrame) -> pd.Series:
    """What makes two versions the same story: title, authors, body (dates excluded on purpose:
    dateModified moves without edits)."""
    keys = (df["title"].fillna("").astype("str") + "\x1f" + df["authors"].map("\x1e".join)
            + "\x1f" + df["body"].fillna("").astype("str"))
    return keys.map(lambda k: hashlib.sha256(k.encode("utf-8")).hexdigest()).astype("str")


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    df = raw.copy()
    for col in _TEXT_FIELDS:
        present = df[col].notna()
        df.loc[present, col] = repair_unicode(df.loc[present, col].astype("str"))
    for col in _SINGLE_LINE:
        present = df[col].notna()
        df[col] = _text(df[col]).where(present, None)
        df.loc[df[col].eq(""), col] = None
    df["body"] = clean_body(df["body"], df["source"])
    df["authors"] = df["authors"].map(lambda v: _clean_list(v, split=True))
    for col in LIST_FIELDS:
        if col != "authors":
            df[col] = df[col].map(_clean_list)
    for col in TIMESTAMP_FIELDS:
        # Offsets are honoured and everything lands in UTC. A value without an offset would be
        # a guess, so it becomes NaT like an unreadable one (validation quarantines the row).
        raw_ts = df[col].astype("str")
        has_offset = raw_ts.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False)
        df[col] = pd.to_datetime(
            raw_ts.where(has_offset, None), utc=True, errors="coerce", format="ISO8601"
        ).astype("datetime64[us, UTC]")
    # "en-US", "EN", "en_GB" -> "en"; anything that is not a language code is dropped.
    code = r"^([a-z]{2})(?:[-_][a-z0-9]+)*$"
    lang = df["language"].astype("str").str.lower().str.extract(code)[0]
    df["language"] = lang.where(lang.notna(), None)
    df["word_count"] = word_count(df["body"])
    df["content_hash"] = content_hash(df)
    df["url_key"] = df["url"].map(canonical_key, na_action="ignore").astype("str")
    df["duplicate_of"] = None
    return df
