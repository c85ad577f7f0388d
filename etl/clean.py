"""Cleaning, vectorised in pandas: unicode, whitespace, boilerplate blocks, authors, dates to UTC.

Text is normalised to NFC and whitespace collapsed; nothing else about the words is touched (no
quote repair: the site's own odd quotes stay as published).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
from etl import arrowtext
from etl.neardup import word_table

# Blocks that are never article text, whatever the parser let through. Per source, searched in
# each paragraph (lowercased, whitespace collapsed): anchor with ^ and $ to match a whole one
# (not \A or \Z: RE2 first searches the whole column, a paragraph per line, see _prefilter);
# "*" applies to every source. Searched rather than fullmatched with .* around them: a leading
# .* makes the regex engine backtrack over every paragraph.
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
# The same test as RE2 spells it: pandas hands a pattern with \u escapes to Python's re.
_MOJIBAKE_RE2 = r"(?:[ÃÂÐÑ][\x{80}-\x{bf}]|â€)"
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


def _lists_valid(column: pd.Series) -> bool:
    """Whether every string in the lists of `column` is valid text: one check of them all
    joined (validity is per character), instead of two regex searches per string."""
    return is_valid_text("".join(v for value in column.to_numpy(object)
                                 if isinstance(value, list | tuple)
                                 for v in value if isinstance(v, str)))


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
        if col not in df or _lists_valid(df[col]):
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
    flagged = _mojibake(s)
    if not flagged.any():
        return s
    import ftfy

    config = ftfy.TextFixerConfig(uncurl_quotes=False, fix_latin_ligatures=False,
                                  fix_character_width=False, unescape_html=False,
                                  fix_line_breaks=False, normalization="NFC")
    out = s.copy()
    out[flagged] = s[flagged].map(lambda t: ftfy.fix_text(t, config=config))
    return out


def _mojibake(s: pd.Series) -> pd.Series:
    """Values that may hold mojibake (bool, False for missing): in RE2 for an Arrow column."""
    if isinstance(s.array, pd.arrays.ArrowStringArray):
        found = pc.match_substring_regex(pa.array(s.array), _MOJIBAKE_RE2).fill_null(False)
        return pd.Series(found.to_numpy(zero_copy_only=False), index=s.index, dtype=bool)
    return s.str.contains(_MOJIBAKE, regex=True, na=False)


def _collapse(text: str) -> str:
    """NFC, whitespace runs to one space, stripped: str.split() splits on exactly the characters
    Python's re calls `\\s`, and does it in C."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _text(s: pd.Series) -> pd.Series:
    """`_collapse` of every value of `s` as a string (pandas' astype), in Arrow; the few values
    Python's NFC could change are collapsed in Python."""
    values = s.astype("str")
    text = arrowtext.to_arrow(values)
    out = arrowtext.collapse(text)
    slow = np.flatnonzero(arrowtext.python_rows(text))
    if slow.size:
        fixed = [_collapse(t) for t in text.take(slow).to_pylist()]
        out = _replace_rows(out, slow, fixed)
    return pd.Series(out, index=s.index, dtype="str")


def _replace_rows(values: pa.Array, rows: np.ndarray, new: list[str] | pa.Array) -> pa.Array:
    """`values` with values[rows] = new (rows ascending)."""
    mask = np.zeros(len(values), bool)
    mask[rows] = True
    new = new if isinstance(new, pa.Array) else pa.array(new, values.type)
    return pc.replace_with_mask(values, pa.array(mask), new)


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


def _prefilter(pattern: str) -> str | None:
    r"""`pattern` for RE2 as a prefilter: searched case-insensitively in a whole cleaned body
    (its paragraphs one per line, (?m)), it matches wherever Python's re finds `pattern` in a
    lowercased paragraph, and maybe elsewhere. None when that is not certain.

    RE2's \b is ASCII-only: a \b (or \B) is dropped, which only widens the matches. Refused:
    other letter escapes (\w, \d, \s are ASCII-only in RE2; \A, \Z anchor elsewhere; in a class
    \b is a backspace), groups other than (?:...) (inline flags, lookarounds), negated and POSIX
    classes ((?i)[^s] misses the "ſ" that lower() keeps), Python's "{,n}", and whatever RE2
    cannot compile."""
    if (not pattern.isascii() or any(s in pattern for s in ("[^", "[:", "{,"))
            or re.search(r"\(\?(?!:)", pattern)):
        return None
    out: list[str] = []
    in_class, first = False, 0
    for token in re.findall(r"\\.|.", pattern, re.DOTALL):
        if len(token) == 2 and token[1].isalnum():
            if token in ("\\b", "\\B") and not in_class:
                continue
            return None
        if token == "[" and not in_class:
            in_class, first = True, len(out) + 1
        elif token == "]" and in_class and len(out) > first:  # "[]...]": the first is literal
            in_class = False
        out.append(token)
    translated = "".join(out)
    try:
        pc.match_substring_regex(pa.array([""]), translated)
    except pa.ArrowInvalid:
        return None
    return translated


@dataclasses.dataclass(frozen=True)
class _Boilerplate:
    """One source's patterns: `exact` decides, in Python; `prefilter` (RE2, for the whole
    column) flags the bodies that may hold a paragraph `exact` matches, or is None when every
    body must be searched."""

    exact: tuple[re.Pattern[str], ...]
    prefilter: str | None

    @classmethod
    def of(cls, source: str) -> _Boilerplate:
        patterns = BOILERPLATE["*"] + BOILERPLATE.get(source, ())
        quick = [_prefilter(p) for p in patterns]
        # lower() turns "İ" into two characters ("i" and a combining dot): no RE2 match lines
        # up with Python's there, so a body holding one is always searched.
        prefilter = (None if None in quick else
                     "(?im)" + "|".join(f"(?:{q})" for q in quick) + "|\\x{130}")
        return cls(tuple(re.compile(p) for p in patterns), prefilter)

    def junk(self, paragraph: str) -> bool:
        lowered = paragraph.lower()
        return any(x.search(lowered) for x in self.exact)

    def strip(self, cleaned: pa.Array) -> pa.Array:
        """Cleaned bodies (paragraphs joined by a blank line) without their junk paragraphs:
        the prefilter flags the paragraphs that may be junk, `junk` decides on those."""
        paras = pc.split_pattern(cleaned, "\n\n")
        flat = paras.flatten()
        maybe = (np.arange(len(flat)) if self.prefilter is None else
                 np.flatnonzero(_matches(flat, self.prefilter)))
        keep = np.ones(len(flat), bool)
        keep[maybe] = [not self.junk(p) for p in flat.take(maybe).to_pylist()]
        if keep.all():
            return cleaned
        kept = np.bincount(pc.list_parent_indices(paras).to_numpy()[keep], minlength=len(paras))
        offsets = pa.array(np.concatenate(([0], np.cumsum(kept))), pa.int32())
        lists = pa.ListArray.from_arrays(offsets, flat.filter(pa.array(keep)))
        return pc.binary_join(lists, pa.scalar("\n\n", cleaned.type))


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(text, pattern).fill_null(False).to_numpy(zero_copy_only=False)


def _clean_one(body: str, rules: _Boilerplate) -> str:
    """One body in Python: the definition clean_body computes in Arrow, used for a body
    holding NUL (the paragraph mark in Arrow)."""
    paras = [" ".join(p.split()) for p in
             _PARAGRAPH_BREAK.split(unicodedata.normalize("NFC", body))]
    return "\n\n".join(p for p in paras if p and not rules.junk(p))


def clean_body(bodies: pd.Series, sources: pd.Series) -> pd.Series:
    r"""Split into paragraphs, normalise each, drop boilerplate, join with one blank line.

    Per body: NFC; split at `\n\s*\n` (Python's \s); whitespace runs in a paragraph to one
    space, stripped; empty paragraphs dropped; a paragraph any of the source's BOILERPLATE
    patterns finds (lowercased) dropped. Not a string: "".

    Done for the whole column in Arrow (etl.arrowtext): a Python split and join per paragraph
    was a quarter of the transform's time. Python normalises the few bodies NFC could change,
    and cleans one holding NUL (the paragraph mark in Arrow; valid_texts removes it before
    clean() gets here). The boilerplate patterns run as one RE2 prefilter per source, on the
    bodies and then on the paragraphs of the bodies it flags; Python's re decides on the
    paragraphs flagged."""
    text = arrowtext.to_arrow(bodies)
    odd = np.flatnonzero(arrowtext.python_rows(text, "\0"))
    odd_values = text.take(odd).to_pylist()
    nul = {int(i): v for i, v in zip(odd, odd_values, strict=True) if "\0" in v}
    if odd.size:
        text = _replace_rows(text, odd, [unicodedata.normalize("NFC", v) for v in odd_values])
    cleaned = arrowtext.paragraphs(text)

    keys = np.array([s if isinstance(s, str) and s in BOILERPLATE else "*"
                     for s in sources.to_numpy(object)], dtype=object)
    rules = {key: _Boilerplate.of(key) for key in dict.fromkeys(keys)}
    for key, rule in rules.items():
        rows = np.flatnonzero(keys == key)
        if rule.prefilter is not None:
            part = cleaned if rows.size == len(cleaned) else cleaned.take(rows)
            rows = rows[_matches(part, rule.prefilter)]
        if rows.size:
            cleaned = _replace_rows(cleaned, rows, rule.strip(cleaned.take(rows)))
    if nul:
        rows = np.array(sorted(nul))
        cleaned = _replace_rows(cleaned, rows, [_clean_one(nul[i], rules[keys[i]]) for i in rows])
    return pd.Series(cleaned.fill_null(""), index=bodies.index, dtype="str")


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
    text = arrowtext.to_arrow(keys)
    if text.null_count:
        raise TypeError("content_hash: a title, author or body that is not text")
    # Hashed straight from Arrow's UTF-8 buffer: no Python string made and encoded per row.
    ends = np.frombuffer(text.buffers()[1], np.int64)[text.offset:text.offset + len(text) + 1]
    data = memoryview(text.buffers()[2] or b"")
    return pd.Series([hashlib.sha256(data[a:b]).hexdigest()
                      for a, b in zip(ends[:-1].tolist(), ends[1:].tolist(), strict=True)],
                     index=keys.index, dtype="str")


def clean(raw: pd.DataFrame, count_words: Callable[[pd.Series], pd.Series] = word_count
          ) -> pd.DataFrame:
    """The cleaned frame; `attrs` count what was made valid: characters of text
    ("cleaned_chars") and optional dates out of range ("dropped_dates"). `count_words` gives
    word_count's answer for the cleaned bodies (the transform's sketcher counts them on the
    way)."""
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
    df["word_count"] = count_words(df["body"])
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
