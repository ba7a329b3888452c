"""Preview: a seeded handful of records rendered through the catalogue, to read before building.

Records are picked by the smallest hash of (seed, record id), so the same seed shows the same records
whatever the file order, and only the picked records' rows are held in memory.
"""

import heapq

import pyarrow as pa

from builder.config import BuildConfig
from builder.errors import UserError
from builder.hashing import hash64
from builder.run.pipeline import dry_run

Picked = list[tuple[str, list[dict]]]


def preview(config: BuildConfig, kind: str, count: int) -> Picked:
    """(record id, rows) for `count` records of `kind`, in a seeded order."""
    sources = [s for s in config.sources if s.kind == kind]
    if not sources:
        raise UserError(f"no {kind} source to preview", remedy=f"give one with --kb {kind}=PATH")
    heap: list[tuple[int, str]] = []  # max-heap by key (negated): the `count` smallest keys seen
    rows: dict[str, list[dict]] = {}

    def keep(table: pa.Table) -> None:
        for row in table.to_pylist():
            rid = row["record_id"]
            if rid in rows:
                rows[rid].append(row)
                continue
            key = hash64(config.seed, rid)
            if len(heap) < count:
                heapq.heappush(heap, (-key, rid))
            elif key < -heap[0][0]:
                _, dropped = heapq.heapreplace(heap, (-key, rid))
                del rows[dropped]
            else:
                continue
            rows[rid] = [row]

    dry_run(config.model_copy(update={"sources": sources}), emit=keep)
    return [(rid, rows[rid]) for _, rid in sorted(heap, reverse=True)]


def format_preview(picked: Picked, width: int | None) -> str:
    """Plain text: each record's rows as template id, phrasing, question and answer."""
    lines = []
    for rid, rows in picked:
        lines.append(f"── {rid} ({rows[0]['source']}) ──")
        for row in rows:
            answer = row["output"] if width is None or len(row["output"]) <= width else row["output"][:width] + "…"
            lines.append(f"  [{row['template_id']} · {row['variant']}] {row['instruction']}")
            if row["input"]:
                lines.append(f"      input: {row['input']}")
            lines.append(f"      → {answer}")
        lines.append("")
    return "\n".join(lines)
