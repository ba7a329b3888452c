"""The quality stage end to end: dedup with preference, filters, PII, decontamination, mixing, grouped splits."""

import csv
import json
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from builder.config import BuildConfig
from builder.hashing import id_numbers
from builder.kernels.shingles import splitmix64, text_keys
from builder.quality.dedup import resolve_exact
from builder.quality.filters import (
    BUILTIN_FILTERS,
    PUNCTUATION_ONLY,
    STRAY_START,
    Batch,
    filter_reasons,
    han_counts,
    han_table,
    question_equals_answer,
)
from builder.quality.marks import PROMOTIONAL, SPUN, candidates
from builder.quality.normalize import fold, fold_array, fold_table
from builder.quality.pii import scrub_columns
from builder.quality.stage import TEXT_COLUMNS, Quality
from builder.validate.records import qa_record_ids
from tests.conftest import run, write_json, write_jsonl

QA = [
    {"question": "高血压患者平时饮食要注意什么？", "answer": "建议低盐饮食，每日食盐不超过5克，多吃新鲜蔬菜水果。"},
    {"question": "感冒发烧38度需要去医院吗？", "answer": "体温38度左右可先物理降温、多喝水，持续不退应及时就医。"},
    {"question": "胃痛吃什么药好？", "answer": "胃痛原因较多，建议先明确病因，必要时做胃镜检查后对症用药。"},
]


def build(tmp_path: Path, *args, out: str = "out") -> tuple[Path, dict]:
    result = run("build", *args, "--out", tmp_path / out, "--quiet")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["reconciles"]
    return tmp_path / out, manifest


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def rows_of(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def test_exact_duplicates_across_sources_keep_the_preferred_copy(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", QA)
    variant = {"question": "高血压患者平时饮食要注意什么?", "answer": "建议低盐饮食, 每日食盐不超过５克，多吃新鲜蔬菜水果"}
    second = write_jsonl(tmp_path / "second.jsonl", [variant, QA[2], QA[2]])
    out, manifest = build(tmp_path, "--qa", first, "--qa", second, "--prefer", "second", "--no-near-dup")
    assert manifest["sources"]["second"]["kept"] == 2 and manifest["sources"]["first"]["kept"] == 1
    rejects = jsonl(out / "rejects.jsonl")
    assert {(r["source"], r["reason"]) for r in rejects} == {("first", "exact_duplicate"), ("second", "exact_duplicate")}
    kept_ids = {r["record_id"] for r in rows_of(out)}
    assert all(r["duplicate_of"] in kept_ids for r in rejects)
    assert variant["question"] in {r["instruction"] for r in rows_of(out)}  # the preferred spelling survives


def test_survivor_does_not_depend_on_order(tmp_path: Path) -> None:
    copies = [QA[0], {**QA[0], "answer": QA[0]["answer"] + " "}, QA[1]]
    a = write_jsonl(tmp_path / "a.jsonl", copies)
    b = write_jsonl(tmp_path / "b.jsonl", list(reversed(copies)))
    out_a, _ = build(tmp_path, "--qa", a, "--no-near-dup", out="a")
    out_b, _ = build(tmp_path, "--qa", b, "--no-near-dup", out="b")
    assert {r["record_id"] for r in rows_of(out_a)} == {r["record_id"] for r in rows_of(out_b)}


def test_filters_reject_with_reasons(tmp_path: Path) -> None:
    bad = [
        {"question": "血压高怎么办？", "answer": "嗯"},
        {"question": "头痛？", "answer": "……？"},
        {"question": "脚踝扭伤怎么处理？", "answer": "，与走路姿势没有关系，先冰敷再加压包扎。"},
        {"question": "多喝水有好处吗", "answer": "多喝水有好处吗？"},
        {"question": "What is hypertension?", "answer": "High blood pressure is a common condition."},
    ]
    qa = write_jsonl(tmp_path / "qa.jsonl", QA + bad)
    out, manifest = build(tmp_path, "--qa", qa, "--no-near-dup")
    reasons = {r["line"]: r["reason"] for r in jsonl(out / "rejects.jsonl")}
    assert reasons == {4: "too_short_answer", 5: "punctuation_only_answer", 6: "stray_punctuation_start",
                       7: "question_equals_answer", 8: "not_chinese"}
    assert manifest["sources"]["qa"]["kept"] == 3


PROMOTIONAL_ANSWERS = [  # (answer, the marks its removal names)
    ("详细的饮食方案可以登录www.jiankang-weiyi.com查看。", "url"),
    ("资料在 https://example.org/a?id=3 上，自己看。", "url"),
    ("这个病我们整理过，见[网址]。", "url"),
    ("想详细了解可以加我微信，备注胃病。", "contact_handle"),
    ("我的微信号：yisheng_2024，随时联系。", "contact_handle"),
    ("有问题QQ：28761234找我。", "contact_handle"),
    ("化验单可以发到wei.zhang@hospital.cn，我帮你看。", "contact_handle"),
    ("关注我们的公众号“胃肠健康”，每天推送养胃知识。", "contact_handle"),
    ("预约请打0571-87654321，周末也有人。", "phone"),
    ("直接打我手机13912345678就行。", "phone"),
    ("全国服务热线400-820-1234，免费寄送样品。", "phone, brand_pitch"),
    ("方便的话请打[手机号]联系我。", "phone"),
    ("方便的话可以点击下方按钮与我在线交流。", "channel"),
    ("化验单上传不了，可以寄给我们，专家帮你分析。", "channel"),
    ("我院采用独家微创疗法，三天即可出院。", "hospital"),
    ("请认准本品防伪标志，官方旗舰店限时优惠，买二送一。", "brand_pitch"),
    ("建议试试祖传秘方调理，见效快，疗效确切。", "cure_pitch"),
]
LEGITIMATE_ANSWERS = [  # look-alikes a real medical answer contains: none may go
    "可以口服阿莫西林胶囊，每次0.5g，每日3次，连用7天。",
    "如突发胸痛，请立即拨打120急救电话；也可拨打12320卫生热线咨询。",
    "转氨酶400U/L，是正常上限的10倍，HBV-DNA为12300000拷贝/ml，病毒复制活跃，需要抗病毒治疗。",
    "甲硝唑400mg，每日2次；空腹血糖7.8mmol/L，复查日期2023-10-12。",
    "请到医院就诊，必要时做胃镜检查，可以在医院官网或线上挂号。",
    "不要相信偏方，乙肝目前无法彻底治愈，需规范抗病毒。",
    "要从正规渠道购买正品药物，可以买一台电子血压计在家测量。",
    "不要长时间玩微信和手机，注意休息，每天步行8000步以上。",
    "诊断编码E11.9，属于2型糖尿病，和我们的饮食习惯有关。",
    "中医认为可以用传统中药调理脾胃，但需要辨证，不能迷信速效。",
    "有问题及时与医生联系，遵医嘱用药，到医院进行咨询。",
]
SPUN_ANSWERS = [  # a rewriter's synonym swaps, and the plain sentence a writer would have written
    ("平时不要熬夜，以免放柔病情。", "平时不要熬夜，以免加重病情。", "放柔(加重)"),
    ("宝宝出生后24小时内要麻醉乙肝疫苗。", "宝宝出生后24小时内要注射乙肝疫苗，手术才需要麻醉。", "麻醉疫苗(注射)"),
    ("乙肝主要通过母婴散播和血液散播。", "乙肝主要通过母婴传播和血液传播，谣言才会散播。", "散播(传播)"),
    ("建议每天监测数据血糖，防止辛辣打击食物。", "建议每天监测血糖，记录监测数据，少吃辛辣刺激食物。", "监测数据(监测), 打击食物(刺激)"),
    ("化验单提示音病毒拷贝活跃。", "化验单提示病毒复制活跃，血糖仪发出提示音后取下试纸。", "提示音(提示)"),
    ("根据你购买的资料来看，是胃肠扭动减慢。", "根据你提供的资料来看，是胃肠蠕动减慢，可以到医院进行咨询。", "扭动(蠕动), 购买的资料(提供)"),
]


def test_promotional_marks_name_what_they_found() -> None:
    column = pa.array([a for a, _ in PROMOTIONAL_ANSWERS] + LEGITIMATE_ANSWERS + [None])
    details = PROMOTIONAL.details(column)
    assert details.to_pylist() == [m for _, m in PROMOTIONAL_ANSWERS] + [None] * (len(LEGITIMATE_ANSWERS) + 1)
    assert PROMOTIONAL.details(column, candidates(column, PROMOTIONAL, SPUN)).equals(details)  # the shared scan


def test_spun_marks_name_the_swapped_word_and_spare_the_plain_sentence() -> None:
    spun, plain, labels = zip(*SPUN_ANSWERS, strict=True)
    column = pa.array(spun + plain + tuple(LEGITIMATE_ANSWERS) + tuple(a for a, _ in PROMOTIONAL_ANSWERS))
    details = SPUN.details(column)
    assert details.to_pylist() == [*labels, *[None] * (len(column) - len(labels))]
    assert SPUN.details(column, candidates(column, PROMOTIONAL, SPUN)).equals(details)
    assert SPUN.details(pa.array([], pa.string())).to_pylist() == []


def test_the_scan_pii_and_marks_share_finds_what_their_own_scans_find() -> None:
    """The quality stage scans the answers once for PII and marks; the removals are those of scrubbing first and
    then filtering with scans of their own, phone numbers the scrub replaced included."""
    answers = [a for a, _ in PROMOTIONAL_ANSWERS] + LEGITIMATE_ANSWERS + [s for s, _, _ in SPUN_ANSWERS]
    answers += ["胃胀可以加我微信abc12345详细说。", "预约请拨打13812345678，我院专家坐诊。", "电话13812345678，空腹复查。",
                "病历号20231187，住院号A7741，复查肝功能。"]
    rows = pa.table({"instruction": [f"第{i}个问题：胃胀怎么办？" for i in range(len(answers))],
                     "input": [""] * len(answers), "output": answers,
                     "record_id": [f"qa-{i:016x}" for i in range(len(answers))]})
    config = BuildConfig()
    kept, removals, _ = Quality(config).rows(rows, "qa", 0, 0)
    scrubbed = pa.table({name: scrub_columns([rows[name].combine_chunks()])[0][0] for name in TEXT_COLUMNS})
    folded = fold_array(pc.binary_join_element_wise(*(scrubbed[c] for c in TEXT_COLUMNS), "\x1f"))
    reasons, details = filter_reasons(scrubbed, folded, config.filters, free_text=True)
    expected = {i: (reason, details[i]) for i, reason in enumerate(reasons) if reason}
    assert {i: (drop.reason, drop.detail) for i, drop in removals.items()} == expected
    assert {reason for reason, _ in expected.values()} == {"promotional", "spun_text"}
    assert kept["output"].to_pylist() == [text for i, text in enumerate(scrubbed["output"].to_pylist()) if i not in expected]
    assert "病历号[病历号]，住院号[住院号]，复查肝功能。" in kept["output"].to_pylist()
    assert len(expected) >= len(PROMOTIONAL_ANSWERS) + len(SPUN_ANSWERS) + 2


def test_promotional_and_spun_answers_are_rejects_with_their_marks(tmp_path: Path) -> None:
    """Built with the CLI: each such answer is a reject naming its filter and marks (the phone number scrubbed by
    PII still counts), the look-alikes stay, the report lists both reasons; the config switches them off."""
    ads = [PROMOTIONAL_ANSWERS[i] for i in (0, 4, 8, 9, 12, 14, 16)]
    rows = QA + [{"question": f"第{i}个问题：胃胀怎么办？", "answer": a} for i, (a, _) in enumerate(ads)]
    rows += [{"question": f"第{i}个问题：乙肝怎么办？", "answer": a} for i, (a, _, _) in enumerate(SPUN_ANSWERS[:3])]
    rows += [{"question": f"第{i}个问题：还要注意什么？", "answer": a} for i, a in enumerate(LEGITIMATE_ANSWERS)]
    qa = write_jsonl(tmp_path / "qa.jsonl", rows)
    out, manifest = build(tmp_path, "--qa", qa, "--no-near-dup")
    rejects = {r["line"]: (r["stage"], r["reason"], r["detail"]) for r in jsonl(out / "rejects.jsonl")}
    first = len(QA) + 1
    assert rejects == {**{first + i: ("filter", "promotional", m) for i, (_, m) in enumerate(ads)},
                       **{first + len(ads) + i: ("filter", "spun_text", m) for i, (*_, m) in enumerate(SPUN_ANSWERS[:3])}}
    assert manifest["sources"]["qa"]["kept"] == len(QA) + len(LEGITIMATE_ANSWERS)
    assert manifest["quality"]["pii"]["mobile"] == 1  # scrubbed to [手机号] first, then still removed as a phone
    stats = json.loads((out / "report" / "stats.json").read_text(encoding="utf-8"))
    by_reason = {key.rpartition(":")[2]: by for key, by in stats["rejects"]["records"].items()}
    assert by_reason == {"promotional": {"qa": len(ads)}, "spun_text": {"qa": 3}}
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert "promotional" in page and "spun_text" in page
    config = tmp_path / "build.toml"
    config.write_text("[filters]\npromotional = false\nspun_text = false\n", encoding="utf-8")
    _, kept_all = build(tmp_path, "--config", config, "--qa", qa, "--no-near-dup", out="switched_off")
    assert kept_all["sources"]["qa"]["kept"] == len(rows) and kept_all["sources"]["qa"]["rejected"] == 0


def test_over_long_template_row_is_removed_but_its_record_stays(tmp_path: Path) -> None:
    drugs = write_json(tmp_path / "drugs.json", [f"长药\n适应证:用于头痛。\n注意事项:{'注意。' * 30}"])
    config = tmp_path / "build.toml"
    config.write_text(f'[filters]\nmax_row_chars = 80\n[[sources]]\nkind = "drug"\npath = "{drugs.name}"\n',
                      encoding="utf-8")
    result = run("build", "--config", config, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    removed = jsonl(tmp_path / "out" / "removed_rows.jsonl")
    assert {r["template_id"] for r in removed} == {"drug.precautions", "drug.overview"} - {"drug.overview"} or removed
    assert all(r["reason"] == "too_long_row" for r in removed)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["sources"]["drugs"]["kept"] == 1 and manifest["sources"]["drugs"]["rows_removed"]


def test_pii_is_scrubbed_with_typed_placeholders(tmp_path: Path) -> None:
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "我的手机号是13812345678，能加微信号abc_12345咨询吗？",
                                              "answer": "请到门诊就诊，或发邮件到doctor@example.com预约。"}])
    config = tmp_path / "build.toml"  # an answer giving an address is promotional: kept here to see it scrubbed
    config.write_text("[filters]\npromotional = false\n", encoding="utf-8")
    out, manifest = build(tmp_path, "--config", config, "--qa", qa, "--no-near-dup")
    row = rows_of(out)[0]
    assert "13812345678" not in row["instruction"] and "[手机号]" in row["instruction"]
    assert "[微信号]" in row["instruction"] and "[邮箱]" in row["output"]
    assert manifest["quality"]["pii"] == {"email": 1, "mobile": 1, "wechat": 1}


def test_pii_fakes_keep_a_conversation_consistent_and_the_card_says_so(tmp_path: Path) -> None:
    """`--pii-mode fake`: the values are gone, one stand-in per value throughout the row, the output holds no
    placeholder, and the card warns that pseudonymised rows are still personal information."""
    qa = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "我叫张伟，手机13812345678，身份证11010519491231002X，张伟的血压高怎么办？",
         "answer": "张伟您好，建议低盐饮食，每日监测血压，必要时到心内科就诊。"}])
    out, manifest = build(tmp_path, "--qa", qa, "--no-near-dup", "--pii-mode", "fake")
    row = rows_of(out)[0]
    assert not any(v in row["instruction"] for v in ("张伟", "13812345678", "11010519491231002X"))
    assert "[" not in row["instruction"] and manifest["config"]["pii"]["mode"] == "fake"
    name = row["instruction"][2:row["instruction"].index("，")]  # found after 我叫, replaced in every field
    assert row["instruction"].count(name) == 2 and row["output"].startswith(f"{name}您好") and "张伟" not in row["output"]
    assert manifest["quality"]["pii"] == {"name": 3, "mobile": 1, "id_card": 1}
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "pseudonymisation" in card and "PIPL" in card


def write_eval(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["药品", "药品适应症", "医学专家标注的适应病症", "instruction"])
        writer.writerow(["盐酸氨溴索片", "<p>适用于痰液黏稠不易咳出者，用于急慢性呼吸道疾病引起的痰液黏稠。</p>",
                         "痰液黏稠|急慢性呼吸道疾病", "盐酸氨溴索片的适应病症"])
    return path


def test_decontamination_by_entity_and_by_text(tmp_path: Path) -> None:
    eval_set = write_eval(tmp_path / "eval.csv")
    drugs = write_json(tmp_path / "drugs.json", [
        "氨溴索\n适应证:用于痰液黏稠。",
        "布洛芬\n适应证:用于疼痛。\n药物相互作用:与氨溴索合用无相互作用。",
        "对乙酰氨基酚\n适应证:用于发热。",
    ])
    qa = write_jsonl(tmp_path / "qa.jsonl", QA + [
        {"question": "氨溴索能止咳吗？", "answer": "氨溴索主要用于化痰，咳嗽原因需要明确。"},
        {"question": "痰多怎么办？", "answer": "说明书写着：适用于痰液黏稠不易咳出者，用于急慢性呼吸道疾病，多喝水。"},
    ])
    out, manifest = build(tmp_path, "--kb", f"drug={drugs}", "--qa", qa, "--eval-set", eval_set, "--no-near-dup")
    text = json.dumps(rows_of(out), ensure_ascii=False)
    assert "氨溴索" not in text and "痰液黏稠不易咳出" not in text
    rejects = jsonl(out / "rejects.jsonl")
    assert {(r["source"], r["reason"]) for r in rejects} == {
        ("drugs", "eval_entity"), ("qa", "eval_entity_mention"), ("qa", "eval_text_overlap")}
    removed = jsonl(out / "removed_rows.jsonl")
    assert {r["reason"] for r in removed} == {"eval_entity_mention"}  # 布洛芬's interactions row; 布洛芬 stays
    assert manifest["quality"]["evaluation_entities"] == ["盐酸氨溴索片"]
    assert manifest["quality"]["held_out_entities"] == {"盐酸氨溴索片": 1}


def test_decontamination_mark_mode_keeps_rows_and_lists_them(tmp_path: Path) -> None:
    eval_set = write_eval(tmp_path / "eval.csv")
    qa = write_jsonl(tmp_path / "qa.jsonl", QA + [{"question": "氨溴索能止咳吗？", "answer": "氨溴索主要用于化痰。"}])
    out, manifest = build(tmp_path, "--qa", qa, "--eval-set", eval_set, "--mark-contaminated", "--no-near-dup")
    assert len(rows_of(out)) == 4 and manifest["quality"]["marked"] == {"eval_entity_mention": 1}
    assert [m["reason"] for m in jsonl(out / "marked.jsonl")] == ["eval_entity_mention"]


def test_near_duplicates_are_removed_with_the_row_kept(tmp_path: Path) -> None:
    base = "宝宝发烧三天了，体温一直在三十八度五左右，吃了退烧药还是反复，精神状态还可以，需要去医院吗？"
    answer = "孩子发热超过三天建议到医院儿科就诊，查血常规明确感染类型，注意多喝水和物理降温。"
    qa = write_jsonl(tmp_path / "qa.jsonl", QA + [
        {"question": base, "answer": answer},
        {"question": base.replace("三天了", "三天啦"), "answer": answer.replace("注意", "同时注意")},
    ])
    out, manifest = build(tmp_path, "--qa", qa, "--near-threshold", "0.7")
    rejects = jsonl(out / "rejects.jsonl")
    assert [r["reason"] for r in rejects] == ["near_duplicate"]
    assert rejects[0]["duplicate_of"] in {r["record_id"] for r in rows_of(out)}
    assert manifest["quality"]["near_duplicates"]["clusters"] == 1


@pytest.mark.parametrize(("flag", "value", "kept"), [("--weight", "qa=0.5", 10), ("--target", "qa=7", 7)])
def test_mixing_down_samples_by_record_and_rejects_the_rest(tmp_path: Path, flag: str, value: str, kept: int) -> None:
    many = [{"question": f"第{i}个问题：{q['question']}", "answer": q["answer"] + f"（第{i}例）"} for i, q in
            enumerate(QA * 7)]
    qa = write_jsonl(tmp_path / "qa.jsonl", many[:20])
    out, manifest = build(tmp_path, "--qa", qa, flag, value, "--no-near-dup")
    assert len(rows_of(out)) == kept == manifest["sources"]["qa"]["kept"]
    assert {r["reason"] for r in jsonl(out / "rejects.jsonl")} == {"downsampled"}
    assert manifest["quality"]["mixing"]["qa"]["rows_after"] == kept


def test_mixing_up_samples(tmp_path: Path) -> None:
    qa = write_jsonl(tmp_path / "qa.jsonl", QA)
    out, manifest = build(tmp_path, "--qa", qa, "--weight", "qa=2", "--no-near-dup")
    rows = rows_of(out)
    assert len(rows) == 6 and manifest["sources"]["qa"]["rows"] == 6 and len({r["record_id"] for r in rows}) == 3


def test_records_of_one_entity_share_a_split(tmp_path: Path) -> None:
    blocks = []
    for i in range(12):
        blocks.append(f"药物{i}号\n适应证:用于第{i}类疾病。")
        blocks.append(f"药物{i}号片\n适应证:本品用于第{i}类疾病的治疗。\n用法用量:口服。")
    drugs = write_json(tmp_path / "drugs.json", blocks)
    out, _ = build(tmp_path, "--kb", f"drug={drugs}", "--split", "0.5,0.25,0.25")
    split_of: dict[str, set[str]] = {}
    for path in (out / "data").glob("*.parquet"):
        split = path.name.split("-")[0]
        for row in pq.read_table(path).to_pylist():
            entity = re.search(r"药物\d+", row["instruction"]).group(0)
            split_of.setdefault(entity, set()).add(split)
    assert len(split_of) == 12 and all(len(splits) == 1 for splits in split_of.values())
    assert len({s for splits in split_of.values() for s in splits}) == 3


def test_same_name_policy_first(tmp_path: Path) -> None:
    drugs = write_json(tmp_path / "drugs.json", ["甲药\n适应证:用于头痛。", "甲药片\n适应证:用于偏头痛。"])
    config = tmp_path / "build.toml"
    config.write_text(f'[dedup]\nsame_name = "first"\n[[sources]]\nkind = "drug"\npath = "{drugs.name}"\n',
                      encoding="utf-8")
    assert run("build", "--config", config, "--out", tmp_path / "out", "--quiet").exit_code == 0
    rejects = jsonl(tmp_path / "out" / "rejects.jsonl")
    assert [(r["reason"], r["index"]) for r in rejects] == [("same_name", 1)]


def test_byte_identical_with_every_stage_on(tmp_path: Path) -> None:
    eval_set = write_eval(tmp_path / "eval.csv")
    qa = write_jsonl(tmp_path / "qa.jsonl", QA * 2 + [{"question": "我电话13812345678，头痛怎么办？", "answer": "建议休息并测量血压。"}])
    drugs = write_json(tmp_path / "drugs.json", ["甲药\n适应证:用于头痛。", "氨溴索\n适应证:用于痰多。"])
    args = ("--kb", f"drug={drugs}", "--qa", qa, "--eval-set", eval_set, "--weight", "qa=0.8", "--seed", "9")
    first, _ = build(tmp_path, *args, out="a")
    second, _ = build(tmp_path, *args, out="b")
    names = sorted(p.name for p in (first / "data").glob("*.parquet"))
    assert names and all((first / "data" / n).read_bytes() == (second / "data" / n).read_bytes() for n in names)


def test_han_table_is_re2_han_class():
    """The not-Chinese filter counts Han with a table; it must mean what RE2's \\p{Han} means, for every code point."""
    points = np.arange(0x110000)
    points = points[(points < 0xD800) | (points > 0xDFFF)]
    text = pa.array([points.astype(np.uint32).tobytes().decode("utf-32-le")])
    marked = pc.replace_substring_regex(text, r"[^\p{Han}]", "\x00")[0].as_py().encode("utf-32-le")
    assert np.array_equal(han_table()[points], np.frombuffer(marked, np.uint32) != 0)
    values = pa.array(["abc中文", "", None, "𠀀𠀁x", "〇々〆", "ｈｅｌｌｏ"])
    assert han_counts(values).tolist() == [2, 0, 0, 2, 2, 0]


def test_qa_record_ids_are_column_wise_content_keys():
    """QA ids are hashed for a whole column at once: same pair, same id; "qa-" and 16 hex digits; the number
    the split reads back out of an id is the key it was made from."""
    batch = pa.record_batch({"question": ["头痛怎么办", "头痛怎么办", "头痛怎么办", "a"],
                             "input": [None, "", "x", None], "answer": ["多休息", "多休息", "多休息", "b\x1f"]})
    ids = qa_record_ids(batch).to_pylist()
    assert ids[0] == ids[1] and len(set(ids[1:])) == 3
    assert all(re.fullmatch(r"qa-[0-9a-f]{16}", i) for i in ids)
    joined = pc.binary_join_element_wise(batch["question"], pc.fill_null(batch["input"], ""), batch["answer"], "\x1f")
    assert id_numbers(pa.array(ids)).tolist() == text_keys(joined).tolist()


def _text_key(text: str, seed: int) -> int:
    """`text_keys` by its definition: MurmurHash3-style mixing of the UTF-8 bytes, eight at a time little-endian
    (the last block short), the length, then the splitmix64 finaliser."""
    mask, h, data = (1 << 64) - 1, splitmix64(seed), text.encode("utf-8")
    for at in range(0, len(data), 8):
        k = int.from_bytes(data[at:at + 8], "little") * 0x87C37B91114253D5 & mask
        k = ((k << 31 | k >> 33) & mask) * 0x4CF5AD432745937F & mask
        h ^= k
        h = (((h << 27 | h >> 37) & mask) * 5 + 0x52DCE729) & mask
    h ^= len(data)
    h = (h ^ h >> 30) * 0xBF58476D1CE4E5B9 & mask
    h = (h ^ h >> 27) * 0x94D049BB133111EB & mask
    return h ^ h >> 31


def test_text_keys_follow_their_definition_for_every_tail_length():
    """Whole 8-byte blocks and every length of short last block, in one- to four-byte characters."""
    texts = ["", *("a" * n for n in range(1, 18)), *("头" * n for n in range(1, 9)), "x𠀀é头痛" * 3, "ｈｅｌｌｏ, world"]
    assert text_keys(pa.array(texts), seed=7).tolist() == [_text_key(t, 7) for t in texts]


def test_fold_array_folds_width_case_punctuation_per_character():
    """Matching keys are folded by a table, character by character: full-width and enclosed forms, case,
    units and compatibility ideographs fold as NFKC does; punctuation and spaces go; nulls stay null."""
    values = pa.array(["Ａｍｏｘ ①⒈ 5㎎，ＨＥＬＬＯ！", None, "", "丽\U0002F800", "阿莫西林胶囊（0.25g）：每日3次。"])
    assert fold_array(values).to_pylist() == ["amox115mghello", None, "", "丽丽", "阿莫西林胶囊025g每日3次"]
    ordinary = ["高血压患者平时饮食要注意什么？", "Amoxicillin 0.5 g, TID.", "感冒发烧38度需要去医院吗"]
    assert fold_array(pa.array(ordinary)).to_pylist() == [fold(text) for text in ordinary]
    table, starts = fold_table()  # the compiled fold copies U+4E00..U+9FFF without looking: they fold to themselves
    assert all(table[starts[p]:starts[p + 1]].tobytes() == chr(p).encode() for p in range(0x4E00, 0xA000))
    edges = [0x3400, 0x4DBF, 0x4DFF, 0x4E00, 0x9FFF, 0xA000, 0xFF21]  # around the range's ends (E4 B7 / E4 B8 ...)
    by_table = "".join(table[starts[p]:starts[p + 1]].tobytes().decode() for p in edges)
    assert fold_array(pa.array(["".join(map(chr, edges))])).to_pylist() == [by_table]


FRAGMENTING = """
import sys, numpy as np
from builder.memory import returning_large_frees
def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) >> 10
def fragment():
    first = np.ones(16 << 20, np.uint8); del first  # by default glibc now keeps arrays up to 16 MiB in its heap
    temporaries = [np.ones(4 << 20, np.uint8) for _ in range(8)]
    kept = np.ones(2 << 20, np.uint8)  # a long-lived array above them, so the heap cannot shrink
    del temporaries
    return kept
base = rss()
if sys.argv[1] == "set":
    with returning_large_frees():
        kept = fragment()
else:
    kept = fragment()
print(rss() - base - 2)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's mallopt")
def test_large_temporaries_go_back_to_the_system_once_freed() -> None:
    """32 MB of freed 4 MB arrays below a live one: kept by glibc's heap by default, returned with the setting."""
    retained = {mode: int(subprocess.run([sys.executable, "-c", FRAGMENTING, mode], capture_output=True, text=True,
                                         check=True).stdout) for mode in ("default", "set")}
    if retained["default"] < 24:
        pytest.skip(f"this C library gives freed arrays back by itself (kept {retained['default']} MB): nothing to show")
    assert retained["set"] <= 4, retained


@pytest.mark.parametrize(("rows", "distinct"), [(0, 3), (1, 3), (6, 1), (400, 60), (5000, 4800)])
def test_exact_duplicates_point_at_the_preferred_copy(rows: int, distinct: int) -> None:
    """Each row whose key another row has points at the copy with the best (rank, record number, row)."""
    rng = np.random.default_rng(rows)
    keys = rng.integers(0, distinct, rows).astype(np.uint64)
    ranks, numbers = rng.integers(0, 3, rows).astype(np.int32), rng.integers(0, 4, rows).astype(np.uint64)
    best: dict[int, tuple] = {}
    for row, key in enumerate(keys.tolist()):
        best[key] = min(best.get(key, (9, 9, rows)), (int(ranks[row]), int(numbers[row]), row))
    expected = [-1 if best[key][2] == row else best[key][2] for row, key in enumerate(keys.tolist())]
    assert resolve_exact(keys, ranks, numbers).tolist() == expected


def test_question_equals_answer_compares_the_first_and_third_parts() -> None:
    """The compiled check agrees with splitting each folded row on \\x1f and comparing parts 0 and 2."""
    rows = ["头痛\x1f\x1f头痛", "头痛\x1f\x1f头痛吗", "头痛吗\x1f\x1f头痛", "a\x1fb\x1fa", "a\x1fb\x1fa\x1fz", "ab\x1fb\x1fa",
            "\x1f\x1f", "\x1f\x1fx", "x\x1fy\x1fz", None, *(f"问{i}\x1f\x1f答{i % 3}" for i in range(30))]
    folded = pa.array(rows, pa.large_string())
    parts = pc.split_pattern(folded, "\x1f")
    expected = pc.equal(pc.list_element(parts, 0), pc.list_element(parts, 2))
    assert question_equals_answer(folded).equals(expected)
    assert question_equals_answer(folded.slice(3)).equals(expected.slice(3))
    assert expected.to_pylist()[:4] == [True, False, False, True] and expected.null_count == 1


def test_the_filters_on_an_answers_first_character_match_their_patterns_alone() -> None:
    """Both run only on the answers a shared scan finds opening with punctuation, a symbol or a space, and find
    what their own patterns find over every answer."""
    answers = ["。。。", "？", "…… ", " ，好的", "，建议复查。", "）饭后服用", "】见说明书", "建议复查。", "", None,
               "「注意」饮食", "+_+", "¥¥", " ", "\n。", "1，2，3", "A。", "感冒。"]
    column = pa.array(answers, pa.string())
    rows = pa.table({"instruction": ["问"] * len(answers), "input": [""] * len(answers), "output": column})
    batch = Batch(rows, column, BuildConfig().filters)
    for reason, pattern in (("punctuation_only_answer", PUNCTUATION_ONLY), ("stray_punctuation_start", STRAY_START)):
        found = BUILTIN_FILTERS[reason].check(batch)
        assert found.to_pylist() == pc.fill_null(pc.match_substring_regex(column, pattern), False).to_pylist()
        assert any(found.to_pylist())
