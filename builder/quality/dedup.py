"""Exact deduplication on normalised text, resolved once every row is known, so the survivor never
depends on input order: the copy from the most preferred source, then the smallest record id.

The key folds width, case, punctuation and spaces of instruction, input and output (a 64-bit
hash of the folded text's bytes, `shingles.text_keys`). The index is three numbers per row (key,
source rank, record id hash): 20 bytes.
"""

import numpy as np
import pyarrow as pa

from builder.hashing import id_numbers
from builder.kernels.shingles import text_keys

INDEX_BYTES_PER_ROW = 8 + 4 + 8


def exact_keys(folded: pa.Array) -> np.ndarray:
    """The dedup key of each row, from its folded instruction, input and output (`Quality.fold`)."""
    return text_keys(folded)


def record_numbers(rows: pa.Table) -> np.ndarray:
    """A record id as a number (its hash part), the last tie-break between copies."""
    return id_numbers(rows["record_id"])


def resolve_exact(keys: np.ndarray, ranks: np.ndarray, records: np.ndarray) -> np.ndarray:
    """Per row, the index of the row it duplicates (the survivor of its key), or -1 for a survivor.
    Only the rows whose key another row has are ordered by preference (`shared_keys`)."""
    duplicate_of = np.full(len(keys), -1, np.int64)
    rows, _ = shared_keys(keys)
    rows = rows[np.lexsort((rows, records[rows], ranks[rows], keys[rows]))]
    grouped = keys[rows]
    first = np.ones(len(rows), bool)
    first[1:] = grouped[1:] != grouped[:-1]
    survivor = rows[np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))]
    duplicate_of[rows[~first]] = survivor[~first]
    return duplicate_of


def shared_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose key another row has, grouped by key (in any order within a group), and whether each
    starts its group. Nearly every key is unique, so what follows works on few rows and the working
    memory stays near two arrays of all the rows."""
    order = np.argsort(keys)
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]  # same[i]: sorted positions i and i + 1 share a key
    del sorted_keys
    shared = np.zeros(len(keys), bool)
    shared[1:] = same
    shared[:-1] |= same
    at = np.flatnonzero(shared)
    starts = np.ones(len(at), bool)
    starts[1:] = ~same[at[1:] - 1]
    return order[at], starts
