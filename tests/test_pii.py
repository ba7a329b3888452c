"""PII scrubbing: recall and precision over a seeded corpus, the checksums, and the Arrow path against the text path."""

import random
import re
from collections import Counter

import pyarrow as pa
import pytest

from builder.quality.pii import (
    PLACEHOLDERS,
    WIDTH,
    luhn_valid,
    scrub_columns,
    scrub_text,
    valid_id_number,
)
from tests.pii_corpus import Sample, corpus, failed_id, id_card, luhn_digit

MIN_RECALL, MIN_PRECISION = 0.99, 0.99


@pytest.fixture(scope="module")
def samples() -> tuple[list[Sample], list[Sample]]:
    return corpus()


def score(pii: list[Sample], near: list[Sample]) -> tuple[float, float, list[str]]:
    """Recall over planted instances, precision over replacements made; the misses, for the message."""
    planted = found = made = 0
    misses = []
    for sample in pii + near:
        out, counts = scrub_text(sample.text)
        made += sum(counts.values())
        hits = Counter(kind for kind, window in sample.planted if window in out)
        planted += len(sample.planted)
        found += sum(min(n, counts[kind]) for kind, n in hits.items())
        if out != sample.expected:
            misses.append(f"{sample.text!r} -> {out!r}")
    return found / planted, found / max(made, 1), misses


def test_recall_and_precision(samples: tuple[list[Sample], list[Sample]]) -> None:
    pii, near = samples
    planted = Counter(kind for sample in pii for kind, _ in sample.planted)
    assert sum(planted.values()) >= 500 and set(planted) == set(PLACEHOLDERS) and len(near) >= 500
    wide = Counter(piece[0] for sample in pii for piece in sample.pieces
                   if isinstance(piece, tuple) and piece[1].translate(WIDTH) != piece[1])
    assert all(wide[kind] >= 3 for kind in PLACEHOLDERS if kind != "name"), wide  # names hold no ASCII to widen
    recall, precision, misses = score(pii, near)
    message = f"recall {recall:.4f}, precision {precision:.4f}"
    message += f" over {sum(planted.values())} planted PII, {len(near)} near-miss sentences"
    print(f"\nPII {message}")
    assert recall >= MIN_RECALL and precision >= MIN_PRECISION, message + "\n" + "\n".join(misses[:20])


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("身份证号码11010519491231002X请核对", "id_card"),
        ("身份证号码11010519491231002x请核对", "id_card"),
        ("手机 +86 138-1234-5678。", "mobile"),
        ("电话010-12345678", "landline"),
        ("(0571)87654321", "landline"),
        ("0755 8888 6666", "landline"),
        ("400-820-8820", "landline"),
        ("见www.haodf.com", "url"),
        ("QQ：123456789", "qq"),
        ("vx：zhang_san88", "wechat"),
        ("床号：3", "bed"),
        ("病案号：BA2023001", "medical_record"),
        ("就诊卡号：MZ-88231", "outpatient"),
        ("卡号6222 0212 3456 7890 128", "bank_card"),
        ("身份证１１０１０５１９４９１２３１００２Ｘ", "id_card"),
        ("手机13８１２３４5678", "mobile"),
        ("ＱＱ：１２３４５６７８９", "qq"),
        ("患者张伟，男，52岁", "name"),
        ("姓名：欧阳娜娜，女", "name"),
        ("感谢刘洋医生", "name"),
        ("家住浙江省杭州市西湖区文三路138号2幢3单元501室，", "address"),
        ("地址：阳光花园3栋2单元1202室", "address"),
        ("出生日期：1985年6月12日", "birth_date"),
        ("生日１９９７－０１－２３", "birth_date"),
        ("我1951.01.18出生", "birth_date"),
        ("车牌号浙A12345", "plate"),
        ("粤B·D12345", "plate"),
        ("苏Ａ１２３４５", "plate"),
    ],
)
def test_formats(text: str, kind: str) -> None:
    out, counts = scrub_text(text)
    assert counts == Counter({kind: 1}) and PLACEHOLDERS[kind] in out


@pytest.mark.parametrize(
    "text",
    ["每次0.5g，每日3次", "血压140/90mmHg", "国药准字H20051234", "2023-05-24 14:30", "20230524", "E11.9",
     "身份证号码110105194912310021请核对", "6222021234567890127", "12345678901", "2019年", "1213812345678000",
     "根据患者陈述，", "患者王某，男", "请问李医生", "住朝阳区", "出生后24小时内", "2019年出生", "HbA1c 7.5%",
     "１２０急救", "血压１４０／９０ｍｍＨｇ", "3号楼5层", "医生：我母亲6年前患糖尿病", "学名叫什么"],
)
def test_near_misses_untouched(text: str) -> None:
    assert scrub_text(text) == (text, Counter())


def test_id_checksum() -> None:
    assert valid_id_number("11010519491231002X") and valid_id_number("11010519491231002x")
    assert not valid_id_number("110105194912310021")
    assert not valid_id_number("110105194913310028")  # month 13: no birth date, whatever the check says
    rng = random.Random(7)
    assert all(valid_id_number(id_card(rng).replace(" ", "")) for _ in range(200))
    assert not any(valid_id_number(failed_id(rng)) for _ in range(200))


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("6222021234567890128")
    assert not luhn_valid("4111111111111112") and not luhn_valid("6222021234567890127")
    assert luhn_valid("622202123456789" + luhn_digit("622202123456789"))


def test_nulls_and_counts() -> None:
    values = pa.array([None, "我的手机号是13812345678，邮箱ab_c@163.com", None, "血糖7.8mmol/L", "QQ：12345 或 QQ:678901"])
    (out,), counts = scrub_columns([values])
    assert out.type == values.type and out.null_count == 2 and out[0].as_py() is None and out[2].as_py() is None
    assert out[1].as_py() == "我的手机号是[手机号]，邮箱[邮箱]" and out[3].as_py() == "血糖7.8mmol/L"
    assert counts == Counter({"mobile": 1, "email": 1, "qq": 2})


def test_array_matches_text(samples: tuple[list[Sample], list[Sample]]) -> None:
    texts = [sample.text for group in samples for sample in group]
    (out,), counts = scrub_columns([pa.array(texts, pa.string())])
    singles = [scrub_text(text) for text in texts]
    assert out.to_pylist() == [text for text, _ in singles]
    assert counts == sum((found for _, found in singles), Counter())


def test_no_candidates_returns_input() -> None:
    values = pa.array(["建议低盐饮食。", None])
    (out,), counts = scrub_columns([values])
    assert out.equals(values) and counts == Counter()


def test_fakes_have_the_shape_of_what_they_replace(samples: tuple[list[Sample], list[Sample]]) -> None:
    """Every planted value is gone and its fake is found again as the same type (so it has the shape: checksums,
    dates and plates included); the look-alikes stay as they were."""
    pii, near = samples
    for sample in pii:
        faked, counts = scrub_text(sample.text, b"seed\x1fqa-1")
        assert not any(value in faked for kind, value in _values(sample) if len(value) > 3 and kind != "bed"), faked
        again, recounts = scrub_text(faked)
        assert recounts == counts and again == scrub_text(sample.text)[0], (sample.text, faked)
    for sample in near:
        assert scrub_text(sample.text, b"seed\x1fqa-1") == (sample.text, Counter())


def _values(sample: Sample) -> list[tuple[str, str]]:
    return [piece for piece in sample.pieces if isinstance(piece, tuple)]


def test_fakes_are_valid_numbers_of_their_kind() -> None:
    rng = random.Random(3)
    for n in range(200):
        number = id_card(rng)
        faked, _ = scrub_text(f"身份证{number}，", f"k{n}".encode())
        fake_number = faked.removeprefix("身份证").removesuffix("，")
        assert fake_number != number and valid_id_number(fake_number.replace(" ", ""))
        assert [i for i, c in enumerate(number) if c == " "] == [i for i, c in enumerate(fake_number) if c == " "]
    faked, _ = scrub_text("卡号6222 0212 3456 7890 128", b"k")
    assert luhn_valid(faked[2:].replace(" ", "")) and faked[2:] != "6222 0212 3456 7890 128"
    faked, _ = scrub_text("手机１３８１２３４５６７８。", b"k")  # typed full width, faked full width
    assert faked[2:-1].translate(WIDTH).isdigit() and faked[2] == "１" and faked != "手机１３８１２３４５６７８。"


def test_fakes_are_the_same_within_a_conversation_and_differ_across() -> None:
    text = "患者张伟，男。张伟的手机13812345678，再说一遍13812345678。"
    one, counts = scrub_text(text, b"1\x1fqa-a")
    assert counts == Counter({"name": 2, "mobile": 2}) and "张伟" not in one and "13812345678" not in one
    name = one[2:one.index("，")]
    assert one.count(name) == 2 and len(set(re.findall(r"1[3-9]\d{9}", one))) == 1
    assert scrub_text(text, b"1\x1fqa-a") == (one, counts)  # deterministic
    assert scrub_text(text, b"1\x1fqa-b")[0] != one


def test_a_rows_fields_are_scrubbed_as_one_conversation() -> None:
    """A name found in the question goes from the answer too; nulls stay null; a field holding the separator
    itself is scrubbed alone; without names, each field comes out as scrub_text makes it."""
    questions = pa.array(["我叫张伟，头痛三天", None, "手机13812345678", "a\x1fb 13812345678"])
    inputs = pa.array(["", "", None, ""])
    answers = pa.array(["张伟你好，注意休息", "建议复查", "请到门诊就诊", "邮箱ab_c@163.com"])
    (q, i, a), counts = scrub_columns([questions, inputs, answers])
    assert q.to_pylist() == ["我叫[姓名]，头痛三天", None, "手机[手机号]", "a\x1fb [手机号]"]
    assert i.to_pylist() == ["", "", None, ""] and a.to_pylist() == ["[姓名]你好，注意休息", "建议复查", "请到门诊就诊",
                                                                   "邮箱[邮箱]"]
    assert counts == Counter({"name": 2, "mobile": 2, "email": 1})
