"""Readers: any supported file in, batches of raw records (string fields + position) out.

Formats and encodings are detected from the file itself, recorded, and never guessed silently: a file that is
neither UTF-8 nor GB18030 (nor UTF-16 with a BOM), or that stops decoding half-way, is a clear error; a damaged
record is a reject with its reason and line. Each format is a `Reader` in the registry (`readers`): `detect`
finds the file's encoding and container, `records` turns items into fields and batches, and `jsonl`,
`jsonarray` and `text` read their formats.
"""

from builder.read.detect import RECORD_FORMATS, SNIFF_BYTES, decoded_lines, detect, detect_container, detect_encoding
from builder.read.jsonl import WHOLE, Shard, shards
from builder.read.readers import Reader, known_readers, line_reader, read_source
from builder.read.records import (
                                  Detected,
                                  ReadBatch,
                                  RecordError,
                                  as_text,
                                  conversation_fields,
                                  parse_kv_block,
                                  record_fields,
                                  unreadable,
)

__all__ = ["RECORD_FORMATS", "SNIFF_BYTES", "WHOLE", "Detected", "ReadBatch", "Reader",
           "RecordError", "Shard", "as_text", "conversation_fields", "decoded_lines", "detect", "detect_container",
           "detect_encoding", "known_readers", "line_reader", "parse_kv_block", "read_source", "record_fields",
           "shards", "unreadable"]
