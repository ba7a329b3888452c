"""Expansion: knowledge-base records through their kind's catalogue, into instruction rows.

Which phrasing a record gets is a stable hash of (record id, seed, template id): it does not depend
on row order, batch size or worker count, so the same inputs always give the same rows. With
`variants = K` a record gets K distinct phrasings, walking on from the hashed one.
"""

from dataclasses import dataclass, field

import xxhash
from jinja2.exceptions import SecurityError, TemplateError

from builder.errors import UserError
from builder.expand.catalogue import Entry
from builder.hashing import SEPARATOR

Row = tuple[str, int, str, str, str]  # template id, variant, instruction, input, output


def _phrasings(hashed: int, phrasings: int, count: int) -> list[int]:
    """`count` distinct phrasing indices, starting at the hashed one and walking on from there."""
    start = hashed % phrasings
    return [(start + step) % phrasings for step in range(min(count, phrasings))]


def _prefix(record_id: str, seed: int) -> bytes:
    return f"{record_id}{SEPARATOR}{seed}{SEPARATOR}".encode()


@dataclass
class Coverage:
    """Per template: records that could use it, rows it rendered, why others were skipped, phrasings used."""

    eligible: int = 0
    applied: int = 0
    skipped_missing: dict[str, int] = field(default_factory=dict)
    variants: list[int] = field(default_factory=list)

    def add(self, other: "Coverage") -> None:
        self.applied += other.applied
        for name, count in other.skipped_missing.items():
            self.skipped_missing[name] = self.skipped_missing.get(name, 0) + count
        self.variants = [a + b for a, b in zip(self.variants, other.variants, strict=True)]

    def to_json(self) -> dict:
        return {
            "eligible": self.eligible,
            "rendered": sum(self.variants),
            "skipped": sum(self.skipped_missing.values()),
            "skipped_missing": dict(sorted(self.skipped_missing.items())),
            "variants": {str(i): n for i, n in enumerate(self.variants) if n},
        }


@dataclass(frozen=True)
class _Plan:
    entry: Entry
    requires: frozenset[str]
    key: bytes
    tally: Coverage


class Expander:
    """One kind's catalogue applied record by record, counting coverage as it goes.

    Templates that need one field (most) are looked up by the fields a record has, so a record pays
    only for the templates it can use; skips of those are counted at the end (records − applied).
    """

    def __init__(self, entries: tuple[Entry, ...], seed: int, variants: int) -> None:
        self.entries, self.seed, self.count = entries, seed, variants
        self.coverage = {e.id: Coverage(variants=[0] * len(e.questions)) for e in entries}
        plans = [_Plan(e, frozenset(e.requires), e.id.encode("utf-8"), self.coverage[e.id]) for e in entries]
        self._by_field: dict[str, list[_Plan]] = {}
        for plan in plans:
            if len(plan.requires) == 1:
                self._by_field.setdefault(plan.entry.requires[0], []).append(plan)
        self._other = [plan for plan in plans if len(plan.requires) != 1]
        self.records = 0

    def expand(self, context: dict, record_id: str) -> list[Row]:
        """Rows for one record (context: its fields, None where absent); [] when no template applies."""
        self.records += 1
        prefix = _prefix(record_id, self.seed)
        rows: list[Row] = []
        plan: _Plan | None = None
        try:
            for name, value in context.items():
                if value and name in self._by_field:
                    for plan in self._by_field[name]:
                        self._render(plan, context, prefix, rows)
            if self._other:
                present = {name for name, value in context.items() if value}
                for plan in self._other:
                    if plan.requires <= present:
                        self._render(plan, context, prefix, rows)
                    else:
                        first = next(name for name in plan.entry.requires if name not in present)
                        plan.tally.skipped_missing[first] = plan.tally.skipped_missing.get(first, 0) + 1
        except (SecurityError, TemplateError) as exc:
            raise _template_error(plan.entry, context, exc) from exc  # type: ignore[union-attr]
        return rows

    def _render(self, plan: _Plan, context: dict, prefix: bytes, rows: list[Row]) -> None:
        entry, used = plan.entry, plan.tally.variants
        answer = entry.answer(context).strip()
        given = entry.input(context).strip() if entry.input is not None else ""
        hashed = xxhash.xxh3_64_intdigest(prefix + plan.key)
        fitting = entry.phrasings(context) if entry.asks else None  # never empty: the lint wants a plain phrasing
        picks = (hashed % len(fitting or used),) if self.count == 1 else _phrasings(hashed, len(fitting or used),
                                                                                   self.count)
        for pick in picks:
            index = fitting[pick] if fitting else pick
            rows.append((entry.id, index, entry.questions[index](context).strip(), given, answer))
            used[index] += 1
        plan.tally.applied += 1

    def missing_fields(self, context: dict) -> list[str]:
        """The required fields a record lacks, for the reject of a record no template applies to."""
        present = {name for name, value in context.items() if value}
        return list(dict.fromkeys(name for e in self.entries for name in e.requires if name not in present))

    def tallies(self) -> tuple[int, dict[str, Coverage]]:
        """(records expanded, coverage per template) as counted so far, for `absorb` in another process."""
        return self.records, self.coverage

    def absorb(self, records: int, tallies: dict[str, Coverage]) -> None:
        """Adds the tallies of an expander that worked on other records (`tallies`)."""
        self.records += records
        for template_id, tally in tallies.items():
            self.coverage[template_id].add(tally)

    def coverage_json(self) -> dict[str, dict]:
        """Coverage per template in catalogue order; single-field skips are records that did not apply."""
        for plans in self._by_field.values():
            for plan in plans:
                missing = self.records - plan.tally.applied
                plan.tally.skipped_missing = {plan.entry.requires[0]: missing} if missing else {}
        for tally in self.coverage.values():
            tally.eligible = self.records
        return {tid: tally.to_json() for tid, tally in self.coverage.items()}


def _template_error(entry: Entry, context: dict, exc: Exception) -> UserError:
    """A template that breaks or tries to escape the sandbox stops the build, naming file, line and id."""
    if isinstance(exc, SecurityError):
        return UserError(f"{entry.id}: refused by the sandbox ({exc})", file=entry.file, line=entry.line,
                         remedy="templates may only read the record's fields")
    return UserError(f"{entry.id}: cannot render for record '{context.get('name')}' ({exc})",
                     file=entry.file, line=entry.line, remedy="fix the template")
