"""Dosage perturbation for preference pairs: one dose or frequency changed to a clinically different value, the
rest of the text byte-identical, the same change for the same key; list markers, ages, weights, durations,
concentrations, specifications and names never touched."""

import pytest

from builder.expand.perturb import Perturbation, perturb_dosage

# (text, key, before, after, what): each expectation follows from the candidate order (left to right) and the
# option order (doses x2 x3 x5 x10 /2; counts the swap 1->3 2->4 3->1 4->2 first, then 1 2 3 4 6).
EXPECTED = [
    ("口服，一次1～2片，一日3次。", 0, "1～2片", "3～6片", "dose"),  # x2 would overlap (2～4片): skipped
    ("口服，一次1～2片，一日3次。", 1, "一日3次", "一日1次", "frequency"),
    ("口服，一次1～2片，一日3次。", 2, "1～2片", "5～10片", "dose"),
    ("静脉滴注，一次0.5～1g，每8小时1次", 0, "0.5～1g", "1.5～3g", "dose"),
    ("静脉滴注，一次0.5～1g，每8小时1次", 1, "每8小时", "每4小时", "frequency"),
    ("成人每日200mg，分2次服用", 0, "200mg", "400mg", "dose"),
    ("成人每日200mg，分2次服用", 4, "200mg", "100mg", "dose"),
    ("肌内注射，一次80万单位，一日2～4次", 0, "80万单位", "160万单位", "dose"),
    ("肌内注射，一次80万单位，一日2～4次", 1, "一日2～4次", "一日5～7次", "frequency"),
    ("肌内注射，一次80万单位，一日2～4次", 3, "一日2～4次", "一日6～12次", "frequency"),  # 2-1～4-1 is empty
    ("肌内注射：成人一次40万～80万单位", 1, "40万～80万单位", "200万～400万单位", "dose"),
    ("一日三次，一次一袋", 0, "一日三次", "一日一次", "frequency"),
    ("一日三次，一次一袋", 1, "一袋", "两袋", "dose"),
    ("一日三次，一次一袋", 3, "一袋", "三袋", "dose"),
    ("儿童按体重一次5mg/kg", 0, "5mg/kg", "10mg/kg", "dose"),
    ("儿童按体重一次5mg/kg", 4, "5mg/kg", "2.5mg/kg", "dose"),
    ("每次10ml，每日2次，饭后服用", 1, "每日2次", "每日4次", "frequency"),
    ("每次10ml，每日2次，饭后服用", 8, "10ml", "5ml", "dose"),
    ("1日1次，每次1粒", 0, "1日1次", "1日3次", "frequency"),
    ("1日1次，每次1粒", 1, "1粒", "2粒", "dose"),
    ("口服，一次０．２５g，一日３次", 0, "０．２５g", "０．５g", "dose"),
    ("口服，一次０．２５g，一日３次", 1, "一日３次", "一日１次", "frequency"),
    ("口服，一次０.２５ｇ", 4, "０.２５ｇ", "０.１２５ｇ", "dose"),
    ("一次0.1g，一日1次", 2, "0.1g", "0.3g", "dose"),  # not 0.30000000000000004
    ("一次0.25g", 0, "0.25g", "0.5g", "dose"),
    ("一次0.25g", 4, "0.25g", "0.125g", "dose"),
    ("一次0.5g", 0, "0.5g", "1g", "dose"),
    ("一次2片", 0, "2片", "4片", "dose"),
    ("一日两次，一次一至两片", 0, "一日两次", "一日四次", "frequency"),
    ("一日两次，一次一至两片", 1, "一至两片", "三至六片", "dose"),
    ("每4～6小时1次，一次0.25g", 0, "每4～6小时", "每8～12小时", "frequency"),
    ("每4～6小时1次，一次0.25g", 2, "每4～6小时", "每2～3小时", "frequency"),
    ("每隔十二小时一次", 0, "每隔十二小时", "每隔四小时", "frequency"),
    ("成人一日20～40mg/kg，分3～4次", 0, "20～40mg/kg", "60～120mg/kg", "dose"),
    ("每日1次，一次100 mg", 1, "100 mg", "200 mg", "dose"),
    ("一日1-2次，一次5μg", 0, "一日1-2次", "一日3-4次", "frequency"),
    ("一日1-2次，一次5μg", 2, "一日1-2次", "一日3-6次", "frequency"),
    ("一天4次，每次1揿", 0, "一天4次", "一天2次", "frequency"),
    ("每天1次，每次1贴", 1, "1贴", "2贴", "dose"),
    ("皮下注射，一次10U，日3次", 1, "日3次", "日1次", "frequency"),
]


def changed_once(text: str, result: Perturbation) -> bool:
    """True when `result.text` is `text` with exactly one occurrence of `before` replaced by `after`."""
    start = text.find(result.before)
    while start >= 0:
        head, tail = text[:start], text[start + len(result.before):]
        if result.text == head + result.after + tail:
            return True
        start = text.find(result.before, start + 1)
    return False


@pytest.mark.parametrize(("text", "key", "before", "after", "what"), EXPECTED)
def test_expected_change(text: str, key: int, before: str, after: str, what: str) -> None:
    result = perturb_dosage(text, key)
    assert result is not None
    assert (result.before, result.after, result.what) == (before, after, what)
    assert result.text == text.replace(before, after, 1)


def test_no_float_noise_for_any_key() -> None:
    for text in ("一次0.1g，一日3次", "一次0.3mg", "一次0.7～1.4g", "一次0.15ml"):
        for key in range(50):
            result = perturb_dosage(text, key)
            assert result is not None
            assert "0000" not in result.text and "9999" not in result.text, (text, key, result)


def test_counted_units_stay_whole() -> None:
    afters = {perturb_dosage("一次1粒", key).after for key in range(50)}  # type: ignore[union-attr]
    assert afters == {"2粒", "3粒", "5粒", "10粒"}
    halves = {perturb_dosage("一次1g", key).after for key in range(50)}  # type: ignore[union-attr]
    assert "0.5g" in halves


def test_range_never_overlaps_the_original() -> None:
    afters = {perturb_dosage("一次1～2片", key).after for key in range(50)}  # type: ignore[union-attr]
    assert afters == {"3～6片", "5～10片", "10～20片"}


def test_every_frequency_count_changes() -> None:
    for n, written in enumerate(["1", "2", "3", "4", "5", "6", "一", "两", "三", "四"]):
        text = f"一日{written}次"
        afters = {perturb_dosage(text, key).after for key in range(50)}  # type: ignore[union-attr]
        assert text not in afters and len(afters) >= 3, (n, afters)


@pytest.mark.parametrize("text", [
    "遵医嘱。",
    "外用，适量涂患处。",
    "",
    "维生素B12注射液，遵医嘱。",
    "6岁以上儿童遵医嘱，12岁以下慎用。",
    "体重40kg以上者遵医嘱，疗程7天，连用3日，2周后复查。",
    "以5%葡萄糖或0.9%氯化钠注射液稀释后使用。",
    "早8点、晚8:00服用，2020年版药典收载。",
    "1.遵医嘱；(1)适量；①外用；1、涂患处。",
    "规格：每片0.5g，每盒24片，10mg×24片。",
    "浓度为2mg/ml。",
    "溶于5%葡萄糖注射液250ml中。",
    "一次1片至2片，遵医嘱。",
    "一次一片半。",
    "十滴水，适量。",
    "3日1次，隔1日1次，第1日用药。",
])
def test_no_candidate_gives_none(text: str) -> None:
    assert perturb_dosage(text, 0) is None
    assert perturb_dosage(text, 12345) is None


# (text, protected, the only expression that may change): the protected number stays while another changes.
PROTECTED = [
    ("1. 口服，一次2片", "1. ", "2片"),
    ("(1)口服：一次2片", "(1)", "2片"),
    ("①口服，一日3次", "①", "一日3次"),
    ("1、口服，一次2片", "1、", "2片"),
    ("6岁以上儿童一次1片", "6岁", "1片"),
    ("12岁以下儿童，一日2次", "12岁", "一日2次"),
    ("体重40kg以上者一次0.5g", "40kg", "0.5g"),
    ("疗程7天，一日3次", "7天", "一日3次"),
    ("一次2粒，连用3日", "3日", "2粒"),
    ("一次2粒，2周为一疗程", "2周", "2粒"),
    ("以5%葡萄糖注射液250ml稀释，一次0.5g", "5%葡萄糖注射液250ml", "0.5g"),
    ("用0.9%氯化钠注射液100ml溶解后滴注，一日1次", "0.9%氯化钠注射液100ml", "一日1次"),
    ("早8点服用，一次1片", "早8点", "1片"),
    ("2020年起，一次10mg", "2020年", "10mg"),
    ("维生素B12片，一次1片", "维生素B12", "1片"),
    ("每片0.3g，一次2片", "每片0.3g", "2片"),
    ("浓度为2mg/ml，一次10ml", "2mg/ml", "10ml"),
    ("10mg×24片，一次1片", "10mg×24片", "1片"),
    ("一日3次，分2次服用", "分2次", "一日3次"),
]


@pytest.mark.parametrize(("text", "protected", "only"), PROTECTED)
def test_never_change_classes(text: str, protected: str, only: str) -> None:
    for key in range(50):
        result = perturb_dosage(text, key)
        assert result is not None
        assert result.before == only, (key, result)
        assert result.text == text.replace(only, result.after, 1)
        assert result.text.count(protected) == text.count(protected)


def test_deterministic() -> None:
    text = "口服，一次1～2片，一日3次；儿童一次0.25g，每8小时1次。"
    for key in [0, 1, 7, 2**63 + 5, 2**64 - 1, 0xDEADBEEFCAFEF00D]:
        assert perturb_dosage(text, key) == perturb_dosage(text, key)
    assert perturb_dosage(text, -1) == perturb_dosage(text, 2**64 - 1)  # a signed hash means the same 64 bits
    results = {perturb_dosage(text, key) for key in range(50)}
    assert len(results) > 10
    assert {r.before for r in results if r is not None} == {"1～2片", "一日3次", "0.25g", "每8小时"}
    assert {r.what for r in results if r is not None} == {"dose", "frequency"}


USAGE = [
    "口服。一次1片，一日1次。",
    "口服，一次2～4片，一日3次，饭后服用。",
    "口服。成人一次0.25～0.5g，一日3～4次；小儿按体重一日20～40mg/kg，分3次服用。",
    "静脉滴注，一次1～2g，溶于0.9%氯化钠注射液100ml中，每12小时1次。",
    "肌内注射：成人一次40万～80万单位，一日2～4次。",
    "开水冲服，一次1袋，一日2～3次。",
    "口服，一日三次，一次两丸，温开水送服。",
    "饭后服，一次5ml，一日3次，6岁以下儿童减半。",
    "外用，一日2～3次，涂于患处。",
    "滴眼，一次1～2滴，一日4～6次。",
    "喷鼻，每侧鼻孔一次1喷，每日2次。",
    "吸入，一次1～2揿，每4～6小时1次，24小时内不超过8揿。",
    "贴于患处，一次1贴，每日更换1次。",
    "口服，成人每日200mg，分2次服用，疗程7～10天。",
    "1.成人：一次0.5g，每8小时1次；2.儿童：按体重一次10mg/kg，每8小时1次。",
    "(1)预防：一日1次，一次1粒；(2)治疗：一日2次，一次2粒，连用2周。",
    "①轻症：一次20mg，一日1次；②重症：一次40mg，一日2次。",
    "皮下注射，一次0.1～0.2mg，必要时每隔4小时重复。",
    "口服，12岁以上儿童及成人一次1片，一日2次；体重30kg以下儿童遵医嘱。",
    "舌下含服，一次0.5mg，5分钟后可重复，15分钟内不超过3次。",
    "静脉注射，一次5～10mg，以5%葡萄糖注射液20ml稀释后缓慢注射。",
    "口服，一次１～２粒，一日３次。",
    "口服，一次０．５ｇ，一日２次。",
    "含服，一次1～2丸，一日3次，7天为一疗程。",
    "口服，每次15～30ml，每日3次，用前摇匀。",
    "冲服，一次半袋至1袋，一日2次。",
    "直肠给药，一次1枚，一日1～2次。",
    "口服，一次1勺，一日3次，2岁以下幼儿遵医嘱。",
    "口服，一次10～15滴，一日3次，滴于舌下。",
    "肌内或静脉注射，一次2～4mg/kg，每6小时1次，最大量不超过200mg。",
    "维生素B12：肌内注射，一次25～100μg，每日或隔日1次。",
    "口服，一日3次，一次1～2粒，2020年版说明书。",
    "口服，每天1次，每次100μg，早餐前服用。",
    "冲服，一次一包，一日二次。",
    "外用，取适量涂患处，一日1～2次。",
    "口服，一次2片，一日2次，早8点、晚8点服用。",
    "静脉滴注，一次500万单位，一日1次，连用5～7日。",
    "口服，成人一次10～20mg，一日2～3次；老年人一日总量不超过60mg。",
    "每日1次，一次1片，整片吞服，不可嚼碎。",
    "外用，适量涂患处。",
    "遵医嘱。",
]


@pytest.mark.parametrize("text", USAGE)
def test_one_span_changes(text: str) -> None:
    seen = set()
    for key in range(50):
        result = perturb_dosage(text, key)
        if result is None:
            assert all(perturb_dosage(text, k) is None for k in range(50))
            return
        assert result.what in {"dose", "frequency"}
        assert result.before and result.after and result.before != result.after
        assert result.before in text and result.after in result.text and result.text != text
        assert changed_once(text, result), (key, result)
        seen.add(result.text)
    assert len(seen) >= 2  # even one candidate has more than one wrong value


def test_corpus_covers_both_kinds() -> None:
    results = [perturb_dosage(text, key) for text in USAGE for key in range(50)]
    assert sum(r is None for r in results) == 2 * 50  # only 适量 and 遵医嘱 have nothing to change
    assert {r.what for r in results if r is not None} == {"dose", "frequency"}
    befores = {r.before for r in results if r is not None}
    for protected in ("6岁", "12岁", "30kg", "7～10天", "2周", "5%", "0.9%", "B12", "2020", "8点", "5分钟", "24小时"):
        assert not any(protected in b for b in befores), protected
