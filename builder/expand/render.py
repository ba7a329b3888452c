"""Rendering: the sandboxed Jinja2 environment templates run in, and a fast path with identical output.

Most catalogue templates only substitute fields, apply `sentence` or `join`, and test fields with
`{% if %}`. Such a template is translated from its parsed tree into one Python expression (what
Jinja2 would compute, without a render context per call: several times faster); any other construct
falls back to the sandboxed template's own `render`. Both honour StrictUndefined and `finalize`, and
both refuse a text longer than `MAX_TEXT_CHARS`: the sandbox before building it (arithmetic, `replace`,
`join`, the output stream), the fast path by checking `join` the same way and its result once (what it
translates grows at most in proportion to the record).
"""

from collections.abc import Callable, Iterable, Sequence
from typing import cast

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

Renderer = Callable[[dict], str]
TERMINAL = "。！？!?…"
SOFT_END = "，,、；;：:"
MAX_TEXT_CHARS = 1_000_000  # 125x the default max_row_chars (8000): far above any real answer, far below a bomb
MAX_NUMBER_BITS = 4096  # about 1,233 digits: printable (Python refuses to print 4,300) and quick to compute
FILTERS = frozenset({"sentence", "join", "trim", "replace", "first", "last", "length", "lower", "upper", "default"})


class TextTooLong(TemplateRuntimeError):
    """A rendered text, or a step towards one, over `MAX_TEXT_CHARS`: refused before it is built."""


def _check_size(size: int, what: str) -> None:
    if size > MAX_TEXT_CHARS:
        raise TextTooLong(f"{what} would make a text of more than {MAX_TEXT_CHARS:,} characters, the most a "
                          "rendered question or answer may hold")


def sentence(text: object) -> str:
    """Record text closed by exactly one terminal mark, so a frame never doubles punctuation."""
    if text is None:
        raise UndefinedError("a missing field was passed to `sentence`; list it in requires or test it with {% if %}")
    value = str(text).strip().rstrip(_SOFT_END)
    if not value or value[-1] in TERMINAL:
        return value
    return value + "。"


_SOFT_END = SOFT_END + " "


def finalize(value: object) -> object:
    """`{{ field }}` of a missing field is an error, never the text "None"."""
    if value is None:
        raise UndefinedError("a field printed here is missing; list it in requires or test it with {% if %}")
    return value


def replace(value: object, old: object, new: object, count: int | None = None) -> str:
    """Jinja2's `replace` (autoescape off), refusing a result over the cap before building it."""
    if value is None:
        raise UndefinedError("a missing field was passed to `replace`; list it in requires or test it with {% if %}")
    text, old, new = str(value), str(old), str(new)
    hits = text.count(old) if count is None or count < 0 else min(text.count(old), count)
    _check_size(len(text) + hits * (len(new) - len(old)), "`replace`")
    return text.replace(old, new, -1 if count is None else count)


def join(value: object, separator: object = "") -> str:
    """Jinja2's `join` (autoescape off, no `attribute`), refusing separators that would add more than the cap
    before joining (the items are the record's own text; the whole output is capped anyway)."""
    if value is None:
        raise UndefinedError("a missing field was passed to `join`; list it in requires or test it with {% if %}")
    separator = str(separator)
    if not hasattr(value, "__len__"):
        try:
            value = list(value)  # type: ignore[call-overload]
        except TypeError:
            raise TemplateRuntimeError(f"`join` needs a list or a text, not {type(value).__name__}") from None
    _check_size((len(value) - 1) * len(separator), "`join`")  # type: ignore[arg-type]
    return separator.join(map(str, value))  # type: ignore[call-overload]


def bounded_concat(pieces: Iterable[str]) -> str:
    """The environment's `concat`: joins a template's output pieces, stopping as soon as they pass the cap."""
    parts: list[str] = []
    size = 0
    for part in pieces:
        size += len(part)
        if size > MAX_TEXT_CHARS:
            _check_size(size, "the template")
        parts.append(part)
    return "".join(parts)


SEQUENCES = (str, list, tuple)


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox with arithmetic intercepted (no number or repeated text past the caps, no %-formatting)
    and no attributes.

    Intercepted operators are also never folded at compile time, where `'%09999999999d' % 1` would run.
    """

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"+", "-"})

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        """The operator, once its result is known to fit: sizes checked before anything is built."""
        if operator == "%" and isinstance(left, str):
            raise SecurityError("%-formatting is not allowed in templates")
        if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 \
                and (abs(left).bit_length() - 1) * right > MAX_NUMBER_BITS:
            raise SecurityError(f"`**` would make a number of more than {MAX_NUMBER_BITS} bits")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, SEQUENCES) and isinstance(times, int):
                    _check_size(len(sequence) * times, "`*`")
        if operator == "+" and isinstance(left, SEQUENCES) and isinstance(right, SEQUENCES):
            _check_size(len(left) + len(right), "`+`")
        value = _arithmetic(self.binop_table[operator], operator, left, right)
        if isinstance(value, int) and value.bit_length() > MAX_NUMBER_BITS:
            raise SecurityError(f"`{operator}` would make a number of more than {MAX_NUMBER_BITS} bits")
        return value

    def call_unop(self, context: Context, operator: str, arg: object) -> object:
        """`-x` and `+x` cannot grow anything; intercepted so that a wrong type is a template error."""
        return _arithmetic(self.unop_table[operator], operator, arg)

    def is_safe_attribute(self, obj: object, attr: str, value: object) -> bool:
        """None is: templates read record fields, not their attributes (`'{:>9999999999}'.format` would run)."""
        return False

    def wrap_str_format(self, value: object) -> None:
        """No `str.format`, sandboxed or not (see `is_safe_attribute`)."""
        return None


def _arithmetic(function: Callable, operator: str, *args: object) -> object:
    """An operator's Python errors (overflow, division by zero, wrong types) as template errors, not tracebacks."""
    try:
        return function(*args)
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise TemplateRuntimeError(f"`{operator}`: {exc}") from None


def make_environment() -> SandboxedEnvironment:
    """The one environment templates run in: sandboxed, bounded, strict, no loader, no globals, plain text,
    and only the filters the lint allows (`replace` and `join` bounded)."""
    env = BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters = {name: env.filters[name] for name in FILTERS - {"sentence", "replace", "join"}}
    env.filters.update(sentence=sentence, replace=replace, join=join)
    env.globals.clear()
    env.concat = bounded_concat  # type: ignore[method-assign]
    return env


def compile_renderer(env: SandboxedEnvironment, ast: nodes.Template, name: str = "template") -> Renderer:
    """Generated Python when the tree allows it (identical output, the same cap), else the sandboxed render.

    Only literal text, field names, `sentence`, `join` with a constant and `{% if field %}` are
    translated, and every literal is embedded with repr(): no text of the template becomes code. A tree
    too deep for Python's compiler renders through the sandbox too.
    """
    scope = {"_out": _out, "_sentence": sentence, "_join": join, "_check_size": _check_size,
             "UndefinedError": UndefinedError}
    try:
        fast, exact = _statements(ast.body, False), _statements(ast.body, True)
        if fast is None or exact is None:
            return env.from_string(ast).render
        source = f"def exact(ctx):\n    return {exact[0]}\n" \
                 f"def render(ctx):\n    try:\n        try:\n            text = {_text(*fast)}\n" \
                 f"        except TypeError:  # a value that is not text: printed as Jinja2 prints it\n" \
                 f"            text = exact(ctx)\n    except KeyError as missing:\n" \
                 f"        raise UndefinedError(f'{{missing}} is undefined') from None\n" \
                 f"    if len(text) > {MAX_TEXT_CHARS}:\n        _check_size(len(text), 'the template')\n" \
                 f"    return text\n"
        exec(compile(source, f"<{name}>", "exec"), scope)
    except (SyntaxError, RecursionError, MemoryError):
        return env.from_string(ast).render
    return cast(Renderer, scope["render"])  # the `render` the generated source defines


def _out(value: object) -> str:
    """What `{{ value }}` prints: finalize, then str."""
    if value is None:
        finalize(value)
    return value if type(value) is str else str(value)


Code = tuple[str, bool]  # an expression, and whether it is certainly text (else a field's value as it is)


def _text(code: str, certain: bool) -> str:
    return code if certain else f"(_v if (_v := {code}).__class__ is str else _out(_v))"  # inline for plain text


def _statements(body: Sequence[nodes.Node], exact: bool) -> Code | None:
    """One expression for a list of nodes: `+` for up to three parts, one `''.join` of a tuple for more.

    Unless `exact`, a field's value joins the text as it is wherever a value that is not text would raise
    TypeError there (`''.join`, or `+` after a text); the renderer then renders `exact`ly, converting values.
    """
    parts = _parts(body, exact)
    if parts is None:
        return None
    if len(parts) < 2:
        return parts[0] if parts else ("''", True)
    strict = not exact and (len(parts) > 3 or parts[0][1] or parts[1][1])
    codes = [code if strict else _text(code, certain) for code, certain in parts]
    return ("''.join((" + ", ".join(codes) + "))" if len(parts) > 3 else "(" + " + ".join(codes) + ")"), True


def _parts(body: Sequence[nodes.Node], exact: bool) -> list[Code] | None:
    parts: list[Code] = []
    for node in body:
        found = _parts(node.nodes, exact) if isinstance(node, nodes.Output) else [_statement(node, exact)]
        if found is None or None in found:
            return None
        parts += cast(list[Code], found)  # no None in it: returned above
    return parts


def _statement(node: nodes.Node, exact: bool) -> Code | None:
    if isinstance(node, nodes.TemplateData):
        return repr(node.data), True
    if isinstance(node, nodes.If):
        return _if(node, exact)
    value = _expression(node, exact)
    if value is None:
        return None
    certain = isinstance(node, nodes.Filter)  # `sentence` and `join` give text, never None
    return (_text(value, certain), True) if exact else (value, certain)


def _if(node: nodes.If, exact: bool) -> Code | None:
    otherwise = _statements(node.else_, exact)
    for branch in reversed([node, *node.elif_]):
        test, body = _test(branch.test), _statements(branch.body, exact)
        if otherwise is None or test is None or body is None:
            return None
        otherwise = f"({body[0]} if {test} else {otherwise[0]})", body[1] and otherwise[1]
    return otherwise


def _test(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Not):
        inner = _test(node.node)
        return None if inner is None else f"(not {inner})"
    return _expression(node, False)


def _expression(node: nodes.Node, exact: bool) -> str | None:
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name.isidentifier():
        return f"ctx[{node.name!r}]"
    if not isinstance(node, nodes.Filter) or node.kwargs or node.dyn_args or node.dyn_kwargs or node.node is None:
        return None
    inner = _expression(node.node, exact)
    if inner is None:
        return None
    if node.name == "sentence" and not node.args:
        return f"_sentence({inner})"
    if node.name == "join" and len(node.args) == 1 and isinstance(node.args[0], nodes.Const):
        separator = str(node.args[0].value)
        if exact:
            return f"_join({inner}, {separator!r})"
        if separator:  # the cap `join` puts on what separators add, inline; past it, `join` itself refuses
            most = MAX_TEXT_CHARS // len(separator) + 1
            inner = f"(_j if len(_j := {inner}) <= {most} else _join(_j, {separator!r}))"
        return f"{separator!r}.join(map(str, {inner}))"
    return None
