"""An audit of a finished build: every knowledge-base row against the source record it came from.

Rows that differ only by their question's phrasing share an answer, so each distinct answer of a record and
template is checked once and its findings count for each of its rows. The findings go to `OUT/audit.jsonl`, one
line per finding of a distinct answer, with the variants (rows) it covers.
"""

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from builder.audit import text
from builder.audit.checks import FINDINGS, Finding, Keyed, alias_reach, check_answer, keyed_records
from builder.audit.match import Group, match_groups, name_index
from builder.audit.source import (
    Build,
    Record,
    Template,
    check_inputs,
    kb_rows,
    open_build,
    read_records,
    rejected_positions,
    templates,
)
from builder.errors import UserError
from builder.run.outdir import seal

AUDIT_FILE = "audit.jsonl"
EXAMPLES = 3


@dataclass
class Report:
    """What an audit found: rows audited, rows with each finding, the findings themselves, where they were written."""

    rows: int = 0
    flagged: int = 0  # rows with at least one finding
    by_finding: Counter = field(default_factory=Counter)
    entries: list[dict] = field(default_factory=list)
    path: Path | None = None


def audit(folder: Path) -> Report:
    """Audits the build in `folder` and writes `audit.jsonl` into it."""
    build = open_build(folder)
    check_inputs(build)
    named = templates(build)
    rows = kb_rows(build)
    if unknown := sorted(set(pc.unique(rows["template_id"]).to_pylist()) - set(named)):
        raise UserError(f"rows come from template '{unknown[0]}', which the catalogue the manifest names does not hold",
                        file=folder / "manifest.json", remedy="restore the catalogue the build used, or build again")
    rejected = rejected_positions(build)
    report = Report()
    for source in sorted(build.sources):
        table = rows.filter(pc.equal(rows["source"], source))
        if table.num_rows:
            _audit_source(build, source, table, named, rejected.get(source, set()), report)
    report.entries.sort(key=lambda e: (e["source"], e["record_id"], e["template_id"], FINDINGS.index(e["finding"]),
                                       e["answer_text"], e["record_text"]))
    report.path = _write(folder, report.entries)
    return report


@dataclass(frozen=True)
class Answers:
    """A source's distinct answers (per record id, template and text), with the variants that carry each, a
    question that asks it, and their keys and clauses."""

    outputs: list[str]
    record_ids: list[str]
    template_ids: list[str]
    variants: list[list[int]]
    keys: list[str]
    question_keys: list[str]
    clauses: list[list[tuple[str, bool, str]]]


def _distinct_answers(table: pa.Table) -> Answers:
    answers = table.group_by(["record_id", "template_id", "output"]).aggregate(
        [("variant", "list"), ("instruction", "min")]).sort_by(
        [("record_id", "ascending"), ("template_id", "ascending"), ("output", "ascending")])
    outputs = answers["output"].to_pylist()
    return Answers(outputs, answers["record_id"].to_pylist(), answers["template_id"].to_pylist(),
                   answers["variant_list"].to_pylist(), text.key_list(outputs),
                   text.key_list(answers["instruction_min"].to_pylist()), _clause_keys(outputs))


def _records_of(answers: Answers, records: list[Record], keyed: list[Keyed], rejected: set[int]) -> list[Keyed | None]:
    """Each answer's source record (None when no record has its entity's name)."""
    by_position = {k.record.position: k for k in keyed}
    groups: dict[str, Group] = {}
    members: dict[str, list[int]] = {}
    for i, record_id in enumerate(answers.record_ids):
        group = groups.setdefault(record_id, Group(record_id, [], []))
        group.questions.append(answers.question_keys[i])
        group.answers.append(answers.keys[i])
        members.setdefault(record_id, []).append(i)

    def misfit(group: Group, record: Record) -> int:
        whole = by_position[record.position].all_text
        return sum(key not in whole for i in members[group.record_id] for _, _, key in answers.clauses[i])

    matched = match_groups(list(groups.values()), name_index(records, [k.name_key for k in keyed], rejected), misfit)
    return [by_position[matched[r].position] if r in matched else None for r in answers.record_ids]


def _frames(named: dict[str, Template], ids: list[str]) -> dict[str, list[str]]:
    """The keys of each template's literal text."""
    pieces = [text.literal_pieces(named[t].frame) for t in ids]
    flat = iter(text.key_list([piece for found in pieces for piece in found]))
    return {t: [next(flat) for _ in found] for t, found in zip(ids, pieces, strict=True)}


def _audit_source(build: Build, source: str, table: pa.Table, named: dict[str, Template], rejected: set[int],
                  report: Report) -> None:
    """One source's rows: distinct answers matched to records and checked."""
    answers = _distinct_answers(table)
    records = read_records(build, source)
    _link_cross_references(records)
    found_by = _records_of(answers, records, keyed_records(records), rejected)
    frames = _frames(named, sorted(set(answers.template_ids)))
    aliases = _alias_keys(answers.outputs, found_by)
    for i, (record_id, template_id, found) in enumerate(zip(answers.record_ids, answers.template_ids, found_by,
                                                             strict=True)):
        findings = [Finding("no_source_record", None, answers.outputs[i], "")] if found is None else check_answer(
            answers.outputs[i], answers.keys[i], answers.clauses[i], aliases[i], found, named[template_id].fields,
            frames[template_id])
        rows = len(answers.variants[i])
        report.rows += rows
        report.flagged += rows if findings else 0
        report.by_finding.update(dict.fromkeys((f.finding for f in findings), rows))
        report.entries += [{
            "finding": finding.finding, "source": source, "record_id": record_id, "template_id": template_id,
            "variants": sorted(answers.variants[i]), build.position_kinds[source]: found.record.position if found else None,
            "name": found.record.name if found else None, "field": finding.field,
            "answer_text": finding.answer_text, "record_text": finding.record_text} for finding in dict.fromkeys(findings)]


def _clause_keys(outputs: list[str]) -> list[list[tuple[str, bool, str]]]:
    """Each answer's clauses with whether each is a label, and their keys (one column operation for all)."""
    split = [text.clauses(output) for output in outputs]
    flat = text.key_list([clause for clauses in split for clause, _ in clauses])
    result, at = [], 0
    for clauses in split:
        result.append([(clause, label, flat[at + j]) for j, (clause, label) in enumerate(clauses)])
        at += len(clauses)
    return result


def _alias_keys(outputs: list[str], records: list[Keyed | None]) -> list[list[tuple[str, str]]]:
    """The names each answer gives as other names of its entity, with their keys (one column operation for all)."""
    items = [text.alias_items(output, alias_reach(keyed)) if keyed else [] for output, keyed in zip(outputs, records,
                                                                                                   strict=True)]
    flat = iter(text.key_list([item for found in items for item in found]))
    return [[(item, next(flat)) for item in found] for found in items]


def _link_cross_references(records: list[Record]) -> None:
    """A field that only says "参见X" points to X's record when the source has one: X's same field may then stand in
    the answer (the builder may follow the reference), and the field is not expected sentence by sentence."""
    pointers = [(record, f, target) for record in records for f, value in record.fields.items()
                if (target := text.cross_reference(value))]
    if not pointers:
        return
    names = text.key_list([record.name for record in records])
    by_name: dict[str, Record] = {}
    for record, key in zip(records, names, strict=True):
        by_name.setdefault(key, record)
    for (record, f, _), key in zip(pointers, text.key_list([t for _, _, t in pointers]), strict=True):
        if (other := by_name.get(key)) is not None and other is not record and f in other.fields:
            record.cross[f] = other


def _write(folder: Path, entries: list[dict]) -> Path:
    """audit.jsonl, written whole then put in place, and listed in the build's marker so a build may replace it."""
    path = folder / AUDIT_FILE
    tmp = folder / f".{AUDIT_FILE}.tmp-{os.getpid()}"
    tmp.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    os.replace(tmp, path)
    seal(folder, added=[path])
    return path


def summary(report: Report) -> str:
    """One screen: rows audited, rows per finding, a few examples of each."""
    lines = [f"audited {report.rows} knowledge-base rows: {report.flagged} with findings",
             f"{'finding':<26}{'rows':>8}  lines in {AUDIT_FILE}"]
    entries = Counter(e["finding"] for e in report.entries)
    lines += [f"{kind:<26}{report.by_finding[kind]:>8}  {entries[kind]}" for kind in FINDINGS]
    for kind in FINDINGS:
        chosen = [e for e in report.entries if e["finding"] == kind]
        if chosen:
            lines.append(f"\n{kind}:")
            step = max(1, len(chosen) // EXAMPLES)
            for e in chosen[::step][:EXAMPLES]:
                lines.append(f"  {e['name'] or e['record_id']} [{e['template_id']}{', ' + e['field'] if e['field'] else ''}]"
                             f" answer: {_short(e['answer_text'])} | record: {_short(e['record_text'])}")
    return "\n".join(lines)


def _short(value: str, width: int = 50) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"
