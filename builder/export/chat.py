"""Chat templates and the loss-mask check: every exported row rendered as a trainer renders it, its assistant
mask derived by rendering the prompt alone, and that mask shown to cover the whole answer and the end-of-turn
token and nothing of the prompt.

A chat template is data: a TOML file (`templates/chat/NAME.toml` ships ChatML, Qwen3 with and without thinking,
Llama 3 and GLM-4; `--chat-template PATH.toml` adds one) holding a Jinja2 template in the Hugging Face style
(`messages`, `add_generation_prompt`), run in Jinja2's sandbox like the catalogue, the token that ends the
assistant's turn, and the think-tag policy: `none` (no think tags), `prompt` (an empty think block closes the
prompt, as Qwen3 renders `enable_thinking=False`) or `answer` (the answer opens with `think_block`, learned).

The mask of an answer is what follows the prompt rendered alone with `add_generation_prompt`: a template whose
conversation does not start with that prompt has no mask a trainer could derive (a trainer falls back to
training on everything), and one whose answer is not followed by the end-of-turn token inside the mask trains
a model that never learns to stop. Both are failures, named with the row.

A row is rendered as the conversation it is (`row_conversations`): its system turn (the build's system prompt,
then the row's own, a grounded row's, after a blank line), the earlier turns of a consultation (`history`), its
question and its answer. Every assistant turn is trained, as LLaMA-Factory, TRL's `assistant_only_loss`, axolotl's
`roles_to_train` and ms-swift do by default, so every one has a mask (`masked_spans`): the answer from the end of
the conversation so far rendered alone with `add_generation_prompt`, through its end-of-turn token, as the template
renders that answer when it is the last one; nothing of a system or user turn. A template that closes only the
last answer (GLM-4 writes <|endoftext|> there) must declare what else stops generation (`stops`: GLM-4 stops at the
role token that opens the next turn, <|user|>): an earlier answer's mask then ends with that token, as GLM-4's own
fine-tuning code labels it. Without `stops` in its file, a template has those LLaMA-Factory declares (`stop_words`)
for the template of its `llamafactory` name. Preference pairs are not SFT rows: they are left out here (their formats
are `preference/` and `dpo/`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, ValidationError

from builder.config import SHIPPED_TEMPLATES
from builder.errors import UserError
from builder.rows import SINGLE, prompt_column

SHIPPED_CHAT = SHIPPED_TEMPLATES / "chat"
# LLaMA-Factory's `stop_words` (data/template.py) for its templates that close only the last answer
LLAMAFACTORY_STOPS = {"glm4": ["<|user|>", "<|observation|>"], "chatglm3": ["<|user|>", "<|observation|>"]}


class ChatTemplate(BaseModel):
    """One chat template as its TOML file declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    template: str
    end_of_turn: str
    think: Literal["none", "prompt", "answer"] = "none"
    think_block: str = ""
    llamafactory: str | None = None  # LLaMA-Factory's name for the same template
    stops: list[str] | None = None  # what else ends an answer (generation stops there); None: see `turn_stops`
    source: str = ""

    @property
    def turn_stops(self) -> list[str]:
        """The texts besides `end_of_turn` that end an answer: the file's `stops`, else LLaMA-Factory's stop words for
        the template of the same name."""
        return self.stops if self.stops is not None else LLAMAFACTORY_STOPS.get(self.llamafactory or "", [])

    def render(self, messages: list[dict], add_generation_prompt: bool) -> str:
        return _compiled(self.template).render(messages=messages, add_generation_prompt=add_generation_prompt)


@dataclass
class MaskReport:
    """Rows checked under one template, and the first failure (where, and what is wrong)."""

    rows: int = 0
    failed: int = 0
    first: str | None = None

    def add(self, other: MaskReport) -> MaskReport:
        return MaskReport(self.rows + other.rows, self.failed + other.failed, self.first or other.first)


@dataclass
class MaskChecks:
    """Per template name, what the check found in some rows."""

    reports: dict[str, MaskReport] = field(default_factory=dict)

    def add(self, other: MaskChecks) -> None:
        for name, report in other.reports.items():
            self.reports[name] = self.reports.get(name, MaskReport()).add(report)


@cache
def _compiled(template: str) -> Template:
    environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return environment.from_string(template)


def shipped_chat_templates() -> list[str]:
    return sorted(path.stem for path in SHIPPED_CHAT.glob("*.toml"))


@cache
def load_chat_template(name_or_path: str) -> ChatTemplate:
    """A shipped template by name, or a TOML file of the same shape by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SHIPPED_CHAT / f"{name_or_path}.toml"
        if not path.is_file():
            raise UserError(f"no chat template named '{name_or_path}'",
                            remedy=f"use one of {', '.join(shipped_chat_templates())}, or give a .toml file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        template = ChatTemplate(name=data.pop("name", path.stem), source=str(path), **data)
        _compiled(template.template)
    except FileNotFoundError:
        raise UserError("no such chat template file", file=path, remedy="check the path") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"not valid TOML: {error}", file=path, remedy="fix the file") from None
    except ValidationError as error:
        first = error.errors()[0]
        raise UserError(first["msg"], file=path, field=".".join(map(str, first["loc"])) or None,
                        remedy="a chat template needs template and end_of_turn; think is none, prompt or answer") from None
    except TemplateError as error:
        raise UserError(f"the template does not compile: {error}", file=path, field="template",
                        remedy="fix the Jinja2 syntax") from None
    return template


def joined_system(build: str | None, own: str | None) -> str | None:
    """A row's system turn: the build's system prompt, then the row's own (a grounded row's) after a blank line;
    None when there is neither."""
    parts = [text for text in (build, own) if text]
    return "\n\n".join(parts) if parts else None


def conversation(prompt: str, answer: str, system: str | None,
                 history: Sequence[Sequence[str]] = ()) -> list[dict]:
    """A row as chat messages: its system turn (when there is one), its earlier [question, answer] turns oldest
    first, then its question and its answer."""
    head = [{"role": "system", "content": system}] if system else []
    earlier = [{"role": role, "content": text} for turn in history
               for role, text in zip(("user", "assistant"), turn, strict=True)]
    return [*head, *earlier, {"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def row_prompt(row: dict) -> str:
    """A row's user turn (a row as a dict of its columns): the instruction, and the input after a line break."""
    return row["instruction"] + ("\n" + row["input"] if row.get("input") else "")


def row_messages(row: dict, system: str | None) -> list[dict]:
    """A row (a dict of its columns) as chat messages under the build's system prompt `system`."""
    return conversation(row_prompt(row), row["output"], joined_system(system, row.get("system")),
                        row.get("history") or ())


def preference_rows(table: pa.Table) -> np.ndarray | None:
    """Where a table's rows are preference pairs (a rejected answer is set); None when none is (the common case,
    found without looking at a row)."""
    if "rejected" not in table.column_names or table["rejected"].null_count == table.num_rows:
        return None
    return np.asarray(pc.is_valid(table["rejected"]).combine_chunks(), dtype=bool) if table.num_rows else None


def _filled(table: pa.Table, name: str, length: Callable) -> np.ndarray | None:
    if name not in table.column_names:
        return None
    return np.asarray(pc.greater(pc.fill_null(length(table[name].combine_chunks()), 0), 0), dtype=bool)


def history_rows(table: pa.Table) -> np.ndarray | None:
    """Where a table's rows have earlier turns (None without the column)."""
    return _filled(table, "history", pc.list_value_length)


def context_rows(table: pa.Table) -> np.ndarray | None:
    """Where a table's rows carry more than a question and an answer (a system prompt of their own, earlier
    turns); None when none does."""
    if not table.num_rows:
        return None
    found = [marks for marks in (_filled(table, "system", pc.binary_length), history_rows(table)) if marks is not None]
    rows = np.logical_or.reduce(found) if found else None
    return rows if rows is not None and rows.any() else None


def has_richer_types(table: pa.Table) -> bool:
    """Whether a table holds a row of an instruction type beyond `single`."""
    if "type" not in table.column_names or not table.num_rows:
        return False
    return any(kind not in (SINGLE, None) for kind in table["type"].unique().to_pylist())


def row_conversations(table: pa.Table, system: str | None) -> list[tuple[int, list[dict]]]:
    """Each SFT row of a table (preference pairs left out) with its index in the table, as chat messages under the
    build's system prompt `system`."""
    prompts, answers = prompt_column(table).to_pylist(), table["output"].to_pylist()
    keep = preference_rows(table)
    rich = context_rows(table)
    owns = table["system"].to_pylist() if rich is not None and "system" in table.column_names else None
    histories = table["history"].to_pylist() if rich is not None and "history" in table.column_names else None
    talks = []
    for index, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        if keep is not None and keep[index]:
            continue
        if rich is not None and rich[index]:
            talk = conversation(prompt, answer, joined_system(system, owns[index] if owns else None),
                                (histories[index] or ()) if histories else ())
        else:
            talk = conversation(prompt, answer, system)
        talks.append((index, talk))
    return talks


class NoPrefix(str):
    """The problem of a conversation that does not start with the prompt rendered alone (no mask can be derived)."""


@dataclass(frozen=True)
class Span:
    """Where one assistant turn's mask lies in the rendered conversation: from `start` (after the conversation so
    far rendered alone with the generation prompt) to `end` (after its end-of-turn token, or the stop that opens the
    next turn)."""

    start: int
    end: int


def masked_spans(template: ChatTemplate, messages: list[dict]) -> tuple[str, list[Span]] | str:
    """The conversation rendered whole and the mask of each assistant turn in it, or what is wrong."""
    try:
        whole = template.render(messages, add_generation_prompt=False)
        turns = [k for k, message in enumerate(messages) if message["role"] == "assistant"]
        prompts = [template.render(messages[:k], add_generation_prompt=True) for k in turns]
        alone = [template.render(messages[:k + 1], add_generation_prompt=False) for k in turns[:-1]]
    except TemplateError as error:
        return f"the template fails on this row: {error}"
    lead = template.think_block if template.think == "answer" else ""
    spans: list[Span] = []
    for number, (k, prompt) in enumerate(zip(turns, prompts, strict=True)):
        where = f"turn {number + 1} of {len(turns)}: " if len(turns) > 1 else ""
        if not whole.startswith(prompt) or (spans and len(prompt) < spans[-1].end):
            return NoPrefix(where + "the prompt rendered alone is not where the conversation starts, so no mask can "
                                    "be derived")
        start, answer = len(prompt), messages[k]["content"]
        masked = whole[start:]
        if not masked.startswith(lead + answer):
            found = masked.find(answer)
            return where + ("the answer is not inside the mask" if found < 0 else
                            f"the mask holds {masked[:found]!r} of the prompt before the answer")
        after = start + len(lead) + len(answer)
        if number == len(turns) - 1:
            end = len(whole)
        elif whole.startswith(alone[number]):
            end = len(alone[number])  # the answer ends as it does when it is the last
        else:  # the template closes only the last answer: this one ends with what stops generation after it
            stop = next((stop for stop in template.turn_stops if whole.startswith(stop, after)), None)
            if stop is None:
                return where + (f"the end-of-turn token {template.end_of_turn} is outside the mask, and nothing else "
                                "the template stops at (stops) ends the answer")
            spans.append(Span(start, after + len(stop)))
            continue
        if template.end_of_turn not in whole[after:end]:
            return where + f"the end-of-turn token {template.end_of_turn} is outside the mask"
        spans.append(Span(start, end))
    return whole, spans


def mask_problem(template: ChatTemplate, messages: list[dict]) -> str | None:
    """What is wrong with the assistant masks of one conversation under `template`, or None when each covers its
    whole answer and its end-of-turn token and nothing of a system or user turn."""
    found = masked_spans(template, messages)
    return found if isinstance(found, str) else None


def chat_report(templates: list[ChatTemplate], checks: MaskChecks) -> dict:
    """The manifest's `chat_templates`: per template, rows checked and passed, its end-of-turn token and think
    policy; a template that failed on any row is a user error naming the first such row."""
    for template in templates:
        report = checks.reports.get(template.name, MaskReport())
        if report.failed:
            raise UserError(f"chat template '{template.name}': {report.failed} of {report.rows} rows fail the mask "
                            f"check; first, {report.first}", file=template.source,
                            remedy="make the assistant's turn follow the prompt rendered alone and end with its "
                                   "end_of_turn token, or leave the template out")
    return {"chat_templates": {t.name: {"rows": checks.reports.get(t.name, MaskReport()).rows, "failed": 0,
                                        "end_of_turn": t.end_of_turn, "think": t.think,
                                        "llamafactory": t.llamafactory, "description": t.description,
                                        "file": Path(t.source).name} for t in templates}}


def check_rows(names: Iterable[str], table: pa.Table, system: str | None, where: str) -> MaskChecks:
    """The mask check of every SFT row of a table (an exported shard; preference pairs left out) under each named
    template; a row is named by its index in the table."""
    checks = MaskChecks()
    talks = row_conversations(table, system)
    for name in names:
        template, report = load_chat_template(name), MaskReport()
        for index, talk in talks:
            problem = mask_problem(template, talk)
            report.rows += 1
            if problem:
                report.failed += 1
                report.first = report.first or f"{where} row {index}: {problem}"
        checks.reports[template.name] = report
    return checks
