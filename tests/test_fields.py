"""Field mapping: the built-in table (each kind's `source_names` plus schemas/field_names.toml), the user's mapping
over it, several columns feeding one field with their labels, and what the build says about columns it left out.

The builds run the real CLI on small tables written here and read the Parquet rows and manifest they wrote.
"""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builder.errors import UserError
from builder.validate.fields import (
    ALIASES,
    BUILTIN,
    check_user_mapping,
    normalise_key,
    require_fields,
    resolve_columns,
    suggest_field,
)
from schemas import RECORD_MODELS
from tests.conftest import run, write_csv

HERBS = [  # 性味 and 归经 in two columns; 紫苏's 归经 is a placeholder, 甘草 has no 性味
    {"药材": "浮萍", "别名": "水萍", "性味": "辛，寒", "归经": "肺经", "功用": "宣散风热，透疹，利尿。",
     "症状": "用于麻疹不透，风疹瘙痒。"},
    {"药材": "薄荷", "别名": "", "性味": "辛，凉", "归经": "肺、肝经", "功用": "疏散风热，清利头目。",
     "症状": "用于风热感冒，头痛目赤。"},
    {"药材": "紫苏", "别名": "赤苏", "性味": "辛，温", "归经": "暂无", "功用": "解表散寒，行气和胃。",
     "症状": "用于风寒感冒，咳嗽呕恶。"},
    {"药材": "甘草", "别名": "国老", "性味": "", "归经": "脾、胃、心经", "功用": "补脾益气，清热解毒。",
     "症状": "用于脾胃虚弱，倦怠乏力。"},
]
# a disease knowledge graph with English keys (QASystemOnMedicalKG's medical.json style); every value is distinct,
# so a row can be traced to the column its answer came from
DISEASES = [
    {"name": "肺炎", "desc": "肺炎是肺实质的炎症。", "category": ["疾病百科", "呼吸系统"], "symptom": ["发热", "咳嗽"],
     "drug": ["阿莫西林胶囊"], "checklist": ["胸部X线"], "treatment": ["抗感染治疗"], "complication": ["胸腔积液"],
     "cure_department": ["呼吸内科"], "cause": "细菌或病毒感染。", "prevent": "接种肺炎疫苗。",
     "easy_get": "老年人", "get_way": "飞沫传播", "cured_prob": "85%", "cure_lasttime": "7-14天",
     "do_eat": ["鸡蛋羹"], "not_eat": ["辣椒"], "yibao_status": "属于医保", "symptom_detail": "起病急骤"},
    {"name": "胃炎", "desc": "胃炎是胃黏膜的炎症。", "symptom": ["上腹痛"], "drug": ["奥美拉唑肠溶胶囊"],
     "checklist": ["胃镜检查"], "treatment": ["抑酸治疗"], "complication": ["上消化道出血"],
     "cure_department": ["消化内科"], "cause": "幽门螺杆菌感染。", "prevent": "规律饮食。", "easy_get": "中年人",
     "get_way": "无传染性", "cured_prob": "90%", "not_eat": ["烈酒"], "yibao_status": "不在医保内"},
]
# the columns each template's answer may hold (overview also gives the department, population and transmission)
TEMPLATE_COLUMNS = {
    "disease.overview": {"desc", "cure_department", "easy_get", "get_way"}, "disease.symptoms": {"symptom"}, "disease.drugs": {"drug"},
    "disease.exams": {"checklist"}, "disease.treatments": {"treatment"}, "disease.complications": {"complication"},
    "disease.department": {"cure_department"}, "disease.causes": {"cause"}, "disease.prevention": {"prevent"},
    "disease.susceptible_population": {"easy_get"}, "disease.transmission": {"get_way"},
    "disease.prognosis": {"cured_prob", "cure_lasttime"}, "disease.diet": {"do_eat", "not_eat"},
}


def build(tmp_path: Path, *args: str, out: str = "out", quiet: bool = True) -> tuple[Path, str]:
    result = run("build", *args, "--out", tmp_path / out, "--workers", "1", *(["--quiet"] if quiet else []))
    assert result.exit_code == 0, result.output
    return tmp_path / out, result.output


def rows_of(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def answers(out: Path, template: str, frame: str) -> dict[str, str]:
    """Each entity's answer text for one template, after its frame ("{name}的性味归经："), without the closing mark."""
    found = {}
    for row in rows_of(out):
        if row["template_id"] == template:
            name, text = row["output"].split(frame, 1)
            found[name] = text.removesuffix("。")
    return found


# ---------------------------------------------------------------- the table and the rules


def test_builtin_names_map_chinese_english_and_pinyin_columns() -> None:
    mapping, unmapped = resolve_columns("drug", ["药品名称", "适应证", "禁忌症", "功能主治 ", "产地"], {})
    # 适应证 and 功能主治 both mean indications: both feed it (joined with their labels), neither is lost
    assert mapping == {"药品名称": "name", "适应证": "indications", "禁忌症": "contraindications",
                       "功能主治 ": "indications"}
    assert unmapped == ["产地"]
    medical_json = ["name", "desc", "category", "prevent", "cause", "symptom", "yibao_status", "get_prob", "easy_get",
                    "get_way", "acompany", "cure_department", "cure_way", "cure_lasttime", "cured_prob", "common_drug",
                    "recommand_drug", "check", "do_eat", "not_eat"]
    mapping, unmapped = resolve_columns("disease", medical_json, {})
    assert mapping == {"name": "name", "desc": "overview", "prevent": "prevention", "cause": "causes",
                       "symptom": "symptoms", "easy_get": "susceptible_population", "get_way": "transmission",
                       "acompany": "complications", "cure_department": "department", "cure_way": "treatments",
                       "cure_lasttime": "prognosis", "cured_prob": "prognosis", "common_drug": "drugs",
                       "recommand_drug": "drugs", "check": "exams", "do_eat": "diet", "not_eat": "diet"}
    assert unmapped == ["category", "yibao_status", "get_prob"]  # no disease field holds them
    assert resolve_columns("disease", ["Zheng_Zhuang", "drugs", "check-list", "Treatment："], {})[0] == {
        "Zheng_Zhuang": "symptoms", "drugs": "drugs", "check-list": "exams", "Treatment：": "treatments"}


def test_formula_tables_keep_indications_in_主治病症_or_症状() -> None:
    assert resolve_columns("formula", ["方名", "主治病症"], {})[0] == {"方名": "name", "主治病症": "indications"}
    assert resolve_columns("formula", ["方剂", "症状", "组成"], {})[0] == {
        "方剂": "name", "症状": "indications", "组成": "ingredients"}


def test_no_name_maps_to_two_fields_of_one_kind() -> None:
    for kind, fields in ALIASES.items():
        claimed: dict[str, str] = {}
        for field, names in fields.items():
            for name in names:
                assert claimed.setdefault(normalise_key(name), field) == field, (kind, name, claimed[normalise_key(name)])


def test_each_kind_keeps_its_own_source_names_and_the_file_names_only_real_fields() -> None:
    import tomllib
    from importlib import resources
    names = tomllib.loads(resources.files("schemas").joinpath("field_names.toml").read_text(encoding="utf-8"))
    for kind, model in RECORD_MODELS.items():
        for field, own in model.source_names.items():
            assert all(BUILTIN[kind][normalise_key(name)] == field for name in own), (kind, field)
        assert set(names.get(kind, {})) <= set(model.model_fields), kind
    assert set(names) - {"labels", "kb"} <= set(RECORD_MODELS)
    assert set(names["kb"]) == {"name", "aliases"}


def test_the_user_decides_first() -> None:
    # a single-column field goes to the user's column even when a built-in name claims it first
    mapping, unmapped = resolve_columns("drug", ["药品名称", "通用名", "适应证"], {"通用名": "name"})
    assert mapping == {"通用名": "name", "适应证": "indications"} and unmapped == ["药品名称"]
    # a text field takes the user's column beside the built-in one; an empty target drops a column on purpose
    mapping, unmapped = resolve_columns("drug", ["药材", "性味", "症状", "功用", "经络"],
                                        {"经络": "nature_meridian", "功用": "", "症状": "indications"})
    assert mapping == {"药材": "name", "性味": "nature_meridian", "症状": "indications", "经络": "nature_meridian"}
    assert unmapped == []
    # spellings of one name are one claimant: both feed the field, and nothing is reported
    mapping, unmapped = resolve_columns("qa", ["Answer", "answer", "ask", "回答"], {})
    assert mapping == {"Answer": "answer", "answer": "answer", "ask": "question"} and unmapped == ["回答"]


def test_qa_aliases() -> None:
    mapping, _ = resolve_columns("qa", ["department", "title", "ask", "answer"], {})
    assert mapping == {"department": "department", "title": "title", "ask": "question", "answer": "answer"}


def test_keys_match_across_width_case_and_colons() -> None:
    assert normalise_key("Ａｓｋ：") == normalise_key("ask") == "ask"


def test_a_column_gets_the_field_its_name_most_resembles() -> None:
    assert suggest_field("herb", "药材产地") == "distribution"  # a Chinese name's head comes last
    assert suggest_field("herb", "主要功效") == "efficacy"
    assert suggest_field("disease", "symptom_detail") == "symptoms"
    assert suggest_field("disease", "Symptons") == "symptoms"  # a near spelling
    assert suggest_field("disease", "yibao_status") is None  # 医保疾病 is not a disease's name, nor any field
    assert suggest_field("disease", "cost_money") is None  # 治疗费用 is no treatment
    assert suggest_field("drug", "症状") == "indications"  # the head of 主治症状
    assert suggest_field("disease", "表现") == "symptoms"  # the head of 临床表现
    assert suggest_field("drug", "药品名") is None  # required fields have their own error and hint


def test_user_mapping_to_an_unknown_field_is_refused() -> None:
    with pytest.raises(UserError, match="'indication' is not a drug field"):
        check_user_mapping("drug", {"症状": "indication"}, "config.toml")


def test_unmappable_source_lists_its_columns_and_the_flag() -> None:
    with pytest.raises(UserError) as error:
        require_fields("qa", set(), ["病人描述", "医生建议"], "qa.csv")
    message = str(error.value)
    assert "qa.csv: field 'question'" in message
    assert "its columns are: 病人描述, 医生建议" in message
    assert "--map 病人描述=question" in message


# ---------------------------------------------------------------- builds


def test_性味_and_归经_feed_one_drug_field_with_their_labels(tmp_path: Path) -> None:
    herbs = write_csv(tmp_path / "herbs.csv", HERBS)
    out, _ = build(tmp_path, "--kb", f"drug={herbs}")
    assert answers(out, "drug.nature_meridian", "的性味归经：") == {
        "浮萍": "性味：辛，寒；归经：肺经",
        "薄荷": "性味：辛，凉；归经：肺、肝经",
        "紫苏": "性味：辛，温",  # 归经 says nothing (暂无): its label goes with it
        "甘草": "归经：脾、胃、心经",  # only 归经: that part, with its label
    }
    assert manifest_of(out)["sources"]["herbs"]["unmapped_columns"] == {"症状": 4}  # a drug's 症状 needs a --map


def test_a_herb_table_fills_the_herb_kinds_separate_fields_unjoined(tmp_path: Path) -> None:
    herbs = write_csv(tmp_path / "herbs.csv", HERBS)
    out, _ = build(tmp_path, "--kb", f"herb={herbs}")
    assert answers(out, "herb.nature_meridian", "的性味归经：") == {"浮萍": "辛，寒", "薄荷": "辛，凉", "紫苏": "辛，温"}
    assert answers(out, "herb.meridians", "的归经：") == {"浮萍": "肺经", "薄荷": "肺、肝经", "甘草": "脾、胃、心经"}
    assert not any("；归经：" in row["output"] or "：性味：" in row["output"] for row in rows_of(out))


def test_a_users_map_wins_over_the_builtin_claim(tmp_path: Path) -> None:
    table = [{"药品名称": "对乙酰氨基酚片", "通用名": "对乙酰氨基酚", "适应证": "用于普通感冒引起的发热。"}]
    source = write_csv(tmp_path / "drugs.csv", table)
    out, _ = build(tmp_path, "--kb", f"drug={source}", out="builtin")
    assert rows_of(out) and all("对乙酰氨基酚片" in row["output"] for row in rows_of(out))
    assert manifest_of(out)["sources"]["drugs"]["unmapped_columns"] == {"通用名": 1}
    out, _ = build(tmp_path, "--kb", f"drug={source}", "--map", "通用名=name", out="mapped")
    assert rows_of(out) and not any("对乙酰氨基酚片" in row["output"] for row in rows_of(out))
    assert all("对乙酰氨基酚" in row["output"] for row in rows_of(out))
    assert manifest_of(out)["sources"]["drugs"]["unmapped_columns"] == {"药品名称": 1}


def test_a_users_map_adds_a_column_to_a_field_the_table_fills(tmp_path: Path) -> None:
    table = [{"药材": "浮萍", "性味": "辛，寒", "经络": "肺经"}, {"药材": "薄荷", "性味": "辛，凉", "经络": "肺、肝经"}]
    source = write_csv(tmp_path / "herbs.csv", table)
    out, output = build(tmp_path, "--kb", f"drug={source}", out="plain", quiet=False)
    assert answers(out, "drug.nature_meridian", "的性味归经：") == {"浮萍": "辛，寒", "薄荷": "辛，凉"}
    assert "--map 经络=" in output
    out, _ = build(tmp_path, "--kb", f"drug={source}", "--map", "经络=nature_meridian", out="joined")
    assert answers(out, "drug.nature_meridian", "的性味归经：") == {
        "浮萍": "性味：辛，寒；经络：肺经", "薄荷": "性味：辛，凉；经络：肺、肝经"}
    out, _ = build(tmp_path, "--kb", f"drug={source}", "--map", "经络=nature_meridian", "--map", "性味=", out="only")
    assert answers(out, "drug.nature_meridian", "的性味归经：") == {"浮萍": "肺经", "薄荷": "肺、肝经"}
    assert manifest_of(out)["sources"]["herbs"]["unmapped_columns"] == {}


def test_english_headers_answer_each_question_from_its_own_column(tmp_path: Path) -> None:
    source = tmp_path / "diseases.json"
    source.write_text(json.dumps(DISEASES, ensure_ascii=False), encoding="utf-8")
    out, output = build(tmp_path, "--kb", f"disease={source}", quiet=False)
    rows = rows_of(out)
    assert {row["template_id"] for row in rows} == set(TEMPLATE_COLUMNS)
    for row in rows:
        record = next(record for record in DISEASES if record["name"] in row["instruction"])
        fed_by = TEMPLATE_COLUMNS[row["template_id"]]
        for column, value in record.items():
            if column == "name":
                continue
            values = value if isinstance(value, list) else [value]
            shown = [v for v in values if v in row["output"]]
            if column in fed_by:
                assert shown == values, (row, column)
            else:
                assert not shown, (row, column)  # no other column's text in this answer
    prognosis = answers(out, "disease.prognosis", "的预后：")
    assert prognosis == {"肺炎": "治愈率：85%；治疗周期：7-14天", "胃炎": "治愈率：90%"}
    assert answers(out, "disease.diet", "的饮食注意事项：") == {"肺炎": "宜食：鸡蛋羹；忌食：辣椒", "胃炎": "忌食：烈酒"}
    # the columns no field takes are on the terminal, each with the flag that would keep it
    assert "unmapped columns" in output
    assert "category" in output and "--map category=FIELD" in output
    assert "--map yibao_status=FIELD" in output
    assert "--map symptom_detail=symptoms" in output
    advice = manifest_of(out)["source_fields"]
    assert [c["column"] for c in advice["unmapped"]["diseases"]] == ["category", "yibao_status", "symptom_detail"]
    assert advice["unmapped"]["diseases"][1] == {"column": "yibao_status", "values": 2, "field": None,
                                                 "map": "--map yibao_status=FIELD"}
    assert advice["dominant_templates"] == [] and "warning:" not in output
    report = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert "Unmapped columns" in report and "--map symptom_detail=symptoms" in report


def test_quiet_prints_no_summary(tmp_path: Path) -> None:
    source = tmp_path / "diseases.json"
    source.write_text(json.dumps(DISEASES, ensure_ascii=False), encoding="utf-8")
    result = run("build", "--kb", f"disease={source}", "--out", tmp_path / "out", "--workers", "1", "--quiet")
    assert result.exit_code == 0 and result.output == ""
    assert manifest_of(tmp_path / "out")["source_fields"]["unmapped"]["diseases"]  # the manifest still says it


def test_one_trivial_template_dominating_a_kind_is_warned(tmp_path: Path) -> None:
    table = [{"疾病名称": f"病{i}", "就诊科室": "内科", "表现": f"症{i}", "用药情况": f"药{i}"} for i in range(8)]
    source = write_csv(tmp_path / "diseases.csv", table)
    out, output = build(tmp_path, "--kb", f"disease={source}", quiet=False)
    found = manifest_of(out)["source_fields"]["dominant_templates"]
    assert len(found) == 1
    warning = found[0]
    assert warning["kind"] == "disease" and warning["template"] == "disease.department"
    assert warning["rows"] == 8 and warning["share"] > 0.5 and warning["templates"] > 1
    assert warning["mapped_fields"] == ["department", "name"]
    assert warning["unmapped_columns"] == ["表现", "用药情况"]
    assert "--map 表现=symptoms" in output and "--map 用药情况=FIELD" in output
    lines = [line for line in output.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1
    assert "disease.department" in lines[0] and f"{warning['share']:.0%}" in lines[0] and "表现, 用药情况" in lines[0]
    assert "Unmapped columns" in (out / "report" / "index.html").read_text(encoding="utf-8")
    # mapped, the same table spreads over several templates and the warning goes
    out, output = build(tmp_path, "--kb", f"disease={source}", "--map", "表现=symptoms", "--map", "用药情况=drugs",
                        out="mapped", quiet=False)
    assert manifest_of(out)["source_fields"] == {"unmapped": {}, "dominant_templates": []}
    assert "warning:" not in output and "unmapped columns" not in output
