"""Scale benchmark: the real ``build-instructions`` CLI against a floor and a naive script.

    python bench/scale.py [--scale F] [--workdir DIR] [--keep] [--seed N]
                          [--only floor|naive|builder|builder-4x] [--skip-naive] [--skip-4x]
                          [--builder-cmd CMD] [--workers N] [--timeout S] [--strict] [--repeat N]
                          [--baseline PATH] [--write-baseline] [--tokenizer PATH]

1. Generates the synthetic workload (``bench/workload.py``) into a temp dir (or
   ``--workdir``; reused when a matching ``workload.json`` manifest is already there),
   and a 4x one (scale x 4) into ``input-4x/`` for the memory-scaling run.
2. Runs each stage in its own subprocess and measures its wall time and peak RSS: the
   larger of ``os.wait4``'s ``ru_maxrss`` (the largest single process of the stage) and
   the sum of the proportional set size (PSS: shared pages split between the processes that
   share them) of every process in the stage's process group, sampled every 100 ms from
   ``/proc/PID/smaps_rollup`` (a build with ``--workers 2`` is three processes), and its CPU
   time (user + system, the workers' included). Those reads cost 20-30 ms of CPU each, a fifth
   of a core or more at 10 Hz, so the floor and the builder, whose wall times make the ratio,
   are timed in runs without the sampler (``--repeat N`` of them, taking turns, so a slow spell
   of a shared machine falls on both; the median run counts, and the spread is printed), and
   their memory is measured in one more run each.
   * floor:      ``python bench/floor.py IN OUT`` (least work giving the same rows)
   * naive:      ``python bench/naive.py IN OUT --seed 1`` (the builder's default stages,
     row by row, as a first-draft script would write them; no near-dup)
   * builder:    ``build-instructions build --kb drug=IN/drugs.json --qa IN/qa.jsonl
     --eval-set IN/eval.csv --out OUT --seed 1 --quiet --workers N --timings LOG/timings.json``
     (N = ``--workers``, default: the CPU count)
   * builder-4x: the same on the 4x workload
   * builder-tokens (with ``--tokenizer PATH``): the builder command with ``--tokenizer PATH --max-tokens
     4096``, timed in the same turns as the builder; its wall time over the builder's is printed
   * builder-types (with ``--types LIST``): the builder command with ``--types LIST`` (``all``: every
     instruction type), timed in the same turns as the builder; its wall time and rows over the builder's
     are printed
3. Prints a table, the builder/floor, naive/builder and 4x/1x ratios, the wall and CPU seconds of
   each stage of the median builder run (from its ``--timings``; "start-up" is the rest: the
   interpreter, imports and options), then the key figures beside those of the baseline
   (``--baseline PATH``, default ``bench/baseline.json``: the reference run, checked in) with
   this/baseline ratios and the baseline's date, commit and machine (one line instead when the
   file is missing or unreadable), and as the LAST line one JSON object, the summary.
4. With ``--write-baseline``, writes that summary to ``--baseline`` (indented JSON, sorted keys)
   with a ``recorded`` object: UTC date, git commit (short, "+dirty" with uncommitted changes),
   command line, Python, pyarrow, numba and numpy versions, CPU count and machine. The reference
   is recorded with ``python bench/scale.py --scale 1 --workdir /tmp/bench1 --repeat 3
   --write-baseline``. It is refused (exit 2) when the builder stage failed or did not run.

A stage that fails (non-zero exit, missing CLI, timeout) is reported as FAILED with the
tail of its stderr; the script carries on and exits 0 unless ``--strict``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from workload import generate, write_eval


@dataclass
class StageResult:
    name: str
    ok: bool = False
    wall_s: float | None = None
    cpu_s: float | None = None
    walls: list[float] = field(default_factory=list)
    rows: int | None = None
    peak_rss_mb: float | None = None
    exit_code: int | None = None
    error: str = ""
    log_dir: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float | None:
        if self.ok and self.rows is not None and self.wall_s:
            return self.rows / self.wall_s
        return None


def run_measured(cmd: list[str], log_dir: Path, timeout: float | None,
                 sample: bool = True) -> tuple[int, float, float, float, str]:
    """Run ``cmd`` in its own process group; return (exit_code, wall_s, cpu_s, peak_rss_mb, note). The CPU
    time is the process's and that of the children it waited for (a build's workers). Without ``sample``
    the peak is only the largest process's ``ru_maxrss``: the process group's memory is not read."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "stdout.txt", "wb") as out, open(log_dir / "stderr.txt", "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=REPO, start_new_session=True)
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, _kill) if timeout else None
        if timer:
            timer.start()
        done = threading.Event()
        tree_peak = [0]

        def _sample() -> None:
            while not done.wait(0.1):
                tree_peak[0] = max(tree_peak[0], group_rss_kib(proc.pid))

        sampler = threading.Thread(target=_sample, daemon=True) if sample else None
        if sampler:
            sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            if sampler:
                sampler.join()
            if timer:
                timer.cancel()
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # we reaped it ourselves; keep Popen consistent
    note = f"timed out after {timeout:g}s" if timed_out.is_set() else ""
    return code, wall, usage.ru_utime + usage.ru_stime, max(usage.ru_maxrss, tree_peak[0]) / 1024.0, note


def group_rss_kib(pgid: int) -> int:
    """The memory of every process in a process group, from /proc (0 where there is none): the sum of
    their proportional set sizes, so pages forked workers share with their parent count once."""
    total = 0
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            with open(f"/proc/{entry}/smaps_rollup", "rb") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith(b"Pss:"))
        except (OSError, IndexError, ValueError):
            continue
    return total


def parquet_rows(paths: list[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def stderr_tail(log_dir: Path, n: int = 12) -> str:
    try:
        lines = (log_dir / "stderr.txt").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def run_stage(name: str, cmd: list[str] | None, out_dir: Path, log_dir: Path,
              find_outputs, timeout: float | None, missing: str = "", sample: bool = True) -> StageResult:
    res = StageResult(name=name, log_dir=log_dir)
    if cmd is None:
        res.error = missing
        return res
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (log_dir / "timings.json").unlink(missing_ok=True)
    try:
        code, wall, cpu, rss, note = run_measured(cmd, log_dir, timeout, sample)
    except OSError as e:  # e.g. executable vanished
        res.error = f"could not start {cmd[0]!r}: {e}"
        return res
    res.exit_code, res.wall_s, res.cpu_s, res.peak_rss_mb, res.walls = code, wall, cpu, rss, [wall]
    if code != 0 or note:
        res.error = note or f"exit code {code}"
        tail = stderr_tail(log_dir)
        if tail:
            res.error += "\n" + tail
        return res
    files = find_outputs(out_dir)
    if not files:
        res.error = f"exit 0 but no Parquet output found under {out_dir}"
        return res
    try:
        res.rows = parquet_rows(files)
    except Exception as e:  # corrupt / partial output
        res.error = f"could not read Parquet output: {e}"
        return res
    res.ok = True
    if (log_dir / "timings.json").is_file():
        stages = json.loads((log_dir / "timings.json").read_text(encoding="utf-8"))["stages"]
        rest = {"wall_s": wall - sum(t["wall_s"] for t in stages.values()),
                "cpu_s": cpu - sum(t["cpu_s"] for t in stages.values())}
        res.extra["stages"] = {"start-up": {k: round(v, 3) for k, v in rest.items()}, **stages}
    return res


def median_run(runs: list[StageResult], memory: StageResult) -> StageResult:
    """One stage timed several times and measured once for memory: the median timed run by wall time, with
    every run's wall time, and the memory run's peak and (sampled) wall time (a failed run, if any)."""
    failed = [r for r in [*runs, memory] if not r.ok]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda r: r.wall_s)
    median = ordered[(len(ordered) - 1) // 2]
    median.walls = [r.wall_s for r in runs]
    median.peak_rss_mb = memory.peak_rss_mb
    median.extra["sampled_wall_s"] = memory.wall_s
    return median


def floor_outputs(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("*.parquet"))


def builder_outputs(out_dir: Path) -> list[Path]:
    data = out_dir / "data"
    files = sorted(data.glob("*.parquet"))
    return files or sorted(data.glob("**/*.parquet"))


def rss_ok(r: StageResult | None) -> float | None:
    return r.peak_rss_mb if (r is not None and r.ok) else None


def ratio_of(a: float | None, b: float | None) -> float | None:
    return a / b if (a is not None and b) else None


def builder_command(base: str | None, in_dir: Path, out_dir: Path, workers: int,
                    log_dir: Path) -> tuple[list[str] | None, str]:
    if base:
        prefix = shlex.split(base)
    else:
        exe = shutil.which("build-instructions")
        if exe is None:
            return None, ("`build-instructions` not found on PATH (install the package, e.g. "
                          "`pip install -e .`, or pass --builder-cmd 'python -m builder')")
        prefix = [exe]
    return prefix + ["build", "--kb", f"drug={in_dir / 'drugs.json'}", "--qa", str(in_dir / "qa.jsonl"),
                     "--eval-set", str(in_dir / "eval.csv"), "--out", str(out_dir), "--seed", "1", "--quiet",
                     "--workers", str(workers), "--timings", str(log_dir / "timings.json")], ""


def ensure_workload(in_dir: Path, scale: float, seed: int) -> dict:
    manifest = in_dir / "workload.json"
    if manifest.exists() and (in_dir / "drugs.json").exists() and (in_dir / "qa.jsonl").exists():
        try:
            info = json.loads(manifest.read_text(encoding="utf-8"))
            if info.get("scale") == scale and info.get("seed") == seed:
                if not (in_dir / "eval.csv").exists():  # a workload from before the evaluation set
                    drugs = json.loads((in_dir / "drugs.json").read_text(encoding="utf-8"))
                    info["eval"] = write_eval(in_dir / "eval.csv", drugs, seed)
                    manifest.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
                info["reused"] = True
                return info
        except (OSError, ValueError):
            pass
    info = generate(in_dir, scale=scale, seed=seed)
    manifest.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    info["reused"] = False
    return info


def fmt(v, spec: str) -> str:
    if v is None:
        width = "".join(ch for ch in spec.split(".")[0].split(",")[0] if ch.isdigit())
        return "-".rjust(int(width or 0))
    return format(v, spec)


STAGES = ("floor", "naive", "builder", "builder-4x")
TOKEN_LIMIT = 4096  # --max-tokens of the builder-tokens run: the limit is checked, few rows reach it

# The figures set beside the baseline's: (summary key, label, format as in the table above).
KEY_FIGURES = (
    ("floor_s", "floor wall s", ",.2f"),
    ("builder_s", "builder wall s", ",.2f"),
    ("builder_over_floor", "builder/floor wall", ".2f"),
    ("builder_cpu_s", "builder CPU s", ",.2f"),
    ("peak_rss_mb", "builder peak RSS MB", ",.1f"),
    ("rss_4x_mb", "builder-4x peak RSS MB", ",.1f"),
    ("naive_over_builder", "naive/builder wall", ".2f"),
    ("builder_4x_s", "builder-4x wall s", ",.2f"),
    ("builder_rows", "builder rows", ",d"),
)


def number(v: object) -> float | int | None:
    """A figure usable in a comparison, else None: a hand-edited baseline may hold anything."""
    return v if isinstance(v, int | float) and not isinstance(v, bool) else None


def show(v: float | int | None, spec: str = "g") -> str:
    """A figure formatted with ``spec``, "-" when absent; an integer spec rounds, since a hand-edited baseline
    may say 3089.0."""
    if v is None:
        return "-"
    return format(round(v) if spec.endswith("d") else v, spec)


def load_baseline(path: Path) -> tuple[dict | None, str]:
    """The baseline summary at ``path``, or (None, one line saying why not): a missing or broken file must
    not cost the run its report."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"baseline: none at {path} (record one with --write-baseline)"
    except (OSError, ValueError) as e:
        return None, f"baseline: cannot read {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    if not isinstance(data, dict):
        return None, f"baseline: cannot read {path}: not a JSON object"
    return data, ""


def describe_recorded(rec: object) -> str:
    """One line naming when, from which commit and on what machine a baseline was measured, so a reader can
    tell whether a difference is the code's or the machine's."""
    if not isinstance(rec, dict):
        return "recorded: unknown (no \"recorded\" object)"
    cpus = rec.get("cpu_count")
    return (f"recorded {rec.get('date') or '?'}, commit {rec.get('commit') or '?'}, "
            f"{rec.get('machine') or '?'} with {cpus if cpus is not None else '?'} CPUs, "
            f"Python {rec.get('python') or '?'}")


def print_comparison(summary: dict, baseline: dict, path: Path) -> None:
    """This run's key figures beside the baseline's and their ratio, so every run shows how far it is from
    the reference without anyone copying figures by hand."""
    print(f"\nagainst the baseline ({path}; {describe_recorded(baseline.get('recorded'))}):")
    for key in ("scale", "workers"):
        if number(baseline.get(key)) != number(summary.get(key)):
            print(f"  note: {key} {show(number(summary.get(key)))} here, {show(number(baseline.get(key)))} "
                  f"in the baseline: the figures are not like for like")
    print(f"  {'figure':<24} {'baseline':>12} {'this run':>12} {'this/base':>10}")
    for key, label, spec in KEY_FIGURES:
        base, this = number(baseline.get(key)), number(summary.get(key))
        print(f"  {label:<24} {show(base, spec):>12} {show(this, spec):>12} {fmt(ratio_of(this, base), '10.3f')}")


def git_commit(exclude: Path | None = None) -> str | None:
    """The short hash of HEAD, with "+dirty" when tracked files differ from it (``exclude``, the baseline file
    being rewritten, aside), so a baseline names the code it measured; None without git or outside a repository."""
    spec = ["--", "."]
    if exclude is not None and exclude.resolve().is_relative_to(REPO):
        spec.append(f":(exclude){exclude.resolve().relative_to(REPO)}")
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=30)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", *spec], cwd=REPO,
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = status.returncode != 0 or bool(status.stdout.strip())
    return head.stdout.strip() + ("+dirty" if dirty else "")


def recorded_info(baseline: Path) -> dict:
    """Where and how a baseline was measured. The library versions are those of the interpreter running
    this script (the floor and naive run with it; the builder too unless --builder-cmd says otherwise)."""
    versions: dict[str, str | None] = {}
    for name in ("pyarrow", "numba", "numpy"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:  # absent or broken: record that, do not fail the write
            versions[name] = None
    return {
        "date": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "commit": git_commit(baseline),
        "command": shlex.join(sys.argv),
        "python": platform.python_version(),
        **versions,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def write_baseline(path: Path, summary: dict) -> None:
    """Write the summary and how it was recorded as the new baseline; through a temporary file, so an
    interrupted write leaves the old baseline whole."""
    data = {**summary, "recorded": recorded_info(path)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark build-instructions against a floor and a naive script.")
    ap.add_argument("--scale", type=float, default=1.0, help="workload scale; 1.0 = 30K drugs + 560K QA lines")
    ap.add_argument("--seed", type=int, default=0, help="workload seed (the builder always gets --seed 1)")
    ap.add_argument("--workdir", type=Path, help="use this dir (kept) instead of a temp dir")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (inputs, outputs, logs)")
    ap.add_argument("--only", choices=STAGES, help="run one stage only")
    ap.add_argument("--skip-naive", action="store_true", help="do not run the naive script (it is the slowest)")
    ap.add_argument("--skip-4x", action="store_true", help="do not generate/run the 4x workload")
    ap.add_argument("--builder-cmd", help="command prefix replacing `build-instructions`, e.g. another venv's "
                    "`/path/venv/bin/build-instructions`; stages run in this repository, so `python -m builder` "
                    "imports this checkout's builder whatever PYTHONPATH says")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="--workers for the builder (default: the CPU count)")
    ap.add_argument("--tokenizer", type=Path, default=None,
                    help="also time the builder counting tokens with this tokenizer (builder-tokens), in the same turns")
    ap.add_argument("--types", default=None, metavar="LIST",
                    help="also time the builder with these instruction types (builder-types; `all`), in the same turns")
    ap.add_argument("--timeout", type=float, default=None, help="per-stage timeout in seconds")
    ap.add_argument("--strict", action="store_true", help="exit 1 if any stage failed")
    ap.add_argument("--repeat", type=int, default=1,
                    help="time the floor and the builder N times each, taking turns, and report the median run")
    ap.add_argument("--baseline", type=Path, default=HERE / "baseline.json",
                    help="the reference figures printed beside this run's (default: bench/baseline.json)")
    ap.add_argument("--write-baseline", action="store_true",
                    help="write this run's figures to --baseline (refused unless the builder ran and succeeded)")
    args = ap.parse_args(argv)
    if args.write_baseline and args.only not in (None, "builder"):
        print(f"error: --write-baseline needs the builder stage, and --only {args.only} leaves it out",
              file=sys.stderr)
        return 2

    if args.workdir:
        work = args.workdir.resolve()
        work.mkdir(parents=True, exist_ok=True)
        cleanup = False
    else:
        work = Path(tempfile.mkdtemp(prefix="qizhen-bench-"))
        cleanup = not args.keep

    try:
        in_dir = work / "input"
        info = ensure_workload(in_dir, args.scale, args.seed)
        gen_note = "reused" if info["reused"] else f"{info['total_s']:.2f}s"
        print(f"workload: {in_dir} scale={args.scale:g} seed={args.seed} drugs={info['drugs']:,} "
              f"qa={info['qa']:,} ({(info['drugs_bytes'] + info['qa_bytes']) / 2**20:.1f} MiB, "
              f"generated {gen_note})", file=sys.stderr)

        if args.only:
            wanted = {args.only}
        else:
            wanted = set(STAGES) - ({"naive"} if args.skip_naive else set()) - ({"builder-4x"} if args.skip_4x else set())

        paired: dict[str, tuple] = {}
        if "floor" in wanted:
            out = work / "out-floor"
            paired["floor"] = ([sys.executable, str(HERE / "floor.py"), str(in_dir), str(out)], out, floor_outputs, "")
        if "builder" in wanted:
            out = work / "out-builder"
            cmd, missing = builder_command(args.builder_cmd, in_dir, out, args.workers, work / "logs" / "builder")
            paired["builder"] = (cmd, out, builder_outputs, missing)
            if args.tokenizer and cmd:  # the same build counting tokens, timed in the same turns
                out = work / "out-builder-tokens"
                counted = builder_command(args.builder_cmd, in_dir, out, args.workers, work / "logs" / "builder-tokens")[0]
                paired["builder-tokens"] = ([*(counted or []), "--tokenizer", str(args.tokenizer), "--max-tokens",
                                             str(TOKEN_LIMIT)], out, builder_outputs, missing)
            if args.types and cmd:  # the same build with richer instruction types, timed in the same turns
                out = work / "out-builder-types"
                typed = builder_command(args.builder_cmd, in_dir, out, args.workers, work / "logs" / "builder-types")[0]
                paired["builder-types"] = ([*(typed or []), "--types", args.types], out, builder_outputs, missing)
        timed: dict[str, list[StageResult]] = {name: [] for name in paired}
        for turn in range(max(args.repeat, 1)):  # floor and builder take turns
            for name, (cmd, out, outputs, missing) in paired.items():
                print(f"timing {name} ({turn + 1}/{max(args.repeat, 1)}) ...", file=sys.stderr)
                timed[name].append(run_stage(name, cmd, out, work / "logs" / name, outputs, args.timeout, missing,
                                             sample=False))
        results = []
        for name, (cmd, out, outputs, missing) in paired.items():
            print(f"measuring the memory of {name} ...", file=sys.stderr)
            memory = run_stage(name, cmd, out, work / "logs" / name, outputs, args.timeout, missing)
            results.append(median_run(timed[name], memory))
        if "naive" in wanted:
            out = work / "out-naive"
            cmd = [sys.executable, str(HERE / "naive.py"), str(in_dir), str(out), "--seed", "1"]
            print("running naive ...", file=sys.stderr)
            results.insert(1 if "floor" in paired else 0,
                           run_stage("naive", cmd, out, work / "logs" / "naive", builder_outputs, args.timeout))
        if "builder-4x" in wanted:
            in_4x = work / "input-4x"
            scale_4x = args.scale * 4
            info4 = ensure_workload(in_4x, scale_4x, args.seed)
            gen_note = "reused" if info4["reused"] else f"{info4['total_s']:.2f}s"
            print(f"workload 4x: {in_4x} scale={scale_4x:g} drugs={info4['drugs']:,} qa={info4['qa']:,} "
                  f"({(info4['drugs_bytes'] + info4['qa_bytes']) / 2**20:.1f} MiB, generated {gen_note})",
                  file=sys.stderr)
            out = work / "out-builder-4x"
            cmd, missing = builder_command(args.builder_cmd, in_4x, out, args.workers, work / "logs" / "builder-4x")
            print("running builder-4x ...", file=sys.stderr)
            results.append(run_stage("builder-4x", cmd, out, work / "logs" / "builder-4x", builder_outputs,
                                     args.timeout, missing))

        # ---- report
        print()
        print(f"{'stage':<10} {'wall s':>9} {'cpu s':>8} {'rows out':>11} {'rows/s':>11} {'peak RSS MB':>12}  status")
        for r in results:
            print(f"{r.name:<10} {fmt(r.wall_s, '9.2f')} {fmt(r.cpu_s, '8.2f')} {fmt(r.rows, '11,d')} "
                  f"{fmt(r.rows_per_s, '11,.0f')} {fmt(r.peak_rss_mb, '12.1f')}  {'ok' if r.ok else 'FAILED'}")
        for r in results:
            if r.ok and len(r.walls) > 1:
                print(f"{r.name:<10} median of {len(r.walls)} runs; wall s of each: "
                      + ", ".join(f"{w:.2f}" for w in r.walls))
        for r in results:
            if not r.ok:
                print(f"\n[{r.name} FAILED] {r.error}")
                if r.log_dir and r.log_dir.exists() and not cleanup:
                    print(f"  logs: {r.log_dir}")

        by = {r.name: r for r in results}
        floor, builder = by.get("floor"), by.get("builder")
        naive, b4x = by.get("naive"), by.get("builder-4x")
        ratio = None
        if floor and builder and floor.ok and builder.ok and floor.wall_s:
            ratio = builder.wall_s / floor.wall_s
        naive_ratio = None
        if naive and builder and naive.ok and builder.ok and builder.wall_s:
            naive_ratio = naive.wall_s / builder.wall_s
        rss_ratio = ratio_of(rss_ok(b4x), rss_ok(builder))
        time_4x_ratio = ratio_of(b4x.wall_s if (b4x and b4x.ok) else None,  # both runs sampled
                                 builder.extra["sampled_wall_s"] if (builder and builder.ok) else None)
        rows_4x_ratio = ratio_of(b4x.rows if (b4x and b4x.ok) else None,
                                 builder.rows if (builder and builder.ok) else None)
        need = " (needs both stages ok)"
        need_4x = " (4x not run)" if b4x is None else need
        print()
        cpu_ratio = ratio_of(builder.cpu_s, floor.cpu_s) if ratio is not None else None
        print(f"builder/floor wall-time ratio:  {fmt(ratio, '.2f')}" + ("" if ratio is not None else need))
        print(f"builder/floor CPU-time ratio:   {fmt(cpu_ratio, '.2f')}" + ("" if cpu_ratio is not None else need))
        print(f"naive/builder wall-time ratio:  {fmt(naive_ratio, '.2f')}" + ("" if naive_ratio is not None else " (naive not run)" if naive is None else need))
        print(f"builder 4x/1x peak-RSS ratio:   {fmt(rss_ratio, '.2f')}" + ("" if rss_ratio is not None else need_4x))
        print(f"builder 4x/1x wall-time ratio:  {fmt(time_4x_ratio, '.2f')}"
              + (f" (rows x{rows_4x_ratio:.2f})" if rows_4x_ratio is not None else need_4x))
        tokens = by.get("builder-tokens")
        tokens_ratio = ratio_of(tokens.wall_s if (tokens and tokens.ok) else None,
                                builder.wall_s if (builder and builder.ok) else None)
        if tokens is not None:
            print(f"builder-tokens/builder wall:    {fmt(tokens_ratio, '.2f')} (counting with {args.tokenizer.name}, "
                  f"--max-tokens {TOKEN_LIMIT})" + ("" if tokens_ratio is not None else need))
        types = by.get("builder-types")
        types_ratio = ratio_of(types.wall_s if (types and types.ok) else None,
                               builder.wall_s if (builder and builder.ok) else None)
        if types is not None:
            rows_ratio = ratio_of(types.rows if types.ok else None, builder.rows if (builder and builder.ok) else None)
            print(f"builder-types/builder wall:     {fmt(types_ratio, '.2f')} (--types {args.types}; rows "
                  f"x{fmt(rows_ratio, '.2f')})" + ("" if types_ratio is not None else need))
        stages = builder.extra.get("stages") if (builder and builder.ok) else None
        if stages:
            print(f"\n{'builder stages (median run)':<30} {'wall s':>7} {'cpu s':>7}")
            for name, t in stages.items():
                print(f"{name:<30} {t['wall_s']:>7.2f} {t['cpu_s']:>7.2f}")

        def ok_val(r: StageResult | None, attr: str, nd: int | None = 3):
            if r is None or not r.ok:
                return None
            v = getattr(r, attr)
            return round(v, nd) if (nd is not None and v is not None) else v

        def r3(v):
            return None if v is None else round(v, 3)

        summary = {
            "scale": args.scale,
            "workers": args.workers,
            "repeat": max(args.repeat, 1),
            "floor_s": ok_val(floor, "wall_s"),
            "naive_s": ok_val(naive, "wall_s"),
            "builder_s": ok_val(builder, "wall_s"),
            "builder_4x_s": ok_val(b4x, "wall_s"),
            "builder_over_floor": r3(ratio),
            "builder_over_floor_cpu": r3(cpu_ratio),
            "floor_cpu_s": ok_val(floor, "cpu_s"),
            "builder_cpu_s": ok_val(builder, "cpu_s"),
            "naive_over_builder": r3(naive_ratio),
            "floor_rows": ok_val(floor, "rows", None),
            "naive_rows": ok_val(naive, "rows", None),
            "builder_rows": ok_val(builder, "rows", None),
            "builder_4x_rows": ok_val(b4x, "rows", None),
            "floor_rows_per_s": ok_val(floor, "rows_per_s", 0),
            "naive_rows_per_s": ok_val(naive, "rows_per_s", 0),
            "builder_rows_per_s": ok_val(builder, "rows_per_s", 0),
            "builder_4x_rows_per_s": ok_val(b4x, "rows_per_s", 0),
            "floor_rss_mb": ok_val(floor, "peak_rss_mb", 1),
            "naive_rss_mb": ok_val(naive, "peak_rss_mb", 1),
            "peak_rss_mb": ok_val(builder, "peak_rss_mb", 1),
            "rss_4x_mb": ok_val(b4x, "peak_rss_mb", 1),
            "rss_4x_over_1x": r3(rss_ratio),
            "time_4x_over_1x": r3(time_4x_ratio),
            "builder_stages": stages,
            **({"builder_tokens_s": ok_val(tokens, "wall_s"), "tokens_over_builder": r3(tokens_ratio)}
               if tokens is not None else {}),
            **({"builder_types_s": ok_val(types, "wall_s"), "types_over_builder": r3(types_ratio),
                "builder_types_rows": ok_val(types, "rows")} if types is not None else {}),
        }
        baseline, why_not = load_baseline(args.baseline)
        if baseline is None:
            print(f"\n{why_not}")
        else:
            print_comparison(summary, baseline, args.baseline)
        sys.stdout.flush()
        print(json.dumps(summary), flush=True)
        if args.write_baseline:
            if builder is None or not builder.ok:
                print(f"error: not writing {args.baseline}: the builder stage failed or did not run",
                      file=sys.stderr)
                return 2
            try:
                write_baseline(args.baseline, summary)
            except OSError as e:
                print(f"error: cannot write {args.baseline}: {e}", file=sys.stderr)
                return 2
            print(f"baseline written: {args.baseline}", file=sys.stderr)
        if args.strict and not all(r.ok for r in results):
            return 1
        return 0
    finally:
        if cleanup:
            shutil.rmtree(work, ignore_errors=True)
        elif not args.workdir:
            print(f"kept: {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
