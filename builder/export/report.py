"""A build's statistics report: `report/stats.json` and `report/index.html` with inline SVG charts.

`write_report(out_dir)` reads the build's Parquet shards (`data/{split}-*.parquet`, only the columns
it needs, one row group per thread, batch by batch; lengths come from Arrow compute, never from
Python strings) and its `manifest.json`, and writes into `out_dir/report/`. A build instead passes
the counts (`Tally`) its export tasks made of the rows they wrote, and nothing is read back:

* `stats.json` — every number the charts show: rows per source and split, rows per template,
  instruction / input / output length summaries and histograms per source (length in characters,
  i.e. Unicode code points), per-template yield (eligible, rendered, skipped, rows in the output),
  rejects and removed rows by reason and source, the columns no field took (with the `--map` that keeps
  each) and any template that dominates its kind, and the quality figures of the manifest;
* `index.html` — one self-contained page: the tables, and charts drawn as inline SVG straight from
  those numbers (rows per source stacked by split, instruction and output length histograms per
  source, template yield, rejects by reason stacked by source). The browser draws the text with its
  own fonts, so Chinese names render wherever the page is viewed.

Memory stays bounded whatever the build's size: each thread holds one batch of one row group, and
lengths are kept as rows-per-length counts, from which the summaries are computed exactly.

The documented check by eye (Debian's `chromium`; not part of the test suite):

    chromium --headless --no-sandbox --disable-gpu --disable-background-networking \\
      --disable-component-update --disable-sync --no-first-run --user-data-dir=$(mktemp -d) \\
      --screenshot=/tmp/report.png --window-size=1280,2000 file://$OUT/report/index.html

then look at /tmp/report.png.
"""

from __future__ import annotations

import html
import json
import os
import unicodedata
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

LENGTH_FIELDS = ("instruction", "input", "output")
COLUMNS = ["source", "template_id", *LENGTH_FIELDS]
BINS = 30
BATCH_ROWS = 20_000  # smaller batches cost no more time; larger ones raise peak memory
NO_TEMPLATE = "(none: qa)"
SPLIT_COLOURS = {"train": "#4C72B0", "validation": "#DD8452", "test": "#55A868"}
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974",
           "#64B5CD")
FONT = 12  # px: the charts' text size, and the unit of the text-width estimate

e = html.escape  # every name and label goes into the markup through it


def write_report(out_dir: Path, tally: Tally | None = None) -> Path:
    """Writes `report/` into a finished build and returns the path of `report/index.html`; `tally` spares
    reading the shards back when the build counted their rows as it wrote them."""
    out_dir = Path(out_dir)
    folder = out_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    stats = collect_stats(out_dir, manifest, tally)
    (folder / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    index = folder / "index.html"
    index.write_text(_html(stats), encoding="utf-8")
    return index


# ---------------------------------------------------------------- numbers

@dataclass
class Tally:
    """Counts of some rows: row groups read back, or a bucket as the build writes it. Tallies add up, so
    they are made in parallel and merged."""

    rows: Counter = field(default_factory=Counter)  # (source, split) -> rows
    templates: Counter = field(default_factory=Counter)  # template id -> rows
    lengths: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (field, source) -> rows per length

    def add_lengths(self, key: tuple[str, str], counts: np.ndarray) -> None:
        """Adds rows-per-length counts in place (the longer array keeps the sum)."""
        total = self.lengths.get(key, np.zeros(0, np.int64))
        if len(total) < len(counts):
            total, counts = counts, total
        total[:len(counts)] += counts
        self.lengths[key] = total

    def add_batch(self, batch: pa.RecordBatch, split: str) -> None:
        """Counts one batch of a split's rows (`source` plain or dictionary-encoded)."""
        lengths = {f: _ints(pc.utf8_length(batch.column(f))) for f in LENGTH_FIELDS}
        sources = batch.column("source")
        if not pa.types.is_dictionary(sources.type):
            sources = pc.dictionary_encode(sources)
        codes = _ints(sources.indices)
        for code, name in enumerate(sources.dictionary.to_pylist()):
            mask = codes == code
            self.rows[name, split] += int(mask.sum())
            for f in LENGTH_FIELDS:
                self.add_lengths((f, name), np.bincount(lengths[f][mask]))
        for item in pc.value_counts(batch.column("template_id")).to_pylist():
            self.templates[NO_TEMPLATE if item["values"] is None else item["values"]] += item["counts"]

    def add(self, other: Tally) -> Tally:
        """Merges `other` into this tally (for `reduce`)."""
        self.rows.update(other.rows)
        self.templates.update(other.templates)
        for key, counts in other.lengths.items():
            self.add_lengths(key, counts)
        return self


def _ints(array: pa.Array) -> np.ndarray:
    """A null-free Arrow integer array's values, read in place: `Array.to_numpy` would import pandas (~0.3 s)."""
    width = array.type.bit_width // 8
    return np.frombuffer(array.buffers()[1], f"<i{width}", len(array), array.offset * width)


def _scan(shard: Path, split: str, row_group: int) -> Tally:
    """One row group's tally; Arrow decompresses and measures with the GIL released, so threads help."""
    tally = Tally()
    shard_file = pq.ParquetFile(shard, read_dictionary=["source"])  # as stored: a few names and an index per row
    for batch in shard_file.iter_batches(BATCH_ROWS, row_groups=[row_group], columns=COLUMNS, use_threads=False):
        tally.add_batch(batch, split)
    return tally


def collect_stats(out_dir: Path, manifest: dict, tally: Tally | None = None) -> dict:
    """The numbers of the report (what `stats.json` holds), from the manifest and the Parquet shards, or from
    `tally`, the shards' rows as counted while they were written."""
    splits = list(manifest.get("splits", {}))
    units = []
    for shard in sorted((out_dir / "data").glob("*-of-*.parquet")):
        split = shard.name.rsplit("-", 3)[0]
        if split not in splits:
            splits.append(split)
        if tally is None:
            units += [(shard, split, i) for i in range(pq.ParquetFile(shard).num_row_groups)]
    if tally is None:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            tally = reduce(Tally.add, pool.map(lambda unit: _scan(*unit), units), Tally())

    sources = sorted({s for s, _ in tally.rows} | set(manifest.get("sources", {})))
    by_source_split = {s: {sp: tally.rows[s, sp] for sp in splits} for s in sources}
    lengths: dict = {}
    for f in LENGTH_FIELDS:
        by_source = {s: tally.lengths[f, s] for s in sources if (f, s) in tally.lengths}
        edges = _edges(by_source)
        lengths[f] = {s: {**_summary(c), "histogram": _histogram(c, edges)} for s, c in by_source.items()}
        lengths[f]["_bins"] = edges.tolist()
    return {
        "build": manifest.get("config", {}).get("out", str(out_dir)),  # the final folder, not the temporary one
        "rows": {
            "total": sum(tally.rows.values()),
            "by_split": {sp: sum(by[sp] for by in by_source_split.values()) for sp in splits},
            "by_source": {s: sum(by.values()) for s, by in by_source_split.items()},
            "by_source_split": by_source_split,
            "by_template": dict(sorted(tally.templates.items())),
        },
        "lengths": lengths,
        "templates": _template_yield(manifest, tally.templates),
        "rejects": _rejects(manifest),
        "sources": {s: {k: manifest.get("sources", {}).get(s, {}).get(k)
                        for k in ("read", "kept", "rejected", "rows", "cleaned")} for s in sources},
        "source_fields": manifest.get("source_fields", {"unmapped": {}, "dominant_templates": []}),
        "quality": manifest.get("quality", {}),
        "manifest_splits": manifest.get("splits", {}),
    }


def _percentiles(counts: np.ndarray, qs: list[float]) -> np.ndarray:
    """numpy's default (linear) percentiles of the lengths that `counts` tallies, without expanding them."""
    cumulative = np.cumsum(counts)
    position = (cumulative[-1] - 1) * np.asarray(qs, float) / 100
    below = np.floor(position)
    low = np.searchsorted(cumulative, below, side="right")  # the k-th smallest length is the first with cumulative > k
    high = np.searchsorted(cumulative, np.minimum(below + 1, cumulative[-1] - 1), side="right")
    return low + (position - below) * (high - low)


def _summary(counts: np.ndarray) -> dict:
    """count, min, max, mean, median, p90, p99 and empty rows of the lengths that `counts` tallies."""
    n = int(counts.sum())
    if not n:
        return {"count": 0}
    present = np.flatnonzero(counts)
    p = _percentiles(counts, [50, 90, 99])
    return {"count": n, "min": int(present[0]), "max": int(present[-1]),
            "mean": round(float(np.arange(len(counts)) @ counts) / n, 1),
            "median": round(float(p[0]), 1), "p90": round(float(p[1]), 1), "p99": round(float(p[2]), 1),
            "empty": int(counts[0])}


def _edges(by_source: dict[str, np.ndarray]) -> np.ndarray:
    """BINS equal bins from 0 to the largest per-source 99th percentile (at least 1), shared by all
    sources of a field; longer values are counted apart as overflow."""
    tops = [float(_percentiles(c, [99])[0]) for c in by_source.values() if c.sum()]
    return np.linspace(0.0, max(1.0, float(np.ceil(max(tops, default=1.0)))), BINS + 1)


def _histogram(counts: np.ndarray, edges: np.ndarray) -> dict:
    """Rows per bin (the last bin includes its right edge) and the overflow: they add up to the rows."""
    lengths = np.arange(len(counts))
    inside = lengths <= edges[-1]
    binned = np.histogram(lengths[inside], edges, weights=counts[inside])[0]
    return {"counts": binned.astype(np.int64).tolist(), "overflow": int(counts[~inside].sum())}


def _template_yield(manifest: dict, rows_by_template: dict[str, int]) -> dict:
    coverage = manifest.get("coverage", {})
    entries = manifest.get("templates", {}).get("entries", {})
    order = [t for ids in entries.values() for t in ids] or list(coverage)
    order += [t for t in coverage if t not in order]
    return {
        t: {"kind": next((k for k, ids in entries.items() if t in ids), None),
            "eligible": coverage.get(t, {}).get("eligible", 0), "rendered": coverage.get(t, {}).get("rendered", 0),
            "skipped": coverage.get(t, {}).get("skipped", 0), "phrasings_used": len(coverage.get(t, {}).get("variants", {})),
            "rows_in_output": rows_by_template.get(t, 0)}
        for t in order
    }


def _rejects(manifest: dict) -> dict:
    """{"records": {reason: {source: n}}, "rows": {reason: {source: n}}} from the manifest's source counts."""
    result: dict[str, dict[str, dict[str, int]]] = {"records": defaultdict(dict), "rows": defaultdict(dict)}
    for source, counts in manifest.get("sources", {}).items():
        for reason, n in counts.get("rejected_by_reason", {}).items():
            result["records"][reason][source] = n
        for reason, n in counts.get("rows_removed", {}).items():
            result["rows"][reason][source] = n
    return {k: dict(sorted(v.items(), key=lambda item: -sum(item[1].values()))) for k, v in result.items()}


# ---------------------------------------------------------------- charts (inline SVG)

def _text_width(text: str) -> float:
    """A rough rendered width, to leave room for labels: wide (CJK) characters ~1 em, others ~0.6 em."""
    return sum(FONT if unicodedata.east_asian_width(c) in "WF" else 0.6 * FONT for c in text)


def _svg(attributes: str, title: str, width: float, height: float, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" {attributes} role="img" aria-label="{e(title)}" '
            f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
            f'<title>{e(title)}</title>{"".join(body)}</svg>')


def _stacked_bars(key: str, title: str, labels: list[str], series: dict[str, list[int]], colours: list[str],
                  notes: list[str] | None = None) -> str:
    """Horizontal bars, one per label, stacked from `series` in order, on one scale; each bar's note (its
    total unless given) is written at its end. Zero segments are not drawn."""
    width, row, bar, top = 1100, FONT + 8, FONT + 2, 2 * FONT + 14
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    notes = notes or [f"{t:,}" for t in totals]
    left = max(map(_text_width, labels), default=0) + 12
    scale = (width - left - max(map(_text_width, notes), default=0) - 10) / max(max(totals, default=0), 1)
    body, x = [], 0.0
    for (name, _), colour in zip(series.items(), colours, strict=False):  # the legend
        body.append(f'<rect class="key" x="{x:.1f}" y="{FONT + 4}" width="{FONT}" height="{FONT}" fill="{colour}"/>'
                    f'<text x="{x + FONT + 4:.1f}" y="{2 * FONT + 2}">{e(name)}</text>')
        x += FONT + 16 + _text_width(name)
    for i, label in enumerate(labels):
        y, x = top + i * row, left
        body.append(f'<text x="{left - 6:.1f}" y="{y + bar - 2}" text-anchor="end">{e(label)}</text>')
        for (name, values), colour in zip(series.items(), colours, strict=False):
            if values[i]:
                body.append(f'<rect class="bar" x="{x:.1f}" y="{y}" width="{values[i] * scale:.1f}" height="{bar}" '
                            f'fill="{colour}" data-value="{values[i]}"><title>{e(label)} · {e(name)}: '
                            f'{values[i]:,}</title></rect>')
                x += values[i] * scale
        body.append(f'<text x="{x + 4:.1f}" y="{y + bar - 2}">{e(notes[i])}</text>')
    body.insert(0, f'<text x="0" y="{FONT}" font-weight="bold">{e(title)}</text>')
    return _svg(f'id="{key}"', title, width, top + len(labels) * row + 4, body)


def _histogram_chart(field_name: str, source: str, summary: dict, edges: list[float]) -> str:
    """One source's length histogram: a bar per bin scaled to the tallest, the axis range, and the summary."""
    width, height, left, top, bottom = 540, 170, 48, 2 * FONT + 14, FONT + 8
    counts, overflow = summary["histogram"]["counts"], summary["histogram"]["overflow"]
    plot_w, plot_h = width - left - 8, height - top - bottom
    step, y_scale = plot_w / len(counts), plot_h / max(max(counts), 1)
    note = f"n={summary['count']:,}  median={summary['median']:g}  p99={summary['p99']:g}  max={summary['max']:,}"
    if overflow:
        note += f"  (>{edges[-1]:g}: {overflow:,})"
    body = [f'<text x="0" y="{FONT}" font-weight="bold">{e(source)}</text>',
            f'<text x="0" y="{2 * FONT + 4}" font-size="{FONT - 1}">{e(note)}</text>',
            f'<text x="{left - 4}" y="{top + FONT - 2}" text-anchor="end">{max(counts):,}</text>',
            f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>',
            f'<text x="{left}" y="{height - 2}" text-anchor="middle">0</text>',
            f'<text x="{left + plot_w:.0f}" y="{height - 2}" text-anchor="end">{edges[-1]:g} characters</text>']
    for i, n in enumerate(counts):
        h = n * y_scale
        body.append(f'<rect class="bar" x="{left + i * step:.1f}" y="{top + plot_h - h:.1f}" width="{step - 1:.1f}" '
                    f'height="{h:.1f}" fill="#4C72B0" data-value="{n}"><title>{edges[i]:g}–{edges[i + 1]:g}: {n:,}'
                    f'</title></rect>')
    return _svg(f'data-field="{field_name}" data-source="{e(source)}"', f"{field_name} length: {source}",
                width, height, body)


def _charts(stats: dict) -> dict[str, str]:
    """The SVG of each chart of the page, by name."""
    rows, splits = stats["rows"], list(stats["rows"]["by_split"])
    charts = {"rows_by_source": _stacked_bars(
        "rows_by_source", "Rows per source and split", list(rows["by_source_split"]),
        {sp: [by[sp] for by in rows["by_source_split"].values()] for sp in splits},
        [SPLIT_COLOURS.get(sp, PALETTE[(i + 3) % len(PALETTE)]) for i, sp in enumerate(splits)])}
    for f in ("instruction", "output"):
        by_source = {s: v for s, v in stats["lengths"][f].items() if not s.startswith("_") and v["count"]}
        charts[f"lengths_{f}"] = "".join(_histogram_chart(f, s, v, stats["lengths"][f]["_bins"])
                                         for s, v in by_source.items())
    templates = stats["templates"]
    if templates:
        charts["template_yield"] = _stacked_bars(
            "template_yield", "Per-template yield: eligible records rendered vs skipped", list(templates),
            {"rendered (records)": [t["rendered"] for t in templates.values()],
             "skipped (records)": [t["skipped"] for t in templates.values()]}, ["#55A868", "#E3A5A7"],
            [f"{t['rendered']:,} of {t['eligible']:,} → {t['rows_in_output']:,} rows" for t in templates.values()])
    items = {f"{reason} ({kind})": by for kind in ("records", "rows") for reason, by in stats["rejects"][kind].items()}
    if items:
        sources = sorted({s for by in items.values() for s in by})
        charts["rejects"] = _stacked_bars(
            "rejects", "Rejected records and removed rows by reason", list(items),
            {s: [by.get(s, 0) for by in items.values()] for s in sources},
            [PALETTE[i % len(PALETTE)] for i in range(len(sources))])
    return charts


# ---------------------------------------------------------------- HTML

def _table(header: list[str], body: list[list]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    cells = "".join("<tr>" + "".join(
        f'<td class="n">{c}</td>' if isinstance(c, (int, float)) else f"<td>{e(str(c))}</td>" for c in row)
        + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"


def _html(stats: dict) -> str:
    rows = stats["rows"]
    splits = list(rows["by_split"])
    charts = _charts(stats)
    source_rows = [[s, *(stats["sources"][s].get(k) for k in ("read", "kept", "rejected")),
                    *(rows["by_source_split"][s].get(sp, 0) for sp in splits), rows["by_source"][s]]
                   for s in rows["by_source_split"]]
    source_rows.append(["total", "", "", "", *(rows["by_split"][sp] for sp in splits), rows["total"]])
    length_rows = [[f, s, v["count"], v.get("min", ""), v.get("median", ""), v.get("mean", ""), v.get("p90", ""),
                    v.get("p99", ""), v.get("max", ""), v.get("empty", "")]
                   for f in LENGTH_FIELDS for s, v in stats["lengths"][f].items() if not s.startswith("_")]
    template_rows = [[t, v["kind"], v["eligible"], v["rendered"], v["skipped"], v["phrasings_used"], v["rows_in_output"]]
                     for t, v in stats["templates"].items()]
    fields = stats["source_fields"]
    unmapped_rows = [[source, c["column"], c["values"], c["map"]] for source, columns in fields["unmapped"].items()
                     for c in columns]
    dominant = "".join(
        f"<p><b>warning</b>: {d['share']:.0%} of the {e(d['kind'])} rows ({d['rows']:,} of {d['kind_rows']:,}) come "
        f"from one of its {d['templates']} templates, <code>{e(d['template'])}</code>; unmapped columns that could "
        f"feed the others: {e(', '.join(d['unmapped_columns']) or 'none')}</p>" for d in fields["dominant_templates"])
    cleaned_rows = [[source, what, count] for source, tallies in stats["sources"].items()
                    for what, count in sorted((tallies.get("cleaned") or {}).items())]
    reject_rows = [[kind, reason, ", ".join(f"{s} {n}" for s, n in by.items()), sum(by.values())]
                   for kind in ("records", "rows") for reason, by in stats["rejects"][kind].items()]
    quality_items = "".join(
        f"<li><b>{e(k)}</b>: <code>{e(json.dumps(v, ensure_ascii=False))}</code></li>"
        for k, v in stats["quality"].items() if k != "tokens")
    tokens = stats["quality"].get("tokens")
    token_html = "" if not tokens else (
        f"<h2>Tokens ({e(tokens['tokenizer'])})</h2><p>{e(tokens['counted'])}; limit: {tokens['max_tokens'] or 'none'}.</p>"
        + "".join(_table([title, "rows", "p50", "p95", "p99", "max"],
                         [[name, *(v.get(k, "") for k in ("rows", "p50", "p95", "p99", "max"))]
                          for name, v in tokens[key].items()]) for title, key in (("source", "by_source"),
                                                                                   ("template", "by_template"))))
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>Build report</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       margin: 24px; color: #222; max-width: 1180px; }}
table {{ border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
th {{ background: #f0f0f0; }} td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
svg.chart {{ display: block; max-width: 100%; height: auto; margin: 8px 0 20px; font-size: {FONT}px; }}
svg.chart text {{ fill: #222; }} .charts {{ display: flex; flex-wrap: wrap; column-gap: 24px; }}
code {{ font-size: 12px; }}
</style></head><body>
<h1>Build report · 构建报告</h1>
<p>{e(stats["build"])} — {rows["total"]} rows ({e(", ".join(f"{k} {v}" for k, v in rows["by_split"].items()))}).
Numbers: <a href="stats.json">stats.json</a>.</p>
<h2>Rows per source and split</h2>
{_table(["source", "read", "kept", "rejected", *splits, "rows"], source_rows)}
{charts["rows_by_source"]}
<h3>Unmapped columns</h3>
{_table(["source", "column", "values", "keep it with"], unmapped_rows) if unmapped_rows else
 "<p>Every column of every source feeds a field (or was dropped with --map COLUMN=).</p>"}
{dominant}
<h3>What cleaning did to the source text</h3>
<p>Values left out as saying nothing, cut off or only pointing elsewhere, characters removed, and damage kept as
written but flagged (<code>unit_damage</code>: a unit that lost its superscript, as mg/m for mg/m²).</p>
{_table(["source", "what", "count"], cleaned_rows) if cleaned_rows else "<p>Cleaning changed nothing.</p>"}
<h2>Lengths (characters)</h2>
{_table(["field", "source", "rows", "min", "median", "mean", "p90", "p99", "max", "empty"], length_rows)}
<h3>Instruction length per source</h3>
<p>Each axis ends at the largest per-source 99th percentile; longer rows are counted as overflow.</p>
<div class="charts">{charts["lengths_instruction"]}</div>
<h3>Output length per source</h3>
<div class="charts">{charts["lengths_output"]}</div>
{token_html}
<h2>Per-template yield</h2>
{_table(["template", "kind", "eligible", "rendered", "skipped", "phrasings used", "rows in output"], template_rows)}
{charts.get("template_yield", "")}
<h2>Rejects by reason</h2>
{_table(["what", "reason", "by source", "total"], reject_rows) if reject_rows else "<p>No rejects.</p>"}
{charts.get("rejects", "")}
<h2>Quality</h2>
<ul>{quality_items}</ul>
</body></html>
"""
