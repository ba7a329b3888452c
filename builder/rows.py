"""The Arrow schema of output rows, generated from `schemas.OutputRow`: one declaration of the columns, typed for
Parquet and datasets (a str is a string, an int an int32, a list a list of those, and a column is nullable where the
model allows None)."""

import types
from typing import get_args, get_origin

import pyarrow as pa
import pyarrow.compute as pc
from pydantic.fields import FieldInfo

from schemas.row import OutputRow

ARROW_TYPES: dict[object, pa.DataType] = {str: pa.string(), int: pa.int32()}


def arrow_type(annotation: object) -> pa.DataType:
    """The Arrow type of a str, an int, or a list of them (lists nest)."""
    if get_origin(annotation) is list:
        return pa.list_(arrow_type(get_args(annotation)[0]))
    return ARROW_TYPES[annotation]


def arrow_field(name: str, info: FieldInfo) -> pa.Field:
    """The Arrow column of one model field."""
    options = get_args(info.annotation) if isinstance(info.annotation, types.UnionType) else (info.annotation,)
    value = next(option for option in options if option is not type(None))
    return pa.field(name, arrow_type(value), nullable=type(None) in options)


def feature(data_type: pa.DataType) -> dict:
    """`datasets`' description of an Arrow type, as it writes it into its files."""
    if pa.types.is_list(data_type):
        return {"feature": feature(data_type.value_type), "_type": "List"}
    return {"dtype": str(data_type), "_type": "Value"}


ROW_SCHEMA = pa.schema([arrow_field(name, info) for name, info in OutputRow.model_fields.items()])
FEATURES = {field.name: feature(field.type) for field in ROW_SCHEMA}  # column -> `datasets` feature


def yaml_feature(data_type: pa.DataType) -> str | dict:
    """A column's type as a dataset card's YAML states it ("string", {"list": "string"})."""
    return {"list": yaml_feature(data_type.value_type)} if pa.types.is_list(data_type) else str(data_type)


CARD_FEATURES = {field.name: yaml_feature(field.type) for field in ROW_SCHEMA}
SINGLE = "single"  # the type of a row made by one template from one record, or read as a QA pair
POSITION, ENTITY_COLUMN = "__position", "__entity"  # where a record was read (line or index); its entity
COMPANION_ENTITIES = "__companion_entities"  # the entities of the records a row shows besides its own
WORK_SCHEMA = pa.schema([*ROW_SCHEMA, pa.field(POSITION, pa.int64()), pa.field(ENTITY_COLUMN, pa.string()),
                         pa.field(COMPANION_ENTITIES, pa.list_(pa.string()))])
TOKEN_COLUMNS = ("__prompt_tokens", "__answer_tokens")  # per row, with a tokenizer (null without)
SPOOL_SCHEMA = pa.schema([*WORK_SCHEMA, *(pa.field(name, pa.int32()) for name in TOKEN_COLUMNS),
                          pa.field("__group_key", pa.uint64()), pa.field("__order_key", pa.uint64())])


TEXT_COLUMNS = ("instruction", "input", "output")


def row_text(rows: pa.Table) -> pa.Array:
    """What a row says, for its checks (filters, decontamination, dedup): instruction, input and output joined; for
    a row of a richer type, its type, system prompt, earlier turns and rejected answer too, so that it is never taken
    for a single row with the same question and answer."""
    said = pc.binary_join_element_wise(*(rows[c] for c in TEXT_COLUMNS), "\x1f")
    if "type" not in rows.column_names or pc.all(pc.equal(rows["type"], SINGLE)).as_py() is not False:
        return said
    extra = ["\x1f".join([kind, system, *(text for turn in history for text in turn), rejected or ""])
             for kind, system, history, rejected in zip(*(rows[c].to_pylist() for c in
                                                          ("type", "system", "history", "rejected")), strict=True)]
    return pc.binary_join_element_wise(said, pa.array(extra, pa.string()), "\x1f")


def prompt_column(table: pa.Table) -> pa.Array:
    """The user turn: the instruction, joined with the input by "\\n" where the input is non-empty."""
    instruction = table["instruction"].combine_chunks().cast(pa.string())
    given = table["input"].combine_chunks().cast(pa.string())
    given = pc.fill_null(given, "")
    joined = pc.binary_join_element_wise(instruction, given, "\n")
    return pc.if_else(pc.equal(given, ""), instruction, joined)


def work_table(columns: dict[str, list | pa.Array | pa.ChunkedArray], rows: int) -> pa.Table:
    """A table of the work schema from the columns given; the others hold what a single-turn row holds."""
    empty = _repeat(pa.scalar([], pa.list_(pa.string())), rows)
    defaults = {"type": _repeat(pa.scalar(SINGLE), rows), "system": _repeat(pa.scalar(""), rows),
                "history": _repeat(pa.scalar([], pa.list_(pa.list_(pa.string()))), rows),
                "rejected": pa.nulls(rows, pa.string()), "companions": empty, COMPANION_ENTITIES: empty}
    return pa.table({name: columns[name] if name in columns else defaults[name] for name in WORK_SCHEMA.names},
                    schema=WORK_SCHEMA)


def _repeat(value: pa.Scalar, rows: int) -> pa.Array:
    return pa.repeat(value, rows) if rows else pa.array([], value.type)  # Arrow's repeat refuses 0


def template_rows(
    source: str, kind: str, record_id: str, position: int, entity: str, rows: list[tuple[str, int, str, str, str]]
) -> dict:
    """Columns for one record's rendered rows (template id, variant, instruction, input, output)."""
    return {
        POSITION: [position] * len(rows),
        ENTITY_COLUMN: [entity] * len(rows),
        "instruction": [r[2] for r in rows],
        "input": [r[3] for r in rows],
        "output": [r[4] for r in rows],
        "source": [source] * len(rows),
        "kind": [kind] * len(rows),
        "record_id": [record_id] * len(rows),
        "template_id": [r[0] for r in rows],
        "variant": [r[1] for r in rows],
    }
