"""Trainer configurations written beside the data (`trainers/`), each in the shape its trainer reads: LLaMA-Factory
(a training YAML fragment over `dataset_info.json`), TRL (a `trl sft --config` YAML), axolotl (a `datasets:`
stanza, `type: chat_template`) and ms-swift (its list-form custom dataset info). Paths are relative to the build
folder (ms-swift's to its own file, as ms-swift reads them), so a trainer runs from there wherever the build is moved.

A sequence length is only written when the build counted tokens: the longest row written plus what the chat
template adds (when one was checked), rounded up to a multiple of 64, so no row is truncated; p99 is noted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder.config import BuildConfig
from builder.export.chat import conversation, load_chat_template
from builder.quality.tokens import load_tokenizer

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
                   chat.name if chat else None, chat.llamafactory if chat else None, cutoff, p99)


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
                                                                 if s.cutoff else "\nNo cutoff_len: the build counted no tokens (--tokenizer)."))
    return _yaml(comment, {"stage": "sft", "do_train": True, "dataset_dir": ".", "dataset": dataset,
                           "eval_dataset": evaluation, "template": s.llamafactory, "cutoff_len": s.cutoff})


def _trl(s: Setting) -> str | None:
    folder = next((f for f in ("prompt_completion", "messages") if f in s.formats), None)
    if folder is None or "train" not in s.splits:
        return None
    comment = (f"TRL: trl sft --config trainers/trl_sft.yaml --model_name_or_path MODEL --output_dir OUT, from this\n"
               f"build's folder. {folder}/ holds {'prompt-completion rows: the loss is on the completion only' if folder == 'prompt_completion' else 'conversations: the loss is on the assistant turns (assistant_only_loss)'}.")
    return _yaml(comment, {"dataset_name": folder, "dataset_train_split": "train",
                           "dataset_test_split": "validation" if "validation" in s.splits else None,
                           "max_length": s.cutoff, "completion_only_loss": True if folder == "prompt_completion" else None,
                           "assistant_only_loss": True if folder == "messages" else None})


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
}


def write_trainers(out_dir: Path, s: Setting) -> dict[str, str]:
    """Writes each trainer's file that the build's formats allow; returns trainer -> file (relative)."""
    written = {}
    for trainer, (name, write) in WRITERS.items():
        text = write(s)
        if text is not None:
            path = Path(out_dir) / FOLDER / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written[trainer] = path.relative_to(out_dir).as_posix()
    return written
