"""Records: what every reader yields (numbered fields or a `Drop`), turned into Arrow batches with their
rejects; JSON items, conversations and key:value blocks to fields, with the checks a record must pass."""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from builder.config import SourceConfig
from builder.errors import UserError
from builder.ledger import Drop
from builder.rows import POSITION

RECORD_SHAPES = {"sharegpt": "conversations", "messages": "messages"}


@dataclass
class ReadBatch:
    """Raw records as string columns plus their positions, and the records that could not be read."""

    records: pa.RecordBatch
    rejects: list[Drop] = field(default_factory=list)


@dataclass(frozen=True)
class Detected:
    """What was found out about a file: the manifest records it next to the user's settings."""

    container: str
    encoding: str
    position_kind: str


def unreadable(reason: str, detail: str, field: str | None = None) -> Drop:
    """The read stage's drop: one record cannot be turned into fields; it becomes a reject, the file goes on."""
    return Drop(stage="read", reason=reason, detail=detail, field=field)


class RecordError(ValueError):
    """Raised where a record turns out unreadable deep in its parsing; it carries the `Drop` it becomes."""

    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.drop = unreadable(reason, detail, field)


CUT_SHORT = ("unexpected end of data", "incomplete multibyte sequence")  # UTF-8's and GB18030's words for it


MAX_DEPTH = 100  # levels of nesting in a JSON record; deeper is a reject (Python's and Arrow's parsers recurse)


Item = tuple[int, dict[str, str | None] | Drop]


def _batches(items: Iterable[Item], source: SourceConfig, detected: Detected, size: int) -> Iterator[ReadBatch]:
    """Groups records into Arrow batches of string columns; a decoding failure names its position."""
    rows: list[dict] = []  # each record's fields and its position (an int) under POSITION
    rejects: list[Drop] = []
    position = 0
    iterator = iter(items)
    while True:
        try:
            item = next(iterator, None)
        except UnicodeDecodeError as exc:
            if exc.reason in CUT_SHORT:
                raise UserError(f"the file ends inside a character after item {position}: it looks truncated",
                                file=source.path, remedy="restore the complete file") from exc
            raise UserError(
                f"cannot decode as {detected.encoding} after item {position} ({exc.reason}): wrong encoding",
                file=source.path,
                remedy="set the file's real encoding (encoding = \"gb18030\"?) for this source, or convert it to UTF-8",
            ) from exc
        if item is None:
            break
        position, record = item
        if isinstance(record, Drop):
            rejects.append(_placed(record, position, source, detected))
        else:
            row: dict = record
            row[POSITION] = position
            rows.append(row)
        if len(rows) + len(rejects) >= size:
            yield _read_batch(rows, rejects, source, detected)
            rows, rejects = [], []
    if rows or rejects:
        yield _read_batch(rows, rejects, source, detected)


def _placed(drop: Drop, position: int, source: SourceConfig, detected: Detected) -> Drop:
    return drop.at(source=source.name, file=str(source.path), position=position, position_kind=detected.position_kind)


def _read_batch(rows: list[dict], rejects: list[Drop], source: SourceConfig, detected: Detected) -> ReadBatch:
    """The batch of the rows; a row Arrow cannot store (a lone surrogate from an escape such as \\ud800) is looked
    for only when the batch fails, and becomes a reject, so that good batches pay nothing for the check."""
    try:
        return ReadBatch(_to_batch(rows), rejects)
    except UnicodeEncodeError:
        good = []
        for row in rows:
            position = row.pop(POSITION)
            try:
                _check_text(row)
            except RecordError as exc:
                rejects.append(_placed(exc.drop, position, source, detected))
                continue
            row[POSITION] = position
            good.append(row)
        return ReadBatch(_to_batch(good), rejects)


def _to_batch(rows: list[dict]) -> pa.RecordBatch:
    """All fields become string columns (union of keys in order of appearance), positions int64."""
    names = list(dict.fromkeys(key for row in rows for key in row if key != POSITION))
    schema = pa.schema([pa.field(name, pa.string()) for name in names] + [pa.field(POSITION, pa.int64())])
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def as_text(value: object) -> str | None:
    """JSON values become text: lists joined with 、, numbers and objects written out."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return "、".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def record_fields(item: object) -> dict[str, str | None]:
    """One JSON item to fields: a key:value text block, a ShareGPT/messages conversation, or a plain object."""
    if isinstance(item, str):
        return parse_kv_block(item)
    if not isinstance(item, dict):
        raise RecordError("not_a_record", f"expected an object or a text block, got {type(item).__name__}")
    for shape, key in RECORD_SHAPES.items():
        if key in item:
            return conversation_fields(item[key], shape)
    return {str(k): as_text(v) for k, v in item.items()}


SPEAKERS = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "bot": "assistant"}


def conversation_fields(turns: object, shape: str) -> dict[str, str | None]:
    """A single-turn conversation becomes question/answer; system turns become the input context."""
    speaker_key, text_key = ("from", "value") if shape == "sharegpt" else ("role", "content")
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise RecordError("malformed_conversation", f"{shape} turns must be a list of objects", shape)
    system = [as_text(t.get(text_key)) for t in turns if t.get(speaker_key) == "system"]
    dialogue = [(SPEAKERS.get(str(t.get(speaker_key))), as_text(t.get(text_key))) for t in turns
                if t.get(speaker_key) != "system"]
    roles = [role for role, _ in dialogue]
    if roles != ["user", "assistant"]:
        if roles.count("user") > 1:
            raise RecordError("multi_turn", f"{len(roles)} turns; only single-turn pairs become Alpaca rows", shape)
        raise RecordError("missing_turn", f"expected one human turn then one assistant turn, got {roles}", shape)
    return {"question": dialogue[0][1], "answer": dialogue[1][1], "input": "\n".join(s for s in system if s) or None}


def parse_kv_block(block: str) -> dict[str, str | None]:
    """`名称\\n键:值\\n键:值`: the first line is the name; a line without a key continues the previous value."""
    lines = [line.strip() for line in block.strip().splitlines()]
    if not lines or not lines[0]:
        raise RecordError("empty_record", "empty text block")
    fields: dict[str, str | None] = {}
    first, rest = lines[0], lines[1:]
    if _split_key(first) is None:
        fields["名称"] = first
    else:
        rest = lines
    last: str | None = None
    for line in rest:
        pair = _split_key(line)
        if pair is None:
            if last is None:
                raise RecordError("malformed_block", f"line without a key before any key: {line[:40]!r}")
            fields[last] = f"{fields[last]}\n{line}" if fields[last] else line
            continue
        key, value = pair
        if key in fields:
            fields[key] = f"{fields[key]}\n{value}" if fields[key] else value
        else:
            fields[key] = value
        last = key
    return fields


MAX_KEY = 16


_NOT_IN_KEY = re.compile("[，。；、,;()（）]")


def _split_key(line: str) -> tuple[str, str] | None:
    """`键:值` on the first half- or full-width colon, when what precedes it looks like a field name."""
    colon, wide = line.find(":"), line.find("：")
    cut = min(colon if colon > 0 else MAX_KEY + 1, wide if wide > 0 else MAX_KEY + 1)
    if cut > MAX_KEY:
        return None
    key = line[:cut].strip()
    if not key or _NOT_IN_KEY.search(key):
        return None
    return key, line[cut + 1 :].strip()


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json's object_pairs_hook: a key given twice is a reject (json alone keeps the last value without a word)."""
    record = dict(pairs)
    if len(record) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # stops at the first key given again
            if key in seen:
                break
            seen.add(key)
        raise RecordError("duplicate_key", f"the key '{key}' is given twice in one object", key)
    return record


_JSON, _UNIQUE_KEYS = json.JSONDecoder(), json.JSONDecoder(object_pairs_hook=_unique_keys)  # built once


def _jsonl_record(line: str, decoder: json.JSONDecoder, deep: bool) -> dict[str, str | None] | Drop:
    """One JSONL line to fields, or the reason it is a reject. Only a line with more than MAX_DEPTH brackets can
    nest that deep, so only such a line is walked."""
    try:
        item = decoder.decode(line)
        if deep and line.count("{") + line.count("[") > MAX_DEPTH:
            _check_shape(item)
        return record_fields(item)
    except json.JSONDecodeError as exc:
        return unreadable("malformed_json", f"{exc.msg} at column {exc.colno}")
    except RecursionError:
        return unreadable("too_deep", f"nested more than {MAX_DEPTH} levels deep")
    except RecordError as exc:
        return exc.drop


def _check_text(fields: dict[str, str | None]) -> None:
    """Refuses a lone surrogate (from an escape such as \\ud800: Arrow cannot store it) or the U+FFFE that marks one
    for ijson."""
    for key, value in fields.items():
        if _NOT_TEXT.search(key):
            raise RecordError("invalid_text", f"a key holds {LONE_SURROGATE}")
        if value and _NOT_TEXT.search(value):
            raise RecordError("invalid_text", f"the value holds {LONE_SURROGATE}", key)


_NOT_TEXT = re.compile("[\ud800-\udfff\ufffe]")


LONE_SURROGATE = "a lone surrogate escape such as \\ud800 (or U+FFFE), which is not text"


def _check_shape(item: object) -> None:
    """Refuses nesting deeper than MAX_DEPTH and a key given twice (ijson's `_Keys` remember it), walking the item
    a level at a time (no recursion, so depth itself cannot overflow the stack)."""
    level: list = [item]
    for _ in range(MAX_DEPTH):
        nested: list = []
        for value in level:
            if isinstance(value, dict):
                if isinstance(value, _Keys) and (duplicate := value.duplicate):
                    raise RecordError("duplicate_key", f"the key '{duplicate}' is given twice in one object", duplicate)
                nested.extend(v for v in value.values() if isinstance(v, (dict, list)))
            elif isinstance(value, list):
                nested.extend(v for v in value if isinstance(v, (dict, list)))
        if not nested:
            return
        level = nested
    raise RecordError("too_deep", f"nested more than {MAX_DEPTH} levels deep")


class _Keys(dict):
    """ijson's objects: a key given twice is remembered, for `_check_shape` to refuse (a dict keeps the last)."""

    __slots__ = ("duplicate",)

    def __init__(self) -> None:
        super().__init__()
        self.duplicate: str | None = None

    def __setitem__(self, key: str, value: object) -> None:
        if key in self:
            self.duplicate = key
        super().__setitem__(key, value)
