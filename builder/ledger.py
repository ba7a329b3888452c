"""The ledger: every record read is counted, and every record dropped is written down with its reason."""

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
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

    def to_json(self) -> dict:
        data = asdict(self)
        data[self.position_kind] = data.pop("position")
        del data["position_kind"]
        return data


@dataclass
class SourceCounts:
    """One source's tally; `read == kept + rejected` is the identity the manifest promises."""

    read: int = 0
    kept: int = 0
    rows: int = 0
    rejected: Counter = field(default_factory=Counter)
    unmapped_columns: Counter = field(default_factory=Counter)
    fields: set[str] = field(default_factory=set)

    def to_json(self) -> dict:
        return {
            "read": self.read,
            "kept": self.kept,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(sorted(self.rejected.items())),
            "rows": self.rows,
            "unmapped_columns": dict(sorted(self.unmapped_columns.items())),
            "fields": sorted(self.fields),
        }


class Ledger:
    """Counts per source and streams rejects to `rejects.jsonl` (or nowhere, for a dry run)."""

    def __init__(self, rejects: IO[str] | None = None) -> None:
        self.sources: dict[str, SourceCounts] = {}
        self._rejects = rejects

    def counts(self, source: str) -> SourceCounts:
        return self.sources.setdefault(source, SourceCounts())

    def reject(self, reject: Reject) -> None:
        self.counts(reject.source).rejected[f"{reject.stage}:{reject.reason}"] += 1
        if self._rejects is not None:
            self._rejects.write(json.dumps(reject.to_json(), ensure_ascii=False) + "\n")

    def unbalanced(self) -> list[str]:
        """Sources whose counts do not reconcile; empty when nothing was lost."""
        return [
            name for name, c in self.sources.items() if c.read != c.kept + sum(c.rejected.values())
        ]

    def to_json(self) -> dict:
        return {name: counts.to_json() for name, counts in sorted(self.sources.items())}

    @staticmethod
    def open(path: Path) -> "Ledger":
        return Ledger(path.open("w", encoding="utf-8"))

    def close(self) -> None:
        if self._rejects is not None:
            self._rejects.close()
