"""`build-instructions audit` over rows of the richer instruction types: the embedded sample is built with
`--types all` and audited clean; then one row of each type is corrupted in the built Parquet (a wrong block number,
another record's text in the material, the right record in an "absent" row's material, a turn from another record,
a distractor that overlaps the right answer, a wrong letter, an altered chosen answer, a rejected answer that is no
perturbation, a rejected answer from the record itself, a listed drug changed) and each must be found, named by the
row's record id, type, template and part."""

import re
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builder.audit.shapes import read
from builder.audit.types import PLANNERS, perturbed, shared_clauses
from tests.conftest import run, write_json
from tests.test_audit import audit

MISSING = "drug-0000000000000000"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audit-types") / "out"
    result = run("build", "--types", "all", "--out", out, "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def out(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(built, copy)
    return copy


def rows_of(out: Path) -> list[dict]:
    return [row for f in sorted((out / "data").glob("*.parquet")) for row in pq.read_table(f).to_pylist()]


def edit(out: Path, pick: Callable[[dict], bool], change: Callable[[dict], dict]) -> dict:
    """Changes the first row (in file order) that `pick` takes; returns the row as written."""
    for f in sorted((out / "data").glob("*.parquet")):
        table = pq.read_table(f)
        rows = table.to_pylist()
        for i, row in enumerate(rows):
            if pick(row):
                rows[i] = change(dict(row))
                pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), f)
                return rows[i]
    pytest.fail("no row to change")


def findings_of(out: Path, row: dict) -> set[tuple[str, str]]:
    """The (finding, part) pairs the audit reports, all of them about the changed row."""
    code, entries, _ = audit(out)
    assert code == 1 and entries
    assert {(e["record_id"], e["type"], e["template_id"]) for e in entries} == {
        (row["record_id"], row["type"], row["template_id"])}, entries
    return {(e["finding"], e["part"]) for e in entries}


def blocks(material: str) -> list[str]:
    return material.split("\n\n")


def grounded_answer(row: dict) -> re.Match | None:
    return re.match(r"根据资料(\d+)，", row["output"]) if row["type"] == "grounded" else None


def absent(row: dict) -> bool:
    return row["type"] == "grounded" and row["output"].startswith("给出的资料中没有")


def single_answer(rows: list[dict], record_id: str, template_id: str) -> str:
    return next(r["output"] for r in rows if r["type"] == "single" and r["record_id"] == record_id
                and r["template_id"] == template_id)


def field_text(answer: str) -> str:
    """The record's text in a single answer (`X的适应证：TEXT`)."""
    return answer.split("：", 1)[1]


def test_the_all_types_sample_audits_clean_and_counts_every_type(built: Path) -> None:
    code, entries, printed = audit(built)
    assert (code, entries) == (0, []), entries[:5]
    rows = rows_of(built)
    kb = Counter(r["type"] for r in rows if r["kind"] != "qa")
    assert set(kb) == {"single", *PLANNERS}
    assert f"audited {sum(kb.values())} knowledge-base rows: 0 with findings" in printed
    for kind, count in kb.items():
        assert f"{kind} {count} (0 with findings)" in printed
    assert "overlapping_distractor" in printed and "condition_not_in_items" in printed


def test_a_grounded_answer_citing_another_block_is_found(out: Path) -> None:
    def change(row: dict) -> dict:
        number = int(grounded_answer(row).group(1))
        other = number % len(blocks(row["input"])) + 1
        return row | {"output": row["output"].replace(f"根据资料{number}，", f"根据资料{other}，", 1)}

    row = edit(out, lambda r: grounded_answer(r) is not None, change)
    other = int(grounded_answer(row).group(1))
    assert ("wrong_material", f"input block {other}") in findings_of(out, row)


def test_another_records_text_in_the_material_is_found(out: Path) -> None:
    """A companion's block given the row's record's text: the block is not its record's field."""
    def change(row: dict) -> dict:
        number = int(grounded_answer(row).group(1))
        shown = blocks(row["input"])
        mine = shown[number - 1].split("\n", 1)[1]
        target = 0 if number != 1 else 1
        head = shown[target].split("\n", 1)[0]
        shown[target] = f"{head}\n{mine}"
        return row | {"input": "\n\n".join(shown)}

    row = edit(out, lambda r: grounded_answer(r) is not None, change)
    target = 1 if int(grounded_answer(row).group(1)) != 1 else 2
    found = findings_of(out, row)
    assert {f for f, part in found if part == f"input block {target}"} & {"not_in_record", "deleted_sentence"}, found


@pytest.mark.parametrize("companion", [True, False], ids=["as-a-companion", "in-a-companions-block"])
def test_the_right_record_in_an_absent_rows_material_is_found(out: Path, companion: bool) -> None:
    rows = rows_of(out)

    def change(row: dict) -> dict:
        name = re.match(r"给出的资料中没有(.+)的[^的]+，无法", row["output"]).group(1)
        text = field_text(single_answer(rows, row["record_id"], row["template_id"]))
        label = blocks(row["input"])[0].split("\n", 1)[1].split("：", 1)[0]
        shown = blocks(row["input"])
        shown[0] = f"资料1：{name}\n{label}：{text}"
        ids = [row["record_id"], *row["companions"][1:]] if companion else row["companions"]
        return row | {"input": "\n\n".join(shown), "companions": ids}

    row = edit(out, absent, change)
    found = findings_of(out, row)
    assert ("absent_but_shown", "input block 1") in found
    assert (("wrong_material", "input block 1") in found) is not companion  # the block names its record when swapped


def test_a_consultation_turn_answered_from_another_record_is_found(out: Path) -> None:
    rows = rows_of(out)

    def change(row: dict) -> dict:
        last = row["template_id"].split("+")[-1]
        other = next(r["output"] for r in rows if r["type"] == "single" and r["template_id"] == last
                     and r["record_id"] != row["record_id"] and r["kind"] == row["kind"])
        return row | {"output": other}

    row = edit(out, lambda r: r["type"] == "consultation", change)
    turns = len(row["template_id"].split("+"))
    found = findings_of(out, row)
    assert {f for f, part in found if part == f"turn {turns} answer"} & {"not_in_record", "deleted_sentence"}, found


def test_consultation_turns_out_of_their_templates_order_are_found(out: Path) -> None:
    row = edit(out, lambda r: r["type"] == "consultation",
               lambda r: r | {"template_id": "+".join(reversed(r["template_id"].split("+")))})
    found = findings_of(out, row)
    assert ("wrong_question", "turn 1 question") in found
    assert any(part == "turn 1 answer" for _, part in found)


def test_a_distractor_that_overlaps_the_right_answer_is_found(out: Path) -> None:
    """Two drugs a reverse row lists for one condition share an item: one may not be a distractor of the other."""
    rows = rows_of(out)
    pairs = {(r["record_id"], c) for r in rows if r["type"] == "reverse" for c in r["companions"]}
    pairs |= {(b, a) for a, b in pairs}
    choice = next((r, b) for r in rows if r["type"] == "choice" for a, b in sorted(pairs)
                  if r["record_id"] == a and b not in r["companions"])
    target, other = choice

    row = edit(out, lambda r: r == target, lambda r: r | {"companions": [other, *r["companions"][1:]]})
    assert ("overlapping_distractor", f"companion {other}") in findings_of(out, row)


@pytest.mark.parametrize("defect", ["letter", "option"])
def test_a_wrong_letter_or_option_is_found(out: Path, defect: str) -> None:
    def change(row: dict) -> dict:
        letter = re.match(r"答案：([A-F])。", row["output"]).group(1)
        other = "B" if letter == "A" else "A"
        if defect == "letter":
            return row | {"output": row["output"].replace(f"答案：{letter}。", f"答案：{other}。", 1)}
        lines = row["instruction"].split("\n")
        right = next(line for line in lines if line.startswith(f"{letter}. "))
        changed = [f"{other}. {right[3:]}" if line.startswith(f"{other}. ") else line for line in lines]
        return row | {"instruction": "\n".join(changed)}

    row = edit(out, lambda r: r["type"] == "choice", change)
    assert any(f == "wrong_option" for f, _ in findings_of(out, row))


def test_a_choice_companion_no_record_has_is_found(out: Path) -> None:
    row = edit(out, lambda r: r["type"] == "choice", lambda r: r | {"companions": [MISSING, *r["companions"][1:]]})
    assert ("no_source_record", f"companion {MISSING}") in findings_of(out, row)


def test_an_altered_chosen_answer_is_found(out: Path) -> None:
    row = edit(out, lambda r: r["type"] == "preference",
               lambda r: r | {"output": r["output"] + "每日最大剂量不超过4g。"})
    assert ("not_in_record", "output") in findings_of(out, row)


@pytest.mark.parametrize("rejected", ["same", "not-a-dose"])
def test_a_rejected_answer_that_is_no_dose_perturbation_is_found(out: Path, rejected: str) -> None:
    def change(row: dict) -> dict:
        if rejected == "same":
            return row | {"rejected": row["output"]}
        return row | {"rejected": row["output"].replace("口服", "外用", 1)}

    row = edit(out, lambda r: r["type"] == "preference" and not r["companions"] and "口服" in r["output"], change)
    assert ("not_perturbed", "rejected") in findings_of(out, row)


def test_a_rejected_answer_from_the_record_itself_is_found(out: Path) -> None:
    row = edit(out, lambda r: r["type"] == "preference" and len(r["companions"]) == 1,
               lambda r: r | {"companions": [r["record_id"]]})
    assert ("overlapping_rejected", "rejected") in findings_of(out, row)


def test_a_rejected_answer_not_from_its_companion_is_found(out: Path) -> None:
    row = edit(out, lambda r: r["type"] == "preference" and len(r["companions"]) == 1,
               lambda r: r | {"rejected": r["output"]})
    assert {f for f, part in findings_of(out, row) if part == "rejected"} & {"not_in_record", "deleted_sentence"}


def test_a_changed_listed_drug_is_found(out: Path) -> None:
    rows = rows_of(out)

    def change(row: dict) -> dict:
        listed = re.search(r"的有：(.+?)。", row["output"]).group(1).split("、")
        stranger = next(r for r in rows if r["type"] == "single" and r["template_id"] == "drug.indications"
                        and r["record_id"] not in {row["record_id"], *row["companions"]})
        name = re.match(r"(.+?)(?:（又名.*?）)?的适应证：", stranger["output"]).group(1)
        return row | {"output": row["output"].replace(f"、{listed[1]}。", f"、{name}。", 1)}

    row = edit(out, lambda r: r["type"] == "reverse", change)
    found = findings_of(out, row)
    assert ("unlisted_record", "output") in found  # the name no record of the row has
    assert ("unlisted_record", f"companion {row['companions'][0]}") in found  # the companion no longer listed


def test_a_listed_record_without_the_condition_is_found(out: Path) -> None:
    rows = rows_of(out)

    def change(row: dict) -> dict:
        condition = re.search(r"适应证包括(.+?)的有：", row["output"]).group(1)
        listed = re.search(r"的有：(.+?)。", row["output"]).group(1).split("、")
        stranger = next(r for r in rows if r["type"] == "single" and r["template_id"] == "drug.indications"
                        and r["record_id"] not in {row["record_id"], *row["companions"]}
                        and condition not in r["output"])
        name = re.match(r"(.+?)(?:（又名.*?）)?的适应证：", stranger["output"]).group(1)
        return row | {"output": row["output"].replace(f"、{listed[1]}。", f"、{name}。", 1),
                      "companions": [stranger["record_id"], *row["companions"][1:]]}

    row = edit(out, lambda r: r["type"] == "reverse", change)
    assert ("condition_not_in_items", f"companion {row['companions'][0]}") in findings_of(out, row)


THIN = ["--type-weight", "single=0.02", "--type-weight", "grounded=0.2", "--type-weight", "preference=0.3",
        "--type-weight", "consultation=0.1", "--type-weight", "reverse=0.5"]


def test_records_shown_only_beside_others_are_found_by_name_or_content(tmp_path: Path) -> None:
    """With single rows thinned away, some companions have no row of their own: a material block names them, a
    choice option or a rejected answer only shows their field; each is still matched to its record."""
    out = tmp_path / "out"
    result = run("build", "--types", "all", *THIN, "--out", out, "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    own = {r["record_id"] for r in rows}
    shown = {(r["type"], c) for r in rows for c in r["companions"] if c not in own}
    assert {kind for kind, _ in shown} >= {"preference"}, shown  # the case this test is about
    code, entries, _ = audit(out)
    assert (code, entries) == (0, []), entries[:5]
    row = edit(out, lambda r: r["type"] == "preference" and r["companions"] and r["companions"][0] not in own,
               lambda r: r | {"rejected": r["output"]})
    assert {f for f, part in findings_of(out, row) if part in ("rejected", f"companion {row['companions'][0]}")}


AREAS = {"心血管系统药物": ["高血压", "心绞痛", "心力衰竭", "心律失常", "冠心病", "动脉硬化", "高脂血症"],
         "呼吸系统药物": ["急性支气管炎", "慢性支气管炎", "支气管哮喘", "肺炎", "咳嗽", "慢性咽炎", "过敏性鼻炎"]}


def twin(indications: str, category: str = "") -> str:
    """A record of 双录钙: the two the knowledge base holds differ in their indications (and one has no category)."""
    return (f"双录钙\n{category}别名:甲酰四氢叶酸钙；立可林\n适应证:{indications}\n"
            "禁忌证:恶性贫血或维生素B12缺乏所引起的巨幼红细胞性贫血患者禁用。\n用法用量:口服。一次5～15mg，每6～8小时1次。")


TWINS = [twin("1.用于口炎性腹泻、蛋白质-能量营养不良。2.作为结肠癌、直肠癌的辅助治疗。"),
         twin("1.用于口炎性腹泻、营养不良。2.作为结肠、直肠癌的辅助治疗。", "药品类型:抗肿瘤药物，抗代谢药\n")]
SECOND_OPTION = "口炎性腹泻、营养不良、结肠"  # the second record's first conditions: the first holds neither 营养不良 nor 结肠


def test_an_id_is_resolved_to_the_record_of_its_name_that_can_have_made_its_option(tmp_path: Path) -> None:
    """A knowledge base repeats a name with other indications, the record read first holding every clause of the
    second's (口炎性腹泻、营养不良 within 口炎性腹泻、蛋白质-能量营养不良, 结肠 within 结肠癌). With its single rows
    thinned away, the second record's id is named by its multiple-choice row, and other rows show its option; the
    first has no category (so no such row, nor a place among distractors), and only a reverse row shows it, by name.
    The second's id must be resolved to the second record, whose items give the option, not to the first, read
    first, which cannot have given it; and the first's id to the first."""
    drugs = [f"{area[:2]}试药{i + 1}号片\n药品类型:{area}，第{i % 2 + 1}类药\n"
             f"适应证:用于{'、'.join(conditions[(i + k) % len(conditions)] for k in range(3))}。\n"
             f"禁忌证:对本品过敏者禁用。\n用法用量:口服。成人一次{i + 1}片，一日{i % 3 + 1}次。"
             for area, conditions in AREAS.items() for i in range(len(conditions))]
    drugs.append("消化试药片\n药品类型:消化系统药物，止泻药\n适应证:用于口炎性腹泻、急性肠炎。\n用法用量:口服。一次1片，一日3次。")
    source = write_json(tmp_path / "drugs.json", [*TWINS, *drugs])
    out = tmp_path / "out"
    result = run("build", "--kb", f"drug={source}", "--types", "choice,reverse", "--type-weight", "single=0.01",
                 "--split", "1,0,0", "--out", out, "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    own = [r for r in rows if r["type"] == "choice" and "双录钙" in r["instruction"]]
    assert [SECOND_OPTION in r["instruction"] for r in own] == [True]  # the second record's row, and no other
    second = own[0]["record_id"]
    shown = [r for r in rows if r["type"] == "choice" and second in r["companions"]]
    assert shown and all(SECOND_OPTION in r["instruction"] for r in shown)  # its option beside other records
    listed = next(r for r in rows if r["type"] == "reverse" and "双录钙" in r["output"])
    names = re.search(r"的有：(.+?)。", listed["output"]).group(1).split("、")
    first = [listed["record_id"], *listed["companions"]][names.index("双录钙")]
    assert first != second and first not in {r["record_id"] for r in rows}  # only shown, by name
    code, entries, _ = audit(out)
    assert (code, entries) == (0, []), entries[:5]


def test_a_consultation_template_the_catalogue_does_not_hold_is_exit_2(out: Path) -> None:
    edit(out, lambda r: r["type"] == "consultation", lambda r: r | {"template_id": r["template_id"] + "+drug.nothing"})
    result = run("audit", out)
    assert result.exit_code == 2 and "drug.nothing" in result.stderr and result.stderr.count("\n") == 1


def test_rows_of_a_type_the_audit_does_not_know_are_counted_not_audited(out: Path) -> None:
    edit(out, lambda r: r["type"] == "reverse", lambda r: r | {"type": "plugin_made"})
    code, entries, printed = audit(out)
    assert (code, entries) == (0, [])
    assert "not audited (types the audit has no checks for): plugin_made 1" in printed


@pytest.mark.parametrize(("chosen", "rejected", "field", "expected"), [
    ("X的用法用量：口服，一次1～2片，一日3次。", "X的用法用量：口服，一次1～2片，一日1次。", "口服，一次1～2片，一日3次。", True),
    ("X的用法用量：口服，一次1～2片，一日3次。", "X的用法用量：口服，一次3～6片，一日3次。", "口服，一次1～2片，一日3次。", True),
    ("X的用法用量：口服，一次1～2片，一日3次。", "X的用法用量：口服，一次3～6片，一日1次。", "口服，一次1～2片，一日3次。", False),
    ("X的用法用量：口服，一次1～2片，一日3次。", "X的用法用量：口服，一次1～2片，一日7次。", "口服，一次1～2片，一日3次。", False),
    ("X的用法用量：口服，一次1～2片，一日3次。", "X的用法用量：外用，一次1～2片，一日3次。", "口服，一次1～2片，一日3次。", False),
    # a diluent volume in the field is no dose, even where the answer's frame (葡萄糖 in the name) says nothing of it
    ("葡萄糖注射液的用法用量：每次500ml，每日1次。", "葡萄糖注射液的用法用量：每次250ml，每日1次。", "每次500ml，每日1次。", True),
])
def test_perturbed_follows_perturb_dosage(chosen: str, rejected: str, field: str, expected: bool) -> None:
    assert perturbed(chosen, rejected, field) is expected


def test_shapes_read_names_holding_de_with_the_label_fixed() -> None:
    absent_text = "给出的资料中没有{{ name }}的{{ label }}，无法根据这些资料回答。"
    said = "给出的资料中没有氢化可的松的禁忌，无法根据这些资料回答。"
    assert read(absent_text, said) == {"name": "氢化可", "label": "松的禁忌"}  # ambiguous alone
    assert read(absent_text, said, label="禁忌") == {"name": "氢化可的松"}
    reverse = "包括{{ condition }}的有：{{ names }}。不是可用于{{ condition }}的全部药物。"
    assert read(reverse, "包括痛风的有：甲、乙。不是可用于痛风的全部药物。") == {"condition": "痛风", "names": "甲、乙"}
    assert read(reverse, "包括痛风的有：甲、乙。不是可用于头痛的全部药物。") is None


def test_shared_clauses_are_the_frame_a_rejected_answer_keeps() -> None:
    assert shared_clauses("甲（又名乙、丙）的适应证：用于头痛。", "甲（又名乙、丙）的适应证：用于发热。") == (
        "甲（又名乙、丙）的适应证：",)
