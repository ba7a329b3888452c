"""JSON arrays: streamed item by item (ijson), never loaded whole."""

import io
import re
from collections.abc import Iterator

import ijson

from builder.config import SourceConfig
from builder.errors import UserError
from builder.read.detect import SNIFF_BYTES
from builder.read.records import Item, RecordError, _check_shape, _check_text, _Keys, record_fields


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
                yield index, exc.drop
        if reader.last != "]":  # ijson ends quietly inside a string left open after the array
            raise ijson.JSONError("text after the array, or an array that does not end")
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
        self.last = ""  # the last character that is not white space: a whole array ends with "]"

    def read(self, size: int = -1) -> bytes:
        while len(self._pending) < max(size, 1):
            chunk = self._text.read(SNIFF_BYTES)
            if not chunk and not self._held:
                break
            text, self._held = _escape_apart(self._held + chunk, final=not chunk)
            self.lines += text.count("\n")
            self.last = text.rstrip(JSON_SPACE)[-1:] or self.last
            text, marked = _mark_lone_surrogates(text)
            self.marked += marked
            self._pending += text.encode("utf-8")
        out, self._pending = (self._pending, b"") if size < 0 else (self._pending[:size], self._pending[size:])
        return out


ESCAPE_CHARACTERS = frozenset("\\u0123456789abcdefABCDEF")
JSON_SPACE = " \t\r\n\x0b\x0c"  # what the parser skips between values (VT and FF included)


def _escape_apart(text: str, final: bool) -> tuple[str, str]:
    """The text up to its last character that no escape can hold, and the rest, held for the next chunk: a
    surrogate escape, or a pair of them, is never judged in halves."""
    cut = len(text)
    while not final and cut and text[cut - 1] in ESCAPE_CHARACTERS:
        cut -= 1
    return text[:cut], text[cut:]
