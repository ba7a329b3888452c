"""Template resource bombs: refused by the lint and before a build, bounded by the sandbox, never a traceback.

Every command that could blow up runs in a subprocess with a 2 GB address-space limit and a timeout, so a
regression fails the test instead of taking the machine down.
"""

import json
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.config import SHIPPED_TEMPLATES as SHIPPED
from builder.expand.catalogue import lint
from builder.expand.render import MAX_TEXT_CHARS, compile_renderer, make_environment

LIMIT = 2 << 30
LINE = re.compile(r"^\S+\.toml:\d+: [\w.-]+: .+$")  # file:line: template-id: message
BOMBS = [
    ("{{ name|replace('', name)|replace('', name)|replace('', name) }}",
     "nested growth: `replace` is applied to the output of `replace`"),
    ("{{ 'a' * 10**10 }}", "arithmetic (`*`) is not allowed: a template only rephrases the question"),
    ("{{ name * 2e9 }}", "arithmetic (`*`) is not allowed"),
    ("{{ '%01000000000d' % 1 }}", "arithmetic (`%`) is not allowed"),
    ("{{ 9**9999999 }}", "arithmetic (`**`) is not allowed"),
    ("{{ 9**9**9 }}", "arithmetic (`**`) is not allowed"),
    ("{{ -1 }}", "arithmetic (`-`) is not allowed"),
    ("{% for a in name %}{% for b in name %}{{ a }}{% endfor %}{% endfor %}",
     "loops ({% for %}) are not allowed: print a list with `| join('、')`"),
    ("{% for a in aliases %}{{ a }}{% endfor %}", "loops ({% for %}) are not allowed"),
    ("{{ indications|replace('', indications) }}", "`replace` takes literal arguments only"),
    ("{{ aliases|join(name) }}", "`join` takes literal arguments only"),
    ("{{ aliases|join('、')|trim|replace('、', '和') }}", "nested growth: `replace` is applied to the output of `join`"),
    ("{% with x = name|replace('药', '药药') %}{{ x|replace('药', '药药') }}{% endwith %}", "with is not allowed"),
    ("{{ 1" + "0" * 5000 + " }}", "cannot be parsed (Exceeds the limit"),
    ("{{ " + "(" * 3000 + "name" + ")" * 3000 + " }}", "cannot be parsed (it nests too deeply)"),
    ("{{ name" + "|trim" * 5000 + " }}", "cannot be parsed (it nests too deeply)"),
]


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def bounded(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess with at most 2 GB of address space and `timeout` seconds."""
    return subprocess.run([sys.executable, "-m", "builder", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=_limit)


def with_answer(tmp_path: Path, template: str) -> Path:
    """The shipped catalogue with `template` in front of drug.indications' answer text (drug.toml line 24)."""
    copy = tmp_path / "templates"
    shutil.copytree(SHIPPED, copy)
    path = copy / "drug.toml"
    text = path.read_text(encoding="utf-8")
    quoted = template.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(text.replace("{{ indications | sentence }}", quoted + "{{ indications }}", 1), encoding="utf-8")
    return copy


@pytest.fixture(scope="module")
def long_named_drugs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Drugs whose names would make the triple `replace` need about 1.6 billion characters, were it run."""
    path = tmp_path_factory.mktemp("kb") / "drugs.jsonl"
    rows = [{"name": f"药{i}" + "甲" * 198, "indications": "用于头痛。"} for i in range(3)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(("template", "message"), BOMBS, ids=[b[0][:40] for b in BOMBS])
def test_bombs_fail_lint_and_build_with_one_line(tmp_path: Path, long_named_drugs: Path, template: str,
                                                 message: str) -> None:
    folder = with_answer(tmp_path, template)
    where = f"{folder / 'drug.toml'}:24: drug.indications: answer: {message}"
    linted = bounded("templates", "lint", folder)
    assert linted.returncode == 1, linted.stderr
    assert any(line.startswith(where) for line in linted.stdout.splitlines()), linted.stdout
    assert all(LINE.match(line) for line in linted.stdout.splitlines()), linted.stdout
    assert "Traceback" not in linted.stdout + linted.stderr
    out = tmp_path / "out"
    built = bounded("build", "--templates", folder, "--kb", f"drug={long_named_drugs}", "--out", out, "--quiet")
    assert built.returncode == 2, built.stderr
    assert built.stderr.count("\n") == 1 and built.stderr.startswith(f"error: {where}"), built.stderr
    assert "templates lint" in built.stderr and "Traceback" not in built.stderr and not out.exists()


def test_shipped_catalogue_lints_clean_under_the_limit() -> None:
    count, problems = lint(SHIPPED)
    assert problems == [] and count >= 39
    linted = bounded("templates", "lint")
    assert linted.returncode == 0 and linted.stdout.startswith(f"ok: {count} templates"), linted.stdout


SANDBOX = r"""
import json, sys
from jinja2.exceptions import TemplateError
from builder.expand.render import compile_renderer, make_environment
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


def _both(source: str) -> tuple:
    env = make_environment()
    ast = env.parse(source)
    fast, slow = compile_renderer(env, ast), env.from_string(ast).render
    assert fast.__qualname__ == "render"  # the generated code, not the sandbox
    return fast, slow


def _outcome(render, context: dict) -> tuple[str, str]:
    try:
        return "ok", render(context)
    except Exception as exc:
        return type(exc).__name__, ""


@pytest.mark.parametrize(
    ("source", "context"),
    [
        ("{{ name }}的适应证：{{ indications | sentence }}", {"name": "布洛芬", "indications": "用" * (MAX_TEXT_CHARS - 9)}),
        ("{{ name }}的适应证：{{ indications | sentence }}", {"name": "布洛芬", "indications": "用" * (MAX_TEXT_CHARS - 8)}),
        ("{{ indications }}", {"indications": "用" * MAX_TEXT_CHARS}),
        ("{{ indications }}", {"indications": "用" * (MAX_TEXT_CHARS + 1)}),
        ("{{ aliases | join('、') }}", {"aliases": ["甲"] * (MAX_TEXT_CHARS // 2)}),
        ("{{ aliases | join('、') }}", {"aliases": ["甲"] * (MAX_TEXT_CHARS // 2 + 1)}),
        ("{{ aliases | join('、、') | sentence }}", {"aliases": [""] * (MAX_TEXT_CHARS // 2 + 1)}),
        ("{{ aliases | join('、、') | sentence }}", {"aliases": [""] * (MAX_TEXT_CHARS // 2 + 2)}),
    ],
)
def test_the_fast_path_applies_the_same_cap(source: str, context: dict) -> None:
    fast, slow = _both(source)
    expected = _outcome(slow, context)
    assert _outcome(fast, context) == expected
    assert expected[0] in ("ok", "TextTooLong") and len(expected[1]) <= MAX_TEXT_CHARS


@pytest.mark.parametrize("source", ["{{ a }}{{ b }}", "x{{ a }}", "{{ a }}x", "{{ a }}{{ b }}x", "{{ a }}x{{ b }}",
                                    "{% if a %}{{ a }}{% endif %}{{ b }}", "x{% if a %}{{ a }}{% endif %}{{ b }}y",
                                    "{{ a }}{{ b }}{{ a }}{{ b }}", "{{ a }}", "{% if a %}{{ b }}{% else %}{{ a }}{% endif %}"])
@pytest.mark.parametrize("a", ["甲", ["甲", "乙"], [], 7, None, ""])
@pytest.mark.parametrize("b", ["乙", ["丙"], 0, None])
def test_the_fast_path_prints_any_value_as_jinja_does(source: str, a: object, b: object) -> None:
    """Values join the text unconverted where anything else would raise TypeError; then the exact code runs."""
    fast, slow = _both(source)
    assert _outcome(fast, {"a": a, "b": b}) == _outcome(slow, {"a": a, "b": b})


def test_a_long_record_is_not_an_error(tmp_path: Path) -> None:
    """Legitimately long text renders (the quality stage's max_row_chars judges it), far below the cap."""
    kb = tmp_path / "drugs.jsonl"
    rows = [{"name": "布洛芬", "indications": "用于头痛。" * 40_000}, {"name": "阿司匹林", "indications": "用于发热。"}]
    kb.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    built = bounded("build", "--kb", f"drug={kb}", "--out", tmp_path / "out", "--quiet", "--workers", "1")
    assert built.returncode == 0, built.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert "too_long_row" in json.dumps(manifest)


def test_a_record_over_the_cap_is_rejected_and_the_build_goes_on(tmp_path: Path) -> None:
    """A field of over a million characters could never render: that record is a reject with its reason, the
    others build."""
    kb = tmp_path / "drugs.jsonl"
    rows = [{"name": "布洛芬", "indications": "用于头痛。" * 240_000}, {"name": "阿司匹林", "indications": "用于发热。"}]
    kb.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    built = bounded("build", "--kb", f"drug={kb}", "--out", tmp_path / "out", "--quiet", "--workers", "1")
    assert built.returncode == 0, built.stderr
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text("utf-8").splitlines()]
    assert [(r["reason"], r["field"], r["line"]) for r in rejects] == [("too_long_field", "indications", 1)]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["reconciles"] and manifest["totals"]["read"] == 2 and manifest["totals"]["kept"] == 1
