"""The floor: the least work that turns the bench workload into instruction rows.

No cleaning, no dedup, no PII scrubbing, no templating engine, no splits: read the QA
lines with ``pyarrow.json.read_json``, parse the drug ``key:value`` blocks in a plain
Python loop and render a few question/answer pairs per record with f-strings, concat
into one Arrow table (instruction / input / output) and write one Parquet file.

Usage: ``python bench/floor.py IN_DIR OUT_DIR`` (IN_DIR holds drugs.json and qa.jsonl,
as written by ``bench/workload.py``). Prints one JSON line with the row count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq

# field -> question template (the drug name is substituted)
TEMPLATES = {
    "适应证": "{name}的适应病症是什么？",
    "用法用量": "{name}的用法用量是什么？",
    "禁忌证": "{name}有哪些禁忌证？",
    "不良反应": "{name}有哪些不良反应？",
}
PLACEHOLDER = "尚不明确。"


def drug_rows(path: Path) -> tuple[list[str], list[str]]:
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    instr: list[str] = []
    out: list[str] = []
    for rec in records:
        lines = rec.split("\n")
        name = lines[0].strip()
        for line in lines[1:]:
            key, sep, value = line.partition(":")
            if not sep:
                continue
            tmpl = TEMPLATES.get(key)
            if tmpl is None or not value or value == PLACEHOLDER:
                continue
            instr.append(tmpl.format(name=name))
            out.append(value)
    return instr, out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python bench/floor.py IN_DIR OUT_DIR", file=sys.stderr)
        return 2
    in_dir, out_dir = Path(argv[0]), Path(argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)

    qa = pj.read_json(in_dir / "qa.jsonl")
    q = qa.column("question")
    qa_table = pa.table({
        "instruction": q,
        "input": pa.repeat(pa.scalar("", pa.string()), len(q)),
        "output": qa.column("answer"),
    })

    instr, out = drug_rows(in_dir / "drugs.json")
    drug_table = pa.table({
        "instruction": pa.array(instr, pa.string()),
        "input": pa.array([""] * len(instr), pa.string()),
        "output": pa.array(out, pa.string()),
    })

    table = pa.concat_tables([drug_table, qa_table.cast(drug_table.schema)])
    pq.write_table(table, out_dir / "floor.parquet")
    print(json.dumps({"rows": table.num_rows, "drug_rows": drug_table.num_rows, "qa_rows": qa_table.num_rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
