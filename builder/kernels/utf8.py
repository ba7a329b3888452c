"""Compiled loops over Arrow's UTF-8 buffers: the pieces text checks share (decoding, mixing), and the buffers.

Per-character work (shingles, keys, script counts) reads the bytes where Arrow keeps them, with no Python
string per row; numba compiles the loops once and caches them beside the module.
"""

import numba
import numpy as np
import pyarrow as pa

jit = numba.njit(cache=True, nogil=True)


def utf8_buffers(texts: pa.Array | pa.ChunkedArray | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a string column and each value's start and end (``len + 1`` offsets, as Arrow keeps
    them: int32 or int64); a null is an empty text."""
    if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
        texts = pa.array(texts, pa.string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks else pa.array([], pa.string())
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.string())
    if texts.null_count:
        texts = texts.fill_null("")
    return raw_buffers(texts)


def raw_buffers(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """`utf8_buffers` of a string array as it is: a null's offsets are whatever Arrow left there."""
    wide = pa.types.is_large_string(texts.type)
    offsets = np.frombuffer(texts.buffers()[1], np.int64 if wide else np.int32, len(texts) + 1,
                            texts.offset * (8 if wide else 4))
    data = texts.buffers()[2]
    return (np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)), offsets


@numba.njit(inline="always")
def code_point(data: np.ndarray, i: int) -> tuple[np.int64, int]:
    """The code point at byte ``i`` of valid UTF-8, and the next one's byte."""
    b = np.int64(data[i])
    if b < 0x80:
        return b, i + 1
    if b < 0xE0:
        return ((b & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F), i + 2
    if b < 0xF0:
        return ((b & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F), i + 3
    return (((b & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12) | ((np.int64(data[i + 2]) & 0x3F) << 6)
            | (np.int64(data[i + 3]) & 0x3F)), i + 4


@numba.njit(inline="always")
def ideograph(data: np.ndarray, i: int) -> bool:
    """Whether the character at byte ``i`` of valid UTF-8 is in U+4E00..U+9FFF (lead byte E4 with B8.., to E9):
    the CJK ideographs that make up most Chinese text, which loops can take three bytes at a time."""
    return 0xE4 <= data[i] <= 0xE9 and (data[i] != 0xE4 or data[i + 1] >= 0xB8)


@numba.njit(inline="always")
def fmix(x: np.uint64) -> np.uint64:
    """The splitmix64 finaliser: every input bit moves every output bit."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def edge_whitespace(values: pa.Array) -> pa.Array:
    """Whether each value starts or ends with ASCII whitespace (RE2's `\\s`: tab, LF, FF, CR, space); False for a
    null. Two looks per value instead of two regex passes over the whole text."""
    found = _edge_whitespace(*raw_buffers(values))
    if values.null_count:
        found &= values.is_valid().to_numpy(zero_copy_only=False)
    return pa.array(found)


@jit
def _edge_whitespace(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    found = np.zeros(len(offsets) - 1, np.bool_)
    for row in range(len(found)):
        start, stop = offsets[row], offsets[row + 1]
        if stop > start:
            first, last = data[start], data[stop - 1]
            found[row] = (first == 0x20 or 0x09 <= first <= 0x0D and first != 0x0B
                          or last == 0x20 or 0x09 <= last <= 0x0D and last != 0x0B)
    return found
