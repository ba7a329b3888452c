"""Trainer formats, written table by table from output rows as Arrow tables arrive, and the preference formats when
the build has preference pairs (`builder.export.dataset_info` names them for LLaMA-Factory). Every file is UTF-8,
not ASCII-escaped (only U+2028/U+2029 are, so no reader splits a line inside a row), a row per line:

* `alpaca/{split}.json` (always) and `.jsonl` (`alpaca_jsonl`): {"instruction", "input", "output"}, the first a list;
* `sharegpt/{split}.json`: a list of {"conversations": [{"from": "human", "value"}, {"from": "gpt", "value"}]};
* `messages/{split}.jsonl`: {"messages": [system?, user, assistant]}, each {"role", "content"};
* `prompt_completion/{split}.jsonl`: TRL's {"prompt": [system?, user], "completion": [assistant]};
* `preference/{split}.json`: LLaMA-Factory's ranking form, {"instruction", "input", "chosen", "rejected", "system",
  "history"}; `dpo/{split}.jsonl`: TRL's {"prompt": [system?, user], "chosen": [assistant], "rejected": [assistant]}.

The Alpaca files keep `instruction` and `input` apart: Chinese-LLaMA-Alpaca (`scripts/training/build_dataset.py`,
which QiZhen trained with) and LLaMA-Factory join them as `instruction + "\n" + input`, the user turn of every
other format, so all train on identical prompts. The build's system prompt goes only into messages,
prompt_completion and dpo (Chinese-LLaMA-Alpaca has none).

Richer instruction types (`builder.expand.types`): a preference pair (`rejected` set; `output` is the chosen answer)
is never an SFT row, only in `preference/` and `dpo/`, for each split that has one. A row's own system prompt (a
grounded row's) is the `system` key of the Alpaca and ShareGPT rows (LLaMA-Factory's `system` column) and the system
message of the others, after the build's and a blank line (`chat.joined_system`). A consultation's `history` turns
come before its last question (LLaMA-Factory's `history` column in the Alpaca files); in prompt_completion they are
prompt (TRL trains the last answer there), every other format trains every answer, as the chat check proves.
A key found only in a later block breaks `datasets`' block-wise JSON reader, so an Alpaca or ShareGPT file has
`system` (and `history`) in every row or none: every row when the build has types beyond `single` (`rich`: a plain
row has "system": "", "history": []), else none, so a build of single rows writes what it wrote before types.

Single-turn rows and rows with only a system prompt of their own are written by the compiled `json_lines` loop;
rows with earlier turns and the preference rows by Python's JSON encoder with the same conventions, each in its
place: a file holds its rows in the Parquet's order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import BinaryIO, Literal, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from builder.export import chat
from builder.kernels.jsonlines import json_lines, json_string
from builder.registry import with_plugins
from builder.rows import prompt_column

Parts = tuple[list[pa.Array | pa.ChunkedArray], list[str]]
RowObject = Callable[[dict, str | None], dict]  # a row (its columns as Python values) and the build's system prompt
ROW_COLUMNS = ("instruction", "input", "output", "system", "history", "rejected")  # what `Format.row` reads


def _alpaca_parts(own_system: bool) -> Callable[[pa.Table, str | None], Parts]:
    """The Alpaca frame; with `own_system`, for rows with a system prompt of their own."""
    names = ("instruction", "input", "output", "system")[:4 if own_system else 3]
    return lambda table, _system: ([table[name] for name in names],
                                   ['{"instruction": ', ', "input": ', ', "output": ',
                                    *([', "system": '] if own_system else []), "}"])


def _sharegpt_parts(own_system: bool) -> Callable[[pa.Table, str | None], Parts]:
    """The ShareGPT frame; with `own_system`, for rows with a system prompt of their own."""
    tail = ['}], "system": ', "}"] if own_system else ["}]}"]
    return lambda table, _system: ([prompt_column(table), table["output"], *([table["system"]] if own_system else [])],
                                   ['{"conversations": [{"from": "human", "value": ', '}, {"from": "gpt", "value": ',
                                    *tail])


def _chat_parts(before: str, between: str, own_system: bool) -> Callable[[pa.Table, str | None], Parts]:
    """A messages-like frame, `before` [system,] user `between` assistant: the build's system prompt as a constant
    head, or (`own_system`) each row's system turn, the build's and its own (`chat.joined_system`), as a column."""
    def parts(table: pa.Table, system: str | None) -> Parts:
        columns = [prompt_column(table), table["output"]]
        if own_system:
            own = table["system"].combine_chunks().cast(pa.string())
            joined = pc.binary_join_element_wise(pa.scalar(system), own, "\n\n") if system else own
            return ([joined, *columns], [f'{before}{{"role": "system", "content": ', '}, {"role": "user", "content": ',
                                         between, "}]}"])
        head = f'{{"role": "system", "content": {json_string(system)}}}, ' if system else ""
        return columns, [f'{before}{head}{{"role": "user", "content": ', between, "}]}"]
    return parts


_MESSAGES = ('{"messages": [', '}, {"role": "assistant", "content": ')
_PROMPT_COMPLETION = ('{"prompt": [', '}], "completion": [{"role": "assistant", "content": ')


def _alpaca_row(row: dict, _system: str | None, ranking: bool = False) -> dict:
    """An Alpaca row, or (`ranking`) LLaMA-Factory's Alpaca ranking row of a preference pair."""
    answers = {"chosen": row["output"], "rejected": row["rejected"]} if ranking else {"output": row["output"]}
    return {"instruction": row["instruction"], "input": row.get("input") or "", **answers,
            "system": row.get("system") or "", "history": [list(turn) for turn in row.get("history") or ()]}


def _sharegpt_row(row: dict, _system: str | None) -> dict:
    turns = [{"from": speaker, "value": text} for turn in row.get("history") or ()
             for speaker, text in zip(("human", "gpt"), turn, strict=True)]
    return {"conversations": [*turns, {"from": "human", "value": chat.row_prompt(row)},
                              {"from": "gpt", "value": row["output"]}], "system": row.get("system") or ""}


def _talk_row(*keys: str) -> RowObject:
    """A messages-like row: its conversation (one key), or its prompt, answer (and rejected answer)."""
    def row_object(row: dict, system: str | None) -> dict:
        talk = chat.row_messages(row, system)
        rejected = [{"role": "assistant", "content": row.get("rejected")}]
        return dict(zip(keys, [talk] if len(keys) == 1 else [talk[:-1], talk[-1:], rejected], strict=False))
    return row_object


def _dumps(value: object) -> bytes:
    """JSON as `json_lines` writes it: not ASCII-escaped, U+2028/U+2029 escaped, ", " and ": " separators."""
    text = json.dumps(value, ensure_ascii=False)
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode("utf-8")


@dataclass(frozen=True)
class Format:
    """A trainer format: where its files go (`.json`: a JSON list, a row per line; `.jsonl`: a row per line), how a
    row becomes a line and its LLaMA-Factory entry apart from `file_name`. `parts` frames single-turn rows for the
    compiled loop, `system_parts` rows with a system prompt of their own; `row` makes the JSON object of any other
    row (every row without `parts`). `keys`: what a row of a richer build has, with a plain row's value (columns of
    LLaMA-Factory's entry too). `rows`: SFT rows (preference pairs left out) or preference pairs."""

    name: str
    folder: str
    suffix: str
    parts: Callable[[pa.Table, str | None], Parts] | None  # a line: the JSON of these columns between these texts
    llama_factory: dict = field(default_factory=dict)
    row: RowObject | None = None
    keys: dict = field(default_factory=dict)
    rows: Literal["sft", "preference"] = "sft"
    system_parts: Callable[[pa.Table, str | None], Parts] | None = None

    @property
    def listed(self) -> bool:
        return self.suffix == ".json"

    def path(self, out_dir: Path, split: str) -> Path:
        return Path(out_dir) / self.folder / f"{split}{self.suffix}"

    def chosen(self, table: pa.Table) -> np.ndarray | None:
        """Which rows of a table this format holds (SFT rows, or preference pairs); None when it holds them all."""
        pairs = chat.preference_rows(table)
        if self.rows == "preference":
            return pairs if pairs is not None else np.zeros(table.num_rows, bool)
        return None if pairs is None else ~pairs

    def render(self, table: pa.Table, target: BinaryIO | HashingFile, system: str | None = None,
               rich: bool = False, rows: np.ndarray | None = None) -> None:
        """Writes a table's rows (those `rows` marks, when given: see `chosen`) as a piece of the file (no list
        brackets) to `target`; any process can, RENDER_ROWS rows at a time, so memory does not grow with the table.
        With `rich`, every row has this format's `keys`."""
        # json_lines gives a uint8 array, a buffer; numpy's stubs declare ndarray.__buffer__ only for Python 3.12+
        kinds, started = self._kinds(table, rows), False
        for start in range(0, table.num_rows, RENDER_ROWS):
            piece, how = table.slice(start, RENDER_ROWS), None if kinds is None else kinds[start:start + RENDER_ROWS]
            if how is not None and not (how >= 0).any():
                continue
            lead, between, end = (",\n" if started else "", ",\n", "") if self.listed else ("", "", "\n")
            started = True
            if how is None:  # every row single-turn and held: the compiled loop alone
                columns, frame = self._frame(self.parts, piece, system, rich)  # type: ignore[arg-type]
                target.write(json_lines(columns, frame, lead, between, end))  # type: ignore[call-overload]
                continue
            lines = [b""] * piece.num_rows  # each row's line made its way, in its place
            for kind, make in enumerate((self.parts, self.system_parts, None)):
                if len(where := np.flatnonzero(how == kind)):
                    for at, line in zip(where.tolist(), self._lines(make, piece, where, system, rich), strict=True):
                        lines[at] = line
            target.write(_joined([lines[at] for at in np.flatnonzero(how >= 0).tolist()], lead, between, end))

    def _kinds(self, table: pa.Table, rows: np.ndarray | None) -> np.ndarray | None:
        """How each row is written: 0 by `parts`, 1 by `system_parts`, 2 by `row`, -1 not at all (not held); None when
        all by `parts`."""
        if self.parts is None:
            kinds = np.full(table.num_rows, 2, np.int8)
        else:
            fuller = chat.context_rows(table) if self.row is not None else None
            if fuller is None and rows is None:
                return None
            kinds = np.zeros(table.num_rows, np.int8)
            if fuller is not None:  # earlier turns go to `row`; only a system prompt of its own, to `system_parts`
                turns = chat.history_rows(table)
                kinds[fuller] = 2 if self.system_parts is None or turns is None else np.where(turns[fuller], 2, 1)
        if rows is not None:
            kinds[~rows] = -1
        return kinds

    def _frame(self, make: Callable[[pa.Table, str | None], Parts], table: pa.Table, system: str | None,
               rich: bool) -> Parts:
        """`make`'s columns and frame, with a plain row's `keys` that the frame lacks before its closing brace when
        `rich`."""
        columns, frame = make(table, system)
        if rich and self.keys:
            said, last = "".join(frame), frame[-1]
            assert last.endswith("}"), f"format {self.name}: a row's frame must end with the object's closing brace"
            frame = [*frame[:-1], last[:-1] + "".join(f", {json_string(key)}: {_dumps(value).decode('utf-8')}"
                                                      for key, value in self.keys.items()
                                                      if f"{json_string(key)}: " not in said) + "}"]
        return columns, frame

    def _lines(self, make: Callable[[pa.Table, str | None], Parts] | None, piece: pa.Table, where: np.ndarray,
               system: str | None, rich: bool) -> list[bytes]:
        """The lines of the rows at `where`: framed by `make`, or from `row` (then, without `rich`, a key of `keys`
        only where it says something)."""
        rows = piece.take(pa.array(where, pa.int64()))
        if make is not None:
            return bytes(json_lines(*self._frame(make, rows, system, rich), "", "", "\n")).split(b"\n")[:-1]
        assert self.row is not None, f"format {self.name} gives neither parts nor row"
        objects = [self.row(record, system) for record in
                   rows.select([name for name in ROW_COLUMNS if name in rows.column_names]).to_pylist()]
        return [_dumps(value if rich else {key: item for key, item in value.items() if key not in self.keys or item})
                for value in objects]


def _joined(lines: list[bytes], lead: str, between: str, end: str) -> bytes:
    """Lines as `json_lines` frames them: `lead` before the first, `between` lines, `end` after each."""
    return lead.encode() + (between + end).encode().join(lines) + end.encode() if lines else b""


RENDER_ROWS = 20_000


class HashingFile:
    """A file opened for writing that hashes what is written to it, so its sha256 needs no second read."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")
        self._digest = hashlib.sha256()

    def write(self, data: bytes | np.ndarray) -> None:
        self._digest.update(data)  # type: ignore[arg-type]  # a buffer: see Format.render
        self._file.write(data)  # type: ignore[arg-type]

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


class FormatWriter:
    """One split of one format, written table by table (`write`) and hashed as it goes (`sha256`), so the manifest
    does not read the file back. `rich`: whether the build has types beyond `single` (every row has the format's
    `keys`); None decides it from the first table (a build should say, so that all its files agree). A preference
    format's file is made only when a pair comes."""

    def __init__(self, spec: Format, out_dir: Path, split: str, system: str | None = None,
                 rich: bool | None = None) -> None:
        self.spec, self.system, self.rich, self.rows = spec, system, rich, 0
        self.path = spec.path(out_dir, split)
        self._file: HashingFile | None = None
        if spec.rows != "preference":
            self._open()

    def _open(self) -> HashingFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = HashingFile(self.path)
        if self.spec.listed:
            self._file.write(b"[")
        return self._file

    def write(self, table: pa.Table) -> None:
        """Appends a table's rows (those of this format), after the separator from the rows before them."""
        if self.rich is None and table.num_rows:
            self.rich = chat.has_richer_types(table)
        rows = self.spec.chosen(table)
        count = table.num_rows if rows is None else int(rows.sum())
        if not count:
            return
        handle = self._file or self._open()
        if self.spec.listed:
            handle.write(b",\n" if self.rows else b"\n")
        self.rows += count
        self.spec.render(table, handle, self.system, bool(self.rich), rows)

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            if self.spec.listed:
                self._file.write(b"\n]\n")
            self._file.close()

    @property
    def sha256(self) -> str:
        """The sha256 of what was written so far: the whole file once closed."""
        return self._file.sha256 if self._file is not None else hashlib.sha256().hexdigest()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ALPACA_INFO = {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output"}}
_RICH_ALPACA = {"system": "", "history": []}  # in a richer build: LLaMA-Factory's system and history columns
ALPACA_JSON = Format("alpaca", "alpaca", ".json", _alpaca_parts(False), _ALPACA_INFO, _alpaca_row, _RICH_ALPACA,
                     system_parts=_alpaca_parts(True))
BUILTIN_FORMATS: dict[str, Format] = {
    "alpaca_jsonl": Format("alpaca_jsonl", "alpaca", ".jsonl", _alpaca_parts(False), _ALPACA_INFO, _alpaca_row,
                           _RICH_ALPACA, system_parts=_alpaca_parts(True)),
    "sharegpt": Format("sharegpt", "sharegpt", ".json", _sharegpt_parts(False), {
        "formatting": "sharegpt", "columns": {"messages": "conversations"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
    }, _sharegpt_row, {"system": ""}, system_parts=_sharegpt_parts(True)),
    # TRL's conversational prompt-completion: SFTTrainer applies the chat template and trains on the completion only
    "prompt_completion": Format("prompt_completion", "prompt_completion", ".jsonl",
                                _chat_parts(*_PROMPT_COMPLETION, False), row=_talk_row("prompt", "completion"),
                                system_parts=_chat_parts(*_PROMPT_COMPLETION, True)),
    "messages": Format("messages", "messages", ".jsonl", _chat_parts(*_MESSAGES, False), {
        "formatting": "sharegpt", "columns": {"messages": "messages"},  # LLaMA-Factory's "OpenAI format"
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant", "system_tag": "system"},
    }, _talk_row("messages"), system_parts=_chat_parts(*_MESSAGES, True)),
}
# written whenever the build has preference pairs, for each split that has one
PREFERENCE_FORMATS: dict[str, Format] = {
    "preference": Format("preference", "preference", ".json", None, {
        "formatting": "alpaca", "ranking": True,
        "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected",
                    "system": "system", "history": "history"},
    }, lambda row, system: _alpaca_row(row, system, ranking=True), rows="preference"),
    # TRL's conversational preference form (DPOTrainer applies the chat template)
    "dpo": Format("dpo", "dpo", ".jsonl", None, row=_talk_row("prompt", "chosen", "rejected"), rows="preference"),
}


@cache
def known_formats() -> dict[str, Format]:
    """Every format a build can write: the Alpaca JSON list, the built-ins, then the plug-ins' (loaded on first use,
    so that a plug-in may import this module)."""
    return with_plugins("formats", {"alpaca": ALPACA_JSON, **BUILTIN_FORMATS}, Format)


def choosable_formats() -> list[str]:
    """The formats a user may ask for (the Alpaca JSON list is always written)."""
    return [name for name in known_formats() if name != "alpaca"]


def formats_named(names: Iterable[str]) -> list[Format]:
    """The formats for names (keys of `known_formats`); an unknown name is an error naming the choices."""
    known = known_formats()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown format {unknown[0]!r}; choose from {', '.join(known)}")
    return [known[name] for name in names]


def open_writers(out_dir: Path, split: str, formats: Iterable[str], system: str | None = None,
                 rich: bool | None = None, preference: bool = True) -> list[FormatWriter]:
    """One writer per format named for one split, then (with `preference`) one per preference format (its file made
    only if a pair comes). `rich`: whether the build has instruction types beyond `single` (`FormatWriter`)."""
    specs = formats_named(formats) + (list(PREFERENCE_FORMATS.values()) if preference else [])
    return [FormatWriter(spec, out_dir, split, system, rich) for spec in specs]


def write_from_parquet(out_dir: Path, formats: Iterable[str], system: str | None = None,
                       batch_rows: int = 50_000) -> dict[str, list[Path]]:
    """Writes the formats named for every split of a finished build, streaming its `data/*.parquet`
    batch by batch; returns the files written per format. (The build wrote its preference formats itself.)"""
    out_dir, formats = Path(out_dir), list(formats)
    written: dict[str, list[Path]] = {name: [] for name in formats}
    splits = _parquet_splits(out_dir)
    names = {shard: pq.ParquetFile(shard).schema_arrow.names for paths in splits.values() for shard in paths}
    rich = any(chat.has_richer_types(pq.read_table(shard, columns=["type"])) for shard, has in names.items() if "type" in has)
    for split, paths in splits.items():
        writers = open_writers(out_dir, split, formats, system, rich, preference=False)
        try:
            for shard in paths:
                columns = [name for name in (*ROW_COLUMNS, "type") if name in names[shard]]
                for batch in pq.ParquetFile(shard).iter_batches(batch_rows, columns=columns):
                    table = pa.Table.from_batches([batch])
                    for writer in writers:
                        writer.write(table)
        finally:
            for writer in writers:
                writer.close()
        for name, writer in zip(formats, writers, strict=True):
            written[name].append(writer.path)
    return written


def _parquet_splits(out_dir: Path) -> dict[str, list[Path]]:
    splits: dict[str, list[Path]] = {}
    for shard in sorted((out_dir / "data").glob("*-of-*.parquet")):
        splits.setdefault(shard.name.rsplit("-", 3)[0], []).append(shard)
    return splits
