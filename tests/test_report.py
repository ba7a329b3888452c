"""The build report: stats.json agrees with the Parquet and the manifest; the plots are PNG files."""

import json
from collections import Counter
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from builder.report import write_report
from tests.conftest import run

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = ["rows_by_source.png", "lengths_instruction.png", "lengths_output.png", "template_yield.png", "rejects.png"]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    out = tmp_path_factory.mktemp("report") / "out"
    assert run("build", "--out", out).exit_code == 0
    index = write_report(out)
    assert index == out / "report" / "index.html"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    stats = json.loads((out / "report" / "stats.json").read_text(encoding="utf-8"))
    return out, manifest, stats


def test_files_exist_and_plots_are_png(build: tuple[Path, dict, dict]) -> None:
    out, _, _ = build
    html = (out / "report" / "index.html").read_text(encoding="utf-8")
    for name in PLOTS:
        data = (out / "report" / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR", name
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert width >= 400 and height >= 100, name
        assert data.endswith(b"IEND\xaeB`\x82"), name  # complete file
        assert f'src="{name}"' in html


def test_stats_match_the_parquet(build: tuple[Path, dict, dict]) -> None:
    out, manifest, stats = build
    table = pq.read_table(out / "data")  # every shard of every split
    splits = {}
    for shard in sorted((out / "data").glob("*.parquet")):
        split = shard.name.rsplit("-", 3)[0]
        for source, n in Counter(pq.read_table(shard, columns=["source"])["source"].to_pylist()).items():
            splits[(source, split)] = splits.get((source, split), 0) + n
    rows = stats["rows"]
    assert rows["total"] == table.num_rows == sum(manifest["splits"].values())
    assert rows["by_split"] == manifest["splits"]
    for (source, split), n in splits.items():
        assert rows["by_source_split"][source][split] == n
    assert rows["by_source"] == {s: manifest["sources"][s]["rows"] for s in manifest["sources"]}
    templates = Counter(t if t is not None else "(none: qa)" for t in table["template_id"].to_pylist())
    assert rows["by_template"] == dict(templates)

    for field in ("instruction", "input", "output"):
        for source in manifest["sources"]:
            lengths = [len(text) for text, s in zip(table[field].to_pylist(), table["source"].to_pylist())
                       if s == source]
            summary = stats["lengths"][field][source]
            assert summary["count"] == len(lengths)
            assert (summary["min"], summary["max"]) == (min(lengths), max(lengths))
            assert summary["mean"] == round(sum(lengths) / len(lengths), 1)
            assert summary["empty"] == lengths.count(0)
            histogram = summary["histogram"]
            assert len(histogram["counts"]) == len(stats["lengths"][field]["_bins"]) - 1
            assert sum(histogram["counts"]) + histogram["overflow"] == len(lengths)
            top = stats["lengths"][field]["_bins"][-1]
            assert histogram["overflow"] == sum(1 for n in lengths if n > top)
    # character lengths, not bytes: the sample is Chinese, so bytes would be about three times larger
    assert stats["lengths"]["output"]["sample-qa"]["max"] == max(
        pc.utf8_length(table.filter(pc.equal(table["source"], "sample-qa"))["output"]).to_pylist())


def test_stats_match_the_manifest(build: tuple[Path, dict, dict]) -> None:
    _, manifest, stats = build
    assert list(stats["templates"]) == [t for ids in manifest["templates"]["entries"].values() for t in ids]
    for template, c in manifest["coverage"].items():
        got = stats["templates"][template]
        assert (got["eligible"], got["rendered"], got["skipped"]) == (c["eligible"], c["rendered"], c["skipped"])
        assert got["rows_in_output"] == stats["rows"]["by_template"].get(template, 0)
    for source, counts in manifest["sources"].items():
        assert {k: stats["sources"][source][k] for k in ("read", "kept", "rejected", "rows")} == \
               {k: counts[k] for k in ("read", "kept", "rejected", "rows")}
        for reason, n in counts["rejected_by_reason"].items():
            assert stats["rejects"]["records"][reason][source] == n
    assert sum(sum(by.values()) for by in stats["rejects"]["records"].values()) == manifest["totals"]["rejected"]
    assert stats["quality"] == manifest["quality"]

