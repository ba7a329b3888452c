"""The promotional and spun-text filters on the real QA corpora in ../shared/data (read in place, never copied).

Every answer the promotional filter removes from the two files was read and judged: an advertisement, an
invitation to a private channel (click here, chat with me online, our hospital's site) or a peddler's remedy
pitch ("建议你用传统中药黑矾…见效快，疗效确切"). A removal outside that list is a new judgement to make, so the test
names it. The spun-text filter removes far more; a random 40 of its Toyhom removals and all of its MedicalGPT
ones were read (all word-spun), and its counts are held to what was measured. The knowledge bases, written by
people, carry no mark at all.
"""

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from builder.quality.marks import PROMOTIONAL, SPUN
from tests.conftest import run

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TOYHOM = SHARED / "qa" / "toyhom_样例_内科5000-6000.csv"
SFT = SHARED / "qa" / "medicalgpt_sft_1k.jsonl"
DRUGS = SHARED / "drugs" / "caregpt_drug.json"
TCM = SHARED / "tcm" / "llmqa_中药材.csv"
TOY, MED = "toyhom_样例_内科5000-6000", "medicalgpt_sft_1k"

PROMOTIONAL_LINES = {  # every answer removed as promotional, by source line, each read and judged one
    TOY: {205, 273, 1375, 1464, 1465, 1476, 2247, 2252, 2275, 2306, 2323, 2460, 2461, 2503, 2511, 2523, 2527, 2848,
          2943, 3239, 3303, 3333, 3367, 3434, 3518, 3650, 3706, 3837, 3838, 3866, 3878, 3881, 3887, 3891, 3895, 3896,
          3935, 3985, 4263, 4308, 4315, 4316, 4326, 4334, 4337, 4348, 4349, 4410, 4592, 4642, 4720, 4796, 4807, 4813,
          4818, 4908, 5152, 5281, 5516, 5518, 5524, 5531, 5556, 5775, 5777, 5866, 5874, 5901, 6096, 6097, 6417, 6421, 6481,
          6484, 6534, 6544, 6580, 6585, 6596, 6609, 6635, 6679, 6696, 6725, 6782, 7353, 7358, 7418, 7420, 7428, 7443,
          7467, 7469, 7470, 7471, 7472, 7487, 7488, 7490, 7492, 7493, 7497, 7498, 7500, 7503, 7507, 7510, 7512, 7513,
          7514, 7515, 7517, 7519, 7524, 7526, 7531, 7532, 7539, 7556, 7557},
    MED: {154, 359, 427, 480, 529, 595, 877},
}
SPUN_READ = {  # spun answers read and judged so: a random 40 of Toyhom's, all of MedicalGPT's
    TOY: {2215, 2352, 3028, 3161, 3250, 3549, 3709, 3714, 3756, 3801, 3810, 3840, 4023, 4165, 4470, 4519, 4570, 4636,
          4646, 4670, 4674, 4817, 4885, 4951, 5342, 5567, 5594, 5634, 5661, 5670, 5769, 6528, 6547, 6556, 6894, 7387,
          7455, 7487, 7496, 7579},
    MED: {26, 27, 173, 216, 230, 261, 268, 441, 455, 456, 512, 606, 782, 784, 797, 805, 836, 900, 927, 999},
}
SPUN_MEASURED = {TOY: 2193, MED: 20}  # rows whose reason is spun_text (a row that is promotional too says so)

pytestmark = pytest.mark.skipif(not (TOYHOM.is_file() and SFT.is_file()),
                                reason=f"the shared QA files are absent ({TOYHOM.parent} lives beside the repository)")


@pytest.fixture(scope="module")
def rejects(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("promo-real") / "out"
    result = run("build", "--qa", TOYHOM, "--qa", SFT, "--out", out, "--seed", "1", "--quiet")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]


def removed(rejects: list[dict], source: str, reason: str) -> dict[int, str]:
    return {r["line"]: r["detail"] for r in rejects if r["source"] == source and r["reason"] == reason}


@pytest.mark.parametrize("source", [TOY, MED])
def test_every_promotional_removal_was_read_and_judged_one(rejects: list[dict], source: str) -> None:
    found = removed(rejects, source, "promotional")
    assert set(found) - PROMOTIONAL_LINES[source] == set(), "a new removal: read it, then add its line or fix the mark"
    assert len(found) >= 0.95 * len(PROMOTIONAL_LINES[source])
    assert all(found.values())  # each names its marks


@pytest.mark.parametrize("source", [TOY, MED])
def test_spun_text_removes_what_was_measured(rejects: list[dict], source: str) -> None:
    spun = removed(rejects, source, "spun_text")
    assert abs(len(spun) - SPUN_MEASURED[source]) <= 0.03 * SPUN_MEASURED[source] + 1
    assert SPUN_READ[source] <= set(spun) | set(removed(rejects, source, "promotional"))
    assert all(label.endswith(")") for detail in spun.values() for label in detail.split(", "))


def test_every_mark_is_found_by_its_hint() -> None:
    """The pre-scan reads hints, not patterns: on every answer of both files, a text a mark's pattern matches is one
    its hint matches, else the pre-scan would let a carrier through unseen."""
    with TOYHOM.open(encoding="gb18030", newline="") as handle:
        answers = [row["answer"] for row in csv.DictReader(handle)]
    answers += [json.loads(line)["conversations"][1]["value"] for line in SFT.read_text(encoding="utf-8").splitlines()]
    column = pa.array(answers, pa.string())
    for mark in PROMOTIONAL.marks + SPUN.marks:
        carried = pc.match_substring_regex(column, mark.patterns[0])
        assert not pc.any(pc.and_not(carried, pc.match_substring_regex(column, mark.hint))).as_py(), mark.label


@pytest.mark.skipif(not (DRUGS.is_file() and TCM.is_file()), reason="the shared knowledge bases are absent")
def test_text_people_wrote_carries_no_mark() -> None:
    """The drug records and every cell of the herb table: natural text, no promotion, no spinning."""
    with TCM.open(encoding="utf-8", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    column = pa.array(json.loads(DRUGS.read_text(encoding="utf-8")) + cells, pa.string())
    assert len(column) > 9000
    assert PROMOTIONAL.details(column).null_count == len(column)
    assert SPUN.details(column).null_count == len(column)
