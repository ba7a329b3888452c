"""JSON lines written by a compiled loop straight from Arrow's UTF-8 buffers: the trainer formats' hot path,
byte for byte what `json.dumps(..., ensure_ascii=False)` gives, except that U+2028/U+2029 are escaped."""

from json.encoder import encode_basestring

import numba
import numpy as np
import pyarrow as pa

from builder.kernels.utf8 import jit, utf8_buffers


def json_string(text: str) -> str:
    """One JSON string, not ASCII-escaped (the C encoder), except U+2028/U+2029: valid raw in JSON, but
    line-splitting readers (str.splitlines, JavaScript) would break a JSONL line there."""
    quoted = encode_basestring(text)
    if "\u2028" in quoted or "\u2029" in quoted:
        quoted = quoted.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return quoted


def json_lines(columns: list[pa.Array | pa.ChunkedArray], frame: list[str], lead: str, between: str,
               end: str) -> np.ndarray:
    """The bytes of one line per row, `frame[0] + json(columns[0]) + frame[1] + … + frame[-1]` (each value as
    `json_string` makes it), with `lead` before the first line, `between` lines and `end` after each."""
    parts, texts, base = [], [], 0
    for data, offsets in map(utf8_buffers, columns):
        texts.append(data[offsets[0]:offsets[-1]])
        parts.append(offsets.astype(np.int64) - offsets[0] + base)
        base += int(offsets[-1] - offsets[0])
    pieces = [piece.encode("utf-8") for piece in frame]
    starts = np.cumsum([0, *map(len, pieces)], dtype=np.int64)
    return _json_lines(np.concatenate(texts), np.stack(parts), np.frombuffer(b"".join(pieces), np.uint8), starts,
                       *(np.frombuffer(text.encode("utf-8"), np.uint8) for text in (lead, between, end)))


@numba.njit(inline="always")
def _put(out: np.ndarray, at: int, data: np.ndarray, start: int, stop: int) -> int:
    for i in range(start, stop):
        out[at] = data[i]
        at += 1
    return at


@numba.njit(inline="always")
def _escape(data: np.ndarray, i: int, end: int) -> int:
    """How `_quote_into` writes the character at data[i]: 0 as it is, 1 backslashed or named (\\n), 2 as
    \\uXXXX (other control characters, and U+2028/U+2029, whose three bytes it replaces)."""
    b = data[i]
    if b >= 0x20 and b != 0x22 and b != 0x5C and (b != 0xE2 or i + 2 >= end or data[i + 1] != 0x80
                                                   or data[i + 2] < 0xA8 or data[i + 2] > 0xA9):
        return 0
    if b == 0x22 or b == 0x5C or b == 0x08 or b == 0x09 or b == 0x0A or b == 0x0C or b == 0x0D:
        return 1
    return 2


@numba.njit(inline="always")
def _quote_into(data: np.ndarray, i: int, end: int, out: np.ndarray, at: int, hexdigits: np.ndarray) -> int:
    """Writes `json_string` of data[i:end] at out[at:] (room for `_quoted_size` bytes is the caller's); returns
    where it ends. '"' and '\\' are backslashed, \\b \\t \\n \\f \\r named, other control characters and
    U+2028/U+2029 written \\uXXXX (lower-case hex), everything else kept."""
    out[at] = 0x22
    at += 1
    while i < end:
        b = data[i]
        if b >= 0x20 and b != 0x22 and b != 0x5C and b != 0xE2:  # most bytes: kept, without asking `_escape`
            out[at] = b
            at += 1
            i += 1
            continue
        escape = _escape(data, i, end)
        i += 1
        if escape == 0:
            out[at] = b
            at += 1
        elif escape == 1:
            out[at] = 0x5C
            out[at + 1] = (b if b == 0x22 or b == 0x5C else 0x62 if b == 0x08 else 0x74 if b == 0x09
                           else 0x6E if b == 0x0A else 0x66 if b == 0x0C else 0x72)
            at += 2
        else:
            point = np.int64(b)
            if b == 0xE2:  # U+2028 or U+2029
                point = 0x2028 + np.int64(data[i + 1]) - 0xA8
                i += 2
            out[at] = 0x5C
            out[at + 1] = 0x75
            for k in range(4):
                out[at + 2 + k] = hexdigits[(point >> (12 - 4 * k)) & 0xF]
            at += 6
    out[at] = 0x22
    return at + 1


@numba.njit(inline="always")
def _quoted_size(data: np.ndarray, i: int, end: int) -> int:
    """The bytes `_quote_into` writes for data[i:end], quotes included."""
    size = 2
    while i < end:
        escape = _escape(data, i, end)
        size += 1 if escape == 0 else 2 if escape == 1 else 6
        i += 3 if escape == 2 and data[i] == 0xE2 else 1
    return size


@jit
def _json_lines(data: np.ndarray, offsets: np.ndarray, frame: np.ndarray, starts: np.ndarray, lead: np.ndarray,
                between: np.ndarray, end: np.ndarray) -> np.ndarray:
    columns: int  # numpy's stubs type a shape's entries Any, and starts[Any] as an array
    columns, rows = offsets.shape[0], offsets.shape[1] - 1
    fixed = len(frame) + len(between) + len(end) + 2 * columns
    lines = np.empty(len(data) + rows * fixed + len(lead) + 64, np.uint8)  # enough unless values need escapes
    hexdigits = np.frombuffer(b"0123456789abcdef", np.uint8)
    at = _put(lines, 0, lead, 0, len(lead))
    exact = False
    for row in range(rows):
        worst = fixed
        for k in range(columns):
            worst += 6 * (offsets[k, row + 1] - offsets[k, row])
        if not exact and at + worst > len(lines):  # near the end, or escapes took the room: size the rest, once
            need = at
            for rest in range(row, rows):
                need += len(frame) + len(end) + (len(between) if rest else 0)
                for k in range(columns):
                    need += _quoted_size(data, offsets[k, rest], offsets[k, rest + 1])
            if need > len(lines):
                bigger = np.empty(need, np.uint8)
                bigger[:at] = lines[:at]
                lines = bigger
            exact = True
        if row:
            at = _put(lines, at, between, 0, len(between))
        for k in range(columns):
            at = _put(lines, at, frame, starts[k], starts[k + 1])
            at = _quote_into(data, offsets[k, row], offsets[k, row + 1], lines, at, hexdigits)
        at = _put(lines, at, frame, starts[columns], starts[columns + 1])
        at = _put(lines, at, end, 0, len(end))
    return lines[:at]
