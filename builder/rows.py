"""The Arrow schema of output rows, generated from `schemas.OutputRow`: one declaration of the columns, typed for
Parquet and datasets (a str is a string, an int an int32, and a column is nullable where the model allows None)."""

import types
from typing import get_args

import pyarrow as pa
import pyarrow.compute as pc
from pydantic.fields import FieldInfo

from schemas.row import OutputRow

ARROW_TYPES: dict[object, pa.DataType] = {str: pa.string(), int: pa.int32()}


def arrow_field(name: str, info: FieldInfo) -> pa.Field:
    """The Arrow column of one model field."""
    options = get_args(info.annotation) if isinstance(info.annotation, types.UnionType) else (info.annotation,)
    value = next(option for option in options if option is not type(None))
    return pa.field(name, ARROW_TYPES[value], nullable=type(None) in options)


ROW_SCHEMA = pa.schema([arrow_field(name, info) for name, info in OutputRow.model_fields.items()])
FEATURES = {field.name: str(field.type) for field in ROW_SCHEMA}  # column -> `datasets` dtype ("string", "int32")
POSITION, ENTITY_COLUMN = "__position", "__entity"  # where a record was read (line or index); its entity
WORK_SCHEMA = ROW_SCHEMA.append(pa.field(POSITION, pa.int64())).append(pa.field(ENTITY_COLUMN, pa.string()))
TOKEN_COLUMNS = ("__prompt_tokens", "__answer_tokens")  # per row, with a tokenizer (null without)
SPOOL_SCHEMA = pa.schema([*WORK_SCHEMA, *(pa.field(name, pa.int32()) for name in TOKEN_COLUMNS),
                          pa.field("__group_key", pa.uint64()), pa.field("__order_key", pa.uint64())])


def prompt_column(table: pa.Table) -> pa.Array:
    """The user turn: the instruction, joined with the input by "\\n" where the input is non-empty."""
    instruction = table["instruction"].combine_chunks().cast(pa.string())
    given = table["input"].combine_chunks().cast(pa.string())
    given = pc.fill_null(given, "")
    joined = pc.binary_join_element_wise(instruction, given, "\n")
    return pc.if_else(pc.equal(given, ""), instruction, joined)


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
