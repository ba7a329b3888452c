"""Cleaning: markup, entities, whitespace and placeholders, without touching Chinese punctuation."""

import pyarrow as pa
import pytest

from builder.clean.text import PLACEHOLDER_MAX, clean_batch, clean_text


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
    ],
)
def test_markup_and_spacing_are_cleaned_and_punctuation_kept(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize("value", ["尚不明确。", "(尚不明确)", "无", "暂无", "不详", " ", "", "\u3000", "N/A", "<p>尚不明确</p>"])
def test_placeholders_become_missing(value: str) -> None:
    assert clean_text(value) is None


def test_only_short_values_can_be_placeholders() -> None:
    """A value of more than PLACEHOLDER_MAX characters is kept even if it trims down to a placeholder."""
    assert clean_text("无" + "." * (PLACEHOLDER_MAX - 1)) is None
    assert clean_text("无" + "." * PLACEHOLDER_MAX) == "无" + "." * PLACEHOLDER_MAX


def test_placeholder_items_are_dropped_and_statements_kept() -> None:
    text = "8.临产妇女不宜用。9.药物对哺乳的影响：尚不明确。10.用药前应检查血常规。"
    assert clean_text(text) == "8.临产妇女不宜用。10.用药前应检查血常规。"
    assert clean_text("1.慎用：尚不明确。2.儿童：不详。3.肝病患者慎用。") == "3.肝病患者慎用。"
    statement = "孕妇用药的安全性尚不明确，使用时应权衡利弊。"
    assert clean_text(statement) == statement
    assert clean_text("本病病因尚不明确。") == "本病病因尚不明确。"


def test_batch_cleaning_skips_named_columns_and_keeps_nulls() -> None:
    batch = pa.RecordBatch.from_pydict({"a": [" x ", None, "无"], "keep": [" x ", "无", None], "n": [1, 2, 3]})
    cleaned = clean_batch(batch, skip=frozenset({"keep"}))
    assert cleaned.to_pydict() == {"a": ["x", None, None], "keep": [" x ", "无", None], "n": [1, 2, 3]}


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
    assert clean_text(raw) == clean


def test_removed_control_characters_are_counted_per_source(tmp_path) -> None:
    """NUL, BEL and a right-to-left override leave the text, and the manifest says how many went."""
    import json

    from tests.conftest import run, write_jsonl
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
    cleaned = clean_batch(pa.record_batch({"q": ["怎么治\ufffe？", "头痛\uffff", "发烧\ufdd0了"]}))
    assert cleaned.column("q").to_pylist() == ["怎么治？", "头痛", "发烧了"]
