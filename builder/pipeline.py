"""The pipeline: read → clean → validate → expand per source, then split → export, with the ledger throughout.

Sources stream batch by batch into an Arrow spool file in the build's temporary folder; only the
split and export stage sees all rows, through a memory map. Logic lives in the stage modules;
this module only wires them together and does the I/O.
"""

import json
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from builder import __version__
from builder.catalogue import Catalogue, load_catalogue
from builder.clean import clean_batch
from builder.config import BuildConfig, SourceConfig
from builder.expand import Expander
from builder.export import SplitWriter, prepare_output, publish_atomically, sha256_file, write_hf
from builder.fields import check_user_mapping, require_fields, resolve_columns
from builder.ledger import Ledger, Reject
from builder.read import POSITION, Detected, detect, read_source
from builder.rows import ROW_SCHEMA, SPOOL_SCHEMA, template_rows
from builder.shuffle import partition, shuffled
from builder.split import with_keys
from builder.validate import Invalid, kb_record_id, qa_record_ids, validate_kb, validate_qa
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


def build(config: BuildConfig, progress: Progress = no_progress, command: list[str] | None = None) -> BuildResult:
    """Runs every stage and swaps the finished dataset into `config.out`."""
    catalogue = _catalogue_for(config)
    tmp = prepare_output(config.out)
    try:
        ledger = Ledger.open(tmp / "rejects.jsonl")
        expanders = _expanders(config, catalogue)
        spool_path = tmp / "rows.arrow"
        with pa.OSFile(str(spool_path), "wb") as sink, pa.ipc.new_file(sink, SPOOL_SCHEMA) as spool:
            emit = lambda rows: spool.write_table(with_keys(rows, config.seed))  # noqa: E731
            inputs = [_run_source(s, config, expanders, ledger, emit, progress) for s in config.sources]
        ledger.close()
        splits = _export(spool_path, config, tmp, progress)
        spool_path.unlink()
        coverage = _coverage(expanders, config, ledger)
        manifest = _manifest(config, catalogue, ledger, coverage, inputs, splits, tmp, command)
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        publish_atomically(tmp, config.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(ledger, coverage, manifest)


def dry_run(
    config: BuildConfig,
    progress: Progress = no_progress,
    rejects: Path | None = None,
    emit: Callable[[pa.Table], None] = lambda _rows: None,
) -> BuildResult:
    """read → clean → validate → expand with the full ledger, writing no dataset; rows go to `emit`."""
    expanders = _expanders(config, _catalogue_for(config))
    ledger = Ledger.open(rejects) if rejects else Ledger()
    for source in config.sources:
        _run_source(source, config, expanders, ledger, emit, progress)
    ledger.close()
    return BuildResult(ledger, _coverage(expanders, config, ledger))


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


def _run_source(
    source: SourceConfig,
    config: BuildConfig,
    expanders: dict[str, Expander],
    ledger: Ledger,
    emit: Callable[[pa.Table], None],
    progress: Progress,
) -> dict:
    """Streams one source through its stages; returns what the manifest says about the input."""
    detected = detect(source)
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
        batch = clean_batch(_rename(raw.records, mapping), skip=frozenset({POSITION}))
        if source.kind == "qa":
            rows = _qa_rows(batch, source, detected, ledger)
        else:
            rows = _kb_rows(batch, source, detected, expanders[source.kind], ledger)
        counts.rows += rows.num_rows
        emit(rows)
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


def _kb_rows(
    batch: pa.RecordBatch, source: SourceConfig, detected: Detected, expander: Expander, ledger: Ledger
) -> pa.Table:
    """Validates each record with its model and expands it through the catalogue."""
    counts = ledger.counts(source.name)
    columns: dict[str, list] = {name: [] for name in ROW_SCHEMA.names}
    for result in validate_kb(source.kind, batch.to_pylist()):
        if isinstance(result, Invalid):
            ledger.reject(_reject(source, detected, "validate", result))
            continue
        position, record = result
        rid = kb_record_id(source.kind, record)
        context = record.model_dump()
        rows = expander.expand(context, rid)
        if not rows:
            missing = expander.missing_fields(context)
            detail = f"no template applies; missing: {', '.join(missing) or 'nothing a template needs'}"
            invalid = Invalid(position, missing[0] if missing else None, "no_template_applies", detail)
            ledger.reject(_reject(source, detected, "expand", invalid, rid))
            continue
        counts.kept += 1
        for name, values in template_rows(source.name, source.kind, rid, rows).items():
            columns[name].extend(values)
    return pa.table(columns, schema=ROW_SCHEMA)


def _qa_rows(batch: pa.RecordBatch, source: SourceConfig, detected: Detected, ledger: Ledger) -> pa.Table:
    """QA pairs become rows column-wise: the question is the instruction, the answer the output."""
    checked = validate_qa(batch)
    for invalid in checked.invalid:
        ledger.reject(_reject(source, detected, "validate", invalid))
    valid = checked.valid
    n = valid.num_rows
    ledger.counts(source.name).kept += n
    return pa.table(
        {
            "instruction": valid["question"],
            "input": pc.fill_null(valid["input"], ""),
            "output": valid["answer"],
            "source": pa.array([source.name] * n, pa.string()),
            "kind": pa.array(["qa"] * n, pa.string()),
            "record_id": pa.array(qa_record_ids(valid), pa.string()),
            "template_id": pa.nulls(n, pa.string()),
            "variant": pa.nulls(n, pa.int32()),
        },
        schema=ROW_SCHEMA,
    )


def _export(spool: Path, config: BuildConfig, tmp: Path, progress: Progress) -> dict[str, int]:
    """Split and shuffle from the spool, then write every output format split by split."""
    arrow_files = {}
    counts = {}
    for name, (rows, buckets) in partition(spool, config.split.fractions(), tmp).items():
        writer = SplitWriter(tmp, name, rows, config.shard_rows)
        advance = progress(f"write {name}")
        for table in shuffled(buckets):
            writer.write(table)
            advance(table.num_rows)
        writer.close()
        arrow_files[name], counts[name] = writer.arrow_path, rows
    if arrow_files:
        write_hf(arrow_files, tmp / "hf")
    return counts


def _manifest(config, catalogue, ledger, coverage, inputs, splits, tmp: Path, command) -> dict:
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
        "outputs": {str(p.relative_to(tmp)): sha256_file(p)
                    for p in sorted(tmp.glob("data/*.parquet")) + sorted(tmp.glob("alpaca/*.json"))},
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
