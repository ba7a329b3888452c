"""Evaluation commands: build an evaluation set from a knowledge base, score answers, measure extraction."""

from __future__ import annotations

import json
from pathlib import Path

import click

from builder.cli import main
from builder.cli.options import assemble, user_errors
from builder.errors import UserError


@main.group("eval")
def eval_group() -> None:
    """Build evaluation sets from a knowledge base and score model answers by QiZhen's three criteria."""


@eval_group.command("build")
@click.option("--kb", multiple=True, required=True, metavar="KIND=PATH",
              help="Knowledge base: KIND=PATH (drug, disease, …).")
@click.option("--map", "maps", multiple=True, metavar="SOURCE_FIELD=FIELD", help="Map a source field to a field.")
@click.option("--n", "count", type=int, default=100, show_default=True, help="Entities per kind.")
@click.option("--seed", type=int, default=None, help="Which entities (default 42).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Evaluation CSV in QiZhen's layout, the extracted lists under 自动抽取的适应病症 beside the label "
              "text to review them against; a .jsonl with gold lists is written beside it.")
@user_errors
def eval_build_command(kb, maps, count, seed, out) -> None:
    """Sample entities (seeded) and write their questions, reference texts and gold lists (extracted, not expert)."""
    config = assemble(None, kb, (), maps, seed=seed)
    from builder.eval.build import sample_items, write_eval
    items = sample_items(config, count)
    written = write_eval(items, out)
    for path in written:
        click.echo(f"wrote {path}")
    kinds = {kind: sum(1 for i in items if i.kind == kind) for kind in dict.fromkeys(i.kind for i in items)}
    click.echo(f"{', '.join(f'{n} {kind}' for kind, n in kinds.items())} questions; give {written[-1]} (every "
               "kind's items) to a build with --eval-set to hold these entities out of training")


@eval_group.command("score")
@click.option("--eval", "eval_path", type=click.Path(path_type=Path), required=True, help="The evaluation set.")
@click.option("--answers", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Model answers: JSONL (instruction, output) or CSV (instruction or 药品, output); repeatable.")
@click.option("--model", "models", multiple=True, help="A name per --answers file (default: the file name).")
@click.option("--synonyms", type=click.Path(path_type=Path), default=None, help="Extra synonyms (TOML or CSV).")
@click.option("--audit", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Per-item CSV of hits and misses (default: beside the first answers file).")
@click.option("--json", "as_json", is_flag=True, help="Print {n, criterion_1, criterion_2, criterion_3} instead.")
@user_errors
def eval_score_command(eval_path, answers, models, synonyms, audit, as_json) -> None:
    """Score answers: criterion 1 hits ≥ 1 gold indication, 2 hits ≥ 1/2 of them, 3 hits ≥ 2/3."""
    if models and len(models) != len(answers):
        raise UserError(f"{len(models)} --model names for {len(answers)} --answers files", remedy="give one per file")
    from builder.eval.answers import read_answers
    from builder.eval.match import load_synonyms
    from builder.eval.score import format_table, score, write_audit_csv
    from builder.eval.sets import load_eval_set
    eval_set = load_eval_set(eval_path)
    table = load_synonyms(synonyms)
    results = [
        score(eval_set, read_answers(path, eval_set), name, table)
        for path, name in zip(answers, models or [p.stem for p in answers], strict=True)
    ]
    audit = audit or answers[0].with_name(f"{answers[0].stem}.audit.csv")
    write_audit_csv(results, audit)
    if as_json:
        summaries = [result.summary() for result in results]
        click.echo(json.dumps(summaries[0] if len(summaries) == 1 else summaries, ensure_ascii=False))
        return
    click.echo(format_table(results))
    click.echo(f"\nper-item audit: {audit}")


@eval_group.command("extraction")
@click.option("--eval", "eval_path", type=click.Path(path_type=Path), required=True,
              help="An evaluation set with reference texts and expert gold labels (QiZhen's CSV).")
@user_errors
def eval_extraction_command(eval_path) -> None:
    """Measure indication extraction against expert labels: precision, recall, F1 (exact and normalised)."""
    from builder.eval.extract import measure_extraction
    from builder.eval.sets import AUTOMATIC_GOLD, load_eval_set
    eval_set = load_eval_set(eval_path)
    if eval_set.gold_column is None or not any(item.gold for item in eval_set.items):
        raise UserError("no gold labels to measure extraction against", file=eval_path,
                        remedy="give an evaluation set with expert labels, such as QiZhen's 医学专家标注的适应病症 column")
    if eval_set.gold_column in AUTOMATIC_GOLD:
        raise UserError(f"the {eval_set.gold_column} column was extracted by this tool: measuring extraction against it "
                        "measures it against itself", file=eval_path,
                        remedy="give an evaluation set with expert labels, such as QiZhen's 医学专家标注的适应病症 column")
    figures = measure_extraction(eval_set.items)
    click.echo(f"{figures['items']} items, {figures['gold']} gold labels, {figures['extracted']} extracted phrases")
    click.echo(f"{'match':<12}{'precision':>10}{'recall':>10}{'F1':>10}")
    for match in ("exact", "normalised"):
        row = figures[match]
        click.echo(f"{match:<12}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}")
