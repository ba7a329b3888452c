"""Reading model answers: JSONL (instruction + output) or CSV, each answer tied to one item of the evaluation set."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

from builder.errors import UserError
from builder.quality.normalize import fold

ANSWER_KEYS = ("instruction", "question", "prompt", "问题")
ENTITY_KEYS = ("药品", "entity", "drug", "疾病", "name")
OUTPUT_KEYS = ("output", "answer", "response", "prediction", "回答")


def read_answers(path: Path, eval_set) -> dict[int, str]:
    """Item index (into eval_set.items) -> answer, from JSONL (instruction + output) or CSV.

    Answers are matched to items by their instruction (folded) or, failing that, their entity
    (药品 column); every item must be answered exactly once, and every answer must belong to an item.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError("answers file not found", file=path)
    rows = _answer_rows(path)
    by_question: dict[str, list[int]] = defaultdict(list)
    by_entity: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(eval_set.items):
        if item.question:
            by_question[fold(item.question)].append(index)
        if item.entity:
            by_entity[fold(item.entity)].append(index)
    eval_name = getattr(eval_set, "path", None) or "the evaluation set"
    remedy = f"the answers file must answer the same questions — regenerate it from eval {eval_name}"
    answers: dict[int, str] = {}
    used: dict[int, int] = {}
    unknown: list[tuple[int, str]] = []
    duplicates: list[tuple[int, str, int]] = []
    for line, key, value, output in rows:
        candidates = _candidates(key, value, by_question, by_entity)
        if not candidates:
            unknown.append((line, value))
            continue
        free = [i for i in candidates if i not in answers]
        if not free:
            duplicates.append((line, value, used[candidates[0]]))
            continue
        answers[free[0]] = output
        used[free[0]] = line
    if unknown:
        line, value = unknown[0]
        more = f" ({len(unknown)} of {len(rows)} answers match no question)" if len(unknown) > 1 else ""
        raise UserError(f"{_what(rows)} '{_short(value)}' is not in the evaluation set{more}", file=path, line=line,
                        remedy=remedy)
    if duplicates:
        line, value, first = duplicates[0]
        more = f" ({len(duplicates)} duplicate answers)" if len(duplicates) > 1 else ""
        raise UserError(f"{_what(rows)} '{_short(value)}' is answered twice (first at line {first}){more}",
                        file=path, line=line, remedy="keep one answer per question")
    missing = [i for i in range(len(eval_set.items)) if i not in answers]
    if missing:
        item = eval_set.items[missing[0]]
        raise UserError(f"{len(missing)} of {len(eval_set.items)} questions have no answer, the first "
                        f"'{_short(item.question or item.entity or '')}'", file=path, remedy=remedy)
    return answers


def _candidates(key: str, value: str, by_question: dict, by_entity: dict) -> list[int]:
    folded = fold(value)
    if not folded:
        return []
    if key == "entity":
        return by_entity.get(folded) or by_question.get(folded) or []
    found = by_question.get(folded) or by_entity.get(folded)
    if found:
        return found
    # a prompt template around the question: the longest question the instruction contains
    inside = [q for q in by_question if len(q) >= 4 and q in folded]
    return by_question[max(inside, key=len)] if inside else []


def _what(rows: list) -> str:
    return "entity" if rows and rows[0][1] == "entity" else "instruction"


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _answer_rows(path: Path) -> list[tuple[int, str, str, str]]:
    """(line, 'question'|'entity', key text, output) for every answer in the file."""
    from builder.read import detect_encoding

    encoding = detect_encoding(path, None)
    text = path.read_bytes().decode(encoding, errors="strict")
    text = text.removeprefix("\ufeff")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson") or (suffix not in (".csv", ".tsv") and text.lstrip().startswith("{")):
        return _jsonl_rows(path, text)
    return _csv_rows(path, text, "\t" if suffix == ".tsv" else ",")


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, str, str, str]]:
    rows = []
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserError(f"not a JSON object: {exc.msg}", file=path, line=line,
                            remedy="write one JSON object a line") from exc
        if not isinstance(record, dict):
            raise UserError("not a JSON object", file=path, line=line, remedy="write one JSON object a line")
        rows.append((line, *_pick(record, path, line)))
    if not rows:
        raise UserError("the answers file is empty", file=path)
    return rows


def _csv_rows(path: Path, text: str, delimiter: str) -> list[tuple[int, str, str, str]]:
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise UserError("the answers file is empty", file=path)
    names = [h.strip() for h in header]
    _pick(dict.fromkeys(names, ""), path, 1)  # columns present, or a clear error
    rows = []
    for record in reader:
        if not any(c.strip() for c in record):
            continue
        rows.append((reader.line_num, *_pick(dict(zip(names, record, strict=False)), path, reader.line_num)))
    return rows


def _pick(record: dict, path: Path, line: int) -> tuple[str, str, str]:
    lowered = {str(k).strip().lower(): k for k in record}
    out_key = next((lowered[k] for k in OUTPUT_KEYS if k in lowered), None)
    key = next((("question", lowered[k]) for k in ANSWER_KEYS if k in lowered), None)
    key = key or next((("entity", lowered[k]) for k in ENTITY_KEYS if k in lowered), None)
    if out_key is None or key is None:
        found = ", ".join(map(str, record)) or "(none)"
        lacking = " and ".join(n for n, k in (("instruction (or 药品)", key), ("output", out_key)) if k is None)
        raise UserError(f"no {lacking} column; found: {found}", file=path, line=line,
                        remedy="answers need instruction (or 药品) and output, as the inference scripts write")
    output = record[out_key]
    output = "" if output is None else output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    value = record[key[1]]
    return key[0], "" if value is None else str(value), output
