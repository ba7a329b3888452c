"""The dataset card: front matter the Hub's card parser accepts, and a body that reports the manifest."""

import copy
import json
import logging
import shlex
import warnings
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

from builder.export.card import card_license, public_manifest, render_card, size_category, write_card
from tests.conftest import run


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("card") / "out"
    assert run("build", "--out", out).exit_code == 0
    return out, json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_front_matter_parses_and_matches_the_build(build: tuple[Path, dict]) -> None:
    out, manifest = build
    card = DatasetCard(render_card(manifest, out, None, None))
    data = card.data.to_dict()
    assert data["language"] == ["zh"]
    assert data["task_categories"] == ["text-generation", "question-answering"]
    total = sum(manifest["splits"].values())
    assert data["size_categories"] == [size_category(total)]
    assert data["license"] == "cc0-1.0"  # every sample input says "CC0-1.0 (written for this project)"
    filled = [name for name, rows in manifest["splits"].items() if rows]
    assert data["configs"] == [{"config_name": "default",
                                "data_files": [{"split": s, "path": f"data/{s}-*"} for s in filled]}]
    for split in filled:  # every data_files pattern names a shard that exists
        assert list(out.glob(f"data/{split}-*"))
    info = data["dataset_info"]
    assert [(f["name"], f.get("dtype") or f["list"]) for f in info["features"]] == [
        ("instruction", "string"), ("input", "string"), ("output", "string"), ("source", "string"),
        ("kind", "string"), ("record_id", "string"), ("template_id", "string"), ("variant", "int32"),
        ("type", "string"), ("system", "string"), ("history", {"list": "string"}), ("rejected", "string"),
        ("companions", "string")]
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == {s: manifest["splits"][s] for s in filled}
    sizes = {s: sum(pq.read_table(p).nbytes for p in out.glob(f"data/{s}-*.parquet")) for s in filled}
    assert {s["name"]: s["num_bytes"] for s in info["splits"]} == sizes  # the Arrow bytes `datasets` counts
    assert info["dataset_size"] == sum(sizes.values())
    assert info["download_size"] == sum(p.stat().st_size for p in out.glob("data/*.parquet"))
    assert card.data.pretty_name


def test_load_dataset_takes_the_card_without_a_warning(build: tuple[Path, dict], tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """`datasets` drops a splits list missing name/num_examples/num_bytes from the card with a logged warning."""
    import datasets

    out, manifest = build
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, logger="datasets"):
        warnings.simplefilter("always")
        loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    card = DatasetCard((out / "README.md").read_text(encoding="utf-8")).data.to_dict()["dataset_info"]
    assert {s: loaded[s].num_rows for s in loaded} == {s: n for s, n in manifest["splits"].items() if n}
    assert {s["name"]: s["num_bytes"] for s in card["splits"]} == {s: loaded[s].data.nbytes for s in loaded}


def test_body_reports_the_manifest(build: tuple[Path, dict]) -> None:
    out, manifest = build
    text = write_card(manifest, out, "apache-2.0", "QiZhen test").read_text(encoding="utf-8")
    card = DatasetCard(text)
    assert card.data.license == "apache-2.0" and card.data.pretty_name == "QiZhen test"
    body = card.text
    for entry in manifest["inputs"]:
        assert entry["license"] in body and entry["source"] in body
    for name, counts in manifest["sources"].items():
        row = f"| {name} | {counts['read']} | {counts['kept']} | {counts['rejected']} | {counts['rows']} |"
        assert row in body
    for split, rows in manifest["splits"].items():
        assert f"| {split} | {rows} |" in body
    assert manifest["templates"]["sha256"] in body
    for name, c in manifest["coverage"].items():
        assert f"| `{name}` |" in body
        assert f"| {c['eligible']} | {c['rendered']} | {c['skipped']} | {len(c['variants'])} |" in body
    quality = manifest["quality"]
    assert f"Exact duplicate rows removed: {quality['exact_duplicates']['removed']}." in body
    assert f"{quality['near_duplicates']['removed']} removed from {quality['near_duplicates']['clusters']}" in body
    for reason, count in quality["removed"].items():
        assert f"`{reason}` {count}" in body
    assert manifest["command"] and shlex.join(manifest["command"]) not in body  # the local command line
    assert f"Seed: `{manifest['seed']}`" in body
    assert all(f"{k} {v}" in body for k, v in manifest["versions"].items())
    assert "不构成任何医疗建议" in body and "not medical advice" in body
    assert "`hf/`" in body and "`alpaca/{split}.json`" in body


def test_quality_figures_pii_and_held_out_entities(build: tuple[Path, dict]) -> None:
    out, manifest = build
    manifest = copy.deepcopy(manifest)
    manifest["quality"].update(pii={"id_card": 2, "phone": 5}, held_out_entities={"阿莫西林": 3},
                               evaluation_entities=["阿莫西林", "布洛芬"], marked={"ngram_overlap": 4})
    manifest["config"]["decontamination"]["eval_sets"] = ["eval.jsonl"]
    body = DatasetCard(render_card(manifest, out, None, None)).text
    assert "id_card 2, phone 5" in body
    assert "阿莫西林 3" in body and "阿莫西林、布洛芬" in body
    assert "1 evaluation set(s)" in body and "2 evaluation entities" in body
    assert "`ngram_overlap` 4" in body


def test_the_card_names_files_not_the_folders_they_were_in(build: tuple[Path, dict]) -> None:
    out, manifest = build
    manifest = copy.deepcopy(manifest)
    config = manifest["config"]
    config["decontamination"]["eval_sets"] = ["/home/someone/private/eval.jsonl", "C:\\Users\\someone\\eval2.csv"]
    config["templates"] = ["/home/someone/my-templates"]
    config["system_prompt"] = "你是医生/药师, see a/b"
    config["license"] = "CC-BY-4.0 / https://example.org/terms"
    text = render_card(manifest, out, None, None)
    for entry in manifest["inputs"]:
        assert entry["path"] not in text
        assert f"| {Path(entry['path']).name} |" in text  # the file column
    for path in [str(out), *config["templates"], *manifest["templates"]["files"], "/home/someone", "C:\\Users"]:
        assert path.replace("\\", "\\\\") not in text and path not in text
    public = public_manifest(manifest)
    assert "command" not in public
    assert public["config"]["decontamination"]["eval_sets"] == ["eval.jsonl", "eval2.csv"]
    assert [s["path"] for s in public["config"]["sources"]] == [Path(s["path"]).name for s in config["sources"]]
    assert public["config"]["out"] == out.name
    assert public["config"]["templates"] == ["my-templates"]
    assert public["config"]["system_prompt"] == "你是医生/药师, see a/b"  # free text with a slash is no path
    assert public["config"]["license"] == "CC-BY-4.0 / https://example.org/terms"
    assert {k: v for k, v in public["config"].items() if k not in ("sources", "out", "templates", "decontamination",
                                                                    "system_prompt", "license")} == \
        {k: v for k, v in config.items() if k not in ("sources", "out", "templates", "decontamination",
                                                      "system_prompt", "license")}


def test_licence_is_other_when_sources_differ_or_are_unknown(build: tuple[Path, dict]) -> None:
    out, manifest = build
    differ = copy.deepcopy(manifest)
    differ["inputs"][0]["license"] = "CC-BY-NC-4.0"
    assert card_license(differ) == "other"
    unknown = copy.deepcopy(manifest)
    for entry in unknown["inputs"]:
        entry["license"] = None
    assert card_license(unknown) == "other"
    unlisted = copy.deepcopy(manifest)
    for entry in unlisted["inputs"]:
        entry["license"] = "scraped from a website, terms unclear"
    assert card_license(unlisted) == "other"
    text = render_card(unknown, out, None, None)
    assert DatasetCard(text).data.license == "other"
    assert "not given" in DatasetCard(text).text


def test_empty_split_is_left_out_of_configs(build: tuple[Path, dict]) -> None:
    out, manifest = build
    manifest = copy.deepcopy(manifest)
    manifest["splits"]["test"] = 0
    manifest["empty_splits"] = ["test"]
    data = DatasetCard(render_card(manifest, out, None, None)).data.to_dict()
    assert [f["split"] for f in data["configs"][0]["data_files"]] == ["train", "validation"]
    assert [s["name"] for s in data["dataset_info"]["splits"]] == ["train", "validation"]


@pytest.mark.parametrize("rows, label", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (563_000, "100K<n<1M"),
                                         (12_000_000, "10M<n<100M")])
def test_size_category(rows: int, label: str) -> None:
    assert size_category(rows) == label
