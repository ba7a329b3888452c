"""The build report: stats.json agrees with the Parquet and the manifest, and index.html draws each chart as
inline SVG whose bars carry those numbers (no images, no matplotlib)."""

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import builder.export.report
from builder.export.report import BINS, collect_stats, write_report
from tests.conftest import DRUG_BLOCKS, QA_ROWS, run, write_json, write_jsonl

SVG = "{http://www.w3.org/2000/svg}"


def charts(html: str) -> list[ET.Element]:
    """Every inline <svg> of the page, parsed as XML (so each must be well-formed)."""
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>", html, flags=re.DOTALL)]


def chart(html: str, key: str) -> ET.Element:
    (found,) = [svg for svg in charts(html) if svg.get("id") == key]
    return found


def bars(svg: ET.Element) -> list[ET.Element]:
    return [rect for rect in svg.iter(f"{SVG}rect") if rect.get("class") == "bar"]


def texts(svg: ET.Element) -> list[str]:
    return [t.text for t in svg.iter(f"{SVG}text")]


def histograms(html: str, field: str) -> dict[str, ET.Element]:
    return {svg.get("data-source"): svg for svg in charts(html) if svg.get("data-field") == field}


def rows_by_source_split(out: Path) -> Counter:
    """(source, split) -> rows, counted straight from each shard."""
    counts: Counter = Counter()
    for shard in (out / "data").glob("*.parquet"):
        split = shard.name.rsplit("-", 3)[0]
        counts.update((s, split) for s in pq.read_table(shard, columns=["source"])["source"].to_pylist())
    return counts


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict, str]:
    out = tmp_path_factory.mktemp("report") / "out"
    assert run("build", "--out", out).exit_code == 0
    counted = (out / "report" / "stats.json").read_text(encoding="utf-8")  # from the rows as the build wrote them
    index = write_report(out)
    assert index == out / "report" / "index.html"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    stats = json.loads((out / "report" / "stats.json").read_text(encoding="utf-8"))
    assert json.loads(counted) == stats  # the same figures as read back from the shards
    return out, manifest, stats, index.read_text(encoding="utf-8")


def test_the_page_is_self_contained_svg(build: tuple[Path, dict, dict, str]) -> None:
    out, manifest, _, html = build
    assert sorted(p.name for p in (out / "report").iterdir()) == ["index.html", "stats.json"]
    assert "<img" not in html and '<meta charset="utf-8">' in html
    keys = [svg.get("id") for svg in charts(html) if svg.get("id")]
    assert keys == ["rows_by_source", "template_yield", "rejects"]
    for field in ("instruction", "output"):
        assert sorted(histograms(html, field)) == sorted(manifest["sources"])


def test_rows_chart_has_a_bar_per_source_and_split(build: tuple[Path, dict, dict, str]) -> None:
    out, manifest, _, html = build
    expected = rows_by_source_split(out)
    svg = chart(html, "rows_by_source")
    drawn = {}
    for rect in bars(svg):
        label, value = rect.find(f"{SVG}title").text.rsplit(": ", 1)
        source, split = label.split(" · ")
        drawn[source, split] = int(rect.get("data-value"))
        assert int(value.replace(",", "")) == drawn[source, split]
    assert drawn == {key: n for key, n in expected.items() if n}
    longest = max(bars(svg), key=lambda rect: int(rect.get("data-value")))
    scale = float(longest.get("width")) / int(longest.get("data-value"))
    for rect in bars(svg):  # one scale for every bar, up to the 0.1 px the widths are rounded to
        assert abs(float(rect.get("width")) - scale * int(rect.get("data-value"))) < 0.1
    words = texts(svg)
    assert set(manifest["sources"]) <= set(words) and set(manifest["splits"]) <= set(words)
    for source in manifest["sources"]:  # each bar ends with its total
        assert f"{sum(n for (s, _), n in expected.items() if s == source):,}" in words


def test_histograms_have_a_bar_per_bin(build: tuple[Path, dict, dict, str]) -> None:
    out, _, stats, html = build
    table = pq.read_table(out / "data", columns=["source", "instruction", "output"])
    for field in ("instruction", "output"):
        for source, svg in histograms(html, field).items():
            values = [int(rect.get("data-value")) for rect in bars(svg)]
            histogram = stats["lengths"][field][source]["histogram"]
            assert len(values) == BINS and values == histogram["counts"]
            rows = table.filter(pc.equal(table["source"], source)).num_rows
            assert sum(values) + histogram["overflow"] == rows > 0
            heights = [float(rect.get("height")) for rect in bars(svg)]
            assert heights.index(max(heights)) == values.index(max(values)) and min(heights) >= 0
            assert source in texts(svg)


def test_template_and_reject_charts(build: tuple[Path, dict, dict, str]) -> None:
    _, manifest, _, html = build
    svg = chart(html, "template_yield")
    expected = sorted(n for c in manifest["coverage"].values() for n in (c["rendered"], c["skipped"]) if n)
    assert sorted(int(rect.get("data-value")) for rect in bars(svg)) == expected
    assert set(manifest["coverage"]) <= set(texts(svg))
    svg = chart(html, "rejects")
    expected = sorted(n for counts in manifest["sources"].values()
                      for by in (counts["rejected_by_reason"], counts["rows_removed"]) for n in by.values() if n)
    assert sorted(int(rect.get("data-value")) for rect in bars(svg)) == expected
    assert expected and set(manifest["sources"]) <= set(texts(svg))


def test_stats_match_the_parquet(build: tuple[Path, dict, dict, str]) -> None:
    out, manifest, stats, _ = build
    table = pq.read_table(out / "data")  # every shard of every split
    rows = stats["rows"]
    assert rows["total"] == table.num_rows == sum(manifest["splits"].values())
    assert rows["by_split"] == manifest["splits"]
    for (source, split), n in rows_by_source_split(out).items():
        assert rows["by_source_split"][source][split] == n
    assert rows["by_source"] == {s: manifest["sources"][s]["rows"] for s in manifest["sources"]}
    templates = Counter(t if t is not None else "(none: qa)" for t in table["template_id"].to_pylist())
    assert rows["by_template"] == dict(templates)

    for field in ("instruction", "input", "output"):
        for source in manifest["sources"]:
            lengths = [len(text) for text, s in zip(table[field].to_pylist(), table["source"].to_pylist(), strict=True)
                       if s == source]
            summary = stats["lengths"][field][source]
            assert summary["count"] == len(lengths)
            assert (summary["min"], summary["max"]) == (min(lengths), max(lengths))
            assert summary["mean"] == round(sum(lengths) / len(lengths), 1)
            assert summary["median"] == round(float(np.median(lengths)), 1)
            assert summary["p99"] == round(float(np.percentile(lengths, 99)), 1)
            assert summary["empty"] == lengths.count(0)
            histogram = summary["histogram"]
            edges = stats["lengths"][field]["_bins"]
            assert len(histogram["counts"]) == len(edges) - 1 == BINS
            assert histogram["counts"] == np.histogram([n for n in lengths if n <= edges[-1]], edges)[0].tolist()
            assert histogram["overflow"] == sum(1 for n in lengths if n > edges[-1])
    # character lengths, not bytes: the sample is Chinese, so bytes would be about three times larger
    assert stats["lengths"]["output"]["sample-qa"]["max"] == max(
        pc.utf8_length(table.filter(pc.equal(table["source"], "sample-qa"))["output"]).to_pylist())


def test_stats_match_the_manifest(build: tuple[Path, dict, dict, str]) -> None:
    _, manifest, stats, _ = build
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


def test_many_shards_row_groups_and_batches_give_the_same_stats(build: tuple[Path, dict, dict, str],
                                                                tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Row groups are read in parallel and batch by batch: how the rows are cut must not change a number."""
    out, manifest, stats, _ = build
    (tmp_path / "data").mkdir()
    for shard in (out / "data").glob("*.parquet"):
        split = shard.name.rsplit("-", 3)[0]
        table = pq.read_table(shard)
        half = table.num_rows // 2
        for i, part in enumerate((table.slice(0, half), table.slice(half))):
            pq.write_table(part, tmp_path / "data" / f"{split}-{i:05d}-of-00002.parquet", row_group_size=37)
    assert pq.ParquetFile(tmp_path / "data" / "train-00000-of-00002.parquet").num_row_groups > 2
    monkeypatch.setattr(builder.export.report, "BATCH_ROWS", 10)
    assert collect_stats(tmp_path, manifest) == stats


def test_summaries_from_counts_equal_numpy_on_the_raw_lengths() -> None:
    """Lengths are kept as rows-per-length counts; the figures must be those of the raw values."""
    rng = np.random.default_rng(0)
    for lengths in (rng.integers(0, 500, 1001), rng.geometric(0.01, 77), np.array([0]), np.array([5, 5, 9])):
        counts = np.bincount(lengths)
        summary = builder.export.report._summary(counts)
        p = np.percentile(lengths, [50, 90, 99])
        assert summary == {"count": len(lengths), "min": lengths.min(), "max": lengths.max(),
                           "mean": round(float(lengths.mean()), 1), "median": round(float(p[0]), 1),
                           "p90": round(float(p[1]), 1), "p99": round(float(p[2]), 1),
                           "empty": int((lengths == 0).sum())}
        edges = np.linspace(0, 120, BINS + 1)
        histogram = builder.export.report._histogram(counts, edges)
        assert histogram["counts"] == np.histogram(lengths[lengths <= 120], edges)[0].tolist()
        assert histogram["overflow"] == int((lengths > 120).sum())


def test_chinese_and_markup_source_names(tmp_path: Path) -> None:
    """Names go into the page as escaped text (the browser draws Chinese with its own fonts)."""
    drugs = write_json(tmp_path / "药品说明书.json", DRUG_BLOCKS)
    qa = write_jsonl(tmp_path / "问答<b>&数据.jsonl", QA_ROWS * 4)
    out = tmp_path / "out"
    assert run("build", "--kb", f"drug={drugs}", "--qa", qa, "--out", out, "--quiet").exit_code == 0
    html = write_report(out).read_text(encoding="utf-8")
    names = {"药品说明书", "问答<b>&数据"}
    assert set(json.loads((out / "report" / "stats.json").read_text(encoding="utf-8"))["rows"]["by_source"]) == names
    assert "问答&lt;b&gt;&amp;数据" in html and "问答<b>" not in html
    assert names <= set(texts(chart(html, "rows_by_source")))
    assert set(histograms(html, "output")) == names


def test_writing_the_report_imports_neither_matplotlib_nor_pandas(build: tuple[Path, dict, dict, str]) -> None:
    """Each costs about 0.3-0.5 s to import, a fixed cost in every build."""
    out = build[0]
    code = ("import sys; from pathlib import Path; from builder.export.report import write_report; "
            f"write_report(Path({str(out)!r})); print(sorted({{'matplotlib', 'pandas'}} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_report_says_what_cleaning_left_out_and_flags_unit_damage(tmp_path: Path) -> None:
    drugs = write_json(tmp_path / "drugs.json", [
        {"通用名": "甲药", "适应症": "用于实体瘤。", "用法用量": "静脉滴注，每次300mg/m，每周1次。"},
        {"通用名": "乙药", "适应症": "参见：甲药。", "禁忌": "尚不明确。", "用法用量": "口服，一次1片。"},
    ])
    out = tmp_path / "out"
    assert run("build", "--kb", f"drug={drugs}", "--out", out, "--quiet").exit_code == 0
    cleaned = json.loads((out / "report" / "stats.json").read_text(encoding="utf-8"))["sources"]["drugs"]["cleaned"]
    assert cleaned.get("unit_damage") == 1 and cleaned.get("cross_reference") == 1 and cleaned.get("placeholder") == 1
    html = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert "What cleaning did to the source text" in html
    assert re.search(r"<td>drugs</td><td>unit_damage</td><td[^>]*>1</td>", html), html[html.find("cleaning did"):][:800]
