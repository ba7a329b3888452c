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
    """BOM first, then UTF-8, then GB18030, judged on the head of the file; the rest is checked while reading."""
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
    for encoding in DETECTABLE:
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=len(head) < SNIFF_BYTES)
            return encoding
        except UnicodeDecodeError:
            continue
    raise UserError(
        "the file is neither UTF-8 nor GB18030 (wrong encoding)",
        file=path,
        remedy="convert it to UTF-8, or set encoding = \"...\" for this source in the config",
    )


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
    first = head.lstrip(codecs.BOM_UTF8).lstrip()[:1]
    if not first and len(head) < SNIFF_BYTES:  # nothing but a BOM and white space
        raise UserError("the file is empty", file=path, remedy="give a file that holds records, or leave this source out")
    if first == b"[":
        return "json"
    if first == b"{":
        return "jsonl"
    container = CONTAINERS.get(path.suffix.lower())
    if container in ("csv", "kv"):
        return container
    raise UserError(
        f"unknown format: cannot tell the format of a '{path.suffix or 'no extension'}' file",
        file=path,
        remedy="name it .csv/.json/.jsonl/.txt or set format = csv|json|jsonl|kv for this source",
    )


def detect(source: SourceConfig) -> Detected:
    """Checks the file exists and finds its container and encoding."""
    path = source.path
    if not path.is_file():
        raise UserError("no such file", file=path, remedy="check the path given to --kb/--qa or in the config")
    container = detect_container(path, source.format)
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
    """Line ends in a byte range of a mapped file, counted in numpy a block at a time (no copy to Python bytes);
    each block's pages are let go once counted, so the file's size never shows in this process's memory."""
    count = 0
    for at in range(start, end, 1 << 24):
        block = np.frombuffer(mapped, np.uint8, min(1 << 24, end - at), at)
        count += int(np.count_nonzero(block == 10))
        del block  # the map cannot close while a view of it lives
        first = at - at % mmap.PAGESIZE
        if RELEASE_PAGES:
            mapped.madvise(mmap.MADV_DONTNEED, first, min(at + (1 << 24), end) - first)
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
    """Lines decoded one by one, so a byte that does not decode is reported with its exact line."""
    if codecs.lookup(encoding).name.startswith("utf-16"):
        with _open_text(path, encoding) as text:
            yield from text
        return
    with path.open("rb") as handle:
        yield from _decode(handle, encoding, 1, path)


def _decode(raw_lines: Iterable[bytes], encoding: str, start: int, path: Path) -> Iterator[str]:
    first_encoding = encoding
    encoding = "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding
    for number, raw in enumerate(raw_lines, start=start):
        try:
            yield raw.decode(first_encoding if number == 1 else encoding)
        except UnicodeDecodeError as exc:
            guess = next((e for e in DETECTABLE if e != encoding and _decodes(raw, e)), None)
            hint = f"it looks like {guess}: set encoding = \"{guess}\"" if guess else "set the file's real encoding"
            raise UserError(
                f"cannot decode as {encoding} at byte {exc.start} of the line ({exc.reason}): wrong encoding",
                file=path, line=number, remedy=f"{hint} for this source, or convert the file to UTF-8",
            ) from exc


FAST_CHUNK = 3 << 20


def _jsonl_batches(source: SourceConfig, detected: Detected, batch_size: int, shard: Shard) -> Iterator[ReadBatch]:
    """UTF-8 JSONL in chunks of whole lines: Arrow's C++ reader when a chunk is flat string objects,
    the line-by-line reader (with its rejects and exact positions) for any chunk that is not."""
    for start, chunk, newlines in _line_chunks(source.path, shard):
        bom = len(codecs.BOM_UTF8) if start == 1 and chunk.startswith(codecs.BOM_UTF8) else 0
        table = _flat_strings(chunk[bom:])
        if table is None:
            lines = _decode(io.BytesIO(chunk), detected.encoding, start, source.path)
            yield from _batches(_jsonl_items(lines, source, start), source, detected, batch_size)
            continue
        count = newlines + (not chunk.endswith(b"\n"))
        if table.num_rows == count:  # no blank line: a record per line
            positions = np.arange(start, start + count, dtype=np.int64)
        else:
            positions = np.array([start + i for i, line in enumerate(chunk.split(b"\n")) if line.strip()], np.int64)
        if len(positions) != table.num_rows:
            lines = _decode(io.BytesIO(chunk), detected.encoding, start, source.path)
            yield from _batches(_jsonl_items(lines, source, start), source, detected, batch_size)
            continue
        table = table.append_column(POSITION, pa.array(positions))
        for batch in table.to_batches(max_chunksize=batch_size):
            yield ReadBatch(batch)


def _line_chunks(path: Path, shard: Shard) -> Iterator[tuple[int, bytes, int]]:
    """(number of the first line, bytes of whole lines, line ends among them) of a shard, about FAST_CHUNK
    at a time."""
    line, rest = shard.first_line, b""
    left = float("inf") if shard.end is None else shard.end - shard.start
    with path.open("rb") as handle:
        handle.seek(shard.start)
        while left > 0 and (block := handle.read(int(min(FAST_CHUNK, left)))):
            left -= len(block)
            block = rest + block
            cut = block.rfind(b"\n") + 1
            chunk, rest = block[:cut], block[cut:]
            if chunk:
                newlines = chunk.count(b"\n")
                yield line, chunk, newlines
                line += newlines
    if rest:
        yield line, rest, 0


def _flat_strings(chunk: bytes) -> pa.Table | None:
    """The chunk as a table when every line is a flat object of strings (or nulls), else None."""
    try:
        options = pa_json.ReadOptions(use_threads=False, block_size=max(len(chunk), 1 << 20))  # one batch
        table = pa_json.read_json(io.BytesIO(chunk), read_options=options)
        table.validate(full=True)  # Arrow's JSON reader lets invalid UTF-8 through; the line reader names its line
    except pa.ArrowInvalid:
        return None
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
            raise UserError(
                f"cannot decode as {detected.encoding} after item {position} ({exc.reason}): wrong encoding",
                file=source.path,
                remedy="set the file's real encoding (encoding = \"gb18030\"?) for this source, or convert it to UTF-8",
            ) from exc
        if item is None:
            break
        position, record = item
        if isinstance(record, RecordError):
            rejects.append(
                Reject("read", record.reason, source.name, str(source.path), position,
                       detected.position_kind, record.field, None, record.detail)
            )
        else:
            record[POSITION] = position
            rows.append(record)
        if len(rows) + len(rejects) >= size:
            yield ReadBatch(_to_batch(rows), rejects)
            rows, rejects = [], []
    if rows or rejects:
        yield ReadBatch(_to_batch(rows), rejects)


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


def _jsonl_items(lines: Iterable[str], source: SourceConfig, start: int = 1) -> Iterator[Item]:
    for number, line in enumerate(lines, start=start):
        if not line.strip():
            continue
        try:
            yield number, record_fields(json.loads(line.rstrip("\r\n")))  # an error's column is in the line
        except json.JSONDecodeError as exc:
            yield number, RecordError("malformed_json", f"{exc.msg} at column {exc.colno}")
        except RecordError as exc:
            yield number, exc


def _json_items(text: io.TextIOBase, source: SourceConfig) -> Iterator[Item]:
    """Streams the items of a top-level JSON array; a broken array is an error (it cannot be resumed)."""
    index = -1
    try:
        for index, item in enumerate(ijson.items(_Utf8Reader(text), "item", use_float=True)):
            try:
                yield index, record_fields(item)
            except RecordError as exc:
                yield index, exc
    except ijson.JSONError as exc:
        raise UserError(
            f"the JSON array breaks after item {index} ({exc})",
            file=source.path,
            remedy="fix the JSON, or write one record per line as JSONL so one bad record is only a reject",
        ) from exc


class _Utf8Reader:
    """Feeds ijson UTF-8 bytes from a text stream of any encoding (ijson parses bytes)."""

    def __init__(self, text: io.TextIOBase) -> None:
        self._text, self._pending = text, b""

    def read(self, size: int = -1) -> bytes:
        while len(self._pending) < max(size, 1):
            chunk = self._text.read(SNIFF_BYTES)
            if not chunk:
                break
            self._pending += chunk.encode("utf-8")
        out, self._pending = (self._pending, b"") if size < 0 else (self._pending[:size], self._pending[size:])
        return out


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


def _csv_items(lines: Iterable[str], source: SourceConfig) -> Iterator[Item]:
    """CSV with or without a header row; a row with the wrong number of cells is a reject."""
    lines = iter(lines)
    first_line = next(lines, "")
    reader = csv.reader(itertools.chain([first_line], lines), _dialect(first_line, source))
    first = next(reader, None)
    if first is None:
        return
    header = _has_header(first, source)
    columns = first if header else _columns_without_header(first, source)
    if not header:
        yield 1, _csv_row(first, columns)
    previous = reader.line_num
    for cells in reader:
        start, previous = previous + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            yield start, RecordError(
                "malformed_row", f"{len(cells)} cells where the header has {len(columns)} (a stray delimiter or quote?)"
            )
            continue
        yield start, _csv_row(cells, columns)


def _csv_row(cells: list[str], columns: list[str]) -> dict[str, str | None]:
    return {column: cell for column, cell in zip(columns, cells) if column}


def _dialect(first_line: str, source: SourceConfig) -> type[csv.Dialect]:
    """The delimiter the first line uses most, of , tab ; | (the setting wins)."""
    counts = {d: first_line.count(d) for d in ",\t;|"}
    delimiter = source.delimiter or max(counts, key=counts.get)
    if not counts.get(delimiter) and not source.delimiter:
        delimiter = "\t" if source.path.suffix.lower() == ".tsv" else ","
    return type("Detected", (csv.excel,), {"delimiter": delimiter})


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
