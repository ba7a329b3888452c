"""The audit over the real drug file in ../shared/data (read in place, never copied here), built with --variants 3.

Cleaning, cross-references and aliases are being fixed while this test is written, so it holds the counts of
today's build as ceilings. The acceptance targets of issue 18 are all zero (TARGETS); tighten CEILINGS to them as
the fixes land.
"""

import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builder.audit.checks import FINDINGS
from tests.conftest import run

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DRUGS = SHARED / "drugs" / "caregpt_drug.json"
# issue 18's acceptance: no row with text absent from its record, no deleted clinical sentence, no truncated value
# presented as complete, no 参见 answer, no self or ingredient alias
TARGETS = {"not_in_record": 0, "deleted_sentence": 0, "truncated_as_complete": 0, "cross_reference_answer": 0,
           "self_alias": 0, "ingredient_alias": 0}
# every finding at zero: issue 18's targets, and no row answered from a field it does not ask about or with no record
CEILINGS = {**TARGETS, "wrong_field": 0, "no_source_record": 0}
AUDIT_CPU_SECONDS = 30  # one core; the build's ~52K rows

pytestmark = pytest.mark.skipif(not DRUGS.is_file(), reason=f"real drug file {DRUGS} is absent (../shared/data lives "
                                                            "beside the repository)")


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, float]:
    out = tmp_path_factory.mktemp("audit-real") / "out"
    built = run("build", "--kb", f"drug={DRUGS}", "--variants", "3", "--out", out, "--workers", "1", "--quiet")
    assert built.exit_code == 0, built.output
    started = time.process_time()
    result = run("audit", out)
    return out, result.exit_code, result.stdout, time.process_time() - started


def test_every_row_is_audited_against_its_record(audited: tuple[Path, int, str, float]) -> None:
    out, code, printed, _ = audited
    rows = pq.read_table(sorted((out / "data").glob("*.parquet")), columns=["kind"]).num_rows
    assert f"audited {rows} knowledge-base rows" in printed
    entries = [json.loads(line) for line in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
    assert code == (1 if entries else 0)
    assert all(isinstance(e["index"], int) and e["name"] and e["source"] == "caregpt_drug" for e in entries)


def test_the_audit_finds_nothing(audited: tuple[Path, int, str, float]) -> None:
    out, _, printed, _ = audited
    counts = {kind: int(line.split()[1]) for line in printed.splitlines()
              for kind in FINDINGS if line.startswith(f"{kind} ")}
    assert set(counts) == set(FINDINGS)
    assert {k: v for k, v in counts.items() if v > CEILINGS[k]} == {}, counts
    assert all(TARGETS[k] <= CEILINGS[k] for k in TARGETS)


def test_the_audit_is_fast(audited: tuple[Path, int, str, float]) -> None:
    assert audited[3] < AUDIT_CPU_SECONDS
