"""The audit of rows of the richer instruction types (`builder.expand.types`): each row read back into its parts by
its type's declared texts (`shapes`), each part checked against the source record it stands for, re-read.

- grounded: the answer is the type's "absent" text (then neither the record nor a record of its entity is in the
  material) or "根据资料N，" and the template's answer for the record, block N being the record's; every block is the
  asked field's text of the row's record or of a companion, in the order the builder placed them.
- consultation: every turn is a phrasing of its template (template ids joined with "+", in turn order) about the
  record, answered as that template answers for the record.
- choice: the right letter's option is items of the record's field, every other one items of a companion's field,
  none overlapping the right one (`overlap`, re-computed on the re-read records); the answer after the letter is the
  template's answer for the record.
- preference: the chosen answer is the template's for the record; the rejected one is it with one dose or frequency
  changed (`perturb` semantics) when the row shows no companion, else the template's answer with the field of its one
  companion, whose field does not overlap the record's.
- reverse: every listed name is the row's record's or a companion's, and each of those records' extracted items of
  the field include the condition asked.
"""

from collections.abc import Iterator
from functools import partial

from builder.audit import shapes
from builder.audit.checks import Finding
from builder.audit.resolve import ITEM, ITEMS, TEXT, Probe
from builder.audit.shapes import Declared
from builder.audit.source import Template
from builder.audit.text import CLAUSE_MARKS
from builder.audit.typed import Item, Lookup, Plan, Row
from builder.errors import UserError
from builder.expand.perturb import candidates
from builder.expand.types.base import TypeSpec
from builder.expand.types.choice import LETTERS, ChoiceSpec
from builder.expand.types.grounded import GroundedSpec
from builder.expand.types.preference import PreferenceSpec
from builder.expand.types.reverse import ReverseSpec
from builder.expand.types.sheet import Entity, Sheet
from builder.quality.normalize import fold


class Context:
    """What every plan reads: the catalogue's declarations and templates, and where an unknown id is reported."""

    def __init__(self, declared: Declared, named: dict[str, Template], manifest: str) -> None:
        self.declared, self.named, self.manifest = declared, named, manifest

    def spec(self, row: Row) -> TypeSpec:
        spec = self.declared.spec(row.kind, row.type)
        if spec is None:
            raise UserError(f"rows are of type '{row.type}', which the {row.kind} catalogue the manifest names does "
                            "not declare", file=self.manifest, remedy="restore the catalogue the build used, or "
                                                                      "build again")
        return spec

    def template(self, template_id: str) -> Template:
        if template_id not in self.named or template_id not in self.declared.requires:
            raise UserError(f"rows come from template '{template_id}', which the catalogue the manifest names does "
                            "not hold", file=self.manifest, remedy="restore the catalogue the build used, or build "
                                                                   "again")
        return self.named[template_id]

    def answer(self, plan: Plan, part: str, answer: str, template_id: str, record_id: str,
               framed_by: str | None = None, shared: tuple[str, ...] = ()) -> None:
        """`answer` is the template's answer for `record_id` (for a rejected answer: with `framed_by`'s frame, the
        clauses it `shared` with the chosen answer)."""
        template = self.named[template_id]
        plan.answer(part, answer, record_id, template.fields, template.frame + shared, framed_by)

    def question(self, plan: Plan, part: str, question: str, template_id: str) -> None:
        """`question` is one of the template's phrasings, about the row's record."""
        name = self.declared.asks(template_id, question)
        if name is None:
            plan.flag(part, "wrong_question", question, f"a phrasing of {template_id}")
        elif name:
            plan.names(part, name, plan.row.record_id, "wrong_question")


def plan(row: Row, context: Context) -> Plan:
    """The checks of one row of a known type."""
    return PLANNERS[row.type](row, context)


def _grounded(row: Row, context: Context) -> Plan:
    spec = context.spec(row)
    assert isinstance(spec, GroundedSpec)
    found = Plan(row)
    context.template(row.template_id)
    requires = context.declared.requires[row.template_id]
    labels = tuple(context.declared.labels(row.template_id))
    context.question(found, "instruction", row.instruction, row.template_id)
    absent = shapes.read(spec.absent, row.output, label="、".join(labels)) or shapes.read(spec.absent, row.output)
    said = None if absent is not None else shapes.read(spec.answer, row.output)
    blocks = _blocks(row.input, spec)
    shown = len(row.companions) + (0 if absent is not None else 1)
    mapping: list[tuple[tuple[str, str, str], str]] = []
    if absent is None and said is None:
        found.flag("output", "wrong_shape", row.output, "the grounded answer or absent text")
    elif blocks is None or len(blocks) != shown:
        found.flag("input", "wrong_material", f"{len(blocks or [])} material blocks",
                   f"{shown} records: {'' if absent is not None else 'the row’s and '}its {len(row.companions)} "
                   "companions")
    elif absent is not None:
        mapping = list(zip(blocks, row.companions, strict=True))
    elif said is not None and (number := _number(said.get("number"), len(blocks))):
        others = blocks[:number - 1] + blocks[number:]
        mapping = [(blocks[number - 1], row.record_id), *zip(others, row.companions, strict=True)]
    else:
        found.flag("output", "wrong_material", row.output[:40], f"a block number 1 to {len(blocks)}")
    for (number_, name, value), record_id in mapping:
        part = f"input block {number_}"
        found.said.append((record_id, name, value))
        found.names(part, name, record_id, "wrong_material")
        found.answer(part, value, record_id, frozenset(requires), labels)
    if absent is not None:
        found.said.append((row.record_id, row.instruction, row.output))
        if absent.get("name") is not None:
            found.names("output", absent["name"], row.record_id, "wrong_shape")
        if absent.get("label") not in (None, "、".join(labels)):
            found.flag("output", "wrong_shape", absent["label"], "、".join(labels))
        found.texts += [name for _, name, _ in blocks or []]
        found.later([row.record_id], partial(_not_named, row, blocks or []))
        for block, record_id in mapping:
            found.later([row.record_id, record_id], partial(_not_the_entity, row, block, record_id))
    elif said is not None:
        found.said.append((row.record_id, row.instruction, said["answer"]))
        context.answer(found, "output", said["answer"], row.template_id, row.record_id)
    return found


def _number(said: str | None, blocks: int) -> int:
    """The block number an answer cites, or 0 when it cites none of the blocks."""
    return int(said) if said and said.isdigit() and 1 <= int(said) <= blocks else 0


def _blocks(material: str, spec: GroundedSpec) -> list[tuple[str, str, str]] | None:
    """The material's blocks (number, name, text), or None when a block is not of the material's shape or the
    blocks are not numbered 1, 2, …"""
    opening = shapes.lead(spec.material)
    pieces = material.split(spec.joiner + opening) if opening else material.split(spec.joiner)
    blocks = []
    for i, piece in enumerate(pieces):
        found = shapes.read(spec.material, piece if i == 0 or not opening else opening + piece)
        if found is None or found.get("number") != str(i + 1):
            return None
        blocks.append((found["number"], found.get("name") or "", found.get("text") or ""))
    return blocks


def _not_named(row: Row, blocks: list[tuple[str, str, str]], lookup: Lookup) -> Iterator[Item]:
    """No block of an absent row's material names the row's record."""
    for number, name, _ in blocks:
        if lookup.named(name, row.record_id):
            yield f"input block {number}", _shown(name, lookup, row)


def _not_the_entity(row: Row, block: tuple[str, str, str], record_id: str, lookup: Lookup) -> Iterator[Item]:
    """No block of an absent row's material is a record of the row's record's entity."""
    if not Sheet.distinct(lookup.entity(row.record_id, row.kind), lookup.entity(record_id, row.kind)):
        yield f"input block {block[0]}", _shown(block[1], lookup, row)


def _shown(name: str, lookup: Lookup, row: Row) -> Finding:
    return _finding("absent_but_shown", name, f"the row is about {lookup.keyed(row.record_id).record.name}")


def _consultation(row: Row, context: Context) -> Plan:
    context.spec(row)
    found = Plan(row)
    ids = row.template_id.split("+")
    for template_id in ids:
        context.template(template_id)
    turns = [*row.history, [row.instruction, row.output]]
    if len(turns) != len(ids) or any(len(turn) != 2 for turn in turns):
        found.flag("history", "wrong_shape", f"{len(turns)} turns", f"{len(ids)} templates: {row.template_id}")
        return found
    for number, (template_id, (question, answer)) in enumerate(zip(ids, turns, strict=True), 1):
        found.said.append((row.record_id, question, answer))
        context.question(found, f"turn {number} question", question, template_id)
        context.answer(found, f"turn {number} answer", answer, template_id, row.record_id)
    return found


def _opened(row: Row, context: Context) -> tuple[Plan, str]:
    """A row of a type that asks one field of one template: its plan, and that field."""
    context.template(row.template_id)
    return Plan(row), context.declared.requires[row.template_id][0]


def _choice(row: Row, context: Context) -> Plan:
    spec = context.spec(row)
    assert isinstance(spec, ChoiceSpec)
    found, name = _opened(row, context)
    stems = ([spec.stems[row.variant]] if 0 <= row.variant < len(spec.stems) else []) + spec.stems
    label = context.declared.labels(row.template_id)[0]
    stem = next((s for source in stems for fixed in ({"label": label}, {})
                 if (s := shapes.read(source, row.instruction, **fixed)) is not None), None)
    said = shapes.read(spec.answer, row.output)
    options = [shapes.read(spec.option, line) for line in (stem or {}).get("options", "").split("\n")]
    if stem is None:
        found.flag("instruction", "wrong_question", row.instruction, "a stem of the choice type")
    else:
        if stem.get("name") is not None:
            found.names("instruction", stem["name"], row.record_id, "wrong_question")
        if stem.get("label") not in (None, label):
            found.flag("instruction", "wrong_question", stem["label"], label)
    if said is None:
        found.flag("output", "wrong_shape", row.output, "答案 and the template's answer")
        return found
    found.said.append((row.record_id, (stem or {}).get("name") or row.instruction, said["answer"]))
    context.answer(found, "output", said["answer"], row.template_id, row.record_id)
    letters = [o.get("letter") if o else None for o in options]
    if stem is None or None in letters or letters != list(LETTERS[:len(letters)]):
        found.flag("instruction", "wrong_shape", (stem or {}).get("options", ""), "option lines A, B, C …")
    elif len(options) != len(row.companions) + 1 or said.get("letter") not in letters:
        found.flag("output", "wrong_option", f"{len(options)} options, answer {said.get('letter')}",
                   f"{len(row.companions) + 1} records")
    else:
        right = letters.index(said["letter"])
        others = iter(row.companions)
        for i, option in enumerate(options):
            record_id = row.record_id if i == right else next(others)
            found.later([record_id], partial(_option, row, option or {}, record_id, name, spec))
            if record_id != row.record_id:
                found.probes.append((record_id, Probe(ITEMS, name, (option or {}).get("text") or "", spec.items)))
        found.later([row.record_id, *row.companions], partial(_distractors, row, name))
    return found


def _option(row: Row, option: dict, record_id: str, name: str, spec: ChoiceSpec, lookup: Lookup) -> Iterator[Item]:
    entity = lookup.entity(record_id, row.kind)
    if not _items_of(option.get("text") or "", entity, name, spec.items):
        yield f"option {option['letter']}", _finding("wrong_option", option.get("text") or "",
                                                     f"{entity.name}: {'、'.join(entity.items(name))}", name)


def _items_of(shown: str, entity: Entity, name: str, count: int) -> bool:
    """Whether an option's text is items of the record's field: its first `count` items, or (where cleaning made
    the items split otherwise) each piece one of its items."""
    items = entity.items(name)
    if fold(shown) == fold("、".join(items[:count])):
        return True
    known = {fold(piece) for item in items for piece in (item, *item.split("、"))}
    pieces = [fold(piece) for piece in shown.split("、")]
    return bool(pieces) and all(piece and piece in known for piece in pieces)


def _distractors(row: Row, name: str, lookup: Lookup) -> Iterator[Item]:
    mine = lookup.entity(row.record_id, row.kind)
    for record_id in row.companions:
        other = lookup.entity(record_id, row.kind)
        if not lookup.apart(row.record_id, record_id, row.kind, name):
            yield f"companion {record_id}", _finding("overlapping_distractor", "、".join(other.items(name)),
                                                     "、".join(mine.items(name)), name)


def _preference(row: Row, context: Context) -> Plan:
    spec = context.spec(row)
    assert isinstance(spec, PreferenceSpec)
    found, name = _opened(row, context)
    context.question(found, "instruction", row.instruction, row.template_id)
    found.said.append((row.record_id, row.instruction, row.output))
    context.answer(found, "output", row.output, row.template_id, row.record_id)
    if row.rejected is None or len(row.companions) > 1:
        found.flag("rejected", "wrong_shape", row.rejected or "", "a rejected answer from at most one companion")
    elif not row.companions:
        if name not in spec.perturb:
            found.flag("rejected", "not_perturbed", row.rejected, f"{name} is not perturbed; its rejected answer is "
                                                                  "a companion's")
        else:
            found.later([row.record_id], partial(_perturbation, row, name))
    else:
        companion = row.companions[0]
        shared = shared_clauses(row.output, row.rejected)
        context.answer(found, "rejected", row.rejected, row.template_id, companion, framed_by=row.record_id,
                       shared=shared)
        head, tail = (shared[0] if shared and row.rejected.startswith(shared[0]) else ""), (
            shared[-1] if shared and row.rejected.endswith(shared[-1]) and len(shared[-1]) < len(row.rejected) else "")
        found.probes.append((companion, Probe(TEXT, name, row.rejected[len(head):len(row.rejected) - len(tail)])))
        found.later([row.record_id, companion], partial(_rejected_overlap, row, name, companion))
    return found


def _perturbation(row: Row, name: str, lookup: Lookup) -> Iterator[Item]:
    chosen, rejected = row.output, row.rejected or ""
    field_text = lookup.entity(row.record_id, row.kind).context.get(name) or ""
    if not perturbed(chosen, rejected, field_text):
        start = _first_difference(chosen, rejected)
        yield "rejected", _finding("not_perturbed", rejected[max(0, start - 10):start + 20],
                                   chosen[max(0, start - 10):start + 20], name)


def perturbed(chosen: str, rejected: str, field_text: str) -> bool:
    """Whether `rejected` is `chosen` with one dose or frequency expression of the record's field changed as
    `perturb_dosage` changes one: one of its candidates in the field's text, given one of its replacements."""
    if chosen == rejected:
        return False
    for match, _, options in candidates(field_text):
        before = match.group()
        lead, tail = match.start("num") - match.start(), match.end() - match.end("num")
        at = chosen.find(before)
        while at >= 0:
            head, rest = chosen[:at], chosen[at + len(before):]
            if rejected.startswith(head) and any(head + before[:lead] + new + before[len(before) - tail:] + rest
                                                 == rejected for new in options):
                return True
            at = chosen.find(before, at + 1)
    return False


def shared_clauses(chosen: str, rejected: str) -> tuple[str, ...]:
    """The whole clauses a rejected answer shares with the chosen one at its start and at its end: the template's
    frame for the row's record (its name, aliases, label), audited with the chosen answer."""
    same = _first_difference(chosen, rejected)
    head = chosen[:max((chosen.rfind(mark, 0, same) for mark in CLAUSE_MARKS), default=-1) + 1]
    back = min(_first_difference(chosen[::-1], rejected[::-1]), min(len(chosen), len(rejected)) - len(head))
    tail = chosen[len(chosen) - back:]
    cut = min((i for i in (tail.find(mark) for mark in CLAUSE_MARKS) if i >= 0), default=len(tail))
    return tuple(t for t in (head, tail[cut + 1:]) if t)


def _first_difference(one: str, other: str) -> int:
    """Where two texts first differ (the shorter one's length when one begins the other)."""
    return next((i for i, (a, b) in enumerate(zip(one, other, strict=False)) if a != b), min(len(one), len(other)))


def _rejected_overlap(row: Row, name: str, companion: str, lookup: Lookup) -> Iterator[Item]:
    mine, other = lookup.entity(row.record_id, row.kind), lookup.entity(companion, row.kind)
    if not lookup.apart(row.record_id, companion, row.kind, name):
        yield "rejected", _finding("overlapping_rejected", other.context.get(name) or "", mine.context.get(name) or "",
                                   name)


def _reverse(row: Row, context: Context) -> Plan:
    spec = context.spec(row)
    assert isinstance(spec, ReverseSpec)
    if row.template_id != spec.id:
        context.template(row.template_id)  # says the id is unknown
    found = Plan(row)
    questions = ([spec.questions[row.variant]] if 0 <= row.variant < len(spec.questions) else []) + spec.questions
    asked = next((q for source in questions if (q := shapes.read(source, row.instruction)) is not None), None)
    said = shapes.read(spec.answer, row.output)
    if asked is None:
        found.flag("instruction", "wrong_question", row.instruction, "a question of the reverse type")
    if said is None:
        found.flag("output", "wrong_shape", row.output, "the reverse answer")
    if asked is None or said is None:
        return found
    condition = asked.get("condition") or ""
    if said.get("condition") not in (None, condition):
        found.flag("output", "wrong_shape", said["condition"], condition)
    members = [row.record_id, *row.companions]
    pieces = (said.get("names") or "").split("、")
    found.texts += pieces
    if len(pieces) == len(members):
        found.said += [(m, piece, piece) for m, piece in zip(members, pieces, strict=True)]
    found.later(members, partial(_listed, row, pieces, members))
    for member in members:
        found.later([member], partial(_lists, row, condition, member, spec.field))
        found.probes.append((member, Probe(ITEM, spec.field, condition)))
    return found


def _listed(row: Row, pieces: list[str], members: list[str], lookup: Lookup) -> Iterator[Item]:
    """Every listed name names one of the row's records, and each of them is listed; a name that holds 、 is
    looked for joined again."""
    left = list(members)
    at = 0
    while at < len(pieces):
        for end in range(at + 1, min(len(pieces), at + 3) + 1):
            hit = next((m for m in left if lookup.named("、".join(pieces[at:end]), m)), None)
            if hit is not None:
                left.remove(hit)
                at = end
                break
        else:
            yield "output", _finding("unlisted_record", pieces[at], "the names of the row's records")
            at += 1
    for member in left:
        yield f"companion {member}" if member != row.record_id else "row", _finding(
            "unlisted_record", "、".join(pieces), f"{lookup.keyed(member).record.name} is not listed")


def _lists(row: Row, condition: str, record_id: str, name: str, lookup: Lookup) -> Iterator[Item]:
    entity = lookup.entity(record_id, row.kind)
    if fold(condition) not in {fold(item) for item in entity.items(name)}:
        yield ("row" if record_id == row.record_id else f"companion {record_id}",
               _finding("condition_not_in_items", condition, f"{entity.name}: {'、'.join(entity.items(name))}", name))


def _finding(kind: str, answer_text: str, record_text: str, field: str | None = None) -> Finding:
    return Finding(kind, field, answer_text, record_text)


PLANNERS = {"grounded": _grounded, "consultation": _consultation, "choice": _choice, "preference": _preference,
            "reverse": _reverse}
