"""The split a tiktoken BPE makes before it merges, compiled, for Qwen's pattern (GPT-4's family):

    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+

tiktoken encodes each piece on its own, so a text's token count is the sum of its pieces' counts: the kernel walks
Arrow's UTF-8 buffer, cuts the pieces exactly as that regex does (its alternatives tried in order at each place,
with the same backtracking), and gives each piece a 64-bit key; only pieces never seen are encoded. The character
classes are read from the `regex` module itself (the one tiktoken's pattern is written for), once per process.
"""

import importlib
from functools import cache

import numpy as np

from builder.kernels.utf8 import code_point, fmix, jit

LETTER, NUMBER, SPACE = 1, 2, 4
APOSTROPHE, CR, LF, BLANK, LONG_S = 39, 13, 10, 32, 0x17F


@cache
def classes() -> np.ndarray:
    """Per code point, whether `regex` reads it as \\p{L}, \\p{N} or \\s (bits LETTER, NUMBER, SPACE)."""
    regex = importlib.import_module("regex")  # tiktoken's own dependency

    every = "".join(map(chr, range(0x110000)))
    table = np.zeros(0x110000, np.uint8)
    for bit, name in ((LETTER, r"\p{L}"), (NUMBER, r"\p{N}"), (SPACE, r"\s")):
        table[[found.start() for found in regex.finditer(name, every)]] |= bit
    return table


@jit
def _lower(c: int) -> int:
    """ASCII lower case, and ſ as s (what (?i) folds it to)."""
    if 65 <= c <= 90:
        return c + 32
    return 115 if c == LONG_S else c


@jit
def _contraction(cps: np.ndarray, i: int, end: int) -> int:
    """The end of 's 't 're 've 'm 'll 'd at i (any case), or -1."""
    if cps[i] != APOSTROPHE or i + 1 >= end:
        return -1
    first = _lower(cps[i + 1])
    if first == 115 or first == 116 or first == 109 or first == 100:  # s t m d
        return i + 2
    if i + 2 < end:
        second = _lower(cps[i + 2])
        if (first == 114 and second == 101) or (first == 118 and second == 101) or (first == 108 and second == 108):
            return i + 3  # re ve ll
    return -1


@jit
def _piece_end(cps: np.ndarray, kinds: np.ndarray, i: int, end: int) -> int:
    """Where the piece starting at code point i ends: the first alternative of the pattern that matches."""
    c = cps[i]
    kind = kinds[i]
    found = _contraction(cps, i, end)
    if found >= 0:
        return found
    if kind & LETTER or (c != CR and c != LF and not kind & NUMBER and i + 1 < end and kinds[i + 1] & LETTER):
        k = i + 1
        while k < end and kinds[k] & LETTER:
            k += 1
        return k
    if kind & NUMBER:
        return i + 1
    other = not kind & (LETTER | NUMBER | SPACE)
    if other or (c == BLANK and i + 1 < end and not kinds[i + 1] & (LETTER | NUMBER | SPACE)):
        k = i if other else i + 1
        while k < end and not kinds[k] & (LETTER | NUMBER | SPACE):
            k += 1
        while k < end and (cps[k] == CR or cps[k] == LF):
            k += 1
        return k
    run = i  # whitespace from here
    while run < end and kinds[run] & SPACE:
        run += 1
    last = run - 1
    while last >= i and cps[last] != CR and cps[last] != LF:
        last -= 1
    if last >= i:
        return last + 1  # \s*[\r\n]+
    if run == end:
        return run  # \s+(?!\S) at the end
    if run - 1 > i:
        return run - 1  # \s+(?!\S): the last blank goes with what follows
    return run  # \s+


@jit
def _keys(data: np.ndarray, offsets: np.ndarray, table: np.ndarray, seed: np.uint64) -> tuple:
    """Per piece: its text, key, start and end byte, in text order."""
    texts = len(offsets) - 1
    most = len(data) + 1  # pieces: at most one per byte
    longest = 1  # code points of one text: at most its bytes
    for t in range(texts):
        longest = max(longest, offsets[t + 1] - offsets[t] + 1)
    owner = np.empty(most, np.int64)
    keys = np.empty(most, np.uint64)
    starts = np.empty(most, np.int64)
    ends = np.empty(most, np.int64)
    cps = np.empty(longest, np.int64)
    kinds = np.empty(longest, np.uint8)
    where = np.empty(longest + 1, np.int64)
    count = 0
    for t in range(texts):
        n, b = 0, offsets[t]
        while b < offsets[t + 1]:
            where[n] = b
            cps[n], b = code_point(data, b)
            kinds[n] = table[cps[n]]
            n += 1
        where[n] = b
        i = 0
        while i < n:
            stop = _piece_end(cps, kinds, i, n)
            h = seed ^ np.uint64(stop - i)
            for k in range(i, stop):
                h = fmix(h ^ np.uint64(cps[k]))
            owner[count], keys[count], starts[count], ends[count] = t, h, where[i], where[stop]
            count += 1
            i = stop
    return owner[:count], keys[:count], starts[:count], ends[:count]


EMPTY = np.uint64(0)  # a key slot never used (a piece whose key is 0 is kept apart in slot 0 of `extra`)


class Known:
    """Piece key -> token count, an open-addressing table in numpy arrays (compiled loops read and fill it, and it
    costs nothing to create, unlike a compiled dict)."""

    def __init__(self) -> None:
        self.clear()

    def __len__(self) -> int:
        return self.size

    def clear(self, bits: int = 16) -> None:
        self.keys = np.zeros(1 << bits, np.uint64)
        self.counts = np.zeros(1 << bits, np.int64)
        self.extra = np.full(1, -1, np.int64)  # the count of the key 0, -1 while unknown
        self.size = 0

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Each key's count, or -1 for a key not stored."""
        return _lookup(keys, self.keys, self.counts, self.extra)

    def remember(self, keys: np.ndarray, counts: np.ndarray) -> None:
        """Stores counts for keys not stored yet (distinct keys), growing the table to keep it at most half full."""
        while 2 * (self.size + len(keys)) > len(self.keys):
            old_keys, old_counts = self.keys, self.counts
            self.keys, self.counts = np.zeros(2 * len(old_keys), np.uint64), np.zeros(2 * len(old_keys), np.int64)
            used = old_keys != EMPTY
            _store(old_keys[used], old_counts[used], self.keys, self.counts, self.extra)
        self.size += _store(keys, counts, self.keys, self.counts, self.extra)


@jit
def _lookup(keys: np.ndarray, table: np.ndarray, counts: np.ndarray, extra: np.ndarray) -> np.ndarray:
    mask = np.uint64(len(table) - 1)
    found = np.empty(len(keys), np.int64)
    for i in range(len(keys)):
        key = keys[i]
        if key == EMPTY:
            found[i] = extra[0]
            continue
        slot = key & mask
        while table[slot] != EMPTY and table[slot] != key:
            slot = (slot + np.uint64(1)) & mask
        found[i] = counts[slot] if table[slot] == key else -1
    return found


@jit
def _store(keys: np.ndarray, values: np.ndarray, table: np.ndarray, counts: np.ndarray, extra: np.ndarray) -> int:
    mask = np.uint64(len(table) - 1)
    added = 0
    for i in range(len(keys)):
        key = keys[i]
        if key == EMPTY:
            added += extra[0] < 0
            extra[0] = values[i]
            continue
        slot = key & mask
        while table[slot] != EMPTY and table[slot] != key:
            slot = (slot + np.uint64(1)) & mask
        added += table[slot] == EMPTY
        table[slot], counts[slot] = key, values[i]
    return added


def piece_keys(data: np.ndarray, offsets: np.ndarray, seed: int = 0x9E3779B97F4A7C15) -> tuple:
    """(text of each piece, its 64-bit key, its start and end byte) for a batch of UTF-8 texts."""
    return _keys(data, offsets.astype(np.int64), classes(), np.uint64(seed))
