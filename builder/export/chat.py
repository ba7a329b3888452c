"""Chat templates and the loss-mask check: every exported row rendered as a trainer renders it, its assistant
mask derived by rendering the prompt alone, and that mask shown to cover the whole answer and the end-of-turn
token and nothing of the prompt.

A chat template is data: a TOML file (`templates/chat/NAME.toml` ships ChatML, Qwen3 with and without thinking,
Llama 3 and GLM-4; `--chat-template PATH.toml` adds one) holding a Jinja2 template in the Hugging Face style
(`messages`, `add_generation_prompt`), run in Jinja2's sandbox like the catalogue, the token that ends the
assistant's turn, and the think-tag policy: `none` (no think tags), `prompt` (an empty think block closes the
prompt, as Qwen3 renders `enable_thinking=False`) or `answer` (the answer opens with `think_block`, learned).

The mask of a row is what follows the prompt rendered alone with `add_generation_prompt`: a template whose
conversation does not start with that prompt has no mask a trainer could derive (a trainer falls back to
training on everything), and one whose answer is not followed by the end-of-turn token inside the mask trains
a model that never learns to stop. Both are failures, named with the row.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import pyarrow as pa
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, ValidationError

from builder.config import SHIPPED_TEMPLATES
from builder.errors import UserError
from builder.rows import prompt_column

SHIPPED_CHAT = SHIPPED_TEMPLATES / "chat"


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
    source: str = ""

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


def conversation(prompt: str, answer: str, system: str | None) -> list[dict]:
    """A row as chat messages: the system prompt (when the build has one), the user's turn, the answer."""
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def mask_problem(template: ChatTemplate, messages: list[dict]) -> str | None:
    """What is wrong with the assistant mask of one conversation under `template`, or None when it covers the
    whole answer and the end-of-turn token and nothing of the prompt."""
    try:
        whole = template.render(messages, add_generation_prompt=False)
        prompt = template.render(messages[:-1], add_generation_prompt=True)
    except TemplateError as error:
        return f"the template fails on this row: {error}"
    if not whole.startswith(prompt):
        return "the prompt rendered alone is not where the conversation starts, so no mask can be derived"
    masked, answer = whole[len(prompt):], messages[-1]["content"]
    lead = template.think_block if template.think == "answer" else ""
    if not masked.startswith(lead + answer):
        where = masked.find(answer)
        return ("the answer is not inside the mask" if where < 0 else
                f"the mask holds {masked[:where]!r} of the prompt before the answer")
    if template.end_of_turn not in masked[len(lead) + len(answer):]:
        return f"the end-of-turn token {template.end_of_turn} is outside the mask"
    return None


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
    """The mask check of every row of a table (an exported shard) under each named template."""
    checks = MaskChecks()
    prompts, answers = prompt_column(table).to_pylist(), table["output"].to_pylist()
    for name in names:
        template, report = load_chat_template(name), MaskReport()
        for index, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
            problem = mask_problem(template, conversation(prompt, answer, system))
            report.rows += 1
            if problem:
                report.failed += 1
                report.first = report.first or f"{where} row {index}: {problem}"
        checks.reports[template.name] = report
    return checks
