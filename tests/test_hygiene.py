"""Hygiene the README's test command holds, so CI holds it too: ruff is clean, the typed core (builder, schemas)
type-checks with mypy, no builder module grows past the size a reader takes in, no two classes share a name, and the compiled kernels' tests
pass with numba's bounds checks on."""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 450
KERNEL_TESTS = ["tests/test_formats.py", "tests/test_neardup.py", "tests/test_quality.py"]


def test_ruff_is_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed: pip install -e '.[test]'")
    done = subprocess.run([ruff, "check", "--no-cache", str(REPO)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout[-4000:]


def test_mypy_is_clean(tmp_path: Path) -> None:
    """`mypy` in the repository root, as pyproject.toml configures it; its cache goes to tmp_path, not the repo."""
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    if mypy is None:
        pytest.skip("mypy is not installed: pip install -e '.[test]'")
    done = subprocess.run([mypy, "--cache-dir", str(tmp_path / "mypy"), "--no-color-output"],
                          capture_output=True, text=True, cwd=REPO, timeout=1200)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


def test_no_builder_module_is_too_long_to_read() -> None:
    long = {str(p.relative_to(REPO)): n for p in (REPO / "builder").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"split these modules (over {MAX_MODULE_LINES} lines): {long}"


def test_no_two_classes_share_a_name() -> None:
    """A class name says which thing it is across the whole package: grep finds one, and so does a reader."""
    found: dict[str, list[str]] = {}
    for path in sorted([*(REPO / "builder").rglob("*.py"), *(REPO / "schemas").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, []).append(str(path.relative_to(REPO)))
    assert not {name: where for name, where in found.items() if len(where) > 1}


def test_the_kernels_stay_in_bounds(tmp_path: Path) -> None:
    """The kernel tests again with NUMBA_BOUNDSCHECK=1, compiled afresh (a cache of unchecked code would hide it)."""
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                           f"--basetemp={tmp_path / 'run'}", "-k", "not slow", *KERNEL_TESTS],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:]
