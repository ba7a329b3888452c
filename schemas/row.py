"""The output row: Alpaca's three fields, what richer instruction types add, and the provenance every row carries."""

from pydantic import BaseModel, ConfigDict, Field


class OutputRow(BaseModel):
    """One instruction row; provenance says which input, records and template made it, and of which type it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruction: str = Field(min_length=1)
    input: str = Field("", description="empty unless the template or QA pair gives context")
    output: str = Field(min_length=1, description="the answer; for a preference pair, the chosen one")
    source: str = Field(description="name of the input source")
    kind: str = Field(description="the record kind: qa, or a knowledge-base kind of schemas/")
    record_id: str = Field(description="stable id of the record: a hash of its content")
    template_id: str | None = Field(None, description="null for QA rows; several joined by '+' for a consultation")
    variant: int | None = Field(None, description="index of the phrasing used; null for QA rows")
    type: str = Field("single", description="instruction type: single, grounded, consultation, choice, preference, "
                                            "reverse (builder.expand.types)")
    system: str = Field("", description="the type's system prompt (a grounded row's), else empty")
    history: list[list[str]] = Field(default_factory=list, description="earlier [question, answer] turns, oldest "
                                                                        "first (a consultation), else empty")
    rejected: str | None = Field(None, description="a preference pair's rejected answer; null for other types")
    companions: list[str] = Field(default_factory=list, description="ids of the other records the row shows "
                                                                     "(material, options, listed entities)")
