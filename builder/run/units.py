"""Units of work for read → clean → validate → expand → quality: the part of a build that runs in parallel.

A unit processes parts (shards of sources) in order with one state, and leaves everything it made in
files: each part's spooled rows, its ledger entries and its dedup index. Only small summaries go back
to the process that merges them, which is what lets units run in forked workers or on Dask.
Knowledge-base sources share one unit, since their records are checked against each other.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache, partial
from pathlib import Path
from typing import Unpack

import pyarrow as pa
import pyarrow.compute as pc

from builder.clean.rules import drop_matching
from builder.clean.text import clean_array, clean_batch
from builder.config import BuildConfig, SourceConfig
from builder.expand.catalogue import Catalogue, load_catalogue
from builder.expand.expander import Coverage, Expander
from builder.expand.render import MAX_TEXT_CHARS
from builder.expand.types import Entity, Sheet, declared_types, rows_table, type_rows
from builder.ledger import Drop, Ledger, Place
from builder.quality.normalize import entity_name
from builder.quality.stage import Quality, QualityReport
from builder.read import WHOLE, Detected, Shard, read_source, shards
from builder.rows import ENTITY_COLUMN, POSITION, SINGLE, template_rows, work_table
from builder.run.parts import Part, PartResult, part_folder, spooled
from builder.validate.fields import (
    LABEL_MARK,
    PART_SEPARATOR,
    check_user_mapping,
    column_label,
    normalise_key,
    resolve_columns,
)
from builder.validate.records import invalid, qa_record_ids, validate_kb, validate_qa
from schemas import KB_KINDS

Progress = Callable[[str], Callable[[int], None]]
PART_TRIM = "。；;"  # a part's closing marks ("；" joins the parts); a dangling "，" stays, for damage checks


def no_progress(_: str) -> Callable[[int], None]:
    return lambda _n: None


@dataclass
class UnitResult:
    """A unit's parts, and the tallies the merge adds up: template coverage and the quality report."""

    parts: list[PartResult]
    coverage: dict[str, tuple[int, dict[str, Coverage]]]
    report: QualityReport
    types: dict[str, dict[str, dict]] = field(default_factory=dict)  # kind -> type -> its tally


@dataclass
class Run:
    """The state carried across sources: stages with memory (expanders, quality) and the ledger."""

    config: BuildConfig
    expanders: dict[str, Expander]
    quality: Quality
    ledger: Ledger
    progress: Progress
    position_kinds: dict[str, str] = field(default_factory=dict)
    spooled: int = 0
    text_bytes: int = 0
    sheets: dict[str, Sheet] | None = None  # kind -> its kept records, when the build makes richer types
    pending: list[Entity] = field(default_factory=list)  # this batch's records, for the sheet once rows are kept
    made: dict[str, dict[str, dict]] = field(default_factory=dict)  # kind -> type -> what the type made of it

    @cached_property
    def ranks(self) -> dict[str, int]:
        """Each source's place in the preference order (0 = most preferred)."""
        return {source.name: rank for rank, source in enumerate(self.config.by_preference())}

    @cached_property
    def sources(self) -> dict[str, SourceConfig]:
        return {source.name: source for source in self.config.sources}


@dataclass(frozen=True)
class SourceBatch:
    """What every step takes and gives: an Arrow table of one source's records or rows, named by its source and
    how that source counts positions, so that a step can place each drop it makes (`place`)."""

    source: SourceConfig
    detected: Detected
    table: pa.Table | pa.RecordBatch

    def then(self, table: pa.Table) -> "SourceBatch":
        return replace(self, table=table)

    def place(self, drop: Drop, **where: Unpack[Place]) -> Drop:
        """A step's drop with where it happened: the source, its file, and how positions count there."""
        return drop.at(source=self.source.name, file=str(self.source.path),
                       position_kind=self.detected.position_kind, **where)


Step = Callable[[SourceBatch, Run], SourceBatch]  # passes on what goes on; writes what it drops to run.ledger


def steps_for(kind: str) -> tuple[Step, ...]:
    """validate → expand (knowledge bases) or validate (QA pairs), then row quality: the steps after cleaning."""
    return (qa_rows if kind == "qa" else kb_rows, row_quality)


def plan_units(config: BuildConfig, detected: dict[str, Detected], shards_per_source: int) -> list[list[Part]]:
    """One unit with every knowledge-base source, and one per shard of each QA source."""
    ordered = config.by_preference()
    kb = [Part(s.name, 0) for s in ordered if s.kind != "qa"]
    qa = [[Part(s.name, i, shard)] for s in ordered if s.kind == "qa"
          for i, shard in enumerate(shards(s, detected[s.name], shards_per_source))]
    return ([kb] if kb else []) + qa


def run_unit(config: BuildConfig, parts: list[Part], detected: dict[str, Detected], folder: Path) -> UnitResult:
    """read → quality for each part in turn, writing its results into its own folder under `folder`; then, in the
    knowledge-base unit, the richer instruction types from the records it kept, one more part per source."""
    sources = {s.name: s for s in config.sources}
    kb = any(sources[p.source].kind != "qa" for p in parts)
    expanders = expanders_for(config, catalogue_for(config)) if kb else {}
    quality = Quality(config)
    richer = [name for name in config.types if name != SINGLE]
    sheets = {kind: Sheet(config.seed, config.split.fractions()) for kind in expanders} if kb and richer else None
    results = []
    for part in parts:
        run = Run(config, expanders, quality, Ledger(part_folder(folder, config, part), by_position=True),
                  no_progress, sheets=sheets)
        results.append(spooled(run, part, partial(_read_part, sources[part.source], detected[part.source], run,
                                                   part)))
    tallies: dict[str, dict[str, dict]] = {}
    if sheets:
        typed, tallies = _typed_parts(config, parts, detected, sheets, expanders, quality, folder)
        results += typed
    quality.duplicates.close()
    pa.default_memory_pool().release_unused()  # a worker process lives on: give freed memory back
    return UnitResult(results, {kind: e.tallies() for kind, e in expanders.items()}, quality.report, tallies)


def _read_part(source: SourceConfig, detected: Detected, run: Run, part: Part,
               emit: Callable[[pa.Table], None]) -> None:
    run_source(source, detected, run, emit, part.shard)


def _typed_parts(config: BuildConfig, parts: list[Part], detected: dict[str, Detected], sheets: dict[str, Sheet],
                 expanders: dict[str, Expander], quality: Quality,
                 folder: Path) -> tuple[list[PartResult], dict[str, dict[str, dict]]]:
    """The richer types of each kind, from its sheet; their rows go to one more part of each record's source.
    Returns those parts and what each type made of each kind."""
    sources = {s.name: s for s in config.sources}
    declared = declared_types(catalogue_for(config))
    made: dict[str, list] = {}
    tallies: dict[str, dict[str, dict]] = {}
    for kind, sheet in sheets.items():
        sheet.close()
        rows, kind_tallies = type_rows(sheet, declared.get(kind, {}), expanders[kind].entries, list(config.types),
                                       config.seed)
        tallies[kind] = {name: tally.to_json() for name, tally in kind_tallies.items()}
        for row in rows:
            made.setdefault(row.entity.source, []).append(row)
    results = []
    for part in parts:
        if part.source not in made:
            continue
        source = sources[part.source]
        typed = Part(part.source, part.index + 1, part.shard)
        run = Run(config, expanders, quality, Ledger(part_folder(folder, config, typed), by_position=True),
                  no_progress)
        table = rows_table(made[part.source], source.kind)

        def produce(emit: Callable[[pa.Table], None], run: Run = run, table: pa.Table = table,
                    source: SourceConfig = source) -> None:
            for start in range(0, table.num_rows, config.batch_size):
                named = SourceBatch(source, detected[source.name], table.slice(start, config.batch_size))
                emit(typed_quality(named, run).table)
                run.ledger.flush()

        results.append(spooled(run, typed, produce))
    return results, tallies


def catalogue_for(config: BuildConfig) -> Catalogue:
    """The catalogue for the kinds the build reads, loaded once per process while its files stay the same."""
    kinds = tuple(k for k in KB_KINDS if any(s.kind == k for s in config.sources))
    folders = tuple(config.catalogue_folders())
    stamp = tuple((p.as_posix(), p.stat().st_mtime_ns, p.stat().st_size)
                  for folder in folders for p in sorted(folder.glob("*.toml")))
    return _catalogue(folders, kinds, stamp)


@lru_cache(maxsize=4)
def _catalogue(folders: tuple[Path, ...], kinds: tuple[str, ...], _stamp: tuple) -> Catalogue:
    return load_catalogue(folders, kinds)


def expanders_for(config: BuildConfig, catalogue: Catalogue) -> dict[str, Expander]:
    return {kind: Expander(entries, config.seed, config.variants) for kind, entries in catalogue.entries.items()}


def cleaned_batches(
    source: SourceConfig,
    detected: Detected,
    config: BuildConfig,
    ledger: Ledger,
    progress: Progress = no_progress,
    shard: Shard = WHOLE,
    fields: frozenset[str] | None = None,
) -> Iterator[pa.RecordBatch]:
    """read → map → clean for one source (or shard): batches whose columns are schema fields (and the position);
    with `fields`, only those fields, for a pass that needs a few of them (the names) and not the cost of all."""
    user_mapping = config.mapping_for(source)
    check_user_mapping(source.kind, user_mapping, str(source.path))
    counts = ledger.counts(source.name)
    rules = config.cleaning_for(source)
    advance = progress(source.name)
    for raw in read_source(source, detected, config.batch_size, shard):
        counts.read += raw.records.num_rows + len(raw.rejects)
        for reject in raw.rejects:
            ledger.reject(reject)
        advance(raw.records.num_rows + len(raw.rejects))
        if not raw.records.num_rows:
            continue
        columns = [c for c in raw.records.schema.names if c != POSITION]
        mapping, unmapped = resolve_columns(source.kind, columns, user_mapping)
        counts.fields.update(mapping.values())
        for column in unmapped:
            counts.unmapped_columns[column] += raw.records.num_rows - raw.records.column(column).null_count
        if fields is not None:
            mapping = {column: field for column, field in mapping.items() if field in fields}
        records, dropped = drop_matching(raw.records, rules.drop)
        for drop in dropped:
            ledger.reject(drop.at(source=source.name, file=str(source.path), position_kind=detected.position_kind))
        yield clean_batch(_rename(records, mapping), skip=frozenset({POSITION}), tally=counts.cleaned, rules=rules,
                          prose=source.kind != "qa")


def run_source(
    source: SourceConfig, detected: Detected, run: Run, emit: Callable[[pa.Table], None], shard: Shard = WHOLE
) -> None:
    """Streams one source (or shard) through its stages into `emit`."""
    steps = steps_for(source.kind)
    for batch in cleaned_batches(source, detected, run.config, run.ledger, run.progress, shard):
        named = SourceBatch(source, detected, batch)
        for step in steps:
            named = step(named, run)
        emit(named.table)
        run.ledger.flush()


def _rename(batch: pa.RecordBatch, mapping: dict[str, str]) -> pa.RecordBatch:
    """Keeps mapped columns under their schema names, and the position column. Spellings of one name that map to
    one field (in different records) become one column holding each record's value; several names that feed one
    field are joined per record, each part after its label, in the source's column order ("性味：寒；归经：肺经")."""
    names: dict[str, dict[str, list[str]]] = {}  # field -> normalised name -> its spellings
    for column, target in mapping.items():
        names.setdefault(target, {}).setdefault(normalise_key(column), []).append(column)
    arrays = [_coalesced(batch, next(iter(spellings.values()))) if len(spellings) == 1 else
              _labelled([(column_label(columns[0]), _coalesced(batch, columns)) for columns in spellings.values()])
              for spellings in names.values()]
    return pa.RecordBatch.from_arrays([*arrays, batch.column(POSITION)], names=[*names, POSITION])


def _coalesced(batch: pa.RecordBatch, columns: list[str]) -> pa.Array:
    if len(columns) == 1:
        return batch.column(columns[0])
    return pc.coalesce(*(batch.column(c).cast(pa.string()) for c in columns))


def _labelled(parts: list[tuple[str, pa.Array]]) -> pa.Array:
    """Each record's parts that say something, as "label：text" joined with "；"; null when none does. A part that
    cleaning would empty (a placeholder such as 暂无) is left out with its label."""
    pieces = []
    for label, values in parts:
        text = pc.utf8_rtrim(pc.utf8_trim_whitespace(values.cast(pa.string())), characters=PART_TRIM)
        says = pc.and_(pc.is_valid(clean_array(text)), pc.greater(pc.utf8_length(text), 0))
        piece = pc.binary_join_element_wise(pa.scalar(PART_SEPARATOR + label + LABEL_MARK), text, "")
        pieces.append(pc.if_else(pc.fill_null(says, False), piece, ""))
    joined = pc.utf8_replace_slice(pc.binary_join_element_wise(*pieces, ""), 0, len(PART_SEPARATOR), "")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)


def kb_rows(batch: SourceBatch, run: Run) -> SourceBatch:
    """Validates each record with its model, checks it as a whole, and expands it through the catalogue."""
    source = batch.source
    expander = run.expanders[source.kind]
    columns: dict[str, list] = template_rows(source.name, source.kind, "", 0, "", [])
    checked = validate_kb(source.kind, batch.table.to_pylist())
    for drop in checked.invalid:
        run.ledger.reject(batch.place(drop))
    for valid in checked.valid:
        position, record, context, rid = valid.position, valid.record, valid.fields, valid.record_id
        where = f"{source.name}:{position}"
        entity = f"{source.kind}:{entity_name(record.name)}"
        if refused := run.quality.check_record(entity, record.name, record.aliases, rid, where):
            run.ledger.reject(batch.place(refused, position=position, field="name", record_id=rid))
            continue
        if oversized := _oversized(context):
            drop = invalid(position, oversized, "too_long_field", f"{len(context[oversized]):,} characters, more "
                           f"than the {MAX_TEXT_CHARS:,} a rendered text may hold", stage="expand")
            run.ledger.reject(batch.place(drop, record_id=rid))
            continue
        rows = expander.expand(context, rid)
        if not rows:
            missing = expander.missing_fields(context)
            detail = f"no template applies; missing: {', '.join(missing) or 'nothing a template needs'}"
            drop = invalid(position, missing[0] if missing else None, "no_template_applies", detail, stage="expand")
            run.ledger.reject(batch.place(drop, record_id=rid))
            continue
        for name, values in template_rows(source.name, source.kind, rid, position, entity, rows).items():
            columns[name].extend(values)
        if run.sheets is not None:
            run.pending.append(Entity(source.name, position, rid, entity, record.name, tuple(record.aliases),
                                      context.get("category"), context))
    return batch.then(work_table(columns, len(columns[POSITION])))


def _oversized(context: dict) -> str | None:
    """The first field too long for any rendered text to hold: the record is rejected, not the build stopped."""
    return next((f for f, v in context.items() if isinstance(v, str) and len(v) > MAX_TEXT_CHARS), None)


def qa_rows(batch: SourceBatch, run: Run) -> SourceBatch:
    """QA pairs become rows column-wise: the question is the instruction, the answer the output."""
    source = batch.source
    checked = validate_qa(batch.table)
    for drop in checked.invalid:
        run.ledger.reject(batch.place(drop))
    valid = checked.valid
    n = valid.num_rows
    record_ids = qa_record_ids(valid)
    return batch.then(work_table(
        {
            "instruction": valid["question"],
            "input": pc.fill_null(valid["input"], ""),
            "output": valid["answer"],
            "source": pa.array([source.name] * n, pa.string()),
            "kind": pa.array(["qa"] * n, pa.string()),
            "record_id": record_ids,
            "template_id": pa.nulls(n, pa.string()),
            "variant": pa.nulls(n, pa.int32()),
            POSITION: valid[POSITION],
            ENTITY_COLUMN: pa.nulls(n, pa.string()),
        },
        n,
    ))


def row_quality(batch: SourceBatch, run: Run) -> SourceBatch:
    """Row-level quality; a record all of whose rows go is a rejected record, else its lost rows are listed."""
    rows, source = batch.table, batch.source
    kept, removals, marks = run.quality.rows(rows, source.kind, run.ranks[source.name], run.spooled)
    counts = run.ledger.counts(source.name)
    surviving = set(kept[POSITION].to_pylist())
    counts.kept += len(surviving)
    counts.rows += kept.num_rows
    if run.sheets is not None and source.kind in run.sheets:
        sheet = run.sheets[source.kind]
        for entity in run.pending:
            if entity.position in surviving:
                sheet.add(entity)
        run.pending.clear()
    if not removals and not marks:
        return batch.then(kept)
    listed = sorted({*removals, *marks})
    meta = dict(zip(listed, rows.select(["record_id", "template_id", "variant", POSITION])
                    .take(pa.array(listed, pa.int64())).to_pylist(), strict=True))
    rejected: set[int] = set()
    for index, removal in sorted(removals.items()):
        row = meta[index]
        entry = batch.place(removal, position=row[POSITION], record_id=row["record_id"],
                            template_id=row["template_id"], variant=row["variant"])
        if row[POSITION] in surviving:
            run.ledger.remove_row(entry)
        elif row[POSITION] not in rejected:
            rejected.add(row[POSITION])
            run.ledger.reject(entry)
    for index, mark in sorted(marks.items()):
        row = meta[index]
        run.ledger.mark(batch.place(mark, position=row[POSITION], record_id=row["record_id"],
                                    template_id=row["template_id"], variant=row["variant"]))
    return batch.then(kept)




def typed_quality(batch: SourceBatch, run: Run) -> SourceBatch:
    """Row quality for the rows of the richer types: a lost row is listed; its record keeps its single rows."""
    rows, source = batch.table, batch.source
    kept, removals, marks = run.quality.rows(rows, source.kind, run.ranks[source.name], run.spooled)
    run.ledger.counts(source.name).rows += kept.num_rows
    listed = sorted({*removals, *marks})
    meta = rows.select(["record_id", "template_id", "variant", POSITION]).take(pa.array(listed, pa.int64())).to_pylist()
    for index, row in zip(listed, meta, strict=True):
        entry = (removals.get(index) or marks[index])
        placed = batch.place(entry, position=row[POSITION], record_id=row["record_id"], template_id=row["template_id"],
                             variant=row["variant"])
        (run.ledger.remove_row if index in removals else run.ledger.mark)(placed)
    return batch.then(kept)
