"""Instruction types beyond one record and one template (`single`): knowledge-grounded rows, consultations, multiple
choice, preference pairs and reverse questions, all made from the kept records and the catalogue's templates, with
no generated fact. A catalogue declares the types its kind supports (`[types.NAME]`, typed by the type's spec); a
build enables some (`types`); plug-ins add types by entry point (`qizhen_instructions.types`).

Types need every kept record of their kind (companions, distractors, lists), so they run once the knowledge-base
unit has read all its sources (`builder.run.units`); their rows belong to the record they are about.
"""

import re
import tomllib
from collections.abc import Iterator
from functools import cache

import pyarrow as pa
from pydantic import ValidationError

from builder.errors import UserError
from builder.expand.catalogue import Catalogue, Entry
from builder.expand.types.base import InstructionType, TypeRow, TypeSpec, TypeTally
from builder.expand.types.choice import Choice
from builder.expand.types.consultation import Consultation
from builder.expand.types.grounded import Grounded
from builder.expand.types.preference import Preference
from builder.expand.types.reverse import Reverse
from builder.expand.types.sheet import Entity, Sheet
from builder.registry import plugin_names, with_plugins
from builder.rows import COMPANION_ENTITIES, ENTITY_COLUMN, POSITION, SINGLE, WORK_SCHEMA

BUILTIN: dict[str, InstructionType] = {t.name: t for t in (Grounded(), Consultation(), Choice(), Preference(),
                                                            Reverse())}
Declared = dict[str, dict[str, TypeSpec]]  # kind -> type name -> its spec


def type_names() -> list[str]:
    """Every type a build may enable, without importing plug-in code."""
    return [SINGLE, *BUILTIN, *plugin_names("types")]


@cache
def known_types() -> dict[str, InstructionType]:
    return with_plugins("types", BUILTIN, InstructionType)  # type: ignore[type-abstract]  # an isinstance check


def declared_types(catalogue: Catalogue) -> Declared:
    """The types each kind's catalogue files declare (a later file replaces a type of the same name), checked
    against the type's spec and the templates the catalogue holds; a problem names the file and line."""
    declared: Declared = {}
    for path in catalogue.files:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
        kind = data.get("kind", path.stem)
        entries = {entry.id: entry for entry in catalogue.entries.get(kind, ())}
        for name, raw in (data.get("types") or {}).items():
            line = _header_line(text, name)
            kind_type = known_types().get(name)
            if kind_type is None:
                raise UserError(f"declares type '{name}', which no instruction type is called", file=path, line=line,
                                remedy=f"use one of {', '.join(known_types())}, or install the plug-in that adds it")
            try:
                spec = kind_type.spec.model_validate(raw)
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(map(str, error["loc"])) or name
                raise UserError(f"[types.{name}] {where}: {error['msg']}", file=path, line=line,
                                remedy="see templates/README.md, Instruction types") from None
            if problems := kind_type.check(spec, entries, kind):
                raise UserError(f"[types.{name}] {problems[0]}", file=path, line=line,
                                remedy="name templates of this catalogue, each asking about what the type needs")
            declared.setdefault(kind, {})[name] = spec
    return declared


def _header_line(text: str, name: str) -> int:
    found = re.search(rf"^\s*\[\s*types\.{re.escape(name)}\s*\]", text, re.MULTILINE)
    return text.count("\n", 0, found.start()) + 1 if found else 1


def type_rows(sheet: Sheet, specs: dict[str, TypeSpec], entries: tuple[Entry, ...], enabled: list[str],
              seed: int) -> tuple[list[TypeRow], dict[str, TypeTally]]:
    """The rows of every enabled type this kind declares, and each type's tally."""
    by_id = {entry.id: entry for entry in entries}
    rows: list[TypeRow] = []
    tallies: dict[str, TypeTally] = {}
    for name in enabled:
        if name in specs:
            tallies[name] = TypeTally()
            rows += _typed(name, known_types()[name].rows(sheet, specs[name], by_id, seed, tallies[name]))
    return rows, tallies


def _typed(name: str, rows: Iterator[TypeRow]) -> Iterator[TypeRow]:
    for row in rows:
        row.type = name  # set once here, not by each type
        yield row


def rows_table(rows: list[TypeRow], kind: str) -> pa.Table:
    """Rows of one source as a table of the work schema, the rows of each record together in read order."""
    rows = sorted(rows, key=lambda r: r.entity.position)
    return pa.table({
        "instruction": [r.instruction for r in rows],
        "input": [r.input for r in rows],
        "output": [r.output for r in rows],
        "source": [r.entity.source for r in rows],
        "kind": [kind] * len(rows),
        "record_id": [r.entity.record_id for r in rows],
        "template_id": [r.template_id for r in rows],
        "variant": [r.variant for r in rows],
        "type": [r.type for r in rows],
        "system": [r.system for r in rows],
        "history": [r.history for r in rows],
        "rejected": [r.rejected for r in rows],
        "companions": [[c.record_id for c in r.companions] for r in rows],
        POSITION: [r.entity.position for r in rows],
        ENTITY_COLUMN: [r.entity.entity for r in rows],
        COMPANION_ENTITIES: [[c.entity for c in r.companions] for r in rows],
    }, schema=WORK_SCHEMA)


__all__ = ["Declared", "Entity", "InstructionType", "Sheet", "TypeRow", "TypeSpec", "TypeTally", "declared_types",
           "known_types", "rows_table", "type_rows", "type_names"]
