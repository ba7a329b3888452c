"""Every cleaned field of the shared drug file held to its source (../shared/data, read in place, never copied here).

The fields are cleaned by the build's own path (`cleaned_batches`); the raw values come from the same reader, since
reading is not what is checked here. The check itself shares no code with the cleaner: both sides are normalised
by their own rules here (entities decoded, tags, whitespace and invisible characters dropped, every run of
punctuation marks one "|"), and then a cleaned value must equal its raw value, or be the raw value less a tail of
whole items that only say "unknown" (or carry a web notice), or be null where the raw value says nothing, only
points to another entry, or stops where no sentence ends.
"""

import html
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from builder.config import build_config
from builder.ledger import Ledger
from builder.read import detect, read_source
from builder.rows import POSITION
from builder.run.units import cleaned_batches

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DRUGS = SHARED / "drugs" / "caregpt_drug.json"
TCM = SHARED / "tcm" / "llmqa_中药材.csv"
FIELDS = {"名称": "name", "药品类型": "category", "英文名": "english_name", "别名": "aliases", "剂型": "dosage_form",
          "适应证": "indications", "禁忌证": "contraindications", "注意事项": "precautions",
          "不良反应": "adverse_reactions", "用法用量": "usage_dosage", "药物相互作用": "interactions",
          "药动学": "pharmacokinetics", "药理作用": "pharmacology", "专家点评": "expert_comment"}
NOTHING = {"尚不明确", "不明确", "尚未明确", "尚不清楚", "不清楚", "无", "暂无", "暂无资料", "无资料", "不详", "未知",
           "详见说明书"}
TAG = re.compile(r"<[^<>]*>")
MARKS = re.compile(r"[，、；：,;:。！？]+")
MARKER = re.compile(r"^(?:\d{1,2}(?:[.．]|\|)|[(（]\d{1,2}[)）]|[①-⑳])")
SEE = ("参见", "参阅", "详见", "见", "同")
OPEN_ENDS = set("，、：:,;；([（【《") | set("和及与或并而但且如于")

pytestmark = pytest.mark.skipif(not DRUGS.is_file(), reason=f"real drug file {DRUGS} is absent (../shared/data "
                                                             "lives beside the repository)")


def norm(text: str) -> str:
    """What a reader sees of a value, spelt one way: entities decoded, no tags, no spaces or invisible
    characters, and a run of punctuation marks (however folded) one "|"."""
    text = TAG.sub("", html.unescape(html.unescape(text)))
    text = "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Cn"))
    return MARKS.sub("|", text)


def says_nothing(text: str) -> bool:
    """Nothing at all, or a placeholder: bare, in brackets, after an enumeration marker and a label."""
    parts = [part for part in MARKER.sub("", text, count=1).split("|") if part]
    return not parts or len(parts) <= 2 and parts[-1].strip("()（）") in NOTHING


def only_items_saying_nothing(tail: str) -> bool:
    """A tail of whole items, each an enumeration marker, maybe a label, and a placeholder or a web notice."""
    items = re.split(r"(?<=\|)(?=\d{1,2}[.．]|[(（]\d{1,2}[)）]|[①-⑳])", tail)
    return bool(items) and all(says_nothing(item) or "本词条" in item for item in items)


def points_elsewhere(raw: str) -> bool:
    """One short sentence that opens with 参见 / 见 / 同 …: no second sentence to hold content."""
    sentence = raw.strip().rstrip("。.")
    return sentence.startswith(SEE) and len(sentence) <= 60 and not re.search(r"[。；;！？]", sentence)


def stops_mid_sentence(raw: str) -> bool:
    """A value that does not end where a sentence ends: a letter (maybe with a digit or two after it: CD20), a
    bracket or clause left open, a conjunction, an item number with nothing after it, ×10 without its power, a
    scraper's mark, or a control character that stood for a lost superscript."""
    end = raw.rstrip(" \t\n\u3000")
    if not end or end[-1] in "。！？!?":
        return False
    letters = re.sub(r"\d{1,2}$", "", end) or end
    last = letters[-1]
    return (unicodedata.category(end[-1]) == "Cc" or end[-1] in OPEN_ENDS or last.isascii() and last.isalpha()
            or unicodedata.name(last, "").startswith("GREEK") or end.endswith(("…", "...", "[详细]", "更多>>", "×10"))
            or re.search(r"[。；，](?:\d{1,2}\.|[(（]\d{1,2}[)）]?)$", end) is not None
            or "(" in end[end.rfind(")") + 1:] or "（" in end[end.rfind("）") + 1:])


def raw_and_cleaned(path: Path, kind: str) -> tuple[list[dict], list[dict], Counter]:
    config = build_config({"sources": [{"kind": kind, "path": str(path)}]}, "test")
    source = config.sources[0]
    detected = detect(source)
    ledger = Ledger()
    cleaned = pa.Table.from_batches(list(cleaned_batches(source, detected, config, ledger))).to_pylist()
    raw = pa.Table.from_batches([b.records for b in read_source(source, detected, config.batch_size)]).to_pylist()
    return raw, cleaned, ledger.counts(source.name).cleaned


@pytest.fixture(scope="module")
def drugs() -> tuple[list[dict], list[dict], Counter]:
    return raw_and_cleaned(DRUGS, "drug")


def test_every_cleaned_field_is_its_source_less_only_what_says_nothing(drugs) -> None:
    raw, cleaned, _ = drugs
    assert len(raw) == len(cleaned) == 2441
    by_position = {record[POSITION]: record for record in cleaned}
    nulled: Counter = Counter()
    for record in raw:
        mine = by_position[record[POSITION]]
        for key, value in record.items():
            if key == POSITION or value is None:
                continue
            before, after = norm(value), mine[FIELDS[key]]
            where = f"{record['名称']} {key}: {value!r} -> {after!r}"
            if after is None:
                why = ("nothing" if says_nothing(before) or only_items_saying_nothing(before) else
                       "elsewhere" if points_elsewhere(value) else "cut" if stops_mid_sentence(value) else None)
                assert why, where
                nulled[why] += 1
                continue
            after = norm(after)
            assert before == after or before.startswith(after) and only_items_saying_nothing(before[len(after):]), where
    assert nulled["nothing"] > 200 and nulled["elsewhere"] > 140 and nulled["cut"] > 80  # each rule was exercised


def test_the_tally_says_what_cleaning_did(drugs) -> None:
    tally = drugs[2]
    assert set(tally) <= {"control_characters", "placeholder", "placeholder_item", "cross_reference", "truncated",
                          "unit_damage", "disclaimer", "scraper_residue"}
    assert tally["control_characters"] == 81  # every C0 control the file holds
    assert tally["cross_reference"] > 140 and tally["truncated"] > 80 and tally["unit_damage"] > 100


@pytest.mark.skipif(not TCM.is_file(), reason=f"real herb table {TCM} is absent")
def test_the_herb_tables_web_notice_is_never_a_category() -> None:
    raw, cleaned, tally = raw_and_cleaned(TCM, "herb")
    notices = [r for r in raw if (r["药材分类"] or "").startswith("本词条仅用于")]
    assert len(notices) == 37
    by_position = {record[POSITION]: record for record in cleaned}
    assert all(by_position[r[POSITION]]["category"] is None for r in notices)
    assert not any("本词条" in (record.get("category") or "") for record in cleaned)
    assert tally["disclaimer"] == 58  # the 37 whole ones, 19 last items and 2 in the wrong column
