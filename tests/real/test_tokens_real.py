"""Token budgets on the real data: a build of the shared drugs and QA corpora with a tokenizer the tests train and a
limit; rows over it are dropped with their reason, the card shows the percentiles per source."""

import json
from pathlib import Path

import pytest

from tests.conftest import run
from tests.real.test_shared_data import DRUGS, SFT, SHARED, TOYHOM
from tests.tokenizer_files import huggingface_tokenizer

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"real data folder {SHARED} is absent (it lives beside the repo)")
LIMIT = 512


def test_a_real_build_drops_rows_over_the_limit_and_reports_the_budget(tmp_path: Path) -> None:
    tokenizer = huggingface_tokenizer(tmp_path / "tokenizer.json")
    out = tmp_path / "out"
    result = run("build", "--kb", f"drug={DRUGS}", "--qa", TOYHOM, "--qa", SFT, "--out", out, "--seed", "1",
                 "--tokenizer", tokenizer, "--max-tokens", LIMIT, "--quiet")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    tokens = manifest["quality"]["tokens"]
    over = {name: [entry for line in (out / name).read_text(encoding="utf-8").splitlines()
                   if (entry := json.loads(line))["reason"] == "too_many_tokens"]
            for name in ("rejects.jsonl", "removed_rows.jsonl")}
    assert over["rejects.jsonl"], "a QA record whose one row is over the limit is a rejected record"
    assert all(int(entry["detail"].split()[0]) > LIMIT for entries in over.values() for entry in entries)
    assert manifest["reconciles"] and tokens["all"]["max"] <= LIMIT
    card = (out / "README.md").read_text(encoding="utf-8")
    for source in ("caregpt_drug", "toyhom_样例_内科5000-6000", "medicalgpt_sft_1k"):
        figures = tokens["by_source"][source]
        assert figures["p50"] <= figures["p95"] <= figures["p99"] <= figures["max"] <= LIMIT
        assert f"| {source} | {figures['rows']} | {figures['p50']} | {figures['p95']} | {figures['p99']} |" in card
