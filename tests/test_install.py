"""A normal install, not the checkout: the wheel in a new virtual environment builds from an empty folder.

The dependencies are this environment's, seen through a .pth file (bench/fresh_install.py), so the test
downloads nothing; the project itself comes only from the wheel.
"""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bench.fresh_install import REPO, build_wheel, make_venv, run_tool
from tests.conftest import DRUG_BLOCKS, write_json


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("install")
    wheel = build_wheel(REPO, root / "dist")
    return wheel, make_venv(root / "venv", [wheel], reuse_deps=True)


def test_the_wheel_carries_the_catalogue_and_the_sample(installed: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(installed[0]).namelist())
    shipped = {f"builder/templates/{p.relative_to(REPO / 'templates').as_posix()}"
               for p in (REPO / "templates").rglob("*.toml")}
    assert any(name.startswith("builder/templates/chat/") for name in shipped)  # the chat templates ship too
    sample = {f"builder/sample/{p.name}" for p in (REPO / "raw").iterdir() if p.suffix in (".toml", ".json", ".jsonl", ".csv")}
    assert shipped and sample and shipped | sample <= names
    assert "builder/eval/synonyms.toml" in names
    packages = {p.parent.relative_to(REPO).as_posix() for root in ("builder", "schemas")
                for p in (REPO / root).rglob("__init__.py")}
    assert all(f"{package}/__init__.py" in names for package in packages), packages - {n.rsplit("/", 1)[0] for n in names}
    assert not any(n.startswith(("tests/", "bench/", "out/", "templates/", "raw/")) for n in names)


def test_the_installed_tool_builds_the_sample_into_the_current_folder(installed: tuple[Path, Path],
                                                                       tmp_path: Path) -> None:
    _, bin_dir = installed
    where = run_tool(bin_dir, tmp_path, "--version")
    assert where.returncode == 0 and "0.1.0" in where.stdout
    done = run_tool(bin_dir, tmp_path, "build", "--quiet")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out" / "sample"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["totals"]["rows"] > 0 and manifest["reconciles"]
    assert sum(pq.read_table(p).num_rows for p in (out / "data").glob("*.parquet")) == manifest["totals"]["rows"]
    site = Path(run_tool(bin_dir, tmp_path, "templates", "lint").stdout.split(" in ", 1)[1].strip())
    assert site.is_relative_to(bin_dir.parent) and site.name == "templates"
    assert not (site.parent / "out").exists() and not (site.parent / "sample" / "out").exists()


def test_the_installed_tool_builds_a_knowledge_base_with_the_shipped_catalogue(installed: tuple[Path, Path],
                                                                               tmp_path: Path) -> None:
    _, bin_dir = installed
    write_json(tmp_path / "drugs.json", DRUG_BLOCKS)
    done = run_tool(bin_dir, tmp_path, "build", "--kb", "drug=drugs.json", "--out", "out/kb", "--quiet",
                    "--chat-template", "qwen3_nothink")
    assert done.returncode == 0, done.stderr
    rows = pq.read_table(sorted((tmp_path / "out" / "kb" / "data").glob("*.parquet"))).to_pylist()
    assert rows and {r["kind"] for r in rows} == {"drug"} and all(r["template_id"].startswith("drug.") for r in rows)
    assert any("阿莫西林" in r["instruction"] and "呼吸道感染" in r["output"] for r in rows)
    manifest = json.loads((tmp_path / "out" / "kb" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["quality"]["chat_templates"]["qwen3_nothink"]["rows"] == len(rows)


def test_help_and_version_load_no_heavy_library() -> None:
    """`--help` and `--version` answer without numba, pyarrow, datasets or the stages behind them."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom builder.cli import main\n"
            "for args in (['--help'], ['--version'], ['build', '--help'], ['eval', 'score', '--help'], ['push', '--help']):\n"
            "    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
            "print(sorted({'numba', 'numpy', 'pyarrow', 'datasets', 'pandas', 'jinja2', 'pydantic', 'huggingface_hub'}"
            " & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
