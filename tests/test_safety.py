"""Never delete what is not ours, never leave a half output, never outlive the build, never a traceback.

The cases of issue 16 that concern the output folder, kills, machine failures and input order. Kills are
real SIGKILLs of real build processes; `QIZHEN_KILLS` sets how many random moments each worker count gets
(a longer local run: QIZHEN_KILLS=20).
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

from bench.workload import generate
from builder.run.outdir import MARKER, is_our_build, recover
from tests.conftest import QA_ROWS, run, write_json, write_jsonl

KILLS = int(os.environ.get("QIZHEN_KILLS", "3"))
ENV = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def cli(*args: object, cwd: Path | None = None, pipe: int | None = subprocess.PIPE, **kwargs) -> subprocess.Popen:
    """The real command in its own process (so it can be killed like one); a process to be killed gets no pipes,
    which orphaned workers would hold open."""
    return subprocess.Popen([sys.executable, "-m", "builder", *map(str, args)], cwd=cwd, env=ENV,
                            stdout=pipe, stderr=pipe, text=True, **kwargs)


def finished(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    process = cli(*args, cwd=cwd)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def complete(out: Path) -> str | None:
    """The manifest's sha256 of a whole build at `out` (every listed output present with its hash), or None."""
    if not is_our_build(out):
        return None
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for name, digest in manifest["outputs"].items():
        path = out / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return None
    return hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A QiZhen-shaped input that takes a few seconds to build: long enough to be killed at random moments."""
    folder = tmp_path_factory.mktemp("workload")
    generate(folder, scale=0.03, seed=3)
    return folder


def test_a_folder_with_its_own_manifest_is_left_whole(tmp_path: Path, qa_file: Path) -> None:
    app = tmp_path / "webapp"
    (app / "src").mkdir(parents=True)
    (app / "manifest.json").write_text('{"name": "my app", "start_url": "/"}', encoding="utf-8")
    (app / "index.html").write_text("<html></html>", encoding="utf-8")
    (app / "src" / "main.js").write_text("console.log(1)", encoding="utf-8")
    before = snapshot(app)
    result = run("build", "--qa", qa_file, "--out", app, "--quiet")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "not an output of build-instructions" in result.stderr and "nothing was changed" in result.stderr
    assert snapshot(app) == before and not list(tmp_path.glob(".webapp.*"))


def test_a_build_holding_a_file_of_the_users_is_not_replaced(tmp_path: Path, qa_file: Path) -> None:
    out = tmp_path / "out"
    assert run("build", "--qa", qa_file, "--out", out, "--quiet").exit_code == 0
    (out / "data" / "my-notes.txt").write_text("mine", encoding="utf-8")
    before = snapshot(out)
    result = run("build", "--qa", qa_file, "--out", out, "--quiet")
    assert result.exit_code == 2 and "data/my-notes.txt" in result.stderr
    assert snapshot(out) == before


def test_files_added_by_the_tool_itself_keep_the_build_replaceable(tmp_path: Path, qa_file: Path) -> None:
    out = tmp_path / "out"
    assert run("build", "--qa", qa_file, "--out", out, "--quiet", "--no-report").exit_code == 0
    assert run("formats", out, "--format", "sharegpt").exit_code == 0
    assert run("report", out).exit_code == 0
    assert run("build", "--qa", qa_file, "--out", out, "--quiet").exit_code == 0


@pytest.mark.parametrize("where", ["cwd", "parent_is_file", "holds_input", "root", "read_only"])
def test_an_out_that_cannot_be_ours_is_one_line(tmp_path: Path, where: str) -> None:
    inputs = tmp_path / "inputs"
    qa = write_jsonl(inputs / "qa.jsonl", QA_ROWS) if inputs.mkdir() is None else None
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    out = {"cwd": ".", "parent_is_file": tmp_path / "a-file" / "out", "holds_input": inputs, "root": "/",
           "read_only": "/proc/qizhen-out"}[where]  # /proc takes no new folder, even from root
    done = finished("build", "--qa", qa, "--out", out, "--quiet", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and (inputs / "qa.jsonl").is_file()


def test_a_full_disk_is_one_line_and_keeps_the_old_output(tmp_path: Path, workload: Path) -> None:
    out = tmp_path / "out"
    assert finished("build", "--qa", workload / "qa.jsonl", "--out", out, "--quiet", "--workers", "1").returncode == 0
    old = complete(out)

    def small_disk() -> None:  # files may not grow past 1 MB: a write past it fails with EFBIG, as on a full disk
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    process = cli("build", "--qa", workload / "qa.jsonl", "--out", out, "--quiet", "--workers", "1", "--seed", "9",
                  preexec_fn=small_disk)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "File too large" in err and complete(out) == old and not list(tmp_path.glob(".out.*"))


def _kill_script(tmp: Path, out: Path, fallback: bool, step: int) -> str:
    """A process that swaps `tmp` into `out` and is SIGKILLed just before its rename (or exchange) number `step`."""
    return f"""
import os, signal
from pathlib import Path
import builder.run.outdir as outdir
calls = 0
def step():
    global calls
    calls += 1
    if calls == {step}:
        os.kill(os.getpid(), signal.SIGKILL)
real_rename, real_exchange = Path.rename, outdir._exchange
def rename(self, target):
    step()
    return real_rename(self, target)
def exchange(a, b):
    if {fallback}:
        return False
    step()
    return real_exchange(a, b)
Path.rename, outdir._exchange = rename, exchange
outdir.publish_atomically(Path({str(tmp)!r}), Path({str(out)!r}))
"""


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "two-renames"])
def test_a_kill_at_each_step_of_the_swap_leaves_a_whole_build(tmp_path: Path, qa_file: Path, fallback: bool) -> None:
    out = tmp_path / "out"
    assert run("build", "--qa", qa_file, "--out", out, "--quiet").exit_code == 0
    old = complete(out)
    for step in (1, 2, 3):
        assert run("build", "--qa", qa_file, "--out", tmp_path / "next", "--quiet", "--seed", str(step)).exit_code == 0
        tmp = tmp_path / f".out.tmp-{_dead_pid()}"  # a finished build where a killed build would have left it
        (tmp_path / "next").rename(tmp)
        new = complete(tmp)
        assert new not in (None, old)
        done = subprocess.run([sys.executable, "-c", _kill_script(tmp, out, fallback, step)], env=ENV)
        between = done.returncode == -signal.SIGKILL and fallback and step == 2
        assert complete(out) in (old, new) or (between and complete(next(tmp_path.glob(".out.old-*"))) == old)
        recover(out)  # what the next build does first
        assert complete(out) in (old, new)
        old = complete(out)
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_leftovers_of_dead_builds_go_and_others_stay(tmp_path: Path, qa_file: Path) -> None:
    out = tmp_path / "out"
    dead = _dead_pid()
    stale = tmp_path / f".out.tmp-{dead}"
    (stale / "units").mkdir(parents=True)
    (stale / MARKER).write_text("#\n", encoding="utf-8")
    unmarked = tmp_path / f".out.tmp-{dead}0"
    unmarked.mkdir()
    (unmarked / "keep.txt").write_text("not the tool's", encoding="utf-8")
    assert run("build", "--qa", qa_file, "--out", out, "--quiet").exit_code == 0
    assert not stale.exists() and (unmarked / "keep.txt").is_file()


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _gone(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]
                   for p in pids if Path(f"/proc/{p}/stat").exists()):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the workers")
@pytest.mark.parametrize("workers", [1, 2])
def test_kills_at_random_moments_leave_a_whole_build_and_no_orphans(tmp_path: Path, workload: Path,
                                                                   workers: int) -> None:
    out = tmp_path / "out"
    args = ("build", "--qa", workload / "qa.jsonl", "--kb", f"drug={workload / 'drugs.json'}", "--out", out,
            "--quiet", "--workers", workers)
    start = time.monotonic()
    assert finished(*args).returncode == 0
    took = time.monotonic() - start
    rng = random.Random(workers)
    orphans_possible = 0
    for kill in range(KILLS):
        process = cli(*args, "--seed", kill, pipe=subprocess.DEVNULL)
        deadline = time.monotonic() + rng.uniform(0.2, took)
        while time.monotonic() < deadline and not (kill == 0 and workers > 1 and _children(process.pid)):
            time.sleep(0.02)  # the first kill with workers waits for them to exist; the others fall at random
        children = _children(process.pid)
        orphans_possible += bool(children)
        process.kill()
        process.wait()
        alive = not _gone(children, 2.0)
        for child in children if alive else ():
            os.kill(child, signal.SIGKILL)
        assert not alive, f"workers {children} outlived the build"
        assert complete(out) is not None, f"kill {kill}: no whole build at {out}"
    assert orphans_possible or workers == 1
    assert finished(*args, "--seed", 99).returncode == 0
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.2, 0.4])
def test_ctrl_c_at_start_up_is_one_line_and_130(tmp_path: Path, qa_file: Path, delay: float) -> None:
    """Ctrl-C while the tool imports its stages and parses its options (the interpreter's own start, before any
    code of the tool runs, is Python's: the child says when it is up)."""
    code = "from builder import run; print('up', flush=True); run()"
    process = subprocess.Popen([sys.executable, "-c", code, "build", "--qa", str(qa_file), "--out",
                                str(tmp_path / "out"), "--quiet"], env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "up\n"
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert "Traceback" not in err, err
    assert process.returncode in (0, 130) and (process.returncode == 0 or err == "interrupted: the previous output "
                                                                                "is untouched\n"), err


def test_an_empty_build_is_an_error_unless_asked_for(tmp_path: Path) -> None:
    drugs = write_json(tmp_path / "drugs.json", [])
    unanswered = write_jsonl(tmp_path / "qa.jsonl", [{"question": "胃痛吃什么药好？", "answer": "暂无"}])
    inputs = ("--kb", f"drug={drugs}", "--qa", unanswered)
    result = run("build", *inputs, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2 and "no rows (1 records read" in result.stderr and "--allow-empty" in result.stderr
    assert not (tmp_path / "out").exists()
    assert run("build", *inputs, "--out", tmp_path / "out", "--quiet", "--allow-empty").exit_code == 0
    assert json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))["totals"]["rows"] == 0


def test_dedup_survivors_do_not_follow_the_order_of_the_flags(tmp_path: Path) -> None:
    rows = [{"question": f"请问第{i}种情况的高血压患者平时饮食要注意什么呢？", "answer": f"建议低盐饮食，每日食盐不超过{i}克，多吃新鲜蔬菜水果。"}
            for i in range(30)]
    near = [{**r, "answer": r["answer"] + "谢谢"} for r in rows]
    a = write_jsonl(tmp_path / "a.jsonl", rows[:20] + near[20:])
    own = [{"question": f"孩子{i}岁反复咳嗽两周，夜里加重，需要做什么检查？", "answer": f"{i}岁儿童慢性咳嗽可先查血常规和胸片，必要时做肺功能。"}
           for i in range(3, 9)]
    b = write_jsonl(tmp_path / "b.jsonl", near[:10] + rows[10:] + own)
    digests = []
    for order, out in (((a, b), "ab"), ((b, a), "ba")):
        assert run("build", "--qa", order[0], "--qa", order[1], "--out", tmp_path / out, "--quiet").exit_code == 0
        shards = sorted((tmp_path / out / "data").glob("*.parquet"))
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in shards])
        sources = {r["source"] for r in pq.read_table(shards).to_pylist()}
        assert sources == {"a", "b"}
    assert digests[0] == digests[1]
    rejects = [(tmp_path / out / "rejects.jsonl").read_text(encoding="utf-8").splitlines() for out in ("ab", "ba")]
    assert sorted(rejects[0]) == sorted(rejects[1])


def test_an_interrupt_python_could_only_print_is_raised_again() -> None:
    """Ctrl-C inside a callback Python cannot raise from (it reports it to sys.unraisablehook and goes on) comes
    back as KeyboardInterrupt in the main thread, where `run` turns it into one line and 130."""
    from builder import _interrupt_again

    with pytest.raises(KeyboardInterrupt):
        _interrupt_again(SimpleNamespace(exc_type=KeyboardInterrupt, exc_value=KeyboardInterrupt(), exc_traceback=None,
                                         err_msg=None, object=None))
        for _ in range(1000):
            time.sleep(0.001)
