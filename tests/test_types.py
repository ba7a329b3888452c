"""Instruction types on the embedded sample: each is built, traceable to its records, mixed by type, split with its
companions, reconciled in the ledger; a catalogue's bad declaration is one line and exit 2."""

import json
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builder.config import SAMPLE_CONFIG, SHIPPED_TEMPLATES
from tests.conftest import run

TYPES = ("single", "grounded", "consultation", "choice", "preference", "reverse")


def build(out: Path, *args: str) -> tuple[dict, list[dict]]:
    result = run("build", "--config", str(SAMPLE_CONFIG), "--out", str(out), "--quiet", *args)
    assert result.exit_code == 0, result.output
    rows = []
    for path in sorted((out / "data").glob("*.parquet")):
        rows += [{**row, "split": path.name.split("-")[0]} for row in pq.read_table(path).to_pylist()]
    return json.loads((out / "manifest.json").read_text(encoding="utf-8")), rows


@pytest.fixture(scope="module")
def every_type(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[dict]]:
    return build(tmp_path_factory.mktemp("types") / "out", "--types", "all")


def test_every_type_is_made_and_the_ledger_reconciles(every_type: tuple[dict, list[dict]]) -> None:
    manifest, rows = every_type
    counts = Counter(row["type"] for row in rows)
    assert all(counts[name] for name in TYPES), counts
    assert manifest["reconciles"] and manifest["totals"]["rows"] == len(rows)
    made = manifest["types"]["made"]["drug"]
    assert {name: made[name]["rows"] for name in TYPES[1:]} == {name: counts[name] for name in TYPES[1:]}


def test_the_default_build_makes_single_rows_only(tmp_path: Path, every_type: tuple[dict, list[dict]]) -> None:
    manifest, rows = build(tmp_path / "out")
    assert {row["type"] for row in rows} == {"single"}
    assert not any(row["history"] or row["companions"] or row["system"] or row["rejected"] for row in rows)
    single = sorted((r["record_id"], r["template_id"] or "", r["output"]) for r in every_type[1] if r["type"] == "single")
    assert sorted((r["record_id"], r["template_id"] or "", r["output"]) for r in rows) == single


def assert_one_split_per_record_and_companions_share_it(rows: list[dict]) -> None:
    """Every record's rows sit in one split, and every record a row shows (that has rows of its own) sits there too."""
    split_of: dict[str, set[str]] = {}
    for row in rows:
        split_of.setdefault(row["record_id"], set()).add(row["split"])
    assert all(len(splits) == 1 for splits in split_of.values())
    shown = [(row, c) for row in rows for c in row["companions"]]
    assert shown and all(split_of.get(c, {row["split"]}) == {row["split"]} for row, c in shown)


def test_rows_show_records_of_their_own_split_only(every_type: tuple[dict, list[dict]]) -> None:
    assert_one_split_per_record_and_companions_share_it(every_type[1])


def test_answers_come_from_the_records_they_name(every_type: tuple[dict, list[dict]]) -> None:
    _, rows = every_type
    single = {(r["record_id"], r["template_id"]): r["output"] for r in rows if r["type"] == "single"}
    for row in rows:
        key = (row["record_id"], row["template_id"])
        if row["type"] == "preference" and key in single:
            assert row["output"] == single[key] != row["rejected"]
        if row["type"] == "choice" and (row["record_id"], "drug.indications") in single:
            assert row["output"].endswith(single[(row["record_id"], "drug.indications")])
            assert re.match(r"^答案：[A-D]。", row["output"])
        if row["type"] == "consultation":
            for (question, answer), template in zip(row["history"], row["template_id"].split("+"), strict=False):
                assert answer == single.get((row["record_id"], template), answer) and question


def test_a_type_weight_and_target_thin_its_rows(tmp_path: Path, every_type: tuple[dict, list[dict]]) -> None:
    manifest, rows = build(tmp_path / "out", "--types", "all", "--type-weight", "grounded=0.5",
                           "--type-target", "preference=20")
    counts = Counter(row["type"] for row in rows)
    before = Counter(row["type"] for row in every_type[1])
    assert counts["grounded"] == round(before["grounded"] / 2) and counts["preference"] <= 20
    assert counts["single"] == before["single"] and manifest["reconciles"]
    assert manifest["types"]["rows"]["grounded"]["rows_after"] == counts["grounded"]
    assert "## Instruction types" in (tmp_path / "out" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("declaration", "says"), [
    ('[types.riddles]\ntemplates = ["drug.indications"]\n', "declares type 'riddles'"),
    ('[types.choice]\ntemplates = ["drug.nothing"]\nstems = ["{{ name }}？\\n{{ options }}"]\n',
     "names template 'drug.nothing'"),
    ('[types.choice]\ntemplates = ["drug.usage_dosage"]\nstems = ["{{ name }}？\\n{{ options }}"]\n',
     "multiple choice needs one field with extracted items"),
    ('[types.grounded]\ntemplates = ["drug.indications"]\nsystem = "s"\nmaterial = "{{ nmae }}"\nabsent = "a"\n',
     "material"),
    ('[types.consultation]\ntemplates = ["drug.indications"]\nmin_turns = 4\nmax_turns = 3\n', "max_turns"),
])
def test_a_bad_declaration_is_one_line_naming_the_file(tmp_path: Path, declaration: str, says: str) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    text = (SHIPPED_TEMPLATES / "drug.toml").read_text(encoding="utf-8").split("# ---------------------------------------"
                                                                                "------------------------- instruction types")[0]
    (folder / "drug.toml").write_text(text + declaration, encoding="utf-8")
    result = run("build", "--config", str(SAMPLE_CONFIG), "--templates", str(folder),
                 "--types", "all", "--out", str(tmp_path / "out"), "--quiet")
    assert result.exit_code == 2, result.output
    assert says in result.output and "drug.toml" in result.output and "Traceback" not in result.output


def test_unknown_types_and_disabling_single_are_refused(tmp_path: Path) -> None:
    result = run("build", "--config", str(SAMPLE_CONFIG), "--types", "riddles", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "unknown instruction type 'riddles'" in result.output
    config = tmp_path / "c.toml"
    config.write_text(f'[[sources]]\nkind = "drug"\npath = "{SAMPLE_CONFIG.parent / "drugs.json"}"\n'
                      '[types.grounded]\n', encoding="utf-8")
    result = run("build", "--config", str(config), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "`single` type is always built" in result.output


def test_every_type_gives_the_same_bytes_for_any_number_of_workers(tmp_path: Path) -> None:
    digests = []
    for workers in ("1", "2"):
        manifest, _ = build(tmp_path / workers, "--types", "all", "--workers", workers)
        digests.append({name: digest for name, digest in manifest["outputs"].items() if name.startswith("data/")})
    assert digests[0] == digests[1] and digests[0]


def test_a_type_no_catalogue_of_the_build_declares_is_named_on_the_terminal(tmp_path: Path) -> None:
    result = run("build", "--kb", f"disease={SAMPLE_CONFIG.parent / 'diseases.jsonl'}", "--types", "grounded",
                 "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert "warning: type grounded made no row: no catalogue of this build's kinds (disease) declares it" in result.output
    drugs = run("build", "--kb", f"drug={SAMPLE_CONFIG.parent / 'drugs.json'}", "--types", "grounded",
                "--out", str(tmp_path / "drugs"))
    assert drugs.exit_code == 0 and "made no row" not in drugs.output
