"""Token counts from a real tokenizer: the budget a trainer will see, counted in batches while rows are built.

A row is counted as a trainer tokenizes it: its prompt (`instruction`, and `input` after a line break when
there is one, as every trainer format joins them) and its answer, each without special tokens; a chat
template adds a fixed few per turn on top. The prompt is all that comes before the final answer
(`prompt_tokens`): for a row of a richer type, its own system prompt and its earlier turns too, each text
counted on its own (a chat template puts its markers between them). Over-long rows are dropped with a reason
(`--max-tokens`), never truncated. Tokenizers are found in a registry by what the path holds: a Hugging Face
`tokenizer.json` (or the folder holding one), or a tiktoken BPE file (`NAME.tiktoken`, base64 token and rank per
line) with its split pattern. Plug-ins add others (`qizhen_instructions.tokenizers`). Nothing is downloaded.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Protocol, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.errors import UserError
from builder.kernels.pieces import Known, classes, piece_keys
from builder.kernels.utf8 import utf8_buffers
from builder.registry import with_plugins
from builder.rows import prompt_column

# Qwen's split pattern (the one its qwen.tiktoken is trained with): the default for a tiktoken file
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
Texts: TypeAlias = Sequence[str] | pa.Array | pa.ChunkedArray  # what a tokenizer counts: strings, or an Arrow string column
PERCENTILES = (50, 95, 99)
KNOWN_PIECES = 1_000_000  # pieces whose counts a tiktoken tokenizer remembers (then it starts again)
EXTRA = "pip install 'qizhen-instructions[tokens]'"


class Tokenizer(Protocol):
    """What the builder asks of a tokenizer: its name and the token count of each text."""

    name: str

    def count(self, texts: Texts) -> np.ndarray: ...

    def encode(self, texts: list[str]) -> list[list[int]]: ...


@dataclass(frozen=True)
class Loader:
    """A kind of tokenizer file: whether a path is one, and how to load it."""

    accepts: Callable[[Path], bool]
    load: Callable[[Path, str | None], Tokenizer]


class HuggingFaceTokenizer:
    """A `tokenizers` tokenizer.json (what `AutoTokenizer` reads from a model folder), counted without special
    tokens."""

    def __init__(self, path: Path, _pattern: str | None) -> None:
        tokenizers = _require("tokenizers")
        file = path / "tokenizer.json" if path.is_dir() else path
        try:
            self._tokenizer = tokenizers.Tokenizer.from_file(str(file))
        except Exception as error:  # tokenizers raises a bare Exception for a file it cannot parse
            raise UserError(f"cannot read the tokenizer: {error}", file=file,
                            remedy="give a Hugging Face tokenizer.json or the model folder holding one") from None
        self.name = f"huggingface:{file.parent.name if file.name == 'tokenizer.json' else file.name}"

    def count(self, texts: Texts) -> np.ndarray:
        encodings = self._tokenizer.encode_batch_fast(_strings(texts), add_special_tokens=False)
        return np.fromiter((len(e.ids) for e in encodings), np.int32, len(texts))

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids; a chat template's markers that the tokenizer holds as added tokens are one id each."""
        return [e.ids for e in self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


class TiktokenTokenizer:
    """A tiktoken BPE file (`qwen.tiktoken`, `cl100k_base.tiktoken`): base64 token and rank per line, split by
    `pattern` (Qwen's by default)."""

    def __init__(self, path: Path, pattern: str | None) -> None:
        tiktoken = _require("tiktoken")
        ranks: dict[bytes, int] = {}
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
            except ValueError:
                raise UserError("not a tiktoken BPE line (base64 token, space, rank)", file=path, line=number,
                                remedy="give a NAME.tiktoken file, or a Hugging Face tokenizer.json") from None
        try:
            self._encoding = tiktoken.Encoding(path.stem, pat_str=pattern or QWEN_PATTERN, mergeable_ranks=ranks,
                                               special_tokens={})
        except ValueError as error:
            raise UserError(f"cannot use the split pattern: {error}", file=path,
                            remedy="give --tokenizer-pattern the regex the BPE file was trained with") from None
        self.name = f"tiktoken:{path.name}"
        self._pieces = _require("regex").compile(pattern or QWEN_PATTERN)  # tiktoken's own dependency
        self._compiled = (pattern or QWEN_PATTERN) == QWEN_PATTERN  # the split builder.kernels.pieces compiles
        if self._compiled:
            classes()  # read once here, before the build forks its workers
            self._table = Known()
        self._known: dict[object, int] = {}

    def count(self, texts: Texts) -> np.ndarray:
        """Exact counts, piece by piece: tiktoken splits a text with the pattern and encodes each piece on its own,
        so a text's count is the sum of its pieces' counts, and a piece met before (medical text repeats its
        clauses and phrases) is not encoded again. Qwen's pattern is split by a compiled kernel over the UTF-8
        buffer; another pattern by the regex module."""
        if self._compiled:
            return self._count_pieces(*utf8_buffers(texts if isinstance(texts, (pa.Array, pa.ChunkedArray))
                                                    else list(texts)))
        strings = _strings(texts)
        counts, known, encode = np.empty(len(strings), np.int32), self._known, self._encoding.encode_ordinary
        for index, text in enumerate(strings):
            total = 0
            for piece in self._pieces.findall(text):
                count = known.get(piece)
                if count is None:
                    if len(known) >= KNOWN_PIECES:
                        known.clear()
                    count = known[piece] = len(encode(piece))
                total += count
            counts[index] = total
        return counts

    def _count_pieces(self, data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Counts from the compiled split: each distinct piece looked up (or encoded once), summed per text."""
        owner, keys, starts, ends = piece_keys(data, offsets)
        if len(self._table) >= KNOWN_PIECES:
            self._table.clear()
        counts = self._table.lookup(keys)
        missing = np.flatnonzero(counts < 0)
        if len(missing):  # pieces not met before: each encoded once
            new, first = np.unique(keys[missing], return_index=True)
            encode = self._encoding.encode_ordinary
            self._table.remember(new, np.array([len(encode(bytes(data[starts[at]:ends[at]]).decode("utf-8")))
                                                for at in missing[first].tolist()], np.int64))
            counts[missing] = self._table.lookup(keys[missing])
        return np.bincount(owner, weights=counts, minlength=len(offsets) - 1).astype(np.int32)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids; a BPE file has no special tokens, so a chat template's markers are ordinary text here."""
        return self._encoding.encode_ordinary_batch(texts, num_threads=1)


def _is_huggingface(path: Path) -> bool:
    return (path / "tokenizer.json").is_file() if path.is_dir() else path.suffix == ".json"


def _is_tiktoken(path: Path) -> bool:
    return path.is_file() and path.suffix != ".json"


BUILTIN_LOADERS = {
    "huggingface": Loader(_is_huggingface, HuggingFaceTokenizer),
    "tiktoken": Loader(_is_tiktoken, TiktokenTokenizer),
}


@cache
def loaders() -> dict[str, Loader]:
    return with_plugins("tokenizers", BUILTIN_LOADERS, Loader)


@cache
def load_tokenizer(path: Path, pattern: str | None = None) -> Tokenizer:
    """The tokenizer at `path`, loaded once per process (each worker loads its own after the fork)."""
    if not path.exists():
        raise UserError("no such tokenizer", file=path, remedy="give a tokenizer.json, a model folder or a .tiktoken file")
    for loader in loaders().values():
        if loader.accepts(path):
            return loader.load(path, pattern)
    raise UserError("not a tokenizer this tool reads", file=path,
                    remedy="give a Hugging Face tokenizer.json (or its folder) or a tiktoken BPE file")


def count_column(tokenizer: Tokenizer, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Token counts of a string column (a null counts 0)."""
    return tokenizer.count(column) if len(column) else np.zeros(0, np.int32)


def prompt_tokens(tokenizer: Tokenizer, rows: pa.Table, keep: pa.Array | None = None) -> np.ndarray:
    """Per row (of those `keep` marks, when given), the tokens of all that comes before its final answer: its prompt,
    and for a row of a richer type its own system prompt and each text of its earlier turns. Rows with neither (the
    common case, found without looking at a row) cost one count of the prompt column, as before."""
    prompt = prompt_column(rows)
    counts = count_column(tokenizer, pc.filter(prompt, keep) if keep is not None else prompt).astype(np.int32)
    names = rows.column_names
    system = rows["system"].combine_chunks() if "system" in names else None
    history = rows["history"].combine_chunks() if "history" in names else None
    if keep is not None:
        system = pc.filter(system, keep) if system is not None else None
        history = pc.filter(history, keep) if history is not None else None
    if system is not None and len(system) and pc.max(pc.binary_length(system)).as_py():
        owners = np.flatnonzero(np.asarray(pc.fill_null(pc.binary_length(system), 0)) > 0)
        counts[owners] += count_column(tokenizer, system.take(pa.array(owners)))
    if history is not None and len(history) and pc.max(pc.list_value_length(history)).as_py():
        turns = pc.list_flatten(history)
        texts = pc.list_flatten(turns)
        owners = np.asarray(pc.list_parent_indices(history))[np.asarray(pc.list_parent_indices(turns))]
        counts += np.bincount(owners, weights=count_column(tokenizer, texts), minlength=len(counts)).astype(np.int32)
    return counts


def _strings(texts: Texts) -> list[str]:
    """Python strings of texts given either way (a null is the empty text)."""
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        return [text or "" for text in texts.to_pylist()]
    return list(texts)


def summary(counts: np.ndarray, weights: np.ndarray | None = None) -> dict[str, int]:
    """Rows, p50/p95/p99 and max of token counts (a row repeated by mixing counts as often as it is written)."""
    counts = np.repeat(counts, weights) if weights is not None else counts
    if not len(counts):
        return {"rows": 0}
    found = np.percentile(counts, PERCENTILES, method="higher")
    return {"rows": int(len(counts)), **{f"p{p}": int(v) for p, v in zip(PERCENTILES, found, strict=True)},
            "max": int(counts.max())}


def token_report(tokenizer: str, limit: int | None, batches: Iterable[pa.RecordBatch], copies: np.ndarray) -> dict:
    """The manifest's token figures over the rows written (`copies` per spooled row: 0 when dropped later, more
    when mixing repeats it): prompt + answer per row, overall, per source and per template (QA rows: `qa`).
    `batches` hold `source`, `template_id` and the two token columns, in spool order."""
    table = pa.Table.from_batches(list(batches))
    total = (np.asarray(table.column(2).fill_null(0)) + np.asarray(table.column(3).fill_null(0))).astype(np.int64)
    report: dict = {"tokenizer": tokenizer, "max_tokens": limit, "counted": "prompt + answer, no chat-template markers",
                    "all": summary(total, copies)}
    for name, column in (("by_source", table.column(0)), ("by_template", table.column(1).fill_null("qa"))):
        encoded = column.combine_chunks().dictionary_encode()  # group by integer codes, not by comparing strings
        codes, names = np.asarray(encoded.indices), encoded.dictionary.to_pylist()
        report[name] = {key: summary(total[codes == code], copies[codes == code])
                        for code, key in sorted(enumerate(names), key=lambda item: item[1])}
    return report


def _require(module: str) -> ModuleType:
    """The optional package, or one line saying how to install it."""
    try:
        return __import__(module)
    except ImportError:
        raise UserError(f"counting tokens needs the {module} package", remedy=EXTRA) from None
