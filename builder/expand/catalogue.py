"""The template catalogue: one TOML file per record kind, checked and compiled in Jinja2's sandbox.

Templates come from users, so every check runs before any record is read, the same at lint time and
at build time: syntax, variables against the kind's schema, duplicate ids, constructs the sandbox
exists to stop (attribute access, calls, include/import, Jinja globals), loops, arithmetic and growth
that could blow a text up, templates that could never render or would fail on a record lacking an
unguarded field, answers that print no record text. Rendering then runs in the bounded sandbox of
`builder.expand.render` with `StrictUndefined` and no loader.
"""

import bisect
import hashlib
import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import TemplateSyntaxError, nodes
from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.sandbox import SandboxedEnvironment

from builder.errors import UserError
from builder.expand.render import FILTERS, Renderer, compile_renderer, make_environment
from schemas import KB_KINDS, RECORD_MODELS

FORBIDDEN: dict[type[nodes.Node], str] = {
    nodes.Getattr: "attribute access (.{attr}) is not allowed: templates may only read record fields",
    nodes.Getitem: "item access ([…]) is not allowed: templates may only read record fields",
    nodes.Call: "function calls are not allowed in templates",
    nodes.Include: "include is not allowed: templates cannot read files",
    nodes.Import: "import is not allowed: templates cannot read files",
    nodes.FromImport: "import is not allowed: templates cannot read files",
    nodes.Extends: "extends is not allowed: templates cannot read files",
    nodes.Macro: "macros are not allowed in templates",
    nodes.CallBlock: "call blocks are not allowed in templates",
    nodes.Assign: "set is not allowed in templates",
    nodes.AssignBlock: "set is not allowed in templates",
    nodes.With: "with is not allowed in templates",
    nodes.FilterBlock: "filter blocks are not allowed in templates",
    nodes.For: "loops ({{% for %}}) are not allowed: print a list with `| join('、')`",
    **dict.fromkeys(
        (nodes.Add, nodes.Sub, nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.Pos, nodes.Neg),
        "arithmetic (`{op}`) is not allowed: a template only rephrases the question and presents what the "
        "record says"),
}
GROWTH = frozenset({"replace", "join"})  # allowed filters whose output can be many times longer than their input
TESTS = frozenset({"none", "string", "defined", "undefined", "sameas"})
SAMPLE_TEXT = "示例内容"
ALWAYS_PRESENT = frozenset({"name", "aliases"})  # the schema requires a name; aliases is a list, maybe empty


@dataclass(frozen=True)
class Asks:
    """What one phrasing needs of a record beyond its template's `requires`: fields it asks about, and fields that
    must state something (a regex) for the phrasing's question to be one the answer answers (a yes/no question
    only where the record says yes or no)."""

    requires: frozenset[str] = frozenset()
    states: tuple[tuple[str, re.Pattern[str]], ...] = ()

    def fits(self, context: dict) -> bool:
        return all(context.get(name) for name in self.requires) and all(
            isinstance(value := context.get(name), str) and pattern.search(value) for name, pattern in self.states)


EVERY_RECORD = Asks()


@dataclass(frozen=True)
class Entry:
    """One catalogue entry: the fields it needs, its compiled phrasings (and what each asks), answer and input."""

    id: str
    kind: str
    requires: tuple[str, ...]
    questions: tuple[Renderer, ...]
    answer: Renderer
    input: Renderer | None
    file: Path
    line: int
    asks: tuple[Asks, ...] = ()

    def phrasings(self, context: dict) -> list[int]:
        """The phrasings this record can be asked: all, unless some phrasing needs more than the template does."""
        if not self.asks:
            return list(range(len(self.questions)))
        return [index for index, asks in enumerate(self.asks) if asks.fits(context)]


@dataclass(frozen=True)
class Catalogue:
    """All entries per kind, and a hash of the files they came from (recorded in the manifest)."""

    entries: dict[str, tuple[Entry, ...]]
    files: tuple[Path, ...]
    sha256: str


@dataclass(frozen=True)
class Problem:
    """One lint finding, printed as `file:line: template-id: message`."""

    file: Path
    line: int
    template_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.template_id}: {self.message}"


def load_catalogue(folders: Sequence[Path], kinds: Sequence[str] = KB_KINDS) -> Catalogue:
    """Each kind's templates from every folder holding `<kind>.toml`, in order: a later folder adds templates and
    replaces those of the same id (in place); any lint problem stops the build with its location."""
    entries: dict[str, tuple[Entry, ...]] = {}
    files: list[Path] = []
    digest = hashlib.sha256()
    for kind in kinds:
        paths = [folder / f"{kind}.toml" for folder in folders if (folder / f"{kind}.toml").is_file()]
        if not paths:
            raise UserError(f"no template catalogue for kind '{kind}'", file=folders[-1] / f"{kind}.toml",
                            remedy="write one (see templates/README.md) and add its folder with --templates")
        merged: dict[str, Entry] = {}
        for path in paths:
            text = path.read_text(encoding="utf-8")
            digest.update(path.name.encode() + b"\0" + text.encode("utf-8") + b"\0")
            files.append(path)
            found, problems = read_catalogue(path, kind)
            if problems:
                first = problems[0]
                raise UserError(f"{first.template_id}: {first.message}", file=first.file, line=first.line,
                                remedy=f"{len(problems)} problem(s) in all: `build-instructions templates lint "
                                       f"{path.parent}`")
            merged.update((entry.id, entry) for entry in found)
        entries[kind] = tuple(merged.values())
    return Catalogue(entries, tuple(files), digest.hexdigest())


def lint(path: Path) -> tuple[int, list[Problem]]:
    """Every problem in a catalogue file, or in every `*.toml` of a folder; returns (templates, problems)."""
    files = sorted(path.glob("*.toml")) if path.is_dir() else [path]
    if not files:
        raise UserError("no *.toml catalogue here", file=path, remedy="give a catalogue file or a folder of them")
    count, problems = 0, []
    for file in files:
        if not file.is_file():
            raise UserError("no such catalogue file", file=file, remedy="check the path")
        found, found_problems = read_catalogue(file, None)
        count += len(found)
        problems.extend(found_problems)
    return count, problems


def read_catalogue(path: Path, kind: str | None) -> tuple[list[Entry], list[Problem]]:
    """Parses and checks one catalogue file; compiles the entries that have no problem."""
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = int(m.group(1)) if (m := re.search(r"line (\d+)", str(exc))) else 1
        return [], [Problem(path, line, "-", f"not valid TOML: {exc}")]
    declared = data.get("kind", kind or path.stem)
    if declared not in RECORD_MODELS or declared == "qa" or (kind and declared != kind):
        expected = kind or "drug or disease"
        return [], [Problem(path, 1, "-", f"declares kind '{declared}'; expected {expected} (set `kind`)")]
    env = make_environment()
    fields = frozenset(RECORD_MODELS[declared].model_fields)
    entries: list[Entry] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    headers = [m.start() for m in re.finditer(r"^\s*\[\[\s*templates\s*\]\]", text, re.MULTILINE)]
    lines = _line_starts(text)
    for index, raw in enumerate(data.get("templates", [])):
        entry_id = str(raw.get("id", "")) or "-"
        start = text.count("\n", 0, headers[index]) + 1 if index < len(headers) else 1
        line = _line_of(text, lines, r"^\s*id\s*=", start, start)
        here = len(problems)
        problems += _check_entry(raw, entry_id, seen, fields, path, line)
        compiled = {}
        for role, source in _sources(raw):
            key = "questions" if role.startswith("question") else role
            where = (_line_of(text, lines, _string_pattern(key, source), line, start=line) if key != "questions"
                     else _line_of_string(text, lines, _quoted(source), line))
            ast, found = _check_template(env, source, fields, raw, role, path, where, entry_id)
            problems += found
            if ast is not None and not found:  # compiled once its trial renders passed
                compiled[role] = compile_renderer(env, ast, f"{entry_id} {role}")
        seen.add(entry_id)
        if len(problems) == here:
            entries.append(Entry(
                id=entry_id,
                kind=declared,
                requires=tuple(raw.get("requires", [])),
                questions=tuple(compiled[f"question {i + 1}"] for i in range(len(raw["questions"]))),
                answer=compiled["answer"],
                input=compiled.get("input"),
                file=path,
                line=line,
                asks=_asks(raw["questions"]),
            ))
    if not data.get("templates"):
        problems.append(Problem(path, 1, "-", "no [[templates]] entries"))
    return entries, problems


def _check_entry(raw: dict, entry_id: str, seen: set, fields: frozenset, path: Path, line: int) -> list[Problem]:
    """The entry's own keys: id, requires, questions, answer."""
    problem = lambda message: Problem(path, line, entry_id, message)
    found = []
    if entry_id == "-":
        found.append(problem("a template has no id; give every [[templates]] entry a unique id"))
    elif entry_id in seen:
        found.append(problem("duplicate template id; ids must be unique in a catalogue"))
    requires = raw.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(f, str) for f in requires):
        found.append(problem("requires must be a list of field names"))
    elif unknown := [f for f in requires if f not in fields]:
        known = ", ".join(sorted(fields))
        found.append(problem(f"requires unknown field(s) {', '.join(unknown)}; fields are: {known}"))
    questions = raw.get("questions")
    if not isinstance(questions, list) or not questions or not all(isinstance(q, str | dict) for q in questions):
        found.append(problem("needs `questions = [...]`: one or more phrasings"))
    else:
        found += [problem(f"question {i + 1}: {message}") for i, q in enumerate(questions)
                  for message in _phrasing_problems(q, fields)]
        texts = [_text(q) for q in questions]
        if len(set(texts)) < len(texts):
            found.append(problem("two phrasings are identical"))
        if all(isinstance(q, dict) and (q.get("requires") or q.get("states")) for q in questions):
            found.append(problem("every phrasing asks for more than `requires`: give one that fits every record "
                                 "the template applies to"))
    if not isinstance(raw.get("answer"), str):
        found.append(problem("needs `answer = \"...\"`"))
    return found


PHRASING_KEYS = frozenset({"text", "requires", "states"})


def _text(question: object) -> object:
    """A phrasing's template: the string itself, or the `text` of a `{ text, requires, states }` table."""
    return question.get("text") if isinstance(question, dict) else question


def _phrasing_problems(question: str | dict, fields: frozenset) -> list[str]:
    """A phrasing given as a table: `text`, and `requires` (field names) and `states` ({field: regex}) if any."""
    if isinstance(question, str):
        return []
    found = [f"unknown key(s) {', '.join(sorted(set(question) - PHRASING_KEYS))}; a phrasing table has "
             "text, requires, states"] if set(question) - PHRASING_KEYS else []
    if not isinstance(question.get("text"), str):
        found.append("a phrasing table needs `text = \"...\"`")
    requires, states = question.get("requires", []), question.get("states", {})
    if not isinstance(requires, list) or not all(isinstance(f, str) and f in fields for f in requires):
        found.append(f"requires must list fields of this kind: {', '.join(sorted(fields))}")
    if not isinstance(states, dict) or not all(isinstance(f, str) and f in fields for f in states):
        found.append(f"states must map fields of this kind to a pattern: {', '.join(sorted(fields))}")
    else:
        for name, pattern in states.items():
            try:
                re.compile(pattern)
            except (re.error, TypeError) as exc:
                found.append(f"states.{name}: not a regular expression ({exc})")
    return found


def _asks(questions: list) -> tuple[Asks, ...]:
    """What each phrasing asks of a record; () when every phrasing is a plain string (each fits every record)."""
    if all(isinstance(q, str) for q in questions):
        return ()
    return tuple(EVERY_RECORD if isinstance(q, str) else
                 Asks(frozenset(q.get("requires", [])),
                      tuple((name, re.compile(pattern)) for name, pattern in q.get("states", {}).items()))
                 for q in questions)


def _sources(raw: dict) -> list[tuple[str, str]]:
    questions = found if isinstance(found := raw.get("questions"), list) else []
    roles = [(f"question {i + 1}", text) for i, q in enumerate(questions) if isinstance(text := _text(q), str)]
    roles += [(role, raw[role]) for role in ("answer", "input") if isinstance(raw.get(role), str)]
    return roles


def _check_template(
    env: SandboxedEnvironment, source: str, fields: frozenset, raw: dict, role: str, path: Path, line: int,
    entry_id: str,
) -> tuple[nodes.Template | None, list[Problem]]:
    """One template string: syntax, sandbox, variables, and trial renders. Returns its tree when clean."""
    problem = lambda message, at=line: Problem(path, at, entry_id, f"{role}: {message}")
    try:
        ast = env.parse(source)
        tree = list(ast.find_all(nodes.Node))  # walked once, in order: a tree too deep to walk fails here
    except TemplateSyntaxError as exc:
        return None, [problem(f"template syntax error: {exc.message}", line + (exc.lineno or 1) - 1)]
    except (RecursionError, ValueError, MemoryError) as exc:  # nested too deep; an integer too long to read
        why = "it nests too deeply" if isinstance(exc, RecursionError) else exc
        return None, [problem(f"cannot be parsed ({why})")]
    found = [problem(message.format(attr=getattr(node, "attr", ""), op=getattr(node, "operator", "")))
             for node_type, message in FORBIDDEN.items() for node in tree if isinstance(node, node_type)]
    for node in tree:
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            found.append(problem(f"filter '{node.name}' is not allowed; use one of: {', '.join(sorted(FILTERS))}"))
        elif isinstance(node, nodes.Filter) and node.name in GROWTH and (growth := _growth(node)):
            found.append(problem(growth))
    for node in tree:
        if isinstance(node, nodes.Test) and node.name not in TESTS:
            found.append(problem(f"test '{node.name}' is not allowed; use one of: {', '.join(sorted(TESTS))}"))
    loaded = {n.name for n in tree if isinstance(n, nodes.Name) and n.ctx == "load"}
    names = loaded - {n.name for n in tree if isinstance(n, nodes.Name) and n.ctx == "store"}
    for name in sorted(names - fields):
        kind = "a Jinja2 global, not a record field" if name in DEFAULT_NAMESPACE else "not a field of this kind"
        found.append(problem(f"unknown variable '{name}' ({kind}); fields are: {', '.join(sorted(fields))}"))
    if found:
        return None, found
    return ast, _trial_renders(env, ast, names, raw, role, problem)


def _growth(node: nodes.Filter) -> str | None:
    """Why a growth filter could blow a text up, if it could: a computed argument, or growth inside growth."""
    inner = next((n.name for n in (node.node, *node.node.find_all(nodes.Filter))  # type: ignore[union-attr]
                  if isinstance(n, nodes.Filter) and n.name in GROWTH), None)
    if inner:
        return (f"nested growth: `{node.name}` is applied to the output of `{inner}`, so their lengths multiply; "
                "use one of them")
    if node.kwargs or node.dyn_args or node.dyn_kwargs or not all(isinstance(a, nodes.Const) for a in node.args):
        return f"`{node.name}` takes literal arguments only: one computed from the record can multiply its length"
    return None


def _trial_renders(env: SandboxedEnvironment, ast: nodes.Template, names: set[str], raw: dict, role: str, problem):
    """Renders with every field present and with only the required ones: what a real record can meet.

    Any exception is a finding, not a crash: a template the sandbox refuses, or one too deep to compile.
    """
    requires = set(raw.get("requires", [])) if isinstance(raw.get("requires"), list) else set()
    if role.startswith("question") and isinstance(phrasing := raw["questions"][int(role.split()[1]) - 1], dict):
        requires |= set(phrasing.get("requires", [])) | set(phrasing.get("states", {}))
    full = {name: ["别名"] if name == "aliases" else SAMPLE_TEXT for name in names}
    try:
        template = env.from_string(ast)
        if not template.render(full).strip():
            return [problem("renders empty even when every field is present: it can never produce a row")]
    except Exception as exc:
        return [problem(f"cannot render even with every field present ({exc or type(exc).__name__})")]
    found = []
    for name in sorted(names - requires - ALWAYS_PRESENT):
        try:
            template.render({**full, name: [] if name == "aliases" else None})
        except Exception:
            found.append(problem(f"prints '{name}', which is not in requires and not guarded by "
                                 f"{{% if {name} %}}: a record without it would stop the build"))
    if role == "answer" and not names - {"name"}:
        found.append(problem("the answer prints no record text: it would state what the record does not say"))
    if role.startswith("question") and "name" not in names:
        found.append(problem("the question does not name the entity ({{ name }})"))
    return found


def _string_pattern(key: str, source: str) -> str:
    """Where an answer or input template sits in the TOML: its key, then the string."""
    return rf"^\s*{key}\s*=\s*(?:{'|'.join(re.escape(q) for q in _quoted(source))})"


def _quoted(source: str) -> tuple[str, str]:
    """A template string as TOML writes it: basic (JSON-like) or literal (single quotes)."""
    return json.dumps(source, ensure_ascii=False), f"'{source}'"


def _line_of(text: str, lines: list[int], pattern: str, default: int, start: int = 1) -> int:
    """The 1-based line of the first match of `pattern` at or after line `start`; `lines` holds where each
    line of `text` starts (`_line_starts`)."""
    if not pattern:
        return default
    match = re.compile(pattern, re.MULTILINE).search(text, lines[start - 1] if start <= len(lines) else len(text))
    return bisect.bisect_right(lines, match.start()) if match else default


def _line_of_string(text: str, lines: list[int], strings: tuple[str, ...], start: int) -> int:
    """`_line_of` for literal strings (a phrasing, as TOML quotes it): a search, no pattern to compile."""
    offset = lines[start - 1] if start <= len(lines) else len(text)
    found = [at for string in strings if (at := text.find(string, offset)) >= 0]
    return bisect.bisect_right(lines, min(found)) if found else start


def _line_starts(text: str) -> list[int]:
    return [0, *(match.end() for match in re.finditer("\n", text))]
