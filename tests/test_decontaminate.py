"""Decontamination by entity identity: cores, alias links, entity boundaries, distinctive text, and the report."""

import csv
import json
import random
from difflib import SequenceMatcher
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from builder.config import BuildConfig, SourceConfig
from builder.eval.sets import EvalItem, EvalSet
from builder.quality.decontaminate import CONTAMINATION, Decontaminator
from builder.quality.kbnames import KBNames, Named, kb_names
from builder.quality.normalize import entity_core, entity_keys, entity_name, fold_array
from tests.conftest import run, write_json, write_jsonl

CLASS_WORDING = "充血性心力衰竭、肝硬化腹水、肾病综合征、急慢性肾炎水肿、慢性肾功能衰竭早期"  # shared by diuretics
LABEL = f"用于{CLASS_WORDING}，以及肾上腺皮质激素和雌激素治疗所致的钠水潴留，亦用于原发性高血压和尿崩症的辅助治疗。"


def items(*entities: str, reference: str | None = None) -> list[EvalSet]:
    return [EvalSet(Path("eval.csv"), tuple(EvalItem(e, "drug", f"{e}的适应病症", reference if i == 0 else None, (), i)
                                            for i, e in enumerate(entities)))]


def hits(decontaminator: Decontaminator, texts: list[str], free_text: bool = True) -> list[str | None]:
    """Each text's hit as 'reason:item:match', folded as the stage folds rows."""
    found = decontaminator.row_hits(fold_array(pa.array(texts, pa.string())), free_text=free_text)
    return [f"{h.reason}:{':'.join(h.detail.split(' · ')[:2])}" if h and h.detail else None for h in found]


ERLOTINIB = [
    Named("厄洛替尼", ("埃罗替尼", "它赛瓦"), "Erlotinib", "drug-1"),
    Named("埃罗替尼", ("TARCEVA",), "Erlotinib", "drug-2"),
    Named("特罗凯", (), "Erlotinib", "drug-3"),  # linked by its English name only
    Named("吉非替尼", ("易瑞沙",), "Gefitinib", "drug-4"),
    Named("左氧氟沙星", ("左旋氧氟沙星",), "Levofloxacin", "drug-5"),
    Named("磺吡酮", ("苯磺保泰松",), "Sulfinpyrazone", "drug-6"),
]


def test_a_core_loses_salt_and_form_but_not_the_product() -> None:
    assert entity_core("盐酸厄洛替尼片") == "厄洛替尼" and entity_core("注射用头孢曲松钠") == "头孢曲松"
    assert entity_core("复方阿魏酸钠") == "复方阿魏酸" != entity_name("复方阿魏酸钠")  # another product than 阿魏酸钠
    assert entity_core("小儿感冒颗粒") == "小儿感冒" and entity_core("富马酸亚铁") == "富马酸亚铁"  # no bare ion
    assert entity_keys("盐酸厄洛替尼片", ["Erlotinib"]) == {"盐酸厄洛替尼片", "厄洛替尼", "erlotinib"}


def test_every_record_linked_through_aliases_or_english_name_is_held_out() -> None:
    decontaminator = Decontaminator(items("盐酸厄洛替尼片"), 13, ERLOTINIB)
    assert decontaminator.held_out_records == {"drug-1", "drug-2", "drug-3"}
    matches = {named.name: decontaminator.record_hit(named.name, list(named.aliases)) for named in ERLOTINIB}
    assert {name: str(hit[1].detail).split(" · ")[1] for name, hit in matches.items() if hit} == {
        "厄洛替尼": "core", "埃罗替尼": "alias", "特罗凯": "linked"}
    assert all(hit[0] == "盐酸厄洛替尼片" for hit in matches.values() if hit)
    # a record met later that only lists a linked name as its alias is held out too
    assert decontaminator.record_hit("厄洛替尼片剂", ["它赛瓦"]) is not None
    assert hits(decontaminator, ["TARCEVA能治什么？", "erlotinibum是拉丁名", "吉非替尼用于肺癌"]) == [
        "eval_entity_mention:盐酸厄洛替尼片:alias", None, None]


def test_a_name_several_drugs_answer_to_links_none_of_them() -> None:
    records = [Named("厄洛替尼", ("消炎宁",), "Erlotinib", "drug-1"), Named("布洛芬", ("消炎宁",), "Ibuprofen", "drug-2"),
               Named("甲泼尼龙", ("甲强龙",), "Methylprednisolone", "drug-3"),
               Named("甲强龙", (), "MethylprednisoloneSodiumSuccinate", "drug-4")]  # a salt's English name: one drug
    decontaminator = Decontaminator(items("盐酸厄洛替尼片", "甲泼尼龙片"), 13, records)
    assert decontaminator.held_out_records == {"drug-1", "drug-3", "drug-4"}
    assert hits(decontaminator, ["消炎宁怎么吃？"]) == [None]


def test_a_name_counts_only_on_an_entity_boundary() -> None:
    decontaminator = Decontaminator(items("氧氟沙星片", "肌苷片", "莨菪浸膏片", "保泰松片", "盐酸厄洛替尼片"), 13, ERLOTINIB)
    assert hits(decontaminator, [
        "左氧氟沙星用于尿路感染", "左旋氧氟沙星片", "异丙肌苷可增强免疫", "东莨菪碱用于晕动病", "肌苷酸钠是调味剂",
        "磺吡酮又名苯磺保泰松",
    ]) == [None] * 6
    assert hits(decontaminator, ["氧氟沙星用于尿路感染", "口服肌苷片保肝", "莨菪片一次两片", "盐酸厄洛替尼片的用法",
                                 "左氧氟沙星和氧氟沙星不同"]) == [
        "eval_entity_mention:氧氟沙星片:core", "eval_entity_mention:肌苷片:name", "eval_entity_mention:莨菪浸膏片:core",
        "eval_entity_mention:盐酸厄洛替尼片:name", "eval_entity_mention:氧氟沙星片:core"]


def test_shared_text_counts_only_when_it_is_a_copy() -> None:
    decontaminator = Decontaminator(items("氯噻酮片", reference=LABEL), 13)
    other_diuretic = f"氢氯噻嗪的适应证：{CLASS_WORDING}。"
    copied = "说明书说：肾上腺皮质激素和雌激素治疗所致的钠水潴留，亦用于原发性高血压和尿崩症。"
    assert hits(decontaminator, [other_diuretic], free_text=False) == [None]  # a drug class's wording
    assert hits(decontaminator, [copied]) == ["eval_text_overlap:氯噻酮片:text"]
    assert hits(decontaminator, [f"某药的适应证：{LABEL}"], free_text=False) == ["eval_text_overlap:氯噻酮片:text"]


def write_eval(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["药品", "药品适应症", "医学专家标注的适应病症", "instruction"])
        writer.writerow(["盐酸厄洛替尼片", "<p>用于局部晚期或转移性非小细胞肺癌的二线治疗。</p>", "非小细胞肺癌", "盐酸厄洛替尼片的适应病症"])
        writer.writerow(["氧氟沙星片", "<p>用于敏感菌所致的呼吸道感染。</p>", "呼吸道感染", "氧氟沙星片的适应病症"])
    return path


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_report_lists_every_removal_and_the_recheck_reproduces_it(tmp_path: Path) -> None:
    eval_set = write_eval(tmp_path / "eval.csv")
    drugs = write_json(tmp_path / "drugs.json", [
        "埃罗替尼\n英文名:Erlotinib\n别名:TARCEVA\n适应证:用于非小细胞肺癌。",  # before the record that links it
        "厄洛替尼\n英文名:Erlotinib\n别名:埃罗替尼、它赛瓦\n适应证:用于晚期非小细胞肺癌。",
        "左氧氟沙星\n英文名:Levofloxacin\n适应证:用于泌尿系统感染。",
        "吉非替尼\n英文名:Gefitinib\n适应证:用于肺癌。\n药物相互作用:与氧氟沙星合用需谨慎。",
    ])
    qa = write_jsonl(tmp_path / "qa.jsonl", [
        {"question": "左氧氟沙星能治尿路感染吗？", "answer": "左氧氟沙星可用于敏感菌所致的泌尿系统感染，请遵医嘱。"},
        {"question": "它赛瓦是什么药？", "answer": "它赛瓦是一种靶向药，具体请咨询医生。"},
        {"question": "咳嗽有痰怎么办？", "answer": "多喝水，保持室内湿润，必要时就医。"},
    ])
    sources = ("--kb", f"drug={drugs}", "--qa", str(qa), "--no-near-dup", "--quiet")
    out, plain = tmp_path / "out", tmp_path / "plain"
    assert run("build", *sources, "--eval-set", str(eval_set), "--out", str(out)).exit_code == 0
    assert run("build", *sources, "--out", str(plain)).exit_code == 0
    report = jsonl(out / CONTAMINATION)
    ledger = [e for name in ("rejects.jsonl", "removed_rows.jsonl") for e in jsonl(out / name)
              if e["stage"] == "decontaminate"]
    assert len(report) == len(ledger) == 4
    assert {(e["scope"], e["match"], e["evidence"].split(" ")[0]) for e in report} == {
        ("record", "alias", "埃罗替尼"), ("record", "core", "厄洛替尼"), ("row", "alias", "names"),
        ("row", "core", "names")}  # 它赛瓦 in a question; 氧氟沙星 in 吉非替尼's interactions, not in 左氧氟沙星
    kept = json.dumps(pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist(), ensure_ascii=False)
    assert "左氧氟沙星" in kept and "埃罗替尼" not in kept and "厄洛替尼" not in kept
    assert "`contamination.jsonl`" in (out / "README.md").read_text(encoding="utf-8")
    assert "contamination.jsonl" not in (plain / "README.md").read_text(encoding="utf-8")

    check = run("contamination", str(plain), "--eval-set", str(eval_set))
    assert check.exit_code == 1, check.output
    key = ("source", "record_id", "template_id", "variant", "eval_item", "match", "scope")
    found = jsonl(plain / "contamination-check.jsonl")
    assert {tuple(e[k] for k in key) for e in found} == {tuple(e[k] for k in key) for e in report}
    clean = run("contamination", str(out), "--eval-set", str(eval_set), "--report", str(tmp_path / "again.jsonl"))
    assert clean.exit_code == 0 and "0 contaminated" in clean.output and not jsonl(tmp_path / "again.jsonl")


def test_recheck_of_a_folder_that_is_not_a_build_is_one_line(tmp_path: Path) -> None:
    result = run("contamination", str(tmp_path), "--eval-set", str(write_eval(tmp_path / "eval.csv")))
    assert result.exit_code == 2 and "not an output of build-instructions" in result.output
    assert "Traceback" not in result.output


def test_shared_run_is_the_longest_common_substring_of_ngram_size_or_more() -> None:
    """The chain-following search finds what difflib's longest match finds, whenever that reaches `ngram`."""
    rng = random.Random(5)
    for _ in range(300):
        reference = "".join(rng.choice("甲乙丙丁") for _ in range(rng.randint(20, 60)))
        row = "".join(rng.choice("甲乙丙丁") for _ in range(rng.randint(0, 30)))
        cut = rng.randint(0, len(reference))
        row = row[:len(row) // 2] + reference[cut:cut + rng.randint(0, 40)] + row[len(row) // 2:]
        decontaminator = Decontaminator(items("某药", reference=reference), 5)
        folded_ref = decontaminator._texts[-1][1]
        longest = SequenceMatcher(None, row, folded_ref, autojunk=False).find_longest_match().size
        least = min(decontaminator.min_run, max(5, len(folded_ref) // 2))
        found = decontaminator.shared_run(row)
        assert (found is not None) == (longest >= least), (row, reference)
        if found:
            assert len(found[1]) == longest and found[1] in folded_ref


def test_latin_names_keep_their_word_boundaries_in_the_prepass_index() -> None:
    records = [Named("坦依酮", ("Tanmo",), "Dozoheparin", "drug-1"), Named("哚唑肝素", (), "Tanmo", "drug-2"),
               Named("坦莫辛", ("Tanmoxin",), None, "drug-3")]
    index = KBNames.of(records)
    assert set(index.containing(["tanmo"])) == {0, 1}  # an alias followed by an English name is still a word


def test_the_prepass_validates_only_what_could_matter_and_agrees_with_every_record(tmp_path: Path) -> None:
    rng = random.Random(7)
    syllables = "阿莫西林沙星头孢曲松替尼洛芬普利地平他汀"
    blocks = [f"{''.join(rng.sample(syllables, 4))}{n}\n别名:{''.join(rng.sample(syllables, 3))}\n适应证:用于感染。"
              for n in range(300)]
    blocks += ["厄洛替尼\n别名:埃罗替尼、它赛瓦\n英文名:Erlotinib\n适应证:用于肺癌。",
               "埃罗替尼\n别名:TARCEVA\n英文名:Erlotinib\n适应证:用于肺癌。",
               "特罗凯\n英文名:Erlotinib\n适应证:用于肺癌。",
               "厄洛替尼胶囊剂型X\n适应证:用于肺癌。",  # a longer name holding the key: a blocker
               "左氧氟沙星\n英文名:Levofloxacin\n适应证:用于感染。"]
    config = BuildConfig(sources=[SourceConfig(path=write_json(tmp_path / "drugs.json", blocks), kind="drug")])
    index = kb_names(config, record_ids=True)
    lazy = Decontaminator(items("盐酸厄洛替尼片", "氧氟沙星片"), 13, index)
    assert len(index._named) < 20 < len(index.texts)  # only the records whose names hold a key were validated
    whole = Decontaminator(items("盐酸厄洛替尼片", "氧氟沙星片"), 13, kb_names(config, record_ids=True).all())
    assert lazy.keys == whole.keys and lazy.held_out_records == whole.held_out_records
    assert lazy._blockers == whole._blockers and len(lazy.held_out_records) == 3
