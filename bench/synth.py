"""Synthetic raw crawl batches, in exactly the format the spiders land, for the ETL benchmark.

    .venv/bin/python -m bench.synth --n 1000000 --data-dir /tmp/nd --seed 1 \\
        --start 2019-01-01T02:00:00+00:00 --end 2026-11-27T02:00:00+00:00

writes, for each of the (default 5) sources, one complete crawl window
`{data}/raw/source=S/window=W/` (contracts.layout.window_dir): articles.jsonl (one JSON
object per line with exactly the crawl fields of contracts/schema.py), an empty rejects.jsonl, a
crawl.log line and, last, stats.json (the keys etl.transform reads), so the real transform reads it
unchanged. The ground truth (which rows are copies, near copies or bad, and of what) goes to
`{data}/synth-W.json`, outside the raw layout.

What the rows look like (all of it seeded; no text is copied from any real article):
- sources with their own URL and id schemes, time zones (fixed, DST-switching, "Z"), sections;
- publication times uniform over [start, end) with the source's offset; the crawl ran just after
  the window (crawled_at = end + up to 3 h, as the nightly DAG does);
- bodies: lognormal length (mean about 4.5 KB, long tail, clipped to 0.4..80 KB), paragraphs of
  about 2 sentences (geometric) joined by one blank line, sentences from part-of-speech templates
  filled from a Zipf-weighted vocabulary of about 3,300 distinct words, names, places and numbers;
  a few bodies carry boilerplate paragraphs that etl.clean strips;
- 0..3 authors (names with diacritics, some in NFD), some as one raw byline "By A, B and C";
  tags, images, related links, modified dates for some;
- exact duplicates (5 %): the title, authors and body of another row of the batch under a new id
  and URL, syndicated by another source or republished by the same one, published later;
- near duplicates (5 %): the same with a small edit: one sentence rewritten, a non-boilerplate
  line appended ("Editing by ..."), or the headline changed;
- bad rows (0.5 %, kinds in rotation): missing title, empty body, published in 1970, in 2099,
  without an offset, and garbage (no usable URL, date or words).

Speed (1M rows in about 100 s with --jobs 2): templates, slots and words are drawn for thousands
of documents at once with numpy; each document is then one bytes join over precomputed
"word + separator" pieces, so Python handles each document a few times and each word only inside
C. Rows are generated and written in chunks of CHUNK rows, in --jobs worker processes: memory
stays bounded. Output is a pure function of (n, seed, start, end, sources, shares), whatever the
number of workers: chunk c draws from SeedSequence([seed, c]).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from contracts.dates import utc
from contracts.layout import window_dir, window_label
from contracts.schema import CRAWL_FIELDS

CHUNK = 10_000  # rows per generation chunk; part of the determinism contract, do not tune
BODY_BATCH = 2_000  # documents rendered per numpy pass: bounds the per-word temporaries

DEFAULT_START = "2019-01-01T02:00:00+00:00"
DEFAULT_END = "2026-11-27T02:00:00+00:00"

BAD_KINDS = ("missing_title", "empty_body", "date_1970", "date_2099", "naive_date", "garbage")


# -- sources -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceStyle:
    """How one site names, dates and labels its articles."""

    name: str
    domain: str
    share: float  # of the batch's rows
    url: str  # format with y, m, d, slug, sid, section
    hex_ids: bool  # id = first 16 hex digits of sha1(url), as the generic spider makes them
    offset_min: int  # standard UTC offset in minutes
    dst: bool  # one hour more from April to October (good enough for a benchmark)
    zulu: bool  # writes UTC as "Z" instead of "+00:00"
    date_from: tuple[str, ...]
    sections: tuple[str, ...]
    agency: str


SOURCES: tuple[SourceStyle, ...] = (
    SourceStyle("moscowtimes", "www.themoscowtimes.com", 0.30,
                "https://www.themoscowtimes.com/{y}/{m:02d}/{d:02d}/{slug}-a{sid}", False, 180,
                False, False, ("meta:article:published_time", "jsonld:datePublished"),
                ("news", "business", "opinion", "arts-and-life", "ukraine-war"),
                "The Moscow Times"),
    SourceStyle("harbourpost", "www.harbourpost.example", 0.20,
                "https://www.harbourpost.example/{section}/{y}/{m:02d}/{d:02d}/{slug}/", True,
                -300, True, False, ("meta:article:published_time", "jsonld:datePublished",
                                    "feed:pubDate"),
                ("politics", "business", "world", "local", "sports", "science"), "Harbour Post"),
    SourceStyle("northwire", "northwire.example", 0.20,
                "https://northwire.example/articles/{sid}-{slug}", False, 0, False, True,
                ("jsonld:datePublished", "news:publication_date"),
                ("world", "markets", "energy", "technology", "health"), "Northwire"),
    SourceStyle("rheinblatt", "www.rheinblatt.example", 0.15,
                "https://www.rheinblatt.example/en/{section}/{slug}.{sid}.html", False, 60, True,
                False, ("meta:article:published_time", "byline:time"),
                ("europe", "economy", "culture", "opinion"), "Rheinblatt"),
    SourceStyle("deccanledger", "www.deccanledger.example", 0.15,
                "https://www.deccanledger.example/{section}/{slug}/article{sid}.ece", False, 330,
                False, False, ("meta:article:published_time", "jsonld:datePublished"),
                ("national", "business", "sport", "cities", "sci-tech"), "Deccan Ledger"),
)


# -- vocabulary ----------------------------------------------------------------------------------
# Word lists are ordered roughly by how often news text uses them: the order is the Zipf rank.

_NOUNS = """
government minister president official company market economy price rate bank court law report
plan deal election party city country region police army border policy budget tax oil gas energy
sanction spokesman lawmaker parliament committee agency ministry investigation case trial judge
lawyer prosecutor verdict sentence charge protest rally crowd group leader opposition campaign
vote poll voter candidate seat coalition reform bill measure decision statement interview
conference summit meeting talk agreement treaty ceasefire attack strike drone missile troop
soldier officer commander operation conflict crisis war peace security threat risk warning
concern fear hope support demand pressure move step effort attempt proposal initiative project
program scheme fund grant loan debt deficit surplus growth inflation recession revenue profit
loss share stock bond currency ruble dollar euro investor trader analyst economist shareholder
executive director chairman founder owner firm business industry sector factory plant mine
farm crop harvest export import supply shortage demand consumer customer worker employee union
wage salary pension benefit job unemployment household family child student teacher school
university hospital doctor nurse patient vaccine virus outbreak disease treatment health
service network system platform app website user account data privacy record document file
letter message post video photo image article newspaper journalist editor reporter broadcaster
channel station airport flight airline passenger train railway road bridge port ship vessel
fleet car vehicle driver accident fire flood storm heatwave drought weather climate emission
pipeline grid reactor station power electricity fuel coal field well reserve resource land
property house apartment building construction developer rent mortgage town village district
province state capital neighbour ally partner rival critic activist volunteer resident citizen
migrant refugee prisoner detainee suspect victim witness survivor family relative friend
community church museum theatre festival film book artist writer musician concert exhibition
season match team player coach club league tournament championship title medal record fan
stadium ticket event ceremony anniversary holiday weekend morning evening night week month year
decade century history future period term deadline schedule target figure number percentage
total majority minority half quarter estimate forecast survey study research scientist expert
source detail question answer issue problem challenge solution option choice change increase
decrease rise fall drop jump surge slump recovery rebound trend pace level limit cap ban rule
regulation standard license permit contract tender auction sale purchase acquisition merger
stake asset subsidiary brand product model device chip software hacker cyberattack leak breach
""".split()

_IRREGULAR_PLURALS = {"child": "children", "crisis": "crises", "analysis": "analyses",
                      "spokesman": "spokesmen", "chairman": "chairmen", "police": "police",
                      "person": "people", "series": "series", "talk": "talks"}

_VERBS = """
announce approve reject sign say raise cut launch open close block ban propose plan expect report
warn urge deny confirm accuse detain arrest release fine sue investigate suspend resume lift impose
extend delay cancel win lose hold meet visit call ask demand push face seek claim offer reach agree
refuse allow order drop rise fall grow slow boost double hit pass vote elect appoint replace
dismiss hire build buy sell export import supply cost pay spend invest borrow lend tell leave send
bring take give make find keep lead set put run see begin drive show strike fight shut spread
withdraw overturn criticize praise welcome condemn dismiss question challenge defend protect
attack target capture destroy damage restore repair upgrade expand reduce increase limit
tighten ease support oppose back join quit host attend organize publish broadcast post share
discuss debate review examine consider approve adopt amend introduce unveil present submit file
transfer move shift switch return arrive depart land evacuate rescue treat test develop design
produce deliver ship receive collect raise fund finance acquire merge list trade
""".split()

_IRREGULAR_PAST = {
    "say": "said", "cut": "cut", "win": "won", "lose": "lost", "hold": "held", "meet": "met",
    "rise": "rose", "fall": "fell", "grow": "grew", "hit": "hit", "build": "built",
    "buy": "bought", "sell": "sold", "pay": "paid", "spend": "spent", "lend": "lent",
    "tell": "told", "leave": "left", "send": "sent", "bring": "brought", "take": "took",
    "give": "gave", "make": "made", "find": "found", "keep": "kept", "lead": "led", "set": "set",
    "put": "put", "run": "ran", "see": "saw", "begin": "began", "drive": "drove",
    "seek": "sought", "strike": "struck", "fight": "fought", "shut": "shut", "spread": "spread",
    "withdraw": "withdrew", "plan": "planned", "drop": "dropped", "ban": "banned",
    "ship": "shipped", "submit": "submitted", "transfer": "transferred", "quit": "quit",
    "commit": "committed", "admit": "admitted",
}

_ADJECTIVES = """
new former senior local national federal regional foreign major key top first last final recent
early late large small big high low strong weak sharp steady record annual monthly quarterly
economic political military financial public private independent official state digital global
western eastern northern southern central rural urban legal illegal criminal civil human social
cultural environmental industrial commercial strategic nuclear Russian European American Asian
African international domestic joint possible likely unlikely significant serious severe minor
critical crucial vital long short open closed free fair full partial temporary permanent
emergency special general common single double rapid slow gradual sudden unexpected surprise
controversial popular unpopular young old elderly wealthy poor rich cheap expensive costly
profitable available limited massive huge tiny modest heavy light fresh further additional
extra previous next current future past historic modern traditional online mobile remote
direct indirect effective powerful influential prominent leading junior chief deputy acting
interim outgoing incoming veteran rising falling growing shrinking stable volatile uncertain
clear unclear secret confidential anonymous unnamed alleged suspected detained jailed exiled
wounded injured dead missing displaced armed unarmed peaceful violent tense calm busy quiet
""".split()

_ADVERBS = """
sharply quickly slowly again already still also recently initially formally publicly reportedly
officially narrowly largely partly fully briefly firmly openly repeatedly earlier later
nearly almost roughly about only just even soon eventually finally immediately apparently
reluctantly unanimously strongly heavily widely closely directly personally jointly
""".split()

_PREPOSITIONS = """
in in in on on for for with with after after at from from against over under amid during
despite between across near into toward without about through since following before
""".split()

_DETERMINERS = "the the the the the the this its their every each another one that our".split()
_PRONOUNS = "we they it this that he she".split()
_CONJUNCTIONS = "and and and but while as because although".split()
_SAY = """said said said said said added noted told_reporters wrote claimed argued warned
stressed confirmed""".split()
_TIMES = """on_Monday on_Tuesday on_Wednesday on_Thursday on_Friday on_Saturday on_Sunday
last_week this_week earlier_this_month last_month this_year last_year in_January in_March in_May
in_July in_September in_November on_Monday_evening late_on_Friday overnight in_recent_weeks
in_recent_days""".split()

_PLACES = """
Moscow Russia Ukraine Kyiv Berlin Germany London Britain Paris France Washington Beijing China
Tokyo Japan Delhi India Mumbai Brussels Warsaw Poland Minsk Belarus Tbilisi Georgia Yerevan
Armenia Baku Astana Kazakhstan Tashkent Istanbul Turkey Ankara Tehran Iran Cairo Egypt Dubai
Riyadh Rome Italy Madrid Spain Vienna Prague Budapest Helsinki Finland Stockholm Oslo Riga
Tallinn Vilnius Chicago Boston Texas California Ottawa Canada Sydney Seoul Singapore Jakarta
Bangalore Chennai Kolkata Hyderabad Pune Munich Hamburg Cologne Frankfurt Dresden Leipzig
Siberia Crimea Donetsk Kharkiv Odesa Lviv St._Petersburg Kazan Novosibirsk Yekaterinburg
Vladivostok Kaliningrad Murmansk Sochi Northbridge Ravensford Port_Alder Eastmoor Kellingham
Brightwater Oakhaven Marlow_Bay Stonemere Westfall
""".replace("_", "\u00a0").split()

_FIRST = """
Anna Ivan Maria Dmitry Olga Sergei Elena Alexei Natalia Pavel Irina Mikhail Tatiana Andrei
Yulia Nikolai James Mary John Patricia Robert Jennifer Michael Linda David Sarah Daniel Emily
Thomas Laura Hans Katrin Jürgen Lena Stefan Ursula Priya Rahul Ananya Vikram Deepa Arjun Kavya
Rohan José Sofía Zoë Chloé François Søren Łukasz Małgorzata Renée Mehmet Ayşe Leila Omar
Wei Mei Hiroshi Yuki Min-jun Ji-woo Kwame Amara Tomás Inès Björn Astrid
""".split()

_LAST = """
Ivanov Petrova Smirnov Kuznetsova Popov Sokolova Lebedev Kozlova Novikov Morozova Volkov
Pavlova Semenov Egorova Orlov Fedorova Smith Johnson Williams Brown Jones Garcia Miller Davis
Wilson Anderson Taylor Thomas Moore Martin Jackson Clarke Müller Schmidt Schneider Fischer
Weber Wagner Becker Hoffmann Schäfer Koch Sharma Patel Singh Kumar Gupta Iyer Reddy Nair Rao
Menon Banerjee Desai García Fernández López Martínez Dubois Lefèvre Moreau Nowak Kowalski
Wiśniewska Yılmaz Demir Haddad Nasser Chen Wang Li Zhang Tanaka Sato Kim Park Mensah Okafor
Andersen Nielsen Lindqvist Østergaard Novák Horváth
""".split()

_AGENCIES = ("Reuters", "AFP", "AP", "Interfax", "Bloomberg", "TASS")

_TOPICS = """Economy Politics Sanctions Energy Elections Courts Health Climate Technology Business
Markets Culture Sport Science Education Transport Housing Crime Defense Diplomacy Migration
Media Religion Environment Agriculture Banking Inflation Oil Gas Protests War Ukraine Kremlin
Opinion Analysis Explainer Interview Weather Travel Music Film Books""".split()

# Boilerplate paragraphs some bodies carry; etl.clean strips each of them (etl.clean.BOILERPLATE).
_STRIPPED = ("Advertisement", "Read more about: {tag}",
             "We have a small favor to ask. Independent journalism needs your support.")
_DISCLAIMER = ("The views expressed in opinion pieces do not necessarily reflect the position of "
               "The Moscow Times.")
# Lines a near copy appends: NOT boilerplate for etl.clean, so the copy stays a different text.
_ADDED_LINES = ("Editing by {name}.", "Additional reporting by {name}.",
                "This article has been updated with additional reporting.",
                "Follow {source} on Telegram for the latest updates.",
                "Correction: an earlier version of this story misstated a figure.")


def _plural(noun: str) -> str:
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _past(verb: str) -> str:
    if verb in _IRREGULAR_PAST:
        return _IRREGULAR_PAST[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def _numbers(rng: np.random.Generator) -> list[str]:
    """Number tokens as news writes them: counts, money, percentages, years."""
    out = [str(n) for n in rng.integers(2, 1000, 120)]
    out += [f"{rng.integers(1, 99)},{rng.integers(0, 1000):03d}" for _ in range(40)]
    out += [f"{rng.integers(1, 100) / 10:.1f} {unit}" for unit in ("million", "billion")
            for _ in range(30)]
    out += [f"${rng.integers(1, 500) / 10:.1f} {unit}" for unit in ("million", "billion")
            for _ in range(20)]
    out += [f"{rng.integers(1, 100)}%" for _ in range(40)]
    out += [str(y) for y in range(2010, 2027)]
    return list(dict.fromkeys(out))


def _names(rng: np.random.Generator, k: int) -> list[str]:
    first = rng.choice(len(_FIRST), k)
    last = rng.choice(len(_LAST), k)
    names = list(dict.fromkeys(f"{_FIRST[f]} {_LAST[n]}" for f, n in zip(first, last,
                                                                           strict=True)))
    # A few names come decomposed (NFD), as some CMSs emit them: clean must normalise them.
    return [unicodedata.normalize("NFD", n) if i % 97 == 0 else n for i, n in enumerate(names)]


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:]


# -- the text engine -----------------------------------------------------------------------------

# Sentence templates: part-of-speech classes; Q< and Q> are typographic quotes, "," a comma.
_BODY_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("DET ADJ NOUN VERBD DET NOUN PREP DET NOUN", 3.0),
    ("DET NOUN PREP PLACE VERBD DET ADJ NOUN , NAME SAY", 2.5),
    ("Q< DET NOUNS VERBD DET ADJ NOUN ADV , Q> NAME SAY", 1.5),
    ("Q< PRON VERBD DET ADJ NOUN PREP PLACE , Q> DET ADJ NOUN SAY", 1.0),
    ("PREP NUM , DET NOUN PREP PLACE VERBD DET ADJ NOUN", 1.5),
    ("DET NOUN VERBD PREP NUM NOUNS PREP PLACE TIME", 2.0),
    ("NAME , DET ADJ NOUN , VERBD DET NOUN CONJ VERBD DET ADJ NOUNS", 1.5),
    ("DET NOUNS PREP PLACE ADV VERBD DET NOUN PREP DET ADJ NOUN", 2.0),
    ("PLACE VERBD DET NOUN PREP DET ADJ NOUN , DET NOUN SAY TIME", 1.5),
    ("DET ADJ NOUN , ADJ PREP NUM , VERBD DET NOUN PREP NUM", 1.0),
    ("PREP DET NOUN , DET NOUNS VERBD DET ADJ NOUN CONJ DET NOUN VERBD DET NOUN ADV", 1.5),
    ("DET NOUN SAY DET NOUN VERBD DET ADJ NOUN PREP PLACE", 1.5),
    ("TIME , DET ADJ NOUN PREP NOUNS VERBD PREP PLACE", 1.0),
    ("NAME VERBD DET NOUN \u2014 DET ADJ NOUN PREP DET NOUN \u2014 TIME", 0.5),
    ("DET NOUNS VERBD NUM NOUNS PREP DET NOUN CONJ DET NOUN VERBD PREP NUM", 1.0),
)
_TITLE_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("PLACE VERB3 NOUN PREP NOUNS", 2.0),
    ("NAME VERB3 ADJ NOUN PREP PLACE", 1.5),
    ("NOUNS VERB PREP NUM PREP PLACE", 1.5),
    ("ADJ NOUN VERB3 DET NOUN PREP PLACE", 2.0),
    ("PLACE NOUN VERB3 ADJ NOUN , NOUNS SAY", 1.0),
    ("ADJ NOUNS VERB ADJ NOUN PREP NOUN", 1.0),
    ("Q< ADJ NOUN Q> VERB3 NOUN PREP PLACE", 0.5),
)
_CAPTION_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("NAME PREP DET NOUN PREP PLACE", 2.0),
    ("DET ADJ NOUN PREP PLACE TIME", 1.0),
    ("NOUNS PREP DET NOUN PREP PLACE", 1.0),
)
_NO_SPACE_BEFORE = {",", "Q>"}
_NO_SPACE_AFTER = {"Q<"}
_LITERALS = {",": ",", "Q<": "\u201c", "Q>": "\u201d", "\u2014": "\u2014"}


@dataclass
class Templates:
    """A template set flattened into arrays, so slots of many sentences are built at once."""

    start: np.ndarray  # first flat slot of each template
    length: np.ndarray  # slots per template
    cdf: np.ndarray  # template choice
    cls: np.ndarray  # flat: class id per slot
    space: np.ndarray  # flat: a space follows this slot (unless it ends the sentence)
    cap: np.ndarray  # flat: this slot starts the sentence (capitalise it)


class Vocab:
    """Every word, capitalised word and word + separator "piece" of the text engine."""

    SEPARATORS = (" ", "", ". ", ".\n\n", ".")
    SP, NONE, END, PARA, FINAL = range(5)
    TABLE = 1 << 16  # resolution of the per-class inverse-CDF sampling table

    def __init__(self) -> None:
        rng = np.random.default_rng(20240601)  # the vocabulary is fixed: seed only the sampling
        nouns = list(dict.fromkeys(_NOUNS))
        verbs = list(dict.fromkeys(_VERBS))
        classes: dict[str, list[str]] = {
            "NOUN": nouns,
            "NOUNS": [_plural(n) for n in nouns],
            "VERB": verbs,
            "VERB3": [_third_person(v) for v in verbs],
            "VERBD": [_past(v) for v in verbs],
            "ADJ": list(dict.fromkeys(_ADJECTIVES)),
            "ADV": _ADVERBS,
            "PREP": _PREPOSITIONS,
            "DET": _DETERMINERS,
            "PRON": _PRONOUNS,
            "CONJ": _CONJUNCTIONS,
            "SAY": [s.replace("_", " ") for s in _SAY],
            "TIME": [s.replace("_", " ") for s in _TIMES],
            "PLACE": _PLACES,
            "NAME": _names(rng, 1600),
            "NUM": _numbers(rng),
            **{lit: [text] for lit, text in _LITERALS.items()},
        }
        # Within a class the list order is the rank, weights ~ 1/(rank+2) (Zipf-like), so "the",
        # "said", "government" dominate as in news. Sampling is one gather from a table per
        # class (inverse CDF at TABLE points), not a search per class.
        self.class_ids = {name: i for i, name in enumerate(classes)}
        self.table = np.empty((len(classes), self.TABLE), dtype=np.int32)
        words: list[str] = []
        points = (np.arange(self.TABLE) + 0.5) / self.TABLE
        for i, members in enumerate(classes.values()):
            w = 1.0 / (np.arange(len(members)) + 2.0)
            cdf = np.cumsum(w) / w.sum()
            pick = np.minimum(np.searchsorted(cdf, points, side="right"), len(members) - 1)
            self.table[i] = len(words) + pick
            words += members
        self.words = words
        self.n_words = len(words)
        self.names = classes["NAME"]
        self.tags = [*_TOPICS, *_PLACES[:80], *[_cap(n) for n in nouns[:120]]]
        # A piece is a word (or its capitalised copy) with the separator that follows it, as
        # UTF-8 bytes: documents are joined from pieces, so Python touches one object per word.
        n_sep = len(self.SEPARATORS)
        forms = [*words, *(_cap(w) for w in words)]
        self.pieces = np.array([(f + sep).encode("utf-8") for f in forms
                                for sep in self.SEPARATORS], dtype=object)
        # Bodies are written into JSON with "\n" as their only escape (Generator.chunk).
        texts = [*forms, *_STRIPPED, _DISCLAIMER, *_ADDED_LINES, *_AGENCIES]
        if any(re.search(r'["\\\x00-\x1f]', t) for t in texts):
            raise ValueError("a vocabulary entry needs a JSON escape: Generator.chunk forbids it")
        self.piece_len = np.array([len(p) for p in self.pieces], dtype=np.int64)
        self.n_sep = n_sep

    def compile(self, templates: Sequence[tuple[str, float]]) -> Templates:
        cls: list[int] = []
        space: list[bool] = []
        cap: list[bool] = []
        starts, lengths, weights = [], [], []
        for text, weight in templates:
            slots = text.split()
            starts.append(len(cls))
            lengths.append(len(slots))
            weights.append(weight)
            first_word = next(i for i, s in enumerate(slots) if s not in _LITERALS)
            for i, slot in enumerate(slots):
                cls.append(self.class_ids[slot])
                nxt = slots[i + 1] if i + 1 < len(slots) else None
                space.append(slot not in _NO_SPACE_AFTER and nxt not in _NO_SPACE_BEFORE)
                cap.append(i == first_word)
        w = np.array(weights)
        return Templates(np.array(starts), np.array(lengths), np.cumsum(w) / w.sum(),
                         np.array(cls), np.array(space), np.array(cap))

    def render(self, tpl: Templates, n_sent: np.ndarray, rng: np.random.Generator, *,
               para_p: float = 0.0, final: int = FINAL) -> list[str]:
        """One string per document of n_sent[i] sentences; a sentence ends a paragraph with
        probability para_p; the last one ends with `final` (a separator id)."""
        out: list[str] = []
        for lo in range(0, len(n_sent), BODY_BATCH):
            out += self._render(tpl, n_sent[lo:lo + BODY_BATCH], rng, para_p, final)
        return out

    def _render(self, tpl: Templates, n_sent: np.ndarray, rng: np.random.Generator,
                para_p: float, final: int) -> list[str]:
        n_total = int(n_sent.sum())
        which = np.searchsorted(tpl.cdf, rng.random(n_total), side="right")
        which = np.minimum(which, len(tpl.cdf) - 1)
        slots_per_sent = tpl.length[which]
        flat = _ragged_arange(slots_per_sent, tpl.start[which])
        # Each slot's word, drawn within its class; the capitalised copy starts a sentence.
        draw = (rng.random(len(flat), dtype=np.float32) * self.TABLE).astype(np.int32)
        tok = self.table[tpl.cls[flat], draw].astype(np.int64)
        tok += self.n_words * tpl.cap[flat]
        sep = np.where(tpl.space[flat], self.SP, self.NONE)
        # Sentence and paragraph ends; the last sentence of a document ends it.
        sent_end = np.cumsum(slots_per_sent) - 1
        doc_last_sent = np.cumsum(n_sent) - 1
        ends = np.where(rng.random(n_total) < para_p, self.PARA, self.END)
        ends[doc_last_sent] = final
        sep[sent_end] = ends
        piece = tok * self.n_sep + sep
        # One join per document (a join over millions of pieces is several times slower per
        # piece than many small ones: it thrashes the cache).
        parts = self.pieces[piece].tolist()
        doc_end = (sent_end[doc_last_sent] + 1).tolist()
        join = b"".join
        return [join(parts[a:b]).decode("utf-8")
                for a, b in zip([0, *doc_end[:-1]], doc_end, strict=True)]


def _ragged_arange(lengths: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """concatenate(arange(s, s + n) for s, n in zip(starts, lengths)) without a Python loop."""
    total = int(lengths.sum())
    out_start = np.cumsum(lengths) - lengths
    return np.repeat(starts - out_start, lengths) + np.arange(total)


# -- rows ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shares:
    exact: float = 0.05
    near: float = 0.05
    bad: float = 0.005


_VOCAB: Vocab | None = None
_SENT_CHARS: float = 0.0


def vocab() -> Vocab:
    """The vocabulary (built once per process) and the mean sentence length it produces."""
    global _VOCAB, _SENT_CHARS
    if _VOCAB is None:
        _VOCAB = Vocab()
        probe = _VOCAB.render(_VOCAB.compile(_BODY_TEMPLATES), np.full(200, 20),
                              np.random.default_rng(0))
        _SENT_CHARS = sum(len(p.encode()) for p in probe) / (200 * 20)
    return _VOCAB


_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def _slug(title: str) -> str:
    plain = unicodedata.normalize("NFKD", title.lower()).encode("ascii", "ignore").decode()
    return "-".join(_SLUG_DROP.sub(" ", plain).split()[:9]) or "article"


def _iso(seconds: np.ndarray, offset_min: np.ndarray, zulu: bool, *, micro: bool = False
         ) -> list[str]:
    """ISO 8601 local time with the page's own offset, for epoch seconds (vectorised)."""
    unit = "us" if micro else "s"
    scale = 1_000_000 if micro else 1
    local = (seconds * scale).astype(np.int64) + offset_min.astype(np.int64) * 60 * scale
    text = np.datetime_as_string(local.astype(f"datetime64[{unit}]"), unit=unit).tolist()
    out = []
    for t, off in zip(text, offset_min.tolist(), strict=True):
        if off == 0 and zulu:
            out.append(t + "Z")
        else:
            sign = "+" if off >= 0 else "-"
            out.append(f"{t}{sign}{abs(off) // 60:02d}:{abs(off) % 60:02d}")
    return out


_NULL_BODY = '"body": null'


@dataclass
class Chunk:
    lines: dict[str, bytes]  # source -> its JSON lines of this chunk
    counts: dict[str, int]
    truth: dict[str, dict[str, str]]


class Generator:
    """Rows of one synthetic batch, chunk by chunk (see the module docstring)."""

    def __init__(self, n: int, seed: int, start: datetime, end: datetime,
                 sources: Sequence[SourceStyle] = SOURCES, shares: Shares | None = None) -> None:
        self.n, self.seed, self.start, self.end = n, seed, start, end
        self.sources = tuple(sources)
        self.shares = shares or Shares()
        self.v = vocab()
        self.body_tpl = self.v.compile(_BODY_TEMPLATES)
        self.title_tpl = self.v.compile(_TITLE_TEMPLATES)
        self.caption_tpl = self.v.compile(_CAPTION_TEMPLATES)
        w = np.array([s.share for s in self.sources])
        self.source_cdf = np.cumsum(w) / w.sum()
        self.n_chunks = -(-n // CHUNK)
        self.encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode

    def chunk(self, c: int) -> Chunk:
        """Chunk c (rows c*CHUNK ..) as JSON lines per source, with its ground truth."""
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, c]))
        lo = c * CHUNK
        truth: dict[str, dict[str, str]] = {"exact_duplicates": {}, "near_duplicates": {},
                                            "bad": {}}
        rows = self._rows(rng, lo, min(CHUNK, self.n - lo), truth, c)
        lines: dict[str, list[str]] = {}
        for row in rows:
            if tuple(row) != CRAWL_FIELDS:  # exactly the crawl fields, in schema order
                row = {f: row.get(f) for f in CRAWL_FIELDS}
            # The body is spliced in: json's non-ASCII string encoder is the slowest part of the
            # generator, and bodies need no escape but "\n" (Vocab checks that it is so).
            body, row["body"] = row["body"], None
            line = self.encode(row).replace(_NULL_BODY, '"body": "' + body.replace("\n", "\\n")
                                            + '"', 1)
            lines.setdefault(row["source"], []).append(line)
        return Chunk({name: ("\n".join(ls) + "\n").encode("utf-8") for name, ls in lines.items()},
                     {name: len(ls) for name, ls in lines.items()}, truth)

    def _rows(self, rng: np.random.Generator, lo: int, k: int,
              truth: dict[str, dict[str, str]], c: int) -> list[dict[str, Any]]:
        v = self.v
        src = np.minimum(np.searchsorted(self.source_cdf, rng.random(k), side="right"),
                         len(self.sources) - 1)
        sids = np.arange(lo, lo + k) + 100_000  # unique over the batch
        t0, t1 = self.start.timestamp(), self.end.timestamp()
        pub = rng.uniform(t0, t1, k).astype(np.int64)

        # Roles: exact counts per chunk (so small batches still hold every kind).
        role = np.zeros(k, dtype=np.int8)  # 0 plain, 1 exact copy, 2 near copy, 3 bad
        perm = rng.permutation(k)
        n_bad, n_exact, n_near = (int(k * s + 0.5) for s in (self.shares.bad, self.shares.exact,
                                                               self.shares.near))
        role[perm[:n_bad]] = 3
        role[perm[n_bad:n_bad + n_exact]] = 1
        role[perm[n_bad + n_exact:n_bad + n_exact + n_near]] = 2
        plain = np.flatnonzero(role == 0)
        original = np.full(k, -1)
        exact, near = np.flatnonzero(role == 1), np.flatnonzero(role == 2)
        if len(plain) >= len(near):
            original[exact] = rng.choice(plain, len(exact))
            # One near copy per original at most: two edits of one story could coincide (both
            # retitled "UPDATE: ..."), which would make them exact copies of each other.
            original[near] = rng.choice(plain, len(near), replace=False)
        else:  # a batch too small for copies
            role[exact] = role[near] = 0
        # A copy is published after its original (5 min .. 2 days), still inside the window.
        has_orig = original >= 0
        delay = rng.uniform(300, 2 * 86400, k).astype(np.int64)
        pub[has_orig] = np.minimum(pub[original[has_orig]] + delay[has_orig], int(t1) - 1)
        # Syndicated copies go to another source; the rest stay with the original's source.
        synd = has_orig & (rng.random(k) < 0.5)
        src[has_orig & ~synd] = src[original[has_orig & ~synd]]
        src[synd] = (src[original[synd]] + rng.integers(1, len(self.sources), synd.sum())
                     ) % len(self.sources) if len(self.sources) > 1 else src[synd]

        # Text.
        target = np.clip(rng.lognormal(np.log(4500) - 0.18, 0.6, k), 400, 80_000)
        n_sent = np.maximum(2, np.rint(target / _SENT_CHARS)).astype(np.int64)
        bodies = v.render(self.body_tpl, n_sent, rng, para_p=0.45)
        titles = v.render(self.title_tpl, np.ones(k, dtype=np.int64), rng, final=v.NONE)
        extra = v.render(self.body_tpl, np.ones(2 * k, dtype=np.int64), rng)
        subtitles, spare = extra[:k], extra[k:]
        captions = v.render(self.caption_tpl, np.ones(k, dtype=np.int64), rng)

        # Dates, per source style.
        offs = np.zeros(k, dtype=np.int64)
        month = pub.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12
        for i, s in enumerate(self.sources):
            m = src == i
            summer = (month[m] >= 3) & (month[m] <= 9)  # April..October, near enough
            offs[m] = s.offset_min + (60 * summer if s.dst else 0)
        pub_s = self._iso_by_source(pub, offs, src)
        has_mod = rng.random(k) < 0.6
        mod = pub + rng.lognormal(8.0, 1.5, k).astype(np.int64)
        mod_s = self._iso_by_source(mod, offs, src)
        crawl = np.full(k, t1) + rng.uniform(0, 3 * 3600, k)
        crawl_s = _iso(crawl, np.zeros(k, dtype=np.int64), False, micro=True)

        # Small categorical draws, all up front.
        n_auth = np.searchsorted(np.cumsum([0.12, 0.55, 0.25, 0.08]), rng.random(k), "right")
        auth_pick = rng.integers(0, len(v.names), (k, 3))
        agency = rng.random(k) < 0.1
        byline = rng.random(k) < 0.3
        n_tags = rng.integers(0, 7, k)
        tag_pick = rng.integers(0, len(v.tags), (k, 6))
        n_rel = rng.integers(0, 4, k)
        rel_pick = rng.integers(0, k, (k, 3))
        img = rng.random(k) < 0.7
        img_hex = rng.integers(0, 2**62, k)
        u = rng.random((k, 8))

        rows: list[dict[str, Any]] = []
        for i in range(k):
            s = self.sources[src[i]]
            authors: list[str] = []
            if agency[i] and n_auth[i] == 1:
                authors = [_AGENCIES[auth_pick[i, 0] % len(_AGENCIES)]]
            elif n_auth[i]:
                authors = [v.names[j] for j in dict.fromkeys(auth_pick[i, :n_auth[i]].tolist())]
                if byline[i]:
                    joined = (", ".join(authors[:-1]) + " and " + authors[-1]
                              if len(authors) > 1 else authors[0])
                    authors = [f"By {joined}"]  # the raw byline, as some sites give it
            body = bodies[i]
            if u[i, 0] < 0.08:
                body += "\n\n" + _STRIPPED[int(u[i, 1] * 3)].format(tag=v.tags[tag_pick[i, 0]])
            section = s.sections[int(u[i, 2] * len(s.sections))]
            if section == "opinion" and s.name == "moscowtimes":
                body += "\n\n" + _DISCLAIMER
            title = titles[i]
            local = datetime.fromtimestamp(int(pub[i]) + 60 * int(offs[i]), UTC)
            url = s.url.format(y=local.year, m=local.month, d=local.day, slug=_slug(title),
                               sid=int(sids[i]), section=section)
            site_id = (hashlib.sha1(url.encode()).hexdigest()[:16] if s.hex_ids
                       else str(sids[i]))
            has_sub = u[i, 3] < 0.5
            rows.append({
                "article_id": f"{s.name}:{site_id}",
                "source": s.name,
                "url": url,
                "title": title,
                "subtitle": subtitles[i] if has_sub else None,
                "authors": authors,
                "published_at": pub_s[i],
                "published_at_from": s.date_from[int(u[i, 4] * len(s.date_from))],
                "modified_at": mod_s[i] if has_mod[i] else None,
                "modified_at_from": s.date_from[0] if has_mod[i] else None,
                "section": section,
                "tags": [v.tags[j] for j in tag_pick[i, :n_tags[i]]],
                "language": "en",
                "description": (subtitles[i] if has_sub else body.split(". ", 1)[0] + ".")
                if u[i, 5] < 0.8 else None,
                "body": body,
                "image_url": f"https://static.{s.domain.removeprefix('www.')}/image/"
                             f"article_1360/{int(img_hex[i]):016x}.jpg" if img[i] else None,
                "image_caption": captions[i] if img[i] and u[i, 6] < 0.6 else None,
                "image_credits": (f"{v.names[auth_pick[i, 2]]} / {s.agency}"
                                  if img[i] and u[i, 7] < 0.5 else None),
                "related_urls": [],
                "crawled_at": crawl_s[i],
            })
        # Related links point at other articles of the same source in this chunk.
        by_source: dict[str, list[str]] = {}
        for r in rows:
            by_source.setdefault(r["source"], []).append(r["url"])
        for i, r in enumerate(rows):
            urls = by_source[r["source"]]
            r["related_urls"] = list(dict.fromkeys(urls[j % len(urls)]
                                                   for j in rel_pick[i, :n_rel[i]].tolist()
                                                   if urls[j % len(urls)] != r["url"]))
        # Copies take their original's text (after all originals are final).
        for i in np.flatnonzero(role == 1).tolist():
            o = rows[original[i]]
            rows[i].update(title=o["title"], authors=list(o["authors"]), body=_copied(o, rows[i]))
            truth["exact_duplicates"][rows[i]["article_id"]] = o["article_id"]
        for i in np.flatnonzero(role == 2).tolist():
            o = rows[original[i]]
            kind = int(u[i, 1] * 3)
            title, body = o["title"], _copied(o, rows[i])
            if kind == 0:
                body = _rewrite_sentence(body, spare[i].rstrip("."), u[i, 2])
            elif kind == 1:
                body += "\n\n" + _ADDED_LINES[int(u[i, 2] * len(_ADDED_LINES))].format(
                    name=v.names[auth_pick[i, 1]], source=self.sources[src[i]].agency)
            else:
                title = ("UPDATE: " + title) if u[i, 2] < 0.5 else title + " \u2014 " + "report"
            rows[i].update(title=title, authors=list(o["authors"]), body=body)
            truth["near_duplicates"][rows[i]["article_id"]] = o["article_id"]
        # Bad kinds rotate over the whole batch (not per chunk), so every kind shows up.
        first_bad = c * int(CHUNK * self.shares.bad + 0.5)
        for j, i in enumerate(np.flatnonzero(role == 3).tolist()):
            kind = BAD_KINDS[(first_bad + j) % len(BAD_KINDS)]
            _spoil(rows[i], kind, local_naive=pub_s[i][:19], u=float(u[i, 3]))
            truth["bad"][rows[i]["article_id"]] = kind
        return rows

    def _iso_by_source(self, seconds: np.ndarray, offs: np.ndarray, src: np.ndarray
                       ) -> list[str]:
        out: list[str] = [""] * len(seconds)
        for i, s in enumerate(self.sources):
            idx = np.flatnonzero(src == i)
            for j, text in zip(idx.tolist(), _iso(seconds[idx], offs[idx], s.zulu), strict=True):
                out[j] = text
        return out


def _copied(original: dict[str, Any], copy: dict[str, Any]) -> str:
    """The original's body as the copy carries it: a syndicating site drops the Moscow Times
    opinion disclaimer (which etl.clean strips for that source only), so that an exact copy
    stays exact after cleaning."""
    if copy["source"] == original["source"]:
        return original["body"]
    return original["body"].removesuffix("\n\n" + _DISCLAIMER)


def _rewrite_sentence(body: str, sentence: str, u: float) -> str:
    """Replace one sentence that does not span a paragraph break."""
    parts = body.split(". ")
    inner = [j for j, p in enumerate(parts) if "\n" not in p and j < len(parts) - 1]
    if not inner:
        return body + "\n\n" + sentence + "."
    parts[inner[int(u * len(inner))]] = sentence
    return ". ".join(parts)


def _spoil(row: dict[str, Any], kind: str, *, local_naive: str, u: float) -> None:
    """Make a row bad in the way real crawls go bad."""
    if kind == "missing_title":
        row["title"] = None if u < 0.5 else "  "
    elif kind == "empty_body":
        row["body"] = ""
    elif kind == "date_1970":  # an unset timestamp rendered as the epoch
        row["published_at"] = "1970-01-01T00:00:00+00:00"
    elif kind == "date_2099":  # a placeholder "never expires" date
        row["published_at"] = "2099-12-31T23:59:59+03:00"
    elif kind == "naive_date":  # local time without its offset: a guess, so it is refused
        row["published_at"] = local_naive
    elif kind == "garbage":
        sid = row["article_id"].split(":", 1)[1]
        row.update(url=f"htp:/{row['source']}/{sid}", title="\ufffd\ufffd\ufffd",
                   body="\u00a0\n\n-- \u00a0 --", published_at="N/A", authors=[], tags=[],
                   description=None, subtitle=None)


# -- output --------------------------------------------------------------------------------------

_WORKER: Generator | None = None


def _worker_init(args: tuple) -> None:
    global _WORKER
    _WORKER = Generator(*args)


def _worker_chunk(c: int) -> Chunk:
    assert _WORKER is not None
    return _WORKER.chunk(c)


def write(n: int, data_dir: str | Path, start: str | datetime, end: str | datetime, *,
          seed: int = 1, sources: int | Sequence[str] = len(SOURCES),
          shares: Shares | None = None, jobs: int = 1, log: bool = False) -> dict[str, Any]:
    """Generate the batch and land it as complete crawl windows; return the ground truth.

    jobs > 1 generates chunks in that many worker processes; the output is the same bytes."""
    start, end = utc(start), utc(end)
    if not start < end:
        raise ValueError(f"empty window: {start} .. {end}")
    styles = (SOURCES[:sources] if isinstance(sources, int)
              else tuple(s for s in SOURCES if s.name in set(sources)))
    args = (n, seed, start, end, styles, shares)
    gen = Generator(*args)
    began = time.perf_counter()
    folders = {s.name: window_dir(data_dir, s.name, start, end) for s in styles}
    handles = {}
    counts = dict.fromkeys(folders, 0)
    truth: dict[str, dict[str, str]] = {"exact_duplicates": {}, "near_duplicates": {}, "bad": {}}
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "stats.json").unlink(missing_ok=True)  # incomplete until rewritten last
        handles[name] = open(folder / ".articles.jsonl.tmp", "wb")  # noqa: SIM115
    pool = None
    try:
        if jobs > 1 and gen.n_chunks > 1:
            import multiprocessing

            pool = multiprocessing.get_context("fork").Pool(jobs, _worker_init, (args,))
            chunks = pool.imap(_worker_chunk, range(gen.n_chunks))  # in order: deterministic
        else:
            chunks = map(gen.chunk, range(gen.n_chunks))
        for done, chunk in enumerate(chunks, start=1):
            for name, data in chunk.lines.items():
                handles[name].write(data)
                counts[name] += chunk.counts[name]
            for key, part in chunk.truth.items():
                truth[key].update(part)
            if log and done % 10 == 0:
                print(f"synth: {min(done * CHUNK, n)} / {n} rows "
                      f"({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    finally:
        if pool is not None:
            pool.terminate()
        for fh in handles.values():
            fh.close()
    started = end + timedelta(seconds=30)
    for name, folder in folders.items():
        os.replace(folder / ".articles.jsonl.tmp", folder / "articles.jsonl")
        (folder / "rejects.jsonl").write_text("", encoding="utf-8")
        (folder / "crawl.log").write_text(f"synthetic batch by bench.synth: n={n} seed={seed}\n",
                                          encoding="utf-8")
        items = counts[name]
        failed = items // 500
        discovery = 12 + (end - start).days // 30  # news sitemaps + one monthly sitemap a month
        stats = {
            "start_time": started.isoformat(),
            "finish_time": (started + timedelta(seconds=items // 4 + 1)).isoformat(),
            "finish_reason": "finished",
            "nightdesk/mode": "synthetic",
            "nightdesk/articles": items,
            "nightdesk/article_requests": items + failed,
            "nightdesk/article_failed": failed,
            "nightdesk/discovery_requests": discovery,
            "downloader/request_count": items + failed + discovery + 1,
            "downloader/response_count": items + discovery + 1,
        }
        tmp = folder / ".stats.json.tmp"
        tmp.write_text(json.dumps(stats, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, folder / "stats.json")  # last: the window is complete
    truth = {
        "n": n, "seed": seed, "start": start.isoformat(), "end": end.isoformat(),
        "window": window_label(start, end), "sources": counts,
        "counts": {key: len(part) for key, part in truth.items()},
        **truth,
    }
    path = truth_path(data_dir, start, end)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(truth), encoding="utf-8")
    os.replace(tmp, path)
    return {**truth, "seconds": round(time.perf_counter() - began, 1)}  # not in the file


def truth_path(data_dir: str | Path, start: datetime, end: datetime) -> Path:
    return Path(data_dir) / f"synth-{window_label(utc(start), utc(end))}.json"


def source_names(sources: int = len(SOURCES)) -> list[str]:
    return [s.name for s in SOURCES[:sources]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.synth", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="rows in the batch (all sources)")
    p.add_argument("--data-dir", required=True, help="writes DIR/raw/source=S/window=W/")
    p.add_argument("--start", default=DEFAULT_START, help="window start, ISO 8601 with offset")
    p.add_argument("--end", default=DEFAULT_END, help="window end, ISO 8601 with offset")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sources", type=int, default=len(SOURCES), choices=range(1, 6))
    p.add_argument("--exact", type=float, default=Shares.exact, help="share of exact copies")
    p.add_argument("--near", type=float, default=Shares.near, help="share of near copies")
    p.add_argument("--bad", type=float, default=Shares.bad, help="share of bad rows")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (same output whatever the number)")
    args = p.parse_args(argv)
    truth = write(args.n, args.data_dir, args.start, args.end, seed=args.seed,
                  sources=args.sources, shares=Shares(args.exact, args.near, args.bad),
                  jobs=args.jobs, log=True)
    print(json.dumps({k: truth[k] for k in ("n", "seed", "window", "sources", "counts",
                                            "seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
