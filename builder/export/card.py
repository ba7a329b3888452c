"""The dataset card (`README.md`) of a build, rendered from its manifest.

The YAML front matter is the Hugging Face Hub's dataset-card metadata (`huggingface_hub.DatasetCardData`):
license, language, task categories, size category, a `default` config whose `data_files` point at
`data/{split}-*` (only splits that have rows: empty splits have no Parquet shard), and
`dataset_info` with the 8 row columns, each split's `num_examples` and `num_bytes`, `download_size` and
`dataset_size`. `datasets` ignores a splits list that lacks any of name/num_examples/num_bytes, with a
warning on every `load_dataset`; `num_bytes` is what it counts itself: the split's Arrow data in memory.

The license: the one given, else the single licence all inputs share when it starts with a licence id
the Hub knows (e.g. "CC0-1.0 (written for this project)" -> cc0-1.0), else "other" (licences differ
or are unknown). The body always quotes every input's licence as given.

The body reports what the manifest records: sources and their licences, counts per source and
split, the template catalogue, cleaning/dedup/PII/decontamination figures, held-out entities, the
input hashes, seed, versions and configuration, and a medical disclaimer in Chinese and English.

The card is published, so it is rendered from `public_manifest`: nothing of the build machine, i.e. no
command line (it holds local paths and whatever else was typed) and every path cut to its file name.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePath, PureWindowsPath
from typing import get_args, get_origin

import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub.repocard_data import DatasetCardData  # not `huggingface_hub`: its API client is slow to import
from pydantic import BaseModel

from builder.config import BuildConfig
from builder.rows import CARD_FEATURES

# Licence ids the Hub accepts in card metadata (the common ones; anything else becomes "other").
HUB_LICENSES = {
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0",
    "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0",
    "etalab-2.0", "eupl-1.1", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0",
    "isc", "lppl-1.3c", "ms-pl", "mpl-2.0", "odc-by", "odbl", "openrail++", "osl-3.0", "postgresql", "ofl-1.1",
    "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr", "deepfloyd-if-license", "unknown", "other",
}
SIZE_CATEGORIES = [
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"),
]
DISCLAIMER = """\
**免责声明：** 本数据集由医学知识库记录（药品、疾病等）经模板自动生成，并收录清洗后的医患问答，仅供研究与模型训练使用，不构成任何医疗建议、诊断或治疗方案。
数据可能存在错误、过时或不完整的内容；任何健康问题请咨询执业医师或药师等专业人员。

**Disclaimer:** This dataset was generated automatically from medical knowledge-base records (drugs, diseases and others)
through templates, plus cleaned doctor–patient Q&A. It is for research and model training only and is **not medical advice**,
diagnosis or treatment. It may contain errors or outdated or incomplete information; always verify
with a qualified medical professional (physician or pharmacist)."""


def size_category(rows: int) -> str:
    for bound, label in SIZE_CATEGORIES:
        if rows < bound:
            return label
    return "n>1T"


def card_license(manifest: dict, license: str | None = None) -> str:
    """The licence id for the card metadata (see the module docstring)."""
    if license:
        return license
    given = {(entry.get("license") or "").strip() for entry in manifest.get("inputs", [])}
    if len(given) != 1 or not (only := given.pop()):
        return "other"
    spdx = only.split()[0].strip("()[],;").lower()
    return spdx if spdx in HUB_LICENSES else "other"


def split_bytes(out_dir: Path, split: str) -> int:
    """A split's `num_bytes` as `datasets` counts it: the size of its Arrow data in memory. The build's `hf/` Arrow
    shards hold the same table as its Parquet shards and are read memory-mapped, so nothing is decoded; a folder
    without them is measured from its Parquet, a row group at a time."""
    total = 0
    for path in sorted((Path(out_dir) / "hf" / split).glob("data-*.arrow")):
        with pa.ipc.open_stream(pa.memory_map(str(path))) as stream:
            total += stream.read_all().nbytes
    if total:
        return total
    for path in sorted((Path(out_dir) / "data").glob(f"{split}-*.parquet")):
        parquet = pq.ParquetFile(path)
        total += sum(parquet.read_row_group(i).nbytes for i in range(parquet.num_row_groups))
    return total


def card_data(manifest: dict, out_dir: Path, license: str | None = None,
              pretty_name: str | None = None) -> DatasetCardData:
    splits = {name: int(rows) for name, rows in manifest.get("splits", {}).items()}
    filled = [name for name, rows in splits.items() if rows]
    total = sum(splits.values())
    parquet_bytes = sum(p.stat().st_size for p in (Path(out_dir) / "data").glob("*.parquet")) \
        if (Path(out_dir) / "data").is_dir() else 0
    sizes = {name: split_bytes(out_dir, name) for name in filled}
    info = {
        "features": [{"name": name, **(dtype if isinstance(dtype, dict) else {"dtype": dtype})}
                     for name, dtype in CARD_FEATURES.items()],
        "splits": [{"name": name, "num_bytes": sizes[name], "num_examples": splits[name]} for name in filled],
        "dataset_size": sum(sizes.values()),
    }
    if parquet_bytes:
        info["download_size"] = parquet_bytes
    return DatasetCardData(
        license=card_license(manifest, license),
        language=["zh"],
        task_categories=["text-generation", "question-answering"],
        size_categories=[size_category(total)],
        pretty_name=pretty_name or "QiZhen-style Chinese medical instructions",
        tags=["medical", "instruction-tuning", "chinese"],
        configs=[{
            "config_name": "default",
            "data_files": [{"split": name, "path": f"data/{name}-*"} for name in filled],
        }],
        dataset_info=info,
    )


def render_card(manifest: dict, out_dir: Path, license: str | None = None, pretty_name: str | None = None) -> str:
    """The full `README.md` text: YAML front matter, then the body, from the manifest's public part only."""
    manifest = public_manifest(manifest)
    data = card_data(manifest, out_dir, license, pretty_name)
    return f"---\n{data.to_yaml()}\n---\n\n{_body(manifest, data, out_dir)}"


def write_card(manifest: dict, out_dir: Path, license: str | None = None, pretty_name: str | None = None) -> Path:
    path = Path(out_dir) / "README.md"
    path.write_text(render_card(manifest, out_dir, license, pretty_name), encoding="utf-8")
    return path


def public_manifest(manifest: dict) -> dict:
    """The manifest as it may be published: without the command line, which holds local paths and whatever
    else was typed, and with the inputs', templates' and config's paths cut to file names. What repeats the
    build stays: input names and sha256, seed, versions and every setting."""
    public = {key: value for key, value in manifest.items() if key != "command"}
    public["inputs"] = [{**entry, "path": _name(entry["path"])} if "path" in entry else entry
                        for entry in manifest.get("inputs", [])]
    if "templates" in manifest:
        public["templates"] = {**manifest["templates"],
                               "files": [_name(f) for f in manifest["templates"].get("files", [])]}
    if "config" in manifest:
        public["config"] = _path_free(manifest["config"], BuildConfig)
    return public


def _name(path: object) -> str:
    return PureWindowsPath(str(path)).name  # the last part after either separator, / or \


def _path_free(data: object, annotation: object) -> object:
    """`data`, the JSON of a value typed `annotation`, with every `Path` in it cut to its file name. The model says
    which values are paths, so free text that merely holds a slash (a licence, a system prompt) is left as it is."""
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return _name(data) if isinstance(data, str) else data
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = annotation.model_fields
        return {key: _path_free(value, fields[key].annotation) if key in fields else value
                for key, value in data.items()} if isinstance(data, dict) else data
    args = get_args(annotation)
    if isinstance(data, list) and get_origin(annotation) in (list, tuple, set, frozenset):
        return [_path_free(value, args[0]) for value in data]
    if isinstance(data, dict) and get_origin(annotation) is dict:
        return {key: _path_free(value, args[1]) for key, value in data.items()}
    for arg in args:  # X | None, Annotated[X, ...]: each arm leaves data it does not fit as it is
        data = _path_free(data, arg)
    return data


def _body(manifest: dict, data: DatasetCardData, out_dir: Path) -> str:
    parts = [f"# {data.pretty_name}", "", DISCLAIMER, ""]
    splits = manifest.get("splits", {})
    totals = manifest.get("totals", {})
    parts += [
        "## Summary", "",
        f"{sum(splits.values())} instruction rows (" + ", ".join(f"{k} {v}" for k, v in splits.items()) + ") "
        f"rendered from {totals.get('kept', '?')} kept of {totals.get('read', '?')} records read "
        f"({totals.get('rejected', '?')} rejected). Licence in metadata: `{data.license}`.",
        "",
        "Columns: " + ", ".join(f"`{name}` ({_typed(dtype)})" for name, dtype in CARD_FEATURES.items()) + ".",
        "Files: " + ", ".join(_files(out_dir)) + ".",
        "",
    ]
    if manifest.get("empty_splits"):
        parts += [f"Empty splits (no files): {', '.join(manifest['empty_splits'])}.", ""]
    parts += _sources(manifest) + _splits(manifest) + _templates(manifest) + _types(manifest) + _quality(manifest)
    parts += _tokens(manifest) + _chat(manifest)
    parts += _trainers(manifest)
    parts += _provenance(manifest)
    return "\n".join(parts).rstrip() + "\n"


OPTIONAL_FILES = [  # (glob under the build folder, what it is)
    ("data/*.parquet", "`data/{split}-*.parquet` (Parquet shards; this card's default config)"),
    ("hf/dataset_dict.json", "`hf/` (`datasets.load_from_disk`)"),
    ("alpaca/*.json", "`alpaca/{split}.json` (Alpaca JSON list: instruction/input/output)"),
    ("alpaca/*.jsonl", "`alpaca/{split}.jsonl` (Alpaca JSON lines)"),
    ("sharegpt/*.json", "`sharegpt/{split}.json` (ShareGPT conversations)"),
    ("messages/*.jsonl", "`messages/{split}.jsonl` (OpenAI chat messages)"),
    ("preference/*.json", "`preference/{split}.json` (preference pairs: LLaMA-Factory ranking, Alpaca form)"),
    ("dpo/*.jsonl", "`dpo/{split}.jsonl` (preference pairs: TRL prompt/chosen/rejected)"),
    ("dataset_info.json", "`dataset_info.json` (LLaMA-Factory entries for the files above)"),
    ("report/index.html", "`report/index.html` (statistics and plots)"),
    ("rejects.jsonl", "`rejects.jsonl` (every rejected record with its reason)"),
    ("manifest.json", "`manifest.json` (everything this card reports, machine-readable)"),
]


def _files(out_dir: Path) -> list[str]:
    return [what for pattern, what in OPTIONAL_FILES if next(Path(out_dir).glob(pattern), None) is not None]


def _sources(manifest: dict) -> list[str]:
    lines = ["## Sources and licences", "",
             *_table(["source", "kind", "file", "format", "encoding", "sha256", "licence (as given)"],
                     [[i.get("source"), i.get("kind"), Path(str(i.get("path", ""))).name, i.get("container"),
                       i.get("encoding"), _code(str(i.get("sha256", ""))[:16]), i.get("license") or "not given"]
                      for i in manifest.get("inputs", [])]), ""]
    rows = []
    for name, counts in manifest.get("sources", {}).items():
        reasons = {**counts.get("rejected_by_reason", {}), **counts.get("rows_removed", {})}
        rows.append([name, counts.get("read"), counts.get("kept"), counts.get("rejected"), counts.get("rows"),
                     ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda x: -x[1])) or "—"])
    totals = manifest.get("totals", {})
    if totals:
        rows.append(["**total**", totals.get("read"), totals.get("kept"), totals.get("rejected"), totals.get("rows"),
                     ""])
    lines += ["### Counts per source", "",
              *_table(["source", "read", "kept", "rejected", "rows", "rejects and removed rows by reason"], rows), ""]
    return lines


def _splits(manifest: dict) -> list[str]:
    split = manifest.get("config", {}).get("split", {})
    rows = [[name, count, split.get(name, "")] for name, count in manifest.get("splits", {}).items()]
    lines = ["## Splits", "", *_table(["split", "rows", "configured fraction"], rows), ""]
    if split.get("group_by"):
        lines += [f"Rows are split by `{split['group_by']}`, so one entity never appears in two splits.", ""]
    return lines


def _templates(manifest: dict) -> list[str]:
    templates = manifest.get("templates", {})
    coverage = manifest.get("coverage", {})
    rows = []
    for kind, ids in templates.get("entries", {}).items():
        for template_id in ids:
            c = coverage.get(template_id, {})
            variants = c.get("variants", {})
            why = ", ".join(f"{f} empty {n}" for f, n in c.get("skipped_missing", {}).items())
            if c.get("no_source_has"):
                why = "no source has " + ", ".join(c["no_source_has"])
            rows.append([_code(template_id), kind, c.get("eligible", ""), c.get("rendered", ""), c.get("skipped", ""),
                         len(variants) if c else "", why])
    return [
        "## Template catalogue", "",
        f"Templates sha256 `{templates.get('sha256', '?')}` from "
        + ", ".join(_code(Path(f).name) for f in templates.get("files", [])) + ".", "",
        *_table(["template", "kind", "eligible", "rendered", "skipped", "phrasings used", "why skipped"], rows), "",
    ]


PII_FOUND = ("Each value found (names, addresses, birth dates, ID, bank card, phone and record numbers, plates, "
             "contacts and links, in half- or full-width characters) became ")
PII_MODES = {
    "placeholder": PII_FOUND + "a typed placeholder such as `[姓名]`; the values are kept nowhere, so no mapping "
                               "leads back to a person.",
    "fake": PII_FOUND + "a fake of the same shape (ID and card numbers with valid checksums), the same one throughout "
                        "a conversation, drawn from the build's seed. This is pseudonymisation, not anonymisation: "
                        "whoever holds the seed can test a guessed value against a fake, so under PIPL (Art. 73) "
                        "these rows are still personal information. Publish a build made with typed placeholders.",
}


def _quality(manifest: dict) -> list[str]:
    quality = manifest.get("quality", {})
    config = manifest.get("config", {})
    lines = ["## Cleaning, deduplication, PII and decontamination", ""]
    removed = quality.get("removed", {})
    lines += ["Rows removed by the quality stage: "
              + (", ".join(f"`{k}` {v}" for k, v in removed.items()) if removed else "none") + "."]
    marked = quality.get("marked", {})
    if marked:
        lines += ["Rows marked (kept, flagged): " + ", ".join(f"`{k}` {v}" for k, v in marked.items()) + "."]
    pii = quality.get("pii", {})
    pii_config = config.get("pii", {})
    lines += [f"PII scrubbing (QA: {pii_config.get('qa', '?')}, records: {pii_config.get('records', '?')}) "
              "replaced: " + (", ".join(f"{k} {v}" for k, v in pii.items()) if pii else "nothing") + ". "
              + PII_MODES.get(pii_config.get("mode", "placeholder"), "")]
    exact = quality.get("exact_duplicates")
    if exact is not None:
        lines += [f"Exact duplicate rows removed: {exact.get('removed', 0)}."]
    near = quality.get("near_duplicates")
    if near is not None:
        lines += [(f"Near-duplicate QA rows (MinHash, Jaccard ≥ {near.get('threshold')}, {near.get('ngram')}-grams): "
                   f"{near.get('removed', 0)} removed from {near.get('clusters', 0)} clusters "
                   f"(largest {near.get('largest_cluster', 0)}).")]
    decon = config.get("decontamination", {})
    entities = quality.get("evaluation_entities", [])
    held = quality.get("held_out_entities", {})
    lines += [f"Decontamination against {len(decon.get('eval_sets', []))} evaluation set(s) "
              f"(mode `{decon.get('mode', '?')}`, {decon.get('ngram', '?')}-gram overlap): "
              f"{len(entities)} evaluation entities; held-out records by entity: "
              + (", ".join(f"{k} {v}" for k, v in held.items()) if held else "none") + "."
              + (" Every record and row it removed, and every row it marked, is a line of `contamination.jsonl` (evaluation item, "
                 "match type, evidence); `build-instructions contamination OUT --eval-set FILE` re-checks any build."
                 if decon.get("eval_sets") else ""), ""]
    if entities:
        lines += ["Evaluation entities held out: " + "、".join(str(e) for e in entities) + "", ""]
    return lines


def _tokens(manifest: dict) -> list[str]:
    """Token budgets per source and per template, when the build counted tokens."""
    tokens = manifest.get("quality", {}).get("tokens")
    if not tokens:
        return []
    header = ["", "rows", "p50", "p95", "p99", "max"]
    limit = (f"rows over {tokens['max_tokens']} tokens were dropped (`filter:too_many_tokens` above), none truncated"
             if tokens.get("max_tokens") else "no limit was set (`--max-tokens`)")
    lines = ["## Tokens", "",
             f"Counted with `{tokens['tokenizer']}`: {tokens['counted']}, over the rows written; {limit}.", ""]
    for title, key in (("source", "by_source"), ("template", "by_template")):
        rows = [[name, *(figures.get(column, "") for column in header[1:])] for name, figures in tokens[key].items()]
        lines += _table([title, *header[1:]], rows) + [""]
    return lines


TYPE_WORDS = {
    "single": "one template, one record (and the QA pairs)",
    "grounded": "the question with material in the prompt: the record among confusable ones, or without it",
    "consultation": "several questions about one entity in one conversation",
    "choice": "multiple choice; the answer gives the letter and the record's text",
    "preference": "preference pairs (chosen: the record's answer; rejected: a changed dose or another entity's text)",
    "reverse": "which entities of this knowledge base a field's item names (哪些药可以用于治疗…)",
}


def _types(manifest: dict) -> list[str]:
    """The instruction types built: what each made, why some records gave none, and its mix."""
    types = manifest.get("types", {})
    if len(types.get("enabled", [])) < 2:
        return []
    made = {name: tally for kinds in types.get("made", {}).values() for name, tally in kinds.items()}
    rows = []
    for name in types["enabled"]:
        mixed, tally = types.get("rows", {}).get(name, {}), made.get(name, {})
        mix = f"weight {mixed['weight']}" if mixed.get("weight") else f"target {mixed['target']}" \
            if mixed.get("target") else "all"
        skipped = ", ".join(f"{reason} {n}" for reason, n in tally.get("skipped", {}).items())
        rows.append([name, TYPE_WORDS.get(name, ""), mixed.get("rows_before", ""), mix, mixed.get("rows_after", ""),
                     skipped])
    strays = manifest.get("quality", {}).get("companion_in_other_split", 0)
    return ["## Instruction types", "",
            "Every row says its type (`type`) and the other records it shows (`companions`); rows of one entity share "
            f"a split, and a row shows only records of entities in its own split ({strays} rows dropped because a "
            "record they showed fell in another split).", "",
            *_table(["type", "what", "rows after quality", "mix", "rows kept", "not made (why)"], rows), ""]


THINK_POLICIES = {
    "none": "no think tags",
    "prompt": "an empty think block closes the prompt (as at inference with thinking off); the answer alone is learned",
    "answer": "the answer opens with an empty think block, which the model learns to write",
}


def _trainers(manifest: dict) -> list[str]:
    """The trainer configurations written beside the data."""
    trainers = manifest.get("quality", {}).get("trainers")
    if not trainers:
        return []
    return ["## Trainer configurations", "",
            "Written beside the data, paths relative to this folder: "
            + ", ".join(f"{name} `{path}`" for name, path in trainers.items()) + ".", ""]


def _chat(manifest: dict) -> list[str]:
    """The chat templates every row was rendered in, and the loss-mask check each passed."""
    templates = manifest.get("quality", {}).get("chat_templates")
    if not templates:
        return []
    rows = [[name, t["rows"], f"`{t['end_of_turn']}`", THINK_POLICIES[t["think"]], t["llamafactory"] or ""]
            for name, t in templates.items()]
    return ["## Chat templates and loss masks", "",
            "Every exported row was rendered in each template below; its assistant mask, what follows the prompt "
            "rendered alone, covers the whole answer and the end-of-turn token and nothing of the prompt, in "
            "every row.", "",
            *_table(["template", "rows checked", "end of turn", "think tags", "LLaMA-Factory template"], rows), ""]


def _provenance(manifest: dict) -> list[str]:
    versions = manifest.get("versions", {})
    return [
        "## Reproducing this build", "",
        "The configuration below, with each path pointing at your copy of the file it names (the inputs' sha256 "
        "are listed under Sources), rebuilds this dataset with the same builder and versions: written as TOML, "
        "`build-instructions build --config FILE`, or the same settings as flags.", "",
        f"Seed: `{manifest.get('seed')}`. Builder: `{manifest.get('builder', '?')}`. Versions: "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".", "",
        "<details><summary>Build configuration (paths cut to file names)</summary>", "", "```json",
        json.dumps(manifest.get("config", {}), ensure_ascii=False, indent=2), "```", "", "</details>", "",
    ]


def _table(header: list[str], rows: list[list]) -> list[str]:
    if not rows:
        return ["(none)"]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(_cell(v) for v in row) + " |" for row in rows
    ]


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _typed(dtype: str | dict) -> str:
    """A column's type in words: string, list of string, list of list of string."""
    return f"list of {_typed(dtype['list'])}" if isinstance(dtype, dict) else dtype
