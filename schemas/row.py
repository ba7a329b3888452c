"""The output row: Alpaca's three fields plus the provenance every row carries."""

from pydantic import BaseModel, ConfigDict, Field


class OutputRow(BaseModel):
    """One instruction row; provenance says which input, record and template made it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruction: str = Field(min_length=1)
    input: str = Field("", description="empty unless the template or QA pair gives context")
    output: str = Field(min_length=1)
    source: str = Field(description="name of the input source")
    kind: str = Field(description="the record kind: qa, or a knowledge-base kind of schemas/")
    record_id: str = Field(description="stable id of the record: a hash of its content")
    template_id: str | None = Field(None, description="null for QA rows")
    variant: int | None = Field(None, description="index of the phrasing used; null for QA rows")
