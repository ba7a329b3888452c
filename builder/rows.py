"""The Arrow schema of output rows: the columns of `schemas.OutputRow`, typed for Parquet and datasets."""

import pyarrow as pa

ROW_SCHEMA = pa.schema(
    [
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("input", pa.string(), nullable=False),
        pa.field("output", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("template_id", pa.string()),
        pa.field("variant", pa.int32()),
    ]
)
FEATURES = {field.name: str(field.type) for field in ROW_SCHEMA}  # column -> `datasets` dtype ("string", "int32")
POSITION, ENTITY_COLUMN = "__position", "__entity"  # where a record was read (line or index); its entity
WORK_SCHEMA = ROW_SCHEMA.append(pa.field(POSITION, pa.int64())).append(pa.field(ENTITY_COLUMN, pa.string()))
SPOOL_SCHEMA = WORK_SCHEMA.append(pa.field("__group_key", pa.uint64())).append(pa.field("__order_key", pa.uint64()))


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
