"""Evaluation sets: QiZhen's CSV (药品, 药品适应症, 医学专家标注的适应病症, instruction) and our own (the same layout
with 自动抽取的适应病症, lists this tool extracted, in place of the expert column), and our JSONL.

Read through the same readers as any source (formats and encodings detected), cleaned the same way
(the label text is HTML), and reduced to items: the entity asked about, the question, the reference
text and the gold labels. Decontamination and scoring both start from here.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from builder.clean.text import clean_array
from builder.config import SourceConfig
from builder.errors import UserError
from builder.read import detect, read_source
from builder.rows import POSITION
from builder.validate.fields import normalise_key
from schemas import KB_MODELS

ENTITY_COLUMNS = {name: kind for kind, model in KB_MODELS.items()
                  for name in (model.label, f"{model.label}名称", kind)}
COLUMNS = {
    "entity": (*ENTITY_COLUMNS, "entity", "name"),
    "kind": ("kind", "类型"),
    "question": ("instruction", "question", "问题", "prompt"),
    "reference": ("药品适应症", "reference", "label_text", "answer", "output", "参考答案"),
    "gold": ("医学专家标注的适应病症", "自动抽取的适应病症", "自动抽取", "gold", "labels", "gold_labels", "标注"),
}
AUTOMATIC_GOLD = ("自动抽取的适应病症", "自动抽取")  # what `eval build` writes (drugs, other kinds): extracted, not annotated
GOLD_SEPARATOR = "|"


@dataclass(frozen=True)
class EvalItem:
    """One evaluation question: about which entity, the reference text, and the expert gold labels."""

    entity: str | None
    kind: str
    question: str | None
    reference: str | None
    gold: tuple[str, ...]
    position: int


@dataclass(frozen=True)
class EvalSet:
    """An evaluation file's items, and the column their gold labels came from (None: the file has none)."""

    path: Path
    items: tuple[EvalItem, ...]
    gold_column: str | None = None


def load_eval_set(path: Path) -> EvalSet:
    """Reads an evaluation file; it must name an entity or a question column, or it is an error."""
    source = SourceConfig(path=path, kind="drug", name=f"eval:{path.name}")
    rows: list[dict] = []
    for batch in read_source(source, detect(source), 5000):
        records = batch.records
        cleaned = {name: clean_array(records.column(name)) if name != POSITION else records.column(name)
                   for name in records.schema.names}
        rows.extend(pa.table(cleaned).to_pylist())
    columns = {key: _column(rows, names) for key, names in COLUMNS.items()}
    if not rows or (columns["entity"] is None and columns["question"] is None):
        found = ", ".join(dict.fromkeys(k for row in rows[:1] for k in row if k != POSITION)) or "(none)"
        raise UserError(f"not an evaluation set: no entity or question column; columns are: {found}", file=path,
                        remedy=f"name the entity column {'/'.join(ENTITY_COLUMNS)}/entity, or the question column "
                        "instruction/question")
    items = tuple(
        EvalItem(
            entity=_get(row, columns["entity"]),
            kind=_get(row, columns["kind"]) or ENTITY_COLUMNS.get(columns["entity"] or "", "drug"),  # QiZhen's: drugs
            question=_get(row, columns["question"]),
            reference=_get(row, columns["reference"]),
            gold=_gold(row.get(columns["gold"]) if columns["gold"] else None),
            position=row[POSITION],
        )
        for row in rows
    )
    return EvalSet(path, items, columns["gold"])


def _column(rows: list[dict], names: tuple[str, ...]) -> str | None:
    present = {normalise_key(k): k for row in rows[:50] for k in row}
    return next((present[normalise_key(n)] for n in names if normalise_key(n) in present), None)


def _get(row: dict, column: str | None) -> str | None:
    return row.get(column) if column else None


def _gold(value: str | None) -> tuple[str, ...]:
    """Gold labels from `a|b|c`, or from a JSON list as our own evaluation files write them."""
    if not value:
        return ()
    if value.startswith("["):
        try:
            return tuple(str(v).strip() for v in json.loads(value) if str(v).strip())
        except json.JSONDecodeError:
            pass
    return tuple(label.strip() for label in value.split(GOLD_SEPARATOR) if label.strip())
