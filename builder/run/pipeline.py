"""The pipeline: read → clean → validate → expand → quality in units, then mix → split → export.

Units (see `builder.run.units`) run here, in worker processes or on Dask, and leave their rows in Arrow
spool files in the build's temporary folder; they are merged in source preference order, then shard
order, so the result never depends on how the work was divided. Only the stages that need every row
(duplicates, mixing, the shuffle) read the spool back, batch by batch. Logic lives in the stage
modules; this module only wires them together and does the I/O.
"""

import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder import __version__
from builder.config import BuildConfig, SourceConfig
from builder.errors import UserError
from builder.expand.expander import Expander
from builder.export.card import write_card
from builder.export.chat import MaskChecks, chat_report, load_chat_template
from builder.export.dataset_info import write_dataset_info
from builder.export.formats import open_writers
from builder.export.report import Tally, write_report
from builder.export.shards import OutputShard, prepare_bucket, sha256_file, shard_rows, write_hf
from builder.export.trainers import setting, write_trainers
from builder.ledger import Drop, Ledger
from builder.mix.shuffle import route, spool_batches, spooled_column
from builder.mix.split import GROUP_KEY, split_bounds
from builder.mix.types import mix_types, strays
from builder.mix.weights import copies_per_row
from builder.quality.decontaminate import write_contamination
from builder.quality.duplicates import Dropped
from builder.quality.stage import Quality
from builder.quality.tokens import load_tokenizer, token_report
from builder.read import Detected, detect
from builder.rows import POSITION, SINGLE, TOKEN_COLUMNS
from builder.run.execute import Executor, executor_for, shards_per_source
from builder.run.outdir import SIGNATURE, check_output, prepare_output, publish_atomically, seal
from builder.run.units import (
    Progress,
    Run,
    UnitResult,
    catalogue_for,
    expanders_for,
    no_progress,
    plan_units,
    run_source,
    run_unit,
)
from builder.validate.fields import field_advice, require_fields

Bounds = list[tuple[str, int]]


@dataclass
class BuildResult:
    """What a build or a dry run found: the ledger, coverage, and (for a build) the manifest."""

    ledger: Ledger
    coverage: dict[str, dict]
    manifest: dict = field(default_factory=dict)
    stages: dict[str, tuple[float, float]] = field(default_factory=dict)  # wall and CPU seconds per stage


class Stopwatch:
    """Wall and CPU seconds per stage of a build, so a user sees where the time goes. CPU counts this process
    and, with `children`, the worker processes that have ended: a local pool lives for one stage. A Dask
    cluster's workers end with the build, so they are left out rather than charged to its last stage."""

    def __init__(self, children: bool) -> None:
        self.stages: dict[str, tuple[float, float]] = {}
        self.children = children
        self._last = self._clock()

    def lap(self, stage: str) -> None:
        """Charges the time since the last lap to `stage`."""
        now = self._clock()
        self.stages[stage] = (now[0] - self._last[0], now[1] - self._last[1])
        self._last = now

    def _clock(self) -> tuple[float, float]:
        cpu = os.times()
        ended = cpu.children_user + cpu.children_system if self.children else 0.0
        return time.perf_counter(), cpu.user + cpu.system + ended


def build(config: BuildConfig, progress: Progress = no_progress, command: list[str] | None = None) -> BuildResult:
    """Runs every stage and swaps the finished dataset into `config.out`."""
    watch = Stopwatch(children=config.engine != "dask")
    out = check_output(config.out, [s.path for s in config.sources] + config.decontamination.eval_sets
                       + config.templates)
    catalogue = catalogue_for(config)
    tokens = config.tokens
    tokenizer = load_tokenizer(tokens.tokenizer, tokens.pattern).name if tokens.tokenizer else None  # fails early
    chat = [load_chat_template(name) for name in config.chat_templates]  # fails early too
    tmp = prepare_output(out)
    try:
        ledger = Ledger(tmp)
        run = Run(config, expanders_for(config, catalogue), Quality(config), ledger, progress)
        detected = {s.name: detect(s) for s in config.by_preference()}
        run.position_kinds.update({name: d.position_kind for name, d in detected.items()})
        units = plan_units(config, detected, shards_per_source(config))
        watch.lap("set up")
        with executor_for(config) as executor:
            results = executor.map(run_unit, [(config, unit, detected, tmp / "units") for unit in units])
            inputs = [_input(s, detected[s.name]) for s in config.by_preference()]  # while the workers read
            spool = _merge(results, run)
            require_sources_fields(config, ledger)
            watch.lap("read → quality")
            copies, dropped, settled, bounds = _settle(spool, run)
            if tokenizer:
                settled["tokens"] = token_report(tokenizer, tokens.max_tokens, spool_batches(
                    spool, ["source", "template_id", *TOKEN_COLUMNS]), copies)
            watch.lap("duplicates, mixing")

            def account() -> None:  # while the workers export
                _account(spool, dropped, settled, run)
                ledger.close()

            splits, digests, tally, masks = _export(spool, run, tmp, copies, executor, account, bounds)
            settled.update(chat_report(chat, masks) if chat else {})
        watch.lap("export")
        if not sum(splits.values()) and not config.allow_empty:
            raise empty_build(ledger)
        shutil.rmtree(tmp / "units")
        if config.decontamination.eval_sets:
            write_contamination(tmp)
        coverage = _coverage(run.expanders, config, ledger)
        types = {"enabled": list(config.types), "rows": settled.pop("types", {}), "made": run.made}
        quality = {**run.quality.manifest(), **settled}
        quality["trainers"] = write_trainers(tmp, setting(config, quality, splits))
        manifest = _manifest(config, catalogue, ledger, coverage, quality, inputs, splits, tmp, command, digests)
        manifest["types"] = types
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        write_card(manifest, tmp, config.license, config.name)
        if config.report:
            write_report(tmp, tally)
        seal(tmp)
        publish_atomically(tmp, out)
        watch.lap("manifest, report")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(ledger, coverage, manifest, watch.stages)


def require_sources_fields(config: BuildConfig, ledger: Ledger) -> None:
    """Each source whose records reached the field mapping supplies every required field somewhere."""
    for source in config.sources:
        counts = ledger.counts(source.name)
        if counts.fields or counts.unmapped_columns:
            require_fields(source.kind, counts.fields, list(counts.unmapped_columns), str(source.path))


def empty_build(ledger: Ledger) -> UserError:
    """A build with no rows is a mistake (wrong files, a mapping that matches nothing) unless asked for."""
    sources = ledger.to_json()
    reasons: dict[str, int] = {}
    for counts in sources.values():
        for reason, n in counts["rejected_by_reason"].items():
            reasons[reason] = reasons.get(reason, 0) + n
    top = ", ".join(f"{r} {n}" for r, n in sorted(reasons.items(), key=lambda x: -x[1])[:3]) or "none"
    read = sum(c["read"] for c in sources.values())
    return UserError(f"the build has no rows ({read} records read; top reject reasons: {top}); the previous output "
                     "is untouched", remedy="check the inputs with `build-instructions validate --ledger DIR`, or "
                     "pass --allow-empty to write an empty dataset")


def dry_run(
    config: BuildConfig,
    progress: Progress = no_progress,
    folder: Path | None = None,
    emit: Callable[[pa.Table], None] = lambda _rows: None,
) -> BuildResult:
    """read → clean → validate → expand → quality with the full ledger, writing no dataset; rows go to `emit`.

    Near duplicates and mixing need the whole build, so a dry run stops short of them.
    """
    config = config.model_copy(update={"dedup": config.dedup.model_copy(update={"near": False})})
    ledger = Ledger(folder)
    run = Run(config, expanders_for(config, catalogue_for(config)), Quality(config), ledger, progress)
    for source in config.by_preference():
        run_source(source, detect(source), run, emit)
    require_sources_fields(config, ledger)
    ledger.close()
    return BuildResult(ledger, _coverage(run.expanders, config, ledger))


def _merge(results: Iterable[UnitResult], run: Run) -> list[Path]:
    """Folds the units' results into the run in source preference order, then shard order, as if one process
    had read every source in turn; returns the spool files in that order."""
    advance, collected = run.progress("read → quality"), []
    for result in results:
        collected.append(result)
        advance(sum(part.counts.read for part in result.parts))
    parts = sorted((part for result in collected for part in result.parts),
                   key=lambda part: (run.ranks[part.source], part.index))
    for part in parts:
        run.ledger.absorb(part.source, part.counts, part.folder)
        run.quality.duplicates.load(part.folder, run.spooled)
        run.spooled += part.rows
        run.text_bytes += part.text_bytes
    for result in collected:
        run.made.update(result.types)
        run.quality.report.add(result.report)
        for kind, (records, tallies) in result.coverage.items():
            run.expanders[kind].absorb(records, tallies)
    return [part.folder / "rows.arrow" for part in parts]


def _input(source: SourceConfig, detected: Detected) -> dict:
    """What the manifest says about one input file."""
    return {
        "source": source.name,
        "kind": source.kind,
        "path": str(source.path),
        "sha256": sha256_file(source.path),
        "bytes": source.path.stat().st_size,
        "container": detected.container,
        "encoding": detected.encoding,
        "license": source.license,
    }


def _coverage(expanders: dict[str, Expander], config: BuildConfig, ledger: Ledger) -> dict[str, dict]:
    """Coverage per template; `no_source_has` names required fields no source of the kind maps at all."""
    coverage = {}
    for kind, expander in expanders.items():
        provided = {f for s in config.sources if s.kind == kind for f in ledger.counts(s.name).fields}
        for entry in expander.entries:
            tally = expander.coverage_json()[entry.id]
            coverage[entry.id] = {**tally, "no_source_has": [f for f in entry.requires if f not in provided]}
    return coverage


def _settle(spool: list[Path], run: Run) -> tuple[np.ndarray, Dropped, dict, Bounds | None]:
    """The stages that need every row: duplicates, then mixing (by source, then by type), then the split rule of
    rows that show other entities. Returns copies per spooled row, the rows dropped (with why, and the row kept
    instead), the report, and the split bounds when that rule fixed them."""
    config = run.config
    dropped, report = run.quality.duplicates.resolve()
    mask = np.zeros(run.spooled, bool)
    mask[list(dropped)] = True
    if any(s.weight is not None or s.target is not None for s in config.sources):
        copies, report["mixing"] = copies_per_row(spool_batches(spool, ["source", "record_id"]),
                                                  config.sources, config.seed, mask)
        for index in np.flatnonzero((copies == 0) & ~mask).tolist():
            dropped[index] = (Drop(stage="mix", reason="downsampled"), None)
    else:
        copies = (~mask).astype(np.int32)
    bounds = None
    if len(config.types) > 1 or any(m.weight is not None or m.target is not None for m in config.types.values()):
        report["types"], report["type_repeats"] = mix_types(spool, copies, config.types, dropped)
        kept = spooled_column(spool, GROUP_KEY)[copies > 0]
        if len(kept):
            bounds = split_bounds(pa.array(kept, pa.uint64()), config.split.fractions())
            report["companion_in_other_split"] = strays(spool, copies, bounds, config.seed, dropped)
    return copies, dropped, report, bounds


def _account(spool: list[Path], dropped: Dropped, report: dict, run: Run) -> None:
    """The ledger side of settling: entries for the dropped rows, and rows added or removed by mixing."""
    if dropped:
        _account_dropped(spool, dropped, run)
    for name, mixed in report.get("mixing", {}).items():
        run.ledger.counts(name).rows += mixed["rows_after"] - mixed["rows_before"]
    for name, added in report.pop("type_repeats", {}).items():
        run.ledger.counts(name).rows += added


def _account_dropped(spool: list[Path], dropped: Dropped, run: Run) -> None:
    """Ledger entries for rows dropped after spooling: a record that loses every row is rejected,
    else its lost rows are listed. A record's rows are found by source and position wherever they sit (its single
    rows in its source's part, the richer types' rows in the part after it)."""
    names = pa.array([source.name for source in run.config.sources])
    keys = []  # per row, its record as one number: the source's index, then the position
    for batch in spool_batches(spool, ["source", POSITION]):
        code = pc.index_in(batch.column(0), value_set=names).to_numpy().astype(np.int64)
        keys.append((code << 40) | batch.column(1).to_numpy())
    _, record = np.unique(np.concatenate(keys), return_inverse=True)  # a record's rows may sit in two parts
    lost = np.array(sorted(dropped), np.int64)
    whole = np.bincount(record[lost], minlength=record.max() + 1) == np.bincount(record)
    survivors = np.array(sorted({kept for _, kept in dropped.values() if kept is not None}), np.int64)
    ids = dict(zip(survivors.tolist(), (row["record_id"] for row in _rows_at(spool, survivors, ["record_id"])),
                   strict=True))
    columns = ["source", "record_id", "template_id", "variant", POSITION]
    rejected: set[int] = set()
    for index, row in zip(lost.tolist(), _rows_at(spool, lost, columns), strict=True):
        source = run.sources[row["source"]]
        counts = run.ledger.counts(source.name)
        drop, kept = dropped[index]
        entry = drop.at(source=source.name, file=str(source.path), position=row[POSITION],
                        position_kind=run.position_kinds[source.name], record_id=row["record_id"],
                        duplicate_of=ids.get(kept) if kept is not None else None, template_id=row["template_id"],
                        variant=row["variant"])
        counts.rows -= 1
        if not whole[record[index]]:
            run.ledger.remove_row(entry)
        elif record[index] not in rejected:
            rejected.add(record[index])
            counts.kept -= 1
            run.ledger.reject(entry)


def _rows_at(spool: list[Path], indices: np.ndarray, columns: list[str]) -> Iterator[dict]:
    """The spooled rows at the given (sorted) indices, as dicts of `columns`."""
    start = 0
    for batch in spool_batches(spool, columns):
        here = indices[np.searchsorted(indices, start):np.searchsorted(indices, start + batch.num_rows)]
        yield from batch.take(pa.array(here - start)).to_pylist()
        start += batch.num_rows


def _export(spool: list[Path], run: Run, tmp: Path, copies: np.ndarray, executor: Executor,
            meanwhile: Callable[[], None], bounds: Bounds | None = None,
            ) -> tuple[dict[str, int], dict[str, str], Tally, MaskChecks]:
    """Split and shuffle from the spool; the executor writes each bucket's shards, and this process renders the
    trainer formats from them in order. `meanwhile` is this process's own work, done while the tasks run.
    Returns the rows per split, the sha256 of the files written (by path in the build) and the report's counts
    of the rows written."""
    config = run.config
    formats = ["alpaca", *config.formats]
    routes = tmp / "routes.npz"
    buckets = route(spool, config.split.fractions(), routes, copies, config.seed, run.text_bytes, config.shard_rows,
                    bounds)
    (tmp / "data").mkdir()
    tokens = config.tokens
    pretokenize = (tokens.tokenizer, tokens.pattern) if tokens.pretokenize and tokens.tokenizer else None
    if pretokenize:
        (tmp / "pretokenized").mkdir()
    writers, calls = {}, []
    for name, (_rows, targets) in buckets.items():
        (tmp / "hf" / name).mkdir(parents=True)
        writers[name] = open_writers(tmp, name, formats, config.system_prompt,
                                     rich=any(kind != SINGLE for kind in config.types))
        calls += [(spool, routes, target, OutputShard(name, index, len(targets)), tmp, config.report,
                   (tuple(config.chat_templates), config.system_prompt), pretokenize)
                  for index, target in enumerate(targets)]
    prepared_buckets = executor.map(prepare_bucket, calls)
    meanwhile()
    advance, digests, tally, masks = run.progress("write"), {}, Tally(), MaskChecks()
    for call, prepared in zip(calls, prepared_buckets, strict=True):
        rows = shard_rows(prepared.arrow)
        for writer in writers[call[3].split]:
            writer.write(rows)
        del rows  # the shard's map closes once its columns are gone
        path, digest = prepared.parquet
        digests[path] = digest
        if prepared.tally is not None:
            tally.add(prepared.tally)
        if prepared.masks is not None:
            masks.add(prepared.masks)
        if prepared.pretokenized is not None:
            digests[prepared.pretokenized[0]] = prepared.pretokenized[1]
        advance(prepared.rows)
    routes.unlink(missing_ok=True)
    for split_writers in writers.values():
        for writer in split_writers:
            writer.close()
            digests[writer.path.relative_to(tmp).as_posix()] = writer.sha256
    if buckets:
        write_hf(list(buckets), tmp / "hf")
        write_dataset_info(tmp, formats, config.name)
    return {name: rows for name, (rows, _targets) in buckets.items()}, digests, tally, masks


def _manifest(config, catalogue, ledger, coverage, quality, inputs, splits, tmp: Path, command,
              digests: dict[str, str]) -> dict:
    """Everything needed to audit and repeat the build; counts reconcile per source. `digests` holds the
    sha256 of the outputs hashed as they were written; the other (small) files are read here."""
    sources = ledger.to_json()
    return {
        "builder": {"name": SIGNATURE, "version": __version__},
        "command": command or [],
        "seed": config.seed,
        "config": config.model_dump(mode="json"),
        "inputs": inputs,
        "templates": {
            "sha256": catalogue.sha256,
            "files": [str(p) for p in catalogue.files],
            "entries": {kind: [e.id for e in entries] for kind, entries in catalogue.entries.items()},
        },
        "sources": sources,
        "totals": {key: sum(s[key] for s in sources.values()) for key in ("read", "kept", "rejected", "rows")},
        "reconciles": not ledger.unbalanced(),
        "splits": splits,
        "empty_splits": [name for name, fraction in config.split.fractions().items()
                         if name not in splits and fraction > 0],
        "coverage": coverage,
        "source_fields": field_advice(config, ledger, coverage,
                                      {kind: [e.id for e in entries] for kind, entries in catalogue.entries.items()}),
        "quality": quality,
        "outputs": {name: digests.get(name) or sha256_file(tmp / name)
                    for name in (p.relative_to(tmp).as_posix() for p in
                                 sorted(tmp.glob("data/*.parquet")) + sorted(tmp.glob("pretokenized/*.parquet"))
                                 + sorted(tmp.glob("*/*.json*")))},
        "versions": _versions(),
    }


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("pyarrow", "datasets", "jinja2", "pydantic", "click", "tqdm", "ijson"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found
