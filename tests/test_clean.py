"""Cleaning: markup, entities, whitespace and control characters fixed without touching Chinese punctuation;
content leaves only whole (a value or a last item that says nothing, a damaged prose value), counted by reason;
a user's strip and drop patterns."""

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from builder.clean.placeholders import PLACEHOLDER_MAX
from builder.clean.text import clean_array, clean_batch, clean_text
from builder.config import CleanConfig
from builder.kernels.utf8 import edge_whitespace
from tests.conftest import run, write_json, write_jsonl


def cleaned(text: str, prose: bool = True, rules: CleanConfig | None = None) -> tuple[str | None, dict]:
    """What a value becomes, and what the tally says of it."""
    tally: Counter = Counter()
    value = clean_array(pa.array([text], pa.string()), tally, rules, prose=prose)[0].as_py()
    return value, dict(tally)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<p>本品用于&ldquo;高血压&rdquo;，血压&ge;140/90mmHg。</p>", "本品用于“高血压”，血压≥140/90mmHg。"),
        ("用于头痛<br/>用于发热", "用于头痛\n用于发热"),
        ("剂量&amp;ldquo;加倍&amp;rdquo;", "剂量“加倍”"),
        ("PC活性<60%，>80%时停用", "PC活性<60%，>80%时停用"),
        ("\u3000\u3000口服，一次1片。\u00a0 ", "口服，一次1片。"),
        ("1、脾胃气滞证。  2、呕吐。", "1、脾胃气滞证。 2、呕吐。"),
        ("第一行\r\n\r\n\r\n第二行", "第一行\n第二行"),
        ("本品用于：高血压，（1）头痛；２ｍｇ", "本品用于：高血压，（1）头痛；２ｍｇ"),
        ("肾功能损害者，，一日用量", "肾功能损害者，一日用量"),
        ("密封保存。，血小板", "密封保存。血小板"),
        ("每喷0.1mg。；3.爱纳灵", "每喷0.1mg。3.爱纳灵"),
        ("慎用：。", "慎用。"),
        ("1.用于高血压……2.剂量100ml:2g", "1.用于高血压……2.剂量100ml:2g"),
        ("汗斑，?黯，酒皶鼻。", "汗斑，?黯，酒皶鼻。"),  # an ASCII ? here is a lost character, not a mark to fold
    ],
)
def test_markup_and_spacing_are_cleaned_and_punctuation_kept(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize("value", ["尚不明确。", "(尚不明确)", "无", "暂无", "不详", " ", "", "\u3000", "N/A",
                                   "<p>尚不明确</p>", "详见说明书。", "药物对哺乳的影响：尚不明确。", "1.慎用：（尚不明确）"])
def test_placeholders_become_missing(value: str) -> None:
    assert clean_text(value) is None


def test_only_short_values_can_be_placeholders() -> None:
    """A value of more than PLACEHOLDER_MAX characters is kept even if it trims down to a placeholder."""
    assert clean_text("无" + "." * (PLACEHOLDER_MAX - 1), prose=False) is None
    assert clean_text("无" + "." * PLACEHOLDER_MAX, prose=False) == "无" + "." * PLACEHOLDER_MAX


@pytest.mark.parametrize(
    "text",
    [
        "1.孕妇慎用。2.孕妇禁用，哺乳期妇女用药尚不明确。",  # a statement that mentions an unknown
        "尚不明确。心脏毒性。",  # a leading placeholder is not the whole value
        "(尚不明确)与中枢镇静药合用可加强本药嗜睡作用。",
        "1.动物试验证实大剂量有致畸作用。2.目前儿童安全性尚不明确。",
        "3.药物对哺乳的影响尚不明确。",  # no colon: the words are a statement, not a label
        "孕妇用药的安全性尚不明确，使用时应权衡利弊。",
        "本病病因尚不明确。",
        "8.临产妇女不宜用。9.药物对哺乳的影响：尚不明确。10.用药前应检查血常规。",  # removing 9 would leave a gap
        "1.慎用：尚不明确。2.儿童：不详。3.肝病患者慎用。",
        "1.肝病患者慎用。2.慎用：(1)尚不明确。",  # "(1)" after "：" is no whole item of the list
    ],
)
def test_statements_and_items_before_others_stay_exactly_as_written(text: str) -> None:
    assert cleaned(text) == (text, {})


def test_last_items_that_only_say_unknown_go_and_leave_no_gap() -> None:
    text = "8.临产妇女不宜用。9.药物对妊娠的影响：尚不明确。10.药物对哺乳的影响：(尚不明确)"
    assert cleaned(text) == ("8.临产妇女不宜用。", {"placeholder_item": 2})
    assert cleaned("1.慎用：尚不明确。2.药物对妊娠的影响：尚不明确。3.药物对哺乳的影响：尚不明确。") == (
        None, {"placeholder_item": 3})
    assert cleaned("(1)肝病患者慎用；(2)儿童：暂无资料；") == ("(1)肝病患者慎用；", {"placeholder_item": 1})


def test_web_disclaimers_go_whole() -> None:
    notice = "本词条仅用于中医药知识的科普，对于任何形式的野生动物和野生植物的使用均须遵守国家的相关法律法规。"
    assert cleaned(notice, prose=False) == (None, {"disclaimer": 1})
    assert cleaned(f"1、山瑞鳖为国家二级保护动物，禁止滥捕。2、{notice}") == (
        "1、山瑞鳖为国家二级保护动物，禁止滥捕。", {"disclaimer": 1})
    mentioned = f"山瑞鳖为国家二级保护动物。{notice}"  # not a whole item: stays
    assert cleaned(mentioned) == (mentioned, {})


@pytest.mark.parametrize("residue", ["[详细]", "更多>>", "...", "……", "查看更多", " [详细] "])
def test_scraper_residue_alone_is_no_value(residue: str) -> None:
    assert cleaned(residue, prose=False) == (None, {"scraper_residue": 1})


@pytest.mark.parametrize(
    "text",
    [
        "口服吸收个体差异大。t",  # a lost subscript (t½) where the value stops
        "1.注射时不得与维生素B",
        "临床药理及作用机制与5-HT",
        "托西莫单抗是一种鼠抗CD20",
        "1.与氯霉素合用，可加重骨髓抑制。2.",  # an item number with nothing after it
        "无毒（《海药本草》",
        "适用于对哮喘进行常规治疗的患者的联合用药(长效β",
        "1.片剂：10mg，25mg。2.注射剂(粉)：20mg(附2ml磷酸二氢钠缓冲",
        "2.血小板减少症、出血性疾病患者禁用，",
        "1.骨髓抑制：",
        "引起心肌收缩力增强和",
        "用药期间，需定期检查血像，如血小板下降至100×10",
        "用于头痛、发热……",
        "用于头痛、发热...",
        "本品用于高血压[详细]",
        "本品用于高血压 更多>>",
        "与蒽环类化疗药并用，降低蒽环类化疗药的\x04",  # a control character stood for what was lost
    ],
)
def test_truncated_values_are_skipped_and_counted(text: str) -> None:
    assert cleaned(text) == (None, {"truncated": 1} | ({"control_characters": 1} if "\x04" in text else {}))


def test_truncated_values_are_kept_as_written_when_configured() -> None:
    assert cleaned("口服吸收个体差异大。t", rules=CleanConfig(truncated="keep")) == ("口服吸收个体差异大。t",
                                                                                   {"truncated": 1})


@pytest.mark.parametrize(
    "text",
    [
        "用于外感风热，发热恶寒，头痛咳嗽，咽喉肿痛",  # Chinese text without 。 is finished text
        "用于治疗HIV",
        "本品可补充维生素C",
        "本品可补充维生素B12",
        "甲型H1N1",
        "本品为辅酶A",
        "药性平和",
        "活动自如",
        "白芷、白及",
        "1.片剂：10mg；2.胶囊：20mg；",
        "片剂：0.2g",
        "每次25mg。\x06\x07\x08",  # control characters after a full stop: nothing was cut
        "无毒《本草拾遗》",
        "注射剂：1U，2U(1亿个白细胞提取药为1U。各地产品每批不完全一致，应加注意)",
    ],
)
def test_finished_values_are_not_taken_for_truncated(text: str) -> None:
    value, tally = cleaned(text)
    assert value == text.rstrip("\x06\x07\x08") and "truncated" not in tally


@pytest.mark.parametrize(
    "text",
    ["参见：华法林", "参见氢氯噻嗪。", "同氨茶碱。", "参见：葡萄糖酸锌，布洛芬，氯苯那敏", "参阅来倔唑。", "见：阿司匹林",
     "参见枸橼酸喷托维林、磺胺甲噁唑、溴己新及甲氧苄啶的相关内容。", "同上。"],
)
def test_cross_references_are_no_answers(text: str) -> None:
    assert cleaned(text) == (None, {"cross_reference": 1})


@pytest.mark.parametrize(
    "text",
    ["参见苯海拉明，尤其适用于防治晕动病、妊娠呕吐。", "同非尼拉敏，惟症状较轻。", "同MTX，但较严重。",
     "同时服用维生素C可增加吸收。", "见光易分解。", "1.糖尿病患者慎用。2.参见甲氨蝶呤。",
     "参见己烷雌酚。偶有恶心、呕吐，减量或停药后即刻缓解。"],
)
def test_values_with_content_that_mention_another_entry_stay(text: str) -> None:
    assert cleaned(text) == (text, {})


@pytest.mark.parametrize(
    ("text", "damaged"),
    [
        ("静脉滴注：每次100mg/m，每3周1次。", True),  # m² whose ² was lost
        ("静脉注射：一次1万U/m。", True),
        ("血小板计数小于100×10/L者禁用。", True),
        ("推荐剂量为100mg/m2，每3周1次。", False),
        ("滴注速度为5ml/min。", False),
        ("每天0.5mg/kg。", False),
    ],
)
def test_unit_damage_is_counted_and_left_as_written(text: str, damaged: bool) -> None:
    assert cleaned(text) == (text, {"unit_damage": 1} if damaged else {})


def test_names_and_conversation_are_not_judged_for_damage() -> None:
    """A name may end in one letter or a conjunction; QA answers end in a comma as people write them."""
    batch = pa.record_batch({"name": ["放线菌素D", "白及"], "aliases": ["地栗（《", "鱼腥草，"],
                             "indications": ["用于治疗急性白血病。t", "止血。"]})
    tally: Counter = Counter()
    out = clean_batch(batch, tally=tally, prose=True)
    assert out.to_pydict() == {**batch.to_pydict(), "indications": [None, "止血。"]}
    assert tally == {"truncated": 1}
    answer = pa.record_batch({"answer": ["多喝水，期望上述的答案可以协助到你，"]})
    assert clean_batch(answer, prose=False).to_pydict() == answer.to_pydict()


def test_batch_cleaning_skips_named_columns_and_keeps_nulls() -> None:
    batch = pa.RecordBatch.from_pydict({"a": [" x ", None, "无"], "keep": [" x ", "无", None], "n": [1, 2, 3]})
    cleaned_batch = clean_batch(batch, skip=frozenset({"keep"}))
    assert cleaned_batch.to_pydict() == {"a": ["x", None, None], "keep": [" x ", "无", None], "n": [1, 2, 3]}


def test_a_batch_is_cleaned_as_one_array_and_split_back_by_column() -> None:
    """Columns of different lengths of text land back in their own column, row by row."""
    batch = pa.record_batch({"a": ["<b>甲</b>", "参见：乙", "丙。"], "b": ["尚不明确。", " 丁 ", "1.戊。2.己：不详。"]})
    assert clean_batch(batch, prose=True).to_pydict() == {"a": ["甲", None, "丙。"], "b": [None, "丁", "1.戊。"]}


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("建议\x00测量血压", "建议测量血压"),
        ("\x1b[31m红色\x1b[0m警告\x07", "[31m红色[0m警告"),
        ("口服\x7f，\x85每日\x9f一次", "口服，每日一次"),
        ("用于\u202e压血高\u202c。", "用于压血高。"),
        ("\u2066阿莫西林\u2069\u200e与\u200f\u2067头孢\u2068", "阿莫西林与头孢"),
        ("第一行\x0b第二行\x0c第三行", "第一行 第二行 第三行"),
        ("本品&#x202e;用于&#27;高血压", "本品用于高血压"),
        ("换行\n与\t制表", "换行\n与 制表"),
    ],
)
def test_control_and_bidi_characters_are_removed(raw: str, clean: str) -> None:
    """C0/C1 controls and bidi overrides, isolates and marks are invisible and can reorder or hide what a reader
    sees; they never reach the training text (entities that name one included). Tab and line ends keep their role."""
    assert clean_text(raw, prose=False) == clean


def test_removed_control_characters_are_counted_per_source(tmp_path: Path) -> None:
    """NUL, BEL and a right-to-left override leave the text, and the manifest says how many went."""
    qa = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "头痛\u0000怎么办\u202e？", "answer": "多休息\u0007，必要时就医。"},
        {"question": "发烧怎么办？", "answer": "多喝水，注意休息，体温过高及时就医。"},
    ])
    assert run("build", "--qa", qa, "--out", tmp_path / "out", "--split", "1,0,0", "--quiet").exit_code == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sources"]["qa"]["cleaned"] == {"control_characters": 3}
    text = (tmp_path / "out" / "alpaca" / "train.json").read_text(encoding="utf-8")
    assert "头痛怎么办？" in text and "\\u0000" not in text and "\u202e" not in text


def test_noncharacters_leave_the_text() -> None:
    """U+FFFE and U+FFFF (a byte-swapped BOM in a UTF-16 file, say) are no text and never reach training rows."""
    out = clean_batch(pa.record_batch({"q": ["怎么治\ufffe？", "头痛\uffff", "发烧\ufdd0了"]}))
    assert out.column("q").to_pylist() == ["怎么治？", "头痛", "发烧了"]


DAMAGED_DRUGS = [
    "甲药\n适应证:用于高血压。\n禁忌证:参见：乙药\n注意事项:1.肝病患者慎用。2.药物对哺乳的影响：尚不明确。\n"
    "药动学:口服吸收个体差异大。t",
    "乙药\n适应证:用于心绞痛。\n禁忌证:1.孕妇禁用，哺乳期妇女用药尚不明确。2.儿童慎用。\n用法用量:静脉滴注，每次100mg/m，每天1次。",
]


def outputs(out: Path) -> list[str]:
    return [row["output"] for row in pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()]


def test_a_build_never_presents_damage_as_an_answer(tmp_path: Path) -> None:
    drugs = write_json(tmp_path / "drugs.json", DAMAGED_DRUGS)
    assert run("build", "--kb", f"drug={drugs}", "--out", tmp_path / "out", "--quiet").exit_code == 0
    texts = "\n".join(outputs(tmp_path / "out"))
    assert "参见" not in texts and "差异大" not in texts and "尚不明确" not in texts.replace("用药尚不明确", "")
    assert "1.孕妇禁用，哺乳期妇女用药尚不明确。2.儿童慎用。" in texts and "1.肝病患者慎用。" in texts
    assert "每次100mg/m，每天1次" in texts  # unit damage is flagged, never rewritten
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sources"]["drugs"]["cleaned"] == {"cross_reference": 1, "placeholder_item": 1, "truncated": 1,
                                                       "unit_damage": 1}


def test_strip_and_drop_patterns_from_the_config_and_the_command_line(tmp_path: Path) -> None:
    drugs = write_json(tmp_path / "drugs.json", [
        "甲药\n适应证:用于高血压。[详细]\n用法用量:口服。",
        "乙药\n适应证:用于心绞痛。\n用法用量:广告：点击购买",
        "丙药\n适应证:用于头痛。\n用法用量:口服，一次1片。【来源：某网】",
    ])
    config = tmp_path / "build.toml"
    config.write_text(f'[[sources]]\nname = "kb"\nkind = "drug"\npath = "{drugs.name}"\nstrip = ["\\\\[详细\\\\]"]\n'
                      'drop = ["广告"]\n', encoding="utf-8")
    out = tmp_path / "out"
    result = run("build", "--config", config, "--strip", "【来源：[^】]*】", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    texts = "\n".join(outputs(out))
    assert "用于高血压。" in texts and "[详细]" not in texts and "来源" not in texts and "心绞痛" not in texts
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["sources"]["kb"]
    assert counts["rejected_by_reason"] == {"clean:drop_pattern": 1} and counts["cleaned"] == {"strip_pattern": 2}
    assert counts["read"] == counts["kept"] + counts["rejected"] == 3 and manifest["reconciles"] is True
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rejects == [{**rejects[0], "stage": "clean", "reason": "drop_pattern", "source": "kb", "index": 1,
                        "field": "用法用量", "detail": "matches drop pattern '广告'"}]
    again = run("build", "--kb", f"drug={drugs}", "--drop", "点击购买", "--out", tmp_path / "again", "--quiet")
    assert again.exit_code == 0
    assert json.loads((tmp_path / "again" / "manifest.json").read_text(encoding="utf-8"))["sources"]["drugs"][
        "rejected_by_reason"] == {"clean:drop_pattern": 1}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("source", "field 'sources.0.drop': source 'kb': drop pattern '(广告' is not a valid regular expression "
                   "(missing ): (广告)"),
        ("flag", "field 'clean.strip': strip pattern 'a**' is not a valid regular expression (bad repetition "
                 "operator: **)"),
    ],
)
def test_a_pattern_that_cannot_run_is_one_line_and_exit_2(tmp_path: Path, where: str, expected: str) -> None:
    drugs = write_json(tmp_path / "drugs.json", ["甲药\n适应证:用于高血压。"])
    config = tmp_path / "build.toml"
    config.write_text(f'[[sources]]\nname = "kb"\nkind = "drug"\npath = "{drugs.name}"\n'
                      + ('drop = ["(广告"]\n' if where == "source" else ""), encoding="utf-8")
    flags = ["--strip", "a**"] if where == "flag" else []
    result = run("build", "--config", config, *flags, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr


def test_a_name_ending_in_a_control_character_is_only_cleaned() -> None:
    batch = pa.record_batch({"name": ["维生素B\x04"], "usage_dosage": ["每次10mg\x04"]})
    assert clean_batch(batch, prose=True).to_pydict() == {"name": ["维生素B"], "usage_dosage": [None]}


def test_edge_whitespace_is_re2_whitespace_at_either_end() -> None:
    """The kernel that spares cleaning two regex passes answers as RE2's `^\\s|\\s$` does, nulls, slices and
    64-bit offsets included."""
    edges = ["\t", "\n", "\x0b", "\x0c", "\r", " ", "\u3000", "\xa0", "\u2003", "。", "a", "药"]
    texts = [e + "x" for e in edges] + ["x" + e for e in edges] + [e for e in edges] + ["", None, "a b", "药 物"]
    for values in (pa.array(texts, pa.string()), pa.array(texts, pa.large_string()), pa.array(texts).slice(5, 30)):
        expected = pc.fill_null(pc.match_substring_regex(values, r"^\s|\s$"), False)
        assert edge_whitespace(values).equals(expected)
