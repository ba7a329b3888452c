"""Reverse questions: "哪些药可以用于治疗痛风？", answered with the knowledge base's entities whose extracted items of a
field (indications) include the condition, the answer saying it lists entities of this knowledge base, not all there
are. Only entities of one split's band are listed together (`sheet`), so one row per condition and band."""

import re
from collections.abc import Iterator
from functools import cache

from pydantic import Field, field_validator

from builder.expand.catalogue import Entry
from builder.expand.types.base import InstructionType, Text, TypeRow, TypeSpec, TypeTally, compiled
from builder.expand.types.sheet import ITEMS, Entity, Sheet
from builder.hashing import hash64
from builder.quality.normalize import fold

SAMPLE = {"condition": "示例", "names": "甲、乙"}
PLAIN = re.compile(r"[\u4e00-\u9fff]{2,12}")  # a condition by its name alone: no restriction, stage or list


class ReverseSpec(TypeSpec):
    id: str = Field(description="the template id its rows carry (KIND.reverse_FIELD)")
    field: str = Field("indications", description="the field whose extracted items are the conditions")
    questions: list[str] = Field(min_length=1, description="phrasings: condition")
    answer: str = Field(description="condition, names (joined with 、)")
    min_records: int = Field(2, ge=1, description="a condition listed by fewer entities of a band is not asked")
    max_records: int = Field(10, ge=1, description="entities listed at most")

    @field_validator("answer")
    @classmethod
    def renders(cls, source: str) -> str:
        compiled(source, "answer", **SAMPLE)
        return source

    @field_validator("questions")
    @classmethod
    def questions_render(cls, sources: list[str]) -> list[str]:
        for source in sources:
            compiled(source, "questions", **SAMPLE)
        return sources


@cache
def _text(source: str) -> Text:
    return Text(source, **SAMPLE)


class Reverse(InstructionType):
    name = "reverse"
    spec = ReverseSpec

    def check(self, spec: TypeSpec, entries: dict[str, Entry], kind: str) -> list[str]:
        assert isinstance(spec, ReverseSpec)
        return super().check(spec, entries, kind) + (
            [] if spec.field in ITEMS else [f"field '{spec.field}' has no extracted items ({', '.join(ITEMS)})"])

    def rows(self, sheet: Sheet, spec: TypeSpec, entries: dict[str, Entry], seed: int,
             tally: TypeTally) -> Iterator[TypeRow]:
        assert isinstance(spec, ReverseSpec)
        listed: dict[tuple[int, str], tuple[str, list[Entity]]] = {}
        for entity in sheet:
            said = fold(entity.context.get(spec.field) or "")
            for item in entity.items(spec.field):
                if PLAIN.fullmatch(item) and fold(item) in said:  # as the record writes it: not one the extractor
                    # completed from a shared part (急性和慢性白血病 → 急性白血病), which a reader could not find
                    _, members = listed.setdefault((entity.band, fold(item)), (item, []))
                    if not any(not Sheet.distinct(entity, m) for m in members):
                        members.append(entity)
        for (_band, key), (condition, members) in sorted(listed.items(), key=lambda x: x[0]):
            tally.looked_at += 1
            if len(members) < spec.min_records:
                tally.skip("too_few_records")
                continue
            members = sorted(members, key=lambda e: hash64(seed, "reverse", key, e.record_id))[:spec.max_records]
            variant = hash64(seed, "ask", key) % len(spec.questions)
            tally.rows += 1
            yield TypeRow(members[0], spec.id, variant, _text(spec.questions[variant])(condition=condition),
                          _text(spec.answer)(condition=condition, names="、".join(m.name for m in members)),
                          companions=members[1:])
