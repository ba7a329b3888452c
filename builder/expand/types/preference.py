"""Preference pairs (DPO, KTO): the chosen answer is the record's; the rejected one is the same answer with one dose
or frequency changed (`perturb`), or with the same field of a confusable entity whose text says something else."""

from collections.abc import Iterator
from functools import partial

from builder.expand.catalogue import Entry
from builder.expand.perturb import perturb_dosage
from builder.expand.types.base import InstructionType, TypeRow, TypeSpec, TypeTally, answer, ask, overlap, pairs
from builder.expand.types.sheet import Entity, Sheet
from builder.hashing import hash64


class PreferenceSpec(TypeSpec):
    perturb: list[str] = ["usage_dosage"]  # fields whose rejected answer changes a dose or frequency


def _contrary(entity: Entity, name: str, other: Entity) -> bool:
    """A record whose field says something else than the entity's."""
    return bool(other.context.get(name)) and not overlap(entity, other, name)


class Preference(InstructionType):
    name = "preference"
    spec = PreferenceSpec

    def check(self, spec: TypeSpec, entries: dict[str, Entry], kind: str) -> list[str]:
        return super().check(spec, entries, kind) + [
            f"template '{t}' asks about {', '.join(entries[t].requires)}; a preference pair swaps one field"
            for t in spec.templates if t in entries and len(entries[t].requires) != 1]

    def rows(self, sheet: Sheet, spec: TypeSpec, entries: dict[str, Entry], seed: int,
             tally: TypeTally) -> Iterator[TypeRow]:
        assert isinstance(spec, PreferenceSpec)
        for entity, entry in pairs(sheet, spec, entries, seed, "preference", tally):
            name = entry.requires[0]
            changed = perturb_dosage(entity.context[name], hash64(seed, "perturb", entity.record_id)) \
                if name in spec.perturb else None
            companions = []
            if changed is not None:
                rejected = answer(entry, entity, **{name: changed.text})
            else:
                companions = sheet.confusables(entity, partial(_contrary, entity, name), 1,
                                               salt=f"preference{entry.id}")
                if not companions:
                    tally.skip("no_rejected_answer")
                    continue
                rejected = answer(entry, entity, **{name: companions[0].context[name]})
            chosen = answer(entry, entity)
            if rejected == chosen:
                tally.skip("no_rejected_answer")
                continue
            variant, question = ask(entry, entity, seed, "preference")
            tally.rows += 1
            yield TypeRow(entity, entry.id, variant, question, chosen, rejected=rejected, companions=companions)
