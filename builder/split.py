"""Mix & split: a seeded, order-independent shuffle and a train/validation/test split by record.

Every row gets two keys from a hash of the seed: a group key per record (all rows of one record share
it, so a drug's questions never straddle train and test) and an order key per row. Records are cut
into splits by ranking group keys at the configured fractions (exact at record granularity), and rows
are ordered by order key within a split, which is the shuffle. Neither depends on input order.
"""

import pyarrow as pa
import pyarrow.compute as pc

from builder.hashing import hash64

GROUP_KEY = "__group_key"
ORDER_KEY = "__order_key"
END = 2**64


def with_keys(rows: pa.Table, seed: int) -> pa.Table:
    """Adds the group and order keys to a batch of output rows."""
    record_ids = rows["record_id"].to_pylist()
    groups = {rid: hash64(seed, rid) for rid in record_ids}
    order = [
        hash64(seed, rid, tid, variant)
        for rid, tid, variant in zip(record_ids, rows["template_id"].to_pylist(), rows["variant"].to_pylist())
    ]
    return rows.append_column(GROUP_KEY, pa.array([groups[r] for r in record_ids], pa.uint64())).append_column(
        ORDER_KEY, pa.array(order, pa.uint64())
    )


def split_bounds(group_keys: pa.Array, fractions: dict[str, float]) -> list[tuple[str, int]]:
    """For each split, the group key where the next split starts (ranks cut at the fractions)."""
    unique = pc.unique(group_keys)
    ranked = pc.take(unique, pc.sort_indices(unique))
    bounds, assigned = [], 0.0
    names = list(fractions)
    for position, name in enumerate(names):
        assigned += fractions[name]
        cut = len(ranked) if position == len(names) - 1 else round(assigned * len(ranked))
        bounds.append((name, ranked[cut].as_py() if cut < len(ranked) else END))
    return bounds


def split_of(group_keys: pa.Array, bounds: list[tuple[str, int]]) -> pa.Array:
    """The split index of each row, from its group key and the bounds (vectorised)."""
    index = pa.array([0] * len(group_keys), pa.int8())
    for _, upper in bounds[:-1]:
        if upper < END:
            index = pc.add(index, pc.cast(pc.greater_equal(group_keys, pa.scalar(upper, pa.uint64())), pa.int8()))
    return index


def bucket_of(order_keys: pa.Array, buckets: int) -> pa.Array:
    """Buckets are ranges of the order key, so sorted buckets in order give the whole shuffle."""
    if buckets == 1:
        return pa.array([0] * len(order_keys), pa.int32())
    shift = 64 - (buckets.bit_length() - 1)
    return pc.cast(pc.shift_right(order_keys, pa.scalar(shift, pa.uint64())), pa.int32())


def sorted_by_order(table: pa.Table) -> pa.Table:
    """One bucket's rows in shuffle order, without the key columns."""
    ordered = table.take(pc.sort_indices(table[ORDER_KEY]))
    return ordered.drop_columns([GROUP_KEY, ORDER_KEY])

