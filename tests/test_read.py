"""Readers: every format and encoding the design names, with provenance and clear errors."""

import codecs
import csv
import json
from pathlib import Path

import pytest

from builder.config import SourceConfig
from builder.errors import UserError
from builder.read import detect, parse_kv_block, read_source
from tests.conftest import write_json, write_jsonl


def read_all(path: Path, kind: str = "qa", **settings) -> tuple[list[dict], list]:
    source = SourceConfig(path=path, kind=kind, **settings)
    detected = detect(source)
    rows, rejects = [], []
    for batch in read_source(source, detected, batch_size=2):
        rows.extend(batch.records.to_pylist())
        rejects.extend(batch.rejects)
    return rows, rejects


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8", delimiter: str = ",") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


QA_TABLE = [["department", "title", "ask", "answer"], ["内科", "头痛怎么办", "最近总是头痛，怎么办？", "建议测量血压，必要时就医。"],
            ["儿科", "发烧", "孩子发烧38度", "多喝水，\n观察精神状态。"]]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_with_header_in_each_encoding_decodes_chinese(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "qa.csv", QA_TABLE, encoding)
    rows, rejects = read_all(path)
    assert detect(SourceConfig(path=path, kind="qa")).encoding == encoding
    assert [r["ask"] for r in rows] == ["最近总是头痛，怎么办？", "孩子发烧38度"]
    assert rows[1]["answer"] == "多喝水，\n观察精神状态。"
    assert [r["__position"] for r in rows] == [2, 3] and not rejects


def test_csv_multiline_cell_keeps_the_line_of_the_next_record(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "qa.csv", QA_TABLE + [["外科", "扭伤", "脚踝扭伤", "冷敷。"]])
    rows, _ = read_all(path)
    assert [r["__position"] for r in rows] == [2, 3, 5]


def test_tab_separated_file_is_detected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "qa.tsv", QA_TABLE, delimiter="\t")
    rows, _ = read_all(path)
    assert rows[0]["title"] == "头痛怎么办"


def test_csv_without_header_uses_given_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "drugs.csv", [["阿莫西林", "用于敏感菌感染。"], ["布洛芬", "用于缓解疼痛。"]])
    rows, _ = read_all(path, kind="drug", columns=["通用名", "适应症"])
    assert rows[0] == {"通用名": "阿莫西林", "适应症": "用于敏感菌感染。", "__position": 1}


def test_two_column_qa_csv_without_header_is_question_answer(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "qa.csv", [["头痛怎么办？", "建议就医。"]])
    rows, _ = read_all(path)
    assert rows == [{"question": "头痛怎么办？", "answer": "建议就医。", "__position": 1}]


def test_headerless_csv_without_column_names_is_a_clear_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "drugs.csv", [["阿莫西林", "用于感染。", "口服"]])
    with pytest.raises(UserError, match=r"drugs.csv:1: .*no column names.*columns = "):
        read_all(path, kind="drug")


def test_csv_row_with_wrong_cell_count_is_a_reject(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text("question,answer\n头痛？,就医。\n发烧？,喝水,多余\n", encoding="utf-8")
    rows, rejects = read_all(path)
    assert len(rows) == 1 and rejects[0].reason == "malformed_row" and rejects[0].position == 3


def test_json_array_of_objects_keeps_index(tmp_path: Path) -> None:
    path = write_json(tmp_path / "d.json", [{"疾病名称": "高血压", "症状": ["头痛", "头晕"]}, {"疾病名称": "痛风", "病程": 3}])
    rows, _ = read_all(path, kind="disease")
    assert rows[0] == {"疾病名称": "高血压", "症状": "头痛、头晕", "病程": None, "__position": 0}
    assert rows[1]["病程"] == "3" and rows[1]["__position"] == 1


def test_json_array_of_key_value_blocks(tmp_path: Path, drug_file: Path) -> None:
    rows, _ = read_all(drug_file, kind="drug")
    assert rows[0]["名称"] == "阿莫西林" and rows[0]["禁忌证"] == "对青霉素类药物过敏者禁用。"
    assert rows[2]["别名"] == "无"


def test_key_value_block_rules() -> None:
    fields = parse_kv_block("维生素B12\n适应证:1.用于贫血。\n2.用于神经炎。\n用法用量：口服，一次25μg：每日1次")
    assert fields == {"名称": "维生素B12", "适应证": "1.用于贫血。\n2.用于神经炎。", "用法用量": "口服，一次25μg：每日1次"}
    assert parse_kv_block("适应证:用于高血压。") == {"适应证": "用于高血压。"}


def test_key_value_text_file_of_blocks(tmp_path: Path) -> None:
    path = tmp_path / "drugs.txt"
    path.write_text("阿莫西林\n适应证:用于感染。\n\n\n布洛芬\n适应证:用于疼痛。\n", encoding="gb18030")
    rows, _ = read_all(path, kind="drug")
    assert [(r["名称"], r["__position"]) for r in rows] == [("阿莫西林", 1), ("布洛芬", 5)]


def test_jsonl_malformed_line_is_a_reject_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "头痛？", "answer": "就医。"}\n{"question": "坏行"\n\n{"question": "发烧？", "answer": "喝水。"}\n',
                    encoding="utf-8")
    rows, rejects = read_all(path)
    assert [r["__position"] for r in rows] == [1, 4]
    assert rejects[0].reason == "malformed_json" and rejects[0].position == 2
    assert rejects[0].detail == "Expecting ',' delimiter at column 18"  # just past the line's text, not "line 2 column 1"


def test_sharegpt_alpaca_and_messages_shapes(tmp_path: Path) -> None:
    sharegpt = write_jsonl(tmp_path / "s.jsonl", [
        {"conversations": [{"from": "human", "value": "头痛？"}, {"from": "gpt", "value": "就医。"}]},
        {"conversations": [{"from": "human", "value": "只有问题"}]},
        {"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"},
                           {"from": "human", "value": "c"}, {"from": "gpt", "value": "d"}]},
    ])
    rows, rejects = read_all(sharegpt)
    assert rows[0]["question"] == "头痛？" and rows[0]["answer"] == "就医。"
    assert [r.reason for r in rejects] == ["missing_turn", "multi_turn"]
    alpaca = write_json(tmp_path / "a.json", [{"instruction": "头痛？", "input": "", "output": "就医。"}])
    assert read_all(alpaca)[0][0]["instruction"] == "头痛？"
    messages = write_jsonl(tmp_path / "m.jsonl", [{"messages": [
        {"role": "system", "content": "你是医生"}, {"role": "user", "content": "头痛？"}, {"role": "assistant", "content": "就医。"}]}])
    assert read_all(messages)[0][0] == {"question": "头痛？", "answer": "就医。", "input": "你是医生", "__position": 1}


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nope.csv: no such file"):
        read_all(tmp_path / "nope.csv")


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "drugs.xlsx"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(UserError, match="unknown format.*format = csv"):
        read_all(path)
    text = tmp_path / "notes.md"
    text.write_text("# 标题", encoding="utf-8")
    with pytest.raises(UserError, match="unknown format"):
        read_all(text)


def test_undecodable_file_is_a_wrong_encoding_error(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_bytes(b"question,answer\n" + bytes(range(0x80, 0x100)) * 4)
    with pytest.raises(UserError, match="neither UTF-8 nor GB18030"):
        read_all(path)


def test_declared_encoding_that_does_not_fit_names_the_position(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "qa.csv", QA_TABLE, "gb18030")
    with pytest.raises(UserError, match=r"qa.csv:2: cannot decode as utf-8 .*wrong encoding.*looks like gb18030"):
        read_all(path, encoding="utf-8")


def test_encoding_failure_after_the_sniffed_head_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    good = json.dumps({"question": "头痛？", "answer": "就医。"}, ensure_ascii=False) + "\n"
    path.write_bytes((good * 4000).encode("utf-8") + "发烧？".encode("gb18030") + b"\n")
    with pytest.raises(UserError, match=r"qa.jsonl:4001: cannot decode as utf-8 .*gb18030"):
        read_all(path)


def test_jsonl_fast_path_numbers_lines_around_blank_ones(tmp_path: Path) -> None:
    """Arrow's reader skips blank lines, so a chunk's positions are counted from its lines, not its rows."""
    path = tmp_path / "qa.jsonl"
    pair = '{"question": "问题", "answer": "回答"}'
    path.write_text("\n".join([pair, "", pair, " \t", pair, pair]), encoding="utf-8")  # no newline at the end
    assert [r["__position"] for r in read_all(path)[0]] == [1, 3, 5, 6]
    path.write_text("\n".join([pair] * 3) + "\n", encoding="utf-8")
    assert [r["__position"] for r in read_all(path)[0]] == [1, 2, 3]


def test_jsonl_fast_path_keeps_positions_and_rejects_across_chunks(tmp_path: Path, monkeypatch) -> None:
    import builder.read.jsonl

    monkeypatch.setattr(builder.read.jsonl, "FAST_CHUNK", 64)
    lines = []
    for i in range(1, 21):
        lines.append(json.dumps({"question": f"问题{i}", "answer": f"回答{i}"}, ensure_ascii=False))
    lines[6] = '{"question": "坏'  # line 7: malformed, in a chunk of its own kind
    lines[11] = ""                  # line 12: blank
    lines[14] = json.dumps({"question": "数字", "answer": 5}, ensure_ascii=False)  # line 15: not all strings
    path = tmp_path / "qa.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + "\n".join(lines).encode("utf-8"))
    rows, rejects = read_all(path)
    assert [(r.reason, r.position) for r in rejects] == [("malformed_json", 7)]
    expected = [n for n in range(1, 21) if n not in (7, 12)]
    assert [r["__position"] for r in rows] == expected
    assert all(r["question"] == f"问题{r['__position']}" for r in rows if r["__position"] != 15)
    assert [r["answer"] for r in rows if r["__position"] == 15] == ["5"]


def test_a_bom_at_the_start_of_a_later_line_is_dropped_in_the_fast_reader_chunk(tmp_path: Path) -> None:
    """Files joined with `cat` carry a BOM mid-file: Arrow refuses that chunk and the line reader strips it."""
    lines = [json.dumps({"question": f"问题{i}", "answer": f"回答{i}"}, ensure_ascii=False).encode() for i in range(1, 5)]
    path = tmp_path / "qa.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + lines[0] + b"\n" + lines[1] + b"\n" + codecs.BOM_UTF8 + lines[2] + b"\n" + lines[3])
    rows, rejects = read_all(path)
    assert [(r["question"], r["__position"]) for r in rows] == [(f"问题{i}", i) for i in range(1, 5)] and not rejects


def test_a_csv_cell_past_the_limit_is_a_reject_and_the_next_rows_are_read(tmp_path: Path, monkeypatch) -> None:
    import builder.read.text

    monkeypatch.setattr(builder.read.text, "CSV_CELL_LIMIT", 1000)
    path = tmp_path / "qa.csv"
    path.write_text(f"question,answer\n头痛？,{'休息' * 600}\n发烧？,喝水。\n", encoding="utf-8")
    rows, rejects = read_all(path)
    assert [(r.reason, r.position) for r in rejects] == [("cell_too_long", 2)] and "1,000 characters" in rejects[0].detail
    assert [r["__position"] for r in rows] == [3]


def test_text_after_a_closing_quote_on_one_line_is_read_as_before(tmp_path: Path) -> None:
    """The strict reader catches quotes that run on; a slip within one line keeps the csv module's lenient reading."""
    path = tmp_path / "qa.csv"
    path.write_text('question,answer\n头痛？,"多喝水"是关键\n发烧？,喝水。\n', encoding="utf-8")
    rows, rejects = read_all(path)
    assert [(r["answer"], r["__position"]) for r in rows] == [("多喝水是关键", 2), ("喝水。", 3)] and not rejects


def test_csv_lines_end_at_a_lone_cr_and_a_crlf_inside_a_quoted_cell_stays(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_bytes('question,answer\r头痛？,"多喝水，\r\n休息。"\r发烧？,喝水。\n咳嗽？,止咳。'.encode())
    rows, _ = read_all(path)
    assert [(r["answer"], r["__position"]) for r in rows] == [("多喝水，\r\n休息。", 2), ("喝水。", 4), ("止咳。", 5)]


def test_key_value_text_with_cr_line_ends_keeps_its_blocks(tmp_path: Path) -> None:
    path = tmp_path / "drugs.txt"
    path.write_bytes("阿莫西林\r适应证:用于感染。\r\r布洛芬\r适应证:用于疼痛。\r".encode())
    rows, _ = read_all(path, kind="drug")
    assert [(r["名称"], r["适应证"], r["__position"]) for r in rows] == [("阿莫西林", "用于感染。", 1), ("布洛芬", "用于疼痛。", 4)]


@pytest.mark.parametrize(("answer", "read_as"), [("emoji\\ud83d\\ude00", "emoji\U0001f600"),
                                              ("\\\\ud800 is text", "\\ud800 is text"), ("lone\\ud800x", None)])
def test_surrogate_escapes_in_a_json_array_wherever_the_reader_s_chunks_cut(tmp_path: Path, answer: str,
                                                                             read_as: str | None) -> None:
    """A valid pair is a character and an escaped backslash is text; a lone surrogate (which yajl would turn into
    "?") is a reject: also when the 64K chunk the reader hands to ijson ends inside the escape."""
    from builder.read import SNIFF_BYTES

    for before_end in range(1, 14):
        opening = '[{"question": "填充", "answer": "'
        second = '"},\n{"question": "问", "answer": "'
        pad = SNIFF_BYTES - before_end - len(opening) - len(second) - answer.index("\\")
        path = tmp_path / f"qa{before_end}.json"
        path.write_text(opening + "x" * pad + second + answer + '"}]', encoding="utf-8")
        rows, rejects = read_all(path)
        if read_as is None:
            assert [(r.reason, r.position, r.field) for r in rejects] == [("invalid_text", 1, "answer")], before_end
        else:
            assert [r["answer"] for r in rows][1:] == [read_as] and not rejects, before_end


def test_a_key_given_twice_inside_a_nested_conversation_is_a_reject(tmp_path: Path) -> None:
    """Arrow reads a chunk of conversations (and would refuse a repeated key), the line reader turns them into
    fields: a chunk Arrow refused is read with the check for repeated keys, at any depth."""
    turns = [{"from": "human", "value": "胸闷怎么办？"}, {"from": "gpt", "value": "及时就医。"}]
    lines = [json.dumps({"conversations": turns}, ensure_ascii=False)] * 3
    lines[1] = lines[1].replace('"value": "及时就医。"', '"value": "及时就医。", "value": "不用管。"')
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows, rejects = read_all(path)
    assert [r["__position"] for r in rows] == [1, 3] and {r["answer"] for r in rows} == {"及时就医。"}
    assert [(r.reason, r.position, r.field) for r in rejects] == [("duplicate_key", 2, "value")]
