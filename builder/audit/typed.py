"""What the audit of the richer instruction types works with: a typed row as read, the plan of its checks (made from
the row's text alone), and the lookup of the source records its checks run against once every id is matched.

A plan reads a row into its parts (turns, material blocks, options, listed names) and says, for each part, which
record it stands for: that is the evidence `resolve` matches ids by, and what the deferred checks compare. A
deferred check runs only when every record it names was found; an id no record fits is one `no_source_record`.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from builder.audit import text
from builder.audit.checks import Finding, Job, Keyed
from builder.audit.resolve import Found, Probe, as_entity
from builder.expand.types import Entity
from builder.expand.types.base import overlap
from builder.expand.types.sheet import Sheet

# what can be wrong with a row of a richer type, besides what `checks` finds in the answers it holds
TYPE_FINDINGS = (
    "wrong_question",  # a question none of its template's phrasings asks, or one about another entity
    "wrong_shape",  # a text not of its type's shape: no 根据资料N / absent text, no 答案：X, turns not its templates
    "wrong_material",  # a material block not the record it stands for, or blocks not the row's records
    "absent_but_shown",  # an "absent" row whose material holds the record, or a record of the same entity
    "wrong_option",  # an option that is not items of its record's field
    "overlapping_distractor",  # a distractor whose field overlaps the right answer's
    "not_perturbed",  # a rejected answer that is not the chosen one with one dose or frequency changed
    "overlapping_rejected",  # a rejected answer from a record whose field overlaps the chosen one's
    "unlisted_record",  # a listed name that is none of the row's records, or a row's record not listed
    "condition_not_in_items",  # a listed record whose extracted items do not include the condition asked
)


@dataclass(frozen=True)
class Row:
    """A row of a richer type, as the build wrote it."""

    source: str
    kind: str
    record_id: str
    type: str
    template_id: str
    variant: int
    instruction: str
    input: str
    output: str
    history: list[list[str]]
    rejected: str | None
    companions: list[str]


class Keys(dict):
    """Keys of texts, computed in one column operation for those given to `prime`, one by one for the rest."""

    def prime(self, values: Iterable[str]) -> None:
        new = [v for v in dict.fromkeys(values) if v not in self]
        self.update(zip(new, text.key_list(new), strict=True))

    def __missing__(self, value: str) -> str:
        self[value] = found = text.key_list([value])[0]
        return found


class Lookup:
    """The source records of a build's record ids, as keys (`Keyed`) and as the types see records (`Entity`, built
    from the re-read text, its markup removed)."""

    def __init__(self, found: dict[str, Found], keys: Keys) -> None:
        self.found, self.keys = found, keys
        self._entities: dict[str, Entity] = {}
        self._apart: dict[tuple[str, str, str], bool] = {}

    def keyed(self, record_id: str) -> Keyed:
        return self.found[record_id].keyed

    def names(self, record_id: str) -> set[str]:
        """The keys a record answers to: its name (and its name's pieces) and aliases."""
        keyed = self.keyed(record_id)
        return {keyed.name_key, *keyed.frame} - {""}

    def named(self, value: str, record_id: str) -> bool:
        return self.keys[value] in self.names(record_id)

    def entity(self, record_id: str, kind: str) -> Entity:
        if record_id not in self._entities:
            found = self.found[record_id]
            self._entities[record_id] = as_entity(found.source, kind, found.keyed, record_id)
        return self._entities[record_id]


    def apart(self, record_id: str, other_id: str, kind: str, name: str) -> bool:
        """Whether two records are of different entities whose field says different things, as the types choose
        companions (`Sheet.distinct`, `overlap`), on the re-read records."""
        key = (record_id, other_id, name)
        if key not in self._apart:
            one, other = self.entity(record_id, kind), self.entity(other_id, kind)
            self._apart[key] = Sheet.distinct(one, other) and not overlap(one, other, name)
        return self._apart[key]


Item = tuple[str, Finding | Job]  # (part of the row, a finding, or an answer to check)
Check = Callable[[Lookup], Iterator[Item]]


@dataclass
class Plan:
    """A row's checks: findings its text alone shows, the evidence it gives of each record id it shows (texts that
    name it, and what a field of a record it does not name holds), and checks deferred until those records are
    found."""

    row: Row
    findings: list[tuple[str, Finding]] = field(default_factory=list)
    said: list[tuple[str, str, str]] = field(default_factory=list)  # (record id, question, answer)
    probes: list[tuple[str, Probe]] = field(default_factory=list)  # (record id, what the row shows of it)
    drawn: list[tuple[str, str, frozenset[str]]] = field(default_factory=list)  # (record id, answer, its fields)
    deferred: list[tuple[tuple[str, ...], Check]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # texts whose keys the checks look up

    def flag(self, part: str, finding: str, answer_text: str, record_text: str = "", field: str | None = None) -> None:
        self.findings.append((part, Finding(finding, field, answer_text, record_text)))

    def later(self, ids: Iterable[str], check: Check) -> None:
        self.deferred.append((tuple(ids), check))

    def names(self, part: str, value: str, record_id: str, finding: str) -> None:
        """`value` must name the record `record_id`."""
        self.texts.append(value)

        def check(lookup: Lookup) -> Iterator[Item]:
            if not lookup.named(value, record_id):
                yield part, Finding(finding, "name", value, lookup.keyed(record_id).record.name)

        self.later([record_id], check)

    def answer(self, part: str, answer: str, record_id: str, fields: frozenset[str], frame: tuple[str, ...],
               framed_by: str | None = None) -> None:
        """`answer` must say what the record's `fields` say, framed by `frame` (and by the names of the record
        `framed_by`, whose answer frame it has)."""
        ids = [record_id] if framed_by is None else [record_id, framed_by]
        self.drawn.append((record_id, answer, fields))

        def check(lookup: Lookup) -> Iterator[Item]:
            also = () if framed_by is None else tuple(sorted(lookup.names(framed_by)))
            yield part, Job(answer, lookup.keyed(record_id), fields, frame, also, framed_by is None)

        self.later(ids, check)

    def run(self, lookup: Lookup) -> tuple[list[tuple[str, Finding]], list[tuple[str, Job]]]:
        """Findings and answers to check, once the records are found; an id no record fits is a finding."""
        findings = list(self.findings)
        missing = sorted({i for ids, _ in self.deferred for i in ids if i not in lookup.found},
                         key=[self.row.record_id, *self.row.companions].index)
        for record_id in missing:
            part = "row" if record_id == self.row.record_id else f"companion {record_id}"
            findings.append((part, Finding("no_source_record", None, record_id, "")))
        jobs: list[tuple[str, Job]] = []
        for ids, check in self.deferred:
            if not any(i in missing for i in ids):
                for part, item in check(lookup):
                    if isinstance(item, Job):
                        jobs.append((part, item))
                    else:
                        findings.append((part, item))
        return findings, jobs
