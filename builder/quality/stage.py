"""The quality stage: PII scrubbing, filters, decontamination and deduplication of the rows a source yields.

Record-level checks run before a knowledge-base record is expanded (a verbatim duplicate record,
a name already taken under the `first` policy, an evaluation entity); row-level checks run on each
batch of rows. Every removal carries its stage, reason and, for a duplicate, the id of the row kept.
Which copy of a duplicate survives must not depend on input order, so duplicates (exact and near)
are only indexed here, batch by batch, and resolved once every row is known (`resolve`).
"""

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.config import BuildConfig
from builder.errors import UserError
from builder.eval.sets import load_eval_set
from builder.ledger import Drop
from builder.memory import returning_large_frees
from builder.quality.decontaminate import Decontaminator
from builder.quality.dedup import INDEX_BYTES_PER_ROW, exact_keys, record_numbers, resolve_exact
from builder.quality.filters import filter_reasons
from builder.quality.neardup import NearDupConfig, NearDuplicates
from builder.quality.normalize import fold_array
from builder.quality.pii import scrub_array

TEXT_COLUMNS = ("instruction", "input", "output")
Dropped = dict[int, tuple[Drop, int | None]]  # spooled row -> why it went, and the row kept in its place


@dataclass
class QualityReport:
    """What the quality stage did, for the manifest."""

    pii: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)
    marked: Counter = field(default_factory=Counter)
    held_out: Counter = field(default_factory=Counter)

    def add(self, other: "QualityReport") -> None:
        for tally in ("pii", "removed", "marked", "held_out"):
            getattr(self, tally).update(getattr(other, tally))


class Quality:
    """The quality stage's state across sources: what was kept, for dedup; what evaluation text to avoid."""

    def __init__(self, config: BuildConfig) -> None:
        self.config = config
        paths = config.decontamination.eval_sets
        stamps = tuple(_stamp(path) for path in paths)
        self.decontaminator = _decontaminator(stamps, config.decontamination.ngram) if paths else None
        dedup = config.dedup
        near = NearDupConfig(dedup.threshold, dedup.ngram, seed=config.seed)
        self.near = NearDuplicates(near) if dedup.near else None
        self.near_rows: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.ranks: list[np.ndarray] = []
        self.numbers: list[np.ndarray] = []
        self.records: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.report = QualityReport()

    def check_record(self, entity: str, name: str, aliases: list[str], record_id: str, where: str) -> Drop | None:
        """A knowledge-base record (`entity`: its kind and `entity_name`) before expansion: verbatim duplicate,
        same-name policy, evaluation entity."""
        if self.decontaminator and (hit := self.decontaminator.record_hit(name, aliases)):
            held_out, drop = hit
            self.report.held_out[held_out] += 1
            if self.config.decontamination.mode == "remove":
                return drop
            self.report.marked[drop.reason] += 1
        if self.config.dedup.exact and record_id in self.records:
            return Drop(stage="dedup", reason="duplicate_record", detail=f"same content as {self.records[record_id]}",
                        duplicate_of=record_id)
        if self.config.dedup.same_name == "first" and entity in self.names:
            return Drop(stage="dedup", reason="same_name", detail=f"name already taken by {self.names[entity]}",
                        duplicate_of=self.names[entity])
        self.records.setdefault(record_id, where)
        self.names.setdefault(entity, record_id)
        return None

    def rows(
        self, rows: pa.Table, kind: str, rank: int, first_spool_row: int
    ) -> tuple[pa.Table, dict[int, Drop], dict[int, Drop]]:
        """Scrubs, filters and decontaminates a batch of rows, and indexes the rows kept for dedup;
        returns (rows kept, removals and marks by row index in the batch)."""
        if kind == "qa" and self.config.pii.qa or kind != "qa" and self.config.pii.records:
            rows = self._scrub(rows)
        folded = fold_array(pc.binary_join_element_wise(*(rows[c] for c in TEXT_COLUMNS), "\x1f"))
        removals: dict[int, Drop] = {}
        marks: dict[int, Drop] = {}
        for index, reason in enumerate(filter_reasons(rows, folded, self.config.filters, free_text=kind == "qa")):
            if reason:
                removals[index] = Drop(stage="filter", reason=reason)
        if self.decontaminator:
            target = marks if self.config.decontamination.mode == "mark" else removals
            for index, hit in enumerate(self.decontaminator.row_hits(folded)):
                if hit and index not in removals:
                    target[index] = hit
        for removal in removals.values():
            self.report.removed[f"{removal.stage}:{removal.reason}"] += 1
        for mark in marks.values():
            self.report.marked[mark.reason] += 1
        keep = np.ones(rows.num_rows, bool)
        keep[list(removals)] = False
        kept, folded = rows.filter(pa.array(keep)), folded.filter(pa.array(keep))
        self.ranks.append(np.full(kept.num_rows, rank, np.int32))
        self.numbers.append(record_numbers(kept))
        if self.config.dedup.exact:
            self.keys.append(exact_keys(folded))
        if self.near is not None and kind == "qa" and kept.num_rows:
            self.near.add(folded)
            self.near_rows.append(np.arange(first_spool_row, first_spool_row + kept.num_rows, dtype=np.int64))
        return kept, removals, marks

    def save_index(self, folder: Path) -> None:
        """Writes the dedup index of the rows seen so far into `folder` (`index.npz`, and the near-duplicate
        signatures in `near.npy`) and forgets it, for the process that resolves duplicates (`load_index`)."""
        if self.near is not None:
            self.near.save(folder / "near.npy")
        np.savez(folder / "index.npz", keys=_joined(self.keys, np.uint64), ranks=_joined(self.ranks, np.int32),
                 numbers=_joined(self.numbers, np.uint64), near_rows=_joined(self.near_rows, np.int64))
        self.keys, self.ranks, self.numbers, self.near_rows = [], [], [], []

    def close(self) -> None:
        """Stops the near-duplicate index's threads."""
        if self.near is not None:
            self.near.close()

    def load_index(self, folder: Path, first_row: int) -> None:
        """Appends the index `save_index` wrote into `folder`, whose rows were spooled from row `first_row` on.
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
        if self.config.dedup.exact and len(ranks):
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
                                     detail=f"estimated Jaccard >= {self.config.dedup.threshold}"), kept)
            sizes = np.unique(clusters, return_counts=True)[1]
            sizes = sizes[sizes > 1]  # a cluster whose other members went as exact copies removes nothing here
            report["near_duplicates"] = {
                "clusters": int(len(sizes)), "removed": int((~first).sum()),
                "largest_cluster": int(sizes.max(initial=0)),
                "cluster_sizes": {str(s): int(n) for s, n in zip(*np.unique(sizes, return_counts=True), strict=True)},
                "threshold": self.config.dedup.threshold, "ngram": self.config.dedup.ngram,
                "index_bytes_per_row": round(result.index_bytes_per_doc, 1),
            }
        return dropped, report

    def _scrub(self, rows: pa.Table) -> pa.Table:
        for name in TEXT_COLUMNS:
            scrubbed, counts = scrub_array(rows[name].combine_chunks())
            self.report.pii.update(counts)
            index = rows.schema.get_field_index(name)
            rows = rows.set_column(index, rows.schema.field(index), scrubbed)
        return rows

    def manifest(self) -> dict:
        return {
            "pii": dict(sorted(self.report.pii.items())),
            "removed": dict(sorted(self.report.removed.items())),
            "marked": dict(sorted(self.report.marked.items())),
            "held_out_entities": dict(sorted(self.report.held_out.items())),
            "evaluation_entities": self.decontaminator.entities if self.decontaminator else [],
        }


@lru_cache(maxsize=4)
def _decontaminator(eval_sets: tuple[tuple[Path, int, int], ...], ngram: int) -> Decontaminator:
    """The matchers for evaluation files (path, mtime, size), built once per process while the files stay the
    same: every unit of a build needs them, and forked workers inherit them from the process that forks."""
    return Decontaminator([load_eval_set(path) for path, _mtime, _size in eval_sets], ngram)


def _stamp(path: Path) -> tuple[Path, int, int]:
    """(path, mtime, size) of an evaluation file, the key its matchers are cached under."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise UserError("no such file", file=path, remedy="check the path given to --eval-set or in the config") from None
    return path, stat.st_mtime_ns, stat.st_size


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)

