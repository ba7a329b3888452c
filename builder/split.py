"""Mix & split: a seeded, order-independent shuffle and a train/validation/test split by record.

All rows of one record land in the same split (a drug's questions never straddle train and test).
Records are ranked by a hash of (seed, record id) and cut at the configured fractions, so the split
is exact at record granularity and does not depend on input order; rows within a split are ordered
by a hash of (seed, row identity), which is the shuffle.
"""

import hashlib

import pyarrow as pa
import pyarrow.compute as pc


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def split_indices(table: pa.Table, fractions: dict[str, float], seed: int) -> dict[str, pa.Array]:
    """Row indices per split, each already in shuffled order; empty splits are left out."""
    record_ids = table["record_id"].to_pylist()
    groups = sorted(set(record_ids), key=lambda rid: (_hash64(f"{seed}\x1f{rid}"), rid))
    cuts, start, assigned = {}, 0, 0.0
    names = list(fractions)
    for position, name in enumerate(names):
        assigned += fractions[name]
        end = len(groups) if position == len(names) - 1 else round(assigned * len(groups))
        for rid in groups[start:end]:
            cuts[rid] = position
        start = end
    split_of = pa.array([cuts[rid] for rid in record_ids], pa.int8())
    row_keys = pa.array(
        [
            _hash64(f"{seed}\x1f{rid}\x1f{tid}\x1f{var}")
            for rid, tid, var in zip(record_ids, table["template_id"].to_pylist(), table["variant"].to_pylist())
        ],
        pa.uint64(),
    )
    order = pc.sort_indices(row_keys)
    ordered_split = pc.take(split_of, order)
    result = {}
    for position, name in enumerate(names):
        indices = pc.filter(order, pc.equal(ordered_split, position))
        if len(indices):
            result[name] = indices
    return result
