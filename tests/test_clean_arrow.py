"""etl.clean's Arrow paths against the per-value Python definitions they replace.

The classes written out for RE2 are checked against Python for every code point; clean_body
and the single-line collapse against small Python oracles on generated text (Hypothesis).
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl import arrowtext
from etl.clean import _MOJIBAKE, BOILERPLATE, _mojibake, _text, clean_body, word_count

ALL = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000)


def reference_clean_body(body: object, source: object) -> str:
    """The per-body algorithm clean_body had before Arrow (its suspects search only skipped
    paragraphs no pattern can match)."""
    if not isinstance(body, str) or not body:
        return ""
    patterns = BOILERPLATE["*"] + (BOILERPLATE.get(source, ()) if isinstance(source, str) else ())
    paras = [" ".join(p.split())
             for p in re.split(r"\n\s*\n", unicodedata.normalize("NFC", body))]
    return "\n\n".join(p for p in paras
                       if p and not any(re.search(x, p.lower()) for x in patterns))


def reference_collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


# -- the classes, for every code point ---------------------------------------------------------

def test_whitespace_class_is_pythons():
    spaces = {cp for lo, hi in arrowtext.SPACE_RANGES for cp in range(lo, hi + 1)}
    assert spaces == {ord(c) for c in ALL if c.isspace()}
    assert spaces == {ord(c) for c in re.findall(r"\s", ALL)}
    assert "".join(ALL.split()) == "".join(c for c in ALL if ord(c) not in spaces)
    # ...and RE2 reads the written-out class as those characters.
    got = pc.replace_substring_regex(pa.array([ALL]), arrowtext._SPACE, "\0")[0].as_py()
    assert got == re.sub(r"\s", "\0", ALL)


def test_nfc_suspects_cover_everything_python_nfc_changes():
    suspects = arrowtext.nfc_suspects()
    above = ALL[ALL.index(chr(arrowtext._NFC_SCAN_END)):]
    assert not any(unicodedata.combining(c) or unicodedata.decomposition(c) for c in above)
    cps = np.array([ord(c) for c in ALL], np.uint32)
    inert = cps[~np.isin(cps, np.array(sorted(suspects), np.uint32))]
    assert not any(unicodedata.combining(chr(cp)) for cp in inert.tolist())
    # Texts of the other characters, in any order, are NFC already.
    rng = np.random.default_rng(14)
    for _ in range(3):
        assert unicodedata.is_normalized("NFC", inert.tobytes().decode("utf-32-le"))
        inert = rng.permutation(inert)
    # Every character a composition starts from, followed by many of the others.
    firsts = {chr(int(d.split()[0], 16)) for d in map(unicodedata.decomposition, ALL[:0x30000])
              if d and not d.startswith("<") and len(d.split()) == 2}
    firsts |= {chr(cp) for cp in range(0x1100, 0x1113)} | {"\uac00", "\ud7a3"}  # Hangul
    sample = list(inert[:5000].tobytes().decode("utf-32-le"))
    for first in sorted(firsts):
        if ord(first) not in suspects:
            assert unicodedata.is_normalized("NFC", first + first.join(sample)), hex(ord(first))


def test_nfc_class_in_re2_flags_exactly_the_suspects():
    chars = pa.array(list(ALL), pa.large_string())
    flagged = np.flatnonzero(arrowtext.python_rows(chars, "\0"))
    assert {ord(ALL[i]) for i in flagged} == arrowtext.nfc_suspects() | {0}


def test_lower_maps_to_ascii_only_where_re2_ignoring_case_matches():
    # _prefilter's premise: lower() keeps one character per character but for "İ" (searched
    # always), and a character it lowers to an ASCII letter matches that letter under (?i).
    lowered = [c.lower() for c in ALL]
    assert [c for c, low in zip(ALL, lowered, strict=True) if len(low) != 1] == ["\u0130"]
    to_ascii: dict[str, list[str]] = {}
    for c, low in zip(ALL, lowered, strict=True):
        if low.isascii() and low.isalpha():
            to_ascii.setdefault(low, []).append(c)
    assert len(to_ascii) == 26
    for letter, chars in to_ascii.items():
        hits = pc.match_substring_regex(pa.array(chars), f"(?i){letter}")
        assert all(hits.to_pylist()), letter


def test_mojibake_test_in_re2_is_pythons():
    values = [lead + chr(cp) for lead in "ÃÂÐÑâaé€" for cp in range(0x3000)]
    values += ["â€™", "x€", "€â", "â\n€", "Ã", "", "plain"]
    column = pd.Series([*values, None], dtype="str")
    want = [*(bool(re.search(_MOJIBAKE, v)) for v in values), False]
    assert _mojibake(column).tolist() == want
    assert _mojibake(column.astype(object)).tolist() == want


# -- generated text ----------------------------------------------------------------------------

PHRASES = ("Read more about", "read more about: x", "Related article", "Related articles",
           "Advertisement", "ADVERTISEMENT", "advertisements", "We have a small favour to ask",
           "we have a small favor to ask.", "The views expressed in opinion pieces do not "
           "necessarily reflect the position of The Moscow Times.", "the moscow times",
           "İ", "ſ", "K")
ALPHABET = ("ab z.,:-" "\n\n\n\t\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u00a0\u1680\u2000\u2009\u200a"
            "\u2028\u2029\u202f\u205f\u3000\u200b\x00"
            "İıßẞéèñçЖжЁёЙй中文字한국\u0301\u0308\u0306\u0327\u1100\u1161\u11a8\u212b\u2126"
            "\u0345\u05b0\u0f73\u00c5\u004f\u0344\uf900\U0002f800")


@st.composite
def mixed_case(draw: st.DrawFn) -> str:
    phrase = draw(st.sampled_from(PHRASES))
    flags = draw(st.lists(st.booleans(), min_size=len(phrase), max_size=len(phrase)))
    return "".join(c.upper() if f else c for c, f in zip(phrase, flags, strict=True))


PIECES = st.one_of(st.text(ALPHABET, max_size=10), mixed_case(),
                   st.sampled_from(["\n\n", "\n \n", "\n\u00a0\n", " \n\u3000\n ", "\n\x85\n",
                                    "\u2028\u2029", "\n"]))
BODIES = st.one_of(st.lists(PIECES, max_size=14).map("".join), st.none(), st.just(""),
                   st.integers(), st.just(float("nan")))
SOURCES = st.sampled_from(["moscowtimes", "elsewhere", "*", None])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(BODIES, SOURCES), min_size=1, max_size=12))
def test_clean_body_equals_the_per_body_python_algorithm(rows):
    bodies = pd.Series([b for b, _ in rows], dtype=object)
    sources = pd.Series([s for _, s in rows], dtype=object)
    want = [reference_clean_body(b, s) for b, s in rows]
    got = clean_body(bodies, sources)
    assert got.tolist() == want
    assert got.dtype == "str"
    if all(isinstance(b, str) or b is None for b, _ in rows):  # also from an Arrow column
        assert clean_body(bodies.astype("str"), sources).tolist() == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(ALPHABET, max_size=20), mixed_case(), st.none()),
                min_size=1, max_size=8))
def test_single_line_collapse_equals_python(values):
    got = _text(pd.Series(values, dtype=object))
    want = [reference_collapse(v) if isinstance(v, str) else None for v in values]
    assert [None if pd.isna(v) else v for v in got] == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(ALPHABET + "_9٣²", max_size=30), st.none(), st.integers()),
                min_size=1, max_size=10))
def test_word_count_equals_a_python_regex_count(values):
    want = [len(re.findall(r"\w+", v)) if isinstance(v, str) else 0 for v in values]
    assert word_count(pd.Series(values, dtype=object)).tolist() == want


def test_valid_texts_fixes_list_values_only_where_a_string_is_invalid():
    from contracts.schema import LIST_FIELDS, valid_text
    from etl.clean import valid_texts

    lists = [["Ann", "B\x00b"], ["a\r\nb", 5], None, ("ok",), ["\ud800"]]
    clean_lists = [["Ann"], [], None, ("x",), ["fine"]]
    df = pd.DataFrame({LIST_FIELDS[0]: pd.Series(lists, dtype=object),
                       LIST_FIELDS[1]: pd.Series(clean_lists, dtype=object)})
    assert valid_texts(df) == sum(valid_text(v)[1] for value in lists if value
                                  for v in value if isinstance(v, str))
    assert df[LIST_FIELDS[0]].tolist() == [["Ann", "Bb"], ["a\nb", 5], None, ("ok",), ["\ufffd"]]
    assert df[LIST_FIELDS[1]].tolist() == clean_lists


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(ALPHABET + "_9٣²¼ﬁＡİ\u0301", max_size=30), st.none()),
                min_size=1, max_size=10))
def test_the_transforms_sketcher_counts_words_as_word_count_does(values):
    """The sketch's tokens stand in for word_count where NFKC leaves a body alone; where it
    changes one ("¼" becomes "1⁄4": two tokens, one word), word_count counts it."""
    from etl.clusters import PartSketcher

    bodies = pd.Series(values, dtype=object)
    want = [len(re.findall(r"\w+", v)) if isinstance(v, str) else 0 for v in values]
    assert PartSketcher().count_words(bodies).tolist() == want
