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

from contracts.schema import (
    CRAWL_STATE_LIMITS,
    EARLIEST,
    FIELDS,
    FUTURE_SLACK,
    ID_CHARS,
    LIST_FIELDS,
    QUARANTINE_LIMITS,
    TIMESTAMP_FIELDS,
    cut,
    is_valid_text,
    valid_text,
)
from contracts.urls import canonical_key
from etl.neardup import word_table

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


_STR_FIELDS = tuple(f.name for f in FIELDS if f.kind == "str" and f.origin == "crawl")
# What valid_text changes, as RE2 sees it: Arrow strings are UTF-8 and hold no surrogates.
_INVALID_RE2 = "[\\x00-\\x08\\x0b-\\x1f\\r]"


def _invalid(s: pd.Series) -> np.ndarray:
    """Rows of a text column holding what valid_text changes: in Arrow (RE2, ~3x Python's re)
    when the column is Arrow-backed, else one Python check per value."""
    if isinstance(s.array, pd.arrays.ArrowStringArray):
        return s.str.contains(_INVALID_RE2, regex=True, na=False).to_numpy(bool)
    return np.array([isinstance(v, str) and not is_valid_text(v) for v in s.to_numpy(object)],
                    dtype=bool)


def valid_texts(df: pd.DataFrame) -> int:
    """Make every crawl text of `df` valid text (contracts.schema.valid_text), in place; returns the
    characters removed or replaced."""
    changed = 0
    for col in _STR_FIELDS:
        if col not in df:
            continue
        bad = _invalid(df[col])
        if bad.any():
            column = df[col].astype(object)
            fixed = [valid_text(v) for v in column[bad]]
            column[bad] = [v for v, _ in fixed]
            df[col] = column
            changed += sum(n for _, n in fixed)
    for col in LIST_FIELDS:
        if col not in df:
            continue

        def one(value: object) -> object:
            nonlocal changed
            if not isinstance(value, list | tuple) or all(
                    not isinstance(v, str) or is_valid_text(v) for v in value):
                return value
            out = []
            for v in value:
                if isinstance(v, str):
                    v, n = valid_text(v)
                    changed += n
                out.append(v)
            return out

        df[col] = df[col].map(one)
    return changed


def drop_bogus_dates(df: pd.DataFrame) -> int:
    """Optional instants outside the valid range (contracts.schema: 1990 to a day after the crawl,
    e.g. a CMS's 0001-01-01 default) become null with their provenance; returns how many. A
    required one stays: validation quarantines its row."""
    dropped = 0
    for f in FIELDS:
        if f.kind != "timestamp" or f.required or f.name not in df:
            continue
        when = df[f.name]
        bogus = when.notna() & ((when < EARLIEST) | (when > df["crawled_at"] + FUTURE_SLACK)
                                | df["crawled_at"].isna())
        if bogus.any():
            df.loc[bogus, f.name] = pd.NaT
            if f"{f.name}_from" in df:
                df.loc[bogus, f"{f.name}_from"] = None
            dropped += int(bogus.sum())
    return dropped


def repair_unicode(s: pd.Series) -> pd.Series:
    """Fix mojibake where the vectorised check flags it; quotes and everything else untouched.
    Returns `s` itself when nothing is flagged."""
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


def _line_start(pattern: str) -> tuple[re.Pattern[str], bool]:
    """The quick form for a whole body searched line by line (MULTILINE), and whether it is
    anchored. `^X` becomes `\\nX`, searched in the body after a line break: re tries `^` at
    every character, but finds a literal first character in C (5x faster here)."""
    if pattern.startswith("^"):
        try:
            return re.compile("\n" + pattern[1:], re.MULTILINE), True
        except re.error:
            pass
    return _quick(pattern, re.MULTILINE), False


@dataclasses.dataclass(frozen=True)
class _Boilerplate:
    """One source's patterns: `suspects` searches a whole body (its paragraphs one per line)
    with the quick forms, so that only the paragraphs it points at take the `junk` test;
    `junk` is exact."""

    quick: tuple[re.Pattern[str], ...]
    whole: tuple[tuple[re.Pattern[str], bool], ...]
    exact: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, source: str) -> _Boilerplate:
        patterns = BOILERPLATE["*"] + BOILERPLATE.get(source, ())
        return cls(tuple(_quick(p) for p in patterns),
                   tuple(_line_start(p) for p in patterns),
                   tuple(re.compile(p) for p in patterns))

    def suspects(self, lines: str) -> set[int] | None:
        """Lines (0-based) where a pattern's whole-body search starts a match, or None when a
        match runs over a line end (then every paragraph is tested). One search per pattern
        per body: testing each paragraph of every suspected body was most of clean_body."""
        found: set[int] = set()
        after_break = "\n" + lines  # what a _line_start pattern searches
        for rx, anchored in self.whole:
            text = after_break if anchored else lines
            for m in rx.finditer(text):
                if "\n" in m.group()[anchored:]:
                    return None
                # text[i + 1] is lines[i]: an anchored match starts on its line's break
                found.add(lines.count("\n", 0, m.start()))
        return found

    def junk(self, paragraph: str) -> bool:
        return any(q.search(paragraph) and x.search(paragraph)
                   for q, x in zip(self.quick, self.exact, strict=True))


def clean_body(bodies: pd.Series, sources: pd.Series) -> pd.Series:
    r"""Split into paragraphs, normalise each, drop boilerplate, join with one blank line.

    One pass per body: NFC, then per paragraph `" ".join(p.split())` (the same whitespace as
    `\s` in Python's re, collapsed in C); the boilerplate patterns search the whole body once
    and only the paragraphs where a match starts are tested exactly. This replaced exploding
    bodies into a Series of paragraphs, which cost a pandas regex call per paragraph and was a
    third of the transform's time."""
    patterns = {name: _Boilerplate.of(name) for name in sources.dropna().unique()}
    generic = _Boilerplate.of("*")

    def one(body: object, source: object) -> str:
        if not isinstance(body, str) or not body:
            return ""
        rules = patterns.get(source, generic)
        paras = [" ".join(p.split()) for p in
                 _PARAGRAPH_BREAK.split(unicodedata.normalize("NFC", body))]
        paras = [p for p in paras if p]
        # lower() never makes a line end, so line i of the lowered body is paras[i].lower()
        suspects = rules.suspects("\n".join(paras).lower())
        if suspects is None:
            paras = [p for p in paras if not rules.junk(p.lower())]
        elif suspects:
            paras = [p for i, p in enumerate(paras)
                     if i not in suspects or not rules.junk(p.lower())]
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
    """The cleaned frame; `attrs` count what was made valid: characters of text
    ("cleaned_chars") and optional dates out of range ("dropped_dates")."""
    df = raw.copy()
    cleaned_chars = valid_texts(df)
    for col in _TEXT_FIELDS:
        present = df[col].notna()
        text = df.loc[present, col].astype("str")
        repaired = repair_unicode(text)
        if repaired is not text:  # writing back an unchanged column costs as much as the test
            df.loc[present, col] = repaired
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
    dropped_dates = drop_bogus_dates(df)
    df["word_count"] = word_count(df["body"])
    df["content_hash"] = content_hash(df)
    df["url_key"] = df["url"].map(canonical_key, na_action="ignore").astype("str")
    df["duplicate_of"] = None
    df.attrs.update(cleaned_chars=cleaned_chars, dropped_dates=dropped_dates)
    return df


def _fit(frame: pd.DataFrame, limits: dict[str, int]) -> pd.DataFrame:
    """Every bounded text column as valid text within its limit (cut, marked)."""
    out = frame.copy()
    for col, limit in limits.items():
        if col in out:
            out[col] = [cut(valid_text(v)[0], limit) if isinstance(v, str) else v
                        for v in out[col].to_numpy(object)]
            out[col] = out[col].astype(object)
    return out


def clean_quarantine(rows: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows as every sink can store them: valid text within contracts.schema's
    QUARANTINE_LIMITS. A row is never refused for its own values: it is the record of a refusal.
    A URL cut to fit says so in its reason."""
    out = rows.copy()
    # The url is the row's key: a reject without one is still a row.
    out["url"] = [u if isinstance(u, str) and u else "(no url)" for u in out["url"]]
    out["reason"] = [r if isinstance(r, str) and r else "(no reason given)"
                     for r in out["reason"]]
    long_url = np.array([len(u) > QUARANTINE_LIMITS["url"] for u in out["url"]], dtype=bool)
    if long_url.any():
        out.loc[long_url, "reason"] += "; url recorded in part"
    return _fit(out, QUARANTINE_LIMITS)


def clean_fetched(fetched: pd.DataFrame) -> pd.DataFrame:
    """Crawl memory rows the warehouse can key and store: valid text within CRAWL_STATE_LIMITS;
    a row whose article id is over the limit is dropped (its article is quarantined for it, and
    is met again next time)."""
    keyed = fetched["article_id"].map(lambda a: isinstance(a, str) and len(a) <= ID_CHARS)
    return _fit(fetched[keyed.astype(bool)], CRAWL_STATE_LIMITS)
