"""What the commands share: the input options, how flags and a config file become one BuildConfig, the
one-line form of a user's mistake, and the progress bars."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from builder.errors import UserError, machine_error

if TYPE_CHECKING:
    from builder.config import BuildConfig
    from builder.run.units import Progress

USER_ERROR = 2


def _pair(value: str, flag: str, empty_right: bool = False) -> tuple[str, str]:
    left, sep, right = value.partition("=")
    if not sep or not left.strip() or not (right.strip() or empty_right):
        raise UserError(f"{flag} {value!r} is not of the form LEFT=RIGHT",
                        remedy=f"write e.g. {flag} {_EXAMPLES[flag]}")
    return left.strip(), right.strip()


_EXAMPLES = {"--kb": "drug=drugs.json", "--map": "症状=indications", "--weight": "qa=0.5", "--target": "qa=100000",
             "--type-weight": "grounded=0.5", "--type-target": "grounded=1000"}


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
    _type_flags(data, settings)
    for flag in ("strip", "drop"):  # cleaning patterns for every source, after the config file's
        if patterns := cast(tuple[str, ...], settings.pop(flag, ())):
            data.setdefault("clean", {})[flag] = [*data.get("clean", {}).get(flag, []), *patterns]
    data["templates"] = [*data.get("templates", []), *map(str, cast(tuple[Path, ...], settings.pop("templates", None) or ()))]
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
    if mode := settings.pop("pii_mode", None):
        data.setdefault("pii", {})["mode"] = mode
    tokens = {key: value for key, value in (("tokenizer", settings.pop("tokenizer", None)),
                                            ("pattern", settings.pop("tokenizer_pattern", None)),
                                            ("max_tokens", settings.pop("max_tokens", None)),
                                            ("pretokenize", settings.pop("pretokenize", None) or None)) if value is not None}
    if tokens:
        data["tokens"] = {**data.get("tokens", {}), **{k: str(v) if isinstance(v, Path) else v for k, v in tokens.items()}}
    if chat := settings.pop("chat_templates", ()):
        data["chat_templates"] = [*data.get("chat_templates", []), *chat]
    if extra := settings.pop("extra_filters", ()):
        section = data.setdefault("filters", {})
        section["extra"] = [*section.get("extra", []), *extra]
    if prefer := settings.pop("prefer", ()):
        data["prefer"] = list(prefer)
    names = {s.get("name") or Path(s["path"]).stem: s for s in data.get("sources", [])}
    _mix_flags(settings, ("weights", "targets"), "--", names, "no source named '{}'",
               f"sources are: {', '.join(names) or '(none)'}")


def _mix_flags(settings: dict, flags: tuple[str, str], prefix: str, holders: dict[str, dict], unknown: str,
               remedy: str) -> None:
    """NAME=W weights and NAME=N targets (the flags `prefix` + weight/target) into each named holder's settings."""
    for flag, key, parse in ((flags[0], "weight", float), (flags[1], "target", int)):
        for value in settings.pop(flag, ()):
            name, amount = _pair(value, f"{prefix}{key}")
            if name not in holders:
                raise UserError(f"{prefix}{key} {value}: {unknown.format(name)}", remedy=remedy)
            try:
                holders[name][key] = parse(amount)
            except ValueError as exc:
                raise UserError(f"{prefix}{key} {value}: '{amount}' is not a number",
                                remedy=f"write e.g. {prefix}{key} {_EXAMPLES[prefix + key]}") from exc


def _type_flags(data: dict, settings: dict) -> None:
    """--types (a list, or `all`) and each type's mix (--type-weight, --type-target) into the config's `types`."""
    from builder.expand.types import type_names
    given = data.get("types") or {"single": {}}
    if listed := settings.pop("types", None):
        names = type_names() if listed == "all" else ["single", *(n.strip() for n in listed.split(",") if n.strip())]
        given = {name: given.get(name, {}) for name in dict.fromkeys(names)}
    given = {name: dict(mix) for name, mix in given.items()}
    _mix_flags(settings, ("type_weights", "type_targets"), "--type-", given, "type '{}' is not enabled",
               f"enable it with --types (enabled: {', '.join(given)})")
    data["types"] = given


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
        click.option("--pii-mode", type=click.Choice(["placeholder", "fake"]), default=None,
                     help="Replace PII by typed placeholders (default) or by fakes of the same shape."),
        click.option("--strip", multiple=True, metavar="PATTERN",
                     help="Remove this regular expression (RE2) from every text value of every source; repeatable."),
        click.option("--drop", multiple=True, metavar="PATTERN",
                     help="Reject every record any text value of which matches this regular expression; repeatable."),
        click.option("--filter", "extra_filters", multiple=True, metavar="NAME",
                     help="Also run an installed plug-in quality filter (`components` lists them); repeatable."),
        click.option("--tokenizer", type=click.Path(path_type=Path), default=None,
                     help="Count tokens with this tokenizer: a tokenizer.json or its model folder, or a .tiktoken file."),
        click.option("--tokenizer-pattern", default=None, metavar="REGEX",
                     help="The split regex of a .tiktoken file (default: Qwen's)."),
        click.option("--max-tokens", type=click.IntRange(min=1), default=None, metavar="N",
                     help="Drop rows whose prompt and answer hold more than N tokens (needs --tokenizer)."),
        click.option("--chat-template", "chat_templates", multiple=True, metavar="NAME|FILE.toml",
                     help="Render every exported row in this chat template and check its loss mask (shipped: "
                          "chatml, qwen3, qwen3_nothink, llama3, glm4); repeatable."),
        click.option("--pretokenize", is_flag=True, default=None,
                     help="Also write pretokenized/ (input_ids, labels with the prompt masked) with --tokenizer under "
                          "the first --chat-template."),
        click.option("--types", default=None, metavar="TYPE,…|all",
                     help="Instruction types to build besides single: grounded, consultation, choice, preference, "
                          "reverse (those a catalogue declares), or all."),
        click.option("--type-weight", "type_weights", multiple=True, metavar="TYPE=W",
                     help="Keep this share of a type's rows (>1 repeats them); repeatable."),
        click.option("--type-target", "type_targets", multiple=True, metavar="TYPE=N",
                     help="About N rows of a type; repeatable."),
        click.option("--group-by", type=click.Choice(["entity", "record"]), default=None,
                     help="Keep all rows of an entity (default) or of a record in one split."),
        click.option("--quiet", is_flag=True, help="No progress bars or summary."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def tqdm_progress(quiet: bool) -> Progress:
    """A tqdm bar per source on a terminal; nothing with --quiet or when stderr is not a terminal."""
    from tqdm import tqdm

    from builder.run.units import no_progress
    if quiet or not sys.stderr.isatty():
        return no_progress

    def start(name: str) -> Callable[[int], None]:
        bar = tqdm(desc=name, unit=" rec", leave=True)
        return lambda n: bar.update(n) if n else bar.refresh()

    return start


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
