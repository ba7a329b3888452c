"""Commands that build or add to a dataset: build, validate, preview, report, formats."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from builder.cli import main
from builder.cli.options import assemble, input_options, tqdm_progress, user_errors
from builder.errors import UserError

if TYPE_CHECKING:
    from builder.ledger import Ledger
    from builder.run.pipeline import BuildResult


@main.command("build")
@input_options
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder (replaced atomically).")
@click.option("--split", default=None, metavar="T,V,T", help="Train,validation,test fractions, e.g. 0.9,0.05,0.05.")
@click.option("--format", "formats", multiple=True, metavar="NAME",
              help="A trainer format beside Parquet, HF and the Alpaca JSON list (`components` lists them); "
                   "repeatable.")
@click.option("--system-prompt", default=None, help="System turn for the messages format.")
@click.option("--name", default=None, help="Dataset name for the card and dataset_info.json.")
@click.option("--license", "license_", default=None, help="The dataset's licence for the card (default: the sources').")
@click.option("--no-report", is_flag=True, help="Skip report/ (HTML with plots and stats.json).")
@click.option("--allow-empty", is_flag=True,
              help="Write a dataset with no rows instead of stopping with an error.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for read → quality (default: the usable cores); the output is byte-identical for any "
                   "number.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default=None,
              help="Run read → quality here (default) or on Dask (pip install '.[dask]').")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster).")
@click.option("--timings", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write each stage's wall and CPU seconds (of this process and its local workers) to this "
                   "JSON file, kept out of the dataset.")
@user_errors
def build_command(config_file, kb, qa, maps, quiet, formats, license_, no_report, allow_empty, timings,
                  **settings) -> None:
    """Build the dataset; with no arguments, the embedded sample into ./out/sample."""
    from builder.run.pipeline import build
    settings.update(formats=list(formats) or None, license=license_, report=False if no_report else None,
                    allow_empty=True if allow_empty else None)
    config = assemble(config_file, kb, qa, maps, **settings)
    result = build(config, tqdm_progress(quiet), command=sys.argv)
    if timings is not None:
        stages = {name: {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)} for name, (wall, cpu) in result.stages.items()}
        timings.write_text(json.dumps({"stages": stages}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if not quiet:
        _print_summary(result)
        click.echo("\n" + stages_table(result.stages))
        splits = ", ".join(f"{k} {v}" for k, v in result.manifest["splits"].items())
        rejected = result.manifest["totals"]["rejected"]
        click.echo(f"\nwrote {config.out} ({splits}); {rejected} rejects with reasons in rejects.jsonl")
        _print_field_advice(result.manifest["source_fields"])
        if unmade := type_advice_lines(result.manifest["types"]):
            click.echo("\n" + "\n".join(unmade))


@main.command("validate")
@input_options
@click.option("--ledger", "folder", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also write rejects.jsonl (and removed_rows.jsonl, marked.jsonl) into this folder.")
@user_errors
def validate_command(config_file, kb, qa, maps, quiet, folder, **settings) -> None:
    """Check inputs and print the ledger, without writing a dataset (near duplicates and mixing need a build)."""
    from builder.run.pipeline import dry_run
    config = assemble(config_file, kb, qa, maps, **settings)
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    result = dry_run(config, tqdm_progress(quiet), folder)
    _print_summary(result)
    from builder.run.units import catalogue_for
    from builder.validate.fields import field_advice
    entries = {kind: [e.id for e in found] for kind, found in catalogue_for(config).entries.items()}
    _print_field_advice(field_advice(config, result.ledger, result.coverage, entries))


def _print_summary(result: BuildResult) -> None:
    """The ledger per source and the per-template coverage, as plain aligned text."""
    click.echo(ledger_table(result.ledger))
    if result.coverage:
        click.echo("\n" + coverage_table(result))


def _print_field_advice(advice: dict) -> None:
    """Every column no field took, with the flag that keeps it, and a warning per kind one template dominates:
    on the terminal, not only in manifest.json."""
    lines = field_advice_lines(advice)
    if lines:
        click.echo("\n" + "\n".join(lines))


def type_advice_lines(types: dict) -> list[str]:
    """A warning per enabled type that no catalogue of the build's kinds declares: it made no row."""
    made = types.get("made", {})
    kinds = ", ".join(made) or "none"
    return [f"warning: type {name} made no row: no catalogue of this build's kinds ({kinds}) declares it; declare "
            f"[types.{name}] in the kind's catalogue (templates/README.md, Instruction types)"
            for name in types.get("enabled", []) if name != "single" and not any(name in by for by in made.values())]


def field_advice_lines(advice: dict) -> list[str]:
    """The `source_fields` section of a manifest as plain text."""
    lines = []
    listed = [(source, entry) for source, entries in advice["unmapped"].items() for entry in entries]
    if listed:
        lines.append("unmapped columns (in no field, so in no row): keep one with the --map shown, or silence it "
                     "with --map COLUMN=")
        width = max(len(entry["column"]) for _, entry in listed) + 2
        for source, entry in listed:
            count = f"{entry['values']:>8} {'value ' if entry['values'] == 1 else 'values'}"
            lines.append(f"  {source}: {entry['column']:<{width}}{count}   {entry['map']}")
    for found in advice["dominant_templates"]:
        columns = ", ".join(found["unmapped_columns"]) or "none (the source has no other column)"
        lines.append(f"warning: {found['share']:.0%} of the {found['kind']} rows ({found['rows']} of "
                     f"{found['kind_rows']}) come from one of its {found['templates']} templates, {found['template']}; "
                     f"mapped fields: {', '.join(found['mapped_fields'])}; unmapped columns that could feed the "
                     f"others: {columns}")
    return lines


def ledger_table(ledger: Ledger) -> str:
    lines = [f"{'source':<28}{'read':>8}{'kept':>8}{'rejected':>10}{'rows':>9}  top reject reasons"]
    for name, c in ledger.to_json().items():
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(c["rejected_by_reason"].items(), key=lambda x: -x[1])[:3])
        lines.append(f"{name:<28}{c['read']:>8}{c['kept']:>8}{c['rejected']:>10}{c['rows']:>9}  {reasons}")
    return "\n".join(lines)


def stages_table(stages: dict[str, tuple[float, float]]) -> str:
    """Wall and CPU seconds per stage and in all; CPU above wall means the workers ran side by side."""
    rows = [*stages.items(), ("all", (sum(w for w, _ in stages.values()), sum(c for _, c in stages.values())))]
    return "\n".join([f"{'stage':<24}{'wall s':>9}{'cpu s':>9}",
                      *(f"{name:<24}{wall:>9.2f}{cpu:>9.2f}" for name, (wall, cpu) in rows)])


def coverage_table(result: BuildResult) -> str:
    """Per template: records eligible, rows rendered, records skipped and why, and phrasing use."""
    lines = [f"{'template':<32}{'eligible':>9}{'rendered':>9}{'skipped':>8}  {'why skipped':<28} phrasings used"]
    for tid, c in result.coverage.items():
        if c["no_source_has"]:
            why = f"no source has {', '.join(c['no_source_has'])}"
        else:
            why = ", ".join(f"{field} empty {n}" for field, n in c["skipped_missing"].items())
        used = " ".join(f"{k}:{v}" for k, v in c["variants"].items())
        lines.append(f"{tid:<32}{c['eligible']:>9}{c['rendered']:>9}{c['skipped']:>8}  {why:<28} {used}")
    return "\n".join(lines)


@main.command("preview")
@click.option("--kind", default="drug", show_default=True, help="A record kind of schemas/ (see `fields`).")
@click.option("--n", "count", type=int, default=5, show_default=True, help="How many records to show.")
@click.option("--kb", "paths", multiple=True, metavar="PATH", help="Knowledge-base file(s); default: the sample.")
@click.option("--map", "maps", multiple=True, metavar="SOURCE_FIELD=FIELD",
              help="Map a source field to a schema field.")
@click.option("--templates", multiple=True, type=click.Path(path_type=Path, file_okay=False),
              help="A catalogue folder added to the shipped one; repeatable.")
@click.option("--replace-templates", is_flag=True, help="Use only the --templates folders.")
@click.option("--seed", type=int, default=None, help="Which records and phrasings (default 42).")
@click.option("--variants", type=int, default=None, help="Phrasings per record and template.")
@click.option("--full", is_flag=True, help="Print whole answers, not the first 160 characters.")
@user_errors
def preview_command(kind, count, paths, maps, full, **settings) -> None:
    """Render a few records through the catalogue and print the questions and answers."""
    from builder.config import SAMPLE_CONFIG
    from schemas import KB_KINDS
    if kind not in KB_KINDS:
        raise UserError(f"--kind {kind}: unknown record kind", remedy=f"use one of: {', '.join(KB_KINDS)}")
    kb = tuple(p if "=" in p else f"{kind}={p}" for p in paths)
    config = assemble(None, kb, (), maps, **settings) if kb else assemble(SAMPLE_CONFIG, (), (), maps, **settings)
    from builder.run.preview import format_preview, preview
    click.echo(format_preview(preview(config, kind, count), None if full else 160))


@main.command("report")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@user_errors
def report_command(out_dir: Path) -> None:
    """(Re)write OUT_DIR/report/: an HTML page with length, source, template and reject plots, and stats.json."""
    from builder.export.report import write_report
    from builder.run.outdir import seal
    _check_build(out_dir)
    index = write_report(out_dir)
    seal(out_dir, added=[p for p in index.parent.rglob("*") if p.is_file()])
    click.echo(f"wrote {index}")


def _check_build(out_dir: Path) -> None:
    """Commands that add to a build take only a folder a build of this tool wrote."""
    from builder.run.outdir import is_our_build
    if not is_our_build(out_dir):
        raise UserError("is not an output of build-instructions (no manifest.json naming the tool)", file=out_dir,
                        remedy="give a folder that `build-instructions build` wrote")


@main.command("formats")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--format", "formats", multiple=True, required=True,
              metavar="NAME", help="A trainer format (`components` lists them); repeatable.")
@click.option("--system-prompt", default=None, help="System turn for the messages format.")
@click.option("--name", default="qizhen-instructions", show_default=True, help="Name in dataset_info.json.")
@user_errors
def formats_command(out_dir: Path, formats: tuple[str, ...], system_prompt: str | None, name: str) -> None:
    """Add trainer formats to an existing build (from its Parquet) and refresh dataset_info.json."""
    from builder.export.dataset_info import write_dataset_info
    from builder.export.formats import choosable_formats, write_from_parquet
    if unknown := [f for f in formats if f not in choosable_formats()]:
        raise UserError(f"--format {unknown[0]}: unknown output format",
                        remedy=f"use one of: {', '.join(choosable_formats())}")
    from builder.run.outdir import seal
    _check_build(out_dir)
    written = [path for paths in write_from_parquet(out_dir, formats, system_prompt).values() for path in paths]
    written.append(write_dataset_info(out_dir, ['alpaca', *formats], name))
    seal(out_dir, added=written)
    for path in written:
        click.echo(f"wrote {path}")
