"""A doctor–patient question and its answer, as QA corpora hold them."""

from pydantic import BaseModel, ConfigDict, Field


class QARecord(BaseModel):
    """One single-turn QA pair; `input` is extra context (Alpaca's input field)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    question: str = Field(min_length=1, description="ask / question / 问题 / instruction")
    answer: str = Field(min_length=1, description="answer / 回答 / output")
    input: str | None = Field(None, description="extra context given with the question")
    title: str | None = Field(None, description="title: a short form of the question")
    department: str | None = Field(None, description="department / 科室")
