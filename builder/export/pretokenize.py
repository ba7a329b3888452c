"""The pre-tokenized export: each row rendered in the build's chat template and tokenized by its tokenizer, with
`labels` that mask the prompt (-100) and keep the answer and the end-of-turn token, so a trainer can skip
tokenizing (`pretokenized/{split}-*.parquet`: `input_ids`, `labels`, `length`).

The prompt's tokens are the prompt rendered alone; the conversation's tokens must begin with exactly those, or
the tokenizer merged text across the boundary and no token-level mask is right: that row is an error, not a
guess.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from builder.errors import UserError
from builder.export.chat import conversation, load_chat_template
from builder.quality.tokens import load_tokenizer
from builder.rows import prompt_column

IGNORE = -100  # the label a trainer's loss skips
IDS = pa.list_(pa.int32())
SCHEMA = pa.schema([pa.field("input_ids", IDS), pa.field("labels", IDS), pa.field("length", pa.int32())])


def pretokenized(table: pa.Table, tokenizer: tuple[Path, str | None], template: str, system: str | None,
                 where: str) -> pa.Table:
    """A table's rows as token ids and labels under the chat template and the tokenizer."""
    encoder, chat = load_tokenizer(*tokenizer), load_chat_template(template)
    talks = [conversation(prompt, answer, system)
             for prompt, answer in zip(prompt_column(table).to_pylist(), table["output"].to_pylist(), strict=True)]
    prompts = encoder.encode([chat.render(talk[:-1], True) for talk in talks])
    wholes = encoder.encode([chat.render(talk, False) for talk in talks])
    labels = []
    for index, (prompt, whole) in enumerate(zip(prompts, wholes, strict=True)):
        if whole[:len(prompt)] != prompt:
            raise UserError(f"{where} row {index}: the conversation's tokens do not begin with the prompt's under "
                            f"{encoder.name}, so no token-level mask is exact", field="pretokenize",
                            remedy=f"give the tokenizer {chat.name}'s markers as special tokens, or leave out --pretokenize")
        labels.append([IGNORE] * len(prompt) + whole[len(prompt):])
    return pa.table([pa.array(wholes, IDS), pa.array(labels, IDS), pa.array([len(w) for w in wholes], pa.int32())],
                    schema=SCHEMA)
