"""The naive path: the builder's default stages written the way a first-draft script would.

Plain Python, one row at a time, the obvious library call for each step:

1. read     ``json.load`` of the whole ``drugs.json`` array (CareGPT ``名称\\n键:值…`` strings,
            parsed line by line) and ``json.loads`` per line of ``qa.jsonl``;
2. clean    per field: ``re`` for HTML tags, ``html.unescape`` (twice), odd spaces folded,
            runs of spaces/blank lines collapsed, placeholder values (尚不明确, 无, 暂无, …) → missing;
3. validate one pydantic model per record (``schemas.DrugRecord`` / ``schemas.QARecord``, the
            repo's own models); a ``ValidationError`` is a reject;
4. expand   every template of the real ``templates/drug.toml`` (``tomllib``) whose ``requires``
            the record has, one phrasing per record and template picked by a stable hash
            (sha1 of record id, seed, template id), rendered with Jinja2 ``Template.render`` in a
            ``SandboxedEnvironment(undefined=StrictUndefined)`` (templates compiled once);
5. quality  ``re``-based PII in QA text (mobile ``1[3-9]\\d{9}`` between non-digits → ``[手机号]``,
            e-mail → ``[邮箱]``), a few row filters (answer shorter than 2 characters, question
            equal to answer), exact dedup with a Python dict keyed on the normalised row text
            (NFKC, casefold, punctuation and whitespace removed), first copy kept.
            **No near-duplicate removal**: the builder's MinHash/LSH pass over QA rows is skipped
            here on purpose (a datasketch pass would dominate the timing and is not the
            row-by-row path this script measures); the builder's figure includes it;
6. split    records (all rows of one record together) shuffled by ``random.Random(seed)`` and
            cut 90/5/5; rows shuffled within each split;
7. export   per split ``datasets.Dataset.from_generator`` (``fingerprint`` = sha256 of the inputs
            and seed, so a cached Arrow file is never reused; cache dir inside OUT_DIR, removed
            at the end), ``DatasetDict.save_to_disk(OUT/hf)``, ``Dataset.to_parquet`` into
            ``OUT/data/<split>-00000-of-00001.parquet`` (hub layout, what ``bench/scale.py`` counts)
            and ``Dataset.to_json`` into ``OUT/alpaca/<split>.json`` (a JSON array of
            instruction/input/output, UTF-8 not escaped; ``lines=False`` needs one batch of the
            whole split, i.e. a pandas frame of it in memory, as ``datasets`` insists).

Usage: ``python bench/naive.py IN_DIR OUT_DIR [--seed N]`` (IN_DIR holds drugs.json and
qa.jsonl as written by ``bench/workload.py``). Prints one JSON line with the counts.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import random
import re
import shutil
import sys
import tomllib
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import datasets
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from schemas.drug import DrugRecord
from schemas.qa import QARecord

# source key -> schema field (the keys CareGPT-style drug files use)
DRUG_KEYS = {
    "名称": "name", "药品名称": "name", "通用名": "name",
    "别名": "aliases", "英文名": "english_name", "药品类型": "category", "药品分类": "category",
    "剂型": "dosage_form", "规格": "specification", "成分": "ingredients",
    "适应证": "indications", "适应症": "indications", "功能主治": "indications",
    "用法用量": "usage_dosage", "禁忌": "contraindications", "禁忌证": "contraindications",
    "禁忌症": "contraindications", "不良反应": "adverse_reactions", "注意事项": "precautions",
    "药物相互作用": "interactions", "药理作用": "pharmacology", "药理毒理": "pharmacology",
    "药代动力学": "pharmacokinetics", "贮藏": "storage", "孕妇及哺乳期妇女用药": "pregnancy_lactation",
    "儿童用药": "pediatric_use", "老年用药": "geriatric_use", "药物过量": "overdose",
    "批准文号": "approval_number", "生产企业": "manufacturer",
}
PLACEHOLDERS = {"尚不明确", "不明确", "尚不清楚", "无", "暂无", "暂无资料", "不详", "未知"}

TAG = re.compile(r"</?[A-Za-z][^<>]*>")
BLOCK_TAG = re.compile(r"<(?:br|/p|/div|/li)\s*/?>", re.IGNORECASE)
ODD_SPACE = re.compile(r"[\u3000\u00a0\u2000-\u200b\u202f\u205f\ufeff\t\r\f\v]")
SPACES = re.compile(r" {2,}")
BLANK_LINES = re.compile(r"\n\s*\n+")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
NOT_WORD = re.compile(r"[\W_]+")
TERMINAL = "。！？!?…"
SOFT_END = "，、；：,;: "


def clean(value):
    """One text value: tags, entities, odd spaces, collapsed blanks; a placeholder becomes None."""
    if value is None:
        return None
    text = BLOCK_TAG.sub("\n", value)
    text = TAG.sub("", text)
    text = html.unescape(html.unescape(text))
    text = ODD_SPACE.sub(" ", text)
    text = SPACES.sub(" ", text)
    text = BLANK_LINES.sub("\n", text).strip()
    if not text or text.strip("()（）[]【】 。.；;，,") in PLACEHOLDERS:
        return None
    return text


def parse_drug(block: str) -> dict:
    """``名称\\n键:值\\n…``: first line without a key is the name; a line without a key continues."""
    fields: dict[str, str] = {}
    last = None
    for i, line in enumerate(block.split("\n")):
        m = re.match(r"^([^:：]{1,20})[:：](.*)$", line)
        if m and m.group(1).strip() in DRUG_KEYS:
            last = DRUG_KEYS[m.group(1).strip()]
            fields[last] = (fields[last] + "\n" + m.group(2)) if last in fields else m.group(2)
        elif i == 0:
            last = "name"
            fields["name"] = line
        elif last is not None:
            fields[last] += "\n" + line
    return fields


def sentence(text) -> str:
    value = str(text).strip().rstrip(SOFT_END)
    if not value or value[-1] in TERMINAL:
        return value
    return value + "。"


def stable_hash(*parts) -> int:
    return int.from_bytes(hashlib.sha1("\x1f".join(map(str, parts)).encode("utf-8")).digest()[:8], "big")


def record_id(model) -> str:
    payload = json.dumps(model.model_dump(), ensure_ascii=False, sort_keys=True)
    return hashlib.sha1(payload.encode("utf-8")).hexdigest()[:16]


def norm_key(*texts: str) -> str:
    return "\x1f".join(NOT_WORD.sub("", unicodedata.normalize("NFKC", t).casefold()) for t in texts)


def scrub(text: str, counts: dict) -> str:
    text, n = MOBILE.subn("[手机号]", text)
    counts["mobile"] += n
    text, n = EMAIL.subn("[邮箱]", text)
    counts["email"] += n
    return text


def load_templates(path: Path, env: SandboxedEnvironment) -> list[dict]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = []
    for t in data["templates"]:
        out.append({
            "id": t["id"],
            "requires": t.get("requires", []),
            "questions": [env.from_string(q) for q in t["questions"]],
            "answer": env.from_string(t["answer"]),
            "input": env.from_string(t["input"]) if t.get("input") else None,
        })
    return out


def inputs_fingerprint(paths: list[Path], seed: int) -> str:
    h = hashlib.sha256(f"naive-v1 seed={seed}".encode())
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description="Naive row-by-row build of the bench workload.")
    ap.add_argument("in_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    in_dir, out, seed = args.in_dir, args.out_dir, args.seed
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.filters["sentence"] = sentence
    templates = load_templates(REPO / "templates" / "drug.toml", env)

    counts = {"drug_read": 0, "drug_rejected": 0, "qa_read": 0, "qa_rejected": 0, "filtered": 0,
              "duplicates": 0, "mobile": 0, "email": 0}
    rows: list[dict] = []
    seen: dict[str, str] = {}  # normalised row text -> record id of the copy kept

    def add(row: dict) -> None:
        key = norm_key(row["instruction"], row["input"], row["output"])
        if key in seen:
            counts["duplicates"] += 1
            return
        seen[key] = row["record_id"]
        rows.append(row)

    # ---- drugs: read, clean, validate, expand
    with open(in_dir / "drugs.json", encoding="utf-8") as f:
        blocks = json.load(f)
    for block in blocks:
        counts["drug_read"] += 1
        fields = {k: clean(v) for k, v in parse_drug(block).items()}
        try:
            rec = DrugRecord(**{k: v for k, v in fields.items() if v is not None})
        except ValidationError:
            counts["drug_rejected"] += 1
            continue
        rid = record_id(rec)
        ctx = rec.model_dump()
        for t in templates:
            if not all(ctx.get(field) for field in t["requires"]):
                continue
            q = t["questions"][stable_hash(rid, seed, t["id"]) % len(t["questions"])]
            add({
                "instruction": q.render(ctx),
                "input": t["input"].render(ctx) if t["input"] else "",
                "output": t["answer"].render(ctx),
                "source": "drugs", "kind": "drug", "record_id": rid, "template_id": t["id"],
            })
    del blocks

    # ---- QA: read, clean, validate, PII, filters
    with open(in_dir / "qa.jsonl", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            counts["qa_read"] += 1
            try:
                obj = json.loads(line)
                rec = QARecord(question=clean(obj.get("question")), answer=clean(obj.get("answer")))
            except (ValueError, ValidationError):
                counts["qa_rejected"] += 1
                continue
            question = scrub(rec.question, counts)
            answer = scrub(rec.answer, counts)
            if len(answer) < 2 or norm_key(question) == norm_key(answer):
                counts["filtered"] += 1
                continue
            rid = record_id(rec)
            add({"instruction": question, "input": rec.input or "", "output": answer,
                 "source": "qa", "kind": "qa", "record_id": rid, "template_id": None})
    seen.clear()

    # ---- split by record, 90/5/5
    rng = random.Random(seed)
    rids = list(dict.fromkeys(r["record_id"] for r in rows))
    rng.shuffle(rids)
    n_train, n_val = int(len(rids) * 0.9), int(len(rids) * 0.05)
    split_of = {rid: ("train" if i < n_train else "validation" if i < n_train + n_val else "test")
                for i, rid in enumerate(rids)}
    by_split: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for r in rows:
        by_split[split_of[r["record_id"]]].append(r)
    rows.clear()
    del rids, split_of
    for part in by_split.values():
        rng.shuffle(part)

    # ---- export: HF dataset, Parquet, Alpaca JSON
    features = datasets.Features({k: datasets.Value("string") for k in
                                  ("instruction", "input", "output", "source", "kind", "record_id", "template_id")})
    fp = inputs_fingerprint([in_dir / "drugs.json", in_dir / "qa.jsonl"], seed)
    cache = out / ".hf-cache"
    datasets.disable_progress_bars()
    dd = datasets.DatasetDict()
    for split, part in by_split.items():
        if not part:
            continue

        def gen(part=part):
            yield from part

        dd[split] = datasets.Dataset.from_generator(gen, features=features, cache_dir=str(cache),
                                                    split=split, fingerprint=f"{fp}-{split}")
    del by_split
    dd.save_to_disk(str(out / "hf"))
    (out / "data").mkdir()
    (out / "alpaca").mkdir()
    for split, ds in dd.items():
        ds.to_parquet(str(out / "data" / f"{split}-00000-of-00001.parquet"))
        ds.select_columns(["instruction", "input", "output"]).to_json(
            str(out / "alpaca" / f"{split}.json"), batch_size=max(len(ds), 1), lines=False, orient="records", force_ascii=False, indent=0)
    del dd
    shutil.rmtree(cache, ignore_errors=True)

    counts["rows"] = {split: n for split, n in ((s, len(d)) for s, d in
                                                 datasets.load_from_disk(str(out / "hf")).items())}
    print(json.dumps(counts, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
