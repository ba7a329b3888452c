"""The cleaning tally: what cleaning removed, nulled or flagged, by reason (the manifest's `cleaned`)."""

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc


def count(tally: Counter, reason: str, found: pa.Array | int) -> int:
    """Adds a mask's true values (or a number) under `reason`; a reason that found nothing stays out of the
    manifest."""
    n = found if isinstance(found, int) else pc.sum(pc.fill_null(found, False)).as_py() or 0
    if n:
        tally[reason] += n
    return n
