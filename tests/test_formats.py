"""Trainer formats: each file loads with `datasets` as its consumer loads it, and every row round-trips."""

import json
import random
from json.encoder import encode_basestring
from pathlib import Path

import datasets
import pyarrow as pa
import pytest

from builder.export.dataset_info import dataset_info, write_dataset_info
from builder.export.formats import (
    BUILTIN_FORMATS,
    FormatWriter,
    json_lines,
    open_writers,
    prompt_column,
    write_from_parquet,
)
from builder.rows import ROW_SCHEMA

ROWS = [
    {"instruction": "阿莫西林的适应证是什么？", "input": "", "output": "用于敏感菌所致的呼吸道感染。"},
    {"instruction": "请回答患者的问题。", "input": "高血压患者饮食要注意什么？", "output": "建议低盐饮食，\n多吃蔬菜。"},
    {"instruction": 'quotes "and" \\ backslash\ttab', "input": "第二行\n第三行", "output": "emoji 😀 and \u2028 sep"},
]


def table(rows: list[dict]) -> pa.Table:
    full = [{**r, "source": "s", "kind": "qa", "record_id": f"r{i}", "template_id": None, "variant": None}
            for i, r in enumerate(rows)]
    return pa.Table.from_pylist(full, schema=ROW_SCHEMA)


def prompt(row: dict) -> str:
    return row["instruction"] + ("\n" + row["input"] if row["input"] else "")


def load(path: Path) -> datasets.Dataset:
    datasets.disable_progress_bars()
    return datasets.load_dataset("json", data_files=str(path), split="train",
                                 cache_dir=str(path.parent / ".cache"))


def write(name: str, out: Path, rows: list[dict], system: str | None = None) -> Path:
    writer = FormatWriter(BUILTIN_FORMATS[name], out, "train", system)
    writer.write(table(rows[:1]))  # table by table, as the build streams them
    writer.write(table([]))
    writer.write(table(rows[1:]))
    writer.close()
    return writer.path


def test_prompt_joins_instruction_and_input_with_newline() -> None:
    assert prompt_column(table(ROWS)).to_pylist() == [prompt(r) for r in ROWS]


def test_alpaca_jsonl_round_trips(tmp_path: Path) -> None:
    path = write("alpaca_jsonl", tmp_path, ROWS)
    assert path == tmp_path / "alpaca" / "train.jsonl"
    text = path.read_text(encoding="utf-8")
    assert "阿莫西林" in text and "\\u" not in text.replace("\\u2028", "")  # not ASCII-escaped
    assert len(text.splitlines()) == len(ROWS)
    loaded = load(path)
    assert loaded.column_names == ["instruction", "input", "output"]
    assert loaded.to_list() == ROWS


def test_sharegpt_round_trips(tmp_path: Path) -> None:
    path = write("sharegpt", tmp_path, ROWS)
    assert path == tmp_path / "sharegpt" / "train.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == [{"conversations": [{"from": "human", "value": prompt(r)}, {"from": "gpt", "value": r["output"]}]}
                    for r in ROWS]
    loaded = load(path)
    assert loaded.column_names == ["conversations"]
    assert [row["conversations"] for row in loaded] == [c["conversations"] for c in data]


@pytest.mark.parametrize("system", [None, "你是一名医学助手。"])
def test_messages_round_trip(tmp_path: Path, system: str | None) -> None:
    path = write("messages", tmp_path, ROWS, system=system)
    assert path == tmp_path / "messages" / "train.jsonl"
    loaded = load(path)
    assert loaded.column_names == ["messages"]
    head = [{"role": "system", "content": system}] if system else []
    assert [row["messages"] for row in loaded] == [
        head + [{"role": "user", "content": prompt(r)}, {"role": "assistant", "content": r["output"]}] for r in ROWS
    ]


def test_empty_split_is_valid_and_left_out_of_dataset_info(tmp_path: Path) -> None:
    for writer in open_writers(tmp_path, "test", BUILTIN_FORMATS):
        writer.close()
    assert json.loads((tmp_path / "sharegpt" / "test.json").read_text(encoding="utf-8")) == []
    assert (tmp_path / "messages" / "test.jsonl").read_text(encoding="utf-8") == ""
    assert dataset_info(tmp_path, BUILTIN_FORMATS, "qz") == {}


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        open_writers(tmp_path, "train", ["vicuna"])
    with pytest.raises(ValueError, match="unknown format"):
        dataset_info(tmp_path, ["vicuna"], "qz")


def test_build_formats_match_chinese_llama_alpaca_and_llama_factory(tmp_path: Path) -> None:
    """A real build: the Alpaca JSON list is what Chinese-LLaMA-Alpaca's build_dataset.py reads
    (load_dataset("json") with exactly instruction/input/output strings); the other formats are written
    from the build's Parquet and agree with it row for row; dataset_info names only files that exist."""
    from tests.conftest import run

    out = tmp_path / "out"
    assert run("build", "--out", out).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    parquet = datasets.load_dataset("parquet", data_dir=str(out / "data"), cache_dir=str(tmp_path / "c"))
    for split, rows in manifest["splits"].items():
        alpaca = json.loads((out / "alpaca" / f"{split}.json").read_text(encoding="utf-8"))
        assert isinstance(alpaca, list) and len(alpaca) == rows
        assert all(set(r) == {"instruction", "input", "output"} and all(isinstance(v, str) for v in r.values())
                   for r in alpaca)
        loaded = load(out / "alpaca" / f"{split}.json")
        assert loaded.column_names == ["instruction", "input", "output"]
        assert loaded.to_list() == parquet[split].select_columns(["instruction", "input", "output"]).to_list()

    written = write_from_parquet(out, BUILTIN_FORMATS, system="你是一名医学助手。")
    assert all(len(paths) == len(manifest["splits"]) for paths in written.values())
    for split in manifest["splits"]:
        expected = parquet[split].to_list()
        assert load(out / "alpaca" / f"{split}.jsonl").to_list() == [
            {k: r[k] for k in ("instruction", "input", "output")} for r in expected]
        turns = [row["conversations"] for row in load(out / "sharegpt" / f"{split}.json")]
        assert [(t[0]["value"], t[1]["value"]) for t in turns] == [(prompt(r), r["output"]) for r in expected]
        messages = [row["messages"] for row in load(out / "messages" / f"{split}.jsonl")]
        assert [[m["role"] for m in ms] for ms in messages] == [["system", "user", "assistant"]] * len(expected)
        assert [(m[1]["content"], m[2]["content"]) for m in messages] == [(prompt(r), r["output"]) for r in expected]

    info = json.loads(write_dataset_info(out, ["alpaca", *BUILTIN_FORMATS], "qizhen").read_text(encoding="utf-8"))
    assert len(info) == 4 * len(manifest["splits"])
    for key, entry in info.items():
        assert (out / entry["file_name"]).is_file(), key
    assert info["qizhen_alpaca_train"] == {"file_name": "alpaca/train.json", "formatting": "alpaca",
                                           "columns": {"prompt": "instruction", "query": "input",
                                                       "response": "output"}}
    assert info["qizhen_alpaca_jsonl_train"]["file_name"] == "alpaca/train.jsonl"
    assert info["qizhen_sharegpt_validation"] == {
        "file_name": "sharegpt/validation.json", "formatting": "sharegpt", "columns": {"messages": "conversations"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}}
    assert info["qizhen_messages_test"] == {
        "file_name": "messages/test.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"}}


def test_json_lines_escape_as_the_json_module_does():
    """Lines are written by a compiled loop: every value must come out as Python's JSON encoder (ensure_ascii
    off) writes it, with U+2028/U+2029 escaped too, and read back unchanged."""
    alphabet = list('ab"\\/\n\r\t\b\f\x00\x01\x1f\x7f\u2027\u2028\u2029\u202a\xe2é中😀 ')
    pick = random.Random(7)
    values = ["".join(pick.choice(alphabet) for _ in range(pick.randint(0, 30))) for _ in range(2000)]
    values += ["", "\u2028", "\u2028\u2029", "x\u2029"]
    want = [encode_basestring(v).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") for v in values]
    got = bytes(json_lines([pa.array(values + [None])], ["", ""], "", "", "\n")).decode("utf-8").split("\n")
    assert got == want + ['""', ""]
    assert [json.loads(g) for g in got[:-2]] == values
    framed = json_lines([pa.array(["a", "b"]), pa.array(["c", None])], ["[", ", ", "]"], "<", "|", ";")
    assert bytes(framed) == b'<["a", "c"];|["b", ""];'


def test_json_lines_size_escape_heavy_rows_exactly():
    """The loop writes unchecked into a buffer it sizes itself: rows that grow six-fold when escaped, at every
    place in a batch, must come out whole (the room runs out at a different row each time)."""
    pick = random.Random(3)
    for heavy in range(0, 60, 7):
        values = ["中文" * pick.randint(0, 40) for _ in range(60)]
        values[heavy:] = ["".join(pick.choice("\x01\u2028\n\"中") for _ in range(pick.randint(0, 400)))
                          for _ in values[heavy:]]
        got = bytes(json_lines([pa.array(values), pa.array(values[::-1])], ["[", ",", "]"], "", "\n", "")).decode()
        assert [json.loads(line) for line in got.split("\n")] == [list(pair) for pair in zip(values, values[::-1], strict=True)]
