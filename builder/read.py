"""Readers: any supported file in, batches of raw records (string fields + position) out.

Formats and encodings are detected from the file itself, recorded, and never guessed silently:
a file that is neither UTF-8 nor GB18030, or that stops decoding half-way, is a clear error.
"""

import codecs
import csv
import io
import itertools
import json
import mmap
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ijson
import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

from builder.config import SourceConfig
from builder.errors import UserError
from builder.fields import BUILTIN, normalise_key
from builder.ledger import Reject

POSITION = "__pos"
SNIFF_BYTES = 1 << 16
DETECTABLE = ("utf-8", "gb18030")
CONTAINERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "kv"}
RECORD_SHAPES = {"sharegpt": "conversations", "messages": "messages"}
RECORD_FORMATS = ("sharegpt", "alpaca", "messages")  # shapes of QA records inside JSON or JSONL


@dataclass
class ReadBatch:
    """Raw records as string columns plus their positions, and the records that could not be read."""

    records: pa.RecordBatch
    rejects: list[Reject] = field(default_factory=list)


@dataclass(frozen=True)
class Detected:
    """What was found out about a file: the manifest records it next to the user's settings."""

    container: str
    encoding: str
    position_kind: str


class RecordError(ValueError):
    """One record cannot be turned into fields; the record becomes a reject, the file goes on."""

    def __init__(self, reason: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.field = reason, detail, field


def detect_encoding(path: Path, declared: str | None) -> str:
    """BOM first, then UTF-8, then GB18030, judged on the head of the file; the rest is checked while reading.
    A character cut off by the end of the head (or of a truncated file) is left to the line reader, which names
    its line; so is a stray byte in text that is otherwise UTF-8."""
    head = path.open("rb").read(SNIFF_BYTES)
    if declared:
        try:
            codecs.lookup(declared)
        except LookupError as exc:
            raise UserError(f"unknown encoding '{declared}'", file=path,
                            remedy="use utf-8, utf-8-sig or gb18030") from exc
        return declared
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _head_decodes(head, "utf-8") or _mostly_utf8(head):
        return "utf-8"
    if _head_decodes(head, "gb18030"):
        return "gb18030"
    at = _first_bad_byte(head)
    line, column = _place(head, at)
    raise UserError(
        f"the file is neither UTF-8 nor GB18030: byte {column} of this line (byte {at} of the file) is not UTF-8"
        " (wrong encoding)",
        file=path, line=line,
        remedy="convert it to UTF-8, or set encoding = \"...\" for this source in the config (--encoding)",
    )


def _head_decodes(head: bytes, encoding: str) -> bool:
    """Whether the head decodes, but for a character the cut left unfinished at its end."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        return True
    except UnicodeDecodeError:
        return False


def _mostly_utf8(head: bytes) -> bool:
    """UTF-8 with a few bad bytes (a damaged file), not another encoding: GB18030 text read as UTF-8 fails at
    nearly every character, while a damaged UTF-8 file has far more good characters than bad bytes."""
    text = head.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    return bad * 10 < len(text) - len(text.encode("ascii", errors="ignore")) - bad


def _first_bad_byte(data: bytes) -> int:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return len(data)


def _place(data: bytes, at: int) -> tuple[int, int]:
    """(line, byte in the line) of byte `at`, counting lines as the readers do (LF, CRLF or a lone CR)."""
    before = data[:at]
    start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1
    return before.count(b"\n") + _lone_crs(before) + 1, at - start


def _lone_crs(data: bytes) -> int:
    """CRs that end a line on their own (universal newlines), not as the CR of a CRLF."""
    return data.count(b"\r") - data.count(b"\r\n") if b"\r" in data else 0


def detect_container(path: Path, declared: str) -> str:
    """The container (csv, json, jsonl, kv) from the setting, the extension, or the first character."""
    if declared in ("csv", "json", "jsonl", "kv"):
        return declared
    head = path.open("rb").read(SNIFF_BYTES)
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UserError(
            "unknown format: the file is binary",
            file=path,
            remedy="give a CSV, JSON, JSONL or key:value text file (format = csv|json|jsonl|kv)",
        )
    first = _first_character(head)
    if not first and len(head) < SNIFF_BYTES:  # nothing but a BOM and white space
        raise UserError("the file is empty", file=path, remedy="give a file that holds records, or leave this source out")
    if first == "[":
        return "json"
    if first == "{":
        return "jsonl"
    container = CONTAINERS.get(path.suffix.lower())
    if container in ("csv", "kv"):
        return container
    raise UserError(
        f"unknown format: cannot tell the format of a '{path.suffix or 'no extension'}' file",
        file=path,
        remedy="name it .csv/.json/.jsonl/.txt or set format = csv|json|jsonl|kv for this source",
    )


def _first_character(head: bytes) -> str:
    """The first character after any BOM and white space; a UTF-16 file (with its BOM) is decoded to find it."""
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    text = head.decode("utf-16", errors="ignore") if utf16 else head.removeprefix(codecs.BOM_UTF8).decode("latin-1")
    return text.lstrip(" \t\r\n\x0b\x0c")[:1]


def detect(source: SourceConfig) -> Detected:
    """Checks the file exists and finds its container and encoding."""
    path = source.path
    if not path.is_file():
        raise UserError("no such file", file=path, remedy="check the path given to --kb/--qa or in the config")
    container = detect_container(path, "auto" if source.format in RECORD_FORMATS else source.format)
    if source.format in RECORD_FORMATS and (container not in ("json", "jsonl") or source.kind != "qa"):
        raise UserError(f"format = \"{source.format}\" is a QA conversation format, read from JSON or JSONL; this "
                        f"is a {container} file of kind {source.kind}", file=path, field="format",
                        remedy="set format to the file's container (csv, json, jsonl, kv), or give the conversation "
                               "file as --qa")
    position_kind = "index" if container == "json" else "line"
    return Detected(container, detect_encoding(path, source.encoding), position_kind)


@dataclass(frozen=True)
class Shard:
    """Whole lines of a file from byte `start` to byte `end` (None: the end), the first being line `first_line`."""

    start: int = 0
    end: int | None = None
    first_line: int = 1


WHOLE = Shard()


def shards(source: SourceConfig, detected: Detected, parts: int) -> list[Shard]:
    """About `parts` shards of a UTF-8 JSONL file, cut at line ends, each with the number of its first line;
    any other file is one shard (its records may span lines, or its encoding is decoded line by line)."""
    size = source.path.stat().st_size
    if parts <= 1 or not _fast_jsonl(detected) or not size:
        return [WHOLE]
    cuts = [0]
    with source.path.open("rb") as handle:
        for part in range(1, parts):
            handle.seek(max(size * part // parts, cuts[-1]))
            handle.readline()
            if cuts[-1] < handle.tell() < size:
                cuts.append(handle.tell())
        lines, first_lines = 1, [1]
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            for start, end in itertools.pairwise(cuts):
                lines += _newlines(mapped, start, end)
                first_lines.append(lines)
    return [Shard(start, end, line) for start, end, line in zip(cuts, [*cuts[1:], None], first_lines, strict=True)]


RELEASE_PAGES = hasattr(mmap, "MADV_DONTNEED")  # Linux and macOS; elsewhere mapped pages stay until unmapped


def _newlines(mapped: mmap.mmap, start: int, end: int) -> int:
    """Line ends (LF, or a lone CR) in a byte range of a mapped file, counted in numpy a block at a time (no copy
    to Python bytes); each block's pages are let go once counted, so the file's size never shows in this process's
    memory."""
    count = 0
    for at in range(start, end, 1 << 24):
        size = min(1 << 24, end - at)
        block = np.frombuffer(mapped, np.uint8, min(size + 1, len(mapped) - at), at)  # and the byte after it
        count += int(np.count_nonzero(block[:size] == 10))
        if mapped.find(b"\r", at, at + size) >= 0:
            crs = block[:size] == 13
            count += int(np.count_nonzero(crs)) - int(np.count_nonzero(crs[: len(block) - 1] & (block[1:] == 10)))
        del block  # the map cannot close while a view of it lives
        first = at - at % mmap.PAGESIZE
        if RELEASE_PAGES:
            mapped.madvise(mmap.MADV_DONTNEED, first, at + size - first)
    return count


def _fast_jsonl(detected: Detected) -> bool:
    return detected.container == "jsonl" and codecs.lookup(detected.encoding).name in ("utf-8", "utf-8-sig")


def read_source(source: SourceConfig, detected: Detected, batch_size: int, shard: Shard = WHOLE) -> Iterator[ReadBatch]:
    """Streams a source (or one shard of it) as batches of raw records; malformed records come back as rejects."""
    if shard != WHOLE and not _fast_jsonl(detected):
        raise ValueError(f"{source.path}: only UTF-8 JSONL files are read in shards")
    if detected.container == "json":
        with _open_text(source.path, detected.encoding) as text:
            yield from _batches(_json_items(text, source), source, detected, batch_size)
        return
    if _fast_jsonl(detected):
        yield from _jsonl_batches(source, detected, batch_size, shard)
        return
    readers = {"csv": _csv_items, "jsonl": _jsonl_items, "kv": _kv_text_items}
    lines = decoded_lines(source.path, detected.encoding)
    yield from _batches(readers[detected.container](lines, source), source, detected, batch_size)


def _open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(path.open("rb"), encoding=encoding, errors="strict", newline="")


def decoded_lines(path: Path, encoding: str) -> Iterator[str]:
    """Lines decoded one by one, so a byte that does not decode is reported with its exact line. Lines end at
    LF, CRLF or a lone CR, as Python reads text (universal newlines)."""
    if codecs.lookup(encoding).name.startswith("utf-16"):
        with _open_text(path, encoding) as text:
            yield from text
        return
    with path.open("rb") as handle:
        yield from _decode(_universal(handle), encoding, 1, path)


_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")


def _universal(raw_lines: Iterable[bytes]) -> Iterator[bytes]:
    """Byte lines split after each lone CR as well (a CR byte is never part of a UTF-8 or GB18030 character)."""
    for raw in raw_lines:
        cr = raw.find(b"\r")
        if cr < 0 or cr == len(raw) - 2 and raw.endswith(b"\n"):
            yield raw
        else:
            yield from (part for part in _LONE_CR.split(raw) if part)


def _decode(raw_lines: Iterable[bytes], encoding: str, start: int, path: Path) -> Iterator[str]:
    """Decodes line by line; a BOM that starts a later line (files joined together) is dropped."""
    first_encoding = encoding
    encoding = "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding
    for number, raw in enumerate(raw_lines, start=start):
        try:
            text = raw.decode(first_encoding if number == 1 else encoding)
        except UnicodeDecodeError as exc:
            raise _undecodable(raw, exc, encoding, path, number) from exc
        yield text[1:] if text.startswith("\ufeff") else text


CUT_SHORT = ("unexpected end of data", "incomplete multibyte sequence")  # UTF-8's and GB18030's words for it


def _undecodable(raw: bytes, exc: UnicodeDecodeError, encoding: str, path: Path, number: int) -> UserError:
    """The error for a line that does not decode: a character cut off by the end of the file is a truncated file,
    anything else a wrong encoding (or a damaged byte) at a byte of the line."""
    if exc.reason in CUT_SHORT and exc.end == len(raw) and not raw.endswith((b"\n", b"\r")):
        return UserError(
            f"the file ends inside a character (byte {exc.start} of its last line): it looks truncated",
            file=path, line=number, remedy="restore the complete file, or delete its broken last line",
        )
    guess = next((e for e in DETECTABLE if e != encoding and _decodes(raw, e)), None)
    hint = f"it looks like {guess}: set encoding = \"{guess}\"" if guess else "set the file's real encoding"
    return UserError(
        f"cannot decode as {encoding} at byte {exc.start} of the line ({exc.reason}): wrong encoding or a damaged byte",
        file=path, line=number, remedy=f"{hint} for this source, fix that byte, or convert the file to UTF-8",
    )


FAST_CHUNK = 3 << 20
MAX_DEPTH = 100  # levels of nesting in a JSON record; deeper is a reject (Python's and Arrow's parsers recurse)
_OUTSIDE_SKELETON = bytes(b for b in range(256) if b not in b"{[\r\n")
_DEEP_LINE = re.compile(rb"[{\[]{%d}" % MAX_DEPTH)


def _jsonl_batches(source: SourceConfig, detected: Detected, batch_size: int, shard: Shard) -> Iterator[ReadBatch]:
    """UTF-8 JSONL in chunks of whole lines: Arrow's C++ reader when a chunk is flat string objects,
    the line-by-line reader (with its rejects and exact positions) for any chunk that is not, or that
    Arrow must not see: a line that may nest deeper than MAX_DEPTH (its reader would overflow the stack)
    or a lone CR (which Arrow ends a record at, and the positions below would not count)."""
    for start, chunk, skeleton, ends in _line_chunks(source.path, shard):
        bom = len(codecs.BOM_UTF8) if start == 1 and chunk.startswith(codecs.BOM_UTF8) else 0
        deep, lone_crs = bool(_DEEP_LINE.search(skeleton)), bool(_lone_crs(chunk))
        parsed = None if deep or lone_crs else _arrow_json(chunk[bom:])
        table = None if parsed is None else _flat_strings(parsed)
        if table is not None:
            count = ends + (not chunk.endswith(b"\n"))
            if table.num_rows == count:  # no blank line: a record per line
                positions = np.arange(start, start + count, dtype=np.int64)
            else:
                positions = np.array([start + i for i, line in enumerate(chunk.split(b"\n")) if line.strip()],
                                     np.int64)
            if len(positions) == table.num_rows:
                table = table.append_column(POSITION, pa.array(positions))
                yield from (ReadBatch(batch) for batch in table.to_batches(max_chunksize=batch_size))
                continue
        raw_lines = _universal(io.BytesIO(chunk)) if lone_crs else io.BytesIO(chunk)
        lines = _decode(raw_lines, detected.encoding, start, source.path)
        items = _jsonl_items(lines, source, start, deep=deep, twice=parsed is None)
        yield from _batches(items, source, detected, batch_size)


def _line_chunks(path: Path, shard: Shard) -> Iterator[tuple[int, bytes, bytes, int]]:
    """(number of the first line, bytes of whole lines, their skeleton, line ends among them) of a shard, about
    FAST_CHUNK at a time. The skeleton keeps only `{`, `[` and line ends: one pass of `bytes.translate` that
    counts the lines and shows a line with many opening brackets."""
    line, rest = shard.first_line, b""
    left = float("inf") if shard.end is None else shard.end - shard.start
    with path.open("rb") as handle:
        handle.seek(shard.start)
        while left > 0 and (block := handle.read(int(min(FAST_CHUNK, left)))):
            left -= len(block)
            block = rest + block
            cut = max(block.rfind(b"\n"), block.rfind(b"\r", 0, len(block) - 1)) + 1  # an LF may follow a last CR
            chunk, rest = block[:cut], block[cut:]
            if chunk:
                skeleton = chunk.translate(None, _OUTSIDE_SKELETON)
                ends = skeleton.count(b"\n") + _lone_crs(chunk)
                yield line, chunk, skeleton, ends
                line += ends
    if rest:
        yield line, rest, rest.translate(None, _OUTSIDE_SKELETON), _lone_crs(rest)


def _arrow_json(chunk: bytes) -> pa.Table | None:
    """The chunk as Arrow's JSON reader reads it, or None where it refuses it: a malformed line, invalid UTF-8,
    or a key given twice in any object (which is why a chunk it reads needs no check for repeated keys)."""
    try:
        options = pa_json.ReadOptions(use_threads=False, block_size=max(len(chunk), 1 << 20))  # one batch
        table = pa_json.read_json(io.BytesIO(chunk), read_options=options)
        table.validate(full=True)  # Arrow's JSON reader lets invalid UTF-8 through; the line reader names its line
    except pa.ArrowInvalid:
        return None
    return table


def _flat_strings(table: pa.Table) -> pa.Table | None:
    """The table with string columns when every record was a flat object of strings (or nulls), else None."""
    if not all(pa.types.is_string(t) or pa.types.is_null(t) for t in table.schema.types):
        return None
    return table.cast(pa.schema([pa.field(name, pa.string()) for name in table.column_names]))


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


Item = tuple[int, dict[str, str | None] | RecordError]


def _batches(items: Iterable[Item], source: SourceConfig, detected: Detected, size: int) -> Iterator[ReadBatch]:
    """Groups records into Arrow batches of string columns; a decoding failure names its position."""
    rows: list[dict[str, str | None]] = []
    rejects: list[Reject] = []
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
        if isinstance(record, RecordError):
            rejects.append(_reject(record, position, source, detected))
        else:
            record[POSITION] = position
            rows.append(record)
        if len(rows) + len(rejects) >= size:
            yield _read_batch(rows, rejects, source, detected)
            rows, rejects = [], []
    if rows or rejects:
        yield _read_batch(rows, rejects, source, detected)


def _reject(error: RecordError, position: int, source: SourceConfig, detected: Detected) -> Reject:
    return Reject("read", error.reason, source.name, str(source.path), position, detected.position_kind,
                  error.field, None, error.detail)


def _read_batch(rows: list[dict], rejects: list[Reject], source: SourceConfig, detected: Detected) -> ReadBatch:
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
                rejects.append(_reject(exc, position, source, detected))
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


def _jsonl_items(lines: Iterable[str], source: SourceConfig, start: int = 1, *, deep: bool = True,
                 twice: bool = True) -> Iterator[Item]:
    """JSONL records by line. What the fast reader learnt of a chunk spares checks: `deep`, whether a line may
    hold more than MAX_DEPTH brackets; `twice`, whether a key may be given twice (Arrow refuses that)."""
    decoder = _UNIQUE_KEYS if twice else _JSON
    for number, line in enumerate(lines, start=start):
        if line.strip():
            yield number, _jsonl_record(line.rstrip("\r\n"), decoder, deep)  # an error's column is in the line


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json's object_pairs_hook: a key given twice is a reject (json alone keeps the last value without a word)."""
    record = dict(pairs)
    if len(record) < len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise RecordError("duplicate_key", f"the key '{key}' is given twice in one object", key)
    return record


_JSON, _UNIQUE_KEYS = json.JSONDecoder(), json.JSONDecoder(object_pairs_hook=_unique_keys)  # built once


def _jsonl_record(line: str, decoder: json.JSONDecoder, deep: bool) -> dict[str, str | None] | RecordError:
    """One JSONL line to fields, or the reason it is a reject. Only a line with more than MAX_DEPTH brackets can
    nest that deep, so only such a line is walked."""
    try:
        item = decoder.decode(line)
        if deep and line.count("{") + line.count("[") > MAX_DEPTH:
            _check_shape(item)
        return record_fields(item)
    except json.JSONDecodeError as exc:
        return RecordError("malformed_json", f"{exc.msg} at column {exc.colno}")
    except RecursionError:
        return RecordError("too_deep", f"nested more than {MAX_DEPTH} levels deep")
    except RecordError as exc:
        return exc


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
        nested = []
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


def _json_items(text: io.TextIOBase, source: SourceConfig) -> Iterator[Item]:
    """Streams the items of a top-level JSON array; a broken array is an error (it cannot be resumed)."""
    index = -1
    reader = _Utf8Reader(text)
    try:
        for index, item in enumerate(ijson.items(reader, "item", use_float=True, map_type=_Keys)):
            try:
                _check_shape(item)
                fields = record_fields(item)
                if reader.marked:
                    _check_text(fields)
                yield index, fields
            except RecordError as exc:
                yield index, exc
    except ijson.JSONError as exc:
        reason = exc.args[0] if exc.args else type(exc).__name__
        reason = (reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)).split("\n")[0]
        where = "where the file ends (truncated?)" if "premature EOF" in reason else "at or before this line"
        raise UserError(
            f"the JSON array breaks after item {index}, {where} ({reason.strip()})",
            file=source.path, line=reader.lines + 1,
            remedy="fix the JSON, or write one record per line as JSONL so one bad record is only a reject",
        ) from exc


_SURROGATE_ESCAPE = re.compile(  # a backslash run, then a high surrogate and maybe its low one, or a low one alone
    r"(\\+)u([dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|[dD][c-fC-F][0-9a-fA-F]{2})")


def _mark_lone_surrogates(text: str) -> tuple[str, int]:
    """JSON text with each lone surrogate escape (not part of a pair, not itself escaped) made \\ufffe, and how many:
    yajl would turn one into "?" without a word, while `_check_text` refuses U+FFFE. Most text has no \\ud escape
    at all (CJK escapes are \\u4e00-\\u9fff), and is let through untouched."""
    if "\\ud" not in text and "\\uD" not in text:
        return text, 0
    marked = 0

    def mark(match: re.Match) -> str:
        nonlocal marked
        if len(match[1]) % 2 and len(match[2]) == 4:
            marked += 1
            return match[1] + "ufffe"
        return match[0]

    return _SURROGATE_ESCAPE.sub(mark, text), marked


class _Utf8Reader:
    """Feeds ijson UTF-8 bytes from a text stream of any encoding (ijson parses bytes), counting the lines given
    and the lone surrogates marked (until one is, no item needs the check for them)."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text, self._pending, self._held = text, b"", ""
        self.lines = self.marked = 0

    def read(self, size: int = -1) -> bytes:
        while len(self._pending) < max(size, 1):
            chunk = self._text.read(SNIFF_BYTES)
            if not chunk and not self._held:
                break
            text, self._held = _escape_apart(self._held + chunk, final=not chunk)
            self.lines += text.count("\n")
            text, marked = _mark_lone_surrogates(text)
            self.marked += marked
            self._pending += text.encode("utf-8")
        out, self._pending = (self._pending, b"") if size < 0 else (self._pending[:size], self._pending[size:])
        return out


ESCAPE_CHARACTERS = frozenset("\\u0123456789abcdefABCDEF")


def _escape_apart(text: str, final: bool) -> tuple[str, str]:
    """The text up to its last character that no escape can hold, and the rest, held for the next chunk: a
    surrogate escape, or a pair of them, is never judged in halves."""
    cut = len(text)
    while not final and cut and text[cut - 1] in ESCAPE_CHARACTERS:
        cut -= 1
    return text[:cut], text[cut:]


def _kv_text_items(lines: Iterable[str], source: SourceConfig) -> Iterator[Item]:
    """A text file of key:value blocks separated by blank lines; a block's position is its first line."""
    block: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not block:
                start = number
            block.append(line)
            continue
        if block:
            yield start, _kv_or_error("".join(block))
            block = []
    if block:
        yield start, _kv_or_error("".join(block))


def _kv_or_error(block: str) -> dict[str, str | None] | RecordError:
    try:
        return parse_kv_block(block)
    except RecordError as exc:
        return exc


CSV_CELL_LIMIT = 1 << 24  # characters; the csv module's default of 131,072 stops at a long but real answer


def _csv_items(lines: Iterable[str], source: SourceConfig) -> Iterator[Item]:
    """CSV with or without a header row. A row with the wrong number of cells, or whose quote runs on across
    records, is a reject at its first line; reading goes on from the line after that one, so a stray quote costs
    its own record and never swallows the records after it."""
    csv.field_size_limit(CSV_CELL_LIMIT)
    physical = _Lines(lines)
    first_line = next(physical, None)
    if first_line is None:
        return
    physical.give_back([first_line])
    dialect = _dialect(first_line, source)
    reader = csv.reader(physical, dialect)
    number, columns = 1, None
    while (record := _next_record(reader, physical, dialect)) is not None:
        cells, taken = record
        if isinstance(cells, list) and not any(cell.strip() for cell in cells):
            number += len(taken)  # a blank line
            continue
        if columns is None:
            if isinstance(cells, csv.Error):
                raise UserError(f"the header row cannot be read ({cells})", file=source.path, line=number,
                                remedy="fix the first row, or give header = false and columns = [...]")
            header = _has_header(cells, source)
            columns = cells if header else _columns_without_header(cells, source)
            if not header:
                yield number, _csv_row(cells, columns)
            number += len(taken)
            continue
        problem = _csv_problem(cells, taken, len(columns), dialect)
        if problem is not None:
            yield number, problem
            physical.give_back(taken[1:])  # read again as lines of their own
            number += 1
            continue
        yield number, _csv_row(cells, columns)
        number += len(taken)


class _Lines:
    """Physical lines for the csv reader, keeping those of the record being read, so that after a bad record
    the lines it took beyond its first can be given back and read again."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines, self._back = iter(lines), []
        self.taken: list[str] = []

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        line = self._back.pop() if self._back else next(self._lines)
        self.taken.append(line)
        return line

    def give_back(self, lines: list[str]) -> None:
        self._back.extend(reversed(lines))


def _next_record(reader: Iterator[list[str]], physical: _Lines,
                 dialect: type[csv.Dialect]) -> tuple[list[str] | csv.Error, list[str]] | None:
    """The next record's cells (or the csv module's complaint) and the lines it took; None at the end. The reader
    is strict so that a quote cannot run on silently; a slip within one line (text after a closing quote) is
    read as the csv module reads it by default."""
    physical.taken = []
    try:
        cells = next(reader, None)
    except csv.Error as exc:
        if len(physical.taken) > 1 or "field limit" in str(exc):
            return exc, physical.taken
        cells = next(csv.reader(physical.taken, dialect, strict=False))
    return None if cells is None else (cells, physical.taken)


def _csv_problem(cells: list[str] | csv.Error, taken: list[str], width: int,
                 dialect: type[csv.Dialect]) -> RecordError | None:
    """Why a record is a reject: a cell past the limit, a quote the csv module saw run on over lines, a wrong
    cell count, or a quoted cell holding lines that read as whole rows (a quote that opened a cell and closed
    only in a later record)."""
    if isinstance(cells, csv.Error) and len(taken) == 1:
        return RecordError("cell_too_long", f"a cell longer than {CSV_CELL_LIMIT:,} characters")
    if isinstance(cells, csv.Error):
        what = str(cells)
    elif len(cells) != width:
        what = f"{len(cells)} cells where the header has {width}"
    elif len(taken) > 1 and _swallows_records(taken, cells, width, dialect):
        what = "lines inside its quoted cell read as whole rows"
    else:
        return None
    if len(taken) == 1:
        return RecordError("malformed_row", f"{what} (a stray delimiter or quote?)")
    return RecordError("unclosed_quote", f"a quote opened in this row does not close where the row ends ({what}); "
                                         f"the {len(taken) - 1} lines after it are read as rows of their own")


def _swallows_records(taken: list[str], cells: list[str], width: int, dialect: type[csv.Dialect]) -> bool:
    """Whether a line inside the record's quoted cell reads on its own as a whole row of `width` cells. The last
    line counts only when the last cell is the one that spans lines (else it holds the cells after it). Not for
    two columns, where one comma in a line of prose would look like a row."""
    inside = taken[1:] if "\n" in cells[-1] or "\r" in cells[-1] else taken[1:-1]
    return width > 2 and any(_width(line, dialect) == width for line in inside)


def _width(line: str, dialect: type[csv.Dialect]) -> int:
    try:
        return len(next(csv.reader([line], dialect), []))
    except csv.Error:
        return 0


def _csv_row(cells: list[str], columns: list[str]) -> dict[str, str | None]:
    return {column: cell for column, cell in zip(columns, cells, strict=False) if column}


def _dialect(first_line: str, source: SourceConfig) -> type[csv.Dialect]:
    """The delimiter the first line uses most, of , tab ; | (the setting wins)."""
    counts = {d: first_line.count(d) for d in ",\t;|"}
    delimiter = source.delimiter or max(counts, key=counts.get)
    if not counts.get(delimiter) and not source.delimiter:
        delimiter = "\t" if source.path.suffix.lower() == ".tsv" else ","
    return type("Detected", (csv.excel,), {"delimiter": delimiter, "strict": True})


HEADER_CELL = re.compile(r"[^。？！，；?!;\n]{1,16}")


def _has_header(first: list[str], source: SourceConfig) -> bool:
    """A first row is a header when a cell is a known field name, or every cell reads like a label
    (short, distinct, no sentence punctuation); the user's `header` setting overrides both."""
    if source.header is not None:
        return source.header
    if source.columns:
        return False
    known = BUILTIN[source.kind].keys() | {normalise_key(k) for k in source.mapping}
    if any(normalise_key(cell) in known for cell in first):
        return True
    cells = [cell.strip() for cell in first]
    return len(set(cells)) == len(cells) and all(HEADER_CELL.fullmatch(cell) for cell in cells)


def _columns_without_header(first: list[str], source: SourceConfig) -> list[str]:
    if source.columns:
        if len(source.columns) != len(first):
            raise UserError(
                f"{len(source.columns)} column names given for {len(first)} columns",
                file=source.path, line=1, field="columns", remedy="give one name per column",
            )
        return source.columns
    if source.kind == "qa" and len(first) == 2:
        return ["question", "answer"]
    raise UserError(
        f"the first row does not look like a header and no column names were given ({len(first)} columns)",
        file=source.path,
        line=1,
        remedy="set columns = [\"...\"] for this source in the config, or header = true if the first row is one",
    )
