"""What a knowledge-base record may say about itself: aliases that are other names, a 剂型 that is a form."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from schemas.base import other_names
from schemas.drug import DrugRecord
from schemas.formula import FormulaRecord
from tests.conftest import run


@pytest.mark.parametrize(("name", "aliases", "composition", "kept"), [
    ("维生素B6", "维生素B6、吡哆辛", "", ["吡哆辛"]),  # the name itself is no alias
    ("维生素B6", "维生素 b6，VB6", "", ["VB6"]),  # however it is spaced or cased
    ("复方阿司匹林", "阿司匹林、咖啡因、APC", "阿司匹林、非那西丁、咖啡因", ["APC"]),  # ingredients are not aliases
    ("对乙酰氨基酚/可待因", "可待因、对乙酰氨基酚", "", []),  # nor the parts a combination's name joins
    ("复方甘草片", "复方甘草", "甘草浸膏粉、阿片粉", ["复方甘草"]),  # a short form of the name stays
    ("阿莫西林胶囊", "阿莫西林、羟氨苄青霉素", "阿莫西林", ["阿莫西林", "羟氨苄青霉素"]),  # one part: its generic
    ("阿莫西林胶囊", "阿莫西林", "阿莫西林、硬脂酸镁", []),  # made of several: not called by one of them
    ("保和丸", "保和丸、保和片", "山楂、六神曲、半夏", ["保和片"]),
])
def test_aliases_are_other_names_of_the_entity(name: str, aliases: str, composition: str, kept: list[str]) -> None:
    assert DrugRecord(name=name, aliases=aliases, ingredients=composition or None).aliases == kept


@pytest.mark.parametrize(("name", "aliases", "label", "kept"), [
    ("美息伪麻", "美息、伪麻黄碱、苯海拉明", "1.日用片：含对乙酰氨基酚325mg、盐酸伪麻黄碱30mg；2.夜用片：含对乙酰氨基酚325mg、"
     "盐酸伪麻黄碱30mg、盐酸苯海拉明25mg", ["美息"]),  # every entry holds several: its ingredients are no aliases
    ("氯丙那林", "氯喘通", "1.片剂：盐酸盐，5mg；2.复方氯丙那林片：每片含盐酸氯喘通5mg、盐酸溴己新10mg", ["氯喘通"]),
    ("对乙酰氨基酚", "乙酰氨基酚", "1.片剂：0.1g，0.3g；2.颗粒剂：每袋含对乙酰氨基酚0.1g", ["乙酰氨基酚"]),
    ("复方异丙托溴铵", "沙丁胺醇", "气雾剂：每支10ml，每喷含溴化异丙托溴铵20μg，硫酸沙丁胺醇120μg", []),
])
def test_a_label_that_doses_several_components_makes_them_no_aliases(name: str, aliases: str, label: str,
                                                                      kept: list[str]) -> None:
    """A drug label's 规格 or 剂型 often says what a product holds; an entry headed 复方… is another product."""
    assert DrugRecord(name=name, aliases=aliases, specification=label).aliases == kept


def test_a_formula_does_not_take_its_herbs_for_aliases() -> None:
    record = FormulaRecord(name="六味地黄丸", aliases="六味丸、熟地黄", ingredients="熟地黄24g 山茱萸12g 山药12g 泽泻9g")
    assert record.aliases == ["六味丸"] and other_names("六味地黄丸", ["六味丸", "熟地黄"]) == ["六味丸", "熟地黄"]


@pytest.mark.parametrize(("form", "spec", "expected"), [
    ("每袋装6g", None, (None, "每袋装6g")),
    ("0.25g", "0.25g×24粒", (None, "0.25g×24粒")),
    ("每袋装6g", "10袋/盒", (None, "10袋/盒；每袋装6g")),
    ("片剂", None, ("片剂", None)),
    ("片剂，每片0.3g", None, ("片剂，每片0.3g", None)),
    ("胶囊剂", "0.25g", ("胶囊剂", "0.25g")),
])
def test_a_strength_given_as_dosage_form_is_the_specification(form: str, spec: str | None,
                                                              expected: tuple[str | None, str | None]) -> None:
    record = DrugRecord(name="某药", dosage_form=form, specification=spec)
    assert (record.dosage_form, record.specification) == expected


def test_built_rows_ask_the_form_only_of_forms_and_name_no_false_alias(tmp_path: Path) -> None:
    drugs = tmp_path / "drugs.json"
    drugs.write_text(json.dumps([
        {"通用名称": "板蓝根颗粒", "剂型": "每袋装10g", "适应症": "清热解毒，凉血利咽。"},
        {"通用名称": "复方阿司匹林", "别名": "阿司匹林、咖啡因、APC片", "成分": "阿司匹林、非那西丁、咖啡因",
         "适应症": "用于发热、头痛。"},
    ], ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    done = run("build", "--kb", f"drug={drugs}", "--out", out, "--quiet", "--variants", "3", "--split", "1,0,0")
    assert done.exit_code == 0, done.output
    rows = pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()
    by_template = {(r["template_id"], r["output"]) for r in rows}
    assert not any(t == "drug.dosage_form" and "板蓝根" in o for t, o in by_template)
    assert ("drug.specification", "板蓝根颗粒的规格：每袋装10g。") in by_template
    aliases = {r["output"] for r in rows if r["template_id"] == "drug.indications"}
    assert "复方阿司匹林（又名APC片）的适应证：用于发热、头痛。" in aliases
