"""Token budgets: counts from real tokenizers the tests train, the limit that drops (never truncates), the figures
in the manifest, the card and the report, and the one-line errors."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import regex
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken.load import load_tiktoken_bpe
from tokenizers import Tokenizer

from builder.kernels.pieces import Known, piece_keys
from builder.kernels.utf8 import utf8_buffers
from builder.quality.tokens import QWEN_PATTERN, TiktokenTokenizer, load_tokenizer, summary
from tests.conftest import run
from tests.tokenizer_files import huggingface_tokenizer, tiktoken_file

SAMPLE = Path(__file__).resolve().parents[1] / "raw" / "sample.toml"
LIMIT = 200


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return huggingface_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer.json")


@pytest.fixture(scope="module")
def bpe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiktoken_file(tmp_path_factory.mktemp("tik") / "sample.tiktoken")


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, tokenizer_json: Path) -> Path:
    out = tmp_path_factory.mktemp("limited") / "out"
    result = run("build", "--config", SAMPLE, "--out", out, "--tokenizer", tokenizer_json.parent,
                 "--max-tokens", LIMIT, "--quiet")
    assert result.exit_code == 0, result.output
    return out


def prompt(row: dict) -> str:
    return row["instruction"] + ("\n" + row["input"] if row["input"] else "")


def recount(tokenizer_json: Path, row: dict) -> int:
    """The row's tokens as the consumer's own loader counts them."""
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    return sum(len(tokenizer.encode(text, add_special_tokens=False).ids) for text in (prompt(row), row["output"]))


def written_rows(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def test_counts_are_the_tokenizers_own(tokenizer_json: Path, bpe_file: Path) -> None:
    texts = ["高血压患者平时饮食要注意什么？", "", "用于2型糖尿病。\nmetformin 500mg"]
    hf = Tokenizer.from_file(str(tokenizer_json))
    assert load_tokenizer(tokenizer_json).count(texts).tolist() == [len(hf.encode(t, add_special_tokens=False).ids)
                                                                    for t in texts]
    assert load_tokenizer(tokenizer_json.parent).count(texts).tolist() == load_tokenizer(tokenizer_json).count(texts).tolist()
    ranks = load_tiktoken_bpe(str(bpe_file))
    own = tiktoken.Encoding("own", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens={})
    assert load_tokenizer(bpe_file).count(texts).tolist() == [len(own.encode_ordinary(t)) for t in texts]
    assert isinstance(load_tokenizer(bpe_file), TiktokenTokenizer)


def test_no_written_row_is_over_the_limit_and_every_dropped_one_was(limited: Path, tokenizer_json: Path) -> None:
    rows = written_rows(limited)
    assert rows and max(recount(tokenizer_json, row) for row in rows) <= LIMIT
    dropped = [json.loads(line) for name in ("removed_rows.jsonl", "rejects.jsonl")
               for line in (limited / name).read_text(encoding="utf-8").splitlines()]
    over = [entry for entry in dropped if entry["reason"] == "too_many_tokens"]
    assert over, "the sample holds rows longer than the limit"
    for entry in over:
        total = int(entry["detail"].split()[0])
        assert total > LIMIT and entry["stage"] == "filter" and f"> {LIMIT}" in entry["detail"]
    manifest = json.loads((limited / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["quality"]["removed"]["filter:too_many_tokens"] == len(over)
    assert manifest["reconciles"]


def test_the_manifest_figures_are_those_of_the_rows_written(limited: Path, tokenizer_json: Path) -> None:
    tokens = json.loads((limited / "manifest.json").read_text(encoding="utf-8"))["quality"]["tokens"]
    rows = written_rows(limited)
    counts = np.array([recount(tokenizer_json, row) for row in rows])
    assert tokens["all"] == summary(counts) and tokens["max_tokens"] == LIMIT
    assert tokens["tokenizer"] == f"huggingface:{tokenizer_json.parent.name}"
    for source in {row["source"] for row in rows}:
        mine = np.array([c for c, row in zip(counts, rows, strict=True) if row["source"] == source])
        assert tokens["by_source"][source] == summary(mine)
    templates = {row["template_id"] or "qa" for row in rows}
    assert set(tokens["by_template"]) == templates
    assert sum(figures["rows"] for figures in tokens["by_template"].values()) == len(rows)


def test_the_card_and_the_report_show_the_figures(limited: Path) -> None:
    tokens = json.loads((limited / "manifest.json").read_text(encoding="utf-8"))["quality"]["tokens"]
    card = (limited / "README.md").read_text(encoding="utf-8")
    assert "## Tokens" in card and "| source | rows | p50 | p95 | p99 | max |" in card
    for source, figures in tokens["by_source"].items():
        assert f"| {source} | {figures['rows']} | {figures['p50']} | {figures['p95']} | {figures['p99']} |" in card
    report = (limited / "report" / "index.html").read_text(encoding="utf-8")
    assert f"<h2>Tokens ({tokens['tokenizer']})</h2>" in report
    assert json.loads((limited / "report" / "stats.json").read_text(encoding="utf-8"))["quality"]["tokens"] == tokens


def test_a_tiktoken_file_counts_and_workers_agree(tmp_path: Path, bpe_file: Path) -> None:
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        result = run("build", "--config", SAMPLE, "--out", out, "--tokenizer", bpe_file, "--max-tokens", 400,
                     "--workers", workers, "--quiet")
        assert result.exit_code == 0, result.output
        outs.append(out)
    first, second = (json.loads((o / "manifest.json").read_text(encoding="utf-8")) for o in outs)
    assert first["quality"]["tokens"] == second["quality"]["tokens"]
    assert first["quality"]["tokens"]["tokenizer"] == "tiktoken:sample.tiktoken"
    assert first["outputs"] == second["outputs"]


def test_without_a_tokenizer_nothing_is_counted(tmp_path: Path) -> None:
    result = run("build", "--config", SAMPLE, "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert "tokens" not in manifest["quality"] and "## Tokens" not in (tmp_path / "out" / "README.md").read_text("utf-8")


@pytest.mark.parametrize(("extra", "says"), [
    (("--max-tokens", "100"), "max_tokens counts with a tokenizer"),
    (("--tokenizer", "missing.json"), "missing.json: no such tokenizer"),
    (("--tokenizer", "{bad_json}"), "cannot read the tokenizer"),
    (("--tokenizer", "{bad_bpe}"), "bad.tiktoken:2: not a tiktoken BPE line"),
])
def test_bad_tokenizer_input_is_one_line_and_exit_2(tmp_path: Path, extra: tuple[str, str], says: str) -> None:
    bad_json = tmp_path / "tokenizer.json"
    bad_json.write_text('{"model": 1}', encoding="utf-8")
    bad_bpe = tmp_path / "bad.tiktoken"
    bad_bpe.write_text("IQ== 0\nnot base64 at all\n", encoding="utf-8")
    args = [a.format(bad_json=bad_json, bad_bpe=bad_bpe) for a in extra]
    result = run("build", "--config", SAMPLE, "--out", tmp_path / "out", "--quiet", *args)
    assert result.exit_code == 2 and says in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


ALPHABET = [*"高血压患者的治疗用于，。；：、！？（）【】“”", *"abcSsTtMmDdReVeLlK'’", *"0123①Ⅲ²", " ", "  ", "\t", "\r", "\n",
            "\r\n", "\u3000", "\x1c", "\u0301", "😀", "ſ", "_", "-", "/", "%", "\u00a0", "\u2028"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join), min_size=1, max_size=20))
def test_the_compiled_split_is_the_regex_split(texts: list[str]) -> None:
    """The kernel cuts exactly the pieces Qwen's pattern finds (contractions in any case, a mark before letters,
    digits one by one, punctuation runs with their line breaks, the blanks before a word or a line break)."""
    pattern = regex.compile(QWEN_PATTERN)
    data, offsets = utf8_buffers(texts)
    owner, _keys, starts, ends = piece_keys(data, offsets)
    raw = bytes(data)
    cut = [[raw[s:e].decode() for o, s, e in zip(owner, starts, ends, strict=True) if o == index]
           for index in range(len(texts))]
    assert cut == [pattern.findall(text) for text in texts]


def test_the_table_of_known_pieces_keeps_every_count_as_it_grows() -> None:
    rng = np.random.default_rng(5)
    keys = np.unique(rng.integers(0, 2**63, 200_000, dtype=np.uint64) * np.uint64(2))  # many, past several doublings
    keys = np.concatenate([np.zeros(1, np.uint64), keys])  # the key 0 has its own place
    counts = rng.integers(1, 50, len(keys))
    known = Known()
    for part in np.array_split(np.arange(len(keys)), 7):
        known.remember(keys[part], counts[part])
    assert len(known) == len(keys) and known.lookup(keys).tolist() == counts.tolist()
    assert known.lookup(keys[1:50] + np.uint64(1)).tolist() == [-1] * 49  # odd keys were never stored
    known.clear()
    assert len(known) == 0 and known.lookup(keys[:3]).tolist() == [-1, -1, -1]
