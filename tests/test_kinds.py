"""Record kinds are data: each new kind (herb 中药, formula 方剂, exam 检查项目) is a schema in schemas/ and a
catalogue in templates/, with no code of its own. Every test runs the real command on records written here, in
two input shapes per kind, and checks the rows against an independent reading of those records."""

import csv
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builder.config import SHIPPED_TEMPLATES
from builder.eval.extract import extract_indications
from builder.expand.render import compile_renderer, make_environment
from schemas import KB_KINDS, RECORD_MODELS
from tests.conftest import run, write_csv, write_json, write_jsonl

NEW_KINDS = ("herb", "formula", "exam")

# ---------------------------------------------------------------------------------------------------------
# Records composed for these tests, each with the field every source column or key is expected to reach.

HERB_CSV_COLUMNS = {"药材": "name", "别名": "aliases", "性味归经": "nature_meridian", "功用": "efficacy",
                    "症状": "indications", "药材分类": "category", "用法用量": "usage_dosage", "注意事项": "precautions"}
HERB_CSV = [
    {"药材": "黄芪", "别名": "黄耆、绵芪、北芪", "性味归经": "甘，微温。归肺、脾经",
     "功用": "补气升阳，固表止汗，利水消肿，托毒生肌。",
     "症状": "主要用于气虚乏力，食少便溏，中气下陷，久泻脱肛，表虚自汗，气虚水肿，痈疽难溃。",
     "药材分类": "植物", "用法用量": "内服：煎汤，9-30g；或入丸、散。",
     "注意事项": "表实邪盛、气滞湿阻、食积停滞、阴虚阳亢者均不宜用。"},
    {"药材": "金银花", "别名": "忍冬花、双花、二宝花", "性味归经": "甘，寒。归肺、心、胃经",
     "功用": "清热解毒，凉散风热。", "症状": "痈肿疔疮，喉痹，丹毒，热毒血痢，风热感冒，温病发热。",
     "药材分类": "植物", "用法用量": "内服：煎汤，6-15g。外用：适量，捣敷。", "注意事项": "脾胃虚寒及气虚疮疡脓清者忌用。"},
    # the drift of scraped herb tables: 性味 in the 别名 column, a class in the 性味归经 one, a notice as 分类
    {"药材": "鸡内金", "别名": "味甘，性平。归脾、胃、小肠、膀胱经", "性味归经": "动物",
     "功用": "健胃消食，涩精止遗，通淋化石。", "症状": "食积不消，呕吐泻痢，小儿疳积，遗尿，遗精，石淋涩痛。",
     "药材分类": "本页面内容仅供中医药知识科普参考，不作为用药依据。", "用法用量": "内服：煎汤，3-10g；研末，每次1.5-3g。",
     "注意事项": ""},
    {"药材": "半夏", "别名": "地文、守田、羊眼半夏", "性味归经": "辛，温；有毒。归脾、胃、肺经",
     "功用": "燥湿化痰，降逆止呕，消痞散结。", "症状": "湿痰寒痰，咳喘痰多，痰饮眩悸，呕吐反胃，胸脘痞闷，梅核气。",
     "药材分类": "有毒", "用法用量": "内服：煎汤，3-9g，一般炮制后使用。外用：适量，磨汁涂或研末以酒调敷。",
     "注意事项": "不宜与川乌、制川乌、草乌、制草乌、附子同用；生品内服宜慎。"},
    {"药材": "薄荷", "别名": "番荷菜、南薄荷", "性味归经": "辛，凉。归肺、肝经", "功用": "宣散风热，清头目，透疹。",
     "症状": "用于风热感冒，风温初起，头痛，目赤，喉痹，口疮，风疹，麻疹，胸胁胀闷。", "药材分类": "植物",
     "用法用量": "内服：煎汤，3-6g，宜后下。", "注意事项": "尚不明确。"},
]
HERB_JSONL_KEYS = {"中药名": "name", "别名": "aliases", "性味": "nature_meridian", "归经": "meridians", "毒性": "toxicity",
                   "功效": "efficacy", "主治": "indications", "用法用量": "usage_dosage", "禁忌": "contraindications",
                   "来源": "origin", "产地": "distribution", "炮制": "processing", "贮藏": "storage", "分类": "category"}
HERB_JSONL = [
    {"中药名": "附子", "别名": ["附片", "盐附子"], "性味": "辛、甘，大热", "归经": "心、肾、脾经", "毒性": "有毒",
     "功效": "回阳救逆，补火助阳，散寒除湿。", "主治": "亡阳虚脱，肢冷脉微，心阳不足，胸痹心痛，虚寒吐泻，阴寒水肿，寒湿痹痛。",
     "用法用量": "3-15g，先煎，久煎。", "禁忌": "孕妇慎用；不宜与半夏、瓜蒌、贝母、白蔹、白及同用。",
     "来源": "毛茛科植物乌头的子根的加工品。", "产地": "主产于四川、陕西。", "炮制": "按加工方法分别制成盐附子、黑顺片和白附片。",
     "贮藏": "盐附子密闭，置阴凉干燥处；黑顺片及白附片置干燥处，防潮。", "分类": "温里药"},
    {"中药名": "当归", "别名": ["干归", "秦归"], "性味": "甘、辛，温", "归经": "肝、心、脾经", "毒性": "无毒",
     "功效": "补血和血，调经止痛，润燥滑肠。", "主治": "血虚萎黄，眩晕心悸，月经不调，经闭痛经，虚寒腹痛，风湿痹痛，跌仆损伤，肠燥便秘。",
     "用法用量": "6-12g。", "来源": "伞形科植物当归的干燥根。", "产地": "主产于甘肃。", "贮藏": "置阴凉干燥处，防潮，防蛀。",
     "分类": "补虚药"},
]
# values the builder must treat as missing: placeholders, and values that are evidently not what their field holds
HERB_REFUSED = {("鸡内金", "aliases"), ("鸡内金", "nature_meridian"), ("鸡内金", "category"), ("半夏", "category"),
                ("薄荷", "precautions")}

FORMULA_KV_KEYS = {"名称": "name", "出处": "source_text", "组成": "ingredients", "用法": "usage", "功用": "efficacy",
                   "主治": "indications", "方解": "analysis", "配伍特点": "compatibility", "加减": "modifications",
                   "注意": "precautions", "方歌": "song"}
FORMULA_KV = [
    {"名称": "小柴胡汤", "出处": "《伤寒论》",
     "组成": "柴胡半斤，黄芩三两，人参三两，甘草三两（炙），半夏半升（洗），生姜三两（切），大枣十二枚（擘）。",
     "用法": "上七味，以水一斗二升，煮取六升，去滓，再煎，取三升，温服一升，日三服。", "功用": "和解少阳。",
     "主治": "伤寒少阳证。往来寒热，胸胁苦满，默默不欲饮食，心烦喜呕，口苦，咽干，目眩，舌苔薄白，脉弦者。",
     "方解": "方中柴胡透泄少阳之邪，为君药；黄芩清泄少阳之热，为臣药；半夏、生姜和胃降逆，人参、大枣益气健脾，为佐药；炙甘草调和诸药，为使药。",
     "配伍特点": "以和解少阳为主，兼补胃气；透散清泄并用，升降协调。",
     "加减": "若胸中烦而不呕，去半夏、人参，加瓜蒌实；若渴，去半夏，加天花粉。", "注意": "阴虚血少者慎用。",
     "方歌": "小柴胡汤和解功，半夏人参甘草从，更加黄芩生姜枣，少阳百病此为宗。"},
    {"名称": "四君子汤", "出处": "《太平惠民和剂局方》", "组成": "人参、白术、茯苓各9g，炙甘草6g。", "用法": "水煎服。",
     "功用": "益气健脾。", "主治": "脾胃气虚证。面色萎白，语声低微，气短乏力，食少便溏，舌淡苔白，脉虚弱。"},
]
FORMULA_JSON_KEYS = {"方名": "name", "别名": "aliases", "分类": "category", "出处": "source_text", "组成": "ingredients",
                     "用法": "usage", "功效": "efficacy", "主治": "indications", "临床应用": "clinical_use",
                     "禁忌": "contraindications", "注意事项": "precautions"}
FORMULA_JSON = [
    {"方名": "银翘散", "别名": "辛凉平剂", "分类": "解表剂", "出处": "《温病条辨》",
     "组成": "连翘一两，银花一两，苦桔梗六钱，薄荷六钱，竹叶四钱，生甘草五钱，荆芥穗四钱，淡豆豉五钱，牛蒡子六钱。",
     "用法": "上杵为散，每服六钱，鲜苇根汤煎，香气大出，即取服，勿过煮。", "功效": "辛凉透表，清热解毒。",
     "主治": "温病初起。发热，微恶风寒，无汗或有汗不畅，头痛口渴，咳嗽咽痛，舌尖红，苔薄白或薄黄，脉浮数。",
     "临床应用": "感冒、流行性感冒、急性扁桃体炎等属温病初起、邪郁肺卫者。", "禁忌": "外感风寒及湿热病初起者禁用。"},
    {"方名": "六味地黄丸", "别名": "地黄丸、六味丸", "分类": "补益剂", "出处": "《小儿药证直诀》",
     "组成": "熟地黄八钱，山萸肉四钱，干山药四钱，泽泻三钱，牡丹皮三钱，茯苓三钱。", "功效": "滋补肝肾。",
     "主治": "肝肾阴虚证。腰膝酸软，头晕目眩，耳鸣耳聋，盗汗，遗精，消渴，骨蒸潮热，手足心热，舌红少苔，脉沉细数。",
     "用法": "上为末，炼蜜为丸，如梧桐子大，空心温水化下三丸。", "注意事项": "脾虚泄泻者慎用。"},
]
FORMULA_REFUSED: set[tuple[str, str]] = set()

EXAM_JSONL_KEYS = {"检查项目": "name", "别名": "aliases", "英文名称": "english_name",
                   "分类": "category", "科室": "department", "简介": "overview", "检查目的": "purpose",
                   "适应证": "indications", "禁忌证": "contraindications", "检查前准备": "preparation",
                   "检查过程": "procedure", "正常值": "reference_range", "临床意义": "clinical_significance",
                   "注意事项": "precautions", "不良反应与风险": "risks"}
EXAM_JSONL = [
    {"检查项目": "血常规", "别名": "CBC、血细胞分析", "英文名称": "Complete Blood Count", "分类": "实验室检查", "科室": "检验科",
     "简介": "通过计数血细胞并观察其形态来了解血液状况的检验。",
     "检查目的": "了解红细胞、白细胞、血小板的数量与形态，辅助诊断贫血、感染和血液系统疾病。",
     "适应证": "发热、乏力、皮肤黏膜出血、疑似感染或贫血者；健康体检。", "检查前准备": "一般无需空腹，采血前避免剧烈运动。",
     "检查过程": "抽取静脉血或末梢血，由血细胞分析仪计数并分类。",
     "正常值": "白细胞计数（3.5～9.5）×10^9/L；血红蛋白男性130～175g/L，女性115～150g/L；血小板计数（125～350）×10^9/L。",
     "临床意义": "白细胞升高见于细菌感染、炎症；白细胞降低见于病毒感染、骨髓抑制；血红蛋白降低提示贫血；血小板减少见于再生障碍性贫血、免疫性血小板减少症。",
     "注意事项": "采血后按压针孔3～5分钟。"},
    {"检查项目": "胃镜检查", "别名": "上消化道内镜检查", "分类": "内镜检查", "科室": "消化内科",
     "检查目的": "直接观察食管、胃和十二指肠黏膜，必要时取活检。", "适应证": "上腹痛、反酸、呕血、黑便，疑似消化性溃疡或上消化道肿瘤者。",
     "禁忌证": "严重心肺功能不全、休克、消化道穿孔急性期、不能配合者。", "检查前准备": "检查前禁食6～8小时，禁水2小时。",
     "检查过程": "咽部局部麻醉后取左侧卧位，内镜经口插入，依次观察食管、胃及十二指肠。",
     "临床意义": "可明确诊断食管炎、胃炎、消化性溃疡、上消化道肿瘤及出血部位。", "不良反应与风险": "咽部不适、腹胀，少数出现出血或穿孔。"},
]
EXAM_KV_KEYS = {"名称": "name", "目的": "purpose", "参考值": "reference_range", "临床意义": "clinical_significance",
                "注意事项": "precautions", "适宜人群": "indications", "科室": "department"}
EXAM_KV = [
    {"名称": "肝功能", "目的": "评估肝细胞损伤、胆汁淤积及肝脏合成功能。",
     "参考值": "谷丙转氨酶（ALT）9～50U/L；谷草转氨酶（AST）15～40U/L；总胆红素3.4～20.5μmol/L。",
     "临床意义": "ALT、AST升高见于急慢性肝炎、药物性肝损伤、脂肪肝；总胆红素升高见于肝细胞性、梗阻性或溶血性黄疸。",
     "注意事项": "检查前一天避免饮酒和高脂饮食，空腹采血。", "适宜人群": "长期饮酒者、服用可能损肝药物者、肝病患者及体检人群。",
     "科室": "检验科"},
    {"名称": "心电图", "目的": "记录心脏电活动，判断心律和心肌供血情况。", "参考值": "窦性心律，心率60～100次/分。",
     "临床意义": "可发现心律失常、心肌缺血、心肌梗死、房室肥大及电解质紊乱等。", "注意事项": "检查时平躺放松，不要说话或移动肢体。",
     "适宜人群": "胸闷、心悸、胸痛者，术前常规检查及体检人群。"},
]
EXAM_REFUSED: set[tuple[str, str]] = set()


def write_kv(path: Path, rows: list[dict]) -> Path:
    """key:value blocks separated by blank lines, the name alone on the first line."""
    blocks = ["\n".join([row["名称"], *(f"{k}:{v}" for k, v in row.items() if k != "名称")]) for row in rows]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Fixture:
    """One kind's inputs: (file writer, records, their keys' fields) per shape, and the values to be refused."""

    shapes: tuple[tuple[str, object, list[dict], dict[str, str]], ...]
    refused: set[tuple[str, str]]

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        return [writer(folder / name, rows) for name, writer, rows, _ in self.shapes]

    def records(self) -> list[dict]:
        """Each record as fields, read with the key tables above, not with the builder's."""
        records = []
        for _, _, rows, keys in self.shapes:
            for row in rows:
                fields: dict = {"aliases": []}
                for key, value in row.items():
                    field = keys[key]
                    if field == "aliases":
                        fields["aliases"] += value if isinstance(value, list) else value.split("、")
                    elif value:
                        fields[field] = value
                name = fields["name"]
                for field in [f for f in fields if (name, f) in self.refused]:
                    fields[field] = [] if field == "aliases" else None
                records.append({k: v for k, v in fields.items() if v})
        return records


FIXTURES = {
    "herb": Fixture((("herb_table.csv", write_csv, HERB_CSV, HERB_CSV_COLUMNS),
                     ("herb_monographs.jsonl", write_jsonl, HERB_JSONL, HERB_JSONL_KEYS)), HERB_REFUSED),
    "formula": Fixture((("formula_blocks.txt", write_kv, FORMULA_KV, FORMULA_KV_KEYS),
                        ("formula_list.json", write_json, FORMULA_JSON, FORMULA_JSON_KEYS)), FORMULA_REFUSED),
    "exam": Fixture((("exam_lines.jsonl", write_jsonl, EXAM_JSONL, EXAM_JSONL_KEYS),
                     ("exam_blocks.txt", write_kv, EXAM_KV, EXAM_KV_KEYS)), EXAM_REFUSED),
}
DISEASES = [{"疾病名称": "普通感冒", "症状": "鼻塞、流涕、咽痛、咳嗽，可伴低热。", "治疗": "以对症治疗为主，注意休息、多饮水。",
             "科室": "呼吸内科"}]


def catalogue(kind: str) -> list[dict]:
    return tomllib.loads((SHIPPED_TEMPLATES / f"{kind}.toml").read_text(encoding="utf-8"))["templates"]


def rows_of(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def kb_flags(kind: str, paths: list[Path]) -> list[str]:
    return [flag for path in paths for flag in ("--kb", f"{kind}={path}")]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One build per new kind, from both of its files."""
    outs = {}
    for kind, fixture in FIXTURES.items():
        folder = tmp_path_factory.mktemp(kind)
        result = run("build", *kb_flags(kind, fixture.write(folder / "in")), "--out", folder / "out",
                     "--seed", "3", "--workers", "1", "--quiet")
        assert result.exit_code == 0, result.output
        outs[kind] = folder / "out"
    return outs


def row_key(row: dict) -> tuple:
    return row["record_id"], row["template_id"], row["variant"], row["instruction"], row["output"]


def applies(template: dict, record: dict) -> bool:
    return all(record.get(field) for field in template["requires"])


def record_of(row: dict, records: list[dict]) -> dict:
    """The record a row is about: the one whose name its question carries (no name here is part of another)."""
    found = [r for r in records if r["name"] in row["instruction"]]
    assert len(found) == 1, row
    return found[0]


def frame_characters(template: dict) -> set[str]:
    """The characters an answer may add to record text: its template's literal text, and what `sentence` and
    `join('、')` put between values."""
    literal = re.sub(r"{{.*?}}|{%.*?%}", "", template["answer"], flags=re.DOTALL)
    return set(literal) | {"。", "、"}


# ---------------------------------------------------------------------------------------------------------
# The kinds as data


def test_every_shipped_kind_has_a_catalogue_and_every_catalogue_a_kind() -> None:
    kinds = {kind for kind in RECORD_MODELS if kind != "qa"}
    files = {path.stem for path in SHIPPED_TEMPLATES.glob("*.toml")}
    assert set(NEW_KINDS) <= kinds == set(KB_KINDS)
    assert kinds == files, f"kinds without a catalogue: {kinds - files}; catalogues without a kind: {files - kinds}"
    for kind in kinds:
        data = tomllib.loads((SHIPPED_TEMPLATES / f"{kind}.toml").read_text(encoding="utf-8"))
        model = RECORD_MODELS[kind]
        assert data["kind"] == kind and all(t["id"].startswith(f"{kind}.") for t in data["templates"])
        assert model.label and set(model.source_names) <= set(model.model_fields), kind
        for field, question in model.eval_questions:
            assert field in model.model_fields and "{name}" in question, (kind, field)


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_every_field_has_source_names_and_a_template(kind: str) -> None:
    model = RECORD_MODELS[kind]
    assert set(model.source_names) == set(model.model_fields)
    asked = {field for template in catalogue(kind) for field in template["requires"]}
    assert asked == set(model.model_fields) - {"name"}, "a field no template asks about, or a template for nothing"


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_fields_lists_the_kind(kind: str) -> None:
    result = run("fields", kind)
    assert result.exit_code == 0, result.output
    listed = {line.split()[0]: line for line in result.output.splitlines()[1:] if line.strip()}
    assert result.output.startswith(f"[{kind}]  required: name")
    assert set(listed) == set(RECORD_MODELS[kind].model_fields)
    for _, _, _, keys in FIXTURES[kind].shapes:  # every key of the fixtures, under the field it is meant for
        for key, field in keys.items():
            assert key in listed[field].split()[1].split("、"), (key, field)


def test_herb_table_symptoms_are_indications_by_default() -> None:
    """In a herb table 症状 is what the herb treats; a herb has no symptoms of its own to confuse it with."""
    result = run("fields", "herb")
    indications = next(line for line in result.output.splitlines() if line.split()[0] == "indications")
    assert "症状" in indications


def test_templates_lint_is_clean() -> None:
    result = run("templates", "lint")
    assert result.exit_code == 0 and result.output.startswith("ok: "), result.output
    for kind in NEW_KINDS:
        single = run("templates", "lint", SHIPPED_TEMPLATES / f"{kind}.toml")
        assert single.exit_code == 0 and f"ok: {len(catalogue(kind))} templates" in single.output, single.output


def phrasing(question: str | dict) -> str:
    """A phrasing's template: the string, or the `text` of a phrasing table (`{ text, requires, states }`)."""
    return question["text"] if isinstance(question, dict) else question


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_catalogue_phrasings_follow_the_rules(kind: str) -> None:
    """At least six phrasings each, every one naming the entity and nothing else of the record; no route verbs."""
    for template in catalogue(kind):
        questions = [phrasing(q) for q in template["questions"]]
        assert len(questions) >= 6 and len(set(questions)) == len(questions), template["id"]
        for question in questions:
            assert "{{ name }}" in question and question.endswith(("？", "。")), question
            assert set(re.findall(r"{{\s*(\w+)", question)) == {"name"}, question
            assert not re.search(r"[吃喝]", question), question
        assert template["requires"] and template["version"], template["id"]


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_fast_renderer_matches_jinja_on_the_new_catalogues(kind: str) -> None:
    env = make_environment()
    records = [{**dict.fromkeys(RECORD_MODELS[kind].model_fields), **record, "aliases": record.get("aliases", [])}
               for record in FIXTURES[kind].records()]
    for template in catalogue(kind):
        for source in [*map(phrasing, template["questions"]), template["answer"]]:
            ast = env.parse(source)
            fast = compile_renderer(env, ast)
            assert fast.__qualname__ == "render", source  # the shipped templates all take the fast path
            for record in (r for r in records if applies(template, r)):
                assert fast(record) == env.from_string(source).render(record)


# ---------------------------------------------------------------------------------------------------------
# Builds


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_rows_exist_for_every_template_the_records_fill(kind: str, built: dict[str, Path]) -> None:
    records = FIXTURES[kind].records()
    rows = rows_of(built[kind])
    expected = {t["id"]: sum(applies(t, r) for r in records) for t in catalogue(kind)}
    found = {t: sum(1 for row in rows if row["template_id"] == t) for t in expected}
    assert found == expected
    assert {row["kind"] for row in rows} == {kind} and all(expected.values()), "every template is exercised"


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_every_answer_is_the_records_own_text(kind: str, built: dict[str, Path]) -> None:
    """Faithful: the question names the entity, the answer holds each required field's text, and what is left
    once the record's text is taken out is nothing but the template's own frame."""
    records = FIXTURES[kind].records()
    templates = {t["id"]: t for t in catalogue(kind)}
    for row in rows_of(built[kind]):
        record, template = record_of(row, records), templates[row["template_id"]]
        assert record["name"] in row["instruction"] and row["input"] == ""
        for field in template["requires"]:
            values = record[field] if field == "aliases" else [record[field].rstrip("。")]
            assert all(value in row["output"] for value in values), (field, row)
        rest = row["output"]
        texts = [v for f, v in record.items() if f != "aliases"] + record.get("aliases", [])
        for text in sorted((t.rstrip("。") for t in texts), key=len, reverse=True):
            rest = rest.replace(text, "")
        assert set(rest) <= frame_characters(template), (rest, row)


def test_herb_values_that_are_not_what_their_field_holds_are_missing(built: dict[str, Path]) -> None:
    rows = rows_of(built["herb"])
    about = {(row["template_id"], name) for row in rows for name in ("鸡内金", "半夏", "薄荷") if name in row["instruction"]}
    assert ("herb.aliases", "鸡内金") not in about and ("herb.nature_meridian", "鸡内金") not in about
    assert ("herb.category", "鸡内金") not in about and ("herb.category", "半夏") not in about
    assert ("herb.precautions", "薄荷") not in about  # "尚不明确。" says nothing
    assert {("herb.efficacy", "鸡内金"), ("herb.indications", "鸡内金"), ("herb.aliases", "半夏")} <= about
    outputs = "".join(row["output"] for row in rows)
    assert "科普" not in outputs and "动物" not in outputs and "药材分类：有毒" not in outputs


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_coverage_and_ledger_in_the_manifest(kind: str, built: dict[str, Path]) -> None:
    manifest = manifest_of(built[kind])
    records = FIXTURES[kind].records()
    assert manifest["reconciles"] is True
    assert sum(s["read"] for s in manifest["sources"].values()) == len(records)
    for name, counts in manifest["sources"].items():
        assert counts["read"] == counts["kept"] + counts["rejected"] and counts["rejected"] == 0, name
        assert counts["unmapped_columns"] == {}, name  # every key of these files has a field
    for template in catalogue(kind):
        coverage = manifest["coverage"][template["id"]]
        assert coverage["eligible"] == len(records)
        assert coverage["rendered"] == sum(applies(template, r) for r in records), template["id"]
        assert coverage["rendered"] + coverage["skipped"] == len(records)
        assert coverage["no_source_has"] == []
    assert manifest["templates"]["entries"] == {kind: [t["id"] for t in catalogue(kind)]}
    assert [Path(f).name for f in manifest["templates"]["files"]] == [f"{kind}.toml"]


def test_a_users_mapping_wins_over_the_kinds_table(tmp_path: Path) -> None:
    """`--map 症状=` drops the herb table's 症状 column on purpose, `--map 功用=indications` moves 功用."""
    path = write_csv(tmp_path / "herbs.csv", HERB_CSV)
    out = tmp_path / "out"
    result = run("build", "--kb", f"herb={path}", "--map", "症状=", "--map", "功用=indications", "--out", out,
                 "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    indications = {row["output"] for row in rows if row["template_id"] == "herb.indications"}
    assert indications == {f"{r['药材']}的主治：{r['功用']}" for r in HERB_CSV}
    assert not any(row["template_id"] == "herb.efficacy" for row in rows)
    assert not any(r["症状"].rstrip("。") in row["output"] for r in HERB_CSV for row in rows)
    assert manifest_of(out)["coverage"]["herb.efficacy"]["no_source_has"] == ["efficacy"]


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_eval_build_works_for_the_kind_and_holds_its_entities_out(kind: str, tmp_path: Path) -> None:
    paths = FIXTURES[kind].write(tmp_path / "in")
    target = tmp_path / "eval" / "eval.csv"
    result = run("eval", "build", *kb_flags(kind, paths), "--n", "10", "--seed", "1", "--out", target)
    assert result.exit_code == 0, result.output
    model, records = RECORD_MODELS[kind], FIXTURES[kind].records()
    items = [json.loads(line) for line in target.with_suffix(".jsonl").read_text(encoding="utf-8").splitlines()]
    expected = {(r["name"], question.format(name=r["name"]), r[field])  # a question needs a gold list to score
                for r in records for field, question in model.eval_questions
                if r.get(field) and extract_indications(r[field])}
    assert {(i["entity"], i["question"], i["reference"]) for i in items} == expected and expected
    assert all(i["kind"] == kind and i["gold"] == extract_indications(i["reference"]) for i in items)
    per_kind = target.with_name(f"eval.{kind}.csv")
    with per_kind.open(encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == [model.label, "参考答案", "自动抽取", "instruction"] and len(table) == len(items) + 1
    out = tmp_path / "out"
    build = run("build", *kb_flags(kind, paths), "--eval-set", per_kind, "--out", out, "--workers", "1", "--quiet",
                "--allow-empty")
    assert build.exit_code == 0, build.output
    sources = manifest_of(out)["sources"].values()
    held = sum(s["rejected_by_reason"].get("decontaminate:eval_entity", 0) for s in sources)
    assert held == len({i["entity"] for i in items})


def test_a_build_mixing_the_new_kinds_with_drugs_and_diseases(tmp_path: Path, drug_file: Path,
                                                               built: dict[str, Path]) -> None:
    """Drugs, diseases and the new kinds in one build (two workers): each new kind gives the very rows it
    gives alone."""
    flags = ["--kb", f"drug={drug_file}", "--kb", f"disease={write_jsonl(tmp_path / 'diseases.jsonl', DISEASES)}"]
    for kind, fixture in FIXTURES.items():
        flags += kb_flags(kind, fixture.write(tmp_path / kind))
    out = tmp_path / "out"
    result = run("build", *flags, "--out", out, "--seed", "3", "--workers", "2", "--quiet")
    assert result.exit_code == 0, result.output
    rows, manifest = rows_of(out), manifest_of(out)
    assert {row["kind"] for row in rows} == {"drug", "disease", *NEW_KINDS}
    assert all(row["template_id"].startswith(f"{row['kind']}.") for row in rows)
    assert manifest["reconciles"] is True
    assert set(manifest["templates"]["entries"]) == {"drug", "disease", *NEW_KINDS}
    for kind in NEW_KINDS:
        mixed = sorted(row_key(row) for row in rows if row["kind"] == kind)
        assert mixed == sorted(row_key(row) for row in rows_of(built[kind])) and mixed, kind
        assert {t["id"] for t in catalogue(kind)} <= set(manifest["coverage"]), kind
