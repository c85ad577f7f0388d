"""Near-duplicate detection: MinHash signatures, an LSH index that lives across runs, and
`duplicate_of` cluster labels (never deletion: the pipeline decides what to do with a copy).

What counts as a duplicate (the rule, and why; bench/neardup_eval.py measures it):

    A later article N is a near-duplicate of an earlier article E when almost all of N's text is
    already in E: containment |N ∩ E| / |N| >= `threshold` (5-word shingles, estimated from the
    signatures and the exact shingle counts), and the two share at least `min_jaccard`.

- Syndicated copies (new header/footer, a few sentences edited, retitled, reflowed, quotes changed)
  keep nearly all of their text in the original, in either publication order.
- A teaser (the lead + "read more") is contained in the original: a duplicate. Plain Jaccard
  misses it because the teaser is much shorter.
- A correction (the same article re-issued with a corrected fact and a note) is a version of the
  same story: a duplicate, so the pipeline can show the latest version of the cluster.
- A live blog's next update keeps the older entries and adds new ones. The newer update is NOT a
  duplicate of the older: it brings new reporting, and flagging it would hide the most complete
  version behind the first one. Jaccard alone is high here; containment of the newer text in the
  older is not. The rule is directional for this reason: it asks whether the LATER article brings
  new text, so the order of publication matters.
- Two stories from one template (market report, weather) share their boilerplate and differ in
  facts: not duplicates. They stay below the threshold as long as the boilerplate is less than
  `threshold` of the text (a template that is 90 % boilerplate is indistinguishable by text).
- Titles are not hashed: a syndicator rewrites the headline, and two different stories can share
  one. Pass bodies only.

Hashing is pure numpy and stable across processes and machines (no Python `hash()`): a chunk of
bodies becomes one array of code points, tokens (lowercased NFKC `\\w+`) are hashed with a
polynomial prefix hash, 5 consecutive token hashes are combined into a shingle, and MinHash uses
the multiply-add-shift universal family h(x) = (a*x + b mod 2**64) >> 32 (Dietzfelbinger): the
division-free counterpart of (a*x + b) mod p, about twice as fast in numpy.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SIG_DTYPE = np.uint32
EMPTY = np.iinfo(SIG_DTYPE).max  # every slot of an empty body's signature

# Defaults chosen with bench/neardup_eval.py (see its output and the module docstring).
DEFAULT_THRESHOLD = 0.8  # containment of the later article in the earlier one
DEFAULT_MIN_JACCARD = 0.1  # guards the containment estimate against chance agreement

_U64 = np.uint64
_CHUNK_CHARS = 1 << 21  # text per tokenising chunk (~2 M code points, ~100 MB of temporaries)
_BLOCK_CELLS = 1 << 20  # shingles x permutations per MinHash block (8 MB: stays in cache)
_FORMAT = "nightdesk-neardup-1"


@dataclass(frozen=True)
class Sketches:
    """Signatures of a batch of bodies: `sigs` [n, num_perm] MinHash values and `sizes` [n] the
    number of distinct shingles (0 for a body without words; such bodies never match)."""

    sigs: np.ndarray
    sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, rows: slice | np.ndarray) -> Sketches:
        return Sketches(self.sigs[rows], self.sizes[rows])

    @staticmethod
    def concat(parts: Sequence[Sketches], num_perm: int) -> Sketches:
        if not parts:
            return Sketches(np.empty((0, num_perm), SIG_DTYPE), np.empty(0, np.int32))
        return Sketches(np.concatenate([p.sigs for p in parts]),
                        np.concatenate([p.sizes for p in parts]))


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
def _word_table() -> np.ndarray:
    """bool[0x110000]: is this code point a regex `\\w` character (exactly Python's definition)."""
    cps = np.arange(0x110000, dtype=np.uint32)
    cps[0xD800:0xE000] = 0x20  # lone surrogates cannot be encoded; they are not word characters
    marked = re.sub(r"\w", "\x01", cps.tobytes().decode("utf-32-le"))
    return np.frombuffer(marked.encode("utf-32-le"), np.uint32) == 1


_BASE = _U64(0x100000001B3)  # odd, hence invertible modulo 2**64
_BASE_INV = _U64(pow(0x100000001B3, -1, 1 << 64))


@functools.cache
def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**i and BASE**-i modulo 2**64 for i < n (numpy integer arrays wrap modulo 2**64)."""
    pw = np.empty(n, np.uint64)
    inv = np.empty(n, np.uint64)
    pw[0] = inv[0] = 1
    np.cumprod(np.full(n - 1, _BASE), out=pw[1:])
    np.cumprod(np.full(n - 1, _BASE_INV), out=inv[1:])
    return pw, inv


def _token_hashes(bodies: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Hash every token of every body: (hashes uint64 [m], owning body int64 [m]), in text order.

    One string per chunk, not one per token: bodies are joined with NUL (not a word character,
    so no token spans two bodies), lowercased and NFKC-normalised once, and turned into code
    points. A token's hash is sum(c_j * BASE**j) over its characters, taken from a prefix sum
    and shifted back by BASE**-start, then mixed.
    """
    text = unicodedata.normalize("NFKC", "\x00".join(b.replace("\x00", " ") for b in bodies))
    cps = np.frombuffer(text.lower().encode("utf-32-le"), np.uint32)
    word = _word_table()[cps].view(np.int8)
    edges = np.diff(word, prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    # Pad the power tables to a power of two so that chunks of varying length share one table.
    pw, inv = _powers(1 << max(10, int(len(cps)).bit_length()))
    prefix = np.zeros(len(cps) + 1, np.uint64)
    np.cumsum(cps.astype(np.uint64) * pw[: len(cps)], out=prefix[1:])
    hashes = _mix((prefix[ends] - prefix[starts]) * inv[starts])
    owner = np.searchsorted(np.flatnonzero(cps == 0), starts)
    return hashes, owner


def _shingle_keys(hashes: np.ndarray, owner: np.ndarray, ndocs: int, k: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Distinct 32-bit shingle keys per body: (keys uint64 [u], owner int64 [u]) sorted by owner.

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
            comb[: m - w + 1] = comb[: m - w + 1] * _U64(0x9E3779B97F4A7C15) + hashes[w - 1:]
        done = np.flatnonzero(counts == w) if w < k else np.empty(0, np.int64)
        if len(done):
            short_keys.append(comb[first[done]])
            short_owner.append(done)
    pos = np.arange(m) - first[owner]
    full = pos <= counts[owner] - k
    keys = np.concatenate([comb[full], *short_keys])
    own = np.concatenate([owner[full], *short_owner]).astype(np.uint64)
    packed = np.unique((own << _U64(32)) | (_mix(keys) >> _U64(32)))
    return packed & _U64(0xFFFFFFFF), (packed >> _U64(32)).astype(np.int64)


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 63, num_perm, dtype=np.uint64) | _U64(1)
    b = rng.integers(0, 1 << 63, num_perm, dtype=np.uint64)
    return a, b


def _minhash(keys: np.ndarray, owner: np.ndarray, ndocs: int, num_perm: int, seed: int
             ) -> np.ndarray:
    """[ndocs, num_perm] minimum of h_p over each body's keys, in cache-sized blocks of whole
    bodies. min commutes with the monotone `>> 32`, so the shift is done after the reduction."""
    a, b = _permutations(num_perm, seed)
    sigs = np.full((ndocs, num_perm), EMPTY, SIG_DTYPE)
    counts = np.bincount(owner, minlength=ndocs)
    present = np.flatnonzero(counts)
    bounds = np.concatenate([[0], np.cumsum(counts[present])])
    rows_per_block = max(1, _BLOCK_CELLS // num_perm)
    lo = 0
    while lo < len(present):
        # Whole bodies up to the block budget (at least one body, however long).
        hi = max(lo + 1, int(np.searchsorted(bounds, bounds[lo] + rows_per_block, "right")) - 1)
        hi = min(hi, len(present))
        block = keys[bounds[lo]: bounds[hi]]
        step = max(1, _BLOCK_CELLS // max(1, len(block)))
        for p in range(0, num_perm, step):
            h = np.multiply.outer(block, a[p: p + step])
            h += b[p: p + step]
            mins = np.minimum.reduceat(h, bounds[lo:hi] - bounds[lo], axis=0)
            sigs[present[lo:hi], p: p + step] = (mins >> _U64(32)).astype(SIG_DTYPE)
        lo = hi
    return sigs


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


def iter_sketches(bodies: Iterable[str | None], num_perm: int = 128, shingle: int = 5,
                  seed: int = 1, chunk_chars: int = _CHUNK_CHARS) -> Iterator[Sketches]:
    """Sketches chunk by chunk, in input order: memory is bounded by `chunk_chars`, not by the
    number of bodies (stream a million bodies through this and keep only the sketches)."""
    for chunk in _chunks(bodies, chunk_chars):
        hashes, owner = _token_hashes(chunk)
        keys, key_owner = _shingle_keys(hashes, owner, len(chunk), shingle)
        sizes = np.bincount(key_owner, minlength=len(chunk)).astype(np.int32)
        yield Sketches(_minhash(keys, key_owner, len(chunk), num_perm, seed), sizes)


def sketch(bodies: Iterable[str | None], num_perm: int = 128, shingle: int = 5, seed: int = 1
           ) -> Sketches:
    """Signatures and distinct-shingle counts of `bodies` (None counts as an empty body)."""
    return Sketches.concat(list(iter_sketches(bodies, num_perm, shingle, seed)), num_perm)


def signatures(bodies: Sequence[str], num_perm: int = 128, shingle: int = 5, seed: int = 1
               ) -> np.ndarray:
    """MinHash signatures, uint32 [n, num_perm]; the index also needs `sketch(...).sizes`."""
    return sketch(bodies, num_perm, shingle, seed).sigs


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard similarity of signature rows a[i] and b[i] (0 if either is empty)."""
    est = (a == b).mean(axis=-1)
    return np.where((a == EMPTY).all(axis=-1) | (b == EMPTY).all(axis=-1), 0.0, est)
