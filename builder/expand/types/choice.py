"""Multiple choice in the CMExam style: one field of one entity; the options are items of that field (the right one)
and of the same field of other entities whose items the right text does not hold, nor they its items, and of
another area (a drug of the same system may well treat what its record does not list, which would make a second
right option; records without a category give no distractors); the
right letter cycles over the rows in a seeded order, so every letter is right about equally often; the answer gives
the letter and the record's text."""

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
    label,
    overlap,
    pairs,
    text,
)
from builder.expand.types.sheet import ITEMS, Entity, Sheet
from builder.hashing import hash64

LETTERS = "ABCDEF"


class ChoiceSpec(TypeSpec):
    texts = ("stems", "option", "answer")
    sample = {"name": "示例", "label": "适应证", "letter": "A", "text": "示例", "answer": "示例", "options": "A. 示例"}

    options: int = Field(4, ge=2, le=len(LETTERS), description="options per question, the right one included")
    items: int = Field(3, ge=1, le=8, description="extracted items an option lists")
    stems: list[str] = Field(min_length=1, description="the question: name, label, options (the option lines)")
    option: str = Field("{{ letter }}. {{ text }}", description="one option line: letter, text")
    answer: str = Field("答案：{{ letter }}。{{ answer }}", description="letter, answer (the template's)")



def option_text(entity: Entity, name: str, items: int) -> str:
    return "、".join(entity.conditions(name)[:items])


def _distractor(entity: Entity, name: str, other: Entity) -> bool:
    return bool(other.conditions(name)) and not Sheet.same_area(entity, other) and not overlap(entity, other, name)


class Choice(InstructionType):
    name = "choice"
    spec = ChoiceSpec

    def check(self, spec: TypeSpec, entries: dict[str, Entry], kind: str) -> list[str]:
        return super().check(spec, entries, kind) + [
            f"template '{t}' asks about {', '.join(entries[t].requires)}; multiple choice needs one field with "
            f"extracted items ({', '.join(ITEMS)})" for t in spec.templates
            if t in entries and (len(entries[t].requires) != 1 or entries[t].requires[0] not in ITEMS)]

    def rows(self, sheet: Sheet, spec: TypeSpec, entries: dict[str, Entry], seed: int,
             tally: TypeTally) -> Iterator[TypeRow]:
        assert isinstance(spec, ChoiceSpec)
        chosen: list[tuple[Entity, Entry, list[Entity]]] = []
        for entity, entry in pairs(sheet, spec, entries, seed, "choice", tally):
            name = entry.requires[0]
            if not entity.conditions(name) or len(entity.conditions(name)) < len(entity.items(name)) / 2:
                tally.skip("no_clear_items")
                continue
            others = sheet.confusables(entity, partial(_distractor, entity, name), spec.options - 1,
                                       salt=f"choice{entry.id}", near=False)
            if len(others) < spec.options - 1:
                tally.skip("too_few_distractors")
                continue
            chosen.append((entity, entry, others))
        order = sorted(range(len(chosen)), key=lambda i: hash64(seed, "letter", chosen[i][0].record_id,
                                                                chosen[i][1].id))
        for rank, i in enumerate(order):
            entity, entry, others = chosen[i]
            tally.rows += 1
            yield self._row(entity, entry, others, rank % spec.options, spec, seed)

    @staticmethod
    def _row(entity: Entity, entry: Entry, others: list[Entity], right: int, spec: ChoiceSpec,
             seed: int) -> TypeRow:
        name = entry.requires[0]
        shown = list(others)
        shown.insert(right, entity)
        lines = "\n".join(text(spec.option)(letter=LETTERS[i], text=option_text(e, name, spec.items))
                          for i, e in enumerate(shown))
        variant = hash64(seed, "stem", entity.record_id, entry.id) % len(spec.stems)
        stem = text(spec.stems[variant])(name=entity.name, label=label(entry.kind, name), options=lines)
        said = text(spec.answer)(letter=LETTERS[right], answer=answer(entry, entity))
        return TypeRow(entity, entry.id, variant, stem, said, companions=others)
