"""The duplicate index of a build: for every row kept, its exact key, source rank and record number, and for
free-text QA its near-duplicate signature. Units fill it and save it beside their spool; the process that merges
them loads every part and resolves duplicates once every row is known, so the survivor never depends on order."""

from pathlib import Path

import numpy as np
import pyarrow as pa

from builder.config import DedupConfig
from builder.ledger import Drop
from builder.memory import returning_large_frees
from builder.quality.dedup import INDEX_BYTES_PER_ROW, exact_keys, record_numbers, resolve_exact
from builder.quality.neardup import NearDupConfig, NearDuplicates

Dropped = dict[int, tuple[Drop, int | None]]  # spooled row -> why it went, and the row kept in its place


class DuplicateIndex:
    """Exact and near-duplicate keys of the rows kept so far, by spool row."""

    def __init__(self, config: DedupConfig, seed: int) -> None:
        self.config = config
        self.near = NearDuplicates(NearDupConfig(config.threshold, config.ngram, seed=seed)) if config.near else None
        self.near_rows: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.ranks: list[np.ndarray] = []
        self.numbers: list[np.ndarray] = []

    def add(self, kept: pa.Table, folded: pa.Array, rank: int, first_spool_row: int, free_text: bool) -> None:
        """Indexes a batch of kept rows (`folded`: their folded text), spooled from row `first_spool_row` on."""
        self.ranks.append(np.full(kept.num_rows, rank, np.int32))
        self.numbers.append(record_numbers(kept))
        if self.config.exact:
            self.keys.append(exact_keys(folded))
        if self.near is not None and free_text and kept.num_rows:
            self.near.add(folded)
            self.near_rows.append(np.arange(first_spool_row, first_spool_row + kept.num_rows, dtype=np.int64))

    def save(self, folder: Path) -> None:
        """Writes the dedup index of the rows seen so far into `folder` (`index.npz`, and the near-duplicate
        signatures in `near.npy`) and forgets it, for the process that resolves duplicates (`load`)."""
        if self.near is not None:
            self.near.save(folder / "near.npy")
        np.savez(folder / "index.npz", keys=_joined(self.keys, np.uint64), ranks=_joined(self.ranks, np.int32),
                 numbers=_joined(self.numbers, np.uint64), near_rows=_joined(self.near_rows, np.int64))
        self.keys, self.ranks, self.numbers, self.near_rows = [], [], [], []

    def close(self) -> None:
        """Stops the near-duplicate index's threads."""
        if self.near is not None:
            self.near.close()

    def load(self, folder: Path, first_row: int) -> None:
        """Appends the index `save` wrote into `folder`, whose rows were spooled from row `first_row` on.
        The near-duplicate signatures stay on disk: resolving reads them a band at a time."""
        with np.load(folder / "index.npz") as index:
            self.keys.append(index["keys"])
            self.ranks.append(index["ranks"])
            self.numbers.append(index["numbers"])
            if self.near is not None and len(index["near_rows"]):
                self.near_rows.append(index["near_rows"] + first_row)
                self.near.load(folder / "near.npy")

    def resolve(self) -> tuple[Dropped, dict]:
        """Duplicates among all spooled rows: {row: (removal, surviving row)}, and a report. The index is
        let go: the rest of the build does not need its memory.

        Exact copies first; then near-duplicate clusters of QA rows, whose survivor is chosen the
        same way (most preferred source, then smallest record id) among the rows still standing."""
        with returning_large_frees():
            return self._resolve()

    def _resolve(self) -> tuple[Dropped, dict]:
        ranks, numbers = _joined(self.ranks, np.int32), _joined(self.numbers, np.uint64)
        keys, near, near_rows = _joined(self.keys, np.uint64), self.near, self.near_rows
        self.ranks, self.numbers, self.keys, self.near, self.near_rows = [], [], [], None, []
        dropped: Dropped = {}
        report: dict = {}
        if self.config.exact and len(ranks):
            duplicate_of = resolve_exact(keys, ranks, numbers)
            for row in np.flatnonzero(duplicate_of >= 0).tolist():
                dropped[row] = (Drop(stage="dedup", reason="exact_duplicate"), int(duplicate_of[row]))
            report["exact_duplicates"] = {"removed": len(dropped), "index_bytes_per_row": INDEX_BYTES_PER_ROW}
        if near is not None and near_rows:
            result = near.resolve()
            near.close()
            rows = np.concatenate(near_rows)
            standing = ~np.isin(rows, np.fromiter(dropped, np.int64, len(dropped)))
            members = np.flatnonzero((result.cluster >= 0) & standing)
            order = members[np.lexsort((numbers[rows[members]], ranks[rows[members]], result.cluster[members]))]
            clusters = result.cluster[order]
            first = np.ones(len(order), bool)
            first[1:] = clusters[1:] != clusters[:-1]
            survivor = rows[order[np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))]]
            for doc, kept in zip(rows[order[~first]].tolist(), survivor[~first].tolist(), strict=True):
                dropped[doc] = (Drop(stage="dedup", reason="near_duplicate",
                                     detail=f"estimated Jaccard >= {self.config.threshold}"), kept)
            sizes = np.unique(clusters, return_counts=True)[1]
            sizes = sizes[sizes > 1]  # a cluster whose other members went as exact copies removes nothing here
            report["near_duplicates"] = {
                "clusters": int(len(sizes)), "removed": int((~first).sum()),
                "largest_cluster": int(sizes.max(initial=0)),
                "cluster_sizes": {str(s): int(n) for s, n in zip(*np.unique(sizes, return_counts=True), strict=True)},
                "threshold": self.config.threshold, "ngram": self.config.ngram,
                "index_bytes_per_row": round(result.index_bytes_per_doc, 1),
            }
        return dropped, report


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)
