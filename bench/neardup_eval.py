"""Labelled evaluation of etl.neardup, built at run time from real article bodies.

    .venv/bin/python -m bench.neardup_eval            # table: precision, recall, F1, docs/s
    .venv/bin/python -m bench.neardup_eval --json     # the same as one JSON line
    .venv/bin/python -m bench.neardup_eval --sweep    # thresholds vs precision/recall
    .venv/bin/python -m bench.neardup_eval --seed 7   # another draw of the labelled set
    .venv/bin/python -m bench.neardup_eval --scale 1000000   # streamed index of 1M bodies

The bodies come from the Fundus English test pages in $NIGHTDESK_SHARED/fixtures/fundus_en
(default <repo>/../shared). Their text is publishers' content: it is read at run time and never
written into the repository. Everything below is generated from it with a seeded RNG.

Labels (1 = near-duplicate, 0 = not), per category:

  copy_boilerplate  1  wire copy under another site's header/footer, retitled
                       (copies other than teasers are published up to 1 h BEFORE the original
                       in 20 % of cases: clocks and wire timing; the rule must not care)
  copy_edited       1  1-3 sentences edited, dropped or added (fewer for short bodies), new footer
  copy_reflow       1  paragraphs merged/split, typographic quotes and dashes flattened, retitled
  copy_truncated    1  the lead (1-3 paragraphs, >= 40 words) + "read more", 30 % with a header
  copy_mixed        1  header/footer + edits + reflow + quotes together
  correction        1  one fact (a number or a name) corrected + a correction note: a version of
                       the same story, so the pipeline can show the cluster's latest version
  same_headline     0  another article's body under this article's headline
  live_blog         0  successive updates of a live blog built from one article's paragraphs
                       (time-stamped entries, newest first in 2/3 of the blogs; each update keeps
                       the older entries and adds 1-3): the newer update brings new reporting and
                       must not be flagged as a copy of the older one
  template          0  consecutive days of one template (markets, weather, courts, briefing):
                       the same boilerplate with that day's slot values (numbers, dates), 1-3
                       sentences of facts from a different real body each day
  unrelated         0  two different real articles (control)

Each pair is predicted a duplicate when the index puts both articles in one cluster. Documents
are indexed as a pipeline would: in two runs ordered by publication time, the index saved after
the first and loaded for the second, a tenth of the first run's documents crawled late (run 2).
Copies, live blogs and templates live in separate "worlds" (separate indexes): a live blog made
from an article's paragraphs would otherwise be a genuine excerpt of that article.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.settings import REPO_ROOT
from etl import neardup

REPO = REPO_ROOT
SEED = 20261128

POSITIVE = ("copy_boilerplate", "copy_edited", "copy_reflow", "copy_truncated", "copy_mixed",
            "correction")
NEGATIVE = ("same_headline", "live_blog", "template", "unrelated")


def shared_dir() -> Path:
    return Path(os.environ.get("NIGHTDESK_SHARED", REPO.parent / "shared"))


@dataclass(frozen=True)
class Article:
    key: str
    title: str
    paragraphs: tuple[str, ...]
    published: pd.Timestamp


def load_articles(shared: Path | None = None) -> list[Article]:
    """The expected bodies of the Fundus English pages: summary, then each section's
    subheadings and paragraphs, in page order."""
    root = (shared or shared_dir()) / "fixtures" / "fundus_en"
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    articles = []
    for row in manifest:
        expected = json.loads((root / row["expected_json"]).read_text(encoding="utf-8"))
        entry = expected[row["version_key"]]
        paras = list(entry["body"].get("summary", []))
        for section in entry["body"]["sections"]:
            paras += section.get("headline", []) + section["paragraphs"]
        paras = [" ".join(p.split()) for p in paras if p.strip()]
        published = pd.Timestamp(entry["publishing_date"])
        published = published.tz_localize("UTC") if published.tz is None else published
        articles.append(Article(f"{row['publisher']}-{row['version_key']}", entry["title"],
                                tuple(paras), published.tz_convert("UTC")))
    return articles


@dataclass
class LabelledSet:
    docs: pd.DataFrame  # doc_id, world, title, body, published_at
    pairs: pd.DataFrame  # a, b (doc ids), category, label


# -- text transformations ------------------------------------------------------------------

_SENTENCE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’']))\s+(?=[\"“‘']?[A-Z0-9])")
SITES = ("The Harbour Ledger", "Northgate Daily", "Metro Wire Online", "The Valley Courier",
         "Riverside Times", "Globe Desk")
HEADERS = ("This story was originally published by {site}.",
           "Republished from {site} under a content-sharing agreement.",
           "Listen to this article. Estimated reading time: {n} minutes.",
           "{site} | News desk | Updated {n} hours ago",
           "Advertisement. Story continues below.")
FOOTERS = ("Sign up for the {site} morning newsletter to get the day's top stories in your inbox.",
           "Copyright {year} {site}. All rights reserved. This material may not be published, "
           "broadcast, rewritten or redistributed.",
           "Reporting by the {site} staff; editing by the night desk.",
           "Follow {site} on social media for the latest news and analysis.",
           "Have a news tip? Contact the newsroom of {site}, we read every message.")
READ_MORE = ("Read more at {site}.", "Continue reading the full story on {site}.",
             "Read the full article ...", "Read more")
ADDED = ("The company did not immediately respond to a request for comment.",
         "Officials were expected to give further details later in the day.",
         "The story is developing and will be updated as more information becomes available.",
         "Local media reported similar accounts on social networks.",
         "Analysts said the decision had been widely expected.")
FILLERS = ("also", "reportedly", "now", "still", "recently", "further")
NAMES = ("Morgan Ellis", "Priya Natarajan", "Tomas Varga", "Aiyana Brooks", "Kenji Mori")
TYPOGRAPHY = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": "--", "–": "-",
                            "…": "..."})


def sentences(paragraph: str) -> list[str]:
    return [s for s in _SENTENCE.split(paragraph) if s]


def fill(template: str, rng: np.random.Generator) -> str:
    return template.format(site=SITES[rng.integers(len(SITES))], n=int(rng.integers(2, 12)),
                           year=int(rng.integers(2019, 2027)))


def boilerplate(paras: list[str], rng: np.random.Generator, header: bool = True) -> list[str]:
    out = list(paras)
    if header:
        out.insert(0, fill(HEADERS[rng.integers(len(HEADERS))], rng))
    return [*out, fill(FOOTERS[rng.integers(len(FOOTERS))], rng)]


def edit_sentences(paras: list[str], rng: np.random.Generator) -> list[str]:
    """1-3 copy-desk edits: a word inserted, dropped or replaced, a sentence dropped, or a
    sentence added. Bodies of fewer than 10 sentences get one edit: three rewrites of a
    five-sentence story would make a different story."""
    sents = [sentences(p) for p in paras]
    total = sum(map(len, sents))
    for _ in range(int(rng.integers(1, 4)) if total >= 10 else 1):
        p = int(rng.integers(len(sents)))
        if not sents[p]:
            continue
        s = int(rng.integers(len(sents[p])))
        op = rng.choice(["word", "drop", "add"], p=[0.5, 0.25, 0.25])
        words = sents[p][s].split()
        if op == "drop" and total > 3:
            del sents[p][s]
            total -= 1
        elif op == "add":
            sents[p].insert(s + 1, ADDED[rng.integers(len(ADDED))])
        elif len(words) > 3:
            w = int(rng.integers(1, len(words) - 1))
            kind = rng.integers(3)
            if kind == 0:
                words.insert(w, FILLERS[rng.integers(len(FILLERS))])
            elif kind == 1:
                del words[w]
            else:
                words[w] = FILLERS[rng.integers(len(FILLERS))]
            sents[p][s] = " ".join(words)
    return [" ".join(s) for s in sents if s]


def reflow(paras: list[str], rng: np.random.Generator) -> list[str]:
    """Merge neighbouring paragraphs or split them at a sentence; flatten typography."""
    out: list[str] = []
    for para in paras:
        sents = sentences(para)
        if out and rng.random() < 0.3:
            out[-1] = out[-1] + " " + para
        elif len(sents) > 1 and rng.random() < 0.3:
            cut = int(rng.integers(1, len(sents)))
            out += [" ".join(sents[:cut]), " ".join(sents[cut:])]
        else:
            out.append(para)
    return [p.translate(TYPOGRAPHY) for p in out]


def correct(paras: list[str], rng: np.random.Generator) -> list[str]:
    """Change one number (else one mid-sentence capitalised name) and add a correction note."""
    out = list(paras)
    numbered = [i for i, p in enumerate(out) if re.search(r"\b\d+\b", p)]
    if numbered:
        i = numbered[int(rng.integers(len(numbered)))]
        spots = list(re.finditer(r"\b\d+\b", out[i]))
        m = spots[int(rng.integers(len(spots)))]
        fixed = str(int(m.group()) + int(rng.integers(1, 9)))
        out[i] = out[i][: m.start()] + fixed + out[i][m.end():]
        what = "figure"
    else:
        named = [i for i, p in enumerate(out) if re.search(r"(?<=[a-z,] )[A-Z][a-z]+", p)]
        i = named[int(rng.integers(len(named)))] if named else 0
        out[i] = re.sub(r"(?<=[a-z,] )[A-Z][a-z]+", NAMES[rng.integers(len(NAMES))], out[i],
                        count=1)
        what = "name"
    note = f"Correction: an earlier version of this article gave an incorrect {what}."
    return [note, *out] if rng.random() < 0.5 else [*out, note]


def truncate(paras: list[str], rng: np.random.Generator) -> list[str]:
    """The lead, 1-3 paragraphs and at least 40 words, then a "read more" line."""
    k = int(rng.integers(1, 4))
    while k < len(paras) and len(" ".join(paras[:k]).split()) < 40:
        k += 1
    lead = paras[:k]
    if rng.random() < 0.3:
        lead = [fill(HEADERS[rng.integers(len(HEADERS))], rng), *lead]
    return [*lead, fill(READ_MORE[rng.integers(len(READ_MORE))], rng)]


# -- templates ------------------------------------------------------------------------------

TEMPLATES: dict[str, tuple[str, ...]] = {
    "markets": (
        "Markets report for {day}: the benchmark index closed at {n1} points, {pct} per cent "
        "{updown} on the session, while trading volumes were {vol} the thirty-day average.",
        "Here is what moved markets today and what investors are watching for tomorrow.",
        "The currency traded at {n2} against the dollar and government bond yields were little "
        "changed by the close of business.",
        "This report is produced automatically from exchange data and reviewed by our markets "
        "desk before publication.",
        "Prices are delayed by at least fifteen minutes and are not an offer to buy or sell.",
        "Past performance is not a reliable indicator of future results, and the value of "
        "investments can go down as well as up. Nothing in this report is investment advice.",
    ),
    "weather": (
        "Weather for {day}: expect highs of {n1} degrees and lows of {n3} degrees, with winds "
        "from the {dir} at up to {n2} kilometres per hour.",
        "Here is the forecast for the coming days from our weather team.",
        "Residents are advised to check the latest warnings before travelling and to allow "
        "extra time for journeys.",
        "The forecast is updated every morning and evening using data from the national "
        "meteorological service.",
        "In the event of severe weather, follow the advice of the emergency services, keep away "
        "from rivers and flooded roads, and check on elderly neighbours and relatives.",
    ),
    "courts": (
        "Court roundup for {day}: {n1} cases were heard in the district court, including the "
        "matters below.",
        "The following summaries are compiled from public court lists and official statements.",
        "Everyone charged with an offence is presumed innocent until proven guilty in a court "
        "of law.",
        "Names are published only where reporting restrictions allow it.",
        "If you have been affected by any of the issues in these reports, support is available "
        "from victim services, which can be contacted free of charge at any time of day.",
    ),
    "briefing": (
        "Good morning. This is your briefing for {day}, with {n1} stories you need to know.",
        "Here is what we are watching today.",
        "You are reading the morning briefing. Sign up to receive it in your inbox every day, "
        "and send us your feedback.",
        "That is all for today. We will be back tomorrow with the latest news.",
        "This newsletter is written by the morning team with contributions from reporters across "
        "the newsroom, and it is free to share with friends and colleagues.",
    ),
}


def template_story(family: str, day: int, facts: list[str], rng: np.random.Generator) -> str:
    """The family's boilerplate (slot values drawn per day) with the facts in the middle."""
    lines = TEMPLATES[family]
    slots = dict(day=pd.Timestamp("2025-03-01") + pd.Timedelta(days=day),
                 n1=int(rng.integers(10, 9000)), n2=int(rng.integers(1, 120)),
                 n3=int(rng.integers(-5, 15)), pct=f"{rng.uniform(0.1, 3):.1f}",
                 updown=rng.choice(["up", "down"]), vol=rng.choice(["above", "below"]),
                 dir=rng.choice(["north", "south", "east", "west"]))
    filled = [line.format(**{**slots, "day": f"{slots['day']:%A %d %B}"}) for line in lines]
    cut = int(rng.integers(1, 3))
    return "\n\n".join([*filled[:cut], *facts, *filled[cut:]])


def fact_sentences(article: Article, rng: np.random.Generator) -> list[str]:
    """1-3 consecutive sentences of a real body: the day's facts of a template story."""
    sents = [s for p in article.paragraphs for s in sentences(p)]
    n = int(rng.integers(1, 4))
    start = int(rng.integers(0, max(1, len(sents) - n)))
    return [" ".join(sents[start: start + n])]


# -- the labelled set -----------------------------------------------------------------------


def build_labelled_set(shared: Path | None = None, seed: int = SEED) -> LabelledSet:
    articles = load_articles(shared)
    rng = np.random.default_rng(seed)
    docs: list[dict] = []
    pairs: list[dict] = []

    def doc(world: str, doc_id: str, title: str, paras: list[str], at: pd.Timestamp) -> str:
        docs.append(dict(doc_id=doc_id, world=world, title=title, body="\n\n".join(paras),
                         published_at=at))
        return doc_id

    def minutes(lo: float, hi: float) -> pd.Timedelta:
        return pd.Timedelta(minutes=float(rng.uniform(lo, hi)))

    def copy_time(original: pd.Timestamp, may_precede: bool = True) -> pd.Timestamp:
        # A re-publisher's clock (or the wire's own site) can show the copy first.
        if may_precede and rng.random() < 0.2:
            return original - minutes(1, 60)
        return original + minutes(10, 48 * 60)

    copy_makers: dict[str, Callable[[Article], list[str]]] = {
        "copy_boilerplate": lambda a: boilerplate(list(a.paragraphs), rng),
        "copy_edited": lambda a: boilerplate(edit_sentences(list(a.paragraphs), rng), rng,
                                             header=False),
        "copy_reflow": lambda a: reflow(list(a.paragraphs), rng),
        "copy_truncated": lambda a: truncate(list(a.paragraphs), rng),
        "copy_mixed": lambda a: boilerplate(reflow(edit_sentences(list(a.paragraphs), rng),
                                                   rng), rng),
    }
    for i, art in enumerate(articles):
        orig = doc("copies", art.key, art.title, list(art.paragraphs), art.published)
        for category, make in copy_makers.items():
            at = copy_time(art.published, may_precede=category != "copy_truncated")
            title = f"{art.title} | {SITES[rng.integers(len(SITES))]}"
            copy = doc("copies", f"{art.key}/{category}", title, make(art), at)
            pairs.append(dict(a=orig, b=copy, category=category, label=1))
        fixed = doc("copies", f"{art.key}/correction", f"CORRECTED: {art.title}",
                    correct(list(art.paragraphs), rng), art.published + minutes(120, 72 * 60))
        pairs.append(dict(a=orig, b=fixed, category="correction", label=1))
        other = articles[(i + 1 + int(rng.integers(len(articles) - 1))) % len(articles)]
        same = doc("copies", f"{art.key}/same_headline", art.title, list(other.paragraphs),
                   art.published + minutes(0, 24 * 60))
        pairs.append(dict(a=orig, b=same, category="same_headline", label=0))
        pairs.append(dict(a=orig, b=other.key, category="unrelated", label=0))

    # Live blogs from the articles with enough paragraphs: entries newest first (as live blogs
    # show them) or, for a third, oldest first.
    for art in articles[::2]:
        entries = [p for p in art.paragraphs if len(p.split()) >= 8]
        if len(entries) < 8:
            continue
        # Each entry keeps the time stamp it was posted with.
        posted = art.published + np.cumsum([minutes(3, 40) for _ in entries])
        stamped = [f"{at:%H:%M} GMT. {e}" for at, e in zip(posted, entries, strict=True)]
        shown = int(rng.integers(2, 5))
        newest_first = rng.random() < 2 / 3
        previous = None
        for update in range(6):
            if shown > len(entries):
                break
            body = ["Live: follow the latest developments as they happen.",
                    *(stamped[:shown][::-1] if newest_first else stamped[:shown])]
            current = doc("live", f"{art.key}/live{update}", f"Live: {art.title}", body,
                          posted[shown - 1] + minutes(1, 5))
            if previous:
                pairs.append(dict(a=previous, b=current, category="live_blog", label=0))
            previous = current
            shown += int(rng.integers(1, 4))

    # Template stories: each family publishes daily, each day's facts from a different body.
    order = rng.permutation(len(articles))
    per_family = len(articles) // len(TEMPLATES)
    for f, family in enumerate(TEMPLATES):
        previous = None
        for day in range(per_family):
            art = articles[order[f * per_family + day]]
            body = template_story(family, day, fact_sentences(art, rng), rng)
            at = pd.Timestamp("2025-03-01 06:00", tz="UTC") + pd.Timedelta(days=day)
            current = doc("template", f"{family}/{day}", f"{family.title()} report, day {day}",
                          body.split("\n\n"), at)
            if previous:
                pairs.append(dict(a=previous, b=current, category="template", label=0))
            previous = current

    return LabelledSet(pd.DataFrame(docs), pd.DataFrame(pairs))


# -- evaluation ------------------------------------------------------------------------------


def cluster_world(docs: pd.DataFrame, options: dict[str, float], rng: np.random.Generator,
                  workdir: Path) -> pd.Series:
    """Cluster one world's documents in two runs through a saved index; the final root of each
    document (its own id when it is an original)."""
    docs = docs.sort_values(["published_at", "doc_id"], kind="stable")
    first = np.arange(len(docs)) < len(docs) // 2
    first &= rng.random(len(docs)) >= 0.1  # crawled late: arrives in run 2
    path = workdir / "index.parquet"
    for run, rows in enumerate((docs[first], docs[~first])):
        index = neardup.NearDupIndex() if run == 0 else neardup.NearDupIndex.load(path)
        index.assign_clusters(rows["doc_id"].tolist(), index.sketch(rows["body"]),
                              rows["published_at"], **options)
        index.save(path)
    labels = index.duplicate_of(docs["doc_id"].tolist())
    return labels.fillna(pd.Series(labels.index, index=labels.index))


def predict(ls: LabelledSet, **options: float) -> pd.DataFrame:
    """The labelled pairs with `predicted` (same cluster); options go to assign_clusters."""
    rng = np.random.default_rng(SEED)
    roots = []
    with tempfile.TemporaryDirectory() as tmp:
        for world, docs in ls.docs.groupby("world", sort=True):
            workdir = Path(tmp) / str(world)
            workdir.mkdir()
            roots.append(cluster_world(docs, options, rng, workdir))
    root = pd.concat(roots)
    pairs = ls.pairs.copy()
    pairs["predicted"] = root.loc[pairs["a"]].to_numpy() == root.loc[pairs["b"]].to_numpy()
    return pairs


def predict_naive(ls: LabelledSet, min_jaccard: float = 0.5) -> pd.DataFrame:
    """Baseline: a pair is a duplicate when its estimated Jaccard reaches `min_jaccard`."""
    sk = neardup.sketch(ls.docs["body"])
    row = pd.Series(np.arange(len(ls.docs)), index=ls.docs["doc_id"])
    a, b = row.loc[ls.pairs["a"]].to_numpy(), row.loc[ls.pairs["b"]].to_numpy()
    return ls.pairs.assign(predicted=neardup.jaccard(sk.sigs[a], sk.sigs[b]) >= min_jaccard)


def scores(pairs: pd.DataFrame) -> dict[str, float | int | None]:
    y, p = pairs["label"].astype(bool), pairs["predicted"].astype(bool)
    tp, fp = int((y & p).sum()), int((~y & p).sum())
    fn, tn = int((y & ~p).sum()), int((~y & ~p).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (2 * precision * recall / (precision + recall) if precision and recall else 0.0)
    return dict(n=len(pairs), tp=tp, fp=fp, fn=fn, tn=tn, precision=precision, recall=recall,
                f1=f1)


def report(pairs: pd.DataFrame) -> dict[str, dict]:
    """Scores overall and per category. A category holds one label, so its precision, recall
    and F1 are taken in context: the category's pairs plus every pair of the other label (a
    trap's row shows what that trap does to precision, a copy's row its recall). `correct` is
    the share of the category's own pairs labelled right."""
    out = {"overall": {**scores(pairs), "correct": float((pairs["label"].astype(bool)
                                                          == pairs["predicted"]).mean())}}
    for category in (*POSITIVE, *NEGATIVE):
        own = pairs["category"] == category
        other = pairs["label"] != (1 if category in POSITIVE else 0)
        right = pairs.loc[own, "label"].astype(bool) == pairs.loc[own, "predicted"]
        out[category] = {**scores(pairs[own | other]), "n": int(own.sum()),
                         "correct": float(right.mean())}
    return out


def synthetic_bodies(articles: list[Article], n: int, size: int = 4096, seed: int = SEED
                     ) -> Iterator[str]:
    """~`size`-character bodies made of real paragraphs in random order (for throughput)."""
    rng = np.random.default_rng(seed)
    paras = [p for a in articles for p in a.paragraphs]
    for _ in range(n):
        picked, length = [], 0
        while length < size:
            p = paras[rng.integers(len(paras))]
            picked.append(p)
            length += len(p) + 2
        yield "\n\n".join(picked)[:size]


def throughput(articles: list[Article], n: int = 5000) -> dict[str, float]:
    bodies = list(synthetic_bodies(articles, n))
    neardup.sketch(bodies[:50])  # warm the word table and power tables
    start = time.perf_counter()
    neardup.sketch(bodies)
    seconds = time.perf_counter() - start
    chars = sum(map(len, bodies))
    return dict(docs=n, docs_per_s=n / seconds, mb_per_s=chars / seconds / 1e6,
                seconds_per_million=1e6 * seconds / n)


def scale(articles: list[Article], n: int) -> dict[str, float]:
    """Stream n bodies into an index (bounded memory), then assign a run of 1000 new ones."""
    index = neardup.NearDupIndex()
    start = time.perf_counter()
    done = 0
    for part in neardup.iter_sketches(synthetic_bodies(articles, n)):
        ids = [f"doc{done + i}" for i in range(len(part))]
        published = pd.Series(pd.Timestamp("2025-01-01", tz="UTC")
                              + pd.to_timedelta(np.arange(done, done + len(part)), unit="s"))
        index.add(ids, part, published)
        done += len(part)
    build = time.perf_counter() - start
    start = time.perf_counter()
    new = list(synthetic_bodies(articles, 1000, seed=SEED + 1))
    index.assign_clusters([f"new{i}" for i in range(1000)], index.sketch(new),
                          pd.Series([pd.Timestamp("2026-01-01", tz="UTC")] * 1000))
    run = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(indexed=n, build_s=build, docs_per_s=n / build, run_of_1000_s=run,
                peak_rss_mb=peak_mb)


def _fmt(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_table(result: dict[str, dict], naive: dict[str, dict], speed: dict[str, float]
                ) -> None:
    cols = ("n", "correct", "precision", "recall", "f1")
    print(f"{'category':<18}{'label':>6}" + "".join(f"{c:>10}" for c in cols)
          + f"{'naive J>=0.5':>14}")
    for name, row in result.items():
        label = "1" if name in POSITIVE else "0" if name in NEGATIVE else "all"
        print(f"{name:<18}{label:>6}" + "".join(f"{_fmt(row[c]):>10}" for c in cols)
              + f"{_fmt(naive[name]['correct']):>14}")
    o, b = result["overall"], naive["overall"]
    print(f"overall: tp {o['tp']} fp {o['fp']} fn {o['fn']} tn {o['tn']}; naive J>=0.5: "
          f"precision {_fmt(b['precision'])} recall {_fmt(b['recall'])} f1 {_fmt(b['f1'])}")
    print(f"signatures: {speed['docs_per_s']:.0f} docs/s ({speed['mb_per_s']:.1f} MB/s) on "
          f"{speed['docs']} bodies of ~4 KB, one core: {speed['seconds_per_million'] / 60:.1f} "
          "min per million")


def sweep(ls: LabelledSet) -> None:
    print(f"{'threshold':>10}{'min_jacc':>10}{'precision':>10}{'recall':>10}{'f1':>10}"
          f"{'live_blog':>10}{'template':>10}{'truncated':>10}{'mixed':>10}")
    for threshold in (0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        for min_jaccard in (0.1, 0.2, 0.4):
            r = report(predict(ls, threshold=threshold, min_jaccard=min_jaccard))
            print(f"{threshold:>10}{min_jaccard:>10}" + "".join(
                f"{_fmt(r['overall'][c]):>10}" for c in ("precision", "recall", "f1"))
                + "".join(f"{_fmt(r[c]['correct']):>10}"
                          for c in ("live_blog", "template", "copy_truncated", "copy_mixed")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    parser.add_argument("--seed", type=int, default=SEED, help="of the generated labelled set")
    parser.add_argument("--threshold", type=float, default=neardup.DEFAULT_THRESHOLD)
    parser.add_argument("--min-jaccard", type=float, default=neardup.DEFAULT_MIN_JACCARD)
    parser.add_argument("--speed-docs", type=int, default=5000)
    parser.add_argument("--sweep", action="store_true", help="thresholds vs precision/recall")
    parser.add_argument("--scale", type=int, default=0, help="index this many bodies, streamed")
    args = parser.parse_args(argv)

    articles = load_articles()
    if args.scale:
        print(json.dumps(scale(articles, args.scale)))
        return 0
    ls = build_labelled_set(seed=args.seed)
    if args.sweep:
        sweep(ls)
        return 0
    result = report(predict(ls, threshold=args.threshold, min_jaccard=args.min_jaccard))
    naive = report(predict_naive(ls))
    speed = throughput(articles, args.speed_docs)
    if args.json:
        print(json.dumps({"seed": args.seed, "threshold": args.threshold,
                          "min_jaccard": args.min_jaccard, "pairs": len(ls.pairs),
                          "documents": len(ls.docs), "scores": result,
                          "naive_jaccard_0.5": naive, "throughput": speed}))
    else:
        print(f"{len(ls.pairs)} labelled pairs, {len(ls.docs)} documents (seed {args.seed}); "
              f"threshold {args.threshold} (containment of the later article), min_jaccard "
              f"{args.min_jaccard}. Per category: correct = share of its pairs labelled right; "
              "precision/recall/f1 = on its pairs plus all pairs of the other label.")
        print_table(result, naive, speed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
