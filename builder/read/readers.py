"""The reader registry: each file format by name, the suffixes and first character that mean it, and how it reads
a source into batches. A plug-in adds one through the entry-point group `qizhen_instructions.readers`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache

from builder.config import SourceConfig
from builder.read.detect import _open_text, decoded_lines
from builder.read.jsonarray import _json_items
from builder.read.jsonl import WHOLE, Shard, _fast_jsonl, _jsonl_batches, _jsonl_items
from builder.read.records import Detected, Item, ReadBatch, _batches
from builder.read.text import _csv_items, _kv_text_items
from builder.registry import with_plugins

Read = Callable[[SourceConfig, Detected, int], Iterator[ReadBatch]]


@dataclass(frozen=True)
class Reader:
    """A file format: its name (`format = NAME`), the suffixes that mean it, the first character that means it
    whatever the suffix (`[` for a JSON array), how it reads a source, and what a position counts."""

    name: str
    suffixes: tuple[str, ...]
    read: Read
    first: str | None = None
    position_kind: str = "line"


def line_reader(items: Callable[[Iterable[str], SourceConfig], Iterator[Item]]) -> Read:
    """A reader from a function that turns a text file's decoded lines into numbered records (line, fields) or
    (line, `unreadable(reason, detail)`): decoding, batching and rejects come with it."""
    def read(source: SourceConfig, detected: Detected, batch_size: int) -> Iterator[ReadBatch]:
        yield from _batches(items(decoded_lines(source.path, detected.encoding), source), source, detected, batch_size)
    return read


def _read_json(source: SourceConfig, detected: Detected, batch_size: int) -> Iterator[ReadBatch]:
    with _open_text(source.path, detected.encoding) as text:
        yield from _batches(_json_items(text, source), source, detected, batch_size)


def _read_jsonl(source: SourceConfig, detected: Detected, batch_size: int) -> Iterator[ReadBatch]:
    if _fast_jsonl(detected):
        yield from _jsonl_batches(source, detected, batch_size, WHOLE)
    else:
        yield from line_reader(_jsonl_items)(source, detected, batch_size)


BUILTIN_READERS = {reader.name: reader for reader in (
    Reader("csv", (".csv", ".tsv"), line_reader(_csv_items)),
    Reader("json", (".json",), _read_json, first="[", position_kind="index"),
    Reader("jsonl", (".jsonl", ".ndjson"), _read_jsonl, first="{"),
    Reader("kv", (".txt",), line_reader(_kv_text_items)),
)}


@cache
def known_readers() -> dict[str, Reader]:
    """The built-in readers, then the plug-ins' (loaded on first use, so that a plug-in may import this module)."""
    return with_plugins("readers", BUILTIN_READERS, Reader)


def read_source(source: SourceConfig, detected: Detected, batch_size: int, shard: Shard = WHOLE) -> Iterator[ReadBatch]:
    """Streams a source (or one shard of a UTF-8 JSONL file) as batches of raw records; malformed records come back
    as rejects."""
    if shard != WHOLE:
        if not _fast_jsonl(detected):
            raise ValueError(f"{source.path}: only UTF-8 JSONL files are read in shards")
        yield from _jsonl_batches(source, detected, batch_size, shard)
        return
    yield from known_readers()[detected.container].read(source, detected, batch_size)
