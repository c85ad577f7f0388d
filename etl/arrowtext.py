r"""Text columns cleaned in Arrow exactly as Python's str methods clean one value at a time.

Splitting every value into Python words and joining them again was most of the cleaning time;
RE2 (pyarrow.compute) rewrites a whole column in C++. Where RE2 and Python differ, Python wins:

- RE2's `\s` is ASCII only: the whitespace class is written out (what str.split(), str.isspace()
  and re's `\s` call whitespace; the tests compare it with Python for every code point).
- Arrow's NFC (utf8_normalize) is ~15x slower than Python's, which checks before it works, and
  may follow another Unicode version: instead, an RE2 class built from Python's own tables flags
  the few values NFC could change, for Python to normalise (`python_rows`).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Python's whitespace without the space itself (a single space needs no rewriting).
_SPACE_BUT_BLANK = ((0x09, 0x0D), (0x1C, 0x1F), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
                    (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
                    (0x3000, 0x3000))
SPACE_RANGES = tuple(sorted((*_SPACE_BUT_BLANK, (0x20, 0x20))))

# No code point from here up has a combining class or a decomposition in Python's Unicode data
# (14.0 in Python 3.11); the tests check the whole range, so a newer Python that adds one fails
# them instead of cleaning differently.
_NFC_SCAN_END = 0x30000


def re2_class(ranges: Iterable[tuple[int, int]]) -> str:
    """An RE2 character class of inclusive code point ranges (escaped: no raw controls)."""
    return "[" + "".join(f"\\x{{{lo:x}}}" if lo == hi else f"\\x{{{lo:x}}}-\\x{{{hi:x}}}"
                         for lo, hi in ranges) + "]"


def _ranges(code_points: Iterable[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for cp in sorted(set(code_points)):
        if out and out[-1][1] == cp - 1:
            out[-1] = (out[-1][0], cp)
        else:
            out.append((cp, cp))
    return out


_SPACE = re2_class(SPACE_RANGES)
# A run of whitespace that is not already one space: what `" ".join(s.split())` rewrites.
_RUN = f"{_SPACE}{{2,}}|{re2_class(_SPACE_BUT_BLANK)}"
# A whitespace run holding two line feeds or more: where re.split(r"\n\s*\n") splits (the
# match starts at the run's first line feed and ends at its last; the rest of the run is
# stripped from the paragraphs anyway).
_BREAK = f"{_SPACE}*\\n{_SPACE}*\\n{_SPACE}*"
# Marks a paragraph break between the RE2 passes: never in valid text (contracts.schema), and
# `paragraphs` leaves the values holding one to Python.
_MARK = "\x00"


@functools.cache
def nfc_suspects() -> frozenset[int]:
    """Code points that can make Python's NFC change a text: a nonzero combining class (may be
    reordered), NFC_Quick_Check=No (replaced), or the second half of a canonical pair
    (NFC_Quick_Check=Maybe: may compose with the character before it). A text with none of them
    passes UAX #15's quick check, so it is NFC and Python's normalize returns it unchanged.
    Built from Python's unicodedata (about 0.1 s once per process)."""
    found: set[int] = set()
    for cp in range(_NFC_SCAN_END):
        char = chr(cp)
        if unicodedata.combining(char):
            found.add(cp)
        decomposition = unicodedata.decomposition(char)
        if decomposition and not decomposition.startswith("<"):  # canonical, not compatibility
            if unicodedata.normalize("NFC", char) != char:
                found.add(cp)
            parts = decomposition.split()
            if len(parts) == 2:
                found.add(int(parts[1], 16))
    # Hangul syllables compose by arithmetic, not from the table: a vowel after a leading
    # consonant, a trailing consonant after a syllable.
    found.update(range(0x1161, 0x1176), range(0x11A8, 0x11C3))
    return frozenset(found)


@functools.cache
def _python_class(extra: str) -> str:
    return re2_class(_ranges(nfc_suspects() | {ord(c) for c in extra}))


def to_arrow(values: pd.Series) -> pa.Array:
    """The strings of `values` as one Arrow array, anything else null. A lone surrogate raises
    UnicodeEncodeError, as a pandas string Series of it would."""
    if isinstance(values.array, pd.arrays.ArrowStringArray):
        text = pa.array(values.array).cast(pa.large_string())
        return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    return pa.array([v if isinstance(v, str) else None for v in values.to_numpy(object)],
                    pa.large_string())


def python_rows(text: pa.Array, extra: str = "") -> np.ndarray:
    """Rows whose value Python's NFC could change, or that hold a character of `extra`: the
    rows that need Python (few: published text is mostly NFC already)."""
    found = pc.match_substring_regex(text, _python_class(extra))
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def collapse(text: pa.Array) -> pa.Array:
    """`" ".join(t.split())` of each NFC value (nulls stay null)."""
    return pc.utf8_trim(pc.replace_substring_regex(text, _RUN, " "), " ")


def paragraphs(text: pa.Array) -> pa.Array:
    r"""Of each NFC value without NUL: the paragraphs of `re.split(r"\n\s*\n", t)` with their
    whitespace collapsed, the empty ones dropped, joined by a blank line (nulls stay null).
    A value holding NUL comes out wrong: python_rows(text, "\0") finds them."""
    marked = pc.replace_substring_regex(text, _BREAK, _MARK)
    # A mark replaced a whole whitespace run, so no space touches it; only the ends can hold
    # a space or a mark (an empty first or last paragraph).
    spaced = pc.utf8_trim(pc.replace_substring_regex(marked, _RUN, " "), " " + _MARK)
    # split and join: Arrow's literal replace_substring took several times longer
    return pc.binary_join(pc.split_pattern(spaced, _MARK), pa.scalar("\n\n", spaced.type))
