"""JSONL: the fast path (Arrow's JSON reader over chunks of whole lines, in shards that workers read apart) and
the line-by-line path for what Arrow refuses."""

import codecs
import io
import itertools
import mmap
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

from builder.config import SourceConfig
from builder.memory import release_pages
from builder.read.detect import _decode, _lone_crs, _universal
from builder.read.records import (
    _JSON,
    _UNIQUE_KEYS,
    MAX_DEPTH,
    Detected,
    Item,
    ReadBatch,
    _batches,
    _jsonl_record,
)
from builder.rows import POSITION


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
        release_pages(mapped, first, at + size - first)
    return count


def _fast_jsonl(detected: Detected) -> bool:
    return detected.container == "jsonl" and codecs.lookup(detected.encoding).name in ("utf-8", "utf-8-sig")


FAST_CHUNK = 3 << 20


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
    except (pa.ArrowInvalid, UnicodeDecodeError):  # invalid UTF-8 in a key fails as Arrow names the field
        return None
    return table


def _flat_strings(table: pa.Table) -> pa.Table | None:
    """The table with string columns when every record was a flat object of strings (or nulls), else None."""
    if not all(pa.types.is_string(t) or pa.types.is_null(t) for t in table.schema.types):
        return None
    return table.cast(pa.schema([pa.field(name, pa.string()) for name in table.column_names]))


def _jsonl_items(lines: Iterable[str], source: SourceConfig, start: int = 1, *, deep: bool = True,
                 twice: bool = True) -> Iterator[Item]:
    """JSONL records by line. What the fast reader learnt of a chunk spares checks: `deep`, whether a line may
    hold more than MAX_DEPTH brackets; `twice`, whether a key may be given twice (Arrow refuses that)."""
    decoder = _UNIQUE_KEYS if twice else _JSON
    for number, line in enumerate(lines, start=start):
        if line.strip():
            yield number, _jsonl_record(line.rstrip("\r\n"), decoder, deep)  # an error's column is in the line
