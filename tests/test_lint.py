"""`templates lint`: every problem as `file:line: template-id: message`, the same checks at build time."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.config import SHIPPED_TEMPLATES as SHIPPED
from builder.expand.catalogue import lint
from tests.conftest import run

GOOD = """kind = "drug"
version = "1"

[[templates]]
id = "drug.indications"
requires = ["indications"]
questions = [
  "{{ name }}的适应病症是什么？",
  "{{ name }}能治什么病？",
]
answer = "{{ name }}的适应证：{{ indications | sentence }}"
"""


def catalogue(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    (folder / "drug.toml").write_text(text, encoding="utf-8")
    return folder


def lines(folder: Path) -> list[str]:
    return [str(p) for p in lint(folder)[1]]


def test_shipped_catalogue_is_clean() -> None:
    count, problems = lint(SHIPPED)
    assert problems == [] and count >= 18
    done = subprocess.run([sys.executable, "-m", "builder", "templates", "lint"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("ok: ")


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("{{ indications | sentence }}", "{{ indicatons | sentence }}", 11, "answer: unknown variable 'indicatons'"),
        ("能治什么病？", "能治什么病？{% if %}", 9, "question 2: template syntax error"),
        ("{{ indications | sentence }}", "{{ ''.__class__.__mro__ }}{{ indications }}", 11,
         "answer: attribute access (.__mro__) is not allowed"),
        ("{{ indications | sentence }}", "{{ cycler.__init__.__globals__ }}{{ indications }}", 11,
         "answer: unknown variable 'cycler' (a Jinja2 global, not a record field)"),
        ("{{ indications | sentence }}", "{% include '../raw/sample.toml' %}{{ indications }}", 11,
         "answer: include is not allowed: templates cannot read files"),
        ("{{ indications | sentence }}", "{{ indications | attr('__class__') }}", 11, "answer: filter 'attr' is not allowed"),
        ("{{ indications | sentence }}", "{{ indications }}{{ category }}", 11,
         "answer: prints 'category', which is not in requires"),
        ("{{ name }}的适应证：{{ indications | sentence }}", "请遵医嘱。", 11,
         "answer: the answer prints no record text"),
        ("{{ name }}能治什么病？", "这个药能治什么病？", 9, "question 2: the question does not name the entity"),
        ('requires = ["indications"]', 'requires = ["indication"]', 5, "requires unknown field(s) indication"),
        ("{{ name }}的适应证：{{ indications | sentence }}", "{% if false %}{{ name }}{{ indications }}{% endif %}", 11,
         "answer: renders empty even when every field is present"),
        ("{{ indications | sentence }}", "{% for a in aliases %}{{ a }}{% endfor %}{{ indications }}", 11,
         "answer: loops ({% for %}) are not allowed: print a list with `| join('、')`"),
        ("{{ name }}能治什么病？", "{{ name * 2 }}能治什么病？", 9,
         "question 2: arithmetic (`*`) is not allowed: a template only rephrases the question"),
        ("{{ indications | sentence }}", "{{ indications | replace('；', '。') | join('、') }}", 11,
         "answer: nested growth: `join` is applied to the output of `replace`, so their lengths multiply"),
        ("{{ indications | sentence }}", "{{ indications | replace('。', name) }}", 11,
         "answer: `replace` takes literal arguments only: one computed from the record can multiply its length"),
    ],
)
def test_each_problem_is_one_line_with_its_location(tmp_path: Path, old: str, new: str, line: int, message: str) -> None:
    assert old in GOOD
    folder = catalogue(tmp_path, GOOD.replace(old, new, 1))
    found = lines(folder)
    assert any(f"drug.toml:{line}: drug.indications: {message}" in p for p in found), found


def test_duplicate_id_and_toml_syntax(tmp_path: Path) -> None:
    folder = catalogue(tmp_path, GOOD + GOOD[GOOD.index("[[templates]]"):])
    assert any("drug.toml:13: drug.indications: duplicate template id" in p for p in lines(folder))
    broken = catalogue(tmp_path, GOOD.replace('id = "drug.indications"', 'id = "drug.indications'))
    assert any(p.startswith(f"{broken / 'drug.toml'}:5: -: not valid TOML") for p in lines(broken))


@pytest.mark.parametrize(
    ("escape", "message"),
    [
        ("{{ ''.__class__.__mro__ }}", "attribute access (.__mro__) is not allowed"),
        ("{{ cycler.__init__.__globals__ }}", "attribute access (.__globals__) is not allowed"),
        ("{% include '../raw/sample.toml' %}", "include is not allowed: templates cannot read files"),
    ],
)
def test_escapes_fail_the_lint_command_and_the_build(tmp_path: Path, escape: str, message: str) -> None:
    copy = tmp_path / "templates"
    shutil.copytree(SHIPPED, copy)
    path = copy / "drug.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("{{ indications | sentence }}", escape + "{{ indications }}", 1), encoding="utf-8")
    result = run("templates", "lint", copy)
    assert result.exit_code == 1
    assert f"drug.toml:24: drug.indications: answer: {message}" in result.stdout
    build = run("build", "--templates", copy, "--out", tmp_path / "out", "--quiet")
    assert build.exit_code == 2 and f"drug.toml:24: drug.indications: answer: {message}" in build.stderr
    assert "templates lint" in build.stderr and not (tmp_path / "out").exists()
