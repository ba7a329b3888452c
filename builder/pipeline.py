"""The pipeline: read → clean → validate → expand → quality per source, then mix → split → export.

Sources stream batch by batch, in preference order, into an Arrow spool file in the build's
temporary folder; only the stages that need every row (near duplicates, mixing, the shuffle)
read it back, batch by batch. Logic lives in the stage modules; this module only wires them
together and does the I/O.
"""

import json
import platform
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder import __version__
from builder.catalogue import Catalogue, load_catalogue
from builder.clean import clean_batch
from builder.config import BuildConfig, SourceConfig
from builder.expand import Expander
from builder.export import (
    SplitWriter,
    prepare_output,
    publish_atomically,
    sha256_file,
    write_hf,
)
from builder.card import write_card
from builder.fields import check_user_mapping, require_fields, resolve_columns
from builder.formats import open_writers, write_dataset_info
from builder.ledger import Ledger, Reject
from builder.mix import copies_per_row
from builder.normalize import entity_name
from builder.quality import Quality, Removal
from builder.report import write_report
from builder.read import POSITION, Detected, detect, read_source
from builder.rows import (
    ENTITY_COLUMN,
    POSITION_COLUMN,
    SPOOL_SCHEMA,
    WORK_SCHEMA,
    template_rows,
)
from builder.shuffle import partition, shuffled, spool_batches
from builder.split import with_keys
from builder.validate import (
    Invalid,
    kb_record_id,
    qa_record_ids,
    validate_kb,
    validate_qa,
)
from schemas import KB_KINDS

Progress = Callable[[str], Callable[[int], None]]


def no_progress(_: str) -> Callable[[int], None]:
    return lambda _n: None


@dataclass
class BuildResult:
    """What a build or a dry run found: the ledger, coverage, and (for a build) the manifest."""

    ledger: Ledger
    coverage: dict[str, dict]
    manifest: dict = field(default_factory=dict)


@dataclass
class Run:
    """The state one build carries across sources: stages with memory (expanders, quality) and the ledger."""

    config: BuildConfig
    expanders: dict[str, Expander]
    quality: Quality
    ledger: Ledger
    progress: Progress
    position_kinds: dict[str, str] = field(default_factory=dict)
    spooled: int = 0

    @cached_property
    def ranks(self) -> dict[str, int]:
        """Each source's place in the preference order (0 = most preferred)."""
        return {source.name: rank for rank, source in enumerate(self.config.by_preference())}

    @cached_property
    def sources(self) -> dict[str, SourceConfig]:
        return {source.name: source for source in self.config.sources}


def build(config: BuildConfig, progress: Progress = no_progress, command: list[str] | None = None) -> BuildResult:
    """Runs every stage and swaps the finished dataset into `config.out`."""
    catalogue = _catalogue_for(config)
    tmp = prepare_output(config.out)
    try:
        ledger = Ledger(tmp)
        run = Run(config, _expanders(config, catalogue), Quality(config), ledger, progress)
        spool_path = tmp / "rows.arrow"
        with pa.OSFile(str(spool_path), "wb") as sink, pa.ipc.new_file(sink, SPOOL_SCHEMA) as spool:
            def emit(rows: pa.Table) -> None:
                spool.write_table(with_keys(rows, config.seed, config.split.group_by))
                run.spooled += rows.num_rows

            inputs = [_run_source(s, run, emit) for s in config.by_preference()]
        copies, settled = _settle(spool_path, run)
        ledger.close()
        splits = _export(spool_path, config, tmp, progress, copies)
        spool_path.unlink()
        coverage = _coverage(run.expanders, config, ledger)
        quality = {**run.quality.manifest(), **settled}
        manifest = _manifest(config, catalogue, ledger, coverage, quality, inputs, splits, tmp, command)
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        write_card(manifest, tmp, config.license, config.name)
        if config.report:
            write_report(tmp)
        publish_atomically(tmp, config.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(ledger, coverage, manifest)


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
    run = Run(config, _expanders(config, _catalogue_for(config)), Quality(config), ledger, progress)
    for source in config.by_preference():
        _run_source(source, run, emit)
    ledger.close()
    return BuildResult(ledger, _coverage(run.expanders, config, ledger))


def _catalogue_for(config: BuildConfig) -> Catalogue:
    kinds = [k for k in KB_KINDS if any(s.kind == k for s in config.sources)]
    return load_catalogue(config.templates, kinds)


def _expanders(config: BuildConfig, catalogue: Catalogue) -> dict[str, Expander]:
    return {kind: Expander(entries, config.seed, config.variants) for kind, entries in catalogue.entries.items()}


def _coverage(expanders: dict[str, Expander], config: BuildConfig, ledger: Ledger) -> dict[str, dict]:
    """Coverage per template; `no_source_has` names required fields no source of the kind maps at all."""
    coverage = {}
    for kind, expander in expanders.items():
        provided = {f for s in config.sources if s.kind == kind for f in ledger.counts(s.name).fields}
        for entry in expander.entries:
            tally = expander.coverage_json()[entry.id]
            coverage[entry.id] = {**tally, "no_source_has": [f for f in entry.requires if f not in provided]}
    return coverage


def cleaned_batches(
    source: SourceConfig, detected: Detected, config: BuildConfig, ledger: Ledger, progress: Progress = no_progress
) -> Iterator[pa.RecordBatch]:
    """read → map → clean for one source: batches whose columns are schema fields (and the position)."""
    user_mapping = config.mapping_for(source)
    check_user_mapping(source.kind, user_mapping, str(source.path))
    counts = ledger.counts(source.name)
    advance = progress(source.name)
    checked = False
    for raw in read_source(source, detected, config.batch_size):
        counts.read += raw.records.num_rows + len(raw.rejects)
        for reject in raw.rejects:
            ledger.reject(reject)
        advance(raw.records.num_rows + len(raw.rejects))
        if not raw.records.num_rows:
            continue
        columns = [c for c in raw.records.schema.names if c != POSITION]
        mapping, unmapped = resolve_columns(source.kind, columns, user_mapping)
        if not checked:
            require_fields(source.kind, columns, mapping, str(source.path))
            checked = True
        counts.fields.update(mapping.values())
        for column in unmapped:
            counts.unmapped_columns[column] += raw.records.num_rows - raw.records.column(column).null_count
        yield clean_batch(_rename(raw.records, mapping), skip=frozenset({POSITION}))


def _run_source(source: SourceConfig, run: Run, emit: Callable[[pa.Table], None]) -> dict:
    """Streams one source through its stages; returns what the manifest says about the input."""
    detected = detect(source)
    run.position_kinds[source.name] = detected.position_kind
    for batch in cleaned_batches(source, detected, run.config, run.ledger, run.progress):
        rows = _qa_rows(batch, source, detected, run) if source.kind == "qa" else _kb_rows(batch, source, detected, run)
        emit(_quality(rows, source, detected, run))
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


def _rename(batch: pa.RecordBatch, mapping: dict[str, str]) -> pa.RecordBatch:
    """Keeps mapped columns under their schema names, and the position column."""
    names = [*mapping, POSITION]
    return pa.RecordBatch.from_arrays([batch.column(n) for n in names], names=[*mapping.values(), POSITION])


def _reject(
    source: SourceConfig, detected: Detected, stage: str, invalid: Invalid, record_id: str | None = None
) -> Reject:
    return Reject(stage, invalid.reason, source.name, str(source.path), invalid.position,
                  detected.position_kind, invalid.field, record_id, invalid.detail)


def _kb_rows(batch: pa.RecordBatch, source: SourceConfig, detected: Detected, run: Run) -> pa.Table:
    """Validates each record with its model, checks it as a whole, and expands it through the catalogue."""
    expander = run.expanders[source.kind]
    columns: dict[str, list] = {name: [] for name in WORK_SCHEMA.names}
    for result in validate_kb(source.kind, batch.to_pylist()):
        if isinstance(result, Invalid):
            run.ledger.reject(_reject(source, detected, "validate", result))
            continue
        position, record = result
        rid = kb_record_id(source.kind, record)
        where = f"{source.name}:{position}"
        if removal := run.quality.check_record(source.kind, record.name, record.aliases, rid, where):
            run.ledger.reject(Reject(removal.stage, removal.reason, source.name, str(source.path), position,
                                     detected.position_kind, "name", rid, removal.detail, removal.duplicate_of))
            continue
        context = record.model_dump()
        rows = expander.expand(context, rid)
        if not rows:
            missing = expander.missing_fields(context)
            detail = f"no template applies; missing: {', '.join(missing) or 'nothing a template needs'}"
            invalid = Invalid(position, missing[0] if missing else None, "no_template_applies", detail)
            run.ledger.reject(_reject(source, detected, "expand", invalid, rid))
            continue
        entity = f"{source.kind}:{entity_name(record.name)}"
        for name, values in template_rows(source.name, source.kind, rid, position, entity, rows).items():
            columns[name].extend(values)
    return pa.table(columns, schema=WORK_SCHEMA)


def _qa_rows(batch: pa.RecordBatch, source: SourceConfig, detected: Detected, run: Run) -> pa.Table:
    """QA pairs become rows column-wise: the question is the instruction, the answer the output."""
    checked = validate_qa(batch)
    for invalid in checked.invalid:
        run.ledger.reject(_reject(source, detected, "validate", invalid))
    valid = checked.valid
    n = valid.num_rows
    record_ids = pa.array(qa_record_ids(valid), pa.string())
    return pa.table(
        {
            "instruction": valid["question"],
            "input": pc.fill_null(valid["input"], ""),
            "output": valid["answer"],
            "source": pa.array([source.name] * n, pa.string()),
            "kind": pa.array(["qa"] * n, pa.string()),
            "record_id": record_ids,
            "template_id": pa.nulls(n, pa.string()),
            "variant": pa.nulls(n, pa.int32()),
            POSITION_COLUMN: valid[POSITION],
            ENTITY_COLUMN: record_ids,
        },
        schema=WORK_SCHEMA,
    )


def _quality(rows: pa.Table, source: SourceConfig, detected: Detected, run: Run) -> pa.Table:
    """Row-level quality; a record all of whose rows go is a rejected record, else its lost rows are listed."""
    kept, removals, marks = run.quality.rows(rows, source.kind, run.ranks[source.name], run.spooled)
    counts = run.ledger.counts(source.name)
    surviving = set(kept[POSITION_COLUMN].to_pylist())
    counts.kept += len(surviving)
    counts.rows += kept.num_rows
    if not removals and not marks:
        return kept
    meta = rows.select(["record_id", "template_id", "variant", POSITION_COLUMN]).to_pylist()
    rejected: set[int] = set()
    for index, removal in sorted(removals.items()):
        row = meta[index]
        entry = Reject(removal.stage, removal.reason, source.name, str(source.path), row[POSITION_COLUMN],
                       detected.position_kind, None, row["record_id"], removal.detail, removal.duplicate_of,
                       row["template_id"], row["variant"])
        if row[POSITION_COLUMN] in surviving:
            run.ledger.remove_row(entry)
        elif row[POSITION_COLUMN] not in rejected:
            rejected.add(row[POSITION_COLUMN])
            run.ledger.reject(entry)
    for index, mark in sorted(marks.items()):
        row = meta[index]
        run.ledger.mark(Reject(mark.stage, mark.reason, source.name, str(source.path), row[POSITION_COLUMN],
                               detected.position_kind, None, row["record_id"], mark.detail, None,
                               row["template_id"], row["variant"]))
    return kept


def _settle(spool: Path, run: Run) -> tuple[np.ndarray, dict]:
    """The stages that need every row: duplicates, then mixing. Returns copies per spooled row."""
    config = run.config
    dropped, report = run.quality.resolve()
    mask = np.zeros(run.spooled, bool)
    mask[list(dropped)] = True
    if any(s.weight is not None or s.target is not None for s in config.sources):
        copies, report["mixing"] = copies_per_row(spool_batches(spool, ["source", "record_id"]),
                                                  config.sources, config.seed, mask)
        for index in np.flatnonzero((copies == 0) & ~mask).tolist():
            dropped[index] = (Removal("mix", "downsampled"), None)
    else:
        copies = (~mask).astype(np.int32)
    if dropped:
        _account_dropped(spool, dropped, run)
    for name, mixed in report.get("mixing", {}).items():
        run.ledger.counts(name).rows += mixed["rows_after"] - mixed["rows_before"]
    return copies, report


def _account_dropped(spool: Path, dropped: dict[int, tuple[Removal, int | None]], run: Run) -> None:
    """Ledger entries for rows dropped after spooling: a record that loses every row is rejected,
    else its lost rows are listed. A record's rows sit together in the spool, one after another;
    a first pass finds the ids of the surviving copies, which may come later in the spool."""
    wanted = np.array(sorted({kept for _, kept in dropped.values() if kept is not None}), np.int64)
    ids, start = {}, 0
    for batch in spool_batches(spool, ["record_id"]):
        here = wanted[np.searchsorted(wanted, start):np.searchsorted(wanted, start + batch.num_rows)]
        ids.update(zip(here.tolist(), batch.column(0).take(pa.array(here - start)).to_pylist(), strict=True))
        start += batch.num_rows
    columns = ["source", "record_id", "template_id", "variant", POSITION_COLUMN]
    record: list[tuple[int, dict]] = []
    start = 0
    for batch in spool_batches(spool, columns):
        rows = batch.to_pylist()
        for offset, row in enumerate(rows):
            index = start + offset
            if record and (row["source"], row[POSITION_COLUMN]) != _record_key(record[0][1]):
                _settle_record(record, dropped, ids, run)
                record = []
            record.append((index, row))
        start += len(rows)
    if record:
        _settle_record(record, dropped, ids, run)


def _record_key(row: dict) -> tuple[str, int]:
    return row["source"], row[POSITION_COLUMN]


def _settle_record(record: list[tuple[int, dict]], dropped: dict, ids: dict[int, str], run: Run) -> None:
    lost = [(index, row) for index, row in record if index in dropped]
    if not lost:
        return
    source = run.sources[record[0][1]["source"]]
    counts = run.ledger.counts(source.name)
    counts.rows -= len(lost)
    entries = []
    for index, row in lost:
        removal, kept = dropped[index]
        entries.append(Reject(removal.stage, removal.reason, source.name, str(source.path), row[POSITION_COLUMN],
                              run.position_kinds[source.name], None, row["record_id"], removal.detail,
                              ids.get(kept) if kept is not None else None, row["template_id"], row["variant"]))
    if len(lost) == len(record):
        counts.kept -= 1
        run.ledger.reject(entries[0])
    else:
        for entry in entries:
            run.ledger.remove_row(entry)


def _export(spool: Path, config: BuildConfig, tmp: Path, progress: Progress, copies: np.ndarray) -> dict[str, int]:
    """Split and shuffle from the spool, then write every output format split by split."""
    arrow_files = {}
    counts = {}
    for name, (rows, buckets) in partition(spool, config.split.fractions(), tmp, copies, config.seed).items():
        writer = SplitWriter(tmp, name, rows, config.shard_rows)
        formats = open_writers(tmp, name, config.formats, config.system_prompt)
        advance = progress(f"write {name}")
        for table in shuffled(buckets):
            for target in (writer, *formats):
                target.write(table)
            advance(table.num_rows)
        for target in (writer, *formats):
            target.close()
        arrow_files[name], counts[name] = writer.arrow_path, rows
    if arrow_files:
        write_hf(arrow_files, tmp / "hf")
        write_dataset_info(tmp, ["alpaca", *config.formats], config.name)
    return counts


def _manifest(config, catalogue, ledger, coverage, quality, inputs, splits, tmp: Path, command) -> dict:
    """Everything needed to audit and repeat the build; counts reconcile per source."""
    sources = ledger.to_json()
    return {
        "builder": __version__,
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
        "quality": quality,
        "outputs": {str(p.relative_to(tmp)): sha256_file(p)
                    for p in sorted(tmp.glob("data/*.parquet")) + sorted(tmp.glob("*/*.json*"))},
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
