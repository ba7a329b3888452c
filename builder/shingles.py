"""Character n-gram ("shingle") hashes of many texts at once, in numpy: the ground of text overlap checks.

Each text's code points (``utf-32-le`` of the joined batch, ASCII upper case folded to lower
case) are hashed as overlapping ``ngram``-character windows with a 64-bit polynomial hash and a
splitmix64 finaliser, vectorised in ``uint64`` with wrap-around, block by block so the arrays stay
in cache. Texts are joined with ``ngram`` sentinel code points (U+10FFFF) after each, so no
window crosses from one text into the next; a text shorter than ``ngram`` (the empty one too)
gets exactly one shingle, its whole text padded with sentinels. Near-duplicate detection and
decontamination share these hashes.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

U64 = np.uint64
M64 = (1 << 64) - 1
SENTINEL = "\U0010ffff"
P = U64(0xD6E8FEB86659FD93)  # odd 64-bit polynomial base
C1 = U64(0xBF58476D1CE4E5B9)
C2 = U64(0x94D049BB133111EB)
BLOCK_CHARS = 1 << 20  # code points hashed at once (keeps arrays in cache)


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


# --------------------------------------------------------------------------- parameters


def _codepoints(texts: pa.Array | pa.ChunkedArray | list[str], ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """Code points of the texts, each followed by ``ngram`` sentinels; and the texts' lengths."""
    pad = SENTINEL * ngram
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks() if texts.num_chunks else pa.array([], pa.string())
        if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
            texts = texts.cast(pa.string())
        texts = texts.fill_null("")
        lens = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
        if len(texts) == 0:
            return np.zeros(0, np.uint32), lens
        joined = pc.binary_join_element_wise(texts, pa.scalar("", texts.type), pa.scalar(pad, texts.type))
        off_t = np.int64 if pa.types.is_large_string(joined.type) else np.int32
        offsets = np.frombuffer(joined.buffers()[1], off_t)[joined.offset : joined.offset + len(joined) + 1]
        data = joined.buffers()[2]
        raw = memoryview(data)[int(offsets[0]) : int(offsets[-1])] if data is not None else b""
        s = bytes(raw).decode("utf-8")
    else:
        lens = np.fromiter(map(len, texts), np.int64, count=len(texts))
        s = pad.join(texts) + pad if texts else ""
    cp = np.frombuffer(s.encode("utf-32-le"), np.uint32).copy()
    upper = (cp >= 65) & (cp <= 90)
    cp[upper] += np.uint32(32)
    return cp, lens


def shingle_blocks(texts, ngram: int, seed: int):
    """Yield ``(d0, d1, hashes, counts)`` per block of documents: the 64-bit hash of every shingle
    of documents ``d0..d1`` (document-major, in text order) and the shingles per document.
    The first item yielded is the total document count ``m`` (an int)."""
    cp, lens = _codepoints(texts, ngram)
    m = lens.size
    yield m
    span = lens + ngram  # code points per document incl. its padding
    starts = np.zeros(m + 1, np.int64)
    np.cumsum(span, out=starts[1:])
    counts = np.maximum(lens - ngram + 1, 1)  # shingles per document
    h0 = U64(splitmix64(seed))
    d0 = 0
    while d0 < m:
        d1 = int(np.searchsorted(starts, starts[d0] + BLOCK_CHARS, side="right")) - 1
        d1 = min(max(d1, d0 + 1), m)
        c0, c1 = int(starts[d0]), int(starts[d1])
        block = cp[c0:c1]
        npos = c1 - c0 - ngram + 1  # every doc span has > ngram code points, so npos >= 1
        # polynomial hash of every window of ``ngram`` code points
        h = np.full(npos, h0, np.uint64)
        for j in range(ngram):
            np.multiply(h, P, out=h)
            np.add(h, block[j : j + npos], out=h)
        fmix_inplace(h, np.empty(npos, np.uint64))
        # keep the windows that start inside a document's first ``counts`` positions
        cnt = counts[d0:d1]
        first = np.zeros(d1 - d0, np.int64)
        np.cumsum(cnt[:-1], out=first[1:])
        pos = np.arange(int(cnt.sum()), dtype=np.int64)
        pos += np.repeat(starts[d0:d1] - c0 - first, cnt)
        yield d0, d1, h[pos], cnt
        d0 = d1


def shingle_hashes(texts, ngram: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """All shingle hashes (uint64, document-major) and row offsets (int64, len = docs + 1)."""
    it = shingle_blocks(texts, ngram, seed)
    m = next(it)
    hs, cs = [], []
    for _, _, h, cnt in it:
        hs.append(h)
        cs.append(cnt)
    offsets = np.zeros(m + 1, np.int64)
    if cs:
        np.cumsum(np.concatenate(cs), out=offsets[1:])
    return (np.concatenate(hs) if hs else np.zeros(0, np.uint64)), offsets



