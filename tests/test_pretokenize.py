"""The pre-tokenized export: ids that are the chat-templated rows, labels that keep exactly the answer and the
end-of-turn token, shards aligned with the Parquet data, and an error rather than a guess at a merged boundary."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tokenizers import Tokenizer

from builder.export.chat import conversation, load_chat_template
from tests.conftest import run
from tests.tokenizer_files import huggingface_tokenizer

SAMPLE = Path(__file__).resolve().parents[1] / "raw" / "sample.toml"


def chatml_tokenizer(path: Path) -> Path:
    """The sample-trained BPE, holding ChatML's markers as special tokens (as a ChatML model's tokenizer does)."""
    tokenizer = Tokenizer.from_file(str(huggingface_tokenizer(path)))
    tokenizer.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    tokenizer.save(str(path))
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pretok")
    tokenizer, out = chatml_tokenizer(folder / "tokenizer.json"), folder / "out"
    result = run("build", "--config", SAMPLE, "--out", out, "--tokenizer", tokenizer, "--chat-template", "chatml",
                 "--pretokenize", "--system-prompt", "你是医生", "--quiet")
    assert result.exit_code == 0, result.output
    return out, tokenizer


def test_ids_are_the_templated_rows_and_labels_keep_only_the_answer(built: tuple[Path, Path]) -> None:
    out, tokenizer_json = built
    tokenizer, chatml = Tokenizer.from_file(str(tokenizer_json)), load_chat_template("chatml")
    for data in sorted((out / "data").glob("*.parquet")):
        rows = pq.read_table(data).to_pylist()
        ids = pq.read_table(out / "pretokenized" / data.name).to_pylist()
        assert len(ids) == len(rows) > 0
        for row, tokens in zip(rows, ids, strict=True):
            prompt = row["instruction"] + ("\n" + row["input"] if row["input"] else "")
            talk = conversation(prompt, row["output"], "你是医生")
            assert tokenizer.decode(tokens["input_ids"], skip_special_tokens=False) == chatml.render(talk, False)
            learned = [t for t, label in zip(tokens["input_ids"], tokens["labels"], strict=True) if label != -100]
            assert tokenizer.decode(learned, skip_special_tokens=False) == row["output"] + "<|im_end|>\n"
            assert [label for label in tokens["labels"] if label != -100] == learned
            assert tokens["length"] == len(tokens["input_ids"]) == len(tokens["labels"])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert all(f"pretokenized/{p.name}" in manifest["outputs"] for p in (out / "pretokenized").glob("*.parquet"))


def test_the_ids_are_those_transformers_makes(built: tuple[Path, Path]) -> None:
    transformers = pytest.importorskip("transformers", reason="comparing with transformers needs the train extra")
    out, tokenizer_json = built
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json))
    fast.chat_template = load_chat_template("chatml").template
    data = sorted((out / "data").glob("train-*.parquet"))[0]
    for row, tokens in list(zip(pq.read_table(data).to_pylist(), pq.read_table(out / "pretokenized" / data.name)
                                .to_pylist(), strict=True))[:40]:
        prompt = row["instruction"] + ("\n" + row["input"] if row["input"] else "")
        expected = fast.apply_chat_template(conversation(prompt, row["output"], "你是医生"), tokenize=True,
                                            return_dict=True)["input_ids"]
        assert tokens["input_ids"] == list(expected)


def test_a_boundary_the_tokenizer_merges_is_an_error(tmp_path: Path) -> None:
    template = tmp_path / "glued.toml"  # the prompt ends in a letter the answer's first letters join in one piece
    template.write_text('end_of_turn = "<|im_end|>"\ntemplate = "{% for m in messages %}{{ m.content }}'
                        '{% if m.role == \\"assistant\\" %}<|im_end|>{% endif %}{% endfor %}'
                        '{% if add_generation_prompt %}答{% endif %}"\n', encoding="utf-8")
    args = ["build", "--config", SAMPLE, "--out", tmp_path / "out", "--quiet", "--tokenizer",
            chatml_tokenizer(tmp_path / "tokenizer.json"), "--pretokenize", "--chat-template", template]
    result = run(*args)
    assert result.exit_code == 2 and "do not begin with the prompt's" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("extra", "says"), [
    (("--pretokenize", "--chat-template", "chatml"), "pretokenize needs a tokenizer"),
    (("--pretokenize", "--tokenizer", "{tok}"), "pretokenize renders rows in a chat template"),
])
def test_pretokenizing_without_what_it_needs_is_one_line(tmp_path: Path, extra: tuple[str, ...], says: str) -> None:
    args = [a.format(tok=tmp_path / "tokenizer.json") for a in extra]
    huggingface_tokenizer(tmp_path / "tokenizer.json")
    result = run("build", "--config", SAMPLE, "--out", tmp_path / "out", "--quiet", *args)
    assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output, result.output
