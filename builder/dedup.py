"""Exact deduplication on normalised text, resolved once every row is known, so the survivor never
depends on input order: the copy from the most preferred source, then the smallest record id.

The key folds width, case, punctuation and spaces of instruction, input and output (a 64-bit
hash of the folded text's bytes, `shingles.text_keys`). The index is three numbers per row (key,
source rank, record id hash): 20 bytes.
"""

import numpy as np
import pyarrow as pa

from builder.hashing import id_numbers
from builder.shingles import text_keys

INDEX_BYTES_PER_ROW = 8 + 4 + 8


def exact_keys(folded: pa.Array) -> np.ndarray:
    """The dedup key of each row, from its folded instruction, input and output (`Quality.fold`)."""
    return text_keys(folded)


def record_numbers(rows: pa.Table) -> np.ndarray:
    """A record id as a number (its hash part), the last tie-break between copies."""
    return id_numbers(rows["record_id"])


def resolve_exact(keys: np.ndarray, ranks: np.ndarray, records: np.ndarray) -> np.ndarray:
    """Per row, the index of the row it duplicates (the survivor of its key), or -1 for a survivor."""
    order = np.lexsort((np.arange(len(keys)), records, ranks, keys))
    sorted_keys = keys[order]
    first = np.ones(len(keys), bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    survivor = order[np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))]
    duplicate_of = np.full(len(keys), -1, np.int64)
    duplicate_of[order[~first]] = survivor[~first]
    return duplicate_of
