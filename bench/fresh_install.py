"""Cold start of a normal install: the wheel in a new virtual environment, timed as a new user meets it.

    python bench/fresh_install.py [--reuse-deps] [--repeat N] [--workdir DIR]

1. Builds the wheel with pip from a copy of the source tree (no out/, no caches), as `pip install .` would.
2. Installs it into a new virtual environment outside the repository: with its dependencies from the
   package index (a fresh install, the default), or with `--reuse-deps` seeing this environment's packages
   through a .pth file (no download; what the test suite does).
3. From an empty folder, times `build-instructions --help` and `--version` beside the bare interpreter
   (`python -c pass`, the baseline), then the first sample build (numba compiles and caches its kernels)
   beside the later ones (`--repeat N`, median), and checks the output landed in that folder.

Prints a table, the goals (a later sample build at most 5 s, `--help` at most 1 s) and, as the last line, one
JSON object. Exits 1 when a step fails, 0 otherwise (a missed goal is reported, not an error).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIPPED = (".git", "out", "build", "dist", "*.egg-info", "__pycache__", ".venv", ".pytest_cache")
GOALS = {"later_build_s": 5.0, "help_s": 1.0}


def build_wheel(project: Path, dest: Path) -> Path:
    """The wheel a user installs, built by pip from a clean copy of the project (its out/ and caches stay out)."""
    source = dest / f"source-{project.name}"
    shutil.copytree(project, source, ignore=shutil.ignore_patterns(*SKIPPED))
    before = set(dest.glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dest), str(source)],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(source)
    return (set(dest.glob("*.whl")) - before).pop()


def make_venv(path: Path, wheels: list[Path], reuse_deps: bool) -> Path:
    """A new virtual environment holding the wheels; returns its bin folder. With `reuse_deps` their dependencies
    are this environment's, seen through a .pth file (plain path entries: this environment's own .pth files, among
    them an editable install of the project, are not run, so `builder` comes from the wheel)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    bin_dir = path / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", *map(str, wheels)]
    subprocess.run(install + (["--no-deps"] if reuse_deps else []), check=True, stdout=subprocess.DEVNULL)
    if reuse_deps:
        site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                              check=True, capture_output=True, text=True).stdout.strip()
        ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
        Path(site, "_qizhen_test_deps.pth").write_text("".join(f"{p}\n" for p in ours), encoding="utf-8")
    return bin_dir


def clean_env() -> dict[str, str]:
    """This process's environment without anything that would point the new install back at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "NUMBA_CACHE_DIR")}
    env.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1")
    return env


def run_tool(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`build-instructions ARGS` of the new install, run in `cwd`."""
    return subprocess.run([str(bin_dir / "build-instructions"), *args], cwd=cwd, env=clean_env(),
                          capture_output=True, text=True, timeout=600)


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse-deps", action="store_true", help="see this environment's packages instead of "
                        "installing them from the index")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each later step (median reported)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the wheel, venv and output here")
    args = parser.parse_args()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="qizhen-fresh-"))
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    wheel = build_wheel(REPO, root / "dist")
    wheel_s = time.perf_counter() - start
    start = time.perf_counter()
    bin_dir = make_venv(root / "venv", [wheel], args.reuse_deps)
    install_s = time.perf_counter() - start
    work = root / "work"
    work.mkdir(exist_ok=True)
    tool, python = str(bin_dir / "build-instructions"), str(bin_dir / "python")

    def median(command: list[str]) -> float:
        return statistics.median(timed(command, work) for _ in range(max(1, args.repeat)))

    figures = {
        "wheel_s": wheel_s,
        "install_s": install_s,
        "python_s": median([python, "-c", "pass"]),
        "help_s": median([tool, "--help"]),
        "version_s": median([tool, "--version"]),
        "first_build_s": timed([tool, "build", "--quiet"], work),
        "later_build_s": median([tool, "build", "--quiet"]),
    }
    if not (work / "out" / "sample" / "manifest.json").is_file():
        raise SystemExit(f"the sample build did not land in {work / 'out' / 'sample'}")
    deps = "this environment's, through a .pth" if args.reuse_deps else "from the package index"
    print(f"wheel {wheel.name}; dependencies {deps}; workdir {root}")
    print(f"{'step':<36}{'wall s':>9}")
    rows = [("build the wheel", "wheel_s"), ("install it into a new venv", "install_s"),
            ("python -c pass (baseline)", "python_s"), ("build-instructions --help", "help_s"),
            ("build-instructions --version", "version_s"), ("first sample build (compiles)", "first_build_s"),
            (f"later sample build (median of {args.repeat})", "later_build_s")]
    for label, key in rows:
        print(f"{label:<36}{figures[key]:>9.2f}")
    for key, goal in GOALS.items():
        print(f"goal {key} <= {goal:g} s: {'met' if figures[key] <= goal else 'NOT met'} ({figures[key]:.2f} s)")
    print(json.dumps({"reuse_deps": args.reuse_deps, "repeat": args.repeat,
                      **{k: round(v, 3) for k, v in figures.items()}}))
    if args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
