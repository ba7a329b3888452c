"""The knowledge bases' names for decontamination's pre-pass: an index of every record's names as read, whose
records are validated only when a held-out key could concern them."""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.config import BuildConfig
from builder.kernels.scan import matching
from builder.ledger import Ledger
from builder.quality.normalize import fold, fold_array
from builder.read import detect
from builder.rows import POSITION
from builder.validate.records import Valid, validate_kb
from schemas.base import ALIAS_SEPARATORS, INGREDIENT_FIELDS, LABEL_FIELDS

NAME_SEPARATOR = "\x1f"  # between a record's folded names in the index: not a word character


@dataclass(frozen=True)
class Named:
    """A knowledge-base record's names as the build validates them: what links records to one another."""

    name: str
    aliases: tuple[str, ...]
    english: str | None
    record_id: str


NAME_FIELDS = frozenset({"name", "aliases", "english_name", *INGREDIENT_FIELDS, *LABEL_FIELDS})  # what names need


class KBNames:
    """The knowledge bases' records, read and cleaned once (only the fields names depend on, unless `record_ids`
    asks for the ids, which hash the whole record) and validated as the build will, but only when asked: the
    pre-pass validates a record only if its names as read hold a key that could concern it."""

    def __init__(self, texts: pa.Array, validate: Callable[[np.ndarray], list[Named | None]]) -> None:
        self.texts = texts  # per record: its name, aliases and English name as read, folded
        self._validate = validate
        self._named: dict[int, Named | None] = {}

    @classmethod
    def read(cls, config: BuildConfig, record_ids: bool = False) -> "KBNames":
        from builder.run.units import cleaned_batches  # the units import this stage

        fields = None if record_ids else NAME_FIELDS
        tables = [(source.kind, batch) for source in config.sources if source.kind != "qa"
                  for batch in cleaned_batches(source, detect(source), config, Ledger(), fields=fields)]
        starts = np.cumsum([0, *(table.num_rows for _, table in tables)])

        def validate(indices: np.ndarray) -> list[Named | None]:
            named: dict[int, Named] = {}
            owner = np.searchsorted(starts, indices, side="right") - 1
            for at, (kind, table) in enumerate(tables):
                mine = indices[owner == at]
                if len(mine):
                    rows = table.take(pa.array(mine - starts[at]))
                    by_position = dict(zip(rows.column(POSITION).to_pylist(), mine.tolist(), strict=True))
                    named.update((by_position[valid.position], _named(valid, record_ids))
                                 for valid in validate_kb(kind, rows.to_pylist()).valid)
            return [named.get(index) for index in indices.tolist()]

        texts = [_name_text(table) for _, table in tables]
        return cls(pa.concat_arrays(texts) if texts else pa.array([], pa.string()), validate)

    @classmethod
    def of(cls, records: Iterable[Named]) -> "KBNames":
        """An index of names already validated (tests, or a caller that has them)."""
        named = list(records)
        texts = pa.array([NAME_SEPARATOR.join(fold(value) for value in (r.name, *r.aliases, r.english or ""))
                          for r in named], pa.string())
        return cls(texts, lambda indices: [named[i] for i in indices.tolist()])

    def containing(self, keys: Iterable[str]) -> dict[int, Named]:
        """The valid records whose names as read hold one of `keys`, by their place in the index (validated now,
        or remembered)."""
        pattern = alternation(sorted(keys))
        if not pattern or not len(self.texts):
            return {}
        return self._at(np.flatnonzero(np.asarray(matching(self.texts, pattern))))

    def all(self) -> list[Named]:
        """Every valid record's names (validates them all)."""
        return list(self._at(np.arange(len(self.texts))).values())

    def _at(self, indices: np.ndarray) -> dict[int, Named]:
        new = np.array([i for i in indices.tolist() if i not in self._named], np.int64)
        self._named.update(zip(new.tolist(), self._validate(new), strict=True))
        return {i: named for i in indices.tolist() if (named := self._named[i]) is not None}


def kb_names(config: BuildConfig, record_ids: bool = False) -> KBNames:
    """The knowledge bases' names as the build will validate them, for the pre-pass that lets a record be held out
    for a link a later record makes."""
    return KBNames.read(config, record_ids)


def _name_text(table: pa.RecordBatch) -> pa.Array:
    """A record's names as read, each folded, in one string: name, aliases and English name, kept apart by a
    separator folding leaves (Latin keys are matched between word boundaries)."""
    parts = []
    for field in ("name", "aliases", "english_name"):
        if field in table.column_names:
            column = table.column(field)
            if not pa.types.is_list(column.type):
                column = pc.split_pattern_regex(pc.fill_null(column.cast(pa.string()), ""), ALIAS_SEPARATORS.pattern)
            folded = pa.ListArray.from_arrays(column.offsets, fold_array(column.values.cast(pa.string())).cast(pa.string()))
            parts.append(pc.fill_null(pc.binary_join(folded, NAME_SEPARATOR), ""))
    return pc.binary_join_element_wise(*parts, NAME_SEPARATOR) if parts else pa.array([""] * table.num_rows, pa.string())


def _named(valid: Valid, record_ids: bool) -> Named:
    record = valid.record
    return Named(record.name, tuple(record.aliases), record.__dict__.get("english_name"),
                 valid.record_id if record_ids else "")


def alternation(keys: list[str]) -> str | None:
    """One RE2 pattern for the keys; Latin ones between ASCII word boundaries (RE2's \\b), which rules out most
    Latin false hits inside the pass and runs faster than leaving them to the Python check."""
    latin = [re.escape(k) for k in keys if k.isascii()]
    other = [re.escape(k) for k in keys if not k.isascii()]
    return "|".join(other + ([rf"\b(?:{'|'.join(latin)})\b"] if latin else [])) or None
