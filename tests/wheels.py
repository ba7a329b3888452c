"""Other projects' code from their wheels on PyPI, for the tests that check outputs with a trainer's own parser
or a model's own vocabulary when that project cannot be installed beside this one."""

import subprocess
import sys
import types
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def fetched_wheel(requirement: str, folder: Path) -> Path:
    """The wheel `pip download` brings for a requirement (no dependencies); the test is skipped, saying why, when the
    package registry cannot be reached."""
    done = subprocess.run([sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--quiet", "-d",
                           str(folder)], capture_output=True, text=True, timeout=300)
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode or not wheels:
        pytest.skip(f"the wheel of {requirement} could not be fetched: {done.stderr[-300:]}")
    return wheels[-1]


@contextmanager
def unpacked(wheel: Path, folder: Path, packages: tuple[str, ...]) -> Iterator[Path]:
    """The wheel unpacked, with `packages` importable as bare namespaces (their __init__ files, which load a whole
    training stack, are not run), and forgotten again afterwards; yields the top package's folder."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder)
    root = folder / packages[0]
    for name in packages:
        package = types.ModuleType(name)
        package.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = package
    try:
        yield root
    finally:
        for name in [n for n in sys.modules if n == packages[0] or n.startswith(packages[0] + ".")]:
            del sys.modules[name]
