"""Trainer configurations written beside the data (`trainers/`), each in the shape its trainer reads: LLaMA-Factory
(a training YAML fragment over `dataset_info.json`), TRL (a `trl sft --config` YAML), axolotl (a `datasets:`
stanza, `type: chat_template`) and ms-swift (its list-form custom dataset info). Paths are relative to the build
folder (ms-swift's to its own file, as ms-swift reads them), so a trainer runs from there wherever the build is moved.

A sequence length is only written when the build counted tokens: the longest row written plus what the chat
template adds (when one was checked), rounded up to a multiple of 64, so no row is truncated; p99 is noted. Rows
with a system prompt of their own or earlier turns (a grounded row, a consultation) are few: each is rendered
whole in the chat template and counted, so their markers (a few per turn) are counted too.

Every assistant turn of a consultation is trained, as the chat check proves its mask: LLaMA-Factory does so by
default (mask_history off), axolotl with `roles_to_train: [assistant]`, TRL with `assistant_only_loss` on the
messages export, which its configuration then reads (in prompt_completion the earlier turns are prompt).

When the build has preference pairs (`preference/`, `dpo/`), LLaMA-Factory gets a DPO fragment over the ranking
dataset (`llamafactory_dpo.yaml`) and TRL a `trl dpo --config` file (`trl_dpo.yaml`), their lengths the longest
pair (prompt with the longer of the chosen and rejected answers) in the chat template.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from builder.config import BuildConfig
from builder.export.chat import context_rows, conversation, load_chat_template, preference_rows, row_messages
from builder.export.dataset_info import has_rows
from builder.export.formats import PREFERENCE_FORMATS
from builder.quality.tokens import count_column, load_tokenizer, prompt_tokens

FOLDER = "trainers"
ROUND = 64


@dataclass(frozen=True)
class Setting:
    """What the trainer configurations are made from: the build's name, splits and formats written, its chat
    template (LLaMA-Factory's name and the template itself) and its sequence length."""

    name: str
    splits: list[str]
    formats: list[str]
    template: str | None  # the first checked chat template's name in this project
    llamafactory: str | None
    cutoff: int | None
    p99: int | None
    tokenizer: tuple[Path, str | None] | None = None  # the build's tokenizer (path, split pattern), when it counted
    chat_template: str | None = None  # the first checked chat template as the build names it (shipped name or file)
    system: str | None = None  # the build's system prompt
    preference: tuple[str, ...] = ()  # the splits with preference pairs (`from_build`)
    multiturn: bool = False  # whether an SFT row has earlier turns (`from_build`)
    dpo_cutoff: int | None = None  # the longest preference pair, rounded up (`from_build`)


def setting(config: BuildConfig, manifest_quality: dict, splits: dict[str, int]) -> Setting:
    """The trainers' setting from a finished build's config and figures."""
    template = config.chat_templates[0] if config.chat_templates else None
    chat = load_chat_template(template) if template else None
    tokens = manifest_quality.get("tokens")
    cutoff = p99 = None
    if tokens and tokens["all"].get("rows"):
        overhead = 0
        if chat is not None:
            tokenizer = load_tokenizer(config.tokens.tokenizer, config.tokens.pattern)
            overhead = int(tokenizer.count([chat.render(conversation("", "", config.system_prompt), False)])[0])
        cutoff = math.ceil((tokens["all"]["max"] + overhead) / ROUND) * ROUND
        p99 = tokens["all"]["p99"] + overhead
    return Setting(config.name, [s for s, rows in splits.items() if rows], ["alpaca", *config.formats],
                   chat.name if chat else None, chat.llamafactory if chat else None, cutoff, p99,
                   (config.tokens.tokenizer, config.tokens.pattern) if tokens and config.tokens.tokenizer else None,
                   template, config.system_prompt)


def from_build(out_dir: Path, s: Setting) -> Setting:
    """The setting with what only the build's files tell: the splits with preference pairs, whether a row is a
    conversation, and (when the build counted tokens) lengths that fit its richer rows and its preference pairs."""
    out_dir = Path(out_dir)
    spec = PREFERENCE_FORMATS["preference"]
    preference = tuple(split for split in s.splits if spec.path(out_dir, split).is_file()
                       and has_rows(spec.path(out_dir, split)))
    columns = ["instruction", "input", "output", "system", "history", "rejected"]
    richer, pairs = [], []
    for shard in sorted((out_dir / "data").glob("*-of-*.parquet")):
        if not set(columns) <= set(pq.ParquetFile(shard).schema_arrow.names):
            continue  # a build from before the richer types
        marks = pq.read_table(shard, columns=["system", "history", "rejected"])
        paired, fuller = preference_rows(marks), context_rows(marks)
        if paired is None and fuller is None:
            continue
        paired = paired if paired is not None else np.zeros(marks.num_rows, bool)
        fuller = fuller if fuller is not None else np.zeros(marks.num_rows, bool)
        wanted = np.flatnonzero(paired | fuller)
        rows = pq.read_table(shard, columns=columns).take(pa.array(wanted))
        richer.append(rows.filter(pa.array(fuller[wanted] & ~paired[wanted])))
        pairs.append(rows.filter(pa.array(paired[wanted])))
    richer_rows = pa.concat_tables(richer) if richer else None
    pair_rows = pa.concat_tables(pairs) if pairs else None
    multiturn = bool(richer_rows is not None and richer_rows.num_rows
                     and max(len(h) for h in richer_rows["history"].to_pylist()))
    cutoff, dpo_cutoff = s.cutoff, None
    if s.tokenizer is not None:
        if cutoff is not None and richer_rows is not None and richer_rows.num_rows:
            cutoff = max(cutoff, _rounded(max(_lengths(s, richer_rows, "output"))))
        if pair_rows is not None and pair_rows.num_rows:
            dpo_cutoff = _rounded(max(max(_lengths(s, pair_rows, "output")), max(_lengths(s, pair_rows, "rejected"))))
    return replace(s, preference=preference, multiturn=multiturn, cutoff=cutoff, dpo_cutoff=dpo_cutoff)


def _rounded(tokens: int) -> int:
    return math.ceil(tokens / ROUND) * ROUND


def _lengths(s: Setting, rows: pa.Table, answer: str) -> np.ndarray:
    """Tokens of each row with the answer in column `answer`: its whole conversation rendered in the build's chat
    template (markers and all), or its texts alone when the build checked no template."""
    assert s.tokenizer is not None
    tokenizer = load_tokenizer(*s.tokenizer)
    if s.chat_template is None:
        return prompt_tokens(tokenizer, rows) + count_column(tokenizer, rows[answer])
    chat = load_chat_template(s.chat_template)
    return tokenizer.count([chat.render(row_messages({**row, "output": row[answer]}, s.system), False)
                            for row in rows.to_pylist()])


def _yaml(comment: str, values: dict) -> str:
    """A flat YAML mapping (values as JSON, which YAML reads), after a comment."""
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in values.items() if value is not None]
    return "\n".join(lines) + "\n"


def _llamafactory(s: Setting) -> str | None:
    preferred = next(f for f in ("messages", "sharegpt", "alpaca_jsonl", "alpaca") if f in s.formats)
    dataset = f"{s.name}_{preferred}_train" if "train" in s.splits else None
    if dataset is None:
        return None
    evaluation = f"{s.name}_{preferred}_validation" if "validation" in s.splits else None
    comment = ("LLaMA-Factory SFT: add your model, finetuning_type and output_dir, and run from this build's folder\n"
               "(dataset_dir) or point dataset_dir at it." + (f"\ncutoff_len fits the longest row; p99 is {s.p99}."
                                                                 if s.cutoff else "\nNo cutoff_len: the build counted no tokens (--tokenizer).")
               + ("\nEvery assistant turn of a consultation is trained (mask_history off), as the chat check proves."
                  if s.multiturn else ""))
    return _yaml(comment, {"stage": "sft", "do_train": True, "dataset_dir": ".", "dataset": dataset,
                           "eval_dataset": evaluation, "template": s.llamafactory, "cutoff_len": s.cutoff})


def _trl(s: Setting) -> str | None:
    order = ("messages", "prompt_completion") if s.multiturn else ("prompt_completion", "messages")
    folder = next((f for f in order if f in s.formats), None)
    if folder is None or "train" not in s.splits:
        return None
    held = ("prompt-completion rows: the loss is on the completion only" if folder == "prompt_completion" else
            "conversations: the loss is on the assistant turns (assistant_only_loss)")
    comment = (f"TRL: trl sft --config trainers/trl_sft.yaml --model_name_or_path MODEL --output_dir OUT, from this\n"
               f"build's folder. {folder}/ holds {held}.")
    if s.multiturn and folder == "prompt_completion":
        comment += "\nA consultation's earlier turns are its prompt there: only its last answer is trained."
    elif s.multiturn:
        comment += ("\nEvery answer of a consultation is trained; the model's chat template needs {% generation %} "
                    "markers\n(TRL swaps in a training template for the families it knows).")
    return _yaml(comment, {"dataset_name": folder, "dataset_train_split": "train",
                           "dataset_test_split": "validation" if "validation" in s.splits else None,
                           "max_length": s.cutoff, "completion_only_loss": True if folder == "prompt_completion" else None,
                           "assistant_only_loss": True if folder == "messages" else None})


def _length_note(s: Setting, key: str) -> str:
    return (f"\n{key} fits the longest pair (prompt with the longer answer) in the chat template." if s.dpo_cutoff else
            f"\nNo {key}: the build counted no tokens (--tokenizer).")


def _llamafactory_dpo(s: Setting) -> str | None:
    if "train" not in s.preference:
        return None
    comment = ("LLaMA-Factory DPO on the build's preference pairs (preference/, ranking datasets in\n"
               "dataset_info.json): start from your SFT model (model_name_or_path, adapter_name_or_path), add\n"
               "finetuning_type and output_dir, and run from this build's folder." + _length_note(s, "cutoff_len"))
    return _yaml(comment, {"stage": "dpo", "do_train": True, "dataset_dir": ".",
                           "dataset": f"{s.name}_preference_train",
                           "eval_dataset": f"{s.name}_preference_validation" if "validation" in s.preference else None,
                           "template": s.llamafactory, "cutoff_len": s.dpo_cutoff, "pref_beta": 0.1,
                           "pref_loss": "sigmoid"})


def _trl_dpo(s: Setting) -> str | None:
    if "train" not in s.preference:
        return None
    comment = ("TRL DPO: trl dpo --config trainers/trl_dpo.yaml --model_name_or_path SFT_MODEL --output_dir OUT, from\n"
               "this build's folder. dpo/ holds conversational preference pairs (prompt, chosen, rejected)."
               + _length_note(s, "max_length"))
    return _yaml(comment, {"dataset_name": "dpo", "dataset_train_split": "train",
                           "dataset_test_split": "validation" if "validation" in s.preference else None,
                           "max_length": s.dpo_cutoff, "beta": 0.1})


def _axolotl(s: Setting) -> str | None:
    if "messages" not in s.formats or "train" not in s.splits:
        return None
    chat = f"# chat_template: the model's own; this build checked its masks with {s.template}\n" if s.template else ""
    return ("# axolotl: merge into your config (base_model, adapter, output_dir); paths are relative to this build.\n"
            + chat + "datasets:\n  - path: messages/train.jsonl\n    ds_type: json\n    type: chat_template\n"
            "    field_messages: messages\n    message_property_mappings:\n      role: role\n      content: content\n"
            "    roles_to_train: [\"assistant\"]\n    train_on_eos: turn\nchat_template: tokenizer_default\n"
            + (f"sequence_len: {s.cutoff}\n" if s.cutoff else ""))


def _swift(s: Setting) -> str | None:
    folder, suffix = next(((f, x) for f, x in (("messages", ".jsonl"), ("sharegpt", ".json"), ("alpaca", ".json"))
                           if f in s.formats), ("alpaca", ".json"))
    if "train" not in s.splits:
        return None
    # ms-swift resolves a relative dataset_path against the folder of the file naming it (swift.dataset.register)
    entries = [{"dataset_path": f"../{folder}/{split}{suffix}"} for split in s.splits]
    return json.dumps(entries, ensure_ascii=False, indent=2) + "\n"


WRITERS: dict[str, tuple[str, Callable[[Setting], str | None]]] = {
    "llamafactory": ("llamafactory_sft.yaml", _llamafactory),
    "trl": ("trl_sft.yaml", _trl),
    "axolotl": ("axolotl.yaml", _axolotl),
    "ms-swift": ("swift_dataset_info.json", _swift),
    "llamafactory_dpo": ("llamafactory_dpo.yaml", _llamafactory_dpo),
    "trl_dpo": ("trl_dpo.yaml", _trl_dpo),
}


def write_trainers(out_dir: Path, s: Setting) -> dict[str, str]:
    """Writes each trainer's file that the build's formats allow; returns trainer -> file (relative)."""
    s = from_build(out_dir, s)
    written = {}
    for trainer, (name, write) in WRITERS.items():
        text = write(s)
        if text is not None:
            path = Path(out_dir) / FOLDER / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written[trainer] = path.relative_to(out_dir).as_posix()
    return written
