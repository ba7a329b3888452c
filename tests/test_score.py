"""Scoring: the matcher, QiZhen's three criteria, reading answers files, and the table and audit."""

import csv
import json
from pathlib import Path

import pytest

from builder.errors import UserError
from builder.eval.answers import read_answers
from builder.eval.match import Matcher, load_synonyms
from builder.eval.score import criteria, format_table, score, write_audit_csv
from builder.eval.sets import load_eval_set
from tests.conftest import write_jsonl

EVAL_ROWS = [
    ("布洛芬片", "<p>用于缓解轻至中度疼痛如头痛、关节痛、偏头痛、牙痛。</p>", "头痛|关节痛|偏头痛|牙痛"),
    ("卡托普利片", "<p>本品适用于高血压，心力衰竭。</p>", "高血压|心力衰竭"),
    ("氯雷他定片", "<p>用于缓解过敏性鼻炎有关的症状，也适用于慢性荨麻疹。</p>", "过敏性鼻炎|慢性荨麻疹|瘙痒性皮肤病|湿疹"),
]


@pytest.fixture
def eval_csv(tmp_path: Path) -> Path:
    path = tmp_path / "药品适应症评测数据集.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["药品", "药品适应症", "医学专家标注的适应病症", "instruction"])
        for drug, text, gold in EVAL_ROWS:
            writer.writerow([drug, text, gold, f"{drug}的适应病症"])
    return path


@pytest.fixture
def matcher() -> Matcher:
    return Matcher(load_synonyms())


def how(matcher: Matcher, label: str, answer: str) -> str | None:
    return matcher.match(label, answer).how


# ---------------------------------------------------------------- matcher


def test_exact_match_after_folding(matcher: Matcher) -> None:
    hit = matcher.match("HIV-1感染", "本品用于治疗ｈｉｖ－１ 感染的成人。")
    assert (hit.how, hit.matched) == ("exact", "ｈｉｖ－１ 感染")
    assert how(matcher, "高血压", "本品用于心绞痛。") is None
    assert how(matcher, "经前期综合征", "可用于经前期综合症。") == "exact"  # a spelling variant


def test_synonym_from_default_table_and_user_file(tmp_path: Path) -> None:
    default = Matcher(load_synonyms())
    assert default.match("烟草成瘾", "本品适用于成人戒烟。").matched == "戒烟"
    assert how(default, "烟草成瘾", "本品适用于成人戒烟。") == "synonym"
    assert how(default, "帕金森病", "用于震颤麻痹") == "synonym"
    assert how(default, "药源性锥体外系疾患", "也可用于药物引起的锥体外系疾患。") == "synonym"  # term inside a label
    assert how(default, "胃灼热", "用于烧心") is None
    toml = tmp_path / "extra.toml"
    toml.write_text('groups = [["胃灼热", "烧心"]]\n[aliases]\n"消化不良" = "积食"\n', encoding="utf-8")
    extended = Matcher(load_synonyms(toml))
    assert how(extended, "胃灼热", "用于烧心") == "synonym"
    assert how(extended, "积食", "用于消化不良") == "synonym"  # groups are symmetric
    assert how(extended, "烟草成瘾", "用于戒烟") == "synonym"  # the default table is kept
    table = tmp_path / "extra.csv"
    table.write_text("term,aliases\n胃灼热,烧心|心口烧\n", encoding="utf-8")
    assert how(Matcher(load_synonyms(table)), "心口烧", "用于胃灼热") == "synonym"


def test_bad_synonym_file_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("groups = [1, 2]\n", encoding="utf-8")
    with pytest.raises(UserError, match="groups"):
        load_synonyms(bad)
    with pytest.raises(UserError, match="not found"):
        load_synonyms(tmp_path / "missing.toml")


def test_containment_both_ways(matcher: Matcher) -> None:
    # the answer holds the label's core (generic suffix removed)
    assert matcher.match("抑郁症", "用于治疗抑郁和焦虑。").matched == "抑郁"
    assert how(matcher, "皮肤瘙痒症", "用于皮肤瘙痒的对症治疗") == "contains"
    assert how(matcher, "厌氧菌感染", "用于厌氧菌所致的腹腔感染") == "contains"
    # a phrase of the answer inside the label, covering at least 70 % of it
    hit = matcher.match("轻度原发性高血压", "本品用于原发性高血压。")
    assert (hit.how, hit.matched) == ("contains", "原发性高血压")
    assert how(matcher, "骨关节感染", "适用于关节感染") == "contains"
    assert how(matcher, "非ST段抬高心肌梗死", "适用于ST段抬高心肌梗死患者") is None  # the short form drops 非
    # too little of the label, or a core too generic, is not a hit
    assert how(matcher, "轻度原发性高血压", "本品用于高血压。") is None
    assert how(matcher, "血清病", "检测血清") is None
    assert how(matcher, "肠道感染", "改善肠道功能") is None
    assert how(matcher, "急性肝炎", "用于慢性肝炎") is None
    assert how(matcher, "慢性肾病", "用于慢性肾炎") is None  # the core 慢性肾 is part of another term


def test_no_edit_distance_credit() -> None:
    bare = Matcher({})  # without the synonym table a typo is a different word: no fuzzy windows
    assert bare.match("急性非特异性踺鞘炎", "用于急性非特异性腱鞘炎、急性痛风性关节炎。").how is None
    assert bare.match("严重银屑病", "用于严重的银屑病").how == "loose"  # 的 dropped
    assert bare.match("先天性低增生性贫血", "先天性（红细胞）低增生性贫血").how == "loose"  # an aside dropped
    hit = Matcher(load_synonyms()).match("急性非特异性踺鞘炎", "用于急性非特异性腱鞘炎、急性痛风性关节炎。")
    assert (hit.how, hit.matched) == ("synonym", "急性非特异性腱鞘炎")


@pytest.mark.parametrize(
    ("label", "answer", "matched"),
    [
        ("胃溃疡", "用于胃、十二指肠溃疡及慢性胃炎", "胃、十二指肠溃疡"),
        ("肾绞痛", "适用于胆、肾、肠等绞痛。", "肾、肠等绞痛"),
        ("择期髋关节置换手术", "用于择期髋关节或膝关节置换手术成年患者", "择期髋关节或膝关节置换手术"),
        ("镰刀菌属严重感染", "治疗由足放线病菌属和镰刀菌属引起的严重感染。", "镰刀菌属引起的严重感染"),
        ("急性肝炎", "本品用于急、慢性肝炎的辅助治疗。", "急、慢性肝炎"),
        ("中枢性尿崩症", "中枢性或肾性尿崩症。", "中枢性或肾性尿崩症"),
        ("肩关节炎", "适用于骨性关节炎，如膝关节、肩、手关节等。", "关节炎，如膝关节、肩"),
    ],
)
def test_labels_shared_over_a_list(label: str, answer: str, matched: str) -> None:
    hit = Matcher({}).match(label, answer)
    assert (hit.how, hit.matched) == ("distributed", matched)


@pytest.mark.parametrize(
    ("label", "answer"),
    [
        ("胃溃疡", "用于胃炎、十二指肠溃疡"),  # 胃 does not end a list item
        ("肾绞痛", "用于胆绞痛、肾结石"),  # the parts in the wrong order
        ("急性肝炎", "用于急性胃炎、慢性肝炎"),
        ("肝外伤", "用于脂肪肝炎和外伤"),
        ("肩关节炎", "用于骨性关节炎，肩部疼痛"),  # no 如 before the examples
        ("支原体肺炎", "由肺炎支原体或肺炎衣原体引起"),  # 肺炎 of 肺炎衣原体 does not end the list
    ],
)
def test_parts_that_are_not_a_list_do_not_match(label: str, answer: str) -> None:
    assert Matcher({}).match(label, answer).how is None


def test_qualified_labels(matcher: Matcher) -> None:
    label = "慢性乙型肝炎病毒复制活跃期"
    assert how(matcher, label, "用于病毒复制活跃的慢性成人乙型肝炎的治疗。") == "qualified"
    assert how(matcher, label, "用于慢性乙型肝炎。") is None  # no word of the stage in the sentence
    assert how(matcher, "慢性乙型肝炎肝功能代偿期", "用于肝功能代偿的慢性乙型肝炎。") == "qualified"
    assert how(matcher, "慢性乙型肝炎肝功能代偿期", "用于失代偿的慢性乙型肝炎。") is None
    assert how(matcher, "肝细胞癌远处转移", "用于治疗不能手术或远处转移的肝细胞癌") == "qualified"
    assert how(matcher, "肝细胞癌远处转移", "用于肝细胞癌，不用于远处转移") is None  # the qualifier is negated


@pytest.mark.parametrize(
    "answer",
    [
        "本品不能用于治疗高血压。",
        "本品不能用于高血压。",
        "本品用于心绞痛，不用于高血压。",
        "本品禁用于高血压。",
        "本品用于心绞痛，高血压患者禁用。",
        "高血压者禁用。",
        "高血压禁用。",
        "本品用于心绞痛。禁忌：高血压、糖尿病。",
        "禁忌症：\n1. 严重高血压\n2. 糖尿病",
        "本品不适用于治疗高血压或糖尿病。",
        "本品对高血压无效。",
    ],
)
def test_negated_mentions_do_not_count(matcher: Matcher, answer: str) -> None:
    hit = matcher.match("高血压", answer)
    assert hit.how is None and hit.matched is None
    assert hit.negated and "高血压" in hit.negated


def test_negation_is_scoped(matcher: Matcher) -> None:
    assert how(matcher, "高血压", "本品用于高血压，高血压伴哮喘者慎用。") == "exact"  # 慎用 is not negation
    assert how(matcher, "高血压", "高血压患者慎用。") == "exact"
    assert how(matcher, "心绞痛", "本品用于心绞痛，高血压患者禁用。") == "exact"
    assert how(matcher, "2型糖尿病", "本品用于2型糖尿病。本品不适用于治疗1型糖尿病。") == "exact"
    assert how(matcher, "1型糖尿病", "本品用于2型糖尿病。本品不适用于治疗1型糖尿病。") is None
    assert how(matcher, "心绞痛", "禁忌症：\n1. 高血压\n适应症：\n心绞痛") == "exact"  # the next heading ends it


NEGATED_OR_CAUSE = [
    "卡托普利并不治疗高血压，也不治疗心力衰竭。",
    "卡托普利对高血压无效，对心力衰竭也无效。",
    "没有证据表明卡托普利能治疗高血压或心力衰竭。",
    "卡托普利可导致高血压，也可引起心力衰竭。",
    "长期服用可诱发高血压和心力衰竭。",
    "卡托普利引起高血压和心力衰竭。",
    "高血压和心力衰竭是其常见不良反应。",
    "副作用：高血压、心力衰竭。",
    "本品不能用于高血压、心力衰竭。",
    "本品未被批准用于高血压和心力衰竭。",
    "高血压、心力衰竭患者禁用。",
    "高血压和心力衰竭不是本品的适应症。",
    "本品用于心绞痛而非高血压或心力衰竭。",
    "本品不应该用于高血压，也绝不治疗心力衰竭。",
    "卡托普利对高血压和心力衰竭疗效不佳。",
    "卡托普利非用于高血压、心力衰竭。",
]


@pytest.mark.parametrize("answer", NEGATED_OR_CAUSE)
def test_negated_and_cause_only_answers_score_no_hit(eval_csv: Path, answer: str) -> None:
    result = score(load_eval_set(eval_csv), {0: "", 1: answer, 2: ""}, "m", load_synonyms())
    item = result.items[1]
    assert item.gold == ("高血压", "心力衰竭")
    assert item.n_hit == 0 and item.criteria == (False, False, False)
    assert all(h.negated for h in item.hits)  # the audit shows where it was said


@pytest.mark.parametrize(
    ("label", "answer"),
    [
        ("肝细胞癌", "用于治疗不能手术的肝细胞癌"),  # the negation describes the patients
        ("2型糖尿病", "用于饮食控制不能有效控制其高血糖的2型糖尿病"),
        ("高血压", "用于未经治疗的高血压"),
        ("鼻窦炎", "用于由细菌引起的鼻窦炎"),  # 引起的 names the indication
        ("心律失常", "控制早搏，特别是洋地黄引起心律失常。"),  # a bare 引起 after an indication verb
        ("恶心", "用于减轻化疗引起的恶心等副作用。"),  # side effects of something else, treated
        ("不可逆性脑损伤", "用于不可逆性脑损伤"),
        ("月经过少", "闭经（伴有或不伴有泌乳）、月经过少"),
        ("心绞痛", "本品不用于高血压，用于心绞痛。"),  # the scope ends with its clause
        ("重症肌无力", "用于重症肌无力"),  # single characters inside disease names are no cues
        ("心律失常", "用于心律失常、心功能不全"),
        ("消化不良", "用于消化不良"),
        ("未分化甲状腺癌", "用于未分化甲状腺癌"),
        ("慢性阻塞性肺疾病急性加重", "用于慢性阻塞性肺疾病急性加重"),
    ],
)
def test_what_is_not_negation(matcher: Matcher, label: str, answer: str) -> None:
    assert how(matcher, label, answer) == "exact"


MODIFIER_PAIRS = [
    ("非小细胞肺癌", "小细胞肺癌"), ("非ST段抬高心肌梗死", "ST段抬高心肌梗死"), ("非胰岛素依赖型糖尿病", "胰岛素依赖型糖尿病"),
    ("原发性高血压", "继发性高血压"), ("原发性闭经", "继发性闭经"), ("急性肝炎", "慢性肝炎"), ("急性荨麻疹", "慢性荨麻疹"),
    ("1型糖尿病", "2型糖尿病"), ("I型糖尿病", "II型糖尿病"), ("左心衰竭", "右心衰竭"), ("上消化道出血", "下消化道出血"),
    ("上呼吸道感染", "下呼吸道感染"), ("择期膝关节置换手术", "择期髋关节置换手术"), ("膝关节炎", "髋关节炎"),
    ("帕金森病", "帕金森综合征"),
    *[(f"{x}型肝炎", f"{y}型肝炎") for x, y in ("甲乙", "乙丙", "丙丁", "丁戊", "甲戊", "乙丁")],
    *[(f"{x}肝", f"{y}肝") for x, y in ("甲乙", "乙丙", "丙丁", "丁戊", "甲戊", "乙戊")],
    *[(f"慢性{x}型肝炎", f"{y}肝") for x, y in ("乙丙", "丙乙", "甲乙", "戊丙")],
]


@pytest.mark.parametrize(("one", "other"), MODIFIER_PAIRS)
@pytest.mark.parametrize("form", ["用于{}。", "本品适用于{}的治疗", "{}"])
def test_distinguishing_modifiers_never_match(matcher: Matcher, one: str, other: str, form: str) -> None:
    assert how(matcher, one, form.format(other)) is None
    assert how(matcher, other, form.format(one)) is None


@pytest.mark.parametrize(
    ("label", "answer"),
    [("高血压病", "高血压"), ("心力衰竭", "心功能不全"), ("乙型肝炎", "乙肝"), ("乙肝", "HBV感染"),
     ("慢性乙型肝炎", "慢性HBV感染"), ("高尿酸血症", "高尿酸"), ("抑郁症", "忧郁症"), ("泌乳素依赖性不育症", "催乳素依赖性不育症"),
     ("2型糖尿病", "非胰岛素依赖型糖尿病")],
)
def test_common_synonyms_both_ways(matcher: Matcher, label: str, answer: str) -> None:
    assert how(matcher, label, f"用于{answer}。") == "synonym"
    assert how(matcher, answer, f"用于{label}。") in ("synonym", "exact")  # 高尿酸 stands inside 高尿酸血症


# ---------------------------------------------------------------- criteria


def test_criteria_edges() -> None:
    assert criteria(2, 4) == (True, True, False)
    assert criteria(2, 3) == (True, True, True)
    assert criteria(1, 2) == (True, True, False)
    assert criteria(1, 3) == (True, False, False)
    assert criteria(0, 3) == (False, False, False)
    assert criteria(0, 0) == (False, False, False)
    assert criteria(3, 3) == (True, True, True)


# ---------------------------------------------------------------- score, table, audit


def test_score_table_and_audit(eval_csv: Path, tmp_path: Path) -> None:
    eval_set = load_eval_set(eval_csv)
    answers = {
        0: "布洛芬用于头痛、牙痛和发热。",        # 2 of 4
        1: "卡托普利适用于高血压。心力衰竭患者禁用。",  # 1 of 2, the other negated
        2: "",                                  # nothing
    }
    result = score(eval_set, answers, "my-model", load_synonyms())
    assert [i.n_hit for i in result.items] == [2, 1, 0]
    assert [i.criteria for i in result.items] == [(True, True, False), (True, True, False), (False, False, False)]
    assert result.summary() == {"n": 3, "criterion_1": 2 / 3, "criterion_2": 2 / 3, "criterion_3": 0.0}
    reference = score(eval_set, {i: item.reference for i, item in enumerate(eval_set.items)}, "参考", None)
    table = format_table([result, reference])
    assert table.splitlines()[0] == "| 模型 | 评测标准1 | 评测标准2 | 评测标准3 |"
    assert "| my-model | 66.67% | 66.67% | 0.00% |" in table
    assert "| 参考 | 100.00% | 100.00% | 66.67% |" in table  # 2 of 4 for 氯雷他定: 瘙痒性皮肤病, 湿疹 not in its text
    audit = tmp_path / "audit.csv"
    write_audit_csv([result], audit)
    rows = list(csv.DictReader(audit.open(encoding="utf-8")))
    assert len(rows) == 3 and rows[0]["entity"] == "布洛芬片" and rows[0]["n_hit"] == "2"
    assert "头痛→头痛 (exact)" in rows[0]["hits"] and "偏头痛" in rows[0]["misses"]
    assert "心力衰竭 (negated: 心力衰竭)" in rows[1]["misses"]
    with pytest.raises(ValueError, match="no answer"):
        score(eval_set, {0: ""}, "partial", None)


# ---------------------------------------------------------------- answers files


def test_read_answers_jsonl_in_any_order(eval_csv: Path, tmp_path: Path) -> None:
    eval_set = load_eval_set(eval_csv)
    path = write_jsonl(tmp_path / "answers.jsonl", [
        {"instruction": "氯雷他定片的适应病症", "output": "用于过敏性鼻炎。"},
        {"instruction": " 布洛芬片 的适应病症？", "input": "", "output": "用于头痛。"},  # folded: spaces, punctuation
        {"instruction": "卡托普利片的适应病症", "output": None},
    ])
    assert read_answers(path, eval_set) == {0: "用于头痛。", 1: "", 2: "用于过敏性鼻炎。"}


def test_read_answers_csv_by_instruction_or_drug(eval_csv: Path, tmp_path: Path) -> None:
    eval_set = load_eval_set(eval_csv)
    by_drug = tmp_path / "answers.csv"
    by_drug.write_text("药品,output\n卡托普利片,用于高血压\n布洛芬片,用于头痛\n氯雷他定片,\"用于鼻炎,荨麻疹\"\n",
                       encoding="utf-8")
    assert read_answers(by_drug, eval_set) == {0: "用于头痛", 1: "用于高血压", 2: "用于鼻炎,荨麻疹"}
    by_question = tmp_path / "answers2.csv"
    by_question.write_text("\ufeffinstruction,output\n" + "".join(f"{d}的适应病症,答{i}\n" for i, (d, _, _) in
                                                                 enumerate(EVAL_ROWS)), encoding="utf-8")
    assert read_answers(by_question, eval_set) == {0: "答0", 1: "答1", 2: "答2"}


def answers_error(path: Path, eval_csv: Path) -> str:
    with pytest.raises(UserError) as info:
        read_answers(path, load_eval_set(eval_csv))
    return str(info.value)


def test_unknown_instruction_names_file_line_and_count(eval_csv: Path, tmp_path: Path) -> None:
    rows = [{"instruction": f"{d}的适应病症", "output": "x"} for d, _, _ in EVAL_ROWS]
    rows[1] = {"instruction": "阿司匹林的适应病症", "output": "x"}
    rows.append({"instruction": "头孢的适应病症", "output": "x"})
    message = answers_error(write_jsonl(tmp_path / "answers.jsonl", rows), eval_csv)
    assert message.startswith(f"{tmp_path / 'answers.jsonl'}:2: "), message
    assert "'阿司匹林的适应病症' is not in the evaluation set" in message
    assert "2 of 4 answers match no question" in message
    assert "regenerate it from eval" in message and eval_csv.name in message


def test_missing_answers(eval_csv: Path, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "answers.jsonl", [{"instruction": "布洛芬片的适应病症", "output": "x"}])
    message = answers_error(path, eval_csv)
    assert "2 of 3 questions have no answer" in message and "卡托普利片的适应病症" in message


def test_duplicate_answers(eval_csv: Path, tmp_path: Path) -> None:
    rows = [{"instruction": f"{d}的适应病症", "output": "x"} for d, _, _ in EVAL_ROWS]
    rows.append({"instruction": "卡托普利片的适应病症", "output": "y"})
    message = answers_error(write_jsonl(tmp_path / "answers.jsonl", rows), eval_csv)
    assert ":4: " in message and "answered twice (first at line 2)" in message


def test_missing_columns_and_bad_lines(eval_csv: Path, tmp_path: Path) -> None:
    no_output = tmp_path / "a.csv"
    no_output.write_text("药品,回复\n布洛芬片,x\n", encoding="utf-8")
    message = answers_error(no_output, eval_csv)
    assert "a.csv:1: no output column" in message
    assert "found: 药品, 回复" in message
    no_key = write_jsonl(tmp_path / "b.jsonl", [{"output": "x"}])
    assert "b.jsonl:1: no instruction (or 药品) column" in answers_error(no_key, eval_csv)
    broken = tmp_path / "c.jsonl"
    broken.write_text(json.dumps({"instruction": "布洛芬片的适应病症", "output": "x"}) + "\n{oops\n", encoding="utf-8")
    assert "c.jsonl:2: not a JSON object" in answers_error(broken, eval_csv)
