"""The ledger: every record read is counted, and every record dropped is written down with its reason."""

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class Reject:
    """Why one input record did not reach the output, and where it came from."""

    stage: str
    reason: str
    source: str
    file: str
    position: int | None
    position_kind: str = "line"
    field: str | None = None
    record_id: str | None = None
    detail: str | None = None
    duplicate_of: str | None = None
    template_id: str | None = None
    variant: int | None = None

    def to_json(self) -> dict:
        data = {k: v for k in _REJECT_FIELDS if (v := getattr(self, k)) is not None or k in _ALWAYS}
        data[self.position_kind] = data.pop("position", None)
        del data["position_kind"]
        return data


_REJECT_FIELDS = [f.name for f in fields(Reject)]
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
            "fields": sorted(self.fields),
        }


FILES = ("rejects.jsonl", "removed_rows.jsonl", "marked.jsonl")


class Ledger:
    """Counts per source; streams rejected records to `rejects.jsonl`, rows removed from records that
    stay to `removed_rows.jsonl`, and rows only marked (decontamination in mark mode) to `marked.jsonl`."""

    def __init__(self, folder: Path | None = None) -> None:
        self.sources: dict[str, SourceCounts] = {}
        self.folder = folder
        self._files: dict[str, IO[str]] = {}
        self._positions: dict[str, list[int]] = {}  # of the entries this ledger wrote, in order

    def counts(self, source: str) -> SourceCounts:
        if source not in self.sources:
            self.sources[source] = SourceCounts()
        return self.sources[source]

    def reject(self, reject: Reject) -> None:
        """A record that does not reach the output."""
        self.counts(reject.source).rejected[f"{reject.stage}:{reject.reason}"] += 1
        self._write("rejects.jsonl", reject)

    def remove_row(self, removal: Reject) -> None:
        """One row of a record that stays in the output."""
        self.counts(removal.source).rows_removed[f"{removal.stage}:{removal.reason}"] += 1
        self._write("removed_rows.jsonl", removal)

    def mark(self, mark: Reject) -> None:
        self._write("marked.jsonl", mark)

    def absorb(self, source: str, counts: SourceCounts, folder: Path) -> None:
        """Adds another ledger's counts for a source, and appends the entries it wrote into `folder`."""
        mine = self.counts(source)
        mine.read, mine.kept, mine.rows = mine.read + counts.read, mine.kept + counts.kept, mine.rows + counts.rows
        for tally in ("rejected", "rows_removed", "unmapped_columns"):
            getattr(mine, tally).update(getattr(counts, tally))
        mine.fields |= counts.fields
        for name in FILES:
            if (folder / name).is_file() and self.folder is not None:
                with (folder / name).open(encoding="utf-8") as entries:
                    shutil.copyfileobj(entries, self._file(name))

    def _write(self, name: str, entry: Reject) -> None:
        if self.folder is not None:
            self._file(name).write(_ENCODE(entry.to_json()) + "\n")
            self._positions.setdefault(name, []).append(entry.position or 0)

    def _file(self, name: str) -> IO[str]:
        if name not in self._files:
            self._files[name] = (self.folder / name).open("w", encoding="utf-8")
        return self._files[name]

    def unbalanced(self) -> list[str]:
        """Sources whose counts do not reconcile; empty when nothing was lost."""
        return [
            name for name, c in self.sources.items() if c.read != c.kept + sum(c.rejected.values())
        ]

    def to_json(self) -> dict:
        return {name: counts.to_json() for name, counts in sorted(self.sources.items())}

    def sort_by_position(self) -> None:
        """Orders the entries this ledger wrote by record position (stably), so that they do not depend on
        how the records were batched or sharded; closes the files. For a unit's ledger, which absorbs none."""
        self.close()
        for name, positions in self._positions.items():
            path = self.folder / name
            lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # not splitlines: U+2028 stays raw in JSON
            ordered = sorted(zip(positions, lines, strict=True), key=lambda entry: entry[0])
            path.write_text("".join(line + "\n" for _, line in ordered), encoding="utf-8")

    def close(self) -> None:
        """Closes the files; `rejects.jsonl` exists (maybe empty) whenever the ledger writes anywhere."""
        if self.folder is not None and "rejects.jsonl" not in self._files:
            (self.folder / "rejects.jsonl").touch()
        for handle in self._files.values():
            handle.close()

