"""An audit of a finished build: every knowledge-base row against the source record(s) it came from.

Single rows that differ only by their question's phrasing share an answer, so each distinct answer of a record and
template is checked once and its findings count for each of its rows. Rows of the richer types (grounded,
consultation, choice, preference, reverse) are each read into their parts and checked part by part (`types`). Every
record id the rows name, as their record or as one they show, is matched to a source record first (`resolve`). The
findings go to `OUT/audit.jsonl`, one line per finding of a distinct answer or typed row, naming the row (record id,
type, template, variants), the part of it and what is wrong.
"""

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from builder.audit.checks import FINDINGS, Finding, Job, judge
from builder.audit.resolve import OWN, SHOWN, SINGLE, Evidence, Found, read_pools, resolve
from builder.audit.shapes import declared
from builder.audit.source import Build, Template, check_inputs, kb_rows, open_build, rejected_positions, templates
from builder.audit.typed import TYPE_FINDINGS, Keys, Lookup, Plan, Row
from builder.audit.types import PLANNERS, Context, plan
from builder.errors import UserError
from builder.run.outdir import seal

AUDIT_FILE = "audit.jsonl"
EXAMPLES = 3
ALL_FINDINGS = (*FINDINGS, *TYPE_FINDINGS)


@dataclass
class Report:
    """What an audit found: rows audited (in all and per type), rows with each finding, the findings themselves,
    rows of types the audit does not know, and where the findings were written."""

    rows: int = 0
    flagged: int = 0  # rows with at least one finding
    by_finding: Counter = field(default_factory=Counter)
    entries: list[dict] = field(default_factory=list)
    path: Path | None = None
    by_type: Counter = field(default_factory=Counter)
    flagged_by_type: Counter = field(default_factory=Counter)
    unaudited: Counter = field(default_factory=Counter)  # type -> rows of a type no check is written for

    def count(self, kind: str, rows: int, findings: list[Finding]) -> None:
        self.rows += rows
        self.by_type[kind] += rows
        if findings:
            self.flagged += rows
            self.flagged_by_type[kind] += rows
        self.by_finding.update(dict.fromkeys((f.finding for f in findings), rows))


def audit(folder: Path) -> Report:
    """Audits the build in `folder` and writes `audit.jsonl` into it."""
    build = open_build(folder)
    check_inputs(build)
    named = templates(build)
    rows = kb_rows(build)
    single = pc.equal(rows["type"], "single")
    typed, rows = rows.filter(pc.invert(single)), rows.filter(single)
    if unknown := sorted(set(pc.unique(rows["template_id"]).to_pylist()) - set(named)):
        raise UserError(f"rows come from template '{unknown[0]}', which the catalogue the manifest names does not hold",
                        file=folder / "manifest.json", remedy="restore the catalogue the build used, or build again")
    report = Report()
    plans = _plans(build, typed, named, report)
    answers = {source: _distinct_answers(table) for source in sorted(build.sources)
               if (table := rows.filter(pc.equal(rows["source"], source))).num_rows}
    kinds = {build.sources[source].kind for source in answers} | {p.row.kind for p in plans}
    shown = frozenset(i for p in plans for i in (p.row.record_id, *p.row.companions))
    found = resolve(_evidence(build, answers, plans, named),
                    read_pools(build, [s for s in sorted(build.sources) if build.sources[s].kind in kinds],
                               rejected_positions(build, shown)))
    for source, distinct in answers.items():
        _audit_source(build, source, distinct, found, named, report)
    _audit_typed(build, plans, found, report)
    report.entries.sort(key=lambda e: (e["source"], e["record_id"], e["type"], e["template_id"],
                                       ALL_FINDINGS.index(e["finding"]), e["part"], e["answer_text"],
                                       e["record_text"]))
    report.path = _write(folder, report.entries)
    return report


@dataclass(frozen=True)
class Answers:
    """A source's distinct answers (per record id, template and text), with the variants that carry each and a
    question that asks it."""

    outputs: list[str]
    record_ids: list[str]
    template_ids: list[str]
    variants: list[list[int]]
    questions: list[str]


def _distinct_answers(table: pa.Table) -> Answers:
    answers = table.group_by(["record_id", "template_id", "output"]).aggregate(
        [("variant", "list"), ("instruction", "min")]).sort_by(
        [("record_id", "ascending"), ("template_id", "ascending"), ("output", "ascending")])
    return Answers(answers["output"].to_pylist(), answers["record_id"].to_pylist(), answers["template_id"].to_pylist(),
                   answers["variant_list"].to_pylist(), answers["instruction_min"].to_pylist())


def _plans(build: Build, typed: pa.Table, named: dict[str, Template], report: Report) -> list[Plan]:
    """The plan of every typed row of a type the audit knows; rows of other types (a plug-in's) are counted."""
    if not typed.num_rows:
        return []
    context = Context(declared(build), named, str(build.folder / "manifest.json"))
    plans = []
    for row in typed.to_pylist():
        if row["type"] not in PLANNERS:
            report.unaudited[row["type"]] += 1
            continue
        plans.append(plan(Row(row["source"], row["kind"], row["record_id"], row["type"], row["template_id"] or "",
                              row["variant"] or 0, row["instruction"], row["input"], row["output"], row["history"],
                              row["rejected"], row["companions"]), context))
    return plans


def _evidence(build: Build, answers: dict[str, Answers], plans: list[Plan],
              named: dict[str, Template]) -> dict[str, Evidence]:
    """What the rows say of each record id: its single answers first (as the audit of single rows always took
    them), then its rows of other types, then the rows that show it; and the answers made from its fields."""
    evidence: dict[str, Evidence] = {}
    for source, distinct in answers.items():
        kind = build.sources[source].kind
        for record_id, question, output, template_id in zip(distinct.record_ids, distinct.questions,
                                                            distinct.outputs, distinct.template_ids, strict=True):
            found = evidence.setdefault(record_id, Evidence(kind, source))
            found.add(SINGLE, question, output)
            found.drawn.append((output, named[template_id].fields))
    for typed in plans:
        row = typed.row
        for record_id, question, answer in typed.said:
            found = evidence.setdefault(record_id, Evidence(row.kind))
            if record_id == row.record_id:
                found.source = found.source or row.source
            found.add(OWN if record_id == row.record_id else SHOWN, question, answer)
        for record_id, probe in typed.probes:
            evidence.setdefault(record_id, Evidence(row.kind)).probes.append(probe)
        for record_id, answer, fields in typed.drawn:
            evidence.setdefault(record_id, Evidence(row.kind)).drawn.append((answer, fields))
        evidence.setdefault(row.record_id, Evidence(row.kind)).source = row.source
    return evidence


def _audit_source(build: Build, source: str, answers: Answers, found: dict[str, Found], named: dict[str, Template],
                  report: Report) -> None:
    """One source's single rows: each distinct answer checked against its record."""
    records = [found.get(record_id) for record_id in answers.record_ids]
    jobs = [Job(output, record.keyed, named[template_id].fields, named[template_id].frame)
            for output, template_id, record in zip(answers.outputs, answers.template_ids, records, strict=True)
            if record is not None]
    judged = iter(judge(jobs))
    for i, (record_id, template_id, record) in enumerate(zip(answers.record_ids, answers.template_ids, records,
                                                             strict=True)):
        findings = [Finding("no_source_record", None, answers.outputs[i], "")] if record is None else next(judged)
        report.count("single", len(answers.variants[i]), findings)
        report.entries += [_entry(build, source, record_id, "single", template_id, sorted(answers.variants[i]),
                                  record, "output", finding) for finding in dict.fromkeys(findings)]


def _audit_typed(build: Build, plans: list[Plan], found: dict[str, Found], report: Report) -> None:
    """Typed rows: each plan run once every id is matched, the answers of all rows checked together."""
    keys = Keys()
    keys.prime(t for typed in plans for t in typed.texts)
    lookup = Lookup(found, keys)
    done = [typed.run(lookup) for typed in plans]
    judged = iter(judge([job for _, jobs in done for _, job in jobs]))
    for typed, (findings, jobs) in zip(plans, done, strict=True):
        row = typed.row
        findings = findings + [(part, finding) for part, _ in jobs for finding in next(judged)]
        report.count(row.type, 1, [finding for _, finding in findings])
        record = found.get(row.record_id)
        report.entries += [_entry(build, row.source, row.record_id, row.type, row.template_id, [row.variant], record,
                                  part, finding) for part, finding in dict.fromkeys(findings)]


def _entry(build: Build, source: str, record_id: str, kind: str, template_id: str, variants: list[int],
           record: Found | None, part: str, finding: Finding) -> dict:
    """One line of audit.jsonl: the row (record id, type, template, variants), where in it, and what is wrong."""
    return {"finding": finding.finding, "source": source, "record_id": record_id, "type": kind,
            "template_id": template_id, "variants": variants,
            build.position_kinds[source]: record.keyed.record.position if record else None,
            "name": record.keyed.record.name if record else None, "part": part, "field": finding.field,
            "answer_text": finding.answer_text, "record_text": finding.record_text}


def _write(folder: Path, entries: list[dict]) -> Path:
    """audit.jsonl, written whole then put in place, and listed in the build's marker so a build may replace it."""
    path = folder / AUDIT_FILE
    tmp = folder / f".{AUDIT_FILE}.tmp-{os.getpid()}"
    tmp.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    os.replace(tmp, path)
    seal(folder, added=[path])
    return path


def summary(report: Report) -> str:
    """One screen: rows audited (per type when the build has more than single rows), rows per finding, a few
    examples of each."""
    lines = [f"audited {report.rows} knowledge-base rows: {report.flagged} with findings"]
    typed = set(report.by_type) - {"single"}
    if typed:
        lines.append("by type: " + ", ".join(f"{kind} {report.by_type[kind]} ({report.flagged_by_type[kind]} with "
                                             "findings)" for kind in sorted(report.by_type, key=_type_order)))
    if report.unaudited:
        lines.append("not audited (types the audit has no checks for): " + ", ".join(
            f"{kind} {rows}" for kind, rows in sorted(report.unaudited.items())))
    kinds = ALL_FINDINGS if typed else FINDINGS
    lines.append(f"{'finding':<26}{'rows':>8}  lines in {AUDIT_FILE}")
    entries = Counter(e["finding"] for e in report.entries)
    lines += [f"{kind:<26}{report.by_finding[kind]:>8}  {entries[kind]}" for kind in kinds]
    for kind in kinds:
        chosen = [e for e in report.entries if e["finding"] == kind]
        if chosen:
            lines.append(f"\n{kind}:")
            step = max(1, len(chosen) // EXAMPLES)
            for e in chosen[::step][:EXAMPLES]:
                where = ", ".join(x for x in (e["type"] if e["type"] != "single" else "", e["template_id"],
                                              e["part"] if e["part"] != "output" else "", e["field"] or "") if x)
                lines.append(f"  {e['name'] or e['record_id']} [{where}]"
                             f" answer: {_short(e['answer_text'])} | record: {_short(e['record_text'])}")
    return "\n".join(lines)


def _type_order(kind: str) -> tuple[int, str]:
    order = ["single", *PLANNERS]
    return (order.index(kind) if kind in order else len(order), kind)


def _short(value: str, width: int = 50) -> str:
    flat = " ".join(value.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"
