"""Token budgets on the real data: a build of the shared drugs and QA corpora with a tokenizer the tests train and a
limit; rows over it are dropped with their reason, the card shows the percentiles per source."""

import json
import zipfile
from pathlib import Path

import pytest
import tiktoken
from tiktoken.load import load_tiktoken_bpe

from builder.quality.tokens import QWEN_PATTERN, load_tokenizer
from tests.conftest import run
from tests.real.test_shared_data import DRUGS, SFT, SHARED, TOYHOM
from tests.tokenizer_files import huggingface_tokenizer
from tests.wheels import fetched_wheel

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


@pytest.fixture(scope="module")
def qwen_vocabulary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Qwen's BPE vocabulary, `qwen.tiktoken`, as the dashscope wheel on PyPI carries it (fetched from the package
    registry, not from a model hub)."""
    folder = tmp_path_factory.mktemp("qwen")
    with zipfile.ZipFile(fetched_wheel("dashscope>=2,<3", folder)) as wheel:
        path = folder / "qwen.tiktoken"
        path.write_bytes(wheel.read("dashscope/resources/qwen.tiktoken"))
    return path


def test_qwens_vocabulary_counts_real_text_exactly_as_tiktoken_does(qwen_vocabulary: Path) -> None:
    texts = [json.loads(line)["conversations"][turn]["value"] for line in SFT.read_text(encoding="utf-8").splitlines()
             for turn in (0, 1)]
    texts += json.loads(DRUGS.read_text(encoding="utf-8"))[:300]
    own = tiktoken.Encoding("qwen", pat_str=QWEN_PATTERN, mergeable_ranks=load_tiktoken_bpe(str(qwen_vocabulary)),
                            special_tokens={})
    counted = load_tokenizer(qwen_vocabulary).count(texts * 2)  # the second pass reads remembered pieces
    assert counted.tolist() == [len(own.encode_ordinary(text)) for text in texts] * 2
    assert len(own.encode_ordinary("高血压")) < len("高血压".encode())  # a Chinese LLM's vocabulary: words, not bytes


def test_a_real_build_with_qwens_vocabulary(tmp_path: Path, qwen_vocabulary: Path) -> None:
    out = tmp_path / "out"
    result = run("build", "--qa", SFT, "--kb", f"drug={DRUGS}", "--out", out, "--tokenizer", qwen_vocabulary,
                 "--max-tokens", 1024, "--quiet")
    assert result.exit_code == 0, result.output
    tokens = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["quality"]["tokens"]
    assert tokens["tokenizer"] == "tiktoken:qwen.tiktoken" and 0 < tokens["all"]["p50"] <= tokens["all"]["max"] <= 1024
