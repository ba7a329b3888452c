"""Near-duplicate detection: One-Permutation-Hashing MinHash + LSH on character n-grams, in numpy.

Design (chosen by measurement, see ``bench/neardup.py``):

* **Shingles.** Character ``ngram``-grams hashed by ``builder.kernels.shingles`` (shared with
  decontamination).
* **Signature.** One-Permutation Hashing: one hash per shingle; its high 32 bits pick one of
  ``bins`` slots (multiply-shift range reduction), its low 32 bits are the value; each slot
  keeps the minimum (a compiled loop, ``shingles.min_slots``). Empty slots are filled by *optimal densification* (Shrivastava 2017): empty slot
  ``j`` copies slot ``probe(j, t)`` of the undensified signature for the first attempt ``t``
  that lands on a filled slot; the probe sequence depends only on ``(seed, j, t)``, so two
  documents with the same shingle set always get the same signature. The index keeps the
  low 16 bits of each slot: ``2 * bins`` bytes per document.
* **LSH.** ``bands x rows <= bins`` chosen for the threshold by minimising the weighted
  false-positive + false-negative areas under the S-curve (as datasketch's ``_optimal_param``,
  with FN weighted 0.9 since candidates are verified anyway). Per band, the documents are
  grouped by a 64-bit hash of the band's slots (stable argsort); every member of a group becomes
  a candidate pair with the group's first (smallest) index. One extra key over the whole
  signature groups documents with identical signatures (so identical texts always meet,
  whatever the bands do). Bands are processed on the thread pool.
* **Verification.** A candidate pair is kept when the fraction of equal signature slots (the
  MinHash estimate of the Jaccard similarity of the shingle sets) is ``>= threshold``.
* **Clusters.** Connected components of the verified pairs by min-label hooking and pointer
  jumping in numpy; a cluster's kept document is its smallest index.

Everything is a pure function of the texts in order and the config: results do not depend on
how the rows were split across ``add`` calls, nor on thread timing (chunks are hashed on a
two-thread pool, numpy releases the GIL, and results are placed by chunk order).
"""

from __future__ import annotations

import functools
import math
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from builder.kernels.shingles import C2, P, fmix_inplace, min_slots, splitmix64
from builder.quality.dedup import shared_keys

__all__ = ["NearDupConfig", "NearDupResult", "NearDuplicates", "optimal_bands"]

_U64 = np.uint64
_EMPTY = np.uint32(0xFFFFFFFF)

_CHUNK_DOCS = 32_768  # documents handed to one worker task
_MAX_IN_FLIGHT = 4  # tasks queued before add() waits (bounds memory held by pending texts)
_PAIR_BATCH = 262_144  # candidate pairs verified at once
_DENSIFY_ATTEMPTS = 1024


def _trapezoid(ys: np.ndarray, xs: np.ndarray) -> float:
    return float(np.sum((ys[1:] + ys[:-1]) * 0.5 * np.diff(xs)))


FP_WEIGHT, FN_WEIGHT = 0.1, 0.9  # candidates are verified, so LSH false positives cost little


@functools.lru_cache(maxsize=64)
def optimal_bands(
    threshold: float, bins: int, fp_weight: float = FP_WEIGHT, fn_weight: float = FN_WEIGHT
) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= bins`` minimising the weighted FP + FN areas of the S-curve.

    FP area: integral over s in [0, threshold] of P(candidate | s) = 1 - (1 - s**rows)**bands;
    FN area: integral over s in [threshold, 1] of 1 - P(candidate | s). Unlike datasketch's 0.5/0.5
    default, false negatives weigh 0.9: every candidate pair is verified on the full signature,
    so a false positive only costs a comparison while a false negative is a missed duplicate
    (threshold 0.8, 64 bins: 9 bands x 7 rows; P(candidate) = 0.88 at J = 0.8, 0.997 at 0.9).
    """
    best, best_err = (1, bins), math.inf
    lo = np.linspace(0.0, threshold, 201)
    hi = np.linspace(threshold, 1.0, 201)
    for b in range(1, bins + 1):
        for r in range(1, bins // b + 1):
            fp = _trapezoid(1.0 - (1.0 - lo**r) ** b, lo)
            fn = _trapezoid((1.0 - hi**r) ** b, hi)
            err = fp_weight * fp + fn_weight * fn
            if err < best_err - 1e-15:
                best, best_err = (b, r), err
    return best


# --------------------------------------------------------------------------- signatures


def _probe_table(bins: int, seed: int) -> np.ndarray:
    """probe[t, j]: the slot empty slot ``j`` copies from at densification attempt ``t``."""
    j = np.arange(bins, dtype=np.uint64)[None, :]
    t = np.arange(_DENSIFY_ATTEMPTS, dtype=np.uint64)[:, None]
    h = (j * _U64(0x9E3779B97F4A7C15)) ^ (t * C2) ^ _U64(splitmix64(seed ^ 0x5DEECE66D))
    h = h.copy()
    fmix_inplace(h, np.empty_like(h))
    return ((h >> _U64(32)) * _U64(bins) >> _U64(32)).astype(np.intp)


def _densify(sig: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Fill empty slots of ``sig`` (m, K) uint32 by optimal densification; returns a new array."""
    out = sig.copy()
    rows, cols = np.nonzero(sig == _EMPTY)
    t = 0
    while rows.size and t < probe.shape[0]:
        src = sig[rows, probe[t, cols]]
        ok = src != _EMPTY
        out[rows[ok], cols[ok]] = src[ok]
        rows, cols = rows[~ok], cols[~ok]
        t += 1
    if rows.size:  # practically never: fall back to the next filled slot to the right (cyclic)
        k = sig.shape[1]
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            for d in range(1, k + 1):
                v = sig[r, (c + d) % k]
                if v != _EMPTY:
                    out[r, c] = v
                    break
    return out


def _signatures(texts, ngram: int, bins: int, seed: int, probe: np.ndarray) -> np.ndarray:
    """(m, bins) uint16 MinHash (OPH) signatures of the texts."""
    return _densify(min_slots(texts, ngram, bins, seed), probe).astype(np.uint16)  # low 16 bits of each slot


# --------------------------------------------------------------------------- clustering


def _band_hash(band: np.ndarray, salt: int) -> np.ndarray:
    """A 64-bit key per document of a band's slots, given slot by slot: (slots, documents)."""
    h = np.full(band.shape[1], _U64(splitmix64(salt)), np.uint64)
    for slot in band:
        h *= P
        h += slot.astype(np.uint64)
    fmix_inplace(h, np.empty_like(h))
    return h


class _Stored:
    """Signatures another process saved slot by slot (`NearDuplicates.save`), read a band of slots at a
    time: resolving holds one band of every document, not the whole index. Each read maps the file anew
    and lets the map go with the array it returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.docs = np.load(path, mmap_mode="r").shape[1]

    def __len__(self) -> int:
        return self.docs

    def slots(self, start: int, stop: int) -> np.ndarray:
        return np.array(np.load(self.path, mmap_mode="r")[start:stop])

    def signatures(self, docs: np.ndarray) -> np.ndarray:
        return np.load(self.path, mmap_mode="r")[:, docs].T


Part = np.ndarray | _Stored  # (documents, bins) signed here, or saved elsewhere


def _slots(part: Part, start: int, stop: int) -> np.ndarray:
    """Slots start..stop of a part's documents, slot by slot: (slots, documents)."""
    return part.slots(start, stop) if isinstance(part, _Stored) else part[:, start:stop].T


def _signatures_of(parts: list[Part], firsts: np.ndarray, docs: np.ndarray, bins: int) -> np.ndarray:
    """The whole signatures of some documents, numbered across the parts (which start at `firsts`)."""
    out = np.empty((len(docs), bins), np.uint16)
    part_of = np.searchsorted(firsts, docs, side="right") - 1
    for index in np.unique(part_of).tolist():
        here = part_of == index
        part, local = parts[index], docs[here] - firsts[index]
        out[here] = part.signatures(local) if isinstance(part, _Stored) else part[local]
    return out


def _star_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For docs grouped by equal ``keys``: pairs (group's smallest index, other member).

    The order within a group does not matter: the group's smallest index is taken with a reduction.
    Only the docs that share their key go on (`dedup.shared_keys`), so a band holds about three arrays
    of the documents."""
    members, starts = shared_keys(keys)
    if members.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    head = np.minimum.reduceat(members, np.flatnonzero(starts))[np.cumsum(starts) - 1]
    member = members != head
    return head[member].astype(np.int64), members[member].astype(np.int64)


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Label of each node = smallest node index of its connected component."""
    labels = np.arange(n, dtype=np.int64)
    if a.size == 0:
        return labels
    while True:
        la, lb = labels[a], labels[b]
        if np.array_equal(la, lb):
            return labels
        lo = np.minimum(la, lb)
        np.minimum.at(labels, la, lo)
        np.minimum.at(labels, lb, lo)
        while True:  # pointer jumping until every node points at a root
            nxt = labels[labels]
            if np.array_equal(nxt, labels):
                break
            labels = nxt


# --------------------------------------------------------------------------- API


@dataclass(frozen=True)
class NearDupConfig:
    threshold: float = 0.8  # estimated Jaccard at or above which two docs are near-duplicates
    ngram: int = 5  # character n-gram size
    bins: int = 64  # signature slots (K); bands x rows chosen from threshold
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")
        if not 2 <= self.bins <= 1024:
            raise ValueError(f"bins must be in [2, 1024], got {self.bins}")


@dataclass(frozen=True)
class NearDupResult:
    duplicate_of: np.ndarray  # int64; -1 for a kept doc, else the kept doc of its cluster
    cluster: np.ndarray  # int64; cluster id (= its kept doc's index) or -1 for singletons
    index_bytes_per_doc: float  # signature bytes per document (in memory a band at a time when stored)
    bands: int = 0
    rows: int = 0
    candidate_pairs: int = 0
    verified_pairs: int = 0

    def clusters_summary(self, top: int = 10) -> dict:
        cl = self.cluster[self.cluster >= 0]
        ids, sizes = np.unique(cl, return_counts=True)
        order = np.lexsort((ids, -sizes))[:top]
        return {
            "clusters": int(ids.size),
            "duplicates": int(np.count_nonzero(self.duplicate_of >= 0)),
            "largest": [{"kept": int(ids[i]), "size": int(sizes[i])} for i in order],
        }


@dataclass
class _State:
    pending: list = field(default_factory=list)
    pending_n: int = 0
    tasks: deque = field(default_factory=deque)  # futures, in document order
    done: list = field(default_factory=list)  # signature arrays, in document order


class NearDuplicates:
    """Collects documents in order, then finds clusters; earlier documents are the ones kept."""

    def __init__(self, config: NearDupConfig, threads: int = 2) -> None:
        self.config = config
        self.bands, self.rows = optimal_bands(config.threshold, config.bins)
        self._probe = _probe_table(config.bins, config.seed)
        self._pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
        self._s = _State()
        self._n = 0

    def __len__(self) -> int:
        return self._n

    # ------------------------------------------------------------------ collecting

    def add(self, texts: pa.Array | pa.ChunkedArray | list[str]) -> None:
        """Append a batch of (already normalised) texts; ``None``/nulls count as empty strings."""
        if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
            texts = ["" if t is None else t for t in texts]
        n = len(texts)
        self._n += n
        s = self._s
        i = 0
        while i < n:
            take = min(n - i, _CHUNK_DOCS - s.pending_n)
            s.pending.append(texts[i : i + take] if (i or take < n) else texts)
            s.pending_n += take
            i += take
            if s.pending_n >= _CHUNK_DOCS:
                self._submit()

    def _submit(self) -> None:
        s = self._s
        if not s.pending:
            return
        parts, s.pending, s.pending_n = s.pending, [], 0
        if self._pool is None:
            s.done.append(self._work(parts))
            return
        s.tasks.append(self._pool.submit(self._work, parts))
        while len(s.tasks) > _MAX_IN_FLIGHT:
            s.done.append(s.tasks.popleft().result())

    def _work(self, parts: list) -> np.ndarray:
        c = self.config
        sigs = [_signatures(p, c.ngram, c.bins, c.seed, self._probe) for p in parts]
        return sigs[0] if len(sigs) == 1 else np.concatenate(sigs)

    def _drain(self) -> None:
        """Finishes pending work; its signatures join `done`, in order."""
        s = self._s
        self._submit()
        while s.tasks:
            s.done.append(s.tasks.popleft().result())

    def save(self, path: Path) -> None:
        """Writes the signatures of the documents added so far to `path` slot by slot, (bins, documents),
        and lets them go: for the process that resolves duplicates (`load`), which reads them a band at a
        time. The parts are moved in one by one, so memory peaks at the index plus one part."""
        self._drain()
        parts, at = self._s.done, 0
        slots = np.empty((self.config.bins, self._n), np.uint16)
        while parts:
            part = parts.pop(0)
            slots[:, at:at + len(part)] = part.T
            at += len(part)
        np.save(path, slots)
        self._s, self._n = _State(), 0

    def load(self, path: Path) -> None:
        """Appends the documents another process saved to `path` (`save`) after those added so far; their
        signatures stay on disk until resolving reads them."""
        self._drain()
        stored = _Stored(path)
        if len(stored):
            self._s.done.append(stored)
            self._n += len(stored)

    # ------------------------------------------------------------------ resolving

    def resolve(self) -> NearDupResult:
        c = self.config
        n = self._n
        self._drain()
        parts: list[Part] = self._s.done  # never empty ones: `add` signs none, `load` keeps none
        firsts = np.cumsum([0, *map(len, parts)], dtype=np.int64)[:-1]  # each part's first document

        # candidate pairs: per band, and per whole signature (so identical docs always meet)
        def band_pairs(band: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            keys = np.empty(n, np.uint64)
            for part, first in zip(parts, firsts.tolist(), strict=True):
                keys[first:first + len(part)] = _band_hash(_slots(part, band * self.rows, (band + 1) * self.rows),
                                                           c.seed * 1_000_003 + band + 1)
            return (keys, *_star_pairs(keys))

        mapper = self._pool.map if self._pool is not None else map
        # whole-signature key: the band keys (folded in as they come, then let go) and the other slots
        whole = np.full(n, _U64(splitmix64(c.seed ^ 0xD1B54A32D192ED03)), np.uint64)
        results = []
        for keys, a, b in mapper(band_pairs, range(self.bands)):
            whole *= P
            whole ^= keys
            results.append((a, b))
        for col in range(self.bands * self.rows, c.bins):
            whole *= P
            for part, first in zip(parts, firsts.tolist(), strict=True):
                whole[first:first + len(part)] += _slots(part, col, col + 1)[0].astype(np.uint64)
        fmix_inplace(whole, np.empty_like(whole))
        ea, eb = _star_pairs(whole)
        del whole
        key = np.unique(np.concatenate([ea * n + eb] + [a * n + b for a, b in results]))
        del results
        candidates = int(key.size)
        # verification: fraction of equal slots >= threshold
        need = math.ceil(c.threshold * c.bins - 1e-9)
        va, vb = [], []
        for i in range(0, key.size, _PAIR_BATCH):
            k = key[i : i + _PAIR_BATCH]
            pa_, pb_ = k // n, k % n
            eq = np.count_nonzero(_signatures_of(parts, firsts, pa_, c.bins)
                                  == _signatures_of(parts, firsts, pb_, c.bins), axis=1)
            ok = eq >= need
            va.append(pa_[ok])
            vb.append(pb_[ok])
        a = np.concatenate(va) if va else np.zeros(0, np.int64)
        b = np.concatenate(vb) if vb else np.zeros(0, np.int64)

        root = _components(n, a, b)
        idx = np.arange(n, dtype=np.int64)
        duplicate_of = np.where(root != idx, root, -1).astype(np.int64)
        size = np.bincount(root, minlength=n) if n else np.zeros(0, np.int64)
        cluster = np.where(size[root] > 1, root, -1).astype(np.int64)
        return NearDupResult(
            duplicate_of=duplicate_of,
            cluster=cluster,
            index_bytes_per_doc=float(2 * c.bins),
            bands=self.bands,
            rows=self.rows,
            candidate_pairs=candidates,
            verified_pairs=int(a.size),
        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> NearDuplicates:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
