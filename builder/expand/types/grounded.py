"""Knowledge-grounded rows: the question with material in the prompt, the entity's record among records of
confusable entities, and the answer from the right record; in a set share of rows the right record is left out and
the answer says the material does not cover it (QiZhen's 知识库辅助大模型生成答案, RAFT's distractor documents)."""

from collections.abc import Iterator
from functools import partial

from pydantic import Field

from builder.expand.catalogue import Entry
from builder.expand.types.base import (
    InstructionType,
    TypeRow,
    TypeSpec,
    TypeTally,
    answer,
    ask,
    label,
    pairs,
    text,
)
from builder.expand.types.sheet import Entity, Sheet
from builder.hashing import hash64


class GroundedSpec(TypeSpec):
    texts = ("material", "answer", "absent")
    sample = {"number": 1, "name": "示例", "aliases": ["示例"], "text": "适应证：示例内容", "answer": "示例", "label": "适应证"}

    companions: int = Field(3, ge=1, le=8, description="records of confusable entities shown with the right one")
    absent_share: float = Field(0.1, ge=0, lt=1, description="share of rows whose material lacks the right record")
    system: str = Field(min_length=1, description="the system prompt: answer from the material only")
    material: str = Field(description="one record in the material: number, name, aliases (a list), text (its "
                                      "fields, labelled); show the aliases an answer may name")
    joiner: str = "\n\n"
    answer: str = Field("根据资料{{ number }}，{{ answer }}", description="number, answer (the template's)")
    absent: str = Field(description="the answer when the material lacks the record: name, label")


def shown(entity: Entity, fields: tuple[str, ...], kind: str) -> str:
    """The fields a question needs, labelled, as the material shows them."""
    return "\n".join(f"{label(kind, name)}：{entity.context[name]}" for name in fields)


def _beside(entity: Entity, fields: tuple[str, ...], other: Entity) -> bool:
    """A record that can stand beside the entity's: it has the fields, and their text does not name the entity."""
    return all(other.context.get(n) for n in fields) and not any(
        key in other.folded(n) for n in fields for key in entity.keys)


class Grounded(InstructionType):
    name = "grounded"
    spec = GroundedSpec

    def rows(self, sheet: Sheet, spec: TypeSpec, entries: dict[str, Entry], seed: int,
             tally: TypeTally) -> Iterator[TypeRow]:
        assert isinstance(spec, GroundedSpec)
        chosen: list[tuple[Entity, Entry, list[Entity]]] = []
        for entity, entry in pairs(sheet, spec, entries, seed, "grounded", tally):
            companions = sheet.confusables(entity, partial(_beside, entity, entry.requires), spec.companions,
                                           salt=f"grounded{entry.id}")
            if companions:
                chosen.append((entity, entry, companions))
            else:
                tally.skip("no_confusable_record")
        ranked = sorted(range(len(chosen)), key=lambda i: hash64(seed, "absent", chosen[i][0].record_id,
                                                                 chosen[i][1].id))
        absent = set(ranked[:round(spec.absent_share * len(chosen))])
        for i, (entity, entry, companions) in enumerate(chosen):
            tally.rows += 1
            yield self._row(entity, entry, companions, i in absent, spec, seed)

    @staticmethod
    def _row(entity: Entity, entry: Entry, companions: list[Entity], absent: bool, spec: GroundedSpec,
             seed: int) -> TypeRow:
        variant, question = ask(entry, entity, seed, "grounded")
        records = list(companions)
        at = hash64(seed, "place", entity.record_id, entry.id) % (len(records) + 1)
        if not absent:
            records.insert(at, entity)
        material = text(spec.material)
        blocks = [material(number=n, name=r.name, aliases=r.context.get("aliases") or [],
                           text=shown(r, entry.requires, entry.kind))
                  for n, r in enumerate(records, 1)]
        if absent:
            said = text(spec.absent)(name=entity.name, label="、".join(label(entry.kind, f) for f in entry.requires))
        else:
            said = text(spec.answer)(number=at + 1, answer=answer(entry, entity))
        return TypeRow(entity, entry.id, variant, question, said, input=spec.joiner.join(blocks), system=spec.system,
                       companions=companions)
