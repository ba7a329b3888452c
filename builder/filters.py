"""Quality filters: per row, the reason it should go (or nothing), computed over whole columns.

Content checks (short, punctuation-only, stray leading punctuation, question = answer, not Chinese)
judge free text: QA rows. A template row's text is a frame written for the record (an English name
or a Latin alias list is legitimate there), so template rows only face the length limit.
"""

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.config import FilterConfig

PUNCTUATION_ONLY = r"^[\p{P}\p{S}\s]+$"
STRAY_START = r"^[，。、；：,.;:！？!?）)」』】》]"
NOT_HAN = r"[^\p{Han}]+"


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
        ("question_equals_answer", lambda: _question_equals_answer(folded)),
        ("too_long_row", lambda: pc.greater(total, config.max_row_chars)),
        ("not_chinese", lambda: pc.less(pc.divide(pc.cast(pc.utf8_length(pc.replace_substring_regex(output, NOT_HAN, "")), pa.float64()),
                                                  pc.max_element_wise(length, 1)), config.min_cjk_ratio)),
    ]
    wanted = {"stray_punctuation_start": config.stray_punctuation,
              "question_equals_answer": config.question_equals_answer}
    reasons = np.full(rows.num_rows, None, dtype=object)
    for reason, check in reversed(checks):
        if wanted.get(reason, True) and (free_text or reason == "too_long_row"):
            reasons[np.asarray(pc.fill_null(check(), False).to_numpy(zero_copy_only=False), bool)] = reason
    return reasons


def _question_equals_answer(folded: pa.Array) -> pa.Array:
    parts = pc.split_pattern(folded, "\x1f")
    return pc.equal(pc.list_element(parts, 0), pc.list_element(parts, 2))
