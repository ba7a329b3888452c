"""Stable 64-bit hashes, the same on every machine and run: record ids of every kind (`record_ids`, a compiled
hash of each content's bytes read little-endian), and xxh3 keys for seeds, phrasing choice and shuffle order."""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from builder.kernels.shingles import M64, P, fmix_inplace, text_keys

SEPARATOR = "\x1f"


def hash64(*parts: object) -> int:
    """One 64-bit key from text parts; the same on every machine, Python version and run."""
    return xxhash.xxh3_64_intdigest(SEPARATOR.join(map(str, parts)).encode("utf-8"))


def record_ids(kind: str, contents: pa.Array) -> pa.Array:
    """The id of each record from its content ("kind-" and the 16 hex digits of `shingles.text_keys`), so ids do
    not change with file order or batching; the one id function of every kind, over a whole column."""
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)
    keys = text_keys(contents).astype(">u8").view(np.uint8).reshape(-1, 8)
    hexed = np.stack([digits[keys >> 4], digits[keys & 15]], axis=2).reshape(-1, 16)
    prefix = np.frombuffer(f"{kind}-".encode(), np.uint8)
    data = np.concatenate([np.broadcast_to(prefix, (len(hexed), len(prefix))), hexed], axis=1)
    offsets = np.arange(len(hexed) + 1, dtype=np.int32) * data.shape[1]
    return pa.Array.from_buffers(pa.string(), len(hexed), [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])


_HEX = np.zeros(256, np.uint64)
_HEX[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint64)


def id_numbers(record_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The hash inside each record id (`record_ids`: kind, '-', 16 hex digits) as a number, for a whole column."""
    tail = pc.utf8_slice_codeunits(record_ids, -16)
    tail = tail.combine_chunks() if isinstance(tail, pa.ChunkedArray) else tail
    start = np.frombuffer(tail.buffers()[1], np.int32, 1, tail.offset * 4)[0] if len(tail) else 0
    digits = np.frombuffer(tail.buffers()[2], np.uint8, 16 * len(tail), start).reshape(-1, 16) if len(tail) else \
        np.zeros((0, 16), np.uint8)
    numbers = np.zeros(len(tail), np.uint64)
    for column in range(16):
        numbers = (numbers << np.uint64(4)) | _HEX[digits[:, column]]
    return numbers


def text_numbers(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """`hash64` of each distinct string of a column (0 for a null), spread over the rows: for columns that
    repeat few values, such as template ids and entity names."""
    distinct = pc.unique(values).drop_null()
    hashes = np.array([hash64(value) for value in distinct.to_pylist()] + [0], np.uint64)
    index = pc.fill_null(pc.index_in(values, value_set=distinct), len(distinct))
    return hashes[np.asarray(index)]


def combine(parts: list[np.ndarray | int], rows: int) -> np.ndarray:
    """One 64-bit key per row from numbers per row (or one number for all), mixed in order."""
    keys = np.zeros(rows, np.uint64)
    scratch = np.empty_like(keys)
    for part in parts:
        keys ^= np.uint64(part & M64) if isinstance(part, int) else part
        keys *= P
        fmix_inplace(keys, scratch)
    return keys
