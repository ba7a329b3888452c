"""Evaluation sets from a knowledge base: seeded entities, each kind's questions, gold lists from the records.

Each record kind declares the questions an evaluation asks of it (`eval_questions`: field and question).
Drugs get QiZhen's question "{药品}的适应病症" with the record's indications as reference text and the
extracted indication phrases as gold labels, written in QiZhen's CSV layout (the kind's `eval_columns`) but
under the honest header 自动抽取的适应病症, beside the label text (药品适应症) a person reviews them against:
no expert labelled them; diseases get the three questions QiZhen
asked, with the record's drugs, exams and symptoms as gold lists; other kinds what they declare. Every item
also goes to a JSONL beside the CSV. Entities are picked by the smallest hash of (seed, entity), so the
choice does not depend on file order; given to a build with `--eval-set`, the file holds those entities out of
training.
"""

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from builder.config import BuildConfig
from builder.errors import UserError
from builder.eval.extract import extract_indications
from builder.eval.sets import AUTOMATIC_GOLD
from builder.hashing import hash64
from builder.ledger import Ledger
from builder.quality.normalize import entity_name
from builder.read import detect
from builder.run.units import cleaned_batches
from builder.validate.records import validate_kb
from schemas import KB_KINDS, KB_MODELS, KBRecord


@dataclass(frozen=True)
class Item:
    """One evaluation question with its reference text and gold list, and the record it came from."""

    entity: str
    kind: str
    question: str
    reference: str
    gold: list[str]
    record_id: str


def sample_items(config: BuildConfig, count: int) -> list[Item]:
    """`count` entities per knowledge-base kind, each with a usable gold list, in a seeded order."""
    candidates: dict[tuple[str, str], list[Item]] = {}
    ledger = Ledger()
    for source in config.by_preference():
        if source.kind == "qa":
            continue
        for batch in cleaned_batches(source, detect(source), config, ledger):
            for valid in validate_kb(source.kind, batch.to_pylist()).valid:
                record = valid.record
                items = _items(source.kind, record, valid.record_id)
                key = (source.kind, entity_name(record.name))
                if items and key not in candidates:
                    candidates[key] = items
    if not candidates:
        asked = "; ".join(f"{kind}: {', '.join(f for f, _ in KB_MODELS[kind].eval_questions)}" for kind in KB_KINDS
                          if KB_MODELS[kind].eval_questions)
        raise UserError(f"no record with a field an evaluation asks about ({asked})",
                        remedy="give a knowledge base with --kb KIND=PATH whose records fill one of those fields")
    picked = []
    for kind in KB_KINDS:
        keys = sorted((k for k in candidates if k[0] == kind), key=lambda k: (hash64(config.seed, *k), k))
        picked += [item for key in keys[:count] for item in candidates[key]]
    return picked


def _items(kind: str, record: KBRecord, record_id: str) -> list[Item]:
    """The kind's questions the record can answer: those whose field yields a gold list."""
    items = []
    for field, question in KB_MODELS[kind].eval_questions:
        text = getattr(record, field)
        gold = extract_indications(text) if text else []
        if gold:
            items.append(Item(record.name, kind, question.format(name=record.name), text, gold, record_id))
    return items


def write_eval(items: list[Item], out: Path) -> list[Path]:
    """A CSV per kind (the kind in QiZhen's own layout at `out`, the others as `STEM.KIND.csv` beside it) and one
    JSONL of all items."""
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in dict.fromkeys(i.kind for i in items):
        model = KB_MODELS[kind]
        path = out if model.eval_columns else out.with_name(f"{out.stem}.{kind}{out.suffix}")
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(model.eval_columns or (model.label, "参考答案", AUTOMATIC_GOLD[1], "instruction"))
            writer.writerows((i.entity, i.reference, "|".join(i.gold), i.question) for i in items if i.kind == kind)
        written.append(path)
    jsonl = out.with_suffix(".jsonl")
    jsonl.write_text("".join(json.dumps(asdict(i), ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return [*written, jsonl]
