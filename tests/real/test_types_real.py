"""Every instruction type built from the real drug knowledge base with QiZhen's evaluation set held out: loaded by
`datasets`, faithful to the records, distractors apart from the right answer, absent material at its share, one
split per entity, and no evaluation entity anywhere."""

import json
import os
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builder.eval.match import Matcher, load_synonyms
from builder.quality.normalize import fold
from tests.conftest import run
from tests.real.test_shared_data import DRUGS, EVAL, SHARED
from tests.test_types import assert_one_split_per_record_and_companions_share_it

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data folder {SHARED} is absent (it lives beside the repo)")
TYPES = ("single", "grounded", "consultation", "choice", "preference", "reverse")
ABSENT = re.compile(r"^给出的资料中没有(.+)的(.+)，无法根据这些资料回答。$")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("types") / "out"
    result = run("build", "--kb", f"drug={DRUGS}", "--eval-set", str(EVAL), "--types", "all", "--seed", "3",
                 "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = []
    for path in sorted((out / "data").glob("*.parquet")):
        rows += [{**row, "split": path.name.split("-")[0]} for row in pq.read_table(path).to_pylist()]
    return out, rows


def test_every_type_is_built_and_loads_with_datasets(built: tuple[Path, list[dict]]) -> None:
    import datasets
    out, rows = built
    counts = Counter(row["type"] for row in rows)
    assert all(counts[name] >= 50 for name in TYPES), counts
    loaded = datasets.load_from_disk(str(out / "hf"))
    assert sum(len(split) for split in loaded.values()) == len(rows)
    assert set(loaded["train"].unique("type")) == set(TYPES)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["reconciles"] and manifest["types"]["enabled"] == list(TYPES)
    assert "## Instruction types" in (out / "README.md").read_text(encoding="utf-8")


def test_grounded_rows_without_the_record_are_at_the_configured_share(built: tuple[Path, list[dict]]) -> None:
    _, rows = built
    grounded = [row for row in rows if row["type"] == "grounded"]
    absent = [row for row in grounded if ABSENT.match(row["output"])]
    assert abs(len(absent) / len(grounded) - 0.1) <= 0.01, (len(absent), len(grounded))
    for row in absent:  # the material names only other drugs
        name = ABSENT.match(row["output"]).group(1)
        assert not re.search(rf"(?m)^资料\d+：{re.escape(name)}(（又名.*）)?$", row["input"]), row["input"]
    for row in grounded:
        blocks = dict(re.findall(r"(?ms)^资料(\d+)：[^\n]*\n[^：\n]+：(.+?)(?=\n\n资料\d+：|\Z)", row["input"]))
        assert len(blocks) == len(row["companions"]) + (row not in absent), row["input"]
        if row not in absent:
            number = re.match(r"根据资料(\d+)，", row["output"]).group(1)
            assert fold(row["output"]).endswith(fold(blocks[number])), (blocks[number], row["output"])
        assert row["system"] and len(row["companions"]) >= 1


def test_distractors_never_overlap_the_right_answer_and_letters_are_balanced(built: tuple[Path, list[dict]]) -> None:
    _, rows = built
    matcher = Matcher(load_synonyms())
    choice = [row for row in rows if row["type"] == "choice"]
    letters = Counter()
    for row in choice:
        right, said = re.match(r"^答案：([A-F])。.+?的适应证：(.+)$", row["output"], re.S).groups()
        letters[right] += 1
        options = dict(re.findall(r"^([A-F])\. (.+)$", row["instruction"], re.M))
        assert right in options and len(options) == 4
        for letter, text in options.items():
            if letter != right:
                for item in text.split("、"):
                    hit = matcher.match(item, said)
                    assert hit.matched is None and hit.negated is None and fold(item) not in fold(said), (item, said)
    assert max(letters.values()) - min(letters.values()) <= 0.05 * len(choice), letters


def test_preference_pairs_differ_and_perturbed_ones_change_one_span(built: tuple[Path, list[dict]]) -> None:
    _, rows = built
    pairs = [row for row in rows if row["type"] == "preference"]
    perturbed = [row for row in pairs if not row["companions"]]
    assert perturbed and all(row["template_id"] == "drug.usage_dosage" for row in perturbed)
    for row in pairs:
        assert row["rejected"] and row["rejected"] != row["output"]
    for row in perturbed:  # what differs (with a character either side) is a number
        chosen, rejected = row["output"], row["rejected"]
        start = len(os.path.commonprefix([chosen, rejected]))
        end = len(os.path.commonprefix([chosen[start:][::-1], rejected[start:][::-1]]))
        for text in (chosen, rejected):
            assert re.search(r"[\d０-９一二两三四五六七八九十半]", text[max(start - 1, 0):len(text) - end + 1]), row


def test_consultations_chain_two_to_five_turns_in_order(built: tuple[Path, list[dict]]) -> None:
    _, rows = built
    order = ["drug.indications", "drug.usage_dosage", "drug.contraindications", "drug.adverse_reactions",
             "drug.precautions"]
    for row in (r for r in rows if r["type"] == "consultation"):
        ids = row["template_id"].split("+")
        assert 2 <= len(ids) == len(row["history"]) + 1 <= 5
        assert ids == sorted(ids, key=order.index)


def test_reverse_answers_list_drugs_whose_indications_name_the_condition(built: tuple[Path, list[dict]]) -> None:
    _, rows = built
    by_id = {row["record_id"]: row for row in rows if row["template_id"] == "drug.indications"
             and row["type"] == "single"}
    for row in (r for r in rows if r["type"] == "reverse"):
        condition = re.search(r"适应证包括(.+?)的有：", row["output"]).group(1)
        assert "并不是可用于" in row["output"]
        for record in [row["record_id"], *row["companions"]]:
            if record in by_id:  # the record's own single row shows its indications, as the scorer reads them
                assert fold(condition) in fold(by_id[record]["output"]), (condition, by_id[record]["output"])


def test_one_split_per_entity_and_companions_share_it(built: tuple[Path, list[dict]]) -> None:
    assert_one_split_per_record_and_companions_share_it(built[1])


def test_no_evaluation_entity_in_any_row_of_any_type(built: tuple[Path, list[dict]], tmp_path: Path) -> None:
    out, rows = built
    check = run("contamination", str(out), "--eval-set", str(EVAL), "--report", str(tmp_path / "check.jsonl"))
    assert check.exit_code == 0 and "0 contaminated" in check.output, check.output
    text = fold("\n".join(json.dumps([r["instruction"], r["input"], r["output"], r["history"], r["rejected"]],
                                     ensure_ascii=False) for r in rows))
    assert not [name for name in ("厄洛替尼", "埃罗替尼", "erlotinib") if name in text]
    assert pa.array([r["type"] for r in rows]).unique().to_pylist()
