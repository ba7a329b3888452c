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
    assert how(matcher, "非ST段抬高心肌梗死", "适用于ST段抬高心肌梗死患者") == "contains"
    # too little of the label, or a core too generic, is not a hit
    assert how(matcher, "轻度原发性高血压", "本品用于高血压。") is None
    assert how(matcher, "血清病", "检测血清") is None
    assert how(matcher, "肠道感染", "改善肠道功能") is None
    assert how(matcher, "急性肝炎", "用于慢性肝炎") is None


def test_fuzzy_typo() -> None:
    bare = Matcher({})  # no synonym table: only the fuzzy window can find the typo
    hit = bare.match("急性非特异性踺鞘炎", "用于急性非特异性腱鞘炎、急性痛风性关节炎。")
    assert (hit.how, hit.matched) == ("fuzzy", "急性非特异性腱鞘炎")
    assert bare.match("急性肝炎", "本品用于急、慢性肝炎的辅助治疗。").how == "fuzzy"
    assert bare.match("腱鞘炎", "用于踺鞘炎").how is None  # under 4 characters: no fuzzy matching
    assert bare.match("急性非特异性踺鞘炎", "用于急性痛风性关节炎").how is None
    assert bare.match("慢性肝炎", "用于急性肝炎").how is None  # a window may not drop a character (性肝炎)
    assert bare.match("1型糖尿病", "用于2型糖尿病").how is None  # digits must agree


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
