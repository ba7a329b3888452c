"""The quality stage: PII scrubbing, filters, decontamination and deduplication of the rows a source yields.

Record-level checks run before a knowledge-base record is expanded (a verbatim duplicate record,
a name already taken under the `first` policy, an evaluation entity); row-level checks run on each
batch of rows. Every removal carries its stage, reason and, for a duplicate, the id of the row kept.
Which copy of a duplicate survives must not depend on input order, so duplicates (exact and near)
are only indexed here, batch by batch (`duplicates`), and resolved once every row is known.
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.config import BuildConfig
from builder.errors import UserError
from builder.eval.sets import load_eval_set
from builder.kernels.scan import matching
from builder.ledger import Drop
from builder.quality.decontaminate import Decontaminator
from builder.quality.duplicates import DuplicateIndex
from builder.quality.filters import filter_reasons, marks_prescan
from builder.quality.kbnames import kb_names
from builder.quality.normalize import fold_array
from builder.quality.pii import CANDIDATE, scrub_columns
from builder.quality.tokens import count_column, load_tokenizer, prompt_tokens
from builder.rows import TEXT_COLUMNS, TOKEN_COLUMNS, row_text


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
        self.decontaminator = _decontaminator(config) if config.decontamination.eval_sets else None
        self.duplicates = DuplicateIndex(config.dedup, config.seed)
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
        scrubs = self.config.pii.qa if kind == "qa" else self.config.pii.records
        screen = self._answer_screen(rows, kind) if scrubs else None
        if scrubs:
            rows = self._scrub(rows, screen)
        folded = fold_array(row_text(rows))
        removals: dict[int, Drop] = {}
        marks: dict[int, Drop] = {}
        reasons, details = filter_reasons(rows, folded, self.config.filters, free_text=kind == "qa", screened=screen)
        for index, reason in enumerate(reasons):
            if reason:
                removals[index] = Drop(stage="filter", reason=reason, detail=details[index])
        if self.decontaminator:
            target = marks if self.config.decontamination.mode == "mark" else removals
            for index, hit in enumerate(self.decontaminator.row_hits(folded, free_text=kind == "qa")):
                if hit and index not in removals:
                    target[index] = hit
        tokens = self._tokens(rows, removals)
        for removal in removals.values():
            self.report.removed[f"{removal.stage}:{removal.reason}"] += 1
        for mark in marks.values():
            self.report.marked[mark.reason] += 1
        keep = np.ones(rows.num_rows, bool)
        keep[list(removals)] = False
        for name, counts in zip(TOKEN_COLUMNS, tokens, strict=True):
            rows = rows.append_column(name, counts)
        kept, folded = rows.filter(pa.array(keep)), folded.filter(pa.array(keep))
        self.duplicates.add(kept, folded, rank, first_spool_row, free_text=kind == "qa")
        return kept, removals, marks

    def _tokens(self, rows: pa.Table, removals: dict[int, Drop]) -> tuple[pa.Array, pa.Array]:
        """Per row, the tokens of its prompt and of its answer (nulls without a tokenizer); a row past the limit
        is added to `removals`. Rows already removed are not counted."""
        settings = self.config.tokens
        if settings.tokenizer is None:
            return pa.nulls(rows.num_rows, pa.int32()), pa.nulls(rows.num_rows, pa.int32())
        tokenizer = load_tokenizer(settings.tokenizer, settings.pattern)
        alive = np.ones(rows.num_rows, bool)
        alive[list(removals)] = False
        mask = pa.array(alive)  # the two texts counted, not the whole batch copied
        prompt, answer = np.zeros((2, rows.num_rows), np.int32)
        prompt[alive] = prompt_tokens(tokenizer, rows, mask)  # with a row's own system prompt and earlier turns
        answer[alive] = count_column(tokenizer, pc.filter(rows["output"].combine_chunks(), mask))
        if "rejected" in rows.column_names and rows["rejected"].null_count < rows.num_rows:  # a pair: its longer answer
            rejected = pc.filter(pc.fill_null(rows["rejected"].combine_chunks(), ""), mask)
            answer[alive] = np.maximum(answer[alive], count_column(tokenizer, rejected))
        if settings.max_tokens is not None:
            for index in np.flatnonzero(alive & (prompt + answer > settings.max_tokens)).tolist():
                removals[index] = Drop(stage="filter", reason="too_many_tokens",
                                       detail=f"{prompt[index] + answer[index]} tokens ({prompt[index]} prompt, "
                                              f"{answer[index]} answer) > {settings.max_tokens} ({tokenizer.name})")
        return pa.array(prompt, pa.int32()), pa.array(answer, pa.int32())

    def _answer_screen(self, rows: pa.Table, kind: str) -> pa.Array | None:
        """For free text that is both scrubbed and checked for marks, one RE2 pass over the answers serves both:
        each then scans only the rows it let through (scrubbing never gives a mark to a row it did not touch)."""
        hints = marks_prescan(self.config.filters) if kind == "qa" else None
        return matching(rows["output"].combine_chunks(), f"(?:{CANDIDATE})|{hints}") if hints else None

    def _scrub(self, rows: pa.Table, screen: pa.Array | None) -> pa.Table:
        """A row's text columns scrubbed together (one conversation). `screen`: the rows of the answers a scan
        that included CANDIDATE let through, or None. Fakes are keyed by the seed and the row's record id."""
        keys = None
        if self.config.pii.mode == "fake":
            seed = str(self.config.seed).encode()
            keys = [seed + b"\x1f" + record_id.encode() for record_id in rows["record_id"].to_pylist()]
        columns = [rows[name].combine_chunks() for name in TEXT_COLUMNS]
        among = [screen if name == "output" else None for name in TEXT_COLUMNS]
        scrubbed, counts = scrub_columns(columns, among, keys)
        self.report.pii.update(counts)
        for name, column in zip(TEXT_COLUMNS, scrubbed, strict=True):
            index = rows.schema.get_field_index(name)
            rows = rows.set_column(index, rows.schema.field(index), column)
        return rows

    def manifest(self) -> dict:
        return {
            "pii": dict(sorted(self.report.pii.items())),
            "removed": dict(sorted(self.report.removed.items())),
            "marked": dict(sorted(self.report.marked.items())),
            "held_out_entities": dict(sorted(self.report.held_out.items())),
            "evaluation_entities": self.decontaminator.entities if self.decontaminator else [],
        }


_DECONTAMINATORS: dict[tuple, Decontaminator] = {}


def _decontaminator(config: BuildConfig) -> Decontaminator:
    """The matchers for a build's evaluation files and knowledge-base names, built once per process while the files
    (path, mtime, size) and the config stay the same: every unit of a build needs them, and forked workers inherit
    them from the process that forks."""
    decontamination = config.decontamination
    kb = [source.path for source in config.sources if source.kind != "qa"]
    key = (tuple(map(_stamp, decontamination.eval_sets)), tuple(map(_stamp, kb)), config.model_dump_json())
    if key not in _DECONTAMINATORS:
        _DECONTAMINATORS.clear()
        _DECONTAMINATORS[key] = Decontaminator([load_eval_set(p) for p in decontamination.eval_sets],
                                               decontamination.ngram, kb_names(config))
    return _DECONTAMINATORS[key]


def _stamp(path: Path) -> tuple[Path, int, int]:
    """(path, mtime, size) of an evaluation file, the key its matchers are cached under."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise UserError("no such file", file=path, remedy="check the path given to --eval-set or in the config") from None
    return path, stat.st_mtime_ns, stat.st_size

