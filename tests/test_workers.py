"""Parallel read → quality: `--workers N` and `--engine dask` give the same bytes as one process.

The corpus is written here so that everything with state crosses shard boundaries: exact and near
duplicates far apart in the file, a malformed line, PII, filtered rows, a duplicate knowledge-base
record, an evaluation set, mixing, and more than one Parquet shard per split.
"""

import hashlib
import json
import random
import socket
from pathlib import Path

import pytest

from builder.config import SourceConfig
from builder.read import detect, shards
from tests.conftest import run, write_json, write_jsonl
from tests.test_quality import write_eval

SYMPTOMS = ["头痛", "咳嗽", "发热", "腹泻", "失眠", "胸闷", "腰痛", "皮疹", "乏力", "心悸", "耳鸣", "便秘"]
PEOPLE = ["我", "我妈妈", "孩子", "老人", "我爱人", "同事"]
ADVICE = ["多休息，清淡饮食", "多喝水并监测体温", "规律作息，避免熬夜", "及时到医院就诊", "遵医嘱用药，不要自行停药"]


def qa_lines(count: int, seed: int) -> list:
    """Questions and answers from small vocabularies, with planted trouble spread over the file."""
    rng = random.Random(seed)
    rows: list = []
    for i in range(count):
        who, symptom = rng.choice(PEOPLE), rng.choice(SYMPTOMS)
        days = rng.randint(1, 30)
        question = f"{who}{symptom}{days}天了，还伴有{rng.choice(SYMPTOMS)}，第{i}次来问，该怎么办？"
        answer = f"根据描述，{symptom}持续{days}天，可能与多种原因有关。建议{rng.choice(ADVICE)}，" \
                 f"如果{rng.choice(SYMPTOMS)}加重，{rng.choice(ADVICE)}。编号{i}。"
        rows.append({"question": question, "answer": answer})
    for i in range(0, count, 37):  # exact copies, far from their originals
        rows.append(dict(rows[i]))
    for i in range(5, count, 41):  # near copies: one character changed
        rows.append({"question": rows[i]["question"], "answer": rows[i]["answer"].replace("建议", "建意")})
    rows += [{"question": "我电话13812345678，头痛三天了怎么办？", "answer": "建议测量血压，必要时就医，邮箱a.b@example.com。"},
             {"question": "胃痛怎么办？", "answer": "嗯"},
             {"question": "氨溴索能治什么？", "answer": "适用于痰液黏稠不易咳出者，用于急慢性呼吸道疾病引起的痰液黏稠。"}]
    rng.shuffle(rows)
    return rows


@pytest.fixture
def corpus(tmp_path: Path) -> tuple[Path, tuple]:
    qa = write_jsonl(tmp_path / "qa.jsonl", qa_lines(400, seed=3))
    lines = qa.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(250, '{"question": "没有结尾的一行", "answer": \n')
    lines[1:1] = ['{"question": "头痛怎么办？", "answer": "好"}\n',  # filtered, then a reject one line later that
                  '{"question": "只有问题没有回答", "answer": ""}\n']  # validation writes first
    qa.write_text("".join(lines), encoding="utf-8")
    second = write_jsonl(tmp_path / "second.jsonl", qa_lines(60, seed=4))
    drugs = write_json(tmp_path / "drugs.json", [
        "甲药\n适应证:用于头痛。\n用法用量:口服，一次1片。", "乙药\n适应证:用于咳嗽。\n禁忌证:孕妇禁用。",
        "甲药\n适应证:用于头痛。\n用法用量:口服，一次1片。", "氨溴索\n适应证:用于痰多。"])
    config = tmp_path / "build.toml"
    config.write_text("shard_rows = 120\n", encoding="utf-8")
    args = ("--config", config, "--kb", f"drug={drugs}", "--qa", qa, "--qa", second,
            "--eval-set", write_eval(tmp_path / "eval.csv"), "--weight", "second=0.7", "--seed", "5", "--quiet")
    return tmp_path, args


def build(tmp_path: Path, args: tuple, name: str, *extra: str) -> Path:
    result = run("build", *args, "--out", tmp_path / name, *extra)
    assert result.exit_code == 0, result.output
    return tmp_path / name


def digests(out: Path) -> dict[str, str]:
    """sha256 of every output file that must not depend on how the work was divided."""
    files = [*out.glob("data/*.parquet"), *out.glob("alpaca/*.json"), *out.glob("hf/*/*.arrow"),
             *out.glob("*.jsonl")]
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


def manifest_without_settings(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for key in ("config", "command"):
        manifest.pop(key)
    return manifest


def test_shards_cover_every_line_once_with_its_number(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "qa.jsonl", qa_lines(50, seed=1))
    source = SourceConfig(kind="qa", path=path)
    parts = shards(source, detect(source), 7)
    assert len(parts) == 7
    data = path.read_bytes()
    pieces = [data[s.start:s.end] for s in parts]
    assert b"".join(pieces) == data and all(p.endswith(b"\n") for p in pieces)
    assert [s.first_line for s in parts] == [1 + data[:s.start].count(b"\n") for s in parts]


def test_workers_give_the_same_bytes_as_one_process(corpus: tuple[Path, tuple]) -> None:
    tmp_path, args = corpus
    one = build(tmp_path, args, "one")
    two = build(tmp_path, args, "two", "--workers", "2")
    three = build(tmp_path, args, "three", "--workers", "3")
    expected = digests(one)
    assert sum(name.startswith("data/") for name in expected) >= 4  # several shards per split
    assert digests(two) == expected and digests(three) == expected
    assert manifest_without_settings(two) == manifest_without_settings(one)
    manifest = manifest_without_settings(one)
    assert manifest["reconciles"] and manifest["sources"]["qa"]["rejected_by_reason"].keys() >= {
        "read:malformed_json", "dedup:exact_duplicate", "dedup:near_duplicate", "filter:too_short_answer",
        "decontaminate:eval_entity_mention"}
    assert manifest["quality"]["pii"] and manifest["sources"]["drugs"]["rejected_by_reason"] == {
        "dedup:duplicate_record": 1, "decontaminate:eval_entity": 1}


def test_batch_size_does_not_change_a_byte(corpus: tuple[Path, tuple]) -> None:
    """Units write their ledger entries batch by batch, in record order: the ledgers too are the same."""
    tmp_path, args = corpus
    small = tmp_path / "small.toml"
    small.write_text("shard_rows = 120\nbatch_size = 1\n", encoding="utf-8")
    default = build(tmp_path, args, "default")
    batched = build(tmp_path, (args[0], small, *args[2:]), "batched", "--workers", "2")
    assert digests(batched) == digests(default)
    rejects = [json.loads(line) for line in (batched / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    qa = [(r["reason"], r["line"]) for r in rejects if r["source"] == "qa"]
    assert qa[:2] == [("too_short_answer", 2), ("missing_field", 3)]


def test_an_error_in_a_worker_is_one_line(tmp_path: Path) -> None:
    qa = write_jsonl(tmp_path / "qa.jsonl", qa_lines(1000, seed=2))
    data = qa.read_bytes().splitlines(keepends=True)
    data[900] = data[900].replace("根据".encode(), "根据".encode("gb18030"))
    qa.write_bytes(b"".join(data))
    result = run("build", "--qa", qa, "--out", tmp_path / "out", "--workers", "2", "--quiet")
    assert result.exit_code == 2
    assert f"{qa}:901:" in result.stderr and "wrong encoding" in result.stderr and "Traceback" not in result.output


def test_dask_gives_the_same_bytes_as_the_local_engine(corpus: tuple[Path, tuple]) -> None:
    distributed = pytest.importorskip("distributed", reason="Dask is an optional extra: pip install '.[dask]'")
    tmp_path, args = corpus
    local = build(tmp_path, args, "local")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        on_dask = build(tmp_path, args, "dask", "--engine", "dask", "--scheduler", cluster.scheduler_address)
    assert digests(on_dask) == digests(local)
    assert manifest_without_settings(on_dask) == manifest_without_settings(local)


def test_an_unreachable_scheduler_is_one_line(tmp_path: Path, qa_file: Path) -> None:
    pytest.importorskip("distributed", reason="Dask is an optional extra: pip install '.[dask]'")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    result = run("build", "--qa", qa_file, "--out", tmp_path / "out", "--engine", "dask", "--scheduler", address,
                 "--quiet")
    assert result.exit_code == 2
    assert f"cannot reach the Dask scheduler at {address}" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
