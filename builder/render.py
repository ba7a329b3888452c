"""Rendering: the sandboxed Jinja2 environment templates run in, and a fast path with identical output.

Most catalogue templates only substitute fields, apply `sentence` or `join`, and test fields with
`{% if %}`. Such a template is translated from its parsed tree into one Python expression (what
Jinja2 would compute, without a render context per call: several times faster); any other construct
falls back to the sandboxed template's own `render`. Both honour StrictUndefined and `finalize`.
"""

from collections.abc import Callable

from jinja2 import StrictUndefined, nodes
from jinja2.exceptions import UndefinedError
from jinja2.sandbox import SandboxedEnvironment

Renderer = Callable[[dict], str]
TERMINAL = "。！？!?…"
SOFT_END = "，,、；;：:"


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


def make_environment() -> SandboxedEnvironment:
    """The one environment templates run in: sandboxed, strict, no loader, plain text."""
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters["sentence"] = sentence
    return env


def compile_renderer(env: SandboxedEnvironment, ast: nodes.Template, name: str = "template") -> Renderer:
    """Generated Python when the tree allows it (identical output), else the sandboxed template's render.

    Only literal text, field names, `sentence`, `join` with a constant and `{% if field %}` are
    translated, and every literal is embedded with repr(): no text of the template becomes code.
    """
    expression = _statements(ast.body)
    if expression is None:
        return env.from_string(ast).render
    source = f"def render(ctx):\n    try:\n        return {expression}\n    except KeyError as missing:\n" \
             f"        raise UndefinedError(f'{{missing}} is undefined') from None\n"
    scope = {"_out": _out, "_sentence": sentence, "UndefinedError": UndefinedError}
    exec(compile(source, f"<{name}>", "exec"), scope)  # noqa: S102 - code generated from a checked tree
    return scope["render"]


def _out(value: object) -> str:
    """What `{{ value }}` prints: finalize, then str."""
    if value is None:
        finalize(value)
    return value if type(value) is str else str(value)


def _statements(body: list[nodes.Node]) -> str | None:
    parts = [_statement(node) for node in body]
    if any(part is None for part in parts):
        return None
    return "(" + " + ".join(parts) + ")" if parts else "''"


def _statement(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Output):
        return _statements(node.nodes)
    if isinstance(node, nodes.TemplateData):
        return repr(node.data)
    if isinstance(node, nodes.If):
        return _if(node)
    value = _expression(node)
    if value is None:
        return None
    return f"(_v if (_v := {value}).__class__ is str else _out(_v))"  # inline for plain text


def _if(node: nodes.If) -> str | None:
    otherwise = _statements(node.else_)
    for branch in reversed([node, *node.elif_]):
        test, body = _test(branch.test), _statements(branch.body)
        if otherwise is None or test is None or body is None:
            return None
        otherwise = f"({body} if {test} else {otherwise})"
    return otherwise


def _test(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Not):
        inner = _test(node.node)
        return None if inner is None else f"(not {inner})"
    return _expression(node)


def _expression(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name.isidentifier():
        return f"ctx[{node.name!r}]"
    if not isinstance(node, nodes.Filter) or node.kwargs or node.dyn_args or node.dyn_kwargs or node.node is None:
        return None
    inner = _expression(node.node)
    if inner is None:
        return None
    if node.name == "sentence" and not node.args:
        return f"_sentence({inner})"
    if node.name == "join" and len(node.args) == 1 and isinstance(node.args[0], nodes.Const):
        return f"{str(node.args[0].value)!r}.join(map(str, {inner}))"
    return None
