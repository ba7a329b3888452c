"""What an audit reads: a finished build (its manifest, its knowledge-base rows, its ledger) and the source records
it came from, re-read raw. Only the builder's readers (container and encoding) and its column mapping are used; not
its cleaning, not its templates. The user's own `strip` patterns are applied, since they declare what is not
content. Each record also passes its kind's schema on its raw text, so that where the schema itself places a value
(a strength given as 剂型 is the record's 规格) the audit agrees with it."""

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import ValidationError

from builder.config import BuildConfig, SourceConfig
from builder.errors import UserError
from builder.expand.catalogue import load_catalogue
from builder.read import Detected, known_readers, read_source
from builder.rows import POSITION
from builder.run.outdir import is_our_build
from builder.validate.fields import resolve_columns
from schemas import KB_MODELS, KBRecord

ROW_COLUMNS = ["source", "kind", "record_id", "template_id", "variant", "instruction", "output"]
# the columns of the richer types, and what a single row holds in them
TYPE_COLUMNS: dict[str, object] = {"type": "single", "input": "", "history": [], "rejected": None, "companions": []}
TYPE_SCHEMA = pa.schema([("type", pa.string()), ("input", pa.string()), ("history", pa.list_(pa.list_(pa.string()))),
                         ("rejected", pa.string()), ("companions", pa.list_(pa.string()))])
FRAME_FIELDS = frozenset({"name", "aliases"})  # what every answer may name its entity by


@dataclass
class Record:
    """One source record as read: where, its name, its mapped fields as the source gives them (`raw`) and as its
    schema places them (`fields`), and every column it has, mapped or not (`columns`)."""

    position: int
    name: str
    raw: dict[str, str]
    fields: dict[str, str]
    columns: dict[str, str]
    cross: dict[str, "Record"] = field(default_factory=dict)  # field -> the record a 参见X in it points to
    aliases: tuple[str, ...] = ()  # the other names the schema keeps (not the name itself, nor an ingredient)


@dataclass(frozen=True)
class Build:
    """A finished build as the audit needs it."""

    folder: Path
    manifest: dict
    config: BuildConfig
    sources: dict[str, SourceConfig]  # the knowledge-base sources, by name
    position_kinds: dict[str, str]  # source -> "index" or "line"


def open_build(folder: Path) -> Build:
    """The build in `folder`, or one line saying why it is not one."""
    if not is_our_build(folder):
        raise UserError("is not an output of build-instructions (no manifest.json naming the tool)", file=folder,
                        remedy="give a folder that `build-instructions build` wrote")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    if not sorted((folder / "data").glob("*.parquet")):
        raise UserError("holds no Parquet rows under data/", file=folder, remedy="build it again")
    try:
        config = BuildConfig.model_validate(manifest.get("config", {}))
    except ValidationError as exc:
        raise UserError(f"its manifest's config cannot be read ({exc.errors()[0]['msg']})", file=folder / "manifest.json",
                        remedy="build it again with this version of the tool") from exc
    sources = {s.name: s for s in config.sources if s.kind in KB_MODELS}
    inputs = {entry["source"]: entry for entry in manifest.get("inputs", [])}
    readers = known_readers()
    for name in sources:
        if (container := inputs.get(name, {}).get("container")) not in readers:
            raise UserError(f"the manifest names no reader this install has for source '{name}' ({container})",
                            file=folder / "manifest.json", remedy="install the plug-in that read it, or build again")
    return Build(folder, manifest, config, sources,
                 {name: readers[inputs[name]["container"]].position_kind for name in sources})


def check_inputs(build: Build) -> None:
    """Each knowledge-base input must still be the file the build read: present, with the sha256 it recorded."""
    recorded = {entry["source"]: entry for entry in build.manifest.get("inputs", [])}
    for name in build.sources:
        path = Path(recorded[name]["path"])
        if not path.is_file():
            raise UserError("the build's input is gone", file=path,
                            remedy="restore the file, or build again from the files there are now")
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != recorded[name]["sha256"]:
            raise UserError("the build's input changed since the build (its sha256 differs from the manifest's)",
                            file=path, remedy="restore the file the build read, or build again and audit that build")


def read_records(build: Build, name: str) -> list[Record]:
    """A source's records, raw, in file order; records the reader could not read are not among them. Columns that
    feed one field are kept together, one per line."""
    source = build.sources[name]
    entry = next(e for e in build.manifest["inputs"] if e["source"] == name)
    detected = Detected(entry["container"], entry["encoding"], build.position_kinds[name])
    model = KB_MODELS[source.kind]
    records = []
    for batch in read_source(source, detected, build.config.batch_size):
        columns = [c for c in batch.records.schema.names if c != POSITION]
        mapping, _ = resolve_columns(source.kind, columns, build.config.mapping_for(source))
        for row in _stripped(batch.records, strip_patterns(build, name)).to_pylist():
            position = row.pop(POSITION)
            present = {column: value for column, value in row.items() if value and value.strip()}
            parts: dict[str, list[str]] = {}
            for column, target in mapping.items():
                if column in present:
                    parts.setdefault(target, []).append(present[column])
            raw = {target: "\n".join(values) for target, values in parts.items()}
            fields, aliases = _placed(model, raw)
            records.append(Record(position, raw.get("name", ""), raw, fields, present, aliases=aliases))
    return records


def strip_patterns(build: Build, name: str) -> list[str]:
    """The patterns the user told the build to strip from this source's text (`[clean] strip` and the source's own
    `strip`, as the manifest's config records them): what they remove is not the record's content."""
    config: dict = build.manifest.get("config", {})
    own: dict = next((s for s in config.get("sources", []) if s.get("name") == name), {})
    return [*config.get("clean", {}).get("strip", []), *own.get("strip", [])]


def _stripped(batch: pa.RecordBatch, patterns: list[str]) -> pa.RecordBatch:
    if not patterns:
        return batch
    columns = []
    for column in batch.columns:
        for pattern in patterns if pa.types.is_string(column.type) else []:
            column = pc.replace_substring_regex(column, pattern, "")
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)


def _placed(model: type[KBRecord], raw: dict[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The text fields as the kind's schema places the raw values, and the aliases it keeps; the raw mapping and
    no aliases when the schema refuses them."""
    try:
        record = model.model_validate(raw)
    except ValidationError:
        return dict(raw), ()
    dumped = record.model_dump()
    return {name: value for name, value in dumped.items() if isinstance(value, str) and value}, tuple(record.aliases)


@dataclass(frozen=True)
class Template:
    """What the audit knows of a template: the fields its answer may draw on, and the literal text of its answer
    (its frame: 的适应证, 以下是 … 的基本信息, 本品为)."""

    fields: frozenset[str]
    frame: tuple[str, ...]


def templates(build: Build) -> dict[str, Template]:
    """Per template id, the catalogue's `requires` and the fields and literal text of its answer, read from the
    catalogue files the manifest names (nothing is rendered)."""
    files = [Path(f) for f in build.manifest.get("templates", {}).get("files", [])]
    if missing := [f for f in files if not f.is_file()]:
        raise UserError("the template catalogue the build used is gone", file=missing[0],
                        remedy="restore it, or build again and audit that build")
    if not files:
        return {}
    catalogue = load_catalogue(list(dict.fromkeys(f.parent for f in files)), sorted({f.stem for f in files}))
    env = SandboxedEnvironment()
    answers: dict[str, tuple[set[str], list[str]]] = {}
    for path in files:  # in the catalogue's order: a later file's template replaces an earlier one of the same id
        for raw in tomllib.loads(path.read_text(encoding="utf-8")).get("templates", []):
            tree = env.parse(raw["answer"])
            answers[raw["id"]] = ({node.name for node in tree.find_all(nodes.Name)},
                                  [node.data for node in tree.find_all(nodes.TemplateData)])
    found = {}
    for entries in catalogue.entries.values():
        for entry in entries:
            names, literal = answers.get(entry.id, (set(), []))
            found[entry.id] = Template(frozenset(names | set(entry.requires)), tuple(literal))
    return found


def rejected_positions(build: Build, named: frozenset[str] = frozenset()) -> dict[str, set[int]]:
    """Per source, the positions of records the ledger rejected whole: they have no rows to audit. A record whose
    own rows a mix thinned away but which rows still show (its id among `named`) is not one of them."""
    path = build.folder / "rejects.jsonl"
    found: dict[str, set[int]] = {}
    if path.is_file():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"not a JSON line ({exc.msg})", file=path, line=number, remedy="build it again") from exc
            position = entry.get("index", entry.get("line"))
            if isinstance(position, int) and entry.get("record_id") not in named:
                found.setdefault(entry.get("source", ""), set()).add(position)
    return found


def kb_rows(build: Build) -> pa.Table:
    """The build's knowledge-base rows (every split), only the columns the audit reads (those of the richer types
    filled in as single rows have them when the build has none)."""
    files = sorted((build.folder / "data").glob("*.parquet"))
    try:
        present = set(pq.read_schema(files[0]).names)
        table = pq.read_table(files, columns=[c for c in (*ROW_COLUMNS, *TYPE_COLUMNS) if c in present])
    except (pa.ArrowException, OSError) as exc:
        raise UserError(f"its rows cannot be read ({' '.join(str(exc).split())[:200]})", file=build.folder / "data",
                        remedy="build it again") from exc
    table = table.filter(pc.is_valid(table["template_id"]))
    for column, default in TYPE_COLUMNS.items():  # a build from before the richer types has single rows only
        if column not in table.column_names:
            table = table.append_column(column, pa.array([default] * table.num_rows, TYPE_SCHEMA.field(column).type))
    if unknown := sorted(set(pc.unique(table["source"]).to_pylist()) - set(build.sources)):
        raise UserError(f"rows name the source '{unknown[0]}', which the manifest does not list as a knowledge base",
                        file=build.folder / "manifest.json", remedy="build it again")
    return table
