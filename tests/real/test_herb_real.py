"""Acceptance for the herb kind on the real herb table in ../shared/data (read in place, never copied here).

`tcm/llmqa_中药材.csv` is built as `--kb herb=…` with no mapping at all: its 症状 column is the herb's
indications by the herb kind's own table. The rows are checked against the CSV as Python's csv module reads it.
"""

import csv
import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builder.clean.text import clean_array
from tests.conftest import run

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TCM = SHARED / "tcm" / "llmqa_中药材.csv"
SOURCE = "llmqa_中药材"
# the template of each column the table fills, and the frame its answer puts before the column's text
COLUMNS = {
    "症状": ("herb.indications", "{name}的主治："),
    "功用": ("herb.efficacy", "{name}的功效："),
    "用法用量": ("herb.usage_dosage", "{name}的用法用量："),
    "注意事项": ("herb.precautions", "使用{name}的注意事项："),
    "性味归经": ("herb.nature_meridian", "{name}的性味归经："),
    "药材分类": ("herb.category", "{name}的药材分类："),
}
SOFT_ENDS = "，,、；;：: "  # what `sentence` drops before closing a value
LEADING = "，、；：,;:。！？ "  # what no field value opens with

pytestmark = pytest.mark.skipif(not TCM.is_file(), reason=f"real herb table {TCM} is absent (../shared/data lives "
                                                           "beside the repository)")


@pytest.fixture(scope="module")
def table() -> list[dict]:
    """The CSV as the csv module reads it, each cell cleaned as the builder cleans text (None when empty)."""
    with TCM.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = {key: clean_array(pa.array([r[key] for r in rows], pa.string())).to_pylist() for key in rows[0]}
    return [{key: columns[key][i] for key in rows[0]} for i in range(len(rows))]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("herb-real") / "out"
    result = run("build", "--kb", f"herb={TCM}", "--out", out, "--seed", "3", "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def by_record(built: Path) -> dict[str, dict[str, dict]]:
    """Rows per herb name, then per template (one phrasing per record and template)."""
    rows = pq.read_table(sorted((built / "data").glob("*.parquet"))).to_pylist()
    names = {r["record_id"]: r["output"].split("的主治：")[0] for r in rows if r["template_id"] == "herb.indications"}
    grouped: dict[str, dict[str, dict]] = {}
    for row in rows:
        assert row["kind"] == "herb" and row["source"] == SOURCE
        templates = grouped.setdefault(names[row["record_id"]], {})
        assert row["template_id"] not in templates
        templates[row["template_id"]] = row
    return grouped


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_ledger_reconciles(built: Path, table: list[dict]) -> None:
    found = manifest(built)
    counts = found["sources"][SOURCE]
    assert found["reconciles"] is True
    assert counts["read"] == len(table) == 1000 and counts["read"] == counts["kept"] + counts["rejected"]
    assert counts["rejected"] == sum(counts["rejected_by_reason"].values())
    assert counts["unmapped_columns"] == {}  # 药材, 别名, 性味归经, 功用, 症状, 药材分类, 用法用量, 注意事项 all have a field
    rejects = (built / "rejects.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rejects) == found["totals"]["rejected"] == counts["rejected"]


def test_rows_exist_for_the_main_templates(built: Path, by_record: dict, table: list[dict]) -> None:
    coverage = manifest(built)["coverage"]
    for column, (template, _) in COLUMNS.items():
        filled = sum(1 for row in table if row[column])
        assert coverage[template]["rendered"] == sum(1 for rows in by_record.values() if template in rows)
        if column in ("症状", "功用", "用法用量", "注意事项"):  # columns without drift: a row for every value
            assert coverage[template]["rendered"] == filled, template
    assert coverage["herb.indications"]["rendered"] == len(by_record) == 1000
    assert coverage["herb.overview"]["rendered"] == sum(1 for row in table if row["功用"]) > 950
    assert coverage["herb.nature_meridian"]["rendered"] > 600 and coverage["herb.aliases"]["rendered"] > 700
    # 药材分类 is 植物/动物/矿物 where it is a class at all; toxicity, taxa, 性味 and the notice are not
    assert coverage["herb.category"]["rendered"] == sum(1 for row in table if row["药材分类"] in ("植物", "动物", "矿物"))


def test_answers_are_the_tables_own_text_on_a_sample(by_record: dict, table: list[dict]) -> None:
    sample = random.Random(17).sample(table, 80)
    for source in sample:
        name = source["药材"]
        rows = by_record[name]
        for row in rows.values():
            assert name in row["instruction"], row
        for column, (template, frame) in COLUMNS.items():
            value = source[column]
            if template not in rows:
                continue
            assert value, (name, template)  # a row only from a value
            assert rows[template]["output"] == frame.format(name=name) + _sentence(value), (name, template)
        for column in ("症状", "功用", "用法用量", "注意事项"):
            assert (COLUMNS[column][0] in rows) == bool(source[column]), (name, column)
        if "herb.aliases" in rows:
            answer = rows["herb.aliases"]["output"]
            prefix = f"{name}的别名："
            assert answer.startswith(prefix) and source["别名"]
            assert all(alias in source["别名"] for alias in answer[len(prefix):].rstrip("。").split("、")), answer


def test_drifted_values_never_answer_for_the_wrong_field(by_record: dict, table: list[dict]) -> None:
    """性味 in 别名, a class or toxicity in 性味归经, a notice or toxicity in 药材分类: no row asks about them."""
    taste = re.compile(r"^[味性]微?[甘苦辛酸咸淡涩寒热温凉平]|^[甘苦辛酸咸淡涩][，、].*[寒热温凉平]")  # not an alias that only starts with 味
    for source in table:
        rows = by_record[source["药材"]]
        if source["别名"] and taste.search(source["别名"]):
            assert "herb.aliases" not in rows, source
        if source["性味归经"] in ("植物", "动物", "矿物", "无毒", "有毒", "小毒", "大毒", "有小毒", "全国"):
            assert "herb.nature_meridian" not in rows, source
        if source["性味归经"] and source["性味归经"].startswith("味") and "性" in source["性味归经"]:
            assert "herb.nature_meridian" in rows, source
        if source["药材分类"] and ("毒" in source["药材分类"] or "科普" in source["药材分类"]):
            assert "herb.category" not in rows, source
    for rows in by_record.values():
        if "herb.aliases" in rows:
            aliases = rows["herb.aliases"]["output"].split("的别名：", 1)[1].rstrip("。").split("、")
            assert not any(taste.search(a) or a in ("植物", "动物", "无毒", "有毒") for a in aliases), aliases


def _sentence(text: str) -> str:
    """What the `sentence` filter makes of a value: trailing soft marks dropped, one terminal mark."""
    text = text.strip().lstrip(LEADING).rstrip(SOFT_ENDS)
    return text if text.endswith(("。", "！", "？", "!", "?", "…")) else text + "。"
