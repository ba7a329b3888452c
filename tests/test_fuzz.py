"""Issue 16: a fuzz suite over every reader and format, seeded from the project's own fixtures.

Each case takes a few records of a seed (the files in raw/, conftest's DRUG_BLOCKS and QA_ROWS, and files
derived from them in every format and encoding the reader supports: Alpaca JSON and JSONL, messages and
ShareGPT, key:value text, TSV, pipe-delimited CSV, CSV without a header, UTF-8 with a BOM, UTF-16 with a BOM,
GB18030), applies up to four mutations drawn from a vocabulary of dangerous tokens (quotes, delimiters,
CR/CRLF/lone CR, NUL and other C0/C1 controls, BOMs at the start and mid-file, bidi overrides, lone surrogate
escapes, deep nesting, duplicate keys, retyped JSON values, truncation inside a character, very long cells,
invalid UTF-8, GB18030-only bytes, full-width digits, HTML tags and entities, stray brackets, extra and missing
columns, empty and blank files), writes the file into a fresh folder and runs the real command on it, in this
process (conftest's `run`: CliRunner with catch_exceptions=False, so a traceback fails the case):

    build --workers 1 --quiet --no-report --no-near-dup --allow-empty --format … (--kb KIND=FILE | --qa FILE)
    validate --quiet --no-near-dup --ledger DIR (the same source)

and checks:

* the exit code is 0 or 2; on 2, stderr is exactly one line (no CR, VT or other line break in it either),
  `error: …`, naming the file, and no dataset was written;
* on 0, the ledger reconciles: the manifest says so, per source read == kept + rejected, rejects.jsonl holds
  every reject by reason, each at a line or index inside the file;
* nothing is lost silently: the file decodes in the encoding the manifest names; JSONL: records read ==
  non-blank lines, where LF, CRLF and a lone CR end a line; a JSON array: Python's json parses it (unless too
  deep for Python) and records read == its length; key:value text: records read == blocks of non-blank lines;
  CSV: at most one record per non-blank line, and at least the rows a strict RFC 4180 parse finds when no quote
  may swallow records (see _rfc_least); no training text is longer than one record's field can hold (the
  longest line, CSV cell or key:value block, plus what the mutations inserted: a longer one swallowed records);
* the training text holds no control or bidi character, and the Alpaca JSON and JSONL hold exactly the
  Parquet rows (the ShareGPT and messages files as many);
* validate reaches the same verdict: the same error line, or the same records read and no reject the build
  has not;
* in a few cases the build runs as `python -m builder build --workers 2` in a process of its own: a negative
  exit code is a crash (faulthandler prints where), and the bytes and ledger (or the error line) must be those
  of the in-process `--workers 1` build.

Profiles: "ci" (the default: derandomized, a fixed number of examples, about 1,050 cases in all, with no
database) and "long" (HYPOTHESIS_PROFILE=long: 10,000 + 100 cases, random, for local runs). With
FUZZ_FINDINGS=FILE a run records every failing case (invariant, reproducer bytes, traceback tail) as a JSON line
in FILE and goes on, instead of stopping at the first and shrinking it; that is for exploring, the default is
strict. Minimal files the long runs found are kept as regression tests of their own.
"""

from __future__ import annotations

import base64
import codecs
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, currently_in_test_context, event, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from tests.conftest import DRUG_BLOCKS, QA_ROWS, run

ROOT = Path(__file__).parent.parent
RAW = ROOT / "raw"

# ---------------------------------------------------------------------------------------------------------
# Profiles

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
           HealthCheck.filter_too_much]
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=False,
                          suppress_health_check=_HEALTH)
settings.register_profile("long", derandomize=False, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_HEALTH)
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):  # even with no database, Hypothesis caches the constants
    # it finds in source files under .hypothesis/ in the working folder: keep that out of the repository
    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "qizhen-instructions-hypothesis")
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "long"):
    PROFILE = "ci"
EXAMPLES = {"ci": {"in_process": 1000, "subprocess": 12}, "long": {"in_process": 10_000, "subprocess": 100}}[PROFILE]
FINDINGS = os.environ.get("FUZZ_FINDINGS")


def profile(examples: int, shrink: bool = True) -> settings:
    """The profile with this test's number of examples; no explain phase (it reruns a failure dozens of times),
    and no shrinking where a case takes seconds (the failure then shows the case as generated)."""
    phases = [Phase.explicit, Phase.generate, *([Phase.shrink] if shrink else [])]
    return settings(settings.get_profile(PROFILE), max_examples=examples, phases=phases)


# ---------------------------------------------------------------------------------------------------------
# Seeds: the project's fixtures, cut into records, and files derived from them in every supported format


@dataclass(frozen=True)
class Family:
    """A seed: its records (text units) and how a slice of them becomes a file."""

    name: str
    kind: str  # qa | drug | disease
    suffix: str  # .csv .tsv .json .jsonl .txt
    encoding: str  # python codec the file is written in: utf-8, utf-8-sig, gb18030, utf-16
    container: str  # csv | json | jsonl | kv
    units: tuple
    head: str = ""  # CSV header line (with its line end), or ""
    render_kind: str = "lines"  # lines | json_array | kv_blocks

    def render(self, start: int, count: int) -> str:
        units = self.units[start:start + count]
        if self.render_kind == "json_array":
            return json.dumps(list(units), ensure_ascii=False, indent=1) + "\n"
        if self.render_kind == "kv_blocks":
            return "\n\n".join(units) + "\n"
        return self.head + "".join(units)


def _read(path: Path, encoding: str) -> str:
    return path.read_bytes().decode(encoding)


def _csv_records(text: str) -> list[str]:
    """A CSV text's records as their physical lines (a quoted cell may span lines)."""
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(iter(lines))
    records, previous = [], 0
    for _ in reader:
        records.append("".join(lines[previous:reader.line_num]))
        previous = reader.line_num
    return records


def _csv_text(rows: list[list[str]], delimiter: str = ",", end: str = "\n") -> list[str]:
    out = []
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator=end).writerow(row)
        out.append(buffer.getvalue())
    return out


def _families() -> list[Family]:
    qa_csv = _read(RAW / "qa.csv", "utf-8-sig")
    qa_records = _csv_records(qa_csv)
    drugs_more = _csv_records(_read(RAW / "drugs_more.csv", "gb18030"))
    drug_strings = json.loads(_read(RAW / "drugs.json", "utf-8"))
    diseases = _read(RAW / "diseases.jsonl", "utf-8").splitlines(keepends=True)
    sharegpt = _read(RAW / "qa_sharegpt.jsonl", "utf-8").splitlines(keepends=True)

    pairs: list[tuple[str, str]] = [(r["question"], r["answer"]) for r in QA_ROWS]
    for row in csv.DictReader(io.StringIO(qa_csv, newline="")):
        if row["ask"].strip() and row["answer"].strip():
            pairs.append((row["ask"], row["answer"]))
    for line in sharegpt:
        try:
            turns = json.loads(line)["conversations"]
        except (ValueError, KeyError):
            continue
        if len(turns) == 2:
            pairs.append((turns[0]["value"], turns[1]["value"]))
    asked = [p for p in pairs if "？" in p[0] and "\t" not in p[0] + p[1]]
    alpaca = [{"instruction": q, "input": "", "output": a} for q, a in pairs]
    messages = [{"messages": ([{"role": "system", "content": "你是一名全科医生。"}] if i % 2 else [])
                 + [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
                for i, (q, a) in enumerate(pairs)]
    conversations = [{"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]} for q, a in pairs]
    disease_rows = [json.loads(line) for line in diseases if line.strip().endswith("}")]
    disease_keys = list(disease_rows[0])
    blocks = [*drug_strings, *DRUG_BLOCKS]

    def jsonl(items: list) -> tuple:
        return tuple(json.dumps(item, ensure_ascii=False) + "\n" for item in items)

    return [
        Family("raw/qa.csv", "qa", ".csv", "utf-8-sig", "csv", tuple(qa_records[1:]), qa_records[0]),
        Family("raw/drugs_more.csv", "drug", ".csv", "gb18030", "csv", tuple(drugs_more[1:]), drugs_more[0]),
        Family("raw/drugs.json", "drug", ".json", "utf-8", "json", tuple(drug_strings), render_kind="json_array"),
        Family("raw/diseases.jsonl", "disease", ".jsonl", "utf-8", "jsonl", tuple(diseases)),
        Family("raw/qa_sharegpt.jsonl", "qa", ".jsonl", "utf-8", "jsonl", tuple(sharegpt)),
        Family("conftest/DRUG_BLOCKS.json", "drug", ".json", "utf-8", "json", tuple(DRUG_BLOCKS),
               render_kind="json_array"),
        Family("conftest/QA_ROWS.jsonl", "qa", ".jsonl", "utf-8", "jsonl", jsonl(QA_ROWS)),
        Family("alpaca.json", "qa", ".json", "utf-8", "json", tuple(alpaca), render_kind="json_array"),
        Family("alpaca.jsonl", "qa", ".jsonl", "utf-8", "jsonl", jsonl(alpaca)),
        Family("messages.jsonl", "qa", ".jsonl", "utf-8", "jsonl", jsonl(messages)),
        Family("sharegpt.json", "qa", ".json", "utf-8", "json", tuple(conversations), render_kind="json_array"),
        Family("sharegpt-bom.jsonl", "qa", ".jsonl", "utf-8-sig", "jsonl", tuple(sharegpt)),
        Family("drugs.txt", "drug", ".txt", "utf-8", "kv", tuple(blocks), render_kind="kv_blocks"),
        Family("drugs-gb18030.txt", "drug", ".txt", "gb18030", "kv", tuple(blocks), render_kind="kv_blocks"),
        Family("qa.tsv", "qa", ".tsv", "utf-8", "csv", tuple(f"{q}\t{a}\n" for q, a in asked
                                                              if "\n" not in q + a), "question\tanswer\n"),
        Family("qa-no-header.csv", "qa", ".csv", "utf-8", "csv", tuple(_csv_text([[q, a] for q, a in asked]))),
        Family("qa-pipe.csv", "qa", ".csv", "utf-8", "csv", tuple(_csv_text([[q, a] for q, a in asked], "|")),
               "question|answer\n"),
        Family("diseases.csv", "disease", ".csv", "utf-8", "csv",
               tuple(_csv_text([[str(r.get(k, "")) for k in disease_keys] for r in disease_rows], end="\r\n")),
               _csv_text([disease_keys], end="\r\n")[0]),
        Family("diseases-utf16.jsonl", "disease", ".jsonl", "utf-16", "jsonl", tuple(diseases)),
        Family("qa-utf16.csv", "qa", ".csv", "utf-16", "csv", tuple(qa_records[1:]), qa_records[0]),
        Family("diseases-gb18030.jsonl", "disease", ".jsonl", "gb18030", "jsonl", tuple(diseases)),
        Family("drugs-utf16.json", "drug", ".json", "utf-16", "json", tuple(drug_strings), render_kind="json_array"),
    ]


FAMILIES = _families()
BY_NAME = {f.name: f for f in FAMILIES}

# ---------------------------------------------------------------------------------------------------------
# Mutations

LONG = 140_000  # more than the csv module's default field limit (131,072)
TEXT_TOKENS: tuple[str, ...] = (
    '"', ",", "\n", "\r", "\r\n", "'", '""', '"\n', '\n"', "“", "”", "\t", ";", "|", "，", ":", "：", ",,", "\\",
    '\\"', "\n\n", "\r\r", "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b[31m", "\x1c", "\x7f", "\x85", "\x9f",
    "\u2028", "\u2029", "\ufeff", "\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200b", "\u3000", "\xa0",
    "\\ud800", '"\\ud800"', "\\udfff", "\\ud83d\\ude00", "\\u0000", "\\u202e", "\\ufffe", "\\uD800\\u0041",
    "}", "]", "{", "[", "}}", "]]", "[" * 40, "]" * 40, "[" * 1200, '{"a":' * 1200, '{"a":' * 30,
    ', "answer": "重复的回答"', ', "question": "重复的问题"', ', "value": "重复"', ', "content": "重复"',
    ', "疾病名称": "重复"', ', "output": "重复"', ', "conversations": []', ', "messages": [{"role": "user"}]',
    "１２３", "０．５ｇ", "<p>", "</p>", "<br>", "<br/>", "<script>alert(1)</script>", "&nbsp;", "&amp;ldquo;",
    "&#0;", "&#x202e;", "&#55296;", "&#1114112;", "&#x1F600;", "<!--", "-->", "<![CDATA[", "&", "<", "<60%",
    "暂无", "尚不明确", "无", " ", "NaN", "Infinity", "1e400", "-0", "null", "true", "1e5",
    "适应证:", "禁忌证：", "名称\n", "别名:无\n", ",extra", "\textra", "|extra",
    "长" * LONG, "a" * (LONG // 2) + "\n" + "b" * 10,
)
BYTE_TOKENS: tuple[bytes, ...] = (
    b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xe4\xb8", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
    codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, b"\x81\x30\x81\x30", b"\xa1\xa1", b"\xb0\xa1",
    b"\xd6\xd0", b"\x84\x31\x95\x33", b"\x00\x00", b"\r", b"\n", b"\x1a",
)
JSON_LITERALS: tuple[str, ...] = ("null", "1e5", "-0", "true", "[]", "{}", '["头痛", 3, 1.5]', '{"x": [1, "二"]}',
                                  "NaN", "1e400", '"\\ud800"', '""', '"暂无"', '[[["深"]]]')
LINE_ENDS = ("\r", "\r\n", "\n", "\r\n\r\n")
BLANK_FILES = (b"", b" ", b"\n", b" \r\n\t\r", codecs.BOM_UTF8, codecs.BOM_UTF8 + b"\n \n",
               codecs.BOM_UTF16_LE + " \n".encode("utf-16-le"), "\u3000\n".encode())
OPS = ("insert", "insert", "insert", "insert", "replace", "replace", "delete", "delete", "duplicate",
       "duplicate", "truncate", "newlines", "dup_key", "retype", "drop_delimiter", "bom_at_line", "blank", "cell_start",
       "cell_start")
SCALE = 1 << 20
JSON_PAIR = re.compile(r'"((?:[^"\\\n]|\\.){1,24})"\s*:\s*("(?:[^"\\\n]|\\.)*"|-?\d[\d.eE+-]*|true|false|null)')


@dataclass(frozen=True)
class Op:
    """One mutation: `a` and `b` are positions or sizes scaled to the current length, `token` an index."""

    kind: str
    a: int = 0
    b: int = 0
    token: int = 0
    raw: bool = False  # work on bytes (else on the decoded text while it still decodes)


@dataclass(frozen=True)
class Plan:
    family: str
    start: int
    count: int
    ops: tuple[Op, ...] = ()
    literal: bytes | None = None  # the file's bytes as they are (a minimal reproducer), in the family's format


@dataclass
class Case:
    plan: Plan
    family: Family
    data: bytes
    log: list[str]
    inserted: int  # characters (or bytes) the mutations added: a value may legitimately grow by this much
    seed_longest: int  # the longest cell (CSV) of the unmutated slice

    @property
    def filename(self) -> str:
        return "fuzzed" + self.family.suffix

    def source_args(self, path: Path) -> list[str]:
        return ["--qa", str(path)] if self.family.kind == "qa" else ["--kb", f"{self.family.kind}={path}"]

    def __repr__(self) -> str:
        shown = repr(self.data) if len(self.data) <= 4000 else (
            f"{self.data[:300]!r} … {self.data[-300:]!r} ({len(self.data)} bytes, sha256 "
            f"{hashlib.sha256(self.data).hexdigest()[:16]})")
        return (f"Case({self.plan!r},\n  family={self.family.name} ({self.family.container}, {self.family.encoding}),"
                f"\n  mutations={self.log},\n  file {self.filename} = {shown})")


def _scaled(value: int, length: int) -> int:
    return value * (length + 1) // (SCALE + 1)


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding)


def _token_bytes(token: str, encoding: str) -> bytes:
    bare = {"utf-8-sig": "utf-8", "utf-16": "utf-16-le"}.get(encoding, encoding)
    return token.encode(bare)


def realize(plan: Plan) -> Case:
    """The file a plan describes: a slice of its family, then each mutation in turn."""
    family = BY_NAME[plan.family]
    if plan.literal is not None:
        return Case(plan, family, plan.literal, ["literal file"], 0, 0)
    start = min(plan.start, len(family.units) - 1)
    text: str | None = family.render(start, max(1, plan.count))
    data = b""
    seed_longest = _longest_cell(text, family) if family.container == "csv" else 0
    log: list[str] = [f"slice {family.name}[{start}:{start + max(1, plan.count)}]"]
    inserted = 0
    for op in plan.ops:
        if op.raw and text is not None:
            data, text = _encode(text, family.encoding), None
        if op.kind == "blank":
            data, text = BLANK_FILES[op.token % len(BLANK_FILES)], None
            log.append(f"whole file := {data!r}")
            continue
        if op.kind == "truncate":
            if text is not None:
                data, text = _encode(text, family.encoding), None
            at = _scaled(op.a, len(data))
            data = data[:at]
            log.append(f"truncate at byte {at}")
            continue
        if text is not None:
            text, done, added = _text_op(op, text)
        else:
            data, done, added = _byte_op(op, data, family.encoding)
        inserted += added
        log.append(done)
    if text is not None:
        data = _encode(text, family.encoding)
    return Case(plan, family, data, log, inserted, seed_longest)


def _text_op(op: Op, text: str) -> tuple[str, str, int]:
    n = len(text)
    at = _scaled(op.a, n)
    if op.kind in ("insert", "replace"):
        token = TEXT_TOKENS[op.token % len(TEXT_TOKENS)]
        cut = min(n - at, 1 + op.b % 8) if op.kind == "replace" else 0
        return text[:at] + token + text[at + cut:], f"{op.kind} char {at}:{at + cut} := {_short(token)}", len(token)
    if op.kind == "delete":
        cut = 1 + op.b % 8
        return text[:at] + text[at + cut:], f"delete chars {at}:{at + cut} ({text[at:at + cut]!r})", 0
    if op.kind == "duplicate":
        span = text[at:at + 1 + op.b % 64]
        return text[:at] + span + text[at:], f"duplicate chars {at}:{at + len(span)} ({_short(span)})", len(span)
    if op.kind == "newlines":
        end = LINE_ENDS[op.token % len(LINE_ENDS)]
        count = len(re.findall(r"\r\n|\r|\n", text))
        return re.sub(r"\r\n|\r|\n", end, text), f"every line end := {end!r}", count * len(end)
    if op.kind in ("dup_key", "retype"):
        pairs = list(JSON_PAIR.finditer(text))
        if not pairs:
            return text, f"{op.kind}: no JSON key", 0
        pair = pairs[op.a % len(pairs)]
        if op.kind == "dup_key":
            extra = f', "{pair.group(1)}": "重复{op.b % 10}"'
            return text[:pair.end()] + extra + text[pair.end():], f"dup_key {pair.group(1)!r} at {pair.end()}", len(extra)
        literal = JSON_LITERALS[op.token % len(JSON_LITERALS)]
        return (text[:pair.start(2)] + literal + text[pair.end(2):],
                f"retype {pair.group(1)!r} := {literal}", len(literal))
    if op.kind == "drop_delimiter":
        places = [m.start() for m in re.finditer(r"[,\t;|]", text)]
        if not places:
            return text, "drop_delimiter: none", 0
        place = places[op.a % len(places)]
        return text[:place] + text[place + 1:], f"drop delimiter {text[place]!r} at char {place}", 0
    if op.kind == "cell_start":  # a quote (or any token) where a CSV cell or a line starts
        places = [0] + [m.end() for m in re.finditer(r"[,\t;|\r\n]", text)]
        place = places[op.a % len(places)]
        token = '"' if op.b % 2 else TEXT_TOKENS[op.token % len(TEXT_TOKENS)]
        return text[:place] + token + text[place:], f"at cell start {place} := {_short(token)}", len(token)
    if op.kind == "bom_at_line":
        starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
        place = starts[op.a % len(starts)]
        return text[:place] + "\ufeff" + text[place:], f"BOM at char {place}", 1
    raise AssertionError(op.kind)


def _byte_op(op: Op, data: bytes, encoding: str) -> tuple[bytes, str, int]:
    n = len(data)
    at = _scaled(op.a, n)
    if op.kind in ("insert", "replace"):
        if op.raw or op.token % 3 == 0:
            token = BYTE_TOKENS[op.token % len(BYTE_TOKENS)]
        else:
            token = _token_bytes(TEXT_TOKENS[op.token % len(TEXT_TOKENS)], encoding)
        cut = min(n - at, 1 + op.b % 8) if op.kind == "replace" else 0
        return data[:at] + token + data[at + cut:], f"{op.kind} byte {at}:{at + cut} := {_short(token)}", len(token)
    if op.kind == "delete":
        cut = 1 + op.b % 8
        return data[:at] + data[at + cut:], f"delete bytes {at}:{at + cut} ({data[at:at + cut]!r})", 0
    if op.kind == "duplicate":
        span = data[at:at + 1 + op.b % 64]
        return data[:at] + span + data[at:], f"duplicate bytes {at}:{at + len(span)}", len(span)
    if op.kind == "newlines":
        end = LINE_ENDS[op.token % len(LINE_ENDS)].encode()
        count = len(re.findall(rb"\r\n|\r|\n", data))
        return re.sub(rb"\r\n|\r|\n", end, data), f"every line end byte := {end!r}", count * len(end)
    if op.kind == "bom_at_line":
        starts = [0] + [m.end() for m in re.finditer(rb"\r\n|\r|\n", data)]
        place = starts[op.a % len(starts)]
        return data[:place] + codecs.BOM_UTF8 + data[place:], f"UTF-8 BOM bytes at byte {place}", 3
    return data, f"{op.kind}: skipped on bytes", 0


def _short(token: str | bytes) -> str:
    return repr(token) if len(token) <= 40 else f"{token[:12]!r}…×{len(token)}"


# ---------------------------------------------------------------------------------------------------------
# Strategies

ops = st.builds(Op, kind=st.sampled_from(OPS), a=st.integers(0, SCALE), b=st.integers(0, 1 << 16),
                token=st.integers(0, 1 << 16), raw=st.booleans())


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    family = draw(st.sampled_from(FAMILIES))
    return Plan(family.name, draw(st.integers(0, len(family.units) - 1)), draw(st.integers(1, 4)),
                tuple(draw(st.lists(ops, max_size=4))))


# ---------------------------------------------------------------------------------------------------------
# Running a case and checking its verdict

BUILD_FLAGS = ("--quiet", "--no-report", "--no-near-dup", "--allow-empty", "--format", "alpaca_jsonl",
               "--format", "sharegpt", "--format", "messages")
SLACK = 64  # what cleaning may add to a value: a PII placeholder, a number written out (1e5 → 100000.0)
CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\r\ufffe\ud800-\udfff]")
ANSWERS = {t["id"]: t for kind in ("drug", "disease")
           for t in tomllib.loads((ROOT / "templates" / f"{kind}.toml").read_text(encoding="utf-8"))["templates"]}


class Invariant(AssertionError):
    """A broken invariant, tagged so that findings group by it."""

    def __init__(self, tag: str, message: str) -> None:
        super().__init__(f"[{tag}] {message}")
        self.tag = tag


def require(condition: object, tag: str, message: str) -> None:
    if not condition:
        raise Invariant(tag, message)


@dataclass
class Verdict:
    code: int
    stdout: str
    stderr: str


def build_in_process(case: Case, folder: Path, workers: int = 1) -> tuple[Path, Path, Verdict]:
    path = folder / case.filename
    path.write_bytes(case.data)
    out = folder / f"out-{workers}"
    result = run("build", *case.source_args(path), "--out", out, "--workers", workers, *BUILD_FLAGS)
    return path, out, Verdict(result.exit_code, result.stdout, result.stderr)


def validate_in_process(case: Case, path: Path, folder: Path) -> tuple[Path, Verdict]:
    ledger = folder / "ledger"
    result = run("validate", *case.source_args(path), "--quiet", "--no-near-dup", "--ledger", ledger)
    return ledger, Verdict(result.exit_code, result.stdout, result.stderr)


def check_error(case: Case, verdict: Verdict, command: str) -> str:
    require(verdict.code in (0, 2), "exit-code", f"{command} exited {verdict.code}; stderr: {verdict.stderr[-2000:]!r}")
    if verdict.code == 0:
        return ""
    text = verdict.stderr
    require(text.startswith("error: ") and text.endswith("\n") and len(text[:-1].splitlines()) == 1,
            "one-line-error", f"{command}: stderr is not exactly one 'error: ' line: {text[-2000:]!r}")
    require(case.filename in text, "error-names-file", f"{command}: the error does not name {case.filename}: {text!r}")
    return text


def check_build(case: Case, path: Path, out: Path, verdict: Verdict) -> dict | None:
    """Every invariant of one build; the manifest when it succeeded."""
    check_error(case, verdict, "build")
    if verdict.code == 2:
        require(not (out / "manifest.json").exists(), "no-dataset-on-error", "a failed build left a dataset behind")
        return None
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    require(manifest["reconciles"] is True, "reconciles", f"manifest says reconciles={manifest['reconciles']}")
    [source] = manifest["sources"].values()
    require(source["read"] == source["kept"] + source["rejected"], "ledger",
            f"read {source['read']} != kept {source['kept']} + rejected {source['rejected']}")
    require(sum(source["rejected_by_reason"].values()) == source["rejected"], "ledger",
            f"rejected_by_reason {source['rejected_by_reason']} does not add up to {source['rejected']}")
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    by_reason = Counter(f"{r['stage']}:{r['reason']}" for r in rejects)
    require(by_reason == Counter(source["rejected_by_reason"]), "ledger",
            f"rejects.jsonl {dict(by_reason)} != manifest {source['rejected_by_reason']}")
    [entry] = manifest["inputs"]
    encoding = entry["encoding"]
    try:
        text = case.data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise Invariant("decodes", f"exit 0, but the file does not decode as {encoding}, the manifest's: {exc}") from exc
    if text.startswith("\ufeff") and codecs.lookup(encoding).name == "utf-8":
        text = text[1:]
    lines = io.StringIO(text, newline="").readlines()  # LF, CRLF or a lone CR end a line
    utf16 = codecs.lookup(encoding).name.startswith("utf-16")
    for reject in rejects:
        if reject.get("line") is not None:
            require(1 <= reject["line"] <= max(1, len(lines)), "reject-position",
                    f"reject at line {reject['line']} of a {len(lines)}-line file: {reject}")
        if reject.get("index") is not None:
            require(0 <= reject["index"] < source["read"], "reject-position",
                    f"reject at index {reject['index']} of {source['read']} items: {reject}")
    check_counts(case, entry["container"], source["read"], text, lines, utf16)
    check_rows(case, out, manifest, source, entry["container"], text, lines)
    return manifest


YAJL_SPACE = {0x0B: " ", 0x0C: " "}  # the reader's JSON parser (yajl) also takes VT and FF for white space


def _blank(line: str, drop_bom: bool) -> bool:
    return not (line[1:] if drop_bom and line.startswith("\ufeff") else line).strip()


def check_counts(case: Case, container: str, read: int, text: str, lines: list[str], utf16: bool) -> None:
    """Records read against what the file holds, counted independently of the reader."""
    # A line that is only a BOM is blank where the reader drops a BOM at a line start (not in UTF-16).
    nonblank = {drop: sum(not _blank(line, drop) for line in lines) for drop in (True, False)}
    if container == "jsonl":
        require(nonblank[True] <= read <= nonblank[False], "jsonl-count",
                f"{read} records read from a JSONL file of {nonblank[True]} non-blank lines "
                f"(LF, CRLF and lone CR end lines)")
    elif container == "kv":
        blocks = {drop: _blocks(lines, drop) for drop in (True, False)}
        require(read in (len(blocks[True]), len(blocks[False])), "kv-count",
                f"{read} records read from a key:value file of {len(blocks[True])} blocks")
    elif container == "json":
        try:
            items = json.loads(text.translate(YAJL_SPACE))
        except RecursionError:
            return
        except json.JSONDecodeError as exc:
            raise Invariant("json-parses", f"exit 0 on a file Python's json refuses: {exc}") from exc
        require(isinstance(items, list), "json-count", f"exit 0 on a JSON {type(items).__name__}, not an array")
        require(read == len(items), "json-count", f"{read} records read from a JSON array of {len(items)} items")
    elif container == "csv":
        require(read <= nonblank[False], "csv-count",
                f"{read} records read from a CSV file of {nonblank[False]} non-blank lines")
        least = _rfc_least(lines, utf16, case.family.suffix)
        require(read >= least - 1, "csv-count",
                f"{read} records read where a strict RFC 4180 parse that lets no quote swallow a record finds "
                f"{least} rows (header included)")


def _blocks(lines: list[str], drop_bom: bool) -> list[str]:
    blocks, block = [], []
    for line in lines:
        if _blank(line, drop_bom):
            if block:
                blocks.append("".join(block))
            block = []
        else:
            block.append(line)
    if block:
        blocks.append("".join(block))
    return blocks


def _delimiter(first_line: str, suffix: str) -> str:
    """The rule the README gives: of , tab ; | the one the first line uses most; none: tab for .tsv, else ','."""
    counts = {d: first_line.count(d) for d in ",\t;|"}
    best = max(counts, key=counts.get)
    return best if counts[best] else ("\t" if suffix == ".tsv" else ",")


def _rfc_rows(lines: list[str], utf16: bool, suffix: str) -> tuple[int, int] | None:
    """(non-blank rows, longest cell) of a strict RFC 4180 parse, or None when the file is not strict CSV."""
    if not utf16:
        lines = [line[1:] if line.startswith("\ufeff") else line for line in lines]
    if not lines:
        return 0, 0
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        rows = list(csv.reader(iter(lines), delimiter=_delimiter(lines[0], suffix), strict=True))
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(limit)
    return (sum(any(cell.strip() for cell in row) for row in rows),
            max((len(cell) for row in rows for cell in row), default=0))


def _rfc_least(lines: list[str], utf16: bool, suffix: str) -> int:
    """The fewest non-blank rows the file holds when no quote swallows records: a strict RFC 4180 parse in which
    a record the strict parser refuses (a quote still open at the end of the file, text after a closing quote)
    is a row of its first line only (if that holds more than quotes and delimiters), the parse going on from the
    next line; and a quoted cell spanning lines
    counts, beside its own row, each line inside it that reads as a whole row of more than two cells, without
    a quote (with two cells, one comma in a line of prose would look like a row)."""
    if not utf16:
        lines = [line[1:] if line.startswith("\ufeff") else line for line in lines]
    if not lines:
        return 0
    delimiter, count, start, width = _delimiter(lines[0], suffix), 0, 0, None
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        while start < len(lines):
            reader = csv.reader(iter(lines[start:]), delimiter=delimiter, strict=True)
            consumed = 0
            try:
                for row in reader:
                    first, consumed = consumed, reader.line_num
                    width = len(row) if width is None else width
                    count += any(cell.strip() for cell in row)
                    count += sum(width > 2 and '"' not in line and line.count(delimiter) == width - 1
                                 for line in lines[start + first + 1:start + consumed - 1])
                return count
            except csv.Error:  # its first line is a row of its own, if it holds more than quotes and delimiters
                line = lines[start + consumed]
                count += bool(line.replace('"', "").replace(delimiter, "").strip())
                start += consumed + 1
        return count
    finally:
        csv.field_size_limit(limit)


def _longest_cell(text: str, family: Family) -> int:
    lines = io.StringIO(text, newline="").readlines()
    found = _rfc_rows(lines, False, family.suffix)
    return found[1] if found else max(map(len, lines), default=0)


def longest_value(case: Case, container: str, text: str, lines: list[str]) -> int:
    """The longest text one record's field can hold without swallowing another record."""
    longest_line = max((len(line) for line in lines), default=0)
    if container == "kv":
        return max((len(block) for drop in (True, False) for block in _blocks(lines, drop)), default=0)
    if container == "csv":
        return max(longest_line, case.seed_longest) + case.inserted
    return longest_line + case.inserted


def check_rows(case: Case, out: Path, manifest: dict, source: dict, container: str, text: str,
               lines: list[str]) -> None:
    parts = sorted((out / "data").glob("*.parquet"))
    rows = pq.read_table(parts).to_pylist() if parts else []
    require(len(rows) == sum(manifest["splits"].values()) == source["rows"], "rows",
            f"{len(rows)} Parquet rows, splits {manifest['splits']}, manifest rows {source['rows']}")
    bound = longest_value(case, container, text, lines) + SLACK
    for row in rows:
        for column in ("instruction", "input", "output"):
            found = CONTROL.search(row[column])
            require(found is None, "no-control-in-text",
                    f"{column} holds {found and found.group()!r}: {row[column][:200]!r}")
        if row["kind"] == "qa":
            limits = dict.fromkeys(("instruction", "input", "output"), bound)
        else:
            template = ANSWERS[row["template_id"]]
            question = max((q["text"] if isinstance(q, dict) else q for q in template["questions"]), key=len)
            limits = {"instruction": len(question) + question.count("{{") * bound,
                      "input": bound,
                      "output": len(template["answer"]) + template["answer"].count("{{") * bound}
        for column, limit in limits.items():
            require(len(row[column]) <= limit, "no-swallowed-records",
                    f"{column} of {len(row[column])} characters, more than one record's field can hold ({limit}): "
                    f"{row[column][:300]!r}…")
    check_trainer_formats(out, manifest, rows)


def check_trainer_formats(out: Path, manifest: dict, rows: list[dict]) -> None:
    """The Alpaca list and JSONL hold exactly the Parquet rows of each split; ShareGPT and messages as many."""
    for split, count in manifest["splits"].items():
        expected = Counter((r["instruction"], r["input"], r["output"]) for r in
                           pq.read_table(sorted((out / "data").glob(f"{split}-*.parquet"))).to_pylist())
        alpaca = json.loads((out / "alpaca" / f"{split}.json").read_text(encoding="utf-8"))
        lines = (out / "alpaca" / f"{split}.jsonl").read_text(encoding="utf-8").split("\n")
        require(lines[-1] == "", "trainer-formats", f"alpaca/{split}.jsonl does not end with a line end")
        jsonl = [json.loads(line) for line in lines[:-1]]
        for name, items in (("json", alpaca), ("jsonl", jsonl)):
            got = Counter((i["instruction"], i["input"], i["output"]) for i in items)
            require(got == expected, "trainer-formats", f"alpaca/{split}.{name} differs from the Parquet rows")
        sharegpt = json.loads((out / "sharegpt" / f"{split}.json").read_text(encoding="utf-8"))
        messages = [json.loads(line) for line in
                    (out / "messages" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        require(len(sharegpt) == len(messages) == count, "trainer-formats",
                f"{split}: {len(sharegpt)} ShareGPT and {len(messages)} messages records for {count} rows")
    require(sum(manifest["splits"].values()) == len(rows), "trainer-formats", "splits and rows disagree")


def _ledger_table(stdout: str) -> dict[str, tuple[int, int, int]]:
    table = {}
    for line in stdout.split("\n\n")[0].splitlines()[1:]:
        name, read, kept, rejected, *_ = line.split()
        table[name] = (int(read), int(kept), int(rejected))
    return table


def _error_kind(line: str) -> str:
    """The error's wording without its place and numbers, for the run's statistics."""
    return re.sub(r"\d+", "N", line.split(": ", 2)[-1].split(";")[0])[:60]


def check_validate(case: Case, build: Verdict, manifest: dict | None, out: Path, ledger: Path,
                   verdict: Verdict) -> None:
    """validate reads the same input to the same verdict: the same error, or the same records read and rejects
    that the build also has (a build adds row-level duplicates)."""
    line = check_error(case, verdict, "validate")
    require(verdict.code == build.code, "validate-agrees",
            f"validate exited {verdict.code} ({verdict.stderr.strip()!r}), build {build.code} ({build.stderr.strip()!r})")
    if manifest is None:
        require(line == build.stderr, "validate-agrees", f"validate says {line!r}, build {build.stderr!r}")
        return
    [(name, source)] = manifest["sources"].items()
    table = _ledger_table(verdict.stdout)
    require(name in table and table[name][0] == source["read"], "validate-agrees",
            f"validate's ledger {table} against the build's read {source['read']}")
    theirs = {json.dumps(json.loads(x), sort_keys=True) for x in (ledger / "rejects.jsonl").read_text("utf-8").splitlines()}
    ours = {json.dumps(json.loads(x), sort_keys=True) for x in (out / "rejects.jsonl").read_text("utf-8").splitlines()}
    require(theirs <= ours, "validate-agrees", f"rejects validate has and the build has not: {sorted(theirs - ours)[:3]}")


# ---------------------------------------------------------------------------------------------------------
# Collecting findings (FUZZ_FINDINGS=FILE) instead of stopping at the first


def verdict_of(case: Case, test: str, body) -> None:
    try:
        body()
    except Exception as exc:
        if not FINDINGS:
            raise
        tag = exc.tag if isinstance(exc, Invariant) else "exception"
        frames = traceback.extract_tb(exc.__traceback__)
        where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                      if "/builder/" in f.filename), f"{Path(frames[-1].filename).name}:{frames[-1].lineno}")
        record = {"test": test, "tag": tag, "type": type(exc).__name__, "where": where, "message": str(exc)[:3000],
                  "traceback": "".join(traceback.format_exception(exc)[-6:])[-4000:], "plan": repr(case.plan),
                  "log": case.log, "family": case.family.name, "filename": case.filename,
                  "data_b64": base64.b64encode(case.data).decode()}
        with open(FINDINGS, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def workroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# Known-dangerous shapes every ci run covers, whatever the generator draws.
EXAMPLES_FIXED = [
    Plan("raw/qa_sharegpt.jsonl", 0, 4, (Op("newlines", token=0),)),  # CR-only JSONL
    Plan("raw/diseases.jsonl", 3, 4, (Op("newlines", token=0),)),
    Plan("raw/qa.csv", 5, 4, (Op("cell_start", a=7, b=1),)),  # a quote that never closes
    Plan("qa-pipe.csv", 5, 4, (Op("cell_start", a=3, b=1), Op("cell_start", a=8, b=1))),  # a quote closed rows later
    Plan("raw/drugs_more.csv", 8, 4, (Op("delete", a=0, b=0),)),
    Plan("alpaca.jsonl", 0, 3, (Op("insert", a=SCALE // 2, token=TEXT_TOKENS.index("[" * 1200)),)),
    Plan("alpaca.json", 0, 3, (Op("insert", a=SCALE // 2, token=TEXT_TOKENS.index('{"a":' * 1200)),)),
    Plan("conftest/QA_ROWS.jsonl", 0, 3, (Op("retype", a=1, token=JSON_LITERALS.index('"\\ud800"')),)),
    Plan("alpaca.json", 0, 3, (Op("dup_key", a=2),)),
    Plan("qa-no-header.csv", 0, 3, (Op("insert", a=SCALE // 2, token=TEXT_TOKENS.index("长" * LONG)),)),
    Plan("diseases-utf16.jsonl", 0, 2, (Op("truncate", a=SCALE // 2 + 1),)),
    Plan("raw/drugs.json", 0, 2, (Op("truncate", a=SCALE // 2),)),
    Plan("messages.jsonl", 0, 2, (Op("blank", token=3),)),
    Plan("drugs.txt", 0, 3, (Op("insert", a=SCALE // 2, b=0, token=BYTE_TOKENS.index(b"\xff"), raw=True),)),
    Plan("diseases-gb18030.jsonl", 0, 3, (Op("bom_at_line", a=1),)),
    Plan("qa.tsv", 0, 3, (Op("insert", a=SCALE // 2, token=TEXT_TOKENS.index("\u202e")),
                          Op("insert", a=SCALE // 3, token=TEXT_TOKENS.index("\x00")))),
]


def _same_length_lines(count: int, odd: int, odd_line: dict) -> bytes:
    """QA JSONL lines of one byte length, line `odd` (1-based) replaced by `odd_line` padded to that length."""
    lines = [json.dumps({"question": f"第{i:02d}号患者头痛了，应该怎么办？", "answer": f"建议测量血压并休息，第{i:02d}号请按时复诊。"},
                        ensure_ascii=False) for i in range(1, count + 1)]
    width = len(lines[0].encode())
    text = json.dumps(odd_line, ensure_ascii=False)
    lines[odd - 1] = text[:-2] + "x" * (width - len(text.encode())) + text[-2:]
    return ("\n".join(lines) + "\n").encode()


# Minimal files the long runs found: each breaks an invariant until its bug is fixed.
REGRESSIONS = [
    # A byte that is not UTF-8 in a JSONL key: the fast reader's Arrow table fails on the field name, and the
    # error is "cannot read the input: 'utf-8' codec can't decode byte 0xff…", naming neither file nor line.
    Plan("alpaca.jsonl", 0, 1, literal='{"\udcff名称": "高血压是以体循环动脉血压升高为主要特征"}\n'.encode("utf-8", "surrogateescape")),
    # A JSONL record without the required fields at the start of a shard stops the build ("cannot map required
    # qa field(s)"), where validate (one unit) reads the same file to one reject.
    Plan("alpaca.jsonl", 0, 1, literal='{"note": "头痛"}\n{"question": "头痛怎么办？", "answer": "建议休息，必要时就医。"}\n'.encode()),
    # A column name holding a CR is printed raw inside the one-line error.
    Plan("qa-no-header.csv", 0, 1, literal='"q\rn",answer\n头痛怎么办？,建议休息。\n'.encode()),
    # The first record spells the answer key "Answer": in one unit (validate) the canonical "answer" of the
    # records after it is dropped as a second claimant, and they are rejected as "answer: empty after cleaning".
    Plan("alpaca.jsonl", 0, 1, literal='{"question": "胃痛怎么办？", "Answer": "建议清淡饮食，必要时就医。"}\n'
         '{"question": "感冒发烧38度需要去医院吗？", "answer": "体温38度左右可先物理降温、多喝水。"}\n'.encode()),
    # After the array, a string that never closes (a record appended without brackets, cut off) is dropped
    # without a word, where any other text after the array is "trailing garbage".
    Plan("alpaca.json", 0, 1, literal='[{"question": "头痛怎么办？", "answer": "建议休息。"}]\n"发烧怎么办？多喝水'.encode()),
]
# Line 3 of 16 equal lines starts a shard with --workers 2 (16 shards) but not with --workers 1 (8 shards).
WORKERS_REGRESSION = Plan("alpaca.jsonl", 0, 1, literal=_same_length_lines(16, 3, {"note": "x"}))


def tally(case: Case, verdict: Verdict) -> None:
    """The run's statistics (--hypothesis-show-statistics): which seeds ran, and how the builds ended."""
    if currently_in_test_context():
        event(f"family {case.family.name}")
        event(f"build exit {verdict.code}" + (f": {_error_kind(verdict.stderr)}" if verdict.code == 2 else ""))


def in_process_case(case: Case, folder: Path) -> Verdict:
    """build --workers 1 in this process, then validate, and every invariant of both."""
    path, out, build = build_in_process(case, folder)
    tally(case, build)
    manifest = check_build(case, path, out, build)
    ledger, verdict = validate_in_process(case, path, folder)
    check_validate(case, build, manifest, out, ledger, verdict)
    return build


def own_process_case(case: Case, folder: Path) -> None:
    """python -m builder build --workers 2 in a process of its own (worker processes, JSONL shards): a signal is a
    crash; then the same invariants, and the bytes (or the error line) of the in-process --workers 1 build."""
    path = folder / case.filename
    path.write_bytes(case.data)
    out = folder / "out-2"
    done = subprocess.run([sys.executable, "-X", "faulthandler", "-m", "builder", "build",
                           *case.source_args(path), "--out", str(out), "--workers", "2", *BUILD_FLAGS],
                          capture_output=True, text=True, timeout=600, cwd=folder)
    require(done.returncode >= 0, "crash", f"killed by signal {-done.returncode}: {done.stderr[-3000:]}")
    two = Verdict(done.returncode, done.stdout, done.stderr)
    tally(case, two)
    manifest = check_build(case, path, out, two)
    _, out_one, one = build_in_process(case, folder, workers=1)
    require(one.code == two.code and one.stderr == two.stderr, "workers-agree",
            f"--workers 1: {one.code} {one.stderr!r}; --workers 2: {two.code} {two.stderr!r}")
    if manifest is not None:
        other = json.loads((out_one / "manifest.json").read_text(encoding="utf-8"))
        differ = [key for key in ("sources", "splits", "outputs") if other[key] != manifest[key]]
        require(not differ, "workers-agree", "--workers 1 and --workers 2 differ in " + "; ".join(
            f"{key}: {json.dumps(other[key], ensure_ascii=False)} != {json.dumps(manifest[key], ensure_ascii=False)}"
            for key in differ))
        require((out_one / "rejects.jsonl").read_bytes() == (out / "rejects.jsonl").read_bytes(),
                "workers-agree", "--workers 1 and --workers 2 wrote different rejects.jsonl")


def run_case(case: Case, workroot: Path, test: str, runner) -> None:
    folder = Path(tempfile.mkdtemp(dir=workroot))
    try:
        verdict_of(case, test, lambda: runner(case, folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _with_examples(test):
    for plan in EXAMPLES_FIXED:
        test = example(plan=plan)(test)
    return test


@profile(EXAMPLES["in_process"])
@_with_examples
@given(plan=plans())
def test_fuzzed_fixture_builds_or_fails_with_one_line(plan: Plan, workroot: Path) -> None:
    case = realize(plan)
    note(repr(case))
    run_case(case, workroot, "in_process", in_process_case)


@profile(EXAMPLES["subprocess"], shrink=False)
@example(plan=EXAMPLES_FIXED[0])
@example(plan=EXAMPLES_FIXED[4])
@given(plan=plans())
def test_fuzzed_fixture_in_its_own_process_never_crashes_and_matches_one_worker(plan: Plan, workroot: Path) -> None:
    case = realize(plan)
    note(repr(case))
    run_case(case, workroot, "subprocess", own_process_case)


@pytest.mark.parametrize("plan", REGRESSIONS, ids=["bad-byte-in-jsonl-key", "off-schema-record-starts-a-shard",
                                                   "cr-in-column-name", "variant-key-drops-canonical-key",
                                                   "unclosed-string-after-json-array"])
def test_regression_found_by_fuzzing(plan: Plan, workroot: Path) -> None:
    run_case(realize(plan), workroot, "regression", in_process_case)


def test_regression_found_by_fuzzing_workers(workroot: Path) -> None:
    run_case(realize(WORKERS_REGRESSION), workroot, "regression", own_process_case)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_every_seed_unmutated_builds_and_passes_every_invariant(family: Family, workroot: Path) -> None:
    """The invariants hold on the seeds themselves, whole: a failure here is the suite's, not the reader's."""
    case = realize(Plan(family.name, 0, len(family.units)))
    folder = Path(tempfile.mkdtemp(dir=workroot))
    try:
        build = in_process_case(case, folder)
        assert build.code == 0, build.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)
