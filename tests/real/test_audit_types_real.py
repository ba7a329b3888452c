"""The audit of every instruction type over the real drug file in ../shared/data (read in place, never copied here),
built with --types all: every row of every type is audited and none has a finding; one row of each type corrupted in
the built Parquet is found, and only it."""

import json
import re
import shutil
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from builder.audit.types import PLANNERS
from tests.conftest import run
from tests.test_audit_types import audit, edit, grounded_answer, rows_of

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DRUGS = SHARED / "drugs" / "caregpt_drug.json"
AUDIT_CPU_SECONDS = 40  # one core; ~36K rows of six types (measured: ~12 s)

pytestmark = pytest.mark.skipif(not DRUGS.is_file(), reason=f"real drug file {DRUGS} is absent (../shared/data lives "
                                                            "beside the repository)")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audit-types-real") / "out"
    result = run("build", "--kb", f"drug={DRUGS}", "--types", "all", "--out", out, "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def audited(built: Path) -> tuple[int, list[dict], str, float]:
    started = time.process_time()
    code, entries, printed = audit(built)
    return code, entries, printed, time.process_time() - started


def test_every_row_of_every_type_is_audited_and_none_has_a_finding(built: Path,
                                                                   audited: tuple[int, list[dict], str, float]) -> None:
    code, entries, printed, _ = audited
    counts = Counter(pq.read_table(sorted((built / "data").glob("*.parquet")), columns=["type"])["type"].to_pylist())
    assert set(counts) == {"single", *PLANNERS}
    assert f"audited {sum(counts.values())} knowledge-base rows: 0 with findings" in printed
    for kind, rows in counts.items():
        assert f"{kind} {rows} (0 with findings)" in printed
    assert (code, entries) == (0, []), entries[:5]


def test_the_audit_of_all_types_is_fast(audited: tuple[int, list[dict], str, float]) -> None:
    assert audited[3] < AUDIT_CPU_SECONDS


def test_one_corrupted_row_of_each_type_is_found(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(built, out)
    rows = rows_of(out)

    def cite_another_block(row: dict) -> dict:
        number = int(grounded_answer(row).group(1))
        return row | {"output": row["output"].replace(f"根据资料{number}，", f"根据资料{number % 2 + 1}，", 1)}

    def answer_from_another_record(row: dict) -> dict:
        last = row["template_id"].split("+")[-1]
        return row | {"output": next(r["output"] for r in rows if r["type"] == "single" and r["template_id"] == last
                                     and r["record_id"] != row["record_id"])}

    def another_letter(row: dict) -> dict:
        letter = re.match(r"答案：([A-F])。", row["output"]).group(1)
        return row | {"output": row["output"].replace(f"答案：{letter}。", f"答案：{'B' if letter == 'A' else 'A'}。", 1)}

    def another_name(row: dict) -> dict:
        listed = re.search(r"的有：(.+?)。", row["output"]).group(1).split("、")
        return row | {"output": row["output"].replace(f"、{listed[-1]}。", "、阿司匹林肠溶片X。", 1)}

    changed = {
        "grounded": (edit(out, lambda r: grounded_answer(r) is not None, cite_another_block), {"wrong_material"}),
        "consultation": (edit(out, lambda r: r["type"] == "consultation", answer_from_another_record),
                         {"not_in_record", "deleted_sentence"}),
        "choice": (edit(out, lambda r: r["type"] == "choice", another_letter), {"wrong_option"}),
        "preference": (edit(out, lambda r: r["type"] == "preference" and not r["companions"],
                            lambda r: r | {"rejected": r["output"]}), {"not_perturbed"}),
        "reverse": (edit(out, lambda r: r["type"] == "reverse", another_name), {"unlisted_record"}),
    }
    code, entries, _ = audit(out)
    assert code == 1
    by_row: dict[tuple, set[str]] = {}
    for e in entries:
        by_row.setdefault((e["record_id"], e["type"], e["template_id"]), set()).add(e["finding"])
    assert set(by_row) == {(row["record_id"], row["type"], row["template_id"]) for row, _ in changed.values()}, \
        json.dumps(entries[:5], ensure_ascii=False)
    for kind, (row, expected) in changed.items():
        assert by_row[(row["record_id"], kind, row["template_id"])] & expected, (kind, by_row)


def test_a_build_with_its_single_rows_thinned_audits_clean(tmp_path: Path) -> None:
    """Most records keep no row of their own: the records rows only show are matched by name or content."""
    out = tmp_path / "out"
    weights = [f"{kind}={weight}" for kind, weight in (("single", 0.01), ("grounded", 0.1), ("preference", 0.05),
                                                       ("consultation", 0.05), ("choice", 0.1), ("reverse", 0.2))]
    result = run("build", "--kb", f"drug={DRUGS}", "--types", "all", *(a for w in weights for a in ("--type-weight", w)),
                 "--out", out, "--workers", "1", "--quiet")
    assert result.exit_code == 0, result.output
    rows = rows_of(out)
    own = {r["record_id"] for r in rows}
    assert len({c for r in rows for c in r["companions"]} - own) > 100  # records only shown beside others
    code, entries, _ = audit(out)
    assert (code, entries) == (0, []), entries[:5]
