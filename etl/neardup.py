"""Near-duplicate detection: MinHash sketches, an LSH index kept across runs, and `duplicate_of`
cluster labels (never deletion: the pipeline decides what to do with a copy).

Use (one run; the index file lives between runs):

    index = NearDupIndex.load(path) if path.exists() else NearDupIndex()
    df["duplicate_of"] = index.assign_clusters(df["article_id"], index.sketch(df["body"]),
                                               df["published_at"]).to_numpy()
    index.save(path)

The rule (bench/neardup_eval.py measures it; the defaults come from there). For a candidate
pair, E is the earlier published article and N the later one, over 5-word shingles. N is a
near-duplicate of E when it is

    a copy:     containment(N in E) >= threshold, J(N, E) >= min_jaccard, and N is not a
                continuation (at least 5 % larger than E with its lead or tail unlike E's:
                E plus a block of new text at one end); or
    an excerpt: N at most half of E, N's lead like E's (J >= min_lead) and contained in it
                (>= threshold), whole-text containment at least EXCERPT_SANITY.

Clusters are the connected components of these pairs; each article's `duplicate_of` is its
cluster's earliest published member (None for that member and for articles with no copy).

- Syndicated copies (another site's header/footer, a few sentences edited, retitled, reflowed,
  quotes changed) keep nearly all their text in the original, whichever was published first.
- A teaser (the lead + "read more") is contained in the original: a duplicate. Jaccard misses it
  (a teaser is a few per cent of the original), so a second LSH table over each article's lead
  (its first 64 shingles) finds these pairs and the leads measure the containment.
- A correction (re-issued with a corrected fact and a note) is a version of the same story: a
  duplicate (not "a different story"), so that the pipeline can show the cluster's latest
  version.
- A live blog's next update keeps the older entries and adds new ones at the top or the bottom.
  It is NOT a duplicate of the older update: it brings new reporting, and flagging it would hide
  the most complete version behind the first. Jaccard is high for such pairs; containment of the
  newer text in the older is lower, and the continuation test rejects most of the rest. An update
  that adds one short entry (under ~15 % new text) is textually a copy and is clustered: a known
  limit, measured by the evaluation.
- Two stories from one template (market report, weather) share boilerplate and differ in facts:
  not duplicates while the boilerplate is under `threshold` of the text. A story that is 90 %
  template cannot be told from a copy by its text.
- Titles are not hashed: syndicators rewrite headlines, and different stories share them. Pass
  bodies only.

Containment is estimated one-sidedly: under a permutation, min(E) > min(N) exactly when the
minimum of E ∪ N lies in N \\ E, so the share of such permutations estimates |N \\ E| / |E ∪ N|,
and the exact shingle counts turn that into |N \\ E| / |N|. No permutation disagrees when N is
contained in E, so containment near 1 is measured precisely even for a short N.

Hashing is pure numpy and stable across processes and machines (no Python `hash()`): a chunk of
bodies becomes one array of code points, tokens (NFKC, lowercased `\\w+`) are hashed with a
polynomial prefix hash, 5 consecutive token hashes make a shingle. The whole-text sketch is a
one-permutation MinHash (Li, Owen and Zhang 2012): one multiply-add-shift hash h(x) = (a*x + b
mod 2**64) >> 32 (Dietzfelbinger) puts each shingle in one of `num_perm` bins by its top bits,
and each slot keeps the smallest hash of its bin: one hash per shingle instead of one per
shingle and permutation (the sort that counts distinct shingles finds the minima for free).
A bin with no shingle is EMPTY, read as +infinity: the one-sided containment argument holds
bin by bin (an EMPTY later bin is never "new"), and the estimators count only bins that are not
EMPTY on both sides. LSH skips a band that is EMPTY throughout (short bodies would all share
it). The lead and tail sketches (64 shingles at most) keep classic MinHash over EDGE_PERM
permutations of that family. Slots keep 16 bits.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# 16 bits per signature slot: the top bits of each minimum. Two different minima agree
# by chance with probability 2**-16 per slot, which moves a Jaccard or containment estimate by
# about 1e-5: nothing, for half the memory and disk of 32 bits.
SIG_DTYPE = np.uint16
SIG_SHIFT = np.uint64(48)
EMPTY = np.iinfo(SIG_DTYPE).max  # a slot with no shingle (every slot of an empty body)
_TOP = np.uint64(EMPTY - 1)  # the largest value a real minimum keeps

# Chosen with bench/neardup_eval.py.
DEFAULT_THRESHOLD = 0.85  # containment of the later article in the earlier one
DEFAULT_MIN_JACCARD = 0.1  # whole-text similarity that makes a pair worth a containment test
DEFAULT_MIN_LEAD = 0.5  # ... or similarity of the leads (teasers are a few % of the original)
CONTINUATION_GROWTH = 1.05  # a continuation is at least 5 % longer than the earlier article
CONTINUATION_EDGE = 0.4  # ... and its lead or tail shares less than this with the earlier one
EXCERPT_SANITY = 0.25  # an excerpt's whole-text containment, however coarse, is at least this

EDGE_SHINGLES = 64  # lead = the first 64 shingles, tail = the last 64 (~ one paragraph)
EDGE_PERM = 48  # permutations of the lead and tail sketches

_U64 = np.uint64
_CHUNK_CHARS = 1 << 20  # text per tokenising chunk (~1 M code points, ~80 MB of temporaries)
_BLOCK_CELLS = 1 << 20  # shingles x permutations per MinHash block (8 MB: stays in cache)


@dataclasses.dataclass(frozen=True)
class Sketches:
    """Sketches of a batch of bodies: `sigs` [n, num_perm] MinHash of all shingles, `sizes` [n]
    distinct shingle counts (0: no words; such a body never matches), `lead` and `tail`
    [n, EDGE_PERM] MinHash of the first and last EDGE_SHINGLES shingles."""

    sigs: np.ndarray
    sizes: np.ndarray
    lead: np.ndarray
    tail: np.ndarray

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, rows: slice | np.ndarray) -> Sketches:
        return Sketches(self.sigs[rows], self.sizes[rows], self.lead[rows], self.tail[rows])

    @staticmethod
    def concat(parts: Sequence[Sketches], num_perm: int) -> Sketches:
        if not parts:
            empty = np.empty((0, EDGE_PERM), SIG_DTYPE)
            return Sketches(np.empty((0, num_perm), SIG_DTYPE), np.empty(0, np.int32), empty,
                            empty)
        return Sketches(*(np.concatenate([getattr(p, f) for p in parts])
                          for f in _SKETCH_FIELDS))


_SKETCH_FIELDS = tuple(f.name for f in dataclasses.fields(Sketches))


# -- hashing ---------------------------------------------------------------------------------


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, in place: spreads every input bit over the 64 output bits."""
    z ^= z >> _U64(30)
    z *= _U64(0xBF58476D1CE4E5B9)
    z ^= z >> _U64(27)
    z *= _U64(0x94D049BB133111EB)
    z ^= z >> _U64(31)
    return z


@functools.cache
def word_table() -> np.ndarray:
    """bool[0x110000]: is this code point a regex `\\w` character (exactly Python's definition).
    Also what etl.clean counts as words."""
    cps = np.arange(0x110000, dtype=np.uint32)
    cps[0xD800:0xE000] = 0x20  # lone surrogates cannot be encoded; they are not word characters
    marked = re.sub(r"\w", "\x01", cps.tobytes().decode("utf-32-le"))
    return np.frombuffer(marked.encode("utf-32-le"), np.uint32) == 1


@functools.cache
def _token_table() -> np.ndarray:
    """uint32[0x110000]: each word character's lowercase (str.lower), 0 for every other code
    point, so one lookup both lowercases and marks the tokens (a lookup in numpy is several
    times cheaper than str.lower on non-ASCII text). Lowercasing never turns a word character
    into a non-word one or back (checked here), so the tokens are the word runs of the text.
    Only U+0130 lowercases to two code points ("i" and a combining dot, which is not a word
    character): it maps to "i"."""
    cps = np.arange(0x110000, dtype=np.uint32)
    cps[0xD800:0xE000] = 0x20  # lone surrogates cannot be encoded
    cps[0x130] = 0x69
    low = np.frombuffer(cps.tobytes().decode("utf-32-le").lower().encode("utf-32-le"), np.uint32)
    if len(low) != len(cps):
        raise RuntimeError("a code point lowercases to several: extend _token_table")
    word = word_table()
    if (word != word[low]).any():
        raise RuntimeError("lowercasing changes a code point's word-ness: mark tokens apart")
    return np.where(word, low, 0).astype(np.uint32)


_BASE = _U64(0x100000001B3)  # odd, hence invertible modulo 2**64
_BASE_INV = _U64(pow(0x100000001B3, -1, 1 << 64))


@functools.lru_cache(maxsize=2)  # chunks are all about _CHUNK_CHARS long: one or two sizes
def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**i and BASE**-i modulo 2**64 for i < n (numpy integer arrays wrap modulo 2**64)."""
    pw = np.empty(n, np.uint64)
    inv = np.empty(n, np.uint64)
    pw[0] = inv[0] = 1
    np.cumprod(np.full(n - 1, _BASE), out=pw[1:])
    np.cumprod(np.full(n - 1, _BASE_INV), out=inv[1:])
    return pw, inv


def _token_hashes(bodies: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash every token of every body: (hashes uint64 [m], owning body int64 [m], in text order;
    bool [n]: NFKC left the body as it was, so its tokens are its `\\w` runs).

    One string per chunk, not one per token: bodies are NFKC-normalised, joined with NUL (not a
    word character, so no token spans two bodies), turned into code points and lowercased. A
    token's hash is sum(c_j * BASE**j) over its characters, taken from a prefix sum and shifted
    back by BASE**-start, then mixed.
    """
    texts = [b.replace("\x00", " ") for b in bodies]
    # The quick check is ~10x cheaper than normalising, and most text is already normalised.
    same = np.array([unicodedata.is_normalized("NFKC", t) for t in texts], bool)
    for i in np.flatnonzero(~same):
        texts[i] = unicodedata.normalize("NFKC", texts[i])
    text = "\x00".join(texts)
    cps = _token_table()[np.frombuffer(text.encode("utf-32-le"), np.uint32)]
    word = (cps != 0).view(np.int8)
    edges = np.diff(word, prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    # Pad the power tables to a power of two so that chunks of varying length share one table.
    pw, inv = _powers(1 << max(10, len(cps).bit_length()))
    prefix = np.zeros(len(cps) + 1, np.uint64)
    # Non-word code points are 0 here; they add nothing to any token's sum.
    np.cumsum(np.multiply(pw[: len(cps)], cps, dtype=np.uint64), out=prefix[1:])
    hashes = _mix((prefix[ends] - prefix[starts]) * inv[starts])
    # Where each body ends (its NUL separator): from the lengths, in code points.
    seps = np.cumsum([len(t) + 1 for t in texts]) - 1
    owner = np.searchsorted(seps, starts)
    return hashes, owner, same


def _shingles(hashes: np.ndarray, owner: np.ndarray, ndocs: int, k: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every shingle of every body, in text order: (32-bit keys as uint64, owner, in the lead,
    in the tail).

    A shingle is k consecutive tokens of one body, combined order-sensitively; a body shorter
    than k tokens is one shingle of all its tokens (so short bodies still compare).
    """
    m = len(hashes)
    counts = np.bincount(owner, minlength=ndocs)
    first = np.cumsum(counts) - counts
    comb = hashes.copy()
    short_keys, short_owner = [], []
    for w in range(1, k + 1):
        if w > 1:  # comb[i] now covers tokens i .. i+w-1
            end = max(m - w + 1, 0)  # a batch of fewer than k tokens in all has no such i
            comb[:end] = comb[:end] * _U64(0x9E3779B97F4A7C15) + hashes[w - 1:]
        done = np.flatnonzero(counts == w) if w < k else np.empty(0, np.int64)
        if len(done):
            short_keys.append(comb[first[done]])
            short_owner.append(done)
    pos = np.arange(m) - first[owner]
    n_full = counts[owner] - k + 1  # shingles of the body this token starts in
    full = pos < n_full
    n_short = sum(map(len, short_owner))
    keys = _mix(np.concatenate([comb[full], *short_keys])) >> _U64(32)
    own = np.concatenate([owner[full], *short_owner]).astype(np.int64)
    pos = np.concatenate([pos[full], np.zeros(n_short, np.int64)])
    n_full = np.concatenate([n_full[full], np.ones(n_short, np.int64)])
    return keys, own, pos < EDGE_SHINGLES, pos >= n_full - EDGE_SHINGLES


def _distinct(keys: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each body's distinct keys, sorted by body. np.unique hashes before sorting in numpy 2.x;
    a sort and a neighbour comparison are ~30x faster."""
    packed = np.sort((owner.astype(np.uint64) << _U64(32)) | keys)
    first = np.ones(len(packed), bool)
    first[1:] = packed[1:] != packed[:-1]
    packed = packed[first]
    return packed & _U64(0xFFFFFFFF), (packed >> _U64(32)).astype(np.int64)


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 63, num_perm, dtype=np.uint64) | _U64(1)
    b = rng.integers(0, 1 << 63, num_perm, dtype=np.uint64)
    return a, b


def _minhash(keys: np.ndarray, owner: np.ndarray, ndocs: int, num_perm: int, seed: int
             ) -> np.ndarray:
    """[ndocs, num_perm] minimum of h_p over each body's keys (sorted by body), in cache-sized
    blocks of whole bodies. Laid out permutation-major so that each body's reduction runs over
    contiguous memory (4x faster than key-major); min commutes with the monotone shift to 16
    bits, so the shift comes after the reduction."""
    a, b = _permutations(num_perm, seed)
    sigs = np.full((ndocs, num_perm), EMPTY, SIG_DTYPE)
    counts = np.bincount(owner, minlength=ndocs)
    present = np.flatnonzero(counts)
    bounds = np.concatenate([[0], np.cumsum(counts[present])])
    keys_per_block = max(1, _BLOCK_CELLS // num_perm)
    lo = 0
    while lo < len(present):
        # Whole bodies up to the block budget (at least one body, however long).
        hi = int(np.searchsorted(bounds, bounds[lo] + keys_per_block, "right")) - 1
        hi = min(max(hi, lo + 1), len(present))
        block = keys[bounds[lo]: bounds[hi]]
        step = max(1, _BLOCK_CELLS // len(block))
        for p in range(0, num_perm, step):
            h = np.multiply.outer(a[p: p + step], block)
            h += b[p: p + step, None]
            mins = np.minimum.reduceat(h, bounds[lo:hi] - bounds[lo], axis=1)
            sigs[present[lo:hi], p: p + step] = np.minimum(mins.T >> SIG_SHIFT, _TOP)
        lo = hi
    return sigs


def _one_permutation(keys: np.ndarray, owner: np.ndarray, ndocs: int, num_perm: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """([ndocs, num_perm] one-permutation MinHash, [ndocs] distinct shingle counts) of every
    body's shingle keys. One sort by (body, hash) serves both: a hash's bin is its top bits, so
    each (body, bin) run starts at its minimum, and equal neighbours are repeated shingles."""
    a, b = _permutations(1, seed)
    h = (keys * a[0] + b[0]) >> _U64(32)
    packed = np.sort((owner.astype(np.uint64) << _U64(32)) | h)
    fresh = np.ones(len(packed), bool)
    fresh[1:] = packed[1:] != packed[:-1]
    packed = packed[fresh]
    owners = (packed >> _U64(32)).astype(np.int64)
    scaled = (packed & _U64(0xFFFFFFFF)) * _U64(num_perm)  # bin in the high 32 bits
    slot = owners * num_perm + (scaled >> _U64(32)).astype(np.int64)
    first = np.ones(len(slot), bool)
    first[1:] = slot[1:] != slot[:-1]
    sigs = np.full((ndocs, num_perm), EMPTY, SIG_DTYPE)
    # The position inside the bin, top 16 bits: monotone in the hash, so the run's first is
    # the bin's minimum.
    sigs.reshape(-1)[slot[first]] = np.minimum((scaled[first] & _U64(0xFFFFFFFF)) >> _U64(16),
                                               _TOP)
    return sigs, np.bincount(owners, minlength=ndocs).astype(np.int32)


def _chunks(bodies: Iterable[str | None], chunk_chars: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    size = 0
    for body in bodies:
        body = body if isinstance(body, str) else ""
        chunk.append(body)
        size += len(body) + 1
        if size >= chunk_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _iter_counted(bodies: Iterable[str | None], num_perm: int, shingle: int, seed: int,
                  chunk_chars: int) -> Iterator[tuple[Sketches, np.ndarray]]:
    """(sketches, words) chunk by chunk: words [n] counts each body's tokens where they are
    its `\\w` runs (NFKC left it alone), -1 where they are not."""
    for chunk in _chunks(bodies, chunk_chars):
        n = len(chunk)
        hashes, owner, same = _token_hashes(chunk)
        words = np.where(same, np.bincount(owner, minlength=n), -1)
        keys, owner, in_lead, in_tail = _shingles(hashes, owner, n, shingle)
        # The edge sketches use their own permutations (seed + 1), shared by lead and tail.
        edges = [_minhash(*_distinct(keys[m], owner[m]), n, EDGE_PERM, seed + 1)
                 for m in (in_lead, in_tail)]
        yield Sketches(*_one_permutation(keys, owner, n, num_perm, seed), *edges), words


def iter_sketches(bodies: Iterable[str | None], num_perm: int = 128, shingle: int = 5,
                  seed: int = 1, chunk_chars: int = _CHUNK_CHARS) -> Iterator[Sketches]:
    """Sketches chunk by chunk, in input order: memory is bounded by `chunk_chars`, not by the
    number of bodies (stream a million bodies through this and keep only the sketches)."""
    for sketches, _ in _iter_counted(bodies, num_perm, shingle, seed, chunk_chars):
        yield sketches


def sketch(bodies: Iterable[str | None], num_perm: int = 128, shingle: int = 5, seed: int = 1
           ) -> Sketches:
    """Sketches of `bodies` (None counts as an empty body)."""
    return Sketches.concat(list(iter_sketches(bodies, num_perm, shingle, seed)), num_perm)


def sketch_counting(bodies: Iterable[str | None], num_perm: int = 128, shingle: int = 5,
                    seed: int = 1) -> tuple[Sketches, np.ndarray]:
    """`sketch(bodies)` and each body's count of `\\w` runs, which the tokenising finds on the
    way: -1 for the few bodies NFKC changes (their tokens are not their words)."""
    parts = list(_iter_counted(bodies, num_perm, shingle, seed, _CHUNK_CHARS))
    words = np.concatenate([w for _, w in parts]) if parts else np.empty(0, np.int64)
    return Sketches.concat([s for s, _ in parts], num_perm), words


def signatures(bodies: Sequence[str], num_perm: int = 128, shingle: int = 5, seed: int = 1
               ) -> np.ndarray:
    """Whole-text signatures, uint16 [n, num_perm]. The index takes the full `sketch(...)`: the
    containment and continuation tests also need the shingle counts and the edge sketches."""
    return sketch(bodies, num_perm, shingle, seed).sigs


def _filled(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slots that are not EMPTY on both sides, and their count per row (at least 1)."""
    both = (a != EMPTY) | (b != EMPTY)
    return both, np.maximum(both.sum(axis=-1), 1)


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of signature rows a[i] and b[i] (0 if either is empty):
    equal slots among those holding a shingle on either side."""
    both, count = _filled(a, b)
    return ((a == b) & both).sum(axis=-1) / count


def containment(later: np.ndarray, earlier: np.ndarray, later_size: np.ndarray,
                earlier_size: np.ndarray) -> np.ndarray:
    """Estimated share of the later body's shingles found in the earlier body (see the module
    docstring): v = P(min earlier > min later) = |N \\ E| / |E ∪ N|, so |N \\ E| = v|E| / (1-v)."""
    both, count = _filled(later, earlier)
    v = ((earlier > later) & both).sum(axis=-1) / count
    new = v * earlier_size / np.maximum(1.0 - v, 1e-9)
    return np.clip(1.0 - new / np.maximum(later_size, 1), 0.0, 1.0)


# -- the index -------------------------------------------------------------------------------

_CANARY = ("Canary text for the near-duplicate index: if its sketch changes, the hashing changed "
           "and a stored index no longer compares with new sketches.")


def _as_utc_micros(values: Sequence[object] | pd.Series | np.ndarray) -> np.ndarray:
    ts = pd.to_datetime(pd.Series(values), utc=True).astype("datetime64[us, UTC]")
    if ts.isna().any():
        raise ValueError("published_at must be set for every article (it decides the original)")
    return ts.to_numpy(dtype="datetime64[us]").astype(np.int64)


def _unique_sorted(values: np.ndarray) -> np.ndarray:
    values = np.sort(values)
    first = np.ones(len(values), bool)
    first[1:] = values[1:] != values[:-1]
    return values[first]


def _band_keys(sigs: np.ndarray, band: int, rows: int) -> np.ndarray:
    """uint32 hash of one band (signature columns band*rows .. band*rows + rows - 1) of every
    row; a chance collision only adds a candidate, which verification rejects."""
    key = np.zeros(len(sigs), np.uint64)
    for column in range(band * rows, (band + 1) * rows):
        key *= _U64(0x9E3779B97F4A7C15)
        key += sigs[:, column]
    return (_mix(key) >> _U64(32)).astype(np.uint32)


def _banded(sigs: np.ndarray, band: int, rows: int, live: np.ndarray) -> np.ndarray:
    """The live rows whose band holds a shingle: an all-EMPTY band (a short body's empty bins)
    says nothing, and every short body would share it."""
    return live[(sigs[live, band * rows:(band + 1) * rows] != EMPTY).any(axis=1)]


def _search(table: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.searchsorted(table, keys) "left" and "right": the keys searched in sorted order (a
    binary search per random key misses the cache at every step; in order, neighbouring
    searches share their paths), the answers put back."""
    order = np.argsort(keys)
    lo, hi = np.empty(len(keys), np.int64), np.empty(len(keys), np.int64)
    lo[order] = np.searchsorted(table, keys[order], "left")
    hi[order] = np.searchsorted(table, keys[order], "right")
    return lo, hi


def _lsh_pairs(indexed: np.ndarray, live: np.ndarray, probes: np.ndarray,
               probe_live: np.ndarray, bands: int, max_bucket: int,
               own_rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(probe position, indexed row) for every band bucket a live probe shares with live indexed
    rows, at most `max_bucket` members per bucket (the oldest), each pair once, never a probe with
    its own row (`own_rows[k]`: probe k's indexed row, or -1).

    One band at a time (sort the band's keys, binary-search the probes' keys): memory is one
    band's table and the pairs found, not all the tables and every probe's self-match."""
    rows = indexed.shape[1] // bands
    n = max(len(indexed), 1)
    found: list[np.ndarray] = []
    held = 0
    for band in range(bands):
        held_rows = _banded(indexed, band, rows, live)
        keys = _band_keys(indexed, band, rows)[held_rows]
        order = np.argsort(keys, kind="stable")  # stable: older rows first
        table, members = keys[order], held_rows[order]
        del keys, order
        probing = _banded(probes, band, rows, probe_live)
        probe_keys = _band_keys(probes, band, rows)[probing]
        lo, hi = _search(table, probe_keys)
        counts = np.minimum(hi - lo, max_bucket)
        total = int(counts.sum())
        if not total:
            continue
        # Expand each [lo, lo + count) range without a Python loop.
        offsets = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)
        q = np.repeat(probing, counts)
        m = members[offsets].astype(np.int64)
        if own_rows is not None:
            other = m != own_rows[q]
            q, m = q[other], m[other]
        found.append(q * n + m)
        held += len(q)
        if held > 1 << 24:  # bands repeat most pairs: fold them before they pile up
            found = [_unique_sorted(np.concatenate(found))]
            held = len(found[0])
    pairs = _unique_sorted(np.concatenate(found)) if found else np.empty(0, np.int64)
    return pairs // n, pairs % n


_FORMAT = "nightdesk-neardup-3"  # 3: one-permutation whole-text sketches
_ROW_GROUP = 1 << 16  # rows per Parquet row group: reading copies one group at a time
_PARAMS = ("num_perm", "bands", "shingle", "seed", "lead_bands", "max_bucket")
# Hashes do not compress: only the id and date columns are worth zstd.
_COMPRESSION = {"article_id": "zstd", "published_at": "zstd", "root": "zstd", "size": "zstd",
                "sig": "none", "lead": "none", "tail": "none"}


def file_meta(path: str | Path) -> dict[str, str]:
    """The key-value metadata of an index file (format, parameters, generation...) and its
    row count, from the footer alone."""
    import pyarrow.parquet as pq

    return _footer_meta(pq.read_metadata(path))


def _footer_meta(footer: Any) -> dict[str, str]:
    """A pyarrow FileMetaData's key-value metadata and row count."""
    meta = {k.decode(): v.decode() for k, v in (footer.metadata or {}).items()
            if k != b"ARROW:schema"}
    return meta | {"rows": str(footer.num_rows)}


class NearDupIndex:
    """Sketches of every article seen so far, each article's cluster root (the id of the
    cluster's earliest published member) and its publication time. LSH tables (whole text, lead)
    are built band by band at query time. Persist it between runs with `save` / `load`; each run
    calls `assign_clusters` with its articles (or `add`, then `cluster`).

    Memory: 448 B of sketches per article at the defaults plus its id (~450 MB for a million);
    `reserve` room before adding a large batch so that adding copies nothing.
    """

    def __init__(self, num_perm: int = 128, bands: int = 32, shingle: int = 5, seed: int = 1,
                 lead_bands: int = 16, max_bucket: int = 200) -> None:
        if num_perm % bands or EDGE_PERM % lead_bands:
            raise ValueError("num_perm and EDGE_PERM must be multiples of bands and lead_bands")
        self.num_perm, self.bands, self.shingle, self.seed = num_perm, bands, shingle, seed
        self.lead_bands = lead_bands
        # A bucket larger than this (boilerplate-only pages, a story copied hundreds of times)
        # yields only its oldest members as candidates: bounded work per query.
        self.max_bucket = max_bucket
        self._ids = np.empty(0, object)
        self._published = np.empty(0, np.int64)  # UTC microseconds
        self._roots = np.empty(0, object)
        # Sketch rows live in buffers with spare capacity: rows [0, len) are indexed, rows up to
        # _filled were added and wait for _flush (which drops the older row of a replaced id).
        self._buf = Sketches.concat([], num_perm)
        self._filled = 0
        self._data = self._buf
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []  # (ids, published) not merged
        self.generation = ""  # content digest of the file this index was loaded from

    def __len__(self) -> int:
        self._flush()
        return len(self._ids)

    def sketch(self, bodies: Iterable[str | None]) -> Sketches:
        """Sketches made with this index's parameters (the only ones it can compare)."""
        return sketch(bodies, self.num_perm, self.shingle, self.seed)

    def sketch_counting(self, bodies: Iterable[str | None]) -> tuple[Sketches, np.ndarray]:
        """`sketch` and the bodies' word counts (neardup.sketch_counting)."""
        return sketch_counting(bodies, self.num_perm, self.shingle, self.seed)

    # -- building ------------------------------------------------------------------------------

    def reserve(self, rows: int) -> None:
        """Room for `rows` more articles, allocated once: adding them then copies no sketch."""
        self._grow(self._filled + rows, exact=True)

    def _grow(self, need: int, exact: bool = False) -> None:
        capacity = len(self._buf)
        if need <= capacity:
            return
        if not exact:  # amortised: many small adds must not copy the index each time
            need = max(need, capacity + capacity // 2)
        width = {"sigs": self.num_perm, "lead": EDGE_PERM, "tail": EDGE_PERM}
        grown = Sketches(*(np.empty((need, width[f]), SIG_DTYPE) if f in width
                           else np.empty(need, np.int32) for f in _SKETCH_FIELDS))
        for name in _SKETCH_FIELDS:
            getattr(grown, name)[: self._filled] = getattr(self._buf, name)[: self._filled]
        self._buf = grown
        self._data = grown[: len(self._ids)]

    def add(self, ids: Sequence[str], sketches: Sketches,
            published_at: Sequence[object] | pd.Series) -> None:
        """Add articles, each its own cluster. An id already present is replaced (a re-crawl is
        an update of that article, not a new one); within `ids` the last occurrence wins."""
        ids_arr = np.asarray([str(i) for i in ids], dtype=object)
        if not len(ids_arr) == len(sketches) == len(published_at):
            raise ValueError("ids, sketches and published_at differ in length")
        if sketches.sigs.shape[1] != self.num_perm:
            raise ValueError(f"sketches have {sketches.sigs.shape[1]} permutations, "
                             f"the index {self.num_perm}")
        published = _as_utc_micros(published_at)
        self._grow(self._filled + len(ids_arr))
        for name in _SKETCH_FIELDS:
            getattr(self._buf, name)[self._filled: self._filled + len(ids_arr)] = \
                getattr(sketches, name)
        self._filled += len(ids_arr)
        self._pending.append((ids_arr, published))

    def _flush(self) -> None:
        """Index what `add` wrote: drop the older rows of replaced ids, compacting the sketch
        buffers in place (no second copy of the index)."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        ids = np.concatenate([self._ids, *(p[0] for p in pending)])
        published = np.concatenate([self._published, *(p[1] for p in pending)])
        roots = np.concatenate([self._roots, *(p[0] for p in pending)])
        latest = ~pd.Series(ids).duplicated(keep="last").to_numpy()
        if not latest.all():
            keep = np.flatnonzero(latest)
            ids, published, roots = ids[keep], published[keep], roots[keep]
            for name in _SKETCH_FIELDS:
                _compact(getattr(self._buf, name), keep)
            self._filled = len(keep)
        self._ids, self._published, self._roots = ids, published, roots
        self._data = self._buf[: self._filled]

    # -- querying ------------------------------------------------------------------------------

    def _candidates(self, sketches: Sketches, own_rows: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(query position, index row) pairs sharing a band of either table, each pair once."""
        self._flush()
        live = np.flatnonzero(self._data.sizes > 0)  # empty bodies would all collide
        probes = np.flatnonzero(sketches.sizes > 0)
        # The two tables in two threads: numpy's sorts and searches release the GIL, and the
        # transform runs this while its worker pool is done (one core idle otherwise).
        with ThreadPoolExecutor(2) as pool:
            lead = pool.submit(_lsh_pairs, self._data.lead, live, sketches.lead, probes,
                               self.lead_bands, self.max_bucket, own_rows)
            q1, r1 = _lsh_pairs(self._data.sigs, live, sketches.sigs, probes, self.bands,
                                self.max_bucket, own_rows)
            q2, r2 = lead.result()
        n = max(len(self), 1)
        pairs = _unique_sorted(np.concatenate([q1 * n + r1, q2 * n + r2]))
        return pairs // n, pairs % n

    def query(self, sketches: Sketches) -> pd.DataFrame:
        """Unverified candidates from the LSH tables: `query` (position in `sketches`), `id` (an
        indexed article), estimated `jaccard` and `lead_jaccard`."""
        q, r = self._candidates(sketches)  # flushes
        return pd.DataFrame({"query": q, "id": self._ids[r].astype(str),
                             "jaccard": jaccard(sketches.sigs[q], self._data.sigs[r]),
                             "lead_jaccard": jaccard(sketches.lead[q], self._data.lead[r])})

    def _verify(self, a: np.ndarray, b: np.ndarray, threshold: float, min_jaccard: float,
                min_lead: float) -> np.ndarray:
        """Which index-row pairs are near-duplicates (the rule of the module docstring)."""
        keep = np.empty(len(a), bool)
        step = 1 << 15  # bounded temporaries for large candidate sets
        for lo in range(0, len(a), step):
            i, j = a[lo: lo + step], b[lo: lo + step]
            pi, pj = self._published[i], self._published[j]
            i_later = (pi > pj) | ((pi == pj) & (self._ids[i] > self._ids[j]))
            later, earlier = np.where(i_later, i, j), np.where(i_later, j, i)
            d = self._data
            n_size, e_size = d.sizes[later].astype(float), d.sizes[earlier].astype(float)
            contained = containment(d.sigs[later], d.sigs[earlier], n_size, e_size)
            lead = jaccard(d.lead[later], d.lead[earlier])
            tail = jaccard(d.tail[later], d.tail[earlier])
            copy = (contained >= threshold) & (
                jaccard(d.sigs[later], d.sigs[earlier]) >= min_jaccard)
            continuation = ((n_size >= CONTINUATION_GROWTH * e_size)
                            & (np.minimum(lead, tail) < CONTINUATION_EDGE))
            # A teaser is a few per cent of E: one disagreeing permutation moves the whole-text
            # containment by |E| / (num_perm |N|), so it is measured on the leads instead (N's
            # first shingles within E's first shingles), with a loose whole-text sanity bound.
            lead_contained = containment(d.lead[later], d.lead[earlier],
                                         np.minimum(n_size, EDGE_SHINGLES),
                                         np.minimum(e_size, EDGE_SHINGLES))
            excerpt = ((n_size * 2 <= e_size) & (lead >= min_lead)
                       & (lead_contained >= threshold) & (contained >= EXCERPT_SANITY))
            keep[lo: lo + len(i)] = (copy & ~continuation) | excerpt
        return keep


    def assign_clusters(self, ids: Sequence[str], sketches: Sketches,
                        published_at: Sequence[object] | pd.Series,
                        threshold: float = DEFAULT_THRESHOLD,
                        min_jaccard: float = DEFAULT_MIN_JACCARD,
                        min_lead: float = DEFAULT_MIN_LEAD) -> pd.Series:
        """Add one run's articles and cluster them with everything indexed (this run's and
        earlier runs'): `add`, then `cluster`."""
        self.add(ids, sketches, published_at)
        return self.cluster(ids, threshold, min_jaccard, min_lead)

    def cluster(self, ids: Sequence[str], threshold: float = DEFAULT_THRESHOLD,
                min_jaccard: float = DEFAULT_MIN_JACCARD,
                min_lead: float = DEFAULT_MIN_LEAD) -> pd.Series:
        """Cluster these added articles with everything indexed. Returns `duplicate_of` indexed
        by id: the id of the earliest published member of the article's cluster, None when the
        article is that original or has no near-duplicate.

        A new article published before an existing cluster's original (a late crawl) becomes the
        original of the merged cluster; `duplicate_of()` gives the updated labels of the older
        members."""
        self._flush()
        ids_arr = np.asarray([str(i) for i in ids], dtype=object)
        rows = pd.Index(self._ids).get_indexer(ids_arr)
        if (rows < 0).any():
            raise KeyError(f"not in the index: {ids_arr[rows < 0][:5].tolist()}")
        # Added ids sit at the end, in order: a slice is a view, fancy indexing a copy of every
        # sketch of the batch.
        contiguous = len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows)))
        batch = self._data[rows[0]: rows[0] + len(rows)] if contiguous else self._data[rows]
        q, r = self._candidates(batch, own_rows=rows)
        del batch
        # Each pair once, whichever of its articles found it.
        n = max(len(self._ids), 1)
        pairs = _unique_sorted(np.minimum(rows[q], r) * n + np.maximum(rows[q], r))
        a, b = pairs // n, pairs % n
        edges = self._verify(a, b, threshold, min_jaccard, min_lead)
        self._merge(a[edges], b[edges])
        roots = self._roots[rows]
        return pd.Series(np.where(roots == ids_arr, None, roots), dtype=object,
                         index=pd.Index(ids_arr, name="article_id"), name="duplicate_of")

    def absorb(self, batch: NearDupIndex) -> pd.Series:
        """`assign_clusters` with the articles of another index (a batch staged with `save`)."""
        batch._flush()
        return self.assign_clusters(batch._ids, batch._data,
                                    batch._published.astype("datetime64[us]"))

    def _merge(self, a: np.ndarray, b: np.ndarray) -> None:
        """Union the clusters joined by the edges a[k]-b[k]; each cluster's root becomes its
        earliest published member (ties: lowest id)."""
        if not len(a):
            return
        ends = _unique_sorted(np.concatenate([a, b]))
        root_rows = pd.Index(self._ids).get_indexer(self._roots[ends])
        has_root = root_rows >= 0  # a root that left the index links nothing
        nodes = _unique_sorted(np.concatenate([ends, root_rows[has_root]]))
        # Rank the nodes by (published, id): the lowest rank in a component is its original.
        order = (pd.DataFrame({"p": self._published[nodes], "id": self._ids[nodes]})
                 .sort_values(["p", "id"], kind="stable").index.to_numpy())
        by_rank = nodes[order]
        rank = np.empty(len(nodes), np.int64)  # rank of nodes[k]
        rank[order] = np.arange(len(nodes))
        u = rank[np.searchsorted(nodes, np.concatenate([a, ends[has_root]]))]
        v = rank[np.searchsorted(nodes, np.concatenate([b, root_rows[has_root]]))]
        label = np.arange(len(nodes))  # per rank: the lowest rank it is known to be joined to
        while True:  # min-label propagation with pointer jumping; a few rounds
            low = np.minimum(label[u], label[v])
            new = label.copy()
            np.minimum.at(new, u, low)
            np.minimum.at(new, v, low)
            new = new[new]
            if np.array_equal(new, label):
                break
            label = new
        old_roots, new_roots = self._roots[by_rank], self._ids[by_rank[label]]
        moved = pd.Series(new_roots, index=old_roots)[old_roots != new_roots]
        moved = moved[~moved.index.duplicated()]
        self._roots[by_rank] = new_roots
        if len(moved):  # members no edge touched follow their cluster's new root
            # pandas hashes; np.isin on object arrays compares element by element (O(n * m))
            follow = pd.Series(self._roots).isin(moved.index).to_numpy()
            self._roots[follow] = moved.loc[self._roots[follow]].to_numpy()

    def duplicate_of(self, ids: Sequence[str] | None = None) -> pd.Series:
        """Current labels, of all articles or of `ids`: the cluster original's id, or None."""
        self._flush()
        roots = pd.Series(np.where(self._roots == self._ids, None, self._roots), dtype=object,
                          index=pd.Index(self._ids, name="article_id"), name="duplicate_of")
        return roots if ids is None else roots.reindex(list(ids))

    # -- persistence ---------------------------------------------------------------------------

    def _canary_sketch(self) -> np.ndarray:
        s = self.sketch([_CANARY])
        return np.concatenate([s.sigs.ravel(), s.lead.ravel(), s.tail.ravel()])

    def _same_hashing(self, canary: str) -> bool:
        return canary == self._canary_sketch().tobytes().hex()

    def digest(self) -> str:
        """Digest of the content (parameters, ids, dates, roots, sketches): a file's
        `generation`. Equal digests, equal indexes."""
        self._flush()
        h = hashlib.blake2b(digest_size=16)
        h.update(repr([getattr(self, k) for k in _PARAMS]).encode())
        for values in (self._ids, self._roots):
            h.update("\x00".join(values.tolist()).encode("utf-8", "surrogatepass") + b"\x01")
        for arr in (self._published, *(getattr(self._data, f) for f in _SKETCH_FIELDS)):
            h.update(np.ascontiguousarray(arr).data)  # views of the buffers: no copy
        return h.hexdigest()

    def save(self, path: str | Path, *, base: str | None = None, batch_rows: int = 0) -> str:
        """Write the index as one Parquet file, replaced atomically; returns its generation.
        A staged index records the generation it was built on (`base`) and how many of its last
        rows are the batch that was added (see etl.clusters.load_window)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        def fixed(values: np.ndarray) -> pa.FixedSizeBinaryArray:
            values = np.ascontiguousarray(values)  # buffer rows [0, len): already contiguous
            return pa.FixedSizeBinaryArray.from_buffers(
                pa.binary(values.shape[1] * values.itemsize), len(values),
                [None, pa.py_buffer(values)])

        self.generation = self.digest()  # flushes
        meta = {"format": _FORMAT, **{k: getattr(self, k) for k in _PARAMS},
                "canary": self._canary_sketch().tobytes().hex(), "generation": self.generation}
        if base is not None:
            meta |= {"base": base, "batch_rows": batch_rows}
        d = self._data
        table = pa.table({
            "article_id": pa.array(self._ids.tolist(), pa.string()),
            "published_at": pa.array(self._published, pa.int64())
            .cast(pa.timestamp("us", tz="UTC")),
            "root": pa.array(self._roots.tolist(), pa.string()),
            "size": pa.array(d.sizes, pa.int32()),
            "sig": fixed(d.sigs),
            "lead": fixed(d.lead),
            "tail": fixed(d.tail),
        }).replace_schema_metadata({k: str(v) for k, v in meta.items()})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp, compression=_COMPRESSION, use_dictionary=False,
                       row_group_size=_ROW_GROUP, write_page_checksum=True)
        os.replace(tmp, path)
        return self.generation

    @classmethod
    def load(cls, path: str | Path, spare: int = 0, first_row: int = 0) -> NearDupIndex:
        """Read an index written by `save` (rows from `first_row` on), with room for `spare`
        more articles; refuse a file whose hashing no longer matches. Reads one row group at a
        time into the index's buffers: memory is the index plus one group."""
        import pyarrow.parquet as pq

        # One open file for the footer and the rows: a writer replacing the file in between
        # must not give one file's metadata with another's rows. Page checksums verified.
        source = pq.ParquetFile(path, page_checksum_verification=True)
        meta = _footer_meta(source.metadata)
        fmt = meta.get("format")
        if fmt != _FORMAT:
            raise ValueError(f"{path} is not a near-duplicate index ({fmt!r})")
        index = cls(**{k: int(meta[k]) for k in _PARAMS})
        if not index._same_hashing(meta["canary"]):
            raise ValueError(f"{path} was built with other hashing; rebuild it from the lake")
        rows = int(meta["rows"]) - first_row
        index.reserve(rows + spare)
        ids, roots, published = [], [], []
        pos, skip = 0, first_row
        for group in range(source.num_row_groups):
            size = source.metadata.row_group(group).num_rows
            if skip >= size:
                skip -= size
                continue
            table = source.read_row_group(group).slice(skip)
            skip = 0
            ids.append(table["article_id"].to_numpy(zero_copy_only=False))
            roots.append(table["root"].to_numpy(zero_copy_only=False))
            published.append(table["published_at"].to_numpy().astype("datetime64[us]")
                             .astype(np.int64))
            buf, end = index._buf, pos + len(table)
            buf.sizes[pos:end] = table["size"].to_numpy()
            for column, name in (("sig", "sigs"), ("lead", "lead"), ("tail", "tail")):
                getattr(buf, name)[pos:end] = _sketch_rows(table[column])
            pos = end
        index._ids = np.concatenate([np.empty(0, object), *ids]).astype(object)
        index._roots = np.concatenate([np.empty(0, object), *roots]).astype(object)
        index._published = np.concatenate([np.empty(0, np.int64), *published])
        index._filled = pos
        index._data = index._buf[:pos]
        index.generation = meta.get("generation", "")
        return index


def _sketch_rows(column: object) -> np.ndarray:
    """uint16 [rows, width] from a fixed_size_binary sketch column, read in place."""
    parts = []
    for chunk in column.chunks:  # type: ignore[attr-defined]
        width = chunk.type.byte_width // np.dtype(SIG_DTYPE).itemsize
        flat = np.frombuffer(chunk.buffers()[1], SIG_DTYPE, count=len(chunk) * width,
                             offset=chunk.offset * chunk.type.byte_width)
        parts.append(flat.reshape(len(chunk), width))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _compact(column: np.ndarray, keep: np.ndarray) -> None:
    """column[:len(keep)] = column[keep] in place, for ascending `keep`, in slices (the fancy
    index copies one slice, not the column). Safe: keep[i] >= i, so a slice never overwrites
    rows that a later slice still reads."""
    step = 1 << 16
    for lo in range(0, len(keep), step):
        rows = keep[lo: lo + step]
        if rows[0] != lo or rows[-1] != lo + len(rows) - 1:  # otherwise already in place
            column[lo: lo + len(rows)] = column[rows]
