"""The ledger: every record read is counted, and every record dropped is written down with its reason."""

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from operator import itemgetter
from pathlib import Path
from typing import IO, TypedDict, Unpack


class Place(TypedDict, total=False):
    """Where in a source a stage's drop happened, as far as the stage knows: the record or row it names."""

    position: int | None
    field: str | None
    record_id: str | None
    detail: str | None
    duplicate_of: str | None
    template_id: str | None
    variant: int | None


class Where(Place, total=False):
    """`Place` and the source: all of where a drop happened (`Drop.at`)."""

    source: str | None
    file: str | None
    position_kind: str


@dataclass(frozen=True, kw_only=True)
class Drop:
    """Why a record or a row leaves the build (or is only marked): the stage and reason, what it says in detail,
    and where it came from. A stage knows the why and the unit adds the where (`at`); built by keyword only, so
    reordering the fields can never scramble the ledger."""

    stage: str
    reason: str
    source: str | None = None
    file: str | None = None
    position: int | None = None
    position_kind: str = "line"
    field: str | None = None
    record_id: str | None = None
    detail: str | None = None
    duplicate_of: str | None = None
    template_id: str | None = None
    variant: int | None = None

    def at(self, **where: Unpack[Where]) -> "Drop":
        """The same drop, placed: source, file, position and the record or row it names."""
        return replace(self, **where)

    def to_json(self) -> dict:
        data = {k: v for k in _DROP_FIELDS if (v := getattr(self, k)) is not None or k in _ALWAYS}
        data[self.position_kind] = data.pop("position", None)
        del data["position_kind"]
        return data


_DROP_FIELDS = [f.name for f in fields(Drop)]
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps would build an encoder per entry
_ALWAYS = ("field", "record_id", "detail")


@dataclass
class SourceCounts:
    """One source's tally; `read == kept + rejected` is the identity the manifest promises."""

    read: int = 0
    kept: int = 0
    rows: int = 0
    rejected: Counter = field(default_factory=Counter)
    rows_removed: Counter = field(default_factory=Counter)
    unmapped_columns: Counter = field(default_factory=Counter)
    cleaned: Counter = field(default_factory=Counter)  # what cleaning removed, nulled or flagged, by reason
    fields: set[str] = field(default_factory=set)

    def to_json(self) -> dict:
        return {
            "read": self.read,
            "kept": self.kept,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "rows": self.rows,
            "rows_removed": dict(sorted(self.rows_removed.items())),
            "unmapped_columns": dict(sorted(self.unmapped_columns.items())),
            "cleaned": dict(sorted(self.cleaned.items())),
            "fields": sorted(self.fields),
        }


FILES = ("rejects.jsonl", "removed_rows.jsonl", "marked.jsonl")


def _source(drop: Drop) -> str:
    """The source a drop is counted under; one that was never placed (`Drop.at`) is a bug, not a record's fault."""
    if drop.source is None:
        raise ValueError(f"a {drop.stage}:{drop.reason} drop reached the ledger without its source")
    return drop.source


class Ledger:
    """Counts per source; streams rejected records to `rejects.jsonl`, rows removed from records that
    stay to `removed_rows.jsonl`, and rows only marked (decontamination in mark mode) to `marked.jsonl`."""

    def __init__(self, folder: Path | None = None, by_position: bool = False) -> None:
        """`by_position`: entries are held until `flush` and written in record order (a unit's ledger)."""
        self.sources: dict[str, SourceCounts] = {}
        self.folder = folder
        self.by_position = by_position
        self._files: dict[str, IO[str]] = {}
        self._held: dict[str, list[tuple[int, str]]] = {}  # (position, entry) since the last flush

    def counts(self, source: str) -> SourceCounts:
        if source not in self.sources:
            self.sources[source] = SourceCounts()
        return self.sources[source]

    def reject(self, drop: Drop) -> None:
        """A record that does not reach the output."""
        self.counts(_source(drop)).rejected[f"{drop.stage}:{drop.reason}"] += 1
        self._write("rejects.jsonl", drop)

    def remove_row(self, drop: Drop) -> None:
        """One row of a record that stays in the output."""
        self.counts(_source(drop)).rows_removed[f"{drop.stage}:{drop.reason}"] += 1
        self._write("removed_rows.jsonl", drop)

    def mark(self, drop: Drop) -> None:
        self._write("marked.jsonl", drop)

    def absorb(self, source: str, counts: SourceCounts, folder: Path) -> None:
        """Adds another ledger's counts for a source, and appends the entries it wrote into `folder`."""
        mine = self.counts(source)
        mine.read, mine.kept, mine.rows = mine.read + counts.read, mine.kept + counts.kept, mine.rows + counts.rows
        for tally in ("rejected", "rows_removed", "unmapped_columns", "cleaned"):
            getattr(mine, tally).update(getattr(counts, tally))
        mine.fields |= counts.fields
        for name in FILES:
            if (folder / name).is_file() and self.folder is not None:
                with (folder / name).open(encoding="utf-8") as entries:
                    shutil.copyfileobj(entries, self._file(name))

    def _write(self, name: str, entry: Drop) -> None:
        if self.folder is None:
            return
        if self.by_position:
            self._held.setdefault(name, []).append((entry.position or 0, _ENCODE(entry.to_json())))
        else:
            self._file(name).write(_ENCODE(entry.to_json()) + "\n")

    def flush(self) -> None:
        """Writes the entries held since the last flush, ordered by record position (stably). Readers go through
        a source in order, so a unit that flushes after each batch writes its entries in record order whatever
        the batch size or sharding, holding one batch's entries at a time."""
        for name, held in self._held.items():
            held.sort(key=itemgetter(0))
            self._file(name).write("".join(entry + "\n" for _, entry in held))
        self._held = {}

    def _file(self, name: str) -> IO[str]:
        if name not in self._files:
            assert self.folder is not None, "only a ledger with a folder writes entries (`_write`, `absorb`)"
            self._files[name] = (self.folder / name).open("w", encoding="utf-8")
        return self._files[name]

    def unbalanced(self) -> list[str]:
        """Sources whose counts do not reconcile; empty when nothing was lost."""
        return [
            name for name, c in self.sources.items() if c.read != c.kept + sum(c.rejected.values())
        ]

    def to_json(self) -> dict:
        return {name: counts.to_json() for name, counts in sorted(self.sources.items())}

    def close(self) -> None:
        """Writes what is held and closes the files; `rejects.jsonl` exists (maybe empty) whenever the ledger
        writes anywhere."""
        self.flush()
        if self.folder is not None and "rejects.jsonl" not in self._files:
            (self.folder / "rejects.jsonl").touch()
        for handle in self._files.values():
            handle.close()

