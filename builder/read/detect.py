"""Detection: a file's encoding and container, found from the file itself and never guessed silently, and its
lines decoded strictly (a line that does not decode is an error naming it)."""

import codecs
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from builder.config import SourceConfig
from builder.errors import UserError
from builder.read.records import CUT_SHORT, Detected

SNIFF_BYTES = 1 << 16


DETECTABLE = ("utf-8", "gb18030")


RECORD_FORMATS = ("sharegpt", "alpaca", "messages")  # shapes of QA records inside JSON or JSONL


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
    """The container (a reader's name: csv, json, jsonl, kv, or a plug-in's) from the setting, the first character
    (`[`, `{`), or the extension."""
    from builder.read.readers import known_readers
    readers = known_readers()
    if declared in readers:
        return declared
    names = "|".join(readers)
    head = path.open("rb").read(SNIFF_BYTES)
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UserError("unknown format: the file is binary", file=path,
                        remedy=f"give a file one of the readers reads (format = {names})")
    first = _first_character(head)
    if not first and len(head) < SNIFF_BYTES:  # nothing but a BOM and white space
        raise UserError("the file is empty", file=path, remedy="give a file that holds records, or leave this source out")
    by_content = {reader.first: name for name, reader in readers.items() if reader.first}
    if first in by_content:
        return by_content[first]
    by_suffix = {suffix: name for name, reader in readers.items() if not reader.first for suffix in reader.suffixes}
    if path.suffix.lower() in by_suffix:
        return by_suffix[path.suffix.lower()]
    suffixes = "/".join(suffix for reader in readers.values() for suffix in reader.suffixes)
    raise UserError(
        f"unknown format: cannot tell the format of a '{path.suffix or 'no extension'}' file",
        file=path,
        remedy=f"name it {suffixes} or set format = {names} for this source",
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
    from builder.read.readers import known_readers
    return Detected(container, detect_encoding(path, source.encoding), known_readers()[container].position_kind)


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


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False
