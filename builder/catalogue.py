"""The template catalogue: one TOML file per record kind, checked and compiled in Jinja2's sandbox.

Templates come from users, so they run in `SandboxedEnvironment` with `StrictUndefined`, no loader
(nothing can be included from disk), and every variable checked against the kind's schema at load
time: a misspelt field is an error before any record is read, not a silent blank in a million rows.
"""

import hashlib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from builder.errors import UserError
from builder.render import Renderer, compile_renderer, make_environment
from schemas import KB_KINDS, RECORD_MODELS


@dataclass(frozen=True)
class Entry:
    """One catalogue entry: the fields it needs, its compiled phrasings, answer and optional input."""

    id: str
    kind: str
    requires: tuple[str, ...]
    questions: tuple[Renderer, ...]
    answer: Renderer
    input: Renderer | None
    file: Path
    line: int


@dataclass(frozen=True)
class Catalogue:
    """All entries per kind, and a hash of the files they came from (recorded in the manifest)."""

    entries: dict[str, tuple[Entry, ...]]
    files: tuple[Path, ...]
    sha256: str


def load_catalogue(folder: Path, kinds: list[str] | tuple[str, ...] = KB_KINDS) -> Catalogue:
    """Loads and checks `<kind>.toml` for each knowledge-base kind asked for."""
    env = make_environment()
    entries: dict[str, tuple[Entry, ...]] = {}
    files: list[Path] = []
    digest = hashlib.sha256()
    for kind in kinds:
        path = folder / f"{kind}.toml"
        if not path.is_file():
            raise UserError(f"no template catalogue for kind '{kind}'", file=path,
                            remedy="write one (see templates/README.md) or point --templates at a folder that has it")
        text = path.read_text(encoding="utf-8")
        digest.update(path.name.encode() + b"\0" + text.encode("utf-8") + b"\0")
        files.append(path)
        entries[kind] = tuple(_load_file(env, path, text, kind))
    return Catalogue(entries, tuple(files), digest.hexdigest())


def _load_file(env: SandboxedEnvironment, path: Path, text: str, kind: str) -> list[Entry]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise UserError(f"not valid TOML ({exc})", file=path, line=line, remedy="fix the syntax") from exc
    if data.get("kind", kind) != kind:
        raise UserError(f"declares kind '{data.get('kind')}' but is the catalogue for '{kind}'", file=path,
                        remedy="fix `kind` or the file name")
    fields = set(RECORD_MODELS[kind].model_fields)
    seen: set[str] = set()
    entries = []
    for raw in data.get("templates", []):
        entry_id = str(raw.get("id", ""))
        line = _line_of(text, entry_id)
        where = {"file": path, "line": line}
        if not entry_id:
            raise UserError("a template has no id", **where, remedy="give every [[templates]] entry a unique id")
        if entry_id in seen:
            raise UserError(f"{entry_id}: duplicate template id", **where, remedy="ids must be unique in a catalogue")
        seen.add(entry_id)
        requires = tuple(raw.get("requires", []))
        questions = raw.get("questions", [])
        if not questions or "answer" not in raw:
            raise UserError(f"{entry_id}: needs at least one question and an answer", **where,
                            remedy="add `questions = [...]` and `answer = \"...\"`")
        unknown = [f for f in requires if f not in fields]
        if unknown:
            raise UserError(f"{entry_id}: requires unknown field(s) {', '.join(unknown)}", **where,
                            remedy=f"{kind} fields are: {', '.join(sorted(fields))}")
        sources = [*questions, raw["answer"], *([raw["input"]] if raw.get("input") else [])]
        compiled = [_compile(env, src, entry_id, fields, where) for src in sources]
        entries.append(Entry(
            id=entry_id,
            kind=kind,
            requires=requires,
            questions=tuple(compiled[: len(questions)]),
            answer=compiled[len(questions)],
            input=compiled[len(questions) + 1] if raw.get("input") else None,
            file=path,
            line=line,
        ))
    return entries


def _compile(env: SandboxedEnvironment, source: str, entry_id: str, fields: set[str], where: dict) -> Renderer:
    """Parses, checks variables against the schema, and compiles one template string."""
    try:
        ast = env.parse(source)
    except TemplateSyntaxError as exc:
        raise UserError(f"{entry_id}: template syntax error: {exc.message}", **where,
                        remedy="fix the Jinja2 syntax") from exc
    if any(True for _ in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
        raise UserError(f"{entry_id}: include/import/extends is not allowed in a template", **where,
                        remedy="templates may only use the record's fields")
    unknown = sorted(meta.find_undeclared_variables(ast) - fields)
    if unknown:
        raise UserError(f"{entry_id}: unknown variable(s) {', '.join(unknown)}", **where,
                        remedy=f"use the record's fields: {', '.join(sorted(fields))}")
    return compile_renderer(env, ast)


def _line_of(text: str, entry_id: str) -> int:
    match = re.search(rf'^\s*id\s*=\s*["\']{re.escape(entry_id)}["\']', text, re.MULTILINE) if entry_id else None
    return text.count("\n", 0, match.start()) + 1 if match else 1
