"""Mixing by instruction type, and the split rule of rows that show other records.

A type's weight or target thins or repeats its rows, chosen by their shuffle keys (seeded, order-free), the way a
source's weight does for records. A row that shows records of other entities (material, options, a listed drug)
stays only where every one of those entities falls in the row's own split: no entity's text reaches a split it is
not in. Companions are drawn from the entity's band (`expand.types.sheet`), so this drops only the rare row at a
band's edge.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.config import TypeMix
from builder.ledger import Drop
from builder.mix.shuffle import spool_batches, spooled_column
from builder.mix.split import GROUP_KEY, ORDER_KEY, group_keys, split_of
from builder.rows import COMPANION_ENTITIES, SINGLE

Dropped = dict[int, tuple[Drop, int | None]]


def type_codes(spool: list[Path], names: list[str]) -> np.ndarray:
    """Each spooled row's type as its index in `names` (-1 for a type not listed)."""
    value_set = pa.array(names, pa.string())
    return np.concatenate([np.asarray(pc.fill_null(pc.index_in(batch.column(0), value_set=value_set), -1))
                           for batch in spool_batches(spool, ["type"])] or [np.zeros(0, np.int32)])


def mix_types(spool: list[Path], copies: np.ndarray, mixes: dict[str, TypeMix],
              dropped: Dropped) -> tuple[dict, dict[str, int]]:
    """Applies each type's weight or target to `copies` in place (rows it drops join `dropped`); returns, per type,
    its rows before and after, and per source the rows its repeats added."""
    names = list(mixes)
    codes = type_codes(spool, names)
    order = spooled_column(spool, ORDER_KEY)
    was = copies.copy()
    report = {}
    for code, name in enumerate(names):
        rows = np.flatnonzero((codes == code) & (copies > 0))
        before = int(copies[rows].sum())
        mix = mixes[name]
        if mix.weight is not None or mix.target is not None:
            weight = float(mix.weight or 0) if mix.target is None else mix.target / max(before, 1)
            ranked = rows[np.argsort(order[rows], kind="stable")]
            whole, fraction = divmod(weight, 1.0)
            extra = round(fraction * len(ranked))
            base = copies[ranked].copy()
            copies[ranked] = base * int(whole)
            copies[ranked[:extra]] += base[:extra]
            for index in ranked[copies[ranked] == 0].tolist():
                dropped[index] = (Drop(stage="mix", reason="type_downsampled",
                                       detail=f"type {name}: weight {weight:.4g}"), None)
        report[name] = {"weight": mix.weight, "target": mix.target, "rows_before": before,
                        "rows_after": int(copies[rows].sum())}
    return report, _added(spool, np.maximum(copies - was, 0))


def _added(spool: list[Path], added: np.ndarray) -> dict[str, int]:
    """Rows added per source by repeats."""
    if not added.any():
        return {}
    names = np.concatenate([np.asarray(batch.column(0).to_pylist(), object) for batch in spool_batches(spool, ["source"])])
    return {str(name): int(added[names == name].sum()) for name in np.unique(names[added > 0])}


def strays(spool: list[Path], copies: np.ndarray, bounds: list[tuple[str, int]], seed: int,
           dropped: Dropped) -> int:
    """Drops (sets no copies for, and adds to `dropped`) each row showing an entity the split puts elsewhere;
    returns how many."""
    splits = np.asarray(split_of(pa.array(spooled_column(spool, GROUP_KEY), pa.uint64()), bounds))
    start, found = 0, 0
    for batch in spool_batches(spool, [COMPANION_ENTITIES, "type"]):
        shown = batch.column(0)
        if pc.all(pc.equal(batch.column(1), SINGLE)).as_py() is False:
            lengths = np.asarray(pc.list_value_length(shown))
            owners = np.repeat(np.arange(len(lengths)), lengths) + start
            entities = pc.list_flatten(shown)
            theirs = np.asarray(split_of(pa.array(group_keys(entities, seed), pa.uint64()), bounds))
            for at in np.flatnonzero(theirs != splits[owners]).tolist():
                row = int(owners[at])
                if copies[row] and row not in dropped:
                    copies[row] = 0
                    found += 1
                    dropped[row] = (Drop(stage="split", reason="companion_in_other_split",
                                         detail=f"shows {entities[at].as_py()}, which the split puts in another "
                                                f"split"), None)
        start += batch.num_rows
    return found
