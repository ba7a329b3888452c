"""A build's statistics report: `report/stats.json` and `report/index.html` with PNG plots.

`write_report(out_dir)` reads the build's Parquet shards (`data/{split}-*.parquet`, only the columns
it needs, batch by batch; lengths come from Arrow compute, never from Python strings) and its
`manifest.json`, and writes into `out_dir/report/`:

* `stats.json` — every number the plots show: rows per source and split, rows per template,
  instruction / input / output length summaries and histograms per source (length in characters,
  i.e. Unicode code points), per-template yield (eligible, rendered, skipped, rows in the output),
  rejects and removed rows by reason and source, and the quality figures of the manifest;
* `lengths_instruction.png`, `lengths_output.png` — length histograms, one panel per source;
* `rows_by_source.png` — rows per source, stacked by split;
* `template_yield.png` — per template: rendered vs skipped records (rows in the output marked);
* `rejects.png` — rejected records and removed rows by reason, stacked by source;
* `index.html` — the tables and the plots, self-contained apart from the PNGs beside it.

Plots use matplotlib's Agg backend, ASCII axis labels, and a CJK font for Chinese source names only
when one is installed (e.g. Debian's fonts-noto-cjk); without one such names show as boxes.

The documented check by eye (Debian's `chromium`; not part of the test suite):

    chromium --headless --no-sandbox --disable-gpu --disable-background-networking \\
      --disable-component-update --disable-sync --no-first-run --user-data-dir=$(mktemp -d) \\
      --screenshot=/tmp/report.png --window-size=1280,2000 file://$OUT/report/index.html

then look at /tmp/report.png.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

LENGTH_FIELDS = ("instruction", "input", "output")
BINS = 30
BATCH_ROWS = 200_000
CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "Droid Sans Fallback", "AR PL UMing CN")
SPLIT_COLOURS = {"train": "#4C72B0", "validation": "#DD8452", "test": "#55A868"}


def write_report(out_dir: Path) -> Path:
    """Writes `report/` into a finished build and returns the path of `report/index.html`."""
    out_dir = Path(out_dir)
    folder = out_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    stats, lengths = collect_stats(out_dir, manifest)
    (folder / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    plots = _plots(stats, lengths, folder)
    index = folder / "index.html"
    index.write_text(_html(stats, plots), encoding="utf-8")
    return index


def collect_stats(out_dir: Path, manifest: dict) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """The numbers of the report, and the raw lengths per field and source (for the histograms)."""
    rows_by: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # source -> split -> rows
    rows_by_template: dict[str, int] = defaultdict(int)
    parts: dict[str, dict[str, list[np.ndarray]]] = {f: defaultdict(list) for f in LENGTH_FIELDS}
    splits = list(manifest.get("splits", {}))
    for shard in sorted((out_dir / "data").glob("*-of-*.parquet")):
        split = shard.name.rsplit("-", 3)[0]
        if split not in splits:
            splits.append(split)
        columns = ["source", "template_id", *LENGTH_FIELDS]
        for batch in pq.ParquetFile(shard).iter_batches(BATCH_ROWS, columns=columns):
            lengths = {f: pc.utf8_length(batch.column(f)).to_numpy(zero_copy_only=False) for f in LENGTH_FIELDS}
            source = pc.dictionary_encode(batch.column("source"))
            codes = source.indices.to_numpy(zero_copy_only=False)
            for code, name in enumerate(source.dictionary.to_pylist()):
                mask = codes == code
                rows_by[name][split] += int(mask.sum())
                for f in LENGTH_FIELDS:
                    parts[f][name].append(lengths[f][mask].astype(np.int32))
            counts = pc.value_counts(batch.column("template_id"))
            for item in counts.to_pylist():
                rows_by_template[item["values"] if item["values"] is not None else "(none: qa)"] += item["counts"]
    lengths = {f: {s: np.concatenate(p) for s, p in sorted(by.items())} for f, by in parts.items()}

    sources = sorted(set(rows_by) | set(manifest.get("sources", {})))
    stats: dict = {
        "build": manifest.get("config", {}).get("out", str(out_dir)),  # the final folder, not the temporary one
        "rows": {
            "total": sum(sum(by.values()) for by in rows_by.values()),
            "by_split": {sp: sum(rows_by[s].get(sp, 0) for s in sources) for sp in splits},
            "by_source": {s: sum(rows_by[s].values()) for s in sources},
            "by_source_split": {s: {sp: rows_by[s].get(sp, 0) for sp in splits} for s in sources},
            "by_template": dict(sorted(rows_by_template.items())),
        },
        "lengths": {f: {s: _summary(a) for s, a in by.items()} for f, by in lengths.items()},
        "templates": _template_yield(manifest, rows_by_template),
        "rejects": _rejects(manifest),
        "sources": {s: {k: manifest.get("sources", {}).get(s, {}).get(k)
                        for k in ("read", "kept", "rejected", "rows")} for s in sources},
        "quality": manifest.get("quality", {}),
        "manifest_splits": manifest.get("splits", {}),
    }
    for f, by in lengths.items():
        edges = _edges(by)
        stats["lengths"][f]["_bins"] = edges.tolist()
        for s, a in by.items():
            stats["lengths"][f][s]["histogram"] = _histogram(a, edges)
    return stats, lengths


def _summary(a: np.ndarray) -> dict:
    if not len(a):
        return {"count": 0}
    p = np.percentile(a, [50, 90, 99])
    return {"count": len(a), "min": int(a.min()), "max": int(a.max()), "mean": round(float(a.mean()), 1),
            "median": round(float(p[0]), 1), "p90": round(float(p[1]), 1), "p99": round(float(p[2]), 1),
            "empty": int((a == 0).sum())}


def _edges(by_source: dict[str, np.ndarray]) -> np.ndarray:
    """BINS equal bins from 0 to the largest per-source 99th percentile (at least 1), shared by all
    sources of a field; longer values are counted apart as overflow."""
    tops = [float(np.percentile(a, 99)) for a in by_source.values() if len(a)]
    return np.linspace(0.0, max(1.0, float(np.ceil(max(tops, default=1.0)))), BINS + 1)


def _histogram(a: np.ndarray, edges: np.ndarray) -> dict:
    """Counts per bin (the last bin includes its right edge) and the overflow: they add up to len(a)."""
    return {"counts": np.histogram(a[a <= edges[-1]], edges)[0].tolist(), "overflow": int((a > edges[-1]).sum())}


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


# ---------------------------------------------------------------- plots

def _plots(stats: dict, lengths: dict[str, dict[str, np.ndarray]], folder: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [name for name in CJK_FONTS if name in installed]
    rc = {"font.sans-serif": [*cjk[:1], "DejaVu Sans"], "font.family": "sans-serif", "axes.unicode_minus": False,
          "figure.dpi": 100, "savefig.dpi": 100, "axes.spines.top": False, "axes.spines.right": False}
    written = {}
    with plt.rc_context(rc):
        for field in ("instruction", "output"):
            written[f"lengths_{field}"] = _save(plt, _length_figure(plt, field, stats, lengths[field]),
                                                folder / f"lengths_{field}.png")
        written["rows_by_source"] = _save(plt, _rows_figure(plt, stats), folder / "rows_by_source.png")
        if stats["templates"]:
            written["template_yield"] = _save(plt, _template_figure(plt, stats), folder / "template_yield.png")
        written["rejects"] = _save(plt, _rejects_figure(plt, stats), folder / "rejects.png")
    return written


def _save(plt, figure, path: Path) -> str:
    figure.savefig(path, format="png")
    plt.close(figure)
    return path.name


def _length_figure(plt, field: str, stats: dict, by_source: dict[str, np.ndarray]):
    sources = [s for s, a in by_source.items() if len(a)]
    columns = 2 if len(sources) > 1 else 1
    rows = max(1, -(-len(sources) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(11, 2.4 * rows + 0.6), squeeze=False)
    edges = np.array(stats["lengths"][field]["_bins"])
    for ax, source in zip(axes.flat, sources):
        summary = stats["lengths"][field][source]
        histogram = summary["histogram"]
        ax.bar(edges[:-1], histogram["counts"], width=np.diff(edges), align="edge", color="#4C72B0",
               edgecolor="white", linewidth=0.4)
        note = f"n={summary['count']}  median={summary['median']:g}  p99={summary['p99']:g}  max={summary['max']}"
        if histogram["overflow"]:
            note += f"  (>{edges[-1]:g}: {histogram['overflow']})"
        ax.set_title(f"{source}\n{note}", fontsize=9, loc="left")
        ax.set_xlim(0, edges[-1])
        ax.set_xlabel(f"{field} length (characters)", fontsize=8)
        ax.set_ylabel("rows", fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(sources):]:
        ax.set_visible(False)
    if not sources:
        axes.flat[0].set_visible(True)
        axes.flat[0].text(0.5, 0.5, "no rows", ha="center", va="center")
    figure.suptitle(f"{field} length per source (characters; axis ends at the largest per-source 99th percentile)",
                    fontsize=11)
    figure.tight_layout()
    return figure


def _rows_figure(plt, stats: dict):
    by = stats["rows"]["by_source_split"]
    sources = list(by)
    splits = list(stats["rows"]["by_split"])
    figure, ax = plt.subplots(figsize=(11, 0.45 * len(sources) + 1.4))
    left = np.zeros(len(sources))
    for i, split in enumerate(splits):
        values = np.array([by[s].get(split, 0) for s in sources], float)
        ax.barh(sources, values, left=left, label=f"{split} ({int(values.sum())})",
                color=SPLIT_COLOURS.get(split, f"C{i + 3}"))
        left += values
    for y, total in enumerate(left):
        ax.text(total, y, f" {int(total)}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    ax.set_title("Rows per source and split", loc="left")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.margins(x=0.08)
    figure.tight_layout()
    return figure


def _template_figure(plt, stats: dict):
    templates = stats["templates"]
    names = list(templates)
    rendered = np.array([templates[t]["rendered"] for t in names], float)
    skipped = np.array([templates[t]["skipped"] for t in names], float)
    kept = np.array([templates[t]["rows_in_output"] for t in names], float)
    figure, ax = plt.subplots(figsize=(11, 0.24 * len(names) + 1.4))
    ax.barh(names, rendered, color="#55A868", label="rendered (records)")
    ax.barh(names, skipped, left=rendered, color="#C44E52", alpha=0.55, label="skipped (records)")
    ax.scatter(kept, names, marker="|", s=120, color="black", label="rows in output", zorder=3)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlabel("records")
    ax.set_title("Per-template yield: eligible records rendered vs skipped", loc="left")
    ax.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return figure


def _rejects_figure(plt, stats: dict):
    items = [(f"{reason} (records)", by) for reason, by in stats["rejects"]["records"].items()]
    items += [(f"{reason} (rows)", by) for reason, by in stats["rejects"]["rows"].items()]
    figure, ax = plt.subplots(figsize=(11, 0.35 * max(1, len(items)) + 1.4))
    if not items:
        ax.text(0.5, 0.5, "no rejects", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return figure
    reasons = [name for name, _ in items]
    sources = sorted({s for _, by in items for s in by})
    left = np.zeros(len(items))
    for i, source in enumerate(sources):
        values = np.array([by.get(source, 0) for _, by in items], float)
        ax.barh(reasons, values, left=left, label=source, color=f"C{i % 10}")
        left += values
    for y, total in enumerate(left):
        ax.text(total, y, f" {int(total)}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("count")
    ax.set_title("Rejected records and removed rows by reason", loc="left")
    ax.legend(fontsize=8, loc="lower right")
    ax.margins(x=0.08)
    figure.tight_layout()
    return figure


# ---------------------------------------------------------------- HTML

def _html(stats: dict, plots: dict[str, str]) -> str:
    e = html.escape
    rows = stats["rows"]
    splits = list(rows["by_split"])
    source_rows = [[s, *(stats["sources"][s].get(k) for k in ("read", "kept", "rejected")),
                    *(rows["by_source_split"][s].get(sp, 0) for sp in splits), rows["by_source"][s]]
                   for s in rows["by_source_split"]]
    source_rows.append(["total", "", "", "", *(rows["by_split"][sp] for sp in splits), rows["total"]])
    length_rows = [[f, s, v["count"], v.get("min", ""), v.get("median", ""), v.get("mean", ""), v.get("p90", ""),
                    v.get("p99", ""), v.get("max", ""), v.get("empty", "")]
                   for f in LENGTH_FIELDS for s, v in stats["lengths"][f].items() if not s.startswith("_")]
    template_rows = [[t, v["kind"], v["eligible"], v["rendered"], v["skipped"], v["phrasings_used"], v["rows_in_output"]]
                     for t, v in stats["templates"].items()]
    reject_rows = [[kind, reason, ", ".join(f"{s} {n}" for s, n in by.items()), sum(by.values())]
                   for kind in ("records", "rows") for reason, by in stats["rejects"][kind].items()]
    quality = stats["quality"]
    figures = {
        "rows_by_source": "Rows per source and split", "lengths_instruction": "Instruction length per source",
        "lengths_output": "Output length per source", "template_yield": "Per-template yield",
        "rejects": "Rejects by reason",
    }

    def table(header: list[str], body: list[list]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        cells = "".join("<tr>" + "".join(
            f'<td class="n">{c}</td>' if isinstance(c, (int, float)) else f"<td>{e(str(c))}</td>" for c in row)
            + "</tr>" for row in body)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>"

    def figure(key: str) -> str:
        return f'<figure><img src="{e(plots[key])}" alt="{e(figures[key])}"></figure>' if key in plots else ""

    quality_items = "".join(
        f"<li><b>{e(k)}</b>: <code>{e(json.dumps(v, ensure_ascii=False))}</code></li>" for k, v in quality.items())
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>Build report</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif; margin: 24px;
       color: #222; max-width: 1180px; }}
table {{ border-collapse: collapse; margin: 8px 0 20px; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
th {{ background: #f0f0f0; }} td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
figure {{ margin: 8px 0 24px; }} img {{ max-width: 100%; border: 1px solid #eee; }}
code {{ font-size: 12px; }}
</style></head><body>
<h1>Build report · 构建报告</h1>
<p>{e(stats["build"])} — {rows["total"]} rows ({e(", ".join(f"{k} {v}" for k, v in rows["by_split"].items()))}).
Numbers: <a href="stats.json">stats.json</a>.</p>
<h2>Rows per source and split</h2>
{table(["source", "read", "kept", "rejected", *splits, "rows"], source_rows)}
{figure("rows_by_source")}
<h2>Lengths (characters)</h2>
{table(["field", "source", "rows", "min", "median", "mean", "p90", "p99", "max", "empty"], length_rows)}
{figure("lengths_instruction")}
{figure("lengths_output")}
<h2>Per-template yield</h2>
{table(["template", "kind", "eligible", "rendered", "skipped", "phrasings used", "rows in output"], template_rows)}
{figure("template_yield")}
<h2>Rejects by reason</h2>
{table(["what", "reason", "by source", "total"], reject_rows)}
{figure("rejects")}
<h2>Quality</h2>
<ul>{quality_items}</ul>
</body></html>
"""
