"""Expansion: one knowledge-base record through its kind's catalogue, into instruction rows.

Which phrasing a record gets is a stable hash of (record id, template id, seed): it does not depend
on row order, batch size or worker count, so the same inputs always give the same rows.
"""

from collections import Counter
from dataclasses import dataclass, field

from jinja2.exceptions import SecurityError, TemplateError

from builder.catalogue import Entry
from builder.errors import UserError
from builder.hashing import hash64
from builder.render import Renderer


def variant_indices(record_id: str, template_id: str, seed: int, phrasings: int, count: int) -> list[int]:
    """`count` distinct phrasing indices, starting at the hashed one and walking on from there."""
    start = hash64(record_id, template_id, seed) % phrasings
    return [(start + step) % phrasings for step in range(min(count, phrasings))]


@dataclass
class Coverage:
    """Per template: records that could use it, rows it rendered, why others were skipped, phrasings used."""

    eligible: int = 0
    rendered: int = 0
    skipped_missing: Counter = field(default_factory=Counter)
    variants: Counter = field(default_factory=Counter)

    def to_json(self) -> dict:
        return {
            "eligible": self.eligible,
            "rendered": self.rendered,
            "skipped": sum(self.skipped_missing.values()),
            "skipped_missing": dict(sorted(self.skipped_missing.items())),
            "variants": {str(k): v for k, v in sorted(self.variants.items())},
        }


def expand_record(
    context: dict,
    record_id: str,
    entries: tuple[Entry, ...],
    seed: int,
    variants: int,
    coverage: dict[str, Coverage],
) -> tuple[list[tuple[str, int, str, str, str]], list[str]]:
    """Rows (template id, variant, instruction, input, output) for one record, and the fields it lacked."""
    rows = []
    missing_all: list[str] = []
    for entry in entries:
        tally = coverage.get(entry.id) or coverage.setdefault(entry.id, Coverage())
        tally.eligible += 1
        missing = [name for name in entry.requires if not context.get(name)]
        if missing:
            tally.skipped_missing[missing[0]] += 1
            missing_all.extend(m for m in missing if m not in missing_all)
            continue
        answer = _render(entry, entry.answer, context)
        given = _render(entry, entry.input, context) if entry.input is not None else ""
        for index in variant_indices(record_id, entry.id, seed, len(entry.questions), variants):
            rows.append((entry.id, index, _render(entry, entry.questions[index], context), given, answer))
            tally.variants[index] += 1
            tally.rendered += 1
    return rows, missing_all


def _render(entry: Entry, render: Renderer, context: dict) -> str:
    """Renders one template; a template that breaks or tries to escape the sandbox stops the build."""
    try:
        return render(context).strip()
    except SecurityError as exc:
        raise UserError(f"{entry.id}: refused by the sandbox ({exc})", file=entry.file, line=entry.line,
                        remedy="templates may only read the record's fields") from exc
    except TemplateError as exc:
        raise UserError(f"{entry.id}: cannot render for record '{context.get('name')}' ({exc})",
                        file=entry.file, line=entry.line, remedy="fix the template") from exc
