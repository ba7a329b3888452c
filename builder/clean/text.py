"""Cleaning: HTML, entities, odd whitespace and placeholder values, vectorised over Arrow string columns.

Text keeps its Chinese punctuation and its enumerations; only markup and spacing change. A value that
says nothing ("尚不明确", "(尚不明确)", "无", "暂无", "不详", a lone space) becomes missing, and so does
an enumeration item that only says a point is unknown ("9.药物对哺乳的影响：尚不明确。"), so no answer
repeats a non-answer. Sentences that state something and mention an unknown are kept as written.
"""

import html
import re
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

PLACEHOLDERS = frozenset(
    {"尚不明确", "不明确", "尚不清楚", "不清楚", "无", "暂无", "暂无资料", "无资料", "不详", "未知", "待补充",
     "-", "--", "—", "/", "null", "none", "n/a", "na", "nan"}
)
PLACEHOLDER_TRAILER = "。.；;，,！!"
PLACEHOLDER_WRAP = "()（）[]【】 "
UNKNOWN = "尚不明确|不明确|尚不清楚|尚未明确|不详|暂无资料"
PLACEHOLDER_ITEM = (
    r"(^|[。；;\n])\s*(?:(?:\d{1,2}[.．、]|[(（]\d{1,2}[)）]|[①-⑳])\s*[^。；;\n\d]{0,24}?[：:]?\s*)?"
    rf"(?:[(（](?:{UNKNOWN})[)）][。；;]?|(?:{UNKNOWN})(?:[。；;]|$))|^[(（](?:{UNKNOWN})[)）]"
)
BLOCK_TAG = r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/tr)\b[^<>]*>"
INLINE_TAG = r"(?i)</?[a-z][a-z0-9]*(\s[^<>]*)?/?>|<!--.*?-->"
ENTITY = r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]{1,31});"
ODD_SPACE = "[\t\x0b\x0c\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\ufeff\u200b]"
# C0 and C1 controls (but tab, LF, CR, VT, FF, handled as space and line ends), the bidi embeddings, overrides,
# isolates and marks, and the noncharacters (U+FDD0-FDEF, U+FFFE, U+FFFF): invisible, they reorder or hide what a
# reader sees, or are no text at all (RE2 escapes: a pattern holds no NUL)
CONTROL = r"[\x00-\x08\x0e-\x1f\x7f-\x9f\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}\x{fdd0}-\x{fdef}\x{fffe}\x{ffff}]"
ENTITY_RE = re.compile(ENTITY)
TERMINAL_MARKS, SOFT_MARKS = "。！？!?", "，、；：,;:"
PUNCTUATION_RUNS = (  # source typos: "，，" "。，" "：。" fold to one mark, the terminal one if any
    (rf"[{SOFT_MARKS}]+([{TERMINAL_MARKS}])", r"\1"),
    (rf"([{TERMINAL_MARKS}])[{SOFT_MARKS}{TERMINAL_MARKS}]+", r"\1"),
    (rf"([{SOFT_MARKS}])[{SOFT_MARKS}]+", r"\1"),
)
NEEDS_WORK = (
    rf"[<&\r]|{ODD_SPACE}|{CONTROL}|  | \n|\n[ \n]|{UNKNOWN}|[{SOFT_MARKS}{TERMINAL_MARKS}]{{2}}", r"^\s", r"\s$"
)  # one alternation is 4x slower
PLACEHOLDER_MAX = max(map(len, PLACEHOLDERS)) + 8


def clean_batch(batch: pa.RecordBatch, skip: frozenset[str] = frozenset(),
                tally: Counter | None = None) -> pa.RecordBatch:
    """Cleans every string column of a batch; columns named in `skip` pass through. `tally` counts what was
    removed (control and bidi characters), so the manifest can say so."""
    columns = [
        clean_array(column, tally) if pa.types.is_string(column.type) and name not in skip else column
        for name, column in zip(batch.schema.names, batch.columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def clean_array(values: pa.Array, tally: Counter | None = None) -> pa.Array:
    """One string column: markup out, entities decoded, whitespace folded, placeholders to null.

    One cheap scan finds the values that hold anything to fix; only those take the regex passes.
    """
    found = [pc.match_substring_regex(values, pattern) for pattern in NEEDS_WORK]
    needs_work = pc.fill_null(pc.or_(pc.or_(found[0], found[1]), found[2]), False)
    if pc.any(needs_work).as_py():
        values = pc.replace_with_mask(values, needs_work, _rewrite(pc.filter(values, needs_work), tally))
    return _null_placeholders(values)


def _rewrite(values: pa.Array, tally: Counter | None) -> pa.Array:
    values = pc.replace_substring_regex(values, BLOCK_TAG, "\n")
    values = pc.replace_substring_regex(values, INLINE_TAG, "")
    values = _unescape_entities(values)
    if tally is not None:
        tally["control_characters"] += pc.sum(pc.count_substring_regex(values, CONTROL)).as_py() or 0
    values = pc.replace_substring_regex(values, CONTROL, "")  # after entities: &#x202e; is one too
    values = pc.replace_substring_regex(values, ODD_SPACE, " ")
    values = pc.replace_substring_regex(values, "\r\n?", "\n")
    values = pc.replace_substring_regex(values, " *\n[ \n]*", "\n")
    values = pc.replace_substring_regex(values, " {2,}", " ")
    values = _drop_placeholder_items(pc.utf8_trim_whitespace(values))
    for pattern, replacement in PUNCTUATION_RUNS:
        values = pc.replace_substring_regex(values, pattern, replacement)
    return values


def _drop_placeholder_items(values: pa.Array) -> pa.Array:
    """Removes "n.标签：尚不明确。" items; adjacent ones share a separator, hence a few passes."""
    for _ in range(4):
        if not pc.any(pc.fill_null(pc.match_substring_regex(values, PLACEHOLDER_ITEM), False)).as_py():
            break
        values = pc.replace_substring_regex(values, PLACEHOLDER_ITEM, "\\1")
    return values


def _unescape_entities(values: pa.Array) -> pa.Array:
    """Entities are rare: only rows that hold one go through Python's html.unescape."""
    has = pc.fill_null(pc.match_substring_regex(values, ENTITY), False)
    if not pc.any(has).as_py():
        return values
    decoded = [unescape(v) if h else v for v, h in zip(values.to_pylist(), has.to_pylist(), strict=True)]
    return pa.array(decoded, pa.string())


def unescape(text: str) -> str:
    """Decodes entities, twice at most, for sources that escaped their HTML twice (&amp;ldquo;)."""
    for _ in range(2):
        text = html.unescape(text)
        if not ENTITY_RE.search(text):
            break
    return text


def _null_placeholders(values: pa.Array) -> pa.Array:
    """Short values that only say "unknown" or "none" become null (long values cannot be placeholders). Byte
    lengths (read from the offsets) rule out most values before any character is counted."""
    short = pc.fill_null(pc.less_equal(pc.binary_length(values), 4 * PLACEHOLDER_MAX), False)
    if not pc.any(short).as_py():
        return values
    candidates = pc.filter(values, short)
    stripped = pc.utf8_rtrim(candidates, characters=PLACEHOLDER_TRAILER)
    folded = pc.utf8_lower(pc.utf8_trim(stripped, characters=PLACEHOLDER_WRAP))
    empty = pc.and_(pc.less_equal(pc.utf8_length(candidates), PLACEHOLDER_MAX), pc.or_(
        pc.equal(pc.utf8_length(folded), 0), pc.is_in(folded, value_set=pa.array(sorted(PLACEHOLDERS)))))
    kept = pc.if_else(empty, pa.scalar(None, pa.string()), candidates)
    return pc.replace_with_mask(values, short, kept)


def clean_text(text: str | None) -> str | None:
    """The same cleaning for one value: for tests and interactive checks of what a value becomes."""
    return clean_array(pa.array([text], pa.string()))[0].as_py()
