"""Re-checking a finished build against evaluation sets: the contamination report, reproduced by anyone."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from builder.cli import main
from builder.cli.options import user_errors

FINDINGS_EXIT = 1


@main.command("contamination")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--eval-set", "eval_sets", multiple=True, required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True), help="An evaluation set; repeatable.")
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the findings here as JSON lines (default: OUT_DIR/contamination-check.jsonl).")
@user_errors
def contamination_command(out_dir: Path, eval_sets: tuple[Path, ...], report: Path | None) -> None:
    """Check every row of the build in OUT_DIR against evaluation sets, by entity (name, core, alias, English
    name, alias-linked record) and by copied text, as `build --eval-set` does; the findings have the lines of
    `contamination.jsonl`. Exit 0: none; 1: findings; 2: not a build, or its inputs changed."""
    from builder.quality.decontaminate import recheck
    entries = recheck(out_dir, list(eval_sets))
    path = report or out_dir / "contamination-check.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(entry, ensure_ascii=False) + "\n" for entry in entries)
    counts = Counter((e["scope"], e["match"]) for e in entries)
    tally = ", ".join(f"{scope} by {match}: {n}" for (scope, match), n in sorted(counts.items()))
    click.echo(f"{len(entries)} contaminated ({tally or 'none'})")
    click.echo(f"wrote {path}")
    if entries:
        sys.exit(FINDINGS_EXIT)
