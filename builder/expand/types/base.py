"""What every instruction type shares: its declaration in a catalogue (a typed spec), the rows it makes, and the few
helpers that ask a template's question and frame a type's own text in Jinja2's sandbox."""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import ClassVar

from jinja2 import TemplateError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from builder.eval.match import LabelHit, Matcher, load_synonyms
from builder.expand.catalogue import Entry
from builder.expand.render import make_environment
from builder.expand.types.sheet import ITEMS, Entity, Sheet
from builder.hashing import hash64
from builder.quality.normalize import fold
from schemas import RECORD_MODELS


class TypeSpec(BaseModel):
    """A type as a catalogue declares it (`[types.NAME]`): the templates it reuses and its own settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    texts: ClassVar[tuple[str, ...]] = ()  # the fields holding the type's own Jinja2 text (a string or a list)
    sample: ClassVar[dict[str, object]] = {}  # the variables those texts are given, to try them with

    templates: list[str] = []
    per_record: int | None = Field(None, ge=1, description="rows per record at most: that many of the templates that "
                                                           "apply, by a seeded hash; unset: one per template")

    @model_validator(mode="after")
    def texts_render(self) -> "TypeSpec":
        """Each text compiles and renders with the sample: a misspelt variable fails when the catalogue loads."""
        for name in self.texts:
            value = getattr(self, name)
            for source in [value] if isinstance(value, str) else value:
                try:
                    text(source)(**self.sample)
                except TemplateError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        return self


@dataclass(eq=False)
class TypeRow:
    """One row of a type, about `entity` (its split, its ledger entry), showing `companions` too."""

    entity: Entity
    template_id: str
    variant: int
    instruction: str
    output: str
    input: str = ""
    system: str = ""
    history: list[list[str]] = field(default_factory=list)
    rejected: str | None = None
    companions: list[Entity] = field(default_factory=list)
    type: str = ""


@dataclass
class TypeTally:
    """Per type: the (entity, template) pairs it looked at, rows made, and why others made none."""

    looked_at: int = 0
    rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def to_json(self) -> dict:
        return {"looked_at": self.looked_at, "rows": self.rows, "skipped": dict(sorted(self.skipped.items()))}


class InstructionType(ABC):
    """A kind of instruction made from the sheet of kept records and the templates its spec names."""

    name: ClassVar[str]
    spec: ClassVar[type[TypeSpec]]

    @abstractmethod
    def rows(self, sheet: Sheet, spec: TypeSpec, entries: dict[str, Entry], seed: int,
             tally: TypeTally) -> Iterator[TypeRow]:
        """Every row of this type, entity by entity in the sheet's order."""

    def check(self, spec: TypeSpec, entries: dict[str, Entry], kind: str) -> list[str]:
        """Problems with a declaration (besides its spec's own validation): templates it names must exist."""
        return [f"names template '{t}', which the {kind} catalogue does not hold" for t in spec.templates
                if t not in entries]


def applies(entry: Entry, entity: Entity) -> bool:
    return all(entity.context.get(name) for name in entry.requires)


def pairs(sheet: Sheet, spec: TypeSpec, entries: dict[str, Entry], seed: int, salt: str,
          tally: TypeTally) -> Iterator[tuple[Entity, Entry]]:
    """Each record with each template of the spec it gets (`templates_for`), counted as looked at."""
    for entity in sheet:
        for entry in templates_for(spec, entries, entity, seed, salt):
            tally.looked_at += 1
            yield entity, entry


def templates_for(spec: TypeSpec, entries: dict[str, Entry], entity: Entity, seed: int, salt: str) -> list[Entry]:
    """The spec's templates that apply to the record, in the spec's order; with `per_record`, that many of them,
    chosen by a seeded hash."""
    fitting = [entries[t] for t in spec.templates if applies(entries[t], entity)]
    if spec.per_record is None or len(fitting) <= spec.per_record:
        return fitting
    kept = set(sorted(range(len(fitting)), key=lambda i: hash64(seed, salt, entity.record_id, fitting[i].id))
               [:spec.per_record])
    return [entry for i, entry in enumerate(fitting) if i in kept]


def ask(entry: Entry, entity: Entity, seed: int, salt: str) -> tuple[int, str]:
    """A phrasing of the template's question that fits the record, chosen by a seeded hash: (index, text)."""
    fitting = entry.phrasings(entity.context)
    index = fitting[hash64(seed, salt, entity.record_id, entry.id) % len(fitting)]
    return index, entry.questions[index](entity.context).strip()


def answer(entry: Entry, entity: Entity, **replaced: str) -> str:
    """The template's answer for the record, with some fields' text replaced (a rejected answer)."""
    return entry.answer({**entity.context, **replaced}).strip()


def label(kind: str, name: str) -> str:
    """What a field is called in the kind's language: the first word of its description (适应证, 用法用量)."""
    described = RECORD_MODELS[kind].model_fields[name].description or name
    return described.split(" / ")[0]


class Text:
    """A type's own text (Jinja2, sandboxed, strict): `TypeSpec` tries it when the catalogue loads."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._template = make_environment().from_string(source)

    def __call__(self, **variables: object) -> str:
        return self._template.render(**variables).strip()


@cache
def text(source: str) -> Text:
    """A type's text, compiled once."""
    return Text(source)


@cache
def _matcher() -> Matcher:
    return Matcher(load_synonyms())


def overlap(one: Entity, other: Entity, name: str) -> bool:
    """Whether two records' field says the same thing: for a field with extracted items (indications), an item of
    either found in the other's text (as the scorer finds it, a negated mention counted too); for other text, half
    of their two-character pieces shared."""
    if name in ITEMS:  # the plain text first: most records that overlap share an item word for word
        if one.item_keys(name) & other.item_keys(name):
            return True
        pairs = [(item, other) for item in one.items(name)] + [(item, one) for item in other.items(name)]
        if any(_fold(item) in holder.folded(name) for item, holder in pairs):
            return True
        matcher = _matcher()
        return any(_named(matcher.match(item, holder.view(name))) for item, holder in pairs)
    a, b = one.pieces(name), other.pieces(name)
    return not a or not b or len(a & b) >= 0.5 * min(len(a), len(b))


def _named(found: LabelHit) -> bool:
    return found.matched is not None or found.negated is not None


@lru_cache(maxsize=1 << 16)
def _fold(item: str) -> str:
    return fold(item)
