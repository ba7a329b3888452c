"""`build-instructions audit`: knowledge bases the tests write are built with the real CLI and audited; then defects
are planted in the built Parquet rows (foreign text, another field's text, a deleted sentence, a truncated value
dressed up, a 参见 answer, aliases that repeat the name or list ingredients) and each must be found, while clean
rows and honest treatments of damaged values pass."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run, write_json

CLEAN = [
    "阿莫西林\n药品类型:抗感染药，青霉素类\n别名:羟氨苄青霉素、阿莫仙\n剂型:胶囊剂：每粒0.25g。\n"
    "适应证:1.用于敏感菌所致的呼吸道感染。2.用于泌尿生殖道感染。\n禁忌证:对青霉素类药物过敏者禁用。\n"
    "注意事项:1.用药前须做青霉素皮肤试验。2.药物对哺乳的影响：尚不明确。3.肾功能不全者应减量。\n"
    "用法用量:口服。成人一次0.5g，每6～8小时1次。",
    "布洛芬\n药品类型:解热镇痛药\n适应证:<p>用于缓解轻至中度疼痛&ldquo;如头痛&rdquo;、关节痛。</p>\n"
    "不良反应:1.胃肠道反应。2.头痛、头晕。\n用法用量:口服，一次0.2g，一日2次。",
    "维生素C\n适应证:用于预防坏血病。\n用法用量:口服，一次0.1g，一日3次。",
    "维生素C\n适应证:用于治疗坏血病。\n用法用量:静脉注射，一次0.5g，一日1次。",
    "复方甘草片\n别名:甘草合剂片\n剂型:片剂：每片含甘草浸膏粉112.5mg、阿片粉4mg。\n适应证:用于镇咳祛痰。\n"
    "用法用量:口服，一次3片，一日3次。",
]
CLEAN.append(CLEAN[1])  # an exact duplicate: the ledger rejects it, and no row may be taken for it
DAMAGED = [
    "氧芬胂\n适应证:用于缓解胃肠痉挛。口服吸收个体差异大。t\n用法用量:口服，一次10mg。",
    "替洛隆\n适应证:用于病毒感染。6h后即可检出干扰素，t\n用法用量:口服，一次0.1g。",
    "呋塞米\n禁忌证:对磺胺类药物过敏者禁用。\n适应证:用于水肿。\n用法用量:口服，一次20mg。",
    "布美他尼\n禁忌证:参见：呋塞米\n适应证:用于水肿。\n用法用量:口服，一次1mg。",
    "托拉塞米\n禁忌证:参见呋塞米。\n适应证:用于水肿。\n用法用量:口服，一次5mg。",
    "复方阿司匹林\n别名:阿司匹林、咖啡因、APC\n剂型:片剂：每片含阿司匹林0.22g、非那西丁0.15g、咖啡因35mg。\n"
    "适应证:用于发热、头痛。\n用法用量:口服，一次1片。",
]


def build(tmp_path: Path, blocks: list[str], *args: str, name: str = "drugs.json") -> Path:
    source = write_json(tmp_path / name, blocks)
    out = tmp_path / "out"
    result = run("build", "--kb", f"drug={source}", "--out", out, "--variants", "2", "--workers", "1", "--quiet",
                 *args)
    assert result.exit_code == 0, result.output
    return out


def audit(out: Path) -> tuple[int, list[dict], str]:
    result = run("audit", out)
    assert "Traceback" not in result.output
    path = out / "audit.jsonl"
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []
    return result.exit_code, entries, result.stdout


def rows_of(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def plant(out: Path, answers: dict[tuple[str, str], str], only: bool = False) -> None:
    """Sets the answer of each (entity name, template id) in the built rows: every row of that record and template
    gets it, or one row is made from another row of the record when the build gave none. With `only`, the rows
    planted are all the build keeps."""
    files = sorted((out / "data").glob("*.parquet"))
    schema = pq.read_schema(files[0])
    rows = [row | {"__file": str(f)} for f in files for row in pq.read_table(f).to_pylist()]
    planted = []
    for (name, template_id), output in answers.items():
        mine = [r for r in rows if name in r["instruction"]]
        assert mine, f"no row names {name}"
        same = [r for r in mine if r["template_id"] == template_id] or [
            mine[0] | {"template_id": template_id, "variant": 0, "instruction": f"{name}？"}]
        planted += [r | {"output": output} for r in same]
        rows = [r for r in rows if not any(r is s for s in same)]
    kept = planted if only else rows + planted
    for f in files:
        mine = [{k: v for k, v in r.items() if k != "__file"} for r in kept if r["__file"] == str(f)]
        pq.write_table(pa.Table.from_pylist(mine, schema=schema), f)


def test_a_clean_build_passes_with_exit_0_and_an_empty_audit_file(tmp_path: Path) -> None:
    out = build(tmp_path, CLEAN)
    code, entries, printed = audit(out)
    assert (code, entries) == (0, []), entries
    rows = len(rows_of(out))
    assert f"audited {rows} knowledge-base rows: 0 with findings" in printed
    assert (out / "audit.jsonl").read_text(encoding="utf-8") == ""
    again = run("build", "--kb", f"drug={tmp_path / 'drugs.json'}", "--out", out, "--quiet", "--workers", "1")
    assert again.exit_code == 0, again.output  # audit.jsonl is listed in the build's marker: a build may replace it


def test_planted_defects_are_found_and_only_they(tmp_path: Path) -> None:
    out = build(tmp_path, CLEAN)
    plant(out, {
        ("布洛芬", "drug.usage_dosage"): "布洛芬的用法用量：口服，一次0.2g，一日2次。每日最大剂量不超过4g。",
        ("阿莫西林", "drug.dosage_form"): "阿莫西林的剂型：口服。成人一次0.5g，每6～8小时1次。",
        ("阿莫西林", "drug.precautions"): "使用阿莫西林的注意事项：1.用药前须做青霉素皮肤试验。",
        ("阿莫西林", "drug.indications"): "阿莫西林（又名阿莫西林、羟氨苄青霉素）的适应证：1.用于敏感菌所致的呼吸道感染。"
                                         "2.用于泌尿生殖道感染。",
    })
    code, entries, printed = audit(out)
    assert code == 1
    found = {(e["name"], e["template_id"], e["finding"]) for e in entries}
    assert found == {
        ("布洛芬", "drug.usage_dosage", "not_in_record"),
        ("阿莫西林", "drug.dosage_form", "wrong_field"),
        ("阿莫西林", "drug.dosage_form", "deleted_sentence"),  # the dosage form it should have given is missing
        ("阿莫西林", "drug.precautions", "deleted_sentence"),
        ("阿莫西林", "drug.indications", "self_alias"),
    }
    by = {e["finding"]: e for e in entries if e["template_id"] != "drug.dosage_form" or e["finding"] == "wrong_field"}
    assert by["not_in_record"]["answer_text"] == "每日最大剂量不超过4g"
    assert by["wrong_field"]["field"] == "用法用量" and "每6～8小时1次" in by["wrong_field"]["record_text"]
    assert by["deleted_sentence"]["record_text"] == "肾功能不全者应减量。"
    assert by["self_alias"]["answer_text"] == "阿莫西林" and by["self_alias"]["record_text"] == "阿莫西林"
    assert all(e["source"] == "drugs" and e["record_id"].startswith("drug-") and e["variants"] for e in entries)
    assert by["self_alias"]["index"] == 0 and by["not_in_record"]["index"] == 1  # the record's place in the file
    assert "deleted_sentence" in printed and "肾功能不全者应减量" in printed


def test_damaged_source_values_presented_as_finished_answers_are_found(tmp_path: Path) -> None:
    out = build(tmp_path, DAMAGED)
    plant(out, {
        ("氧芬胂", "drug.indications"): "氧芬胂的适应证：用于缓解胃肠痉挛。口服吸收个体差异大。t。",
        ("替洛隆", "drug.indications"): "替洛隆的适应证：用于病毒感染。6h后即可检出干扰素，t",
        ("布美他尼", "drug.contraindications"): "布美他尼的禁忌：参见：呋塞米。",
        ("托拉塞米", "drug.contraindications"): "托拉塞米的禁忌（依照呋塞米的条目）：对磺胺类药物过敏者禁用。",
        ("复方阿司匹林", "drug.aliases"): "复方阿司匹林的别名：阿司匹林、咖啡因、APC。",
        ("复方阿司匹林", "drug.indications"): "复方阿司匹林（又名APC）的适应证：用于发热、头痛。",
    }, only=True)
    code, entries, _ = audit(out)
    assert code == 1
    found = {(e["name"], e["template_id"], e["finding"], e["answer_text"]) for e in entries}
    assert found == {
        ("布美他尼", "drug.contraindications", "cross_reference_answer", "参见：呋塞米"),
        ("复方阿司匹林", "drug.aliases", "ingredient_alias", "咖啡因"),
        ("复方阿司匹林", "drug.aliases", "ingredient_alias", "阿司匹林"),
        ("氧芬胂", "drug.indications", "truncated_as_complete", "…口服吸收个体差异大。t。"),
    }


def test_honest_handling_of_damage_passes(tmp_path: Path) -> None:
    """A cut-off value shown without a closing mark or with its fragment dropped, and a 参见 followed to the
    entry it names, are what the builder should do: no finding."""
    out = build(tmp_path, DAMAGED)
    plant(out, {
        ("氧芬胂", "drug.indications"): "氧芬胂的适应证：用于缓解胃肠痉挛。口服吸收个体差异大。",
        ("替洛隆", "drug.indications"): "替洛隆的适应证：用于病毒感染。6h后即可检出干扰素，t",
        ("托拉塞米", "drug.contraindications"): "托拉塞米的禁忌（依照呋塞米的条目）：对磺胺类药物过敏者禁用。",
    }, only=True)
    assert audit(out)[:2] == (0, [])


def test_records_sharing_a_name_are_told_apart_by_their_content(tmp_path: Path) -> None:
    out = build(tmp_path, CLEAN)
    vitamin = [r for r in rows_of(out) if r["template_id"] == "drug.indications" and "维生素C" in r["instruction"]]
    assert {r["output"] for r in vitamin} == {"维生素C的适应证：用于预防坏血病。", "维生素C的适应证：用于治疗坏血病。"}
    ids = {r["record_id"] for r in vitamin}
    plant(out, {("维生素C", "drug.category"): "维生素C的药物类别：维生素类。"})  # one record, another's row kept
    code, entries, _ = audit(out)
    assert code == 1 and {(e["finding"], e["answer_text"]) for e in entries} == {("not_in_record", "维生素类")}
    assert len(ids) == 2 and {e["index"] for e in entries} <= {2, 3}


@pytest.mark.parametrize("fuller_first", [True, False])
def test_a_record_repeated_with_one_field_more_is_matched_whole(tmp_path: Path, fuller_first: bool) -> None:
    """Rows the two copies share survive once (dedup), in one of the two record ids, which then fits both records
    alike; the other id's only row fits the fuller record alone, which it must get."""
    base = "西替利嗪\n适应证:用于季节性过敏性鼻炎。\n用法用量:口服，一次10mg，一日1次。"
    pair = [base + "\n不良反应:偶见嗜睡、口干。", base]
    out = build(tmp_path, pair if fuller_first else pair[::-1])
    assert len({r["record_id"] for r in rows_of(out)}) == 2
    assert audit(out)[:2] == (0, [])


def test_a_csv_source_with_a_users_mapping_reports_lines(tmp_path: Path) -> None:
    table = tmp_path / "herbs.csv"
    table.write_text("品名,主治病症,用法\n浮萍,风热感冒；麻疹不透,煎服，3～9g\n薄荷,风热感冒；头痛,煎服，3～6g，后下\n",
                     encoding="utf-8")
    out = tmp_path / "out"
    result = run("build", "--kb", f"herb={table}", "--map", "品名=name", "--map", "主治病症=indications",
                 "--map", "用法=usage_dosage", "--out", out, "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    assert audit(out)[:2] == (0, [])
    answer = next(r["output"] for r in rows_of(out) if r["template_id"] == "herb.usage_dosage" and "薄荷" in r["output"])
    plant(out, {("薄荷", "herb.usage_dosage"): answer.replace("后下", "后下，久煎")})
    code, entries, _ = audit(out)
    assert code == 1 and [(e["finding"], e["line"], e["answer_text"]) for e in entries] == [("not_in_record", 3, "久煎")]


def test_text_the_user_strips_is_not_the_records_content(tmp_path: Path) -> None:
    """`--strip` declares scraper residue: the audit strips it from the record too, so its absence from an answer
    is no deleted sentence."""
    blocks = ["莲子\n适应证:用于脾虚泄泻。[详细]\n用法用量:煎服，一次6～15g。[详细]"]
    out = build(tmp_path, blocks, "--strip", r"\[详细\]")
    assert not any("详细" in r["output"] for r in rows_of(out))
    assert audit(out)[:2] == (0, [])


def test_not_a_build_is_one_line_and_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}", encoding="utf-8")
    result = run("audit", folder)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "is not an output of build-instructions" in result.stderr


@pytest.mark.parametrize("change", ["removed", "edited"])
def test_a_source_gone_or_changed_since_the_build_is_exit_2(tmp_path: Path, change: str) -> None:
    out = build(tmp_path, CLEAN)
    source = tmp_path / "drugs.json"
    if change == "removed":
        source.unlink()
    else:
        write_json(source, [*CLEAN, "新药\n适应证:用于测试。"])
    result = run("audit", out)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and str(source) in result.stderr
    assert ("is gone" if change == "removed" else "changed since the build") in result.stderr
    assert not (out / "audit.jsonl").exists()


def test_damaged_rows_are_one_line_and_exit_2(tmp_path: Path) -> None:
    out = build(tmp_path, CLEAN)
    shard = sorted((out / "data").glob("*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    result = run("audit", out)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "rows cannot be read" in result.stderr


def test_a_template_the_catalogue_does_not_hold_is_exit_2(tmp_path: Path) -> None:
    out = build(tmp_path, CLEAN)
    plant(out, {("布洛芬", "drug.no_such_template"): "布洛芬的适应证：用于缓解轻至中度疼痛。"})
    result = run("audit", out)
    assert result.exit_code == 2 and "drug.no_such_template" in result.stderr


def test_help_loads_no_heavy_library() -> None:
    code = ("import sys\nfrom click.testing import CliRunner\nfrom builder.cli import main\n"
            "assert CliRunner().invoke(main, ['audit', '--help']).exit_code == 0\n"
            "print(sorted({'numba', 'numpy', 'pyarrow', 'datasets', 'jinja2', 'pydantic'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
