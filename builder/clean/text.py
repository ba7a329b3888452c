"""Cleaning: HTML, entities, odd whitespace and control characters, vectorised over Arrow string columns, then
values that say nothing (`placeholders`) and damaged source text (`damage`), and a user's own rules (`rules`).

Text keeps its Chinese punctuation and its enumerations; only markup and spacing change, and content leaves only
whole: a whole value or a whole last item that says nothing, or a prose value that is damaged. What cleaning
removed, nulled or flagged is counted by reason in the tally the manifest shows (`cleaned`).
"""

import html
import re
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.clean.counts import count
from builder.clean.damage import ENDS_IN_CONTROL, UNIT_HINT, judge
from builder.clean.placeholders import DISCLAIMER_LEAD, empty_out
from builder.clean.rules import strip
from builder.config import CleanConfig
from builder.kernels.scan import matching, spread
from builder.kernels.utf8 import edge_whitespace

BLOCK_TAG = r"(?i)<\s*(br|/p|/div|/li|/h[1-6]|/tr)\b[^<>]*>"
INLINE_TAG = r"(?i)</?[a-z][a-z0-9]*(\s[^<>]*)?/?>|<!--.*?-->"
ENTITY = r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]{1,31});"
ODD_SPACE = "[\t\x0b\x0c\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\ufeff\u200b]"
# C0 and C1 controls (but tab, LF, CR, VT, FF, handled as space and line ends), the bidi embeddings, overrides,
# isolates and marks, and the noncharacters (U+FDD0-FDEF, U+FFFE, U+FFFF): invisible, they reorder or hide what a
# reader sees, or are no text at all (RE2 escapes: a pattern holds no NUL)
CONTROL = r"[\x00-\x08\x0e-\x1f\x7f-\x9f\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}\x{fdd0}-\x{fdef}\x{fffe}\x{ffff}]"
ENTITY_RE = re.compile(ENTITY)
TERMINAL_MARKS, SOFT_MARKS = "。！？", "，、；：,;:"  # not ASCII ? or !: in Chinese text one often stands for a lost character
PUNCTUATION_RUNS = (  # source typos: "，，" "。，" "：。" fold to one mark, the terminal one if any
    (rf"[{SOFT_MARKS}]+([{TERMINAL_MARKS}])", r"\1"),
    (rf"([{TERMINAL_MARKS}])[{SOFT_MARKS}{TERMINAL_MARKS}]+", r"\1"),
    (rf"([{SOFT_MARKS}])[{SOFT_MARKS}]+", r"\1"),
)
NEEDS_WORK = rf"[<&\r]|{ODD_SPACE}|{CONTROL}|  | \n|\n[ \n]|[{SOFT_MARKS}{TERMINAL_MARKS}]{{2}}"  # besides edge_whitespace
HINTS = f"{DISCLAIMER_LEAD}|{UNIT_HINT}"  # two rare things, a disclaimer's opening and a damaged unit: NEEDS_WORK's
# scan finds them too for next to nothing
GROUP_BYTES = 1 << 30
LABELS = frozenset({"name", "aliases", "english_name"})  # names, not prose: never judged for damage


def clean_batch(batch: pa.RecordBatch, skip: frozenset[str] = frozenset(), tally: Counter | None = None,
                rules: CleanConfig | None = None, prose: bool = False) -> pa.RecordBatch:
    """Cleans every string column of a batch; columns named in `skip` pass through. With `prose` (a knowledge
    base's records), every column but the names (`LABELS`) is also judged for damage. `tally` counts what was
    removed, nulled or flagged, so the manifest can say so.

    The columns are cleaned as one array (in groups below GROUP_BYTES, which 32-bit offsets can hold): every
    pass then runs, and compiles its pattern, once per batch instead of once per column.
    """
    names = [name for name, column in zip(batch.schema.names, batch.columns, strict=True)
             if pa.types.is_string(column.type) and name not in skip]
    cleaned: dict[str, pa.Array] = {}
    for group in _groups(batch, names):
        columns = [batch.column(name) for name in group]
        flags = [np.full(len(column), prose and name not in LABELS) for name, column in zip(group, columns, strict=True)]
        values = clean_array(pa.concat_arrays(columns), tally, rules, prose=pa.array(np.concatenate(flags)))
        starts = np.cumsum([0, *map(len, columns)])
        cleaned.update({name: values.slice(start, len(column))
                        for name, column, start in zip(group, columns, starts, strict=False)})
    return pa.RecordBatch.from_arrays([cleaned.get(name, column) for name, column in
                                       zip(batch.schema.names, batch.columns, strict=True)], schema=batch.schema)


def _groups(batch: pa.RecordBatch, names: list[str]) -> list[list[str]]:
    """The columns in runs whose text adds up to less than GROUP_BYTES (a column bigger than that runs alone)."""
    groups: list[list[str]] = []
    size = GROUP_BYTES
    for name in names:
        nbytes = batch.column(name).nbytes
        if size + nbytes > GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += nbytes
    return groups


def clean_array(values: pa.Array, tally: Counter | None = None, rules: CleanConfig | None = None,
                prose: bool | pa.Array = False) -> pa.Array:
    """One string array: the user's strip patterns out, markup out, entities decoded, whitespace folded, values
    and last items that say nothing to null; the values `prose` marks (all, with True) judged for damage too
    (`damage.judge`).

    One cheap scan finds the values that hold anything to fix; only those take the regex passes.
    """
    tally = Counter() if tally is None else tally
    rules = rules or CleanConfig()
    prose = pa.array(np.full(len(values), prose)) if isinstance(prose, bool) else prose
    judged = bool(pc.any(prose).as_py())
    values = strip(values, rules.strip, tally)
    edges = edge_whitespace(values)
    maybe = pc.or_(matching(values, f"{NEEDS_WORK}|{HINTS}"), edges)
    cut = hints = pc.and_not(maybe, maybe)
    if pc.any(maybe).as_py():  # few values: they alone are told apart, rewritten and looked at again
        some = pc.filter(values, maybe)
        work = pc.or_(matching(some, NEEDS_WORK), pc.filter(edges, maybe))
        if judged:  # a control character where the text stops stood for a superscript: what followed is lost
            cut = spread(maybe, spread(work, pc.match_substring_regex(pc.filter(some, work), ENDS_IN_CONTROL)))
        some = pc.replace_with_mask(some, work, _rewrite(pc.filter(some, work), tally))
        hints = spread(maybe, pc.match_substring_regex(some, HINTS))
        values = pc.replace_with_mask(values, maybe, some)
    values = empty_out(values, hints, tally)
    return judge(values, prose, cut, hints, rules.truncated == "keep", tally) if judged else values


def _rewrite(values: pa.Array, tally: Counter) -> pa.Array:
    values = pc.replace_substring_regex(values, BLOCK_TAG, "\n")
    values = pc.replace_substring_regex(values, INLINE_TAG, "")
    values = _unescape_entities(values)
    count(tally, "control_characters", pc.sum(pc.count_substring_regex(values, CONTROL)).as_py() or 0)
    values = pc.replace_substring_regex(values, CONTROL, "")  # after entities: &#x202e; is one too
    values = pc.replace_substring_regex(values, ODD_SPACE, " ")
    values = pc.replace_substring_regex(values, "\r\n?", "\n")
    values = pc.replace_substring_regex(values, " *\n[ \n]*", "\n")
    values = pc.replace_substring_regex(values, " {2,}", " ")
    values = pc.utf8_trim_whitespace(values)
    for pattern, replacement in PUNCTUATION_RUNS:
        values = pc.replace_substring_regex(values, pattern, replacement)
    return values


def _unescape_entities(values: pa.Array) -> pa.Array:
    """Entities are rare: only rows that hold one go through Python's html.unescape."""
    has = matching(values, ENTITY)
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


def clean_text(text: str | None, prose: bool = True, rules: CleanConfig | None = None) -> str | None:
    """The same cleaning for one value (of a knowledge base's prose field, unless `prose` is False): for tests
    and interactive checks of what a value becomes."""
    return clean_array(pa.array([text], pa.string()), rules=rules, prose=prose)[0].as_py()
