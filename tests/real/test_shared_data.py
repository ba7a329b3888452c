"""Acceptance on the real public data in ../shared/data (read in place, never copied into the repo)."""

import csv
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builder.clean.text import clean_array
from builder.quality.normalize import entity_core
from tests.conftest import run

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DRUGS = SHARED / "drugs" / "caregpt_drug.json"
TOYHOM = SHARED / "qa" / "toyhom_样例_内科5000-6000.csv"
SFT = SHARED / "qa" / "medicalgpt_sft_1k.jsonl"
TCM = SHARED / "tcm" / "llmqa_中药材.csv"
EVAL = SHARED / "eval" / "药品适应症评测数据集.csv"
ENTITY = re.compile(r"&(#[0-9]+|#x[0-9a-f]+|[a-z][a-z0-9]{1,31});", re.IGNORECASE)

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data folder {SHARED} is absent (it lives beside the repo)")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real") / "out"
    result = run("build", "--kb", f"drug={DRUGS}", "--qa", TOYHOM, "--qa", SFT, "--out", out, "--seed", "1", "--quiet")
    assert result.exit_code == 0, result.output
    return out


def rows(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def test_ledger_reconciles_and_rejects_match(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    for name, counts in manifest["sources"].items():
        assert counts["read"] == counts["kept"] + counts["rejected"], name
        assert counts["rejected"] == sum(counts["rejected_by_reason"].values()), name
    assert manifest["sources"]["caregpt_drug"]["read"] == 2441
    assert manifest["sources"]["toyhom_样例_内科5000-6000"]["read"] == 7644
    assert manifest["sources"]["medicalgpt_sft_1k"]["read"] == 1000
    rejects = (built / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rejects) == manifest["totals"]["rejected"]
    assert sum(manifest["splits"].values()) == manifest["totals"]["rows"] == len(rows(built))


def test_no_markup_entities_or_placeholder_answers(built: Path) -> None:
    table = rows(built)
    template_outputs = pa.array([r["output"] for r in table if r["kind"] != "qa"])
    assert clean_array(template_outputs).to_pylist() == template_outputs.to_pylist()  # cleaning is already done
    for row in table:
        text = row["instruction"] + row["input"] + row["output"]
        assert "<p>" not in text and not ENTITY.search(text), row
        assert "\ufffd" not in text, row
        assert not re.search(r"[：:]\s*[(（]?尚不明确[)）]?。?$", row["output"]), row  # no answer "禁忌：尚不明确。"


def test_gb18030_text_is_decoded(built: Path) -> None:
    toyhom = [r for r in rows(built) if r["source"] == "toyhom_样例_内科5000-6000"]
    assert any("高血压" in r["instruction"] for r in toyhom)
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    assert {i["source"]: i["encoding"] for i in manifest["inputs"]}["toyhom_样例_内科5000-6000"] == "gb18030"


def test_every_drug_with_indications_yields_an_indications_row(built: Path) -> None:
    """Every record but a verbatim copy of an earlier one (a reject: duplicate_record); an indications row
    identical to another record's (same name, text and phrasing) is listed in removed_rows.jsonl."""
    values = []
    for block in dict.fromkeys(json.loads(DRUGS.read_text(encoding="utf-8"))):
        found = [line.partition(":")[2] for line in block.split("\n")[1:] if line.startswith("适应证:")]
        values.append(found[0] if found else None)
    expected = len(values) - clean_array(pa.array(values, pa.string()), prose=True).null_count
    indications = [r for r in rows(built) if r["template_id"] == "drug.indications"]
    removed = [json.loads(line) for line in (built / "removed_rows.jsonl").read_text(encoding="utf-8").splitlines()]
    duplicates = [r for r in removed if r["template_id"] == "drug.indications" and r["reason"] == "exact_duplicate"]
    assert expected > 2300 and len(indications) + len(duplicates) == expected


def test_traditional_medicine_builds_with_a_mapping_only(tmp_path: Path) -> None:
    out = tmp_path / "tcm"
    result = run("build", "--kb", f"drug={TCM}", "--map", "症状=indications", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["sources"]["llmqa_中药材"]
    assert counts["read"] == 1000 and counts["read"] == counts["kept"] + counts["rejected"]
    indications = [r for r in rows(out) if r["template_id"] == "drug.indications"]
    assert len(indications) > 900
    assert manifest["coverage"]["drug.efficacy"]["rendered"] > 900  # 功用 maps to efficacy by default


DOUBLED = re.compile(r"[。，；：、！？]{2}")
PLACEHOLDER_ANSWER = re.compile(r"[：:]\s*(尚不明确|不详|无|暂无)[。]?$")


def drug_rows(out: Path) -> set[tuple]:
    return {(r["record_id"], r["template_id"], r["variant"], r["instruction"], r["output"])
            for r in rows(out) if r["kind"] == "drug"}


def test_rows_do_not_depend_on_record_order(tmp_path: Path) -> None:
    records = json.loads(DRUGS.read_text(encoding="utf-8"))
    shuffled = tmp_path / "shuffled.json"  # a temporary reordering of the shared file, never committed
    shuffled.write_text(json.dumps(records[::-1][1::2] + records[::-1][0::2], ensure_ascii=False), encoding="utf-8")
    first, second = tmp_path / "a", tmp_path / "b"
    for path, out in ((DRUGS, first), (shuffled, second)):
        result = run("build", "--kb", f"drug={path}", "--out", out, "--seed", "5", "--quiet")
        assert result.exit_code == 0, result.output
    assert drug_rows(first) == drug_rows(second) and len(drug_rows(first)) > 15_000


def test_variants_give_distinct_phrasings_and_coverage_accounts_for_skips(tmp_path: Path) -> None:
    out = tmp_path / "v3"
    result = run("build", "--kb", f"drug={DRUGS}", "--variants", "3", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    by_pair: dict[tuple, list[dict]] = {}
    for row in rows(out):
        by_pair.setdefault((row["record_id"], row["template_id"]), []).append(row)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    phrasings = {tid: len(c["variants"]) for tid, c in manifest["coverage"].items()}
    removed: dict[tuple, int] = {}  # rows identical to another record's (same name and text) are listed there
    for line in (out / "removed_rows.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        removed[(entry["record_id"], entry["template_id"])] = removed.get((entry["record_id"], entry["template_id"]), 0) + 1
    for pair, group in by_pair.items():
        assert len(group) + removed.get(pair, 0) == 3, pair
        assert len({r["variant"] for r in group}) == len({r["instruction"] for r in group}) == len(group)
    assert all(n >= 3 for n in phrasings.values() if n)
    for tid, coverage in manifest["coverage"].items():
        applied = coverage["rendered"] // 3
        assert applied + coverage["skipped"] == coverage["eligible"], tid
        assert sum(coverage["skipped_missing"].values()) == coverage["skipped"], tid
        assert coverage["rendered"] > 0 or coverage["no_source_has"], tid


def test_template_rows_are_well_formed(built: Path) -> None:
    for row in rows(built):
        if row["kind"] == "qa":
            continue
        assert row["output"].strip() and "{{" not in row["output"] + row["instruction"], row
        assert not DOUBLED.search(row["output"]), row["output"]
        assert not PLACEHOLDER_ANSWER.search(row["output"]), row["output"]


def verbatim_duplicate_lines() -> set[int]:
    """Lines of Toyhom rows that repeat an earlier row cell for cell, read independently with `csv`."""
    seen, repeated = set(), set()
    with TOYHOM.open(encoding="gb18030", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        previous = reader.line_num
        for cells in reader:
            start, previous = previous + 1, reader.line_num
            if tuple(cells) in seen:
                repeated.add(start)
            seen.add(tuple(cells))
    return repeated


def test_toyhom_duplicates_are_removed_and_counted(tmp_path: Path) -> None:
    out = tmp_path / "toyhom"
    result = run("build", "--qa", TOYHOM, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    counts = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["sources"]["toyhom_样例_内科5000-6000"]
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    duplicates = {r["line"] for r in rejects if r["reason"] in ("exact_duplicate", "near_duplicate")}
    filtered = {r["line"] for r in rejects if r["stage"] == "filter"}  # a filter removes both copies alike, first
    verbatim = verbatim_duplicate_lines()
    assert len(verbatim) == 378 and verbatim <= duplicates | filtered and len(verbatim & duplicates) > 250
    assert counts["kept"] + counts["rejected"] == 7644 == counts["read"]
    assert all(r["duplicate_of"] for r in rejects if r["stage"] == "dedup")


def test_no_training_row_names_an_evaluation_drug(tmp_path: Path) -> None:
    out = tmp_path / "decontaminated"
    result = run("build", "--kb", f"drug={DRUGS}", "--qa", TOYHOM, "--qa", SFT, "--eval-set", EVAL, "--out", out,
                 "--quiet")
    assert result.exit_code == 0, result.output
    with EVAL.open(encoding="utf-8", newline="") as handle:
        cores = {entity_core(row["药品"]) for row in csv.DictReader(handle)}
    assert len(cores) >= 90
    for row in rows(out):  # no row from a record of an evaluation drug
        assert row["kind"] == "qa" or entity_core(row["instruction"].split("的")[0]) not in cores, row
    # nor a mention of one: on entity boundaries, for a name inside another drug's (氧氟沙星 in 左氧氟沙星片,
    # 保泰松 in 苯磺保泰松) is that other drug
    recheck = run("contamination", out, "--eval-set", EVAL)
    assert recheck.exit_code == 0, recheck.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    quality = manifest["quality"]
    assert len(quality["evaluation_entities"]) == 94 and quality["held_out_entities"]
    rejects = (out / "rejects.jsonl").read_text(encoding="utf-8")
    assert "eval_entity" in rejects and manifest["reconciles"]


def test_byte_identical_with_dedup_pii_and_mixing(tmp_path: Path) -> None:
    args = ("--kb", f"drug={DRUGS}", "--qa", TOYHOM, "--qa", SFT, "--eval-set", EVAL,
            "--weight", "toyhom_样例_内科5000-6000=0.5", "--target", "medicalgpt_sft_1k=600", "--seed", "3", "--quiet")
    for out in ("a", "b"):
        assert run("build", *args, "--out", tmp_path / out).exit_code == 0
    names = sorted(p.name for p in (tmp_path / "a" / "data").glob("*.parquet"))
    assert names
    for name in names:
        assert (tmp_path / "a" / "data" / name).read_bytes() == (tmp_path / "b" / "data" / name).read_bytes()
