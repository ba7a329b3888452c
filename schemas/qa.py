"""A doctor–patient question and its answer, as QA corpora hold them."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class QARecord(BaseModel):
    """One single-turn QA pair; `input` is extra context (Alpaca's input field)."""

    kind: ClassVar[str] = "qa"
    source_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "question": ("question", "ask", "问", "问题", "提问", "病人提问", "患者提问", "query", "instruction", "prompt"),
        "answer": ("answer", "答", "回答", "医生回答", "回复", "response", "output", "reply"),
        "input": ("input", "context", "上下文"),
        "title": ("title", "标题"),
        "department": ("department", "科室", "就诊科室"),
    }

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    question: str = Field(min_length=1, description="ask / question / 问题 / instruction")
    answer: str = Field(min_length=1, description="answer / 回答 / output")
    input: str | None = Field(None, description="extra context given with the question")
    title: str | None = Field(None, description="title: a short form of the question")
    department: str | None = Field(None, description="department / 科室")
