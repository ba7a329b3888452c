"""Quality filters: per row, the reason it should go (or nothing), computed over whole columns.

Content checks (short, punctuation-only, stray leading punctuation, question = answer, not Chinese)
judge free text: QA rows. A template row's text is a frame written for the record (an English name
or a Latin alias list is legitimate there), so template rows only face the length limit.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.config import FilterConfig

PUNCTUATION_ONLY = r"^[\p{P}\p{S}\s]+$"
STRAY_START = r"^[，。、；：,.;:！？!?）)」』】》]"
NOT_HAN = r"[^\p{Han}]"


def filter_reasons(rows: pa.Table, folded: pa.Array, config: FilterConfig, free_text: bool) -> np.ndarray:
    """Per row, the first reason (in the order below) that removes it, else None; `folded` is each row's
    instruction, input and output folded (`fold_array`) and joined by \\x1f."""
    output = rows["output"].combine_chunks()
    parts = pc.split_pattern(folded, "\x1f")
    length = pc.utf8_length(output)
    total = pc.add(pc.add(pc.utf8_length(rows["instruction"]), pc.utf8_length(rows["input"])), length)
    han = pc.utf8_length(pc.replace_substring_regex(output, NOT_HAN, ""))
    checks = [
        ("too_short_answer", pc.less(length, config.min_answer_chars)),
        ("punctuation_only_answer", pc.match_substring_regex(output, PUNCTUATION_ONLY)),
        ("stray_punctuation_start",
         pc.match_substring_regex(output, STRAY_START) if config.stray_punctuation else None),
        ("question_equals_answer",
         pc.equal(pc.list_element(parts, 0), pc.list_element(parts, 2))
         if config.question_equals_answer else None),
        ("too_long_row", pc.greater(total, config.max_row_chars)),
        ("not_chinese", pc.less(pc.divide(pc.cast(han, pa.float64()), pc.max_element_wise(length, 1)),
                                config.min_cjk_ratio)),
    ]
    if not free_text:
        checks = [check for check in checks if check[0] == "too_long_row"]
    reasons = np.full(rows.num_rows, None, dtype=object)
    for reason, mask in reversed(checks):
        if mask is not None:
            reasons[np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), bool)] = reason
    return reasons
