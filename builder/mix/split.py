"""Split: a seeded, order-independent shuffle and a train/validation/test split by entity or record.

Every row gets two keys from a hash of the seed: a group key per entity (all rows naming one drug or
disease share it, so a drug's questions never straddle train and test) or per record, and an order
key per row. Groups are cut into splits by ranking their keys at the configured fractions (exact at
group granularity), and rows are ordered by order key within a split, which is the shuffle.
Neither depends on input order.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.hashing import combine, id_numbers, text_numbers
from builder.rows import ENTITY_COLUMN, ROW_SCHEMA, SINGLE

GROUP_KEY = "__group_key"
ORDER_KEY = "__order_key"
END = 2**64
GROUP_SALT, ORDER_SALT = 1, 2  # so that a record's group key and its rows' order keys differ


def with_keys(rows: pa.Table, seed: int, group_by: str) -> pa.Table:
    """Adds the group key (per entity or per record) and the order key to a batch of rows, column-wise.
    A row without an entity (a QA pair) is its record's own group."""
    numbers = id_numbers(rows["record_id"])
    groups = combine([seed, GROUP_SALT, numbers], rows.num_rows)
    if group_by == "entity":
        alone = np.asarray(pc.is_null(rows[ENTITY_COLUMN]))
        groups = np.where(alone, groups, group_keys(rows[ENTITY_COLUMN], seed))
    return rows.append_column(GROUP_KEY, pa.array(groups, pa.uint64())).append_column(
        ORDER_KEY, pa.array(order_keys(rows, seed), pa.uint64())
    )


def group_keys(entities: pa.Array | pa.ChunkedArray, seed: int) -> np.ndarray:
    """The group key of each entity: what splits it, and what `types.sheet` bands it by."""
    return combine([seed, GROUP_SALT, text_numbers(entities)], len(entities))


def order_keys(rows: pa.Table | pa.RecordBatch, seed: int, copy: int = 0) -> np.ndarray:
    """Each row's place in the shuffle, from its record, template, phrasing and type (a single row's keeps the key it
    had before there were types); a copy made by up-sampling gets its own place."""
    variants = np.asarray(pc.fill_null(rows.column("variant"), -1)).astype(np.int64).view(np.uint64)
    if "type" in rows.schema.names:  # rows written before there were types are all single
        types = rows.column("type")
        variants = variants ^ np.where(np.asarray(pc.equal(types, SINGLE)), np.uint64(0), text_numbers(types))
    parts: list[np.ndarray | int] = [seed, ORDER_SALT, id_numbers(rows.column("record_id")),
                                     text_numbers(rows.column("template_id")), variants, copy]
    return combine(parts, rows.num_rows)


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


def sorted_by_order(table: pa.Table) -> pa.Table:
    """One bucket's rows in shuffle order, without the key columns."""
    ordered = table.take(pc.sort_indices(table[ORDER_KEY]))
    return ordered.select(ROW_SCHEMA.names)

