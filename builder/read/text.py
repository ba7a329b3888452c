"""Text files: CSV (header or not, any delimiter, a stray quote costing only its own row) and key:value blocks."""

import csv
import re
from collections.abc import Iterable, Iterator
from typing import cast

from builder.config import SourceConfig
from builder.errors import UserError
from builder.ledger import Drop
from builder.read.records import Item, RecordError, parse_kv_block, unreadable
from builder.validate.fields import BUILTIN, normalise_key


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


def _kv_or_error(block: str) -> dict[str, str | None] | Drop:
    try:
        return parse_kv_block(block)
    except RecordError as exc:
        return exc.drop


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
        yield number, _csv_row(cast(list[str], cells), columns)  # a csv.Error is always a problem
        number += len(taken)


class _Lines:
    """Physical lines for the csv reader, keeping those of the record being read, so that after a bad record
    the lines it took beyond its first can be given back and read again."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self._back: list[str] = []
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
                 dialect: type[csv.Dialect]) -> Drop | None:
    """Why a record is a reject: a cell past the limit, a quote the csv module saw run on over lines, a wrong
    cell count, or a quoted cell holding lines that read as whole rows (a quote that opened a cell and closed
    only in a later record)."""
    if isinstance(cells, csv.Error) and len(taken) == 1:
        return unreadable("cell_too_long", f"a cell longer than {CSV_CELL_LIMIT:,} characters")
    if isinstance(cells, csv.Error):
        what = str(cells)
    elif len(cells) != width:
        what = f"{len(cells)} cells where the header has {width}"
    elif len(taken) > 1 and _swallows_records(taken, cells, width, dialect):
        what = "lines inside its quoted cell read as whole rows"
    else:
        return None
    if len(taken) == 1:
        return unreadable("malformed_row", f"{what} (a stray delimiter or quote?)")
    return unreadable("unclosed_quote", f"a quote opened in this row does not close where the row ends ({what}); "
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
    delimiter = source.delimiter or max(counts, key=counts.__getitem__)
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
