"""Rendering: the sandboxed Jinja2 environment templates run in, and a fast path with identical output.

Most catalogue templates only substitute fields, apply `sentence` or `join`, and test fields with
`{% if %}`. Such a template is turned into a small Python closure over its parsed tree (what Jinja2
would compute, without a new render context per call, several times faster); any other construct
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
    value = str(text).strip().rstrip(SOFT_END + " ")
    if not value or value[-1] in TERMINAL:
        return value
    return value + "。"


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


def compile_renderer(env: SandboxedEnvironment, ast: nodes.Template) -> Renderer:
    """The fast closure when the tree allows one, else the sandboxed template's render."""
    fast = _statements(ast.body)
    return fast if fast is not None else env.from_string(ast).render


def _statements(body: list[nodes.Node]) -> Renderer | None:
    parts = [_statement(node) for node in body]
    if any(part is None for part in parts):
        return None
    return lambda ctx: "".join(part(ctx) for part in parts)


def _statement(node: nodes.Node) -> Renderer | None:
    if isinstance(node, nodes.Output):
        return _statements(node.nodes)
    if isinstance(node, nodes.TemplateData):
        text = node.data
        return lambda ctx: text
    if isinstance(node, nodes.If):
        return _if(node)
    value = _expression(node)
    if value is None:
        return None
    return lambda ctx: str(finalize(value(ctx)))


def _if(node: nodes.If) -> Renderer | None:
    branches = [(node.test, node.body), *((e.test, e.body) for e in node.elif_)]
    compiled = [(_test(test), _statements(body)) for test, body in branches]
    otherwise = _statements(node.else_)
    if otherwise is None or any(test is None or body is None for test, body in compiled):
        return None

    def render(ctx: dict) -> str:
        for test, body in compiled:
            if test(ctx):
                return body(ctx)
        return otherwise(ctx)

    return render


def _test(node: nodes.Node) -> Callable[[dict], bool] | None:
    if isinstance(node, nodes.Not):
        inner = _test(node.node)
        return None if inner is None else lambda ctx: not inner(ctx)
    value = _expression(node)
    return None if value is None else lambda ctx: bool(value(ctx))


def _expression(node: nodes.Node) -> Callable[[dict], object] | None:
    if isinstance(node, nodes.Name) and node.ctx == "load":
        name = node.name
        return lambda ctx: _lookup(ctx, name)
    if not isinstance(node, nodes.Filter) or node.kwargs or node.dyn_args or node.dyn_kwargs or node.node is None:
        return None
    inner = _expression(node.node)
    if inner is None:
        return None
    if node.name == "sentence" and not node.args:
        return lambda ctx: sentence(inner(ctx))
    if node.name == "join" and len(node.args) == 1 and isinstance(node.args[0], nodes.Const):
        separator = str(node.args[0].value)
        return lambda ctx: separator.join(map(str, inner(ctx)))
    return None


def _lookup(ctx: dict, name: str) -> object:
    try:
        return ctx[name]
    except KeyError:
        raise UndefinedError(f"'{name}' is undefined") from None
