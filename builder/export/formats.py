"""Trainer formats: Alpaca JSONL, ShareGPT and OpenAI messages, written table by table from output rows,
and the LLaMA-Factory `dataset_info.json` entries that name them.

Every file is UTF-8 and not ASCII-escaped (Chinese text stays readable; only U+2028/U+2029 are
escaped, so no reader splits a line inside a row), written one row per line
as Arrow tables arrive, so a build never holds a split in memory for these writers.

| format         | file                        | one row                                                           |
| -------------- | --------------------------- | ----------------------------------------------------------------- |
| `alpaca`       | `alpaca/{split}.json`       | a JSON list of {"instruction", "input", "output"}, always written |
|                |                             |                                                                   |
| `alpaca_jsonl` | `alpaca/{split}.jsonl`      | {"instruction", "input", "output"} per line                       |
| `sharegpt`     | `sharegpt/{split}.json`     | a JSON list of {"conversations": [{"from": "human", "value": Q},  |
|                |                             | {"from": "gpt", "value": A}]}                                     |
| `messages`     | `messages/{split}.jsonl`    | {"messages": [{"role": "system", …} (only with a system prompt),  |
|                |                             | {"role": "user", …}, {"role": "assistant", …}]} per line          |
| `prompt_completion` | `prompt_completion/{split}.jsonl` | {"prompt": [system?, user], "completion": [assistant]} per line: |
|                |                             | TRL's conversational prompt-completion (loss on the completion)   |

How instruction and input become one prompt, per consumer:

* The Alpaca files keep `instruction` and `input` apart; the trainer joins them.
  Chinese-LLaMA-Alpaca (`scripts/training/build_dataset.py`) loads the JSON with
  `load_dataset("json")`, reads exactly `instruction`, `input` and `output`, and when `input` is
  non-empty uses `instruction + "\\n" + input` as the instruction inside its single Alpaca
  *no-input* wrapper ("Below is an instruction that describes a task. Write a response that
  appropriately completes the request.\\n\\n### Instruction:\\n{instruction}\\n\\n### Response: ").
  QiZhen (trained with that code) served its model with the same no-input wrapper, so a row with an
  input is seen as "instruction\\ninput" at training and must be asked that way at inference.
  LLaMA-Factory's alpaca formatting joins them the same way ("instruction\\ninput").
* ShareGPT and messages have no input field: the human/user turn is the instruction alone when the
  input is empty, else `instruction + "\\n" + input` — the same text the two trainers above build,
  so all formats train on identical prompts. The answer is `output` unchanged.
* The optional system prompt is written only into the messages format (as its first message);
  Alpaca and ShareGPT rows carry none (Chinese-LLaMA-Alpaca has no system prompt).

`dataset_info(out_dir, formats, name)` returns LLaMA-Factory entries, one per format and split,
keyed `{name}_{format}_{split}`, for files that exist and hold at least one row; file names are
relative to `out_dir`, so put `dataset_info.json` in `out_dir` and pass `dataset_dir: OUT`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import BinaryIO, Self

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from builder.kernels.jsonlines import json_lines, json_string
from builder.registry import with_plugins
from builder.rows import prompt_column

Parts = tuple[list[pa.Array | pa.ChunkedArray], list[str]]


def _alpaca_parts(table: pa.Table, _system: str | None) -> Parts:
    return ([table[name] for name in ("instruction", "input", "output")],
            ['{"instruction": ', ', "input": ', ', "output": ', "}"])


def _sharegpt_parts(table: pa.Table, _system: str | None) -> Parts:
    return ([prompt_column(table), table["output"]],
            ['{"conversations": [{"from": "human", "value": ', '}, {"from": "gpt", "value": ', "}]}"])


def _messages_parts(table: pa.Table, system: str | None) -> Parts:
    head = f'{{"role": "system", "content": {json_string(system)}}}, ' if system else ""
    return ([prompt_column(table), table["output"]],
            [f'{{"messages": [{head}{{"role": "user", "content": ', '}, {"role": "assistant", "content": ', "}]}"])


def _prompt_completion_parts(table: pa.Table, system: str | None) -> Parts:
    head = f'{{"role": "system", "content": {json_string(system)}}}, ' if system else ""
    return ([prompt_column(table), table["output"]],
            [f'{{"prompt": [{head}{{"role": "user", "content": ', '}], "completion": [{"role": "assistant", "content": ',
             "}]}"])


@dataclass(frozen=True)
class Format:
    """A trainer format: where its files go, how a row becomes a line, and its LLaMA-Factory
    `dataset_info.json` entry apart from `file_name`. A `.json` file is a JSON list with a row per
    line; a `.jsonl` file is a row per line."""

    name: str
    folder: str
    suffix: str
    parts: Callable[[pa.Table, str | None], Parts]  # a line: the JSON of these columns between these texts
    llama_factory: dict = field(default_factory=dict)

    @property
    def listed(self) -> bool:
        return self.suffix == ".json"

    def path(self, out_dir: Path, split: str) -> Path:
        return Path(out_dir) / self.folder / f"{split}{self.suffix}"

    def render(self, table: pa.Table, target: BinaryIO | HashingFile, system: str | None = None) -> None:
        """Writes a table's rows as a piece of the file (no list brackets) to `target`; any process can,
        RENDER_ROWS rows at a time, so memory does not grow with the table."""
        # json_lines gives a uint8 array, a buffer; numpy's stubs declare ndarray.__buffer__ only for Python 3.12+
        for start in range(0, table.num_rows, RENDER_ROWS):
            columns, frame = self.parts(table.slice(start, RENDER_ROWS), system)
            if self.listed:
                target.write(json_lines(columns, frame, ",\n" if start else "", ",\n", ""))  # type: ignore[call-overload]
            else:
                target.write(json_lines(columns, frame, "", "", "\n"))  # type: ignore[call-overload]


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
    """One split of one format, written table by table (`write`) and hashed as it goes (`sha256`), so the
    manifest does not read the file back."""

    def __init__(self, spec: Format, out_dir: Path, split: str, system: str | None = None) -> None:
        self.spec, self.system, self.rows = spec, system, 0
        self.path = spec.path(out_dir, split)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = HashingFile(self.path)
        if spec.listed:
            self._file.write(b"[")

    def write(self, table: pa.Table) -> None:
        """Appends a table's rows, after the separator from the rows before them."""
        if not table.num_rows:
            return
        if self.spec.listed:
            self._file.write(b",\n" if self.rows else b"\n")
        self.rows += table.num_rows
        self.spec.render(table, self._file, self.system)

    def close(self) -> None:
        if not self._file.closed:
            if self.spec.listed:
                self._file.write(b"\n]\n")
            self._file.close()

    @property
    def sha256(self) -> str:
        """The sha256 of what was written so far: the whole file once closed."""
        return self._file.sha256

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ALPACA_INFO = {
    "formatting": "alpaca",
    "columns": {"prompt": "instruction", "query": "input", "response": "output"},
}
ALPACA_JSON = Format("alpaca", "alpaca", ".json", _alpaca_parts, _ALPACA_INFO)
BUILTIN_FORMATS: dict[str, Format] = {
    "alpaca_jsonl": Format("alpaca_jsonl", "alpaca", ".jsonl", _alpaca_parts, _ALPACA_INFO),
    "sharegpt": Format("sharegpt", "sharegpt", ".json", _sharegpt_parts, {
        "formatting": "sharegpt",
        "columns": {"messages": "conversations"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
    }),
    # TRL's conversational prompt-completion: SFTTrainer applies the chat template and trains on the completion only
    "prompt_completion": Format("prompt_completion", "prompt_completion", ".jsonl", _prompt_completion_parts),
    "messages": Format("messages", "messages", ".jsonl", _messages_parts, {
        "formatting": "sharegpt",  # LLaMA-Factory's "OpenAI format" is sharegpt with these tags
        "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                 "assistant_tag": "assistant", "system_tag": "system"},
    }),
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


def open_writers(out_dir: Path, split: str, formats: Iterable[str], system: str | None = None) -> list[FormatWriter]:
    """One writer per format named for one split."""
    return [FormatWriter(spec, out_dir, split, system) for spec in formats_named(formats)]


def write_from_parquet(out_dir: Path, formats: Iterable[str], system: str | None = None,
                       batch_rows: int = 50_000) -> dict[str, list[Path]]:
    """Writes the formats named for every split of a finished build, streaming its `data/*.parquet`
    batch by batch; returns the files written per format."""
    out_dir, formats = Path(out_dir), list(formats)
    written: dict[str, list[Path]] = {name: [] for name in formats}
    for split, shards in _parquet_splits(out_dir).items():
        writers = open_writers(out_dir, split, formats, system)
        try:
            for shard in shards:
                for batch in pq.ParquetFile(shard).iter_batches(batch_rows, columns=["instruction", "input", "output"]):
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


def dataset_info(out_dir: Path, formats: Iterable[str], name: str) -> dict:
    """LLaMA-Factory `dataset_info.json` entries, `{name}_{format}_{split}`, for each format named
    (a key of `known_formats`) and each split whose file exists in `out_dir` and holds a row."""
    out_dir, entries = Path(out_dir), {}
    for spec in formats_named(formats):
        if not spec.llama_factory:
            continue  # a format LLaMA-Factory does not read (a plug-in's, say) gets no entry
        format_name = spec.name
        for path in sorted((out_dir / spec.folder).glob(f"*{spec.suffix}")):
            if path.suffix != spec.suffix or not _has_rows(path):
                continue  # alpaca/*.json must not match alpaca/*.jsonl, nor the reverse
            split = path.name[: -len(spec.suffix)]
            entries[f"{name}_{format_name}_{split}"] = {
                "file_name": path.relative_to(out_dir).as_posix(),
                **json.loads(json.dumps(spec.llama_factory)),
            }
    return entries


def write_dataset_info(out_dir: Path, formats: Iterable[str], name: str) -> Path:
    """Writes `dataset_info.json` into `out_dir` (file names in it are relative to `out_dir`)."""
    path = Path(out_dir) / "dataset_info.json"
    path.write_text(json.dumps(dataset_info(out_dir, formats, name), ensure_ascii=False, indent=2) + "\n",
                    encoding="utf-8")
    return path


def _has_rows(path: Path) -> bool:
    """A JSONL file with a line, or a JSON list that is not empty (reads only the first bytes)."""
    with path.open("rb") as handle:
        head = b"".join(handle.read(64).split())
    return bool(head) and not head.startswith(b"[]")
