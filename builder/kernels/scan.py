"""Regex scans over Arrow string arrays, narrowed by masks: a cheap scan picks the few values worth a costlier
one, and only those are scanned again."""

import pyarrow as pa
import pyarrow.compute as pc


def matching(values: pa.Array, pattern: str, where: pa.Array | None = None) -> pa.Array:
    """Per value, whether `pattern` (RE2) matches it; False for a null. With `where`, only the values it selects
    are scanned, and every other value is False."""
    if where is None:
        return pc.fill_null(pc.match_substring_regex(values, pattern), False)
    where = pc.fill_null(where, False)
    if not pc.any(where).as_py():
        return where
    return spread(where, pc.match_substring_regex(pc.filter(values, where), pattern))


def spread(where: pa.Array, found: pa.Array) -> pa.Array:
    """A mask over the values `where` selects, spread back over all of them (False elsewhere and for a null)."""
    return pc.replace_with_mask(where, where, pc.fill_null(found, False))
