"""End to end: the real CLI builds real files, and `datasets` loads what it wrote."""

import csv
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from schemas.row import OutputRow
from tests.conftest import QA_ROWS, run, write_jsonl

ALPACA_KEYS = {"instruction", "input", "output"}
PROVENANCE = ["instruction", "input", "output", "source", "kind", "record_id", "template_id", "variant", "type",
              "system", "history", "rejected", "companions"]


def build(tmp_path: Path, *args: str, out: str = "out") -> Path:
    result = run("build", *args, "--out", tmp_path / out, "--quiet")
    assert result.exit_code == 0, result.output
    return tmp_path / out


def rows_of(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def test_build_loads_with_datasets_and_the_ledger_reconciles(tmp_path: Path, drug_file: Path, qa_file: Path) -> None:
    out = build(tmp_path, "--kb", f"drug={drug_file}", "--qa", qa_file, "--split", "0.5,0.25,0.25")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    on_disk = datasets.load_from_disk(str(out / "hf"))
    parquet = datasets.load_dataset("parquet", data_files={s: str(out / "data" / f"{s}-*.parquet") for s in on_disk})
    assert set(on_disk) == set(parquet) == set(manifest["splits"])
    for split in on_disk:
        assert on_disk[split].column_names == PROVENANCE
        assert on_disk[split].to_list() == parquet[split].to_list()
        alpaca = json.loads((out / "alpaca" / f"{split}.json").read_text(encoding="utf-8"))
        assert all(set(row) == ALPACA_KEYS for row in alpaca)
        assert alpaca == [{k: r[k] for k in ALPACA_KEYS} for r in on_disk[split].to_list()]
    assert "\\u" not in (out / "alpaca" / "train.json").read_text(encoding="utf-8")

    sources = manifest["sources"]
    assert sources["drugs"] == {**sources["drugs"], "read": 3, "kept": 2, "rejected": 1}
    assert sources["qa"] == {**sources["qa"], "read": 3, "kept": 2, "rejected": 1}
    assert manifest["reconciles"] is True
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rejects) == manifest["totals"]["rejected"] == 2
    by_source = {r["source"]: r for r in rejects}
    assert by_source["drugs"] == {**by_source["drugs"], "stage": "expand", "reason": "no_template_applies", "index": 2}
    assert by_source["qa"] == {**by_source["qa"], "stage": "validate", "field": "answer", "line": 3}
    assert manifest["inputs"][1]["encoding"] == "utf-8" and len(manifest["inputs"][0]["sha256"]) == 64
    assert manifest["templates"]["sha256"] and manifest["versions"]["datasets"] == datasets.__version__
    written = sorted(out.glob("data/*.parquet")) + [p for p in sorted(out.glob("*/*.json*")) if p.parent.name != "report"]
    assert manifest["outputs"] == {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                                   for p in written}  # hashed while written, checked by reading back
    assert {"alpaca/train.json", "alpaca/test.json", "data/train-00000-of-00001.parquet"} <= set(manifest["outputs"])


def test_rows_are_clean_and_carry_provenance(tmp_path: Path, drug_file: Path, qa_file: Path) -> None:
    out = build(tmp_path, "--kb", f"drug={drug_file}", "--qa", qa_file)
    rows = rows_of(out)
    schema = pq.read_schema(next((out / "data").glob("*.parquet")))
    assert [(f.name, f.nullable) for f in schema] == [(n, not i.is_required() and i.default is None)
                                                      for n, i in OutputRow.model_fields.items()]
    assert all(OutputRow.model_validate(row) for row in rows)  # the model the Arrow schema is generated from
    text = json.dumps(rows, ensure_ascii=False)
    assert "<p>" not in text and "&ldquo;" not in text and "尚不明确" not in text and "None" not in text
    indications = [r for r in rows if r["template_id"] == "drug.indications"]
    assert {r["output"] for r in indications} == {
        "阿莫西林（又名羟氨苄青霉素）的适应证：用于敏感菌所致的呼吸道感染、泌尿生殖道感染。",
        "布洛芬的适应证：用于缓解轻至中度疼痛“如头痛”、关节痛。",
    }
    qa = [r for r in rows if r["kind"] == "qa"]
    assert {r["instruction"] for r in qa} == {QA_ROWS[0]["question"], QA_ROWS[1]["question"]}
    assert all(r["template_id"] is None and r["variant"] is None and r["record_id"].startswith("qa-") for r in qa)
    assert all(r["source"] == "drugs" and isinstance(r["variant"], int) for r in rows if r["kind"] == "drug")


def test_missing_field_skips_the_template_and_is_counted(tmp_path: Path, drug_file: Path) -> None:
    out = build(tmp_path, "--kb", f"drug={drug_file}")
    coverage = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["coverage"]
    assert coverage["drug.contraindications"]["rendered"] == 1  # 布洛芬's 禁忌证 is 尚不明确
    assert coverage["drug.contraindications"]["skipped_missing"] == {"contraindications": 2}
    assert coverage["drug.indications"] == {**coverage["drug.indications"], "eligible": 3, "rendered": 2}
    rows = rows_of(out)
    assert not [r for r in rows if r["template_id"] == "drug.contraindications" and "布洛芬" in r["instruction"]]


def test_same_inputs_give_byte_identical_parquet_in_any_order(tmp_path: Path, drug_file: Path, qa_file: Path) -> None:
    first = build(tmp_path, "--kb", f"drug={drug_file}", "--qa", qa_file, "--seed", "7", out="a")
    second = build(tmp_path, "--kb", f"drug={drug_file}", "--qa", qa_file, "--seed", "7", out="b")
    names = sorted(p.name for p in (first / "data").glob("*.parquet"))
    assert names and all((first / "data" / n).read_bytes() == (second / "data" / n).read_bytes() for n in names)
    reversed_qa = write_jsonl(tmp_path / "qa_reversed.jsonl", list(reversed(json.loads(f"[{','.join(qa_file.read_text(encoding='utf-8').splitlines())}]"))))
    third = build(tmp_path, "--kb", f"drug={drug_file}", "--qa", reversed_qa, "--seed", "7", out="c")
    key = lambda r: (r["record_id"], r["template_id"] or "", r["instruction"], r["output"])
    assert sorted(map(key, rows_of(first))) == sorted(map(key, rows_of(third)))


def test_empty_split_is_not_written(tmp_path: Path, qa_file: Path) -> None:
    out = build(tmp_path, "--qa", qa_file, "--split", "1,0,0")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert list(manifest["splits"]) == ["train"] and manifest["empty_splits"] == []
    assert set(datasets.load_from_disk(str(out / "hf"))) == {"train"}


def test_a_failed_build_leaves_the_previous_output_untouched(tmp_path: Path, drug_file: Path, qa_file: Path) -> None:
    out = build(tmp_path, "--qa", qa_file)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes("问题".encode("gb18030") * 3 + b"\n")
    result = run("build", "--qa", qa_file, "--qa", bad, "--encoding", "utf-8", "--out", out, "--quiet")
    assert result.exit_code == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_refuses_to_replace_a_folder_that_is_not_a_build(tmp_path: Path, qa_file: Path) -> None:
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me", encoding="utf-8")
    result = run("build", "--qa", qa_file, "--out", precious, "--quiet")
    assert result.exit_code == 2 and "is not an output of build-instructions" in result.stderr
    assert (precious / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_user_mapping_from_the_command_line(tmp_path: Path) -> None:
    herbs = tmp_path / "herbs.csv"
    with herbs.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["药材", "别名", "功用", "症状"], ["陈皮", "橘皮", "理气健脾。", "脾胃气滞证，呕吐。"]])
    plain = rows_of(build(tmp_path, "--kb", f"drug={herbs}", out="plain"))
    assert "drug.indications" not in {r["template_id"] for r in plain}
    mapped = rows_of(build(tmp_path, "--kb", f"drug={herbs}", "--map", "症状=indications", out="mapped"))
    assert [r["output"] for r in mapped if r["template_id"] == "drug.indications"] == ["陈皮（又名橘皮）的适应证：脾胃气滞证，呕吐。"]


def test_config_file_with_mapping_split_and_license(tmp_path: Path, drug_file: Path, qa_file: Path) -> None:
    config = tmp_path / "build.toml"
    config.write_text(
        f'out = "built"\nseed = 3\n[split]\ntrain = 0.5\nvalidation = 0.5\ntest = 0.0\n'
        f'[[sources]]\nname = "kb"\nkind = "drug"\npath = "{drug_file.name}"\nlicense = "CC0-1.0"\n'
        f'[[sources]]\nkind = "qa"\npath = "{qa_file.name}"\n[mapping.qa]\n"问" = "question"\n',
        encoding="utf-8",
    )
    result = run("build", "--config", config, "--quiet")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "built" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 3 and manifest["inputs"][0]["license"] == "CC0-1.0"
    assert set(manifest["sources"]) == {"kb", "qa"} and manifest["config"]["mapping"] == {"qa": {"问": "question"}}


def test_validate_prints_the_ledger_and_writes_nothing(tmp_path: Path, drug_file: Path, qa_file: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    result = run("validate", "--kb", f"drug={drug_file}", "--qa", qa_file, "--ledger", tmp_path, "--quiet")
    assert result.exit_code == 0
    assert "drugs" in result.stdout and "no_template_applies 1" in result.stdout
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["drugs.json", "qa.jsonl", "rejects.jsonl"])


def test_default_build_uses_the_embedded_sample(tmp_path: Path) -> None:
    result = run("build", "--out", tmp_path / "sample", "--quiet")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "sample" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["reconciles"] and manifest["totals"]["rejected"] >= 5
    kinds = {r["kind"] for r in rows_of(tmp_path / "sample")}
    assert kinds == {"drug", "disease", "qa"}


def cli(*args: str) -> subprocess.CompletedProcess:
    """The installed console script in its own process: exit code and stderr as a user sees them."""
    return subprocess.run([sys.executable, "-m", "builder", *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: ["--qa", d / "missing.jsonl"], "missing.jsonl: no such file"),
        (lambda d: ["--qa", _file(d / "blank.jsonl", b"\xef\xbb\xbf \n\n")], "blank.jsonl: the file is empty"),
        (lambda d: ["--qa", _file(d / "table.xlsx", b"PK\x03\x04\x00\x00")], "unknown format"),
        (lambda d: ["--qa", _file(d / "qa.csv", "病人描述,医生建议\n头痛,休息\n".encode())], "--map 病人描述=question"),
        (lambda d: ["--qa", _file(d / "qa.jsonl", '{"q": 1}\n'.encode("utf-16-le"))], "unknown format"),
        (lambda d: ["--qa", _file(d / "qa.csv", "question,answer\n头痛,休息\n".encode("gb18030")), "--encoding", "utf-8"],
         "qa.csv:2: cannot decode as utf-8"),
        (lambda d: ["--qa", _file(d / "qa.jsonl", b"{}\n"), "--eval-set", d / "gone.csv"], "gone.csv: no such file"),
        (lambda d: ["--kb", "drugs.json"], "not of the form LEFT=RIGHT"),
        (lambda d: ["--kb", "unicorn=x.json"], "unknown record kind 'unicorn'"),
        (lambda d: ["--qa", _file(d / "qa.jsonl", b"{}\n"), "--map", "x=nonsense"], "no source's kind has a field 'nonsense'"),
        (lambda d: ["--qa", _file(d / "qa.jsonl", b"{}\n"), "--split", "0.5,0.5,0.5"], "split fractions add up to 1.5"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, make, expected: str) -> None:
    done = cli("build", *make(tmp_path), "--out", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_formats_command_adds_trainer_formats_to_a_build(tmp_path: Path, qa_file: Path) -> None:
    out = build(tmp_path, "--qa", qa_file, "--split", "1,0,0", "--no-report")
    result = run("formats", out, "--format", "sharegpt", "--format", "messages", "--system-prompt", "你是医生")
    assert result.exit_code == 0, result.output
    sharegpt = datasets.load_dataset("json", data_files=str(out / "sharegpt" / "train.json"))["train"]
    assert sharegpt[0]["conversations"][0]["from"] == "human"
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert all((out / entry["file_name"]).is_file() for entry in info.values())
    assert {e["formatting"] for e in info.values()} == {"alpaca", "sharegpt"}
    assert not (out / "report").exists()


def test_timings_name_every_stage_and_stay_out_of_the_dataset(tmp_path: Path, drug_file: Path, qa_file: Path) -> None:
    """A user sees where a build's time goes: in the summary, and as JSON for scripts (bench/scale.py)."""
    timings = tmp_path / "timings.json"
    started = time.perf_counter()
    done = cli("build", "--kb", f"drug={drug_file}", "--qa", qa_file, "--out", tmp_path / "out", "--workers", "2",
               "--timings", timings)
    took = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    stages = json.loads(timings.read_text(encoding="utf-8"))["stages"]
    assert list(stages) == ["set up", "read → quality", "duplicates, mixing", "export", "manifest, report"]
    assert all(s["wall_s"] >= 0 and s["cpu_s"] >= 0 for s in stages.values())
    assert 0 < sum(s["wall_s"] for s in stages.values()) < took and sum(s["cpu_s"] for s in stages.values()) > 0
    table = done.stdout.strip().splitlines()[-len(stages) - 4:]
    assert table[0].split() == ["stage", "wall", "s", "cpu", "s"] and table[-3].startswith("all")
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert written and not [p for p in written if "timings" in p.name or p.read_bytes() == timings.read_bytes()]
