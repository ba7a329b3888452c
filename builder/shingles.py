"""Character n-gram hashes of many texts at once, in numpy: the shared ground of text overlap checks.

All texts are joined into one array of code points; each n-gram's hash is the polynomial
sum(cp[i+k] * B^(n-1-k)) mod 2^64, finished with a splitmix64 mix. With Q the prefix sums of
cp[t] * B^-(t+1) (B is odd, so invertible mod 2^64), that sum is B^(i+n) * (Q[i+n] - Q[i]): a few
vector passes whatever n is. N-grams that would cross from one text into the next are dropped.
"""

import numpy as np

BASE = np.uint64(0x100000001B3)
BASE_INVERSE = np.uint64(pow(int(BASE), -1, 2**64))
MIX1, MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the whole 64-bit word."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * MIX1
        values = (values ^ (values >> np.uint64(27))) * MIX2
        return values ^ (values >> np.uint64(31))


def ngram_hashes(texts: list[str], n: int, whole_if_shorter: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, text index of each hash) for every n-character run; a text shorter than n gives
    none, or one hash of the whole text when `whole_if_shorter`."""
    lengths = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32).astype(np.uint64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    count = max(len(points) - n + 1, 0)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(points) + 1, np.uint64)
        np.cumsum(points * _powers(BASE_INVERSE, len(points) + 1)[1:], out=prefix[1:])
        hashes = _powers(BASE, count + n)[n:] * (prefix[n:n + count] - prefix[:count])
    position = np.arange(count, dtype=np.int64)
    inside = position + n <= ends[owner[:count]]
    hashes, owner_kept = mix64(hashes[inside]), owner[:count][inside]
    if whole_if_shorter:
        short = np.flatnonzero((lengths < n) & (lengths > 0))
        if len(short):
            whole = np.array([_whole(points[starts[i]:ends[i]]) for i in short], np.uint64)
            hashes, owner_kept = np.concatenate([hashes, mix64(whole)]), np.concatenate([owner_kept, short])
    return hashes, owner_kept


_POWERS: dict[int, np.ndarray] = {}


def _powers(base: np.uint64, count: int) -> np.ndarray:
    """base^0 … base^(count-1) mod 2^64, cached and grown by doubling (a cumulative product is slow)."""
    cached = _POWERS.get(int(base))
    if cached is None or len(cached) < count:
        size = max(count, 2 * len(cached) if cached is not None else 1 << 16)
        steps = np.full(size, base, np.uint64)
        steps[0] = 1
        with np.errstate(over="ignore"):
            cached = _POWERS[int(base)] = np.cumprod(steps, dtype=np.uint64)
    return cached[:count]


def _whole(points: np.ndarray) -> np.uint64:
    value = np.uint64(0)
    with np.errstate(over="ignore"):
        for point in points:
            value = value * BASE + point
    return value
