"""Consultations: two to five questions about one entity chained in one conversation, in the order the spec lists
its templates (适应证 → 用法用量 → 禁忌 → 不良反应), each answered from the record as its template answers it."""

from collections.abc import Iterator

from pydantic import Field, model_validator

from builder.expand.catalogue import Entry
from builder.expand.types.base import InstructionType, TypeRow, TypeSpec, TypeTally, answer, applies, ask
from builder.expand.types.sheet import Sheet
from builder.hashing import hash64


class ConsultationSpec(TypeSpec):
    min_turns: int = Field(2, ge=2, description="fewest questions in a conversation")
    max_turns: int = Field(5, ge=2, description="most questions in a conversation")

    @model_validator(mode="after")
    def ordered(self) -> "ConsultationSpec":
        if self.max_turns < self.min_turns:
            raise ValueError(f"max_turns ({self.max_turns}) is below min_turns ({self.min_turns})")
        return self


class Consultation(InstructionType):
    name = "consultation"
    spec = ConsultationSpec

    def rows(self, sheet: Sheet, spec: TypeSpec, entries: dict[str, Entry], seed: int,
             tally: TypeTally) -> Iterator[TypeRow]:
        assert isinstance(spec, ConsultationSpec)
        for entity in sheet:
            tally.looked_at += 1
            usable = [entries[t] for t in spec.templates if applies(entries[t], entity)]
            if len(usable) < spec.min_turns:
                tally.skip("too_few_fields")
                continue
            most = min(spec.max_turns, len(usable))
            turns = usable[:spec.min_turns + hash64(seed, "turns", entity.record_id) % (most - spec.min_turns + 1)]
            asked = [(ask(entry, entity, seed, "consultation"), answer(entry, entity)) for entry in turns]
            (variant, question), said = asked[-1]
            tally.rows += 1
            yield TypeRow(entity, "+".join(entry.id for entry in turns), variant, question, said,
                          history=[[q, a] for (_, q), a in asked[:-1]])
