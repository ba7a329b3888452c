"""Validation: mapped, cleaned fields against the kind's Pydantic schema; failures become rejects.

Knowledge-base records are rich and few, so each one goes through its Pydantic model. QA pairs are
many and flat, so the schema's required fields are checked over whole Arrow columns instead.
"""

import json
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from builder.hashing import record_ids
from builder.ledger import Drop
from builder.rows import POSITION
from schemas import KB_MODELS, KBRecord, QARecord

QA_FIELDS = list(QARecord.model_fields)
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode  # one encoder, not one per record


def invalid(position: int, field: str | None, reason: str, detail: str, stage: str = "validate") -> Drop:
    """A record that failed its schema (or, at `expand`, its templates): which field, why, where it was read."""
    return Drop(stage=stage, reason=reason, field=field, detail=detail, position=position)


class Valid(NamedTuple):
    """A knowledge-base record that passed its model: where it was read, the model, its fields, its id (a tuple:
    one is made per record)."""

    position: int
    record: KBRecord
    fields: dict
    record_id: str


@dataclass(frozen=True)
class KBSplit:
    """Knowledge-base records that passed their model, in read order, and drops for those that did not."""

    valid: list[Valid]
    invalid: list[Drop]


def validate_kb(kind: str, rows: list[dict]) -> KBSplit:
    """Each row to its model, or to a `Drop` naming the first offending field. A record's id hashes its fields
    (its flat `model_dump()`, absent ones left out) the way a QA pair's hashes its texts."""
    model = KB_MODELS[kind]
    passed: list[tuple[int, KBRecord]] = []
    drops: list[Drop] = []
    for row in rows:
        position = row.pop(POSITION)
        try:
            passed.append((position, model.model_validate(row)))
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(p) for p in error["loc"]) or None
            missing = error["type"] in ("missing", "string_too_short") or error.get("input", "") is None
            if missing:
                drops.append(invalid(position, field, "missing_field", "missing, or empty after cleaning"))
            else:
                drops.append(invalid(position, field, "invalid_field", error["msg"]))
    dumped = [record.model_dump() for _, record in passed]
    canonical = [_CANONICAL({name: value for name, value in fields.items() if value is not None}) for fields in dumped]
    ids = record_ids(kind, pa.array(canonical, pa.string())).to_pylist()
    return KBSplit([Valid(position, record, fields, rid)
                    for (position, record), fields, rid in zip(passed, dumped, ids, strict=True)], drops)


@dataclass(frozen=True)
class QASplit:
    """QA rows that passed (as an Arrow batch of schema fields) and those that did not."""

    valid: pa.RecordBatch
    invalid: list[Drop]


def validate_qa(batch: pa.RecordBatch) -> QASplit:
    """Question and answer must both be present after cleaning; checked over whole columns.

    A pair whose question is empty but whose title holds one (Toyhom's ask = "无") asks its title.
    """
    columns = {name: _column(batch, name) for name in QA_FIELDS}
    columns["question"] = pc.coalesce(columns["question"], columns["title"])
    missing_question = pc.is_null(columns["question"])
    bad = pc.or_(missing_question, pc.is_null(columns["answer"]))
    positions = batch.column(POSITION)
    drops = [
        invalid(position, "question" if mq else "answer", "missing_field", "empty after cleaning")
        for position, mq in zip(pc.filter(positions, bad).to_pylist(), pc.filter(missing_question, bad).to_pylist(),
                                 strict=True)
    ]
    keep = pc.invert(bad)
    valid = pa.RecordBatch.from_pydict(
        {name: pc.filter(values, keep) for name, values in columns.items()} | {POSITION: pc.filter(positions, keep)}
    )
    return QASplit(valid, drops)


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    index = batch.schema.get_field_index(name)
    return batch.column(index) if index >= 0 else pa.nulls(batch.num_rows, pa.string())


def qa_record_ids(batch: pa.RecordBatch) -> pa.Array:
    """QA ids hash question, input and answer: the same pair read twice gets the same id."""
    return record_ids("qa", pc.binary_join_element_wise(batch["question"], pc.fill_null(batch["input"], ""),
                                                         batch["answer"], "\x1f"))
