"""What the audit knows of the richer instruction types a build made, read from the catalogue files its manifest
names: each type's declaration (`[types.NAME]`, read with the builder's own spec models, as the build read it), each
template's fields and phrasings, and the shapes of the texts they frame.

A shape is a template's literal text with a capture where it prints something, so that a row's text is read back
into its parts (`根据资料{{ number }}，{{ answer }}` → number, answer): nothing is rendered from the records, so the
builder's cleaning and rendering are not taken on trust.
"""

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from builder.audit.source import Build
from builder.errors import UserError
from builder.expand.catalogue import load_catalogue
from builder.expand.types import declared_types
from builder.expand.types.base import TypeSpec, label

ENV = SandboxedEnvironment()


@cache
def shape(source: str, fixed: tuple[tuple[str, str], ...] = ()) -> re.Pattern[str]:
    """The shape of a Jinja2 text: its literal text, a named capture for a variable printed as it is (the same
    variable printed again must repeat it), any other expression a capture of something, `{% if %}` its branches
    or nothing. Matched whole, the text's ends stripped as the builder strips them. A `fixed` variable is the
    literal text given (which settles where a name holding 的 ends in "X的{{ label }}")."""
    given = dict(fixed)
    try:
        tree = ENV.parse(source.strip())
    except TemplateSyntaxError:
        return re.compile(r"(?s).*")
    named: set[str] = set()

    def walk(body: Sequence[nodes.Node], optional: bool) -> str:
        return "".join(part(node, optional) for node in body)

    def part(node: nodes.Node, optional: bool) -> str:
        if isinstance(node, nodes.Output):
            return walk(node.nodes, optional)
        if isinstance(node, nodes.TemplateData):
            return re.escape(node.data)
        if isinstance(node, nodes.If):
            branches = [walk(node.body, True), *(walk(e.body, True) for e in node.elif_), walk(node.else_, True)]
            return "(?:" + "|".join(branches) + ")"
        if isinstance(node, nodes.Name) and node.name in given:
            return re.escape(given[node.name])
        if isinstance(node, nodes.Name) and not optional:
            if node.name in named:
                return f"(?P={node.name})"
            named.add(node.name)
            return f"(?P<{node.name}>.+?)"
        return ".+?" if isinstance(node, nodes.Expr) else ".*?"

    return re.compile(r"(?s)\s*" + walk(tree.body, False) + r"\s*")


def read(source: str, value: str, **fixed: str) -> dict[str, str] | None:
    """The parts of `value` when it has the shape of `source` (with the `fixed` variables' text), or None."""
    found = shape(source, tuple(sorted(fixed.items()))).fullmatch(value)
    return found.groupdict() if found else None


@cache
def lead(source: str) -> str:
    """The literal text a Jinja2 text opens with, before anything it prints (资料 of 资料{{ number }}：…)."""
    for node in ENV.parse(source.strip()).body:
        if isinstance(node, nodes.Output) and node.nodes and isinstance(node.nodes[0], nodes.TemplateData):
            return node.nodes[0].data
        break
    return ""


@dataclass(frozen=True)
class Declared:
    """The types each kind's catalogue declares, and what the audit reads of each template: the fields it needs
    (`requires`) and its phrasings' sources."""

    specs: dict[str, dict[str, TypeSpec]]  # kind -> type name -> spec
    requires: dict[str, tuple[str, ...]]  # template id -> fields
    kinds: dict[str, str]  # template id -> kind
    questions: dict[str, tuple[str, ...]]  # template id -> its phrasings' sources

    def spec(self, kind: str, name: str) -> TypeSpec | None:
        return self.specs.get(kind, {}).get(name)

    def labels(self, template_id: str) -> list[str]:
        """What the fields a template needs are called in its kind's language (适应证)."""
        return [label(self.kinds[template_id], f) for f in self.requires[template_id]]

    def asks(self, template_id: str, question: str) -> str | None:
        """The name a question of one of the template's phrasings asks about ("" when it prints none), or None
        when the question is none of its phrasings."""
        for source in self.questions.get(template_id, ()):
            if (found := read(source, question)) is not None:
                return found.get("name") or ""
        return None


def declared(build: Build) -> Declared:
    """The declarations of the catalogue files the manifest names (those files as they are now: the audit of
    single rows reads them so too)."""
    files = [Path(f) for f in build.manifest.get("templates", {}).get("files", [])]
    if not files or any(not f.is_file() for f in files):
        return Declared({}, {}, {}, {})  # `templates` has said what is missing
    catalogue = load_catalogue(list(dict.fromkeys(f.parent for f in files)), sorted({f.stem for f in files}))
    requires = {e.id: e.requires for entries in catalogue.entries.values() for e in entries}
    kinds = {e.id: e.kind for entries in catalogue.entries.values() for e in entries}
    questions: dict[str, tuple[str, ...]] = {}
    for path in files:  # a later file's template replaces an earlier one of the same id
        for raw in tomllib.loads(path.read_text(encoding="utf-8")).get("templates", []):
            questions[raw["id"]] = tuple(q.get("text", "") if isinstance(q, dict) else q for q in raw["questions"])
    try:
        specs = declared_types(catalogue)
    except UserError as exc:
        raise UserError(f"the catalogue the build used no longer reads: {exc}", file=exc.file, line=exc.line,
                        remedy="restore the catalogue the build used, or build again") from exc
    return Declared(specs, requires, kinds, questions)
