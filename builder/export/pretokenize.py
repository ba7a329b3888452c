"""The pre-tokenized export: each SFT row rendered in the build's chat template and tokenized by its tokenizer, with
`labels` that keep every assistant turn (its answer and end-of-turn token) and mask the rest (-100), so a trainer
can skip tokenizing (`pretokenized/{split}-*.parquet`: `input_ids`, `labels`, `length`).

A row is the conversation `chat.row_conversations` makes of it (system turn, earlier turns, question, answer);
each assistant turn's mask is the one `chat.masked_spans` derives and the chat check proves. The tokens of the text
before each mask's start and end must begin the conversation's tokens exactly, or the tokenizer merged text across
that boundary and no token-level mask is right: that row is an error, not a guess.

Preference pairs are not SFT rows and are left out, so a shard here holds the SFT rows of its Parquet shard, in
order (all of them when the build has no preference pairs).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from builder.errors import UserError
from builder.export.chat import NoPrefix, load_chat_template, masked_spans, row_conversations
from builder.quality.tokens import load_tokenizer

IGNORE = -100  # the label a trainer's loss skips
IDS = pa.list_(pa.int32())
SCHEMA = pa.schema([pa.field("input_ids", IDS), pa.field("labels", IDS), pa.field("length", pa.int32())])


def pretokenized(table: pa.Table, tokenizer: tuple[Path, str | None], template: str, system: str | None,
                 where: str) -> pa.Table:
    """A table's SFT rows as token ids and labels under the chat template and the tokenizer."""
    encoder, chat = load_tokenizer(*tokenizer), load_chat_template(template)
    rendered = []  # per row: its index, the conversation's text and its masks
    for index, talk in row_conversations(table, system):
        found = masked_spans(chat, talk)
        if isinstance(found, NoPrefix):  # the text does not begin with the prompt's, so neither do the tokens
            raise _unaligned(where, index, encoder.name, chat.name)
        if isinstance(found, str):
            raise UserError(f"{where} row {index}: {found}", field="pretokenize",
                            remedy=f"fix the chat template {chat.name} (the mask check names what is wrong)")
        rendered.append((index, *found))
    # the text before each boundary (a mask's start, and its end unless the conversation ends there), and the whole
    texts, bounds = [], []
    for _index, whole, spans in rendered:
        cuts = sorted({at for span in spans for at in (span.start, span.end) if at < len(whole)})
        bounds.append(cuts)
        texts += [whole[:at] for at in cuts] + [whole]
    encoded = encoder.encode(texts) if texts else []
    ids, labels, at = [], [], 0
    for (index, whole, spans), cuts in zip(rendered, bounds, strict=True):
        prefixes, tokens = encoded[at:at + len(cuts)], encoded[at + len(cuts)]
        at += len(cuts) + 1
        where_ids = {len(whole): len(tokens)}
        for cut, prefix in zip(cuts, prefixes, strict=True):
            if tokens[:len(prefix)] != prefix:
                raise _unaligned(where, index, encoder.name, chat.name)
            where_ids[cut] = len(prefix)
        label = [IGNORE] * len(tokens)
        for span in spans:
            label[where_ids[span.start]:where_ids[span.end]] = tokens[where_ids[span.start]:where_ids[span.end]]
        ids.append(tokens)
        labels.append(label)
    return pa.table([pa.array(ids, IDS), pa.array(labels, IDS), pa.array([len(i) for i in ids], pa.int32())],
                    schema=SCHEMA)


def _unaligned(where: str, index: int, tokenizer: str, template: str) -> UserError:
    return UserError(f"{where} row {index}: the conversation's tokens do not begin with the prompt's under "
                     f"{tokenizer}, so no token-level mask is exact", field="pretokenize",
                     remedy=f"give the tokenizer {template}'s markers as special tokens, or leave out --pretokenize")
