"""Mixing: per-source weights or target row counts, applied to whole records, seeded and order-independent.

Records of a source are ranked by a hash of (seed, record id). A weight below 1 keeps that share of
them; a target below the rows available keeps records in rank order while their rows fit it. A
weight above 1 (or a target above what is there) repeats every record int(weight) times, and once
more for the first records covering the fraction.
The result is a number of copies per spooled row: 0 drops it, 1 keeps it, more repeat it.
"""

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from builder.config import SourceConfig
from builder.hashing import hash64


def copies_per_row(
    batches: Iterator[pa.RecordBatch], sources: list[SourceConfig], seed: int, dropped: np.ndarray
) -> tuple[np.ndarray, dict[str, dict]]:
    """(copies of each spooled row, per-source report) from the spool's `source` and `record_id` columns."""
    plans = {s.name: s for s in sources if s.weight is not None or s.target is not None}
    names, records = [], []
    for batch in batches:
        names += batch.column(0).to_pylist()
        records += batch.column(1).to_pylist()
    copies = np.where(dropped, 0, 1).astype(np.int32)
    report = {}
    for name, source in plans.items():
        rows = [i for i, n in enumerate(names) if n == name and not dropped[i]]
        sizes: dict[str, int] = {}
        for i in rows:
            sizes[records[i]] = sizes.get(records[i], 0) + 1
        chosen = _record_copies(sizes, source, seed)
        for i in rows:
            copies[i] = chosen[records[i]]
        report[name] = {
            "weight": source.weight, "target": source.target,
            "records_before": len(sizes), "rows_before": len(rows),
            "records_after": sum(1 for c in chosen.values() if c), "rows_after": int(sum(copies[i] for i in rows)),
        }
    return copies, report


def _record_copies(sizes: dict[str, int], source: SourceConfig, seed: int) -> dict[str, int]:
    """Copies per record: ranked by hash, cut at the weight or the target."""
    ranked = sorted(sizes, key=lambda rid: (hash64(seed, "mix", rid), rid))
    available = sum(sizes.values())
    weight = source.weight if source.target is None else source.target / max(available, 1)
    assert weight is not None, "only sources with a weight or a target are planned (`copies_per_row`)"
    if weight < 1 and source.target is not None:
        chosen, total = {}, 0
        for rid in ranked:
            keep = total + sizes[rid] <= source.target or total == 0
            chosen[rid] = int(keep)
            total += sizes[rid] * keep
        return chosen
    whole, fraction = divmod(weight, 1.0)
    extra = round(fraction * len(ranked))
    return {rid: int(whole) + (rank < extra) for rank, rid in enumerate(ranked)}
