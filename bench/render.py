"""Render benchmark: question+answer pairs per second on one core, the builder's renderer beside plain `.render()`.

    python bench/render.py [--scale F] [--repeat N]

Both sides run the same `Expander` over the same drug records (synthetic, CareGPT-shaped, from
bench/workload.py, read, cleaned and validated by the builder) with the shipped catalogue; the
only difference is the renderer: the builder's generated code, or Jinja2's `Template.render` of
the same sandboxed templates. The process is pinned to one core. Last line: one JSON object.
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pyarrow as pa
from workload import generate

from builder.clean.text import clean_batch
from builder.config import SHIPPED_TEMPLATES, SourceConfig
from builder.expand.catalogue import load_catalogue
from builder.expand.expander import Expander
from builder.expand.render import make_environment
from builder.read import detect, read_source
from builder.rows import POSITION
from builder.validate.fields import resolve_columns
from builder.validate.records import validate_kb


def drug_contexts(path: Path) -> list[tuple[str, dict]]:
    """(record id, context) for every valid record, through the builder's own read → clean → validate."""
    source = SourceConfig(path=path, kind="drug")
    contexts = []
    for raw in read_source(source, detect(source), 5000):
        names = [c for c in raw.records.schema.names if c != POSITION]
        mapping, _ = resolve_columns("drug", names, {})
        batch = pa.RecordBatch.from_arrays([raw.records.column(c) for c in [*mapping, POSITION]],
                                           names=[*mapping.values(), POSITION])
        checked = validate_kb("drug", clean_batch(batch, frozenset({POSITION})).to_pylist())
        contexts += [(valid.record_id, valid.fields) for valid in checked.valid]
    return contexts


def plain_entries(entries: tuple) -> tuple:
    """The same entries with Jinja2's own `render` of the same sandboxed templates."""
    env = make_environment()
    raw = {t["id"]: t for t in tomllib.loads((SHIPPED_TEMPLATES / "drug.toml").read_text("utf-8"))["templates"]}
    return tuple(
        dataclasses.replace(
            e,
            questions=tuple(env.from_string(q).render for q in raw[e.id]["questions"]),
            answer=env.from_string(raw[e.id]["answer"]).render,
            input=env.from_string(raw[e.id]["input"]).render if raw[e.id].get("input") else None,
        )
        for e in entries
    )


def pairs_per_second(entries: tuple, contexts: list[tuple[str, dict]], repeat: int) -> tuple[float, int]:
    """Best of `repeat` full passes: pairs per second, and the pairs of one pass."""
    best, pairs = 0.0, 0
    for _ in range(repeat):
        expander = Expander(entries, seed=1, variants=1)
        start = time.perf_counter()
        pairs = sum(len(expander.expand(context, rid)) for rid, context in contexts)
        best = max(best, pairs / (time.perf_counter() - start))
    return best, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2, help="workload scale (1.0 = 30,000 drug records)")
    parser.add_argument("--repeat", type=int, default=5, help="passes per renderer; the best one counts")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), scale=args.scale, seed=0)
        contexts = drug_contexts(Path(tmp) / "drugs.json")
    entries = load_catalogue([SHIPPED_TEMPLATES], ["drug"]).entries["drug"]
    fast, pairs = pairs_per_second(entries, contexts, args.repeat)
    plain, plain_pairs = pairs_per_second(plain_entries(entries), contexts, max(1, args.repeat // 2))
    assert pairs == plain_pairs
    print(f"records {len(contexts):,}  pairs per pass {pairs:,}  templates {len(entries)}  (one core, best of runs)")
    print(f"{'renderer':<28}{'pairs/s':>12}")
    print(f"{'builder (generated code)':<28}{fast:>12,.0f}")
    print(f"{'plain Template.render':<28}{plain:>12,.0f}")
    print(f"speed-up: {fast / plain:.1f}x")
    print(json.dumps({"records": len(contexts), "pairs": pairs, "builder_pairs_per_s": round(fast),
                      "plain_render_pairs_per_s": round(plain), "speedup": round(fast / plain, 2)}))


if __name__ == "__main__":
    main()
