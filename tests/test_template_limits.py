"""Template resource bombs: bounded by the sandbox, never a traceback.

Everything that could blow up runs in a subprocess with a 2 GB address-space limit and a timeout, so a
regression fails the test instead of taking the machine down.
"""

import json
import resource
import subprocess
import sys

import pytest

LIMIT = 2 << 30


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


SANDBOX = r"""
import json, sys
from jinja2.exceptions import TemplateError
from builder.render import compile_renderer, make_environment
env = make_environment()
context = {"name": "阿莫西林" * 50, "aliases": ["甲"] * 2000, "indications": "用于" * 300000}
for source in json.loads(sys.stdin.read()):
    try:
        print(json.dumps(["ok", len(compile_renderer(env, env.parse(source))(context))]))
    except TemplateError as exc:
        print(json.dumps([type(exc).__name__, str(exc)]))
"""


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        ("{{ name|replace('', name)|replace('', name)|replace('', name) }}", "TextTooLong", "`replace` would make"),
        ("{{ 'a' * 10**10 }}", "TextTooLong", "`*` would make a text of more than 1,000,000 characters"),
        ("{{ aliases * 2000000000 }}", "TextTooLong", "`*` would make"),
        ("{{ name * 2e9 }}", "TemplateRuntimeError", "`*`: can't multiply sequence by non-int of type 'float'"),
        ("{{ '%01000000000d' % 1 }}", "SecurityError", "%-formatting is not allowed"),
        ("{{ 9**9999999 }}", "SecurityError", "`**` would make a number of more than 4096 bits"),
        ("{{ (2**4000) * (2**4000) }}", "SecurityError", "`*` would make a number"),
        ("{{ 10.0 ** 400 }}", "TemplateRuntimeError", "`**`:"),
        ("{{ 1 // 0 }}", "TemplateRuntimeError", "`//`: integer division or modulo by zero"),
        ("{{ -name }}", "TemplateRuntimeError", "`-`: bad operand type"),
        ("{% for a in name %}{% for b in name %}{% for c in name %}{{ a }}{% endfor %}{% endfor %}{% endfor %}",
         "TextTooLong", "the template would make"),
        ("{{ aliases|join(indications) }}", "TextTooLong", "`join` would make"),
        ("{{ indications ~ indications }}", "TextTooLong", "the template would make"),
        ("{{ indications|replace('用', '用用用') }}", "TextTooLong", "`replace` would make"),
        ("{{ '{:>1000000000}'.format(name) }}", "SecurityError", "access to attribute 'format'"),
        ("{{ lipsum(100000) }}", "UndefinedError", "'lipsum' is undefined"),
        ("{{ name|center(1000000000) }}", "TemplateAssertionError", "No filter named 'center'"),
        ("{{ name|indent(1000000000) }}", "TemplateAssertionError", "No filter named 'indent'"),
        ("{{ name|wordwrap(5) }}", "TemplateAssertionError", "No filter named 'wordwrap'"),
        ("{{ name|format(1) }}", "TemplateAssertionError", "No filter named 'format'"),
        ("{{ name|truncate(5) }}", "TemplateAssertionError", "No filter named 'truncate'"),
        ("{{ aliases|join('、') }}", "ok", 3999),
    ],
)
def test_the_sandbox_bounds_what_the_lint_refuses(source: str, error: str, message: str | int) -> None:
    """Defence in depth: the environment alone refuses each bomb before building it, within the limit."""
    done = subprocess.run([sys.executable, "-c", SANDBOX], input=json.dumps([source]), capture_output=True,
                          text=True, timeout=60, preexec_fn=_limit)
    assert done.returncode == 0, done.stderr
    kind, detail = json.loads(done.stdout)
    assert kind == error and (detail == message if error == "ok" else str(message) in detail), detail
