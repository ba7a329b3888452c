"""Issue 16, the reader's part: damaged input never merges, drops or crashes silently.

Each case is a file an adversarial audit wrote; each test builds it with the real command and reads the
manifest, rejects.jsonl and the Parquet it wrote: a bad record is one reject at its own line, the records
around it are read, the counts reconcile, and a bad file is one `error:` line naming where and what to do.
"""

import codecs
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import run, write_jsonl

SAMPLE_QA = Path(__file__).parent.parent / "raw" / "qa.csv"


def qa_pairs(count: int) -> list[dict[str, str]]:
    """Distinct pairs whose question carries its number, so the rows built show which records arrived."""
    return [{"question": f"第{i}号患者头痛{i}天了，应该怎么办？", "answer": f"建议测量血压并休息，第{i}号请按时复诊。"}
            for i in range(1, count + 1)]


def build(tmp_path: Path, *args: object, workers: int = 1) -> Path:
    out = tmp_path / f"out-{workers}"
    result = run("build", *args, "--out", out, "--quiet", "--workers", workers, "--no-near-dup")
    assert result.exit_code == 0, result.output
    return out


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def rejects(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]


def rows(out: Path) -> list[dict]:
    return pq.read_table(sorted((out / "data").glob("*.parquet"))).to_pylist()


def numbers(out: Path) -> list[int]:
    """The record numbers of the rows built from `qa_pairs`, in order."""
    return sorted(int(r["instruction"][1:r["instruction"].index("号")]) for r in rows(out))


def error_line(*args: object) -> str:
    """The one line a user error prints, from the command in its own process (a crash shows as itself)."""
    done = subprocess.run([sys.executable, "-m", "builder", "build", *map(str, args), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


# 1. A quote that opens a cell and never closes must not swallow the records after it.

@pytest.mark.parametrize("row", [10, 40])
def test_an_unclosed_quote_is_one_reject_and_the_rows_after_it_are_read(tmp_path: Path, row: int) -> None:
    lines = SAMPLE_QA.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    department, title, ask, answer = lines[row].split(",", 3)
    lines[row] = ",".join([department, title, ask, '"' + answer])  # physical line row + 1
    broken = tmp_path / "qa.csv"
    broken.write_text("".join(lines), encoding="utf-8")
    whole, cut = build(tmp_path / "whole", "--qa", SAMPLE_QA), build(tmp_path, "--qa", broken)
    counts = manifest(cut)["sources"]["qa"]
    assert counts["read"] == manifest(whole)["sources"]["qa"]["read"] == 47 and manifest(cut)["reconciles"]
    read_rejects = [r for r in rejects(cut) if r["stage"] == "read"]
    assert [(r["reason"], r["line"]) for r in read_rejects] == [("unclosed_quote", row + 1)]
    assert "quote" in read_rejects[0]["detail"]
    assert sorted(map(str, rows(cut))) == sorted(str(r) for r in rows(whole) if r["instruction"] != ask)
    assert max(len(r["output"]) for r in rows(cut)) < 400  # no answer holds the records after it


def test_a_quote_closed_by_a_later_record_merges_nothing(tmp_path: Path) -> None:
    """The stray quote in line 3 pairs with the opening quote of line 6: each line is read on its own."""
    pairs = qa_pairs(7)
    lines = ["question,answer"] + [f"{p['question']},{p['answer']}" for p in pairs]
    lines[3] = f'{pairs[2]["question"]},"{pairs[2]["answer"]}'
    lines[6] = f'{pairs[5]["question"]},"{pairs[5]["answer"]}，不适随诊"'
    path = tmp_path / "qa.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = build(tmp_path, "--qa", path)
    assert [(r["stage"], r["line"]) for r in rejects(out)] == [("read", 4)]
    assert numbers(out) == [1, 2, 4, 5, 6, 7] and manifest(out)["sources"]["qa"]["read"] == 7


def test_a_quote_closed_at_a_later_line_end_is_caught_by_the_records_it_swallowed(tmp_path: Path) -> None:
    """The quote opened in line 3 closes at the end of line 6 with the right number of cells, so only the
    whole records inside the cell (lines 4 and 5) show that it ran across records."""
    pairs = qa_pairs(7)
    lines = ["department,title,ask,answer"] + [f"内科,头痛,{p['question']},{p['answer']}" for p in pairs]
    lines[2] = f'内科,头痛,{pairs[1]["question"]},"{pairs[1]["answer"]}'
    lines[5] = f'内科,头痛,{pairs[4]["question"]},{pairs[4]["answer"]}直径约2"'
    path = tmp_path / "qa.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = build(tmp_path, "--qa", path)
    assert [(r["stage"], r["reason"], r["line"]) for r in rejects(out)] == [("read", "unclosed_quote", 3)]
    assert numbers(out) == [1, 3, 4, 5, 6, 7]


def test_a_row_with_a_stray_quote_in_a_middle_cell_loses_only_itself(tmp_path: Path) -> None:
    """Four columns: the quote opens the title cell, so the cell count goes wrong once the quote ends."""
    pairs = qa_pairs(6)
    lines = ["department,title,ask,answer"] + [f"内科,头痛,{p['question']},{p['answer']}" for p in pairs]
    lines[2] = f'内科,"头痛,{pairs[1]["question"]},{pairs[1]["answer"]}'
    lines[4] = f'内科,"头痛",{pairs[3]["question"]},{pairs[3]["answer"]}'
    path = tmp_path / "qa.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = build(tmp_path, "--qa", path)
    assert [(r["stage"], r["line"]) for r in rejects(out)] == [("read", 3)]
    assert numbers(out) == [1, 3, 4, 5, 6]


def test_multiline_quoted_cells_are_still_one_record(tmp_path: Path) -> None:
    answer = "1. 多喝水, 注意休息；\n2. 体温超过38.5℃时服用退烧药，\r\n\n3. 若出现\"抽搐\"，立即就医。"
    path = tmp_path / "qa.csv"
    path.write_text('department,title,ask,answer\n内科,发烧,"孩子发烧了,\n怎么办？","' + answer.replace('"', '""')
                    + '"\n外科,扭伤,脚踝扭伤了怎么办？,冷敷并抬高患肢。\n', encoding="utf-8", newline="")
    out = build(tmp_path, "--qa", path)
    built = {r["instruction"]: r["output"] for r in rows(out)}
    assert built == {"孩子发烧了,\n怎么办？": "1. 多喝水, 注意休息；\n2. 体温超过38.5℃时服用退烧药，\n3. 若出现\"抽搐\"，立即就医。",
                     "脚踝扭伤了怎么办？": "冷敷并抬高患肢。"}
    assert not rejects(out)


# 2. Crashes.

def test_a_deeply_nested_jsonl_line_is_a_reject_in_one_process_and_in_workers(tmp_path: Path) -> None:
    lines = [json.dumps(p, ensure_ascii=False) for p in qa_pairs(400)]
    lines[199] = '{"question": "深", "answer": ' + "[" * 20_000 + "]" * 20_000 + "}"
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        done = subprocess.run([sys.executable, "-m", "builder", "build", "--qa", path, "--out", out, "--quiet",
                               "--workers", str(workers), "--no-near-dup"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
        assert [(r["reason"], r["line"]) for r in rejects(out)] == [("too_deep", 200)]
        assert numbers(out) == [n for n in range(1, 401) if n != 200]


@pytest.mark.parametrize("depth", [1000, 20_000])
def test_a_deeply_nested_json_array_item_is_a_reject(tmp_path: Path, depth: int) -> None:
    items = [json.dumps(p, ensure_ascii=False) for p in qa_pairs(3)]
    items[1] = '{"question": "深", "answer": ' + "{\"a\": " * depth + "1" + "}" * depth + "}"
    path = tmp_path / "qa.json"
    path.write_text("[" + ",\n".join(items) + "]", encoding="utf-8")
    out = build(tmp_path, "--qa", path)
    assert [(r["reason"], r["index"]) for r in rejects(out)] == [("too_deep", 1)]
    assert numbers(out) == [1, 3]


@pytest.mark.parametrize("ends", [["\r"] * 4, ["\r\n", "\r", "\n", "\r"]])
def test_csv_with_cr_only_or_mixed_line_ends_is_read_line_by_line(tmp_path: Path, ends: list[str]) -> None:
    pairs = qa_pairs(3)
    lines = ["question,answer"] + [f"{p['question']},{p['answer']}" for p in pairs]
    path = tmp_path / "qa.csv"
    path.write_bytes("".join(line + end for line, end in zip(lines, ends, strict=True)).encode())
    out = build(tmp_path, "--qa", path)
    assert numbers(out) == [1, 2, 3] and not rejects(out)
    assert {r["output"] for r in rows(out)} == {p["answer"] for p in pairs}


def test_a_csv_cell_longer_than_the_csv_module_default_is_read(tmp_path: Path) -> None:
    long = "多喝水。" * 40_000  # 160,000 characters: the csv module's default limit is 131,072
    path = tmp_path / "qa.csv"
    path.write_text(f"question,answer\n头痛怎么办？,{long}\n发烧怎么办？,多喝水。\n", encoding="utf-8")
    out = build(tmp_path, "--qa", path)
    assert [(r["reason"], r["line"]) for r in rejects(out)] == [("too_long_row", 2)]  # the filter's, not a crash
    assert [r["instruction"] for r in rows(out)] == ["发烧怎么办？"]


@pytest.mark.parametrize("container", ["jsonl", "json"])
def test_a_lone_surrogate_escape_is_a_reject(tmp_path: Path, container: str) -> None:
    items = [json.dumps(p, ensure_ascii=False) for p in qa_pairs(3)]
    items[1] = '{"question": "头痛\\ud800怎么办？", "answer": "建议休息。"}'
    path = tmp_path / f"qa.{container}"
    path.write_text("\n".join(items) if container == "jsonl" else "[" + ",\n".join(items) + "]", encoding="utf-8")
    out = build(tmp_path, "--qa", path)
    [reject] = rejects(out)
    assert reject["reason"] == "invalid_text" and reject["field"] == "question" and "surrogate" in reject["detail"]
    assert reject.get("line", reject.get("index")) == (2 if container == "jsonl" else 1)
    assert numbers(out) == [1, 3]


# 3. Quiet gaps.

@pytest.mark.parametrize("container", ["jsonl", "json"])
def test_a_duplicate_key_is_a_reject_naming_it(tmp_path: Path, container: str) -> None:
    items = [json.dumps(p, ensure_ascii=False) for p in qa_pairs(3)]
    items[1] = '{"question": "头痛怎么办？", "answer": "多休息，必要时就医。", "answer": "立即手术切除。"}'
    items.append('{"conversations": [{"from": "human", "value": "胸闷怎么办？"},'
                 ' {"from": "gpt", "value": "及时就医。", "value": "不用管。"}]}')
    path = tmp_path / f"qa.{container}"
    path.write_text("\n".join(items) if container == "jsonl" else "[" + ",\n".join(items) + "]", encoding="utf-8")
    out = build(tmp_path, "--qa", path)
    assert [(r["reason"], r["field"]) for r in rejects(out)] == [("duplicate_key", "answer"), ("duplicate_key", "value")]
    assert [r.get("line", r.get("index")) for r in rejects(out)] == ([2, 4] if container == "jsonl" else [1, 3])
    assert numbers(out) == [1, 3]
    assert not any("手术" in r["output"] or "不用管" in r["output"] for r in rows(out))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_cr_only_jsonl_file_is_read_record_by_record(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_bytes("".join(json.dumps(p, ensure_ascii=False) + "\r" for p in qa_pairs(50)).encode())
    out = build(tmp_path, "--qa", path, workers=workers)
    assert manifest(out)["sources"]["qa"]["read"] == 50 and not rejects(out)
    assert numbers(out) == list(range(1, 51))


def test_jsonl_lines_after_a_lone_cr_keep_their_numbers(tmp_path: Path) -> None:
    """Line numbers count a lone CR as a line end everywhere, in the fast reader's chunks as in the slow one."""
    lines = [json.dumps(p, ensure_ascii=False) for p in qa_pairs(300)]
    lines[9] = '{"question": "坏'
    lines[289] = '{"question": "也坏'
    path = tmp_path / "qa.jsonl"
    path.write_text("\r".join(lines[:5]) + "\n" + "\n".join(lines[5:]) + "\n", encoding="utf-8", newline="")
    for workers in (1, 2):
        out = build(tmp_path, "--qa", path, workers=workers)
        assert [r["line"] for r in rejects(out)] == [10, 290]
        assert numbers(out) == [n for n in range(1, 301) if n not in (10, 290)]


def test_a_bom_at_the_start_of_a_line_mid_file_is_ignored(tmp_path: Path) -> None:
    """Files joined with `cat`: a BOM starts lines 2, 77 and 151 (not all of them where a shard starts)."""
    lines = [json.dumps(p, ensure_ascii=False).encode() for p in qa_pairs(300)]
    for number in (2, 77, 151):
        lines[number - 1] = codecs.BOM_UTF8 + lines[number - 1]
    path = tmp_path / "qa.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = build(tmp_path, "--qa", path)
    assert numbers(out) == list(range(1, 301)) and not rejects(out)


def test_control_and_bidi_characters_never_reach_the_training_text(tmp_path: Path) -> None:
    planted = "\x00\x01\x1b\x7f\x85\x9f\u202a\u202e\u2066\u2069\u200e\u200f"
    pairs = qa_pairs(2)
    pairs[0]["answer"] = "建议\x00测量\u202e血压\x1b[31m，\u2066按时\u2069复诊\x85。\u200f\x9f"
    path = write_jsonl(tmp_path / "qa.jsonl", pairs)
    out = build(tmp_path, "--qa", path)
    built = rows(out)
    assert {r["output"] for r in built} == {"建议测量血压[31m，按时复诊。", pairs[1]["answer"]}
    assert not any(c in planted for r in built for value in r.values() if isinstance(value, str) for c in value)


# 4. Errors that name the right cause and place.

@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_a_truncated_last_character_says_truncated_at_its_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"qa.{suffix}"
    body = "question,answer\n头痛？,休息。\n发烧？,喝水" if suffix == "csv" else \
        '{"question": "头痛？", "answer": "休息。"}\n{"question": "发烧？", "answer": "喝水'
    path.write_bytes(body.encode()[:-2])  # the last character cut after its first byte
    line = error_line("--qa", path, "--out", tmp_path / "out")
    assert f"qa.{suffix}:{3 if suffix == 'csv' else 2}:" in line and "truncated" in line
    assert "neither" not in line


def test_one_bad_byte_in_the_head_names_its_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    lines = [json.dumps(p, ensure_ascii=False).encode() for p in qa_pairs(20)]
    lines[6] = lines[6][:14] + b"\xff" + lines[6][14:]  # just inside the question's opening quote
    path.write_bytes(b"\n".join(lines) + b"\n")
    line = error_line("--qa", path, "--out", tmp_path / "out")
    assert "qa.jsonl:7:" in line and "byte 14" in line and "neither" not in line


def test_a_file_that_is_neither_utf8_nor_gb18030_says_where_it_first_fails(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_bytes(b"question,answer\n" + b"\x80\xff,\xff\x80\n" * 3)
    line = error_line("--qa", path, "--out", tmp_path / "out")
    assert "qa.csv:2:" in line and "neither UTF-8 nor GB18030" in line and "byte" in line


@pytest.mark.parametrize("container", ["jsonl", "json"])
def test_utf16_with_a_bom_is_read(tmp_path: Path, container: str) -> None:
    pairs = qa_pairs(3)
    text = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs) if container == "jsonl" \
        else json.dumps(pairs, ensure_ascii=False)
    path = tmp_path / f"qa.{container}"
    path.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    out = build(tmp_path, "--qa", path)
    assert numbers(out) == [1, 2, 3] and manifest(out)["inputs"][0]["encoding"] == "utf-16"


def test_a_truncated_json_array_is_one_line_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "qa.json"
    text = json.dumps(qa_pairs(5), ensure_ascii=False, indent=1)
    path.write_text(text[: len(text) * 2 // 3], encoding="utf-8")
    line = error_line("--qa", path, "--out", tmp_path / "out")
    assert "qa.json:" in line and "after item 2" in line and "line" in line


@pytest.mark.parametrize("declared, kind, suffix, body", [
    ("sharegpt", "qa", ".csv", "question,answer\n头痛怎么办？,多休息。\n"),
    ("messages", "qa", ".txt", "问题:头痛怎么办？\n回答:多休息。\n"),
    ("alpaca", "drug", ".jsonl", '{"name": "布洛芬", "indications": "用于头痛。"}\n'),
])
def test_a_declared_conversation_format_is_honoured_or_refused(tmp_path: Path, declared: str, kind: str,
                                                              suffix: str, body: str) -> None:
    """format = sharegpt / alpaca / messages is never ignored: on a file that cannot hold it, one line."""
    source = tmp_path / f"input{suffix}"
    source.write_text(body, encoding="utf-8")
    (tmp_path / "build.toml").write_text(
        f'[[sources]]\npath = "{source.name}"\nkind = "{kind}"\nformat = "{declared}"\n', encoding="utf-8")
    result = run("build", "--config", tmp_path / "build.toml", "--out", tmp_path / "out", "--quiet")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"field 'format': format = \"{declared}\" is a QA conversation format" in result.stderr


def test_a_declared_conversation_format_reads_its_file(tmp_path: Path) -> None:
    rows = [{"conversations": [{"from": "human", "value": "头痛怎么办？"}, {"from": "gpt", "value": "多休息，必要时就医。"}]}]
    write_jsonl(tmp_path / "chat.jsonl", rows)
    (tmp_path / "build.toml").write_text('[[sources]]\npath = "chat.jsonl"\nkind = "qa"\nformat = "sharegpt"\n',
                                         encoding="utf-8")
    assert run("build", "--config", tmp_path / "build.toml", "--out", tmp_path / "out", "--quiet").exit_code == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["totals"] == {"read": 1, "kept": 1, "rejected": 0, "rows": 1}
