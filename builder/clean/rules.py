"""A user's own cleaning rules: patterns stripped from every text value of a source, and patterns that reject
a record outright (scraper residue, boilerplate, pages that are not records). Patterns are RE2 regular
expressions, the dialect Arrow runs, checked when the configuration loads."""

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.clean.counts import count
from builder.kernels.scan import matching
from builder.ledger import Drop
from builder.rows import POSITION

_PROBE = pa.array([""], pa.string())


def pattern_error(pattern: str) -> str | None:
    """Why a pattern cannot run (RE2's own words), or None when it can."""
    try:
        pc.match_substring_regex(_PROBE, pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        return str(exc).removeprefix("Invalid regular expression: ")
    return None


def strip(values: pa.Array, patterns: list[str], tally: Counter) -> pa.Array:
    """Removes every match of each pattern; the values it changed are counted (`strip_pattern`)."""
    if not patterns:
        return values
    before = values
    for pattern in patterns:
        values = pc.replace_substring_regex(values, pattern, "")
    count(tally, "strip_pattern", pc.not_equal(before, values))
    return values


def drop_matching(batch: pa.RecordBatch, patterns: list[str]) -> tuple[pa.RecordBatch, list[Drop]]:
    """The records none of whose text values (as read) matches a drop pattern, and a `clean:drop_pattern` drop for
    each other one, naming the first pattern and field that matched it."""
    if not patterns:
        return batch, []
    matched: dict[int, tuple[str, str]] = {}  # record index -> the first (pattern, field) it matched
    for pattern in patterns:
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if name != POSITION and pa.types.is_string(column.type):
                hits = matching(column, pattern)
                for i in pc.indices_nonzero(hits).to_pylist():
                    matched.setdefault(i, (pattern, name))
    if not matched:
        return batch, []
    keep = np.ones(batch.num_rows, dtype=bool)
    keep[list(matched)] = False
    positions = batch.column(POSITION)
    drops = [Drop(stage="clean", reason="drop_pattern", field=field, position=positions[i].as_py(),
                  detail=f"matches drop pattern {pattern!r}") for i, (pattern, field) in sorted(matched.items())]
    return batch.filter(pa.array(keep)), drops
