"""`build-instructions`: one command per job; a user's mistake is one line on stderr and exit code 2.

Each command imports the stages it runs when it runs, so that `--help`, `--version` and a mistyped flag
answer at once instead of loading numba, pyarrow and datasets first.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING

import click

from builder.errors import UserError, machine_error

if TYPE_CHECKING:
    from builder.config import BuildConfig
    from builder.ledger import Ledger
    from builder.pipeline import BuildResult
    from builder.units import Progress

USER_ERROR = 2


def _pair(value: str, flag: str, empty_right: bool = False) -> tuple[str, str]:
    left, sep, right = value.partition("=")
    if not sep or not left.strip() or not (right.strip() or empty_right):
        raise UserError(f"{flag} {value!r} is not of the form LEFT=RIGHT",
                        remedy=f"write e.g. {flag} {_EXAMPLES[flag]}")
    return left.strip(), right.strip()


_EXAMPLES = {"--kb": "drug=drugs.json", "--map": "症状=indications", "--weight": "qa=0.5", "--target": "qa=100000"}


def assemble(
    config_file: Path | None,
    kb: tuple[str, ...],
    qa: tuple[str, ...],
    maps: tuple[str, ...],
    **settings: object,
) -> BuildConfig:
    """The config file (or the embedded sample when nothing is given), with the flags on top."""
    from builder.config import SAMPLE_CONFIG, SAMPLE_OUT, build_config, load_config_file
    from schemas import KB_KINDS, RECORD_MODELS
    if config_file is None and not kb and not qa:
        config_file = SAMPLE_CONFIG
        click.echo(f"no inputs given: using the embedded sample ({SAMPLE_CONFIG})", err=True)
    data = load_config_file(config_file) if config_file else {}
    if config_file == SAMPLE_CONFIG:
        data.setdefault("out", str(SAMPLE_OUT))  # under the current folder, never beside the installed sample
    sources = data.setdefault("sources", [])
    encoding = settings.pop("encoding", None)
    for value in kb:
        kind, path = _pair(value, "--kb")
        if kind not in KB_KINDS:
            raise UserError(f"--kb {value}: unknown record kind '{kind}'",
                            remedy=f"use --kb KIND=PATH with a kind of schemas/: {', '.join(KB_KINDS)}")
        sources.append({"kind": kind, "path": path, **({"encoding": encoding} if encoding else {})})
    for path in qa:
        sources.append({"kind": "qa", "path": path, **({"encoding": encoding} if encoding else {})})
    mapping = data.setdefault("mapping", {})
    for value in maps:
        column, target = _pair(value, "--map", empty_right=True)
        kinds = {s["kind"] for s in sources if isinstance(s, dict) and "kind" in s}
        fitting = [k for k in sorted(kinds) if target in RECORD_MODELS[k].model_fields or target == ""]
        if not fitting:
            raise UserError(f"--map {value}: no source's kind has a field '{target}'",
                            remedy="fields are listed by `build-instructions fields`")
        for kind in fitting:
            mapping.setdefault(kind, {})[column] = target
    _quality_flags(data, settings)
    data["templates"] = [*data.get("templates", []), *map(str, settings.pop("templates", None) or ())]
    if settings.pop("replace_templates", False):
        data["replace_templates"] = True
    if settings.get("split"):
        settings["split"] = {**data.get("split", {}), **_split(str(settings["split"]))}
    if settings.get("group_by"):
        data.setdefault("split", {})["group_by"] = settings.pop("group_by")
    data.update({k: v for k, v in settings.items() if v is not None})
    return build_config(data, str(config_file or "command line"))


def _quality_flags(data: dict, settings: dict) -> None:
    """Routes the quality flags into the config's sections; per-source flags name the source."""
    eval_sets, mark = settings.pop("eval_sets", ()), settings.pop("mark_contaminated", False)
    if eval_sets or mark:
        section = data.setdefault("decontamination", {})
        section["eval_sets"] = [*section.get("eval_sets", []), *map(str, eval_sets)]
        section["mode"] = "mark" if mark else section.get("mode", "remove")
    threshold = settings.pop("near_threshold", None)
    no_near, no_pii = settings.pop("no_near_dup", False), settings.pop("no_pii", False)
    if threshold is not None or no_near:
        dedup = data.setdefault("dedup", {})
        dedup.update({"near": not no_near} | ({"threshold": threshold} if threshold is not None else {}))
    if no_pii:
        data["pii"] = {"qa": False, "records": False}
    if extra := settings.pop("extra_filters", ()):
        section = data.setdefault("filters", {})
        section["extra"] = [*section.get("extra", []), *extra]
    if prefer := settings.pop("prefer", ()):
        data["prefer"] = list(prefer)
    names = {s.get("name") or Path(s["path"]).stem: s for s in data.get("sources", [])}
    for flag, key, cast in (("weights", "weight", float), ("targets", "target", int)):
        for value in settings.pop(flag, ()):
            name, amount = _pair(value, f"--{key}")
            if name not in names:
                raise UserError(f"--{key} {value}: no source named '{name}'",
                                remedy=f"sources are: {', '.join(names) or '(none)'}")
            try:
                names[name][key] = cast(amount)
            except ValueError as exc:
                raise UserError(f"--{key} {value}: '{amount}' is not a number", remedy=f"write e.g. --{key} "
                                f"{_EXAMPLES['--' + key]}") from exc


def _split(value: str) -> dict[str, float]:
    try:
        train, validation, test = (float(x) for x in value.split(","))
    except ValueError as exc:
        raise UserError(f"--split {value!r} needs three numbers", remedy="write e.g. --split 0.9,0.05,0.05") from exc
    return {"train": train, "validation": validation, "test": test}


def input_options(command: Callable) -> Callable:
    """The options every command that reads inputs shares."""
    options = [
        click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config (see README)."),
        click.option("--kb", multiple=True, metavar="KIND=PATH",
                     help="A knowledge-base file; KIND is a record kind (drug, disease, …; see `fields`)."),
        click.option("--qa", multiple=True, metavar="PATH", help="A QA file (CSV, JSONL, ShareGPT, Alpaca)."),
        click.option("--map", "maps", multiple=True, metavar="SOURCE_FIELD=FIELD",
                     help="Map a source field to a schema field (empty FIELD drops it)."),
        click.option("--encoding", default=None, help="Encoding of the --kb/--qa files (detected when unset)."),
        click.option("--templates", multiple=True, type=click.Path(path_type=Path, file_okay=False),
                     help="A catalogue folder added to the shipped one (a template with a shipped id replaces it); "
                          "repeatable."),
        click.option("--replace-templates", is_flag=True,
                     help="Use only the --templates folders, not the shipped catalogue."),
        click.option("--seed", type=int, default=None, help="Seed for phrasing choice, shuffle and split."),
        click.option("--variants", type=int, default=None, help="Phrasings per record and template (default 1)."),
        click.option("--eval-set", "eval_sets", multiple=True, type=click.Path(path_type=Path),
                     help="An evaluation set to keep out of training (entities and text); repeatable."),
        click.option("--mark-contaminated", is_flag=True, help="Only list rows that overlap an evaluation set."),
        click.option("--prefer", multiple=True, metavar="SOURCE", help="Source whose copy survives dedup; repeatable."),
        click.option("--weight", "weights", multiple=True, metavar="SOURCE=W", help="Keep/repeat a source's records."),
        click.option("--target", "targets", multiple=True, metavar="SOURCE=N", help="About N rows from a source."),
        click.option("--near-threshold", type=float, default=None, help="Near-duplicate Jaccard threshold (0.8)."),
        click.option("--no-near-dup", is_flag=True, help="Skip near-duplicate removal."),
        click.option("--no-pii", is_flag=True, help="Skip PII scrubbing."),
        click.option("--filter", "extra_filters", multiple=True, metavar="NAME",
                     help="Also run an installed plug-in quality filter (`components` lists them); repeatable."),
        click.option("--group-by", type=click.Choice(["entity", "record"]), default=None,
                     help="Keep all rows of an entity (default) or of a record in one split."),
        click.option("--quiet", is_flag=True, help="No progress bars or summary."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def user_errors(command: Callable) -> Callable:
    """Turns a UserError into one line on stderr and exit code 2, instead of a traceback."""
    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(USER_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted: the previous output is untouched", err=True)
            sys.exit(130)
        except Exception as exc:
            error = machine_error(exc)
            if error is None:
                raise
            click.echo(f"error: {error}", err=True)
            sys.exit(USER_ERROR)
    return wrapper


def tqdm_progress(quiet: bool) -> Progress:
    """A tqdm bar per source on a terminal; nothing with --quiet or when stderr is not a terminal."""
    from tqdm import tqdm

    from builder.units import no_progress
    if quiet or not sys.stderr.isatty():
        return no_progress

    def start(name: str) -> Callable[[int], None]:
        bar = tqdm(desc=name, unit=" rec", leave=True)
        return lambda n: bar.update(n) if n else bar.refresh()

    return start


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qizhen-instructions")
def main() -> None:
    """Build instruction-tuning datasets from medical knowledge bases and doctor–patient QA."""


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
    from builder.pipeline import build
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


@main.command("validate")
@input_options
@click.option("--ledger", "folder", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also write rejects.jsonl (and removed_rows.jsonl, marked.jsonl) into this folder.")
@user_errors
def validate_command(config_file, kb, qa, maps, quiet, folder, **settings) -> None:
    """Check inputs and print the ledger, without writing a dataset (near duplicates and mixing need a build)."""
    from builder.pipeline import dry_run
    config = assemble(config_file, kb, qa, maps, **settings)
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    result = dry_run(config, tqdm_progress(quiet), folder)
    _print_summary(result)


def _print_summary(result: BuildResult) -> None:
    """The ledger per source and the per-template coverage, as plain aligned text."""
    click.echo(ledger_table(result.ledger))
    if result.coverage:
        click.echo("\n" + coverage_table(result))


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


@main.command("fields")
@click.argument("kind", required=False)
@user_errors
def fields_command(kind: str | None) -> None:
    """List each kind's schema fields (or KIND's) and the source field names mapped to them by default."""
    from builder.fields import ALIASES, REQUIRED
    from schemas import RECORD_MODELS
    if kind is not None and kind not in RECORD_MODELS:
        raise UserError(f"unknown record kind '{kind}'", remedy=f"use one of: {', '.join(sorted(RECORD_MODELS))}")
    for name in [kind] if kind else sorted(RECORD_MODELS):
        click.echo(f"[{name}]  required: {', '.join(REQUIRED[name])}")
        for field, aliases in ALIASES[name].items():
            click.echo(f"  {field:<24}{'、'.join(a for a in aliases if a != field)}")


@main.command("components")
def components_command() -> None:
    """List what a build can use: record kinds, quality filters and output formats, plug-ins' included."""
    from builder.filters import known_filters
    from builder.formats import choosable_formats
    from schemas import RECORD_MODELS
    for title, names in (("kinds", RECORD_MODELS), ("filters", known_filters()), ("formats", choosable_formats())):
        click.echo(f"{title + ':':<10}{', '.join(names)}")


@main.group("templates")
def templates_group() -> None:
    """Work with template catalogues."""


@templates_group.command("lint")
@click.argument("path", required=False, type=click.Path(path_type=Path), default=None)
@user_errors
def lint_command(path: Path | None) -> None:
    """Check a catalogue file or folder (default: the shipped templates/); one line per problem."""
    from builder.catalogue import lint
    from builder.config import SHIPPED_TEMPLATES
    folder = path or SHIPPED_TEMPLATES
    count, problems = lint(folder)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {folder}", err=True)
        sys.exit(1)
    click.echo(f"ok: {count} templates in {folder}")


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
    from builder.preview import format_preview, preview
    click.echo(format_preview(preview(config, kind, count), None if full else 160))


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
              help="Evaluation CSV in QiZhen's layout; a .jsonl with gold lists is written beside it.")
@user_errors
def eval_build_command(kb, maps, count, seed, out) -> None:
    """Sample entities (seeded) and write their questions, reference texts and gold lists."""
    config = assemble(None, kb, (), maps, seed=seed)
    from builder.evalbuild import sample_items, write_eval
    items = sample_items(config, count)
    for path in write_eval(items, out):
        click.echo(f"wrote {path}")
    kinds = {kind: sum(1 for i in items if i.kind == kind) for kind in dict.fromkeys(i.kind for i in items)}
    click.echo(f"{', '.join(f'{n} {kind}' for kind, n in kinds.items())} questions; "
               f"give {out} to a build with --eval-set to hold these entities out of training")


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
    from builder.evalsets import load_eval_set
    from builder.score import format_table, load_synonyms, read_answers, score, write_audit_csv
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
    from builder.evalsets import load_eval_set
    from builder.extract import measure_extraction
    figures = measure_extraction(load_eval_set(eval_path).items)
    click.echo(f"{figures['items']} items, {figures['gold']} gold labels, {figures['extracted']} extracted phrases")
    click.echo(f"{'match':<12}{'precision':>10}{'recall':>10}{'F1':>10}")
    for match in ("exact", "normalised"):
        row = figures[match]
        click.echo(f"{match:<12}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}")


@main.command("report")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@user_errors
def report_command(out_dir: Path) -> None:
    """(Re)write OUT_DIR/report/: an HTML page with length, source, template and reject plots, and stats.json."""
    from builder.outdir import seal
    from builder.report import write_report
    _check_build(out_dir)
    index = write_report(out_dir)
    seal(out_dir, added=[p for p in index.parent.rglob("*") if p.is_file()])
    click.echo(f"wrote {index}")


def _check_build(out_dir: Path) -> None:
    """Commands that add to a build take only a folder a build of this tool wrote."""
    from builder.outdir import is_our_build
    if not is_our_build(out_dir):
        raise UserError("is not an output of build-instructions (no manifest.json naming the tool)", file=out_dir,
                        remedy="give a folder that `build-instructions build` wrote")


@main.command("push")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--repo-id", default=None, metavar="ORG/NAME",
              help="Dataset repository on a hub (token: --token, else HF_TOKEN, else the one `hf auth login` saved).")
@click.option("--url", default=None, metavar="URL",
              help="Or any fsspec URL: s3://bucket/prefix (AWS credentials and AWS_ENDPOINT_URL as usual), a folder.")
@click.option("--private", is_flag=True, help="Create the repository private.")
@click.option("--revision", default=None, help="Branch to push to (created when missing).")
@click.option("--endpoint", default=None, help="A self-hosted hub's address (default: HF_ENDPOINT or huggingface.co).")
@click.option("--token", default=None, metavar="TOKEN",
              help="A hub write token; never printed. Shell history and the process list show it: prefer "
                   "`hf auth login` or HF_TOKEN.")
@user_errors
def push_command(out_dir, repo_id, url, private, revision, endpoint, token) -> None:
    """Publish a build: every split's Parquet shards and the dataset card (with --url also a path-free copy of
    manifest.json); stale shards are removed. Nothing published names this machine's folders."""
    if bool(repo_id) == bool(url):
        raise UserError("give exactly one of --repo-id and --url", remedy="e.g. --repo-id my-org/qizhen or --url s3://b/p")
    from builder.publish import publish_to_url, push_to_hub
    if repo_id:
        click.echo(push_to_hub(out_dir, repo_id, private=private, revision=revision, endpoint=endpoint, token=token))
        return
    for path in publish_to_url(out_dir, url):
        click.echo(path)


@main.command("formats")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--format", "formats", multiple=True, required=True,
              metavar="NAME", help="A trainer format (`components` lists them); repeatable.")
@click.option("--system-prompt", default=None, help="System turn for the messages format.")
@click.option("--name", default="qizhen-instructions", show_default=True, help="Name in dataset_info.json.")
@user_errors
def formats_command(out_dir: Path, formats: tuple[str, ...], system_prompt: str | None, name: str) -> None:
    """Add trainer formats to an existing build (from its Parquet) and refresh dataset_info.json."""
    from builder.formats import choosable_formats, write_dataset_info, write_from_parquet
    if unknown := [f for f in formats if f not in choosable_formats()]:
        raise UserError(f"--format {unknown[0]}: unknown output format",
                        remedy=f"use one of: {', '.join(choosable_formats())}")
    from builder.outdir import seal
    _check_build(out_dir)
    written = [path for paths in write_from_parquet(out_dir, formats, system_prompt).values() for path in paths]
    written.append(write_dataset_info(out_dir, ['alpaca', *formats], name))
    seal(out_dir, added=written)
    for path in written:
        click.echo(f"wrote {path}")
