"""`eval build` → `eval score`, and a build that holds the evaluation entities out, on the sample."""

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq

from builder.config import SAMPLE_CONFIG
from builder.quality.normalize import entity_name, fold
from tests.conftest import run

SAMPLE_DRUGS = SAMPLE_CONFIG.with_name("drugs.json")
SAMPLE_DISEASES = SAMPLE_CONFIG.with_name("diseases.jsonl")


def test_eval_build_is_seeded_and_scores_back(tmp_path: Path) -> None:
    out = tmp_path / "eval.csv"
    args = ("eval", "build", "--kb", f"drug={SAMPLE_DRUGS}", "--kb", f"disease={SAMPLE_DISEASES}", "--n", "5")
    assert run(*args, "--seed", "1", "--out", out).exit_code == 0
    again = tmp_path / "again.csv"
    assert run(*args, "--seed", "1", "--out", again).exit_code == 0
    assert out.read_bytes() == again.read_bytes()
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    # the lists are extracted, not expert-labelled: the header says so, beside the label text they came from
    assert list(rows[0]) == ["药品", "药品适应症", "自动抽取的适应病症", "instruction"] and len(rows) == 5
    assert all(r["instruction"] == f"{r['药品']}的适应病症" and r["自动抽取的适应病症"] and r["药品适应症"] for r in rows)
    diseases = list(csv.DictReader(out.with_name("eval.disease.csv").open(encoding="utf-8")))
    assert {r["instruction"].replace(r["疾病"], "{疾病}") for r in diseases} <= {
        "哪些药物能治疗{疾病}？", "{疾病}需要做哪些检查？", "{疾病}的临床表现有哪些？"}
    items = [json.loads(line) for line in out.with_suffix(".jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) == len(rows) + len(diseases) and all(isinstance(i["gold"], list) for i in items)

    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"instruction": r["instruction"], "output": r["药品适应症"]},
                                          ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    scored = run("eval", "score", "--eval", out, "--answers", answers, "--json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout) == {"n": 5, "criterion_1": 1.0, "criterion_2": 1.0, "criterion_3": 1.0}


def test_a_build_given_the_eval_file_holds_its_entities_out(tmp_path: Path) -> None:
    out = tmp_path / "eval.csv"
    assert run("eval", "build", "--kb", f"drug={SAMPLE_DRUGS}", "--n", "4", "--out", out).exit_code == 0
    names = {k for r in csv.DictReader(out.open(encoding="utf-8"))
             for k in (fold(r["药品"]), entity_name(r["药品"])) if len(k) >= 2}
    built = run("build", "--kb", f"drug={SAMPLE_DRUGS}", "--eval-set", out, "--out", tmp_path / "build", "--quiet")
    assert built.exit_code == 0, built.output
    rows = pq.read_table(sorted((tmp_path / "build" / "data").glob("*.parquet"))).to_pylist()
    assert rows and not [r for r in rows if any(n in fold(r["instruction"] + r["output"]) for n in names)]


def test_extraction_command_prints_the_figures(tmp_path: Path) -> None:
    evaluation = tmp_path / "eval.csv"
    with evaluation.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["药品", "药品适应症", "医学专家标注的适应病症", "instruction"])
        writer.writerow(["甲药片", "<p>用于高血压、心绞痛。</p>", "高血压|心绞痛", "甲药片的适应病症"])
    result = run("eval", "extraction", "--eval", evaluation)
    assert result.exit_code == 0
    assert "1 items, 2 gold labels" in result.stdout and "normalised      1.0000    1.0000    1.0000" in result.stdout


def test_extraction_is_not_measured_against_its_own_lists(tmp_path: Path) -> None:
    out = tmp_path / "eval.csv"
    assert run("eval", "build", "--kb", f"drug={SAMPLE_DRUGS}", "--n", "3", "--out", out).exit_code == 0
    result = run("eval", "extraction", "--eval", out)
    assert result.exit_code == 2 and "自动抽取的适应病症 column was extracted by this tool" in result.output
    assert "Traceback" not in result.output
    diseases = tmp_path / "eval_diseases.csv"  # another kind's lists carry the plain 自动抽取 header
    assert run("eval", "build", "--kb", f"disease={SAMPLE_DISEASES}", "--n", "3", "--out", diseases).exit_code == 0
    written = next(tmp_path.glob("eval_diseases*.csv"))
    result = run("eval", "extraction", "--eval", written)
    assert result.exit_code == 2 and "自动抽取 column was extracted by this tool" in result.output


def test_extraction_needs_gold_labels(tmp_path: Path) -> None:
    evaluation = tmp_path / "eval.csv"
    evaluation.write_text("药品,药品适应症,instruction\n甲药片,用于高血压。,甲药片的适应病症\n", encoding="utf-8")
    result = run("eval", "extraction", "--eval", evaluation)
    assert result.exit_code == 2 and "no gold labels" in result.output
