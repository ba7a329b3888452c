"""Quality filters: per row, the reason it should go (or nothing), computed over whole columns.

Content checks (short, punctuation-only, stray leading punctuation, question = answer, not Chinese,
promotion, word spinning) judge free text: QA rows. A template row's text is a frame written for the
record (an English name or a Latin alias list is legitimate there), so template rows only face the
length limit.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.config import FilterConfig
from builder.kernels.scan import matching
from builder.kernels.utf8 import code_point, jit, utf8_buffers
from builder.quality.marks import PROMOTIONAL, SPUN, candidates, prescan
from builder.registry import with_plugins

PUNCTUATION_ONLY = r"^[\p{P}\p{S}\s]+$"
STRAY_START = r"^[，。、；：,.;:！？!?）)」』】》]"
MARK_START = r"^[\p{P}\p{S}\s]"  # what both patterns above need first: one scan, and they run on its few rows
HAN_RANGES = (  # RE2's \p{Han} (a test holds them to it), first and last code point
    (0x2E80, 0x2E99), (0x2E9B, 0x2EF3), (0x2F00, 0x2FD5), (0x3005, 0x3005), (0x3007, 0x3007), (0x3021, 0x3029),
    (0x3038, 0x303B), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFA6D), (0xFA70, 0xFAD9), (0x16FE2, 0x16FE3),
    (0x16FF0, 0x16FF1), (0x20000, 0x2A6DF), (0x2A700, 0x2B739), (0x2B740, 0x2B81D), (0x2B820, 0x2CEA1),
    (0x2CEB0, 0x2EBE0), (0x2EBF0, 0x2EE5D), (0x2F800, 0x2FA1D), (0x30000, 0x3134A), (0x31350, 0x323AF),
)


@dataclass(frozen=True)
class Filter:
    """A quality filter: the reason it gives, its check over a batch (True removes the row; or a string, the
    detail of the removal, null keeping it), whether it judges only free text (QA rows; a template row's text is
    a frame written for the record), and the FilterConfig switch that turns it off. A plug-in adds one through
    the entry-point group `qizhen_instructions.filters`."""

    reason: str
    check: Callable[["Batch"], pa.Array]
    free_text_only: bool = True
    switch: str | None = None


@dataclass
class Batch:
    """What a filter sees: the rows, their folded text (instruction, input, output joined by \\x1f, folded with
    `fold_array`), the settings, and column lengths computed once for every filter that asks."""

    rows: pa.Table
    folded: pa.Array
    config: FilterConfig
    screened: pa.Array | None = None  # rows a wider scan of the answers, which held `marks_prescan`, let through

    @cached_property
    def output(self) -> pa.Array:
        return self.rows["output"].combine_chunks()

    @cached_property
    def output_chars(self) -> pa.Array:
        return pc.utf8_length(self.output)

    @cached_property
    def mark_start(self) -> pa.Array:
        """Answers that open with punctuation, a symbol or a space: the only ones two filters need to look at."""
        return matching(self.output, MARK_START)

    @cached_property
    def marked(self) -> pa.Array:
        """Rows whose answer may carry a promotional or spun mark: one scan serves both filters."""
        return candidates(self.output, *MARK_SETS) if self.screened is None else self.screened

    @cached_property
    def row_chars(self) -> pa.Array:
        return pc.add(pc.add(pc.utf8_length(self.rows["instruction"]), pc.utf8_length(self.rows["input"])),
                      self.output_chars)


MARK_SETS = (PROMOTIONAL, SPUN)


def marks_prescan(config: FilterConfig) -> str | None:
    """The pattern a row's answer must match to carry a mark of a filter the config runs, if it runs one."""
    return prescan(*MARK_SETS) if config.promotional or config.spun_text else None


BUILTIN_FILTERS = {f.reason: f for f in (
    Filter("too_short_answer", lambda b: pc.less(b.output_chars, b.config.min_answer_chars)),
    Filter("punctuation_only_answer", lambda b: matching(b.output, PUNCTUATION_ONLY, b.mark_start)),
    Filter("stray_punctuation_start", lambda b: matching(b.output, STRAY_START, b.mark_start),
           switch="stray_punctuation"),
    Filter("question_equals_answer", lambda b: question_equals_answer(b.folded), switch="question_equals_answer"),
    Filter("too_long_row", lambda b: pc.greater(b.row_chars, b.config.max_row_chars), free_text_only=False),
    Filter("not_chinese", lambda b: pa.array(han_counts(b.output) < b.config.min_cjk_ratio * np.maximum(
        b.output_chars.to_numpy(zero_copy_only=False), 1))),
    Filter("promotional", lambda b: PROMOTIONAL.details(b.output, b.marked), switch="promotional"),
    Filter("spun_text", lambda b: SPUN.details(b.output, b.marked), switch="spun_text"),
)}


@cache
def known_filters() -> dict[str, Filter]:
    """The built-in filters, then the plug-ins' (loaded on first use, so that a plug-in may import this module)."""
    return with_plugins("filters", BUILTIN_FILTERS, Filter)


def filter_reasons(
    rows: pa.Table, folded: pa.Array, config: FilterConfig, free_text: bool, screened: pa.Array | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first reason that removes it and that filter's detail, else None: the built-in filters in
    their order, then the plug-in filters the config names (`extra`), in its order. `screened`: see Batch."""
    batch = Batch(rows, folded, config, screened)
    chosen = [*BUILTIN_FILTERS.values(), *(known_filters()[name] for name in config.extra)]
    reasons = np.full(rows.num_rows, None, dtype=object)
    details = np.full(rows.num_rows, None, dtype=object)
    for spec in reversed(chosen):
        if (spec.switch is None or getattr(config, spec.switch)) and (free_text or not spec.free_text_only):
            result = spec.check(batch)
            said = pa.types.is_string(result.type) or pa.types.is_large_string(result.type)
            hit = pc.is_valid(result) if said else pc.fill_null(result, False)
            removed = np.asarray(hit.to_numpy(zero_copy_only=False), bool)
            reasons[removed] = spec.reason
            details[removed] = pc.filter(result, hit).to_pylist() if said else None
    return reasons, details


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
