"""Character n-gram ("shingle") hashes and text keys, computed by compiled loops over Arrow's UTF-8 buffers.

Each text's code points (ASCII upper case folded to lower case) are hashed as overlapping
``ngram``-character windows with a 64-bit polynomial hash (rolled, one step per character) and a
splitmix64 finaliser; a text shorter than ``ngram`` (the empty one too) gets exactly one shingle, its
whole text padded with sentinel code points (U+10FFFF). Near-duplicate signatures, decontamination
lookups and exact-dedup keys read the buffers where Arrow keeps them: no Python string per row, no copy.
The loops are compiled once by numba and cached beside this file.
"""

import numpy as np

from builder.kernels.utf8 import code_point, fmix, jit, utf8_buffers

U64 = np.uint64
M64 = (1 << 64) - 1
SENTINEL = 0x10FFFF
P = U64(0xD6E8FEB86659FD93)  # odd 64-bit polynomial base
C1 = U64(0xBF58476D1CE4E5B9)
C2 = U64(0x94D049BB133111EB)


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def fmix_inplace(h: np.ndarray, tmp: np.ndarray) -> None:
    """splitmix64 finaliser on a uint64 array, in place (``tmp`` is scratch of the same shape)."""
    np.right_shift(h, U64(30), out=tmp)
    np.bitwise_xor(h, tmp, out=h)
    np.multiply(h, C1, out=h)
    np.right_shift(h, U64(27), out=tmp)
    np.bitwise_xor(h, tmp, out=h)
    np.multiply(h, C2, out=h)
    np.right_shift(h, U64(31), out=tmp)
    np.bitwise_xor(h, tmp, out=h)


@jit
def _windows(data: np.ndarray, start: int, end: int, ngram: int, h0: np.uint64, ring: np.ndarray,
             out: np.ndarray) -> int:
    """Writes the shingle hashes of ``data[start:end]`` to ``out``; returns how many. A window hashes to
    h0·P^n + Σ cp_j·P^(n-1-j), rolled one character at a time (take the leaving one out, shift, add)."""
    top = np.uint64(1)
    for _ in range(ngram - 1):
        top *= P
    base = h0 * top * P
    h = h0
    filled = 0
    slot = 0
    count = 0
    i = start
    while i < end:
        point, i = code_point(data, i)
        cp = np.uint64(point + 32 if 65 <= point <= 90 else point)  # ASCII capitals lowered
        if filled < ngram:
            h = h * P + cp
            filled += 1
        else:
            h = (h - base - ring[slot] * top) * P + base + cp
        ring[slot] = cp
        slot = slot + 1 if slot + 1 < ngram else 0
        if filled == ngram:
            out[count] = fmix(h)
            count += 1
    if count == 0:
        for _ in range(ngram - filled):
            h = h * P + np.uint64(SENTINEL)
        out[0] = fmix(h)
        count = 1
    return count


@jit
def _counted_windows(data: np.ndarray, offsets: np.ndarray, ngram: int, h0: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    counts = np.empty(len(offsets) - 1, np.int64)
    for d in range(len(counts)):
        chars = 0
        for i in range(offsets[d], offsets[d + 1]):
            chars += (data[i] & 0xC0) != 0x80
        counts[d] = max(chars - ngram + 1, 1)
    out = np.empty(counts.sum(), np.uint64)
    ring = np.empty(ngram, np.uint64)
    at = 0
    for d in range(len(counts)):
        at += _windows(data, offsets[d], offsets[d + 1], ngram, h0, ring, out[at:])
    return out, counts


@jit
def _longest_shared(data: np.ndarray, offsets: np.ndarray, ngram: int, h0: np.uint64, bits: np.ndarray,
                    grams: np.ndarray) -> np.ndarray:
    mask = np.uint64(len(bits) - 1)
    ring = np.empty(ngram, np.uint64)
    scratch = np.empty(np.max(offsets[1:] - offsets[:-1]) + 1 if len(offsets) > 1 else 1, np.uint64)
    longest = np.zeros(len(offsets) - 1, np.int64)
    for d in range(len(longest)):
        run = 0
        for k in range(_windows(data, offsets[d], offsets[d + 1], ngram, h0, ring, scratch)):
            h = scratch[k]
            hit = False
            if bits[h & mask]:
                at = np.searchsorted(grams, h)
                hit = at < len(grams) and grams[at] == h
            run = run + 1 if hit else 0
            longest[d] = max(longest[d], run + ngram - 1 if run else 0)
    return longest


@jit
def _min_slots(data: np.ndarray, offsets: np.ndarray, ngram: int, h0: np.uint64, bins: int) -> np.ndarray:
    """One-permutation MinHash: a shingle's high 32 bits pick its slot, its low 32 bits are the value, and
    each slot keeps the least (0xFFFFFFFF for an empty slot)."""
    ring = np.empty(ngram, np.uint64)
    scratch = np.empty(np.max(offsets[1:] - offsets[:-1]) + 1 if len(offsets) > 1 else 1, np.uint64)
    sig = np.full((len(offsets) - 1, bins), 0xFFFFFFFF, np.uint32)
    width = np.uint64(bins)
    for d in range(len(offsets) - 1):
        for k in range(_windows(data, offsets[d], offsets[d + 1], ngram, h0, ring, scratch)):
            h = scratch[k]
            slot = ((h >> np.uint64(32)) * width) >> np.uint64(32)
            value = np.uint32(h & np.uint64(0xFFFFFFFF))
            sig[d, slot] = min(sig[d, slot], value)
    return sig


@jit
def _text_keys(data: np.ndarray, offsets: np.ndarray, seed: np.uint64) -> np.ndarray:
    """A 64-bit key per text from its bytes, eight at a time, MurmurHash3-style mixing and a final avalanche."""
    keys = np.empty(len(offsets) - 1, np.uint64)
    c1, c2 = np.uint64(0x87C37B91114253D5), np.uint64(0x4CF5AD432745937F)
    for d in range(len(keys)):
        h = seed
        i, end = offsets[d], offsets[d + 1]
        while i < end:
            if i + 8 <= end:  # written out, so the compiler makes it one 8-byte load
                k = (np.uint64(data[i]) | np.uint64(data[i + 1]) << np.uint64(8)
                     | np.uint64(data[i + 2]) << np.uint64(16) | np.uint64(data[i + 3]) << np.uint64(24)
                     | np.uint64(data[i + 4]) << np.uint64(32) | np.uint64(data[i + 5]) << np.uint64(40)
                     | np.uint64(data[i + 6]) << np.uint64(48) | np.uint64(data[i + 7]) << np.uint64(56))
                i += 8
            else:
                k = np.uint64(0)
                for j in range(i, end):
                    k |= np.uint64(data[j]) << np.uint64(8 * (j - i))
                i = end
            k *= c1
            k = (k << np.uint64(31)) | (k >> np.uint64(33))
            k *= c2
            h ^= k
            h = ((h << np.uint64(27)) | (h >> np.uint64(37))) * np.uint64(5) + np.uint64(0x52DCE729)
        keys[d] = fmix(h ^ np.uint64(end - offsets[d]))
    return keys


def shingle_hashes(texts, ngram: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """All shingle hashes (uint64, text-major) and row offsets (int64, len = texts + 1)."""
    data, offsets = utf8_buffers(texts)
    hashes, counts = _counted_windows(data, offsets, ngram, U64(splitmix64(seed)))
    starts = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    return hashes, starts


def longest_shared(texts, ngram: int, bits: np.ndarray, grams: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per text, the most characters covered by a run of consecutive shingles that are all in sorted ``grams``
    (0 when none is): at least as long as any run the text shares with one of the texts the grams come from."""
    data, offsets = utf8_buffers(texts)
    return _longest_shared(data, offsets, ngram, U64(splitmix64(seed)), bits, grams)


def min_slots(texts, ngram: int, bins: int, seed: int = 0) -> np.ndarray:
    """(texts, bins) uint32 one-permutation MinHash slots of the texts' shingles; empty slots hold 0xFFFFFFFF."""
    data, offsets = utf8_buffers(texts)
    return _min_slots(data, offsets, ngram, U64(splitmix64(seed)), bins)


def text_keys(texts, seed: int = 0) -> np.ndarray:
    """A 64-bit key of each text's bytes: equal texts, equal keys."""
    data, offsets = utf8_buffers(texts)
    return _text_keys(data, offsets, U64(splitmix64(seed)))
