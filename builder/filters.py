"""Quality filters: per row, the reason it should go (or nothing), computed over whole columns.

Content checks (short, punctuation-only, stray leading punctuation, question = answer, not Chinese)
judge free text: QA rows. A template row's text is a frame written for the record (an English name
or a Latin alias list is legitimate there), so template rows only face the length limit.
"""

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.config import FilterConfig
from builder.utf8 import code_point, jit, utf8_buffers

PUNCTUATION_ONLY = r"^[\p{P}\p{S}\s]+$"
STRAY_START = r"^[，。、；：,.;:！？!?）)」』】》]"
HAN_RANGES = (  # RE2's \p{Han} (a test holds them to it), first and last code point
    (0x2E80, 0x2E99), (0x2E9B, 0x2EF3), (0x2F00, 0x2FD5), (0x3005, 0x3005), (0x3007, 0x3007), (0x3021, 0x3029),
    (0x3038, 0x303B), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFA6D), (0xFA70, 0xFAD9), (0x16FE2, 0x16FE3),
    (0x16FF0, 0x16FF1), (0x20000, 0x2A6DF), (0x2A700, 0x2B739), (0x2B740, 0x2B81D), (0x2B820, 0x2CEA1),
    (0x2CEB0, 0x2EBE0), (0x2EBF0, 0x2EE5D), (0x2F800, 0x2FA1D), (0x30000, 0x3134A), (0x31350, 0x323AF),
)


def filter_reasons(rows: pa.Table, folded: pa.Array, config: FilterConfig, free_text: bool) -> np.ndarray:
    """Per row, the first reason (in the order below) that removes it, else None; `folded` is each row's
    instruction, input and output folded (`fold_array`) and joined by \\x1f."""
    output = rows["output"].combine_chunks()
    length = pc.utf8_length(output)
    total = pc.add(pc.add(pc.utf8_length(rows["instruction"]), pc.utf8_length(rows["input"])), length)
    checks: list[tuple[str, Callable[[], pa.Array]]] = [
        ("too_short_answer", lambda: pc.less(length, config.min_answer_chars)),
        ("punctuation_only_answer", lambda: pc.match_substring_regex(output, PUNCTUATION_ONLY)),
        ("stray_punctuation_start", lambda: pc.match_substring_regex(output, STRAY_START)),
        ("question_equals_answer", lambda: question_equals_answer(folded)),
        ("too_long_row", lambda: pc.greater(total, config.max_row_chars)),
        ("not_chinese", lambda: pa.array(han_counts(output) < config.min_cjk_ratio * np.maximum(
            length.to_numpy(zero_copy_only=False), 1))),
    ]
    wanted = {"stray_punctuation_start": config.stray_punctuation,
              "question_equals_answer": config.question_equals_answer}
    reasons = np.full(rows.num_rows, None, dtype=object)
    for reason, check in reversed(checks):
        if wanted.get(reason, True) and (free_text or reason == "too_long_row"):
            reasons[np.asarray(pc.fill_null(check(), False).to_numpy(zero_copy_only=False), bool)] = reason
    return reasons


def question_equals_answer(folded: pa.Array) -> pa.Array:
    """Whether the first \\x1f-separated part of each folded row (the instruction) equals the third (the
    output); a null row gives null."""
    data, offsets = utf8_buffers(folded)
    mask = np.asarray(pc.is_null(folded)) if folded.null_count else None
    return pa.array(_first_equals_third(data, offsets), mask=mask)


@jit
def _first_equals_third(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Reads a row only up to its second separator and as far as the first part is long: the third part
    equals the first when it holds the same bytes and ends right after them (at a separator or the end)."""
    equal = np.zeros(len(offsets) - 1, np.bool_)
    for row in range(len(equal)):
        start, stop = offsets[row], offsets[row + 1]
        first = second = -1
        for i in range(start, stop):
            if data[i] == 0x1F:
                if first < 0:
                    first = i
                else:
                    second = i
                    break
        if second < 0:
            continue
        size, third = first - start, second + 1
        if third + size > stop or (third + size < stop and data[third + size] != 0x1F):
            continue
        same = True
        for k in range(size):
            if data[start + k] != data[third + k]:
                same = False
                break
        equal[row] = same
    return equal


def han_counts(values: pa.Array) -> np.ndarray:
    """How many characters of each value are Han, counted in one pass over the bytes."""
    data, offsets = utf8_buffers(values)
    return _han_counts(data, offsets, han_table())


@lru_cache(maxsize=1)
def han_table() -> np.ndarray:
    """Per code point, whether it is Han."""
    table = np.zeros(0x110000, bool)
    for first, last in HAN_RANGES:
        table[first:last + 1] = True
    return table


@jit
def _han_counts(data: np.ndarray, offsets: np.ndarray, table: np.ndarray) -> np.ndarray:
    counts = np.zeros(len(offsets) - 1, np.int64)
    for row in range(len(counts)):
        i = offsets[row]
        while i < offsets[row + 1]:
            cp, i = code_point(data, i)
            counts[row] += table[cp]
    return counts
