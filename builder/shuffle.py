"""The disk side of mix & split: rows spool to an Arrow file, then an external bucket sort shuffles them.

Memory stays bounded by one bucket (about BUCKET_BYTES), however many rows the build has: rows are
read back batch by batch with ordinary reads (no memory map, so pages are not kept resident), routed
to per-(split, bucket) files by key range, and each bucket is sorted on its own
(`builder.export.prepare_bucket`).
"""

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.split import (
    GROUP_KEY,
    ORDER_KEY,
    bucket_of,
    order_keys,
    split_bounds,
    split_of,
)

BUCKET_BYTES = 96 << 20


def spool_batches(paths: list[Path], columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The spooled batches of the spool files in order, read one at a time. A few columns are read through
    a memory map, which touches only their pages; whole batches with plain reads, which keep none resident."""
    for path in paths:
        with pa.memory_map(str(path)) if columns else pa.OSFile(str(path), "rb") as source:
            reader = pa.ipc.open_file(source)
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                yield batch.select(columns) if columns else batch


def bucket_count(text_bytes: int) -> int:
    """A power of two that keeps each bucket near BUCKET_BYTES of text. It is counted from the rows, not
    the spool files, whose size depends on how they were batched: so are the Parquet row groups."""
    buckets = 1
    while text_bytes / buckets > BUCKET_BYTES and buckets < 1024:
        buckets *= 2
    return buckets


def partition(
    spool: list[Path], fractions: dict[str, float], workdir: Path, copies: np.ndarray, seed: int, text_bytes: int
) -> dict[str, tuple[int, list[Path]]]:
    """Routes spooled rows to bucket files per split, each row `copies` times (0 drops it);
    returns each split's row count and its buckets in order."""
    # copied out: a column read from an IPC file is a slice of its whole batch, which it would keep alive
    keys = np.concatenate([np.array(b.column(0)) for b in spool_batches(spool, [GROUP_KEY])] or [np.zeros(0, np.uint64)])
    kept = keys[copies > 0]
    if not len(kept):
        return {}
    bounds = split_bounds(pa.array(kept, pa.uint64()), fractions)
    names = [name for name, _ in bounds]
    buckets = bucket_count(text_bytes)
    writers: dict[tuple[int, int], pa.ipc.RecordBatchStreamWriter] = {}
    counts: Counter = Counter()
    start = 0
    try:
        for batch in spool_batches(spool):
            batch, start = _copied(batch, copies[start:start + batch.num_rows], seed), start + batch.num_rows
            target = pc.add(pc.multiply(pc.cast(split_of(batch.column(GROUP_KEY), bounds), pa.int32()), buckets),
                            bucket_of(batch.column(ORDER_KEY), buckets))
            order = pc.sort_indices(target)
            grouped = batch.take(order)
            tally = pc.value_counts(target)
            offset = 0
            for value, count in sorted(zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist())):
                key = divmod(value, buckets)
                if key not in writers:
                    writers[key] = pa.ipc.new_stream(str(_bucket_path(workdir, *key)), batch.schema)
                writers[key].write_batch(grouped.slice(offset, count))
                counts[key[0]] += count
                offset += count
    finally:
        for writer in writers.values():
            writer.close()
    return {
        names[split]: (counts[split], [_bucket_path(workdir, s, b) for s, b in sorted(writers) if s == split])
        for split in sorted(counts)
    }


def _copied(batch: pa.RecordBatch, copies: np.ndarray, seed: int) -> pa.RecordBatch:
    """The batch without dropped rows, with each repeated row's extra copies given their own order keys."""
    if (copies == 1).all():
        return batch
    parts = [batch.filter(pa.array(copies > 0))]
    for copy in range(1, int(copies.max(initial=0))):
        extra = batch.filter(pa.array(copies > copy))
        keys = pa.array(order_keys(extra, seed, copy), pa.uint64())
        parts.append(extra.set_column(extra.schema.get_field_index(ORDER_KEY), ORDER_KEY, keys))
    merged = pa.Table.from_batches(parts, schema=batch.schema).combine_chunks().to_batches()
    return merged[0] if merged else batch.slice(0, 0)


def _bucket_path(workdir: Path, split: int, bucket: int) -> Path:
    return workdir / f"bucket-{split}-{bucket:04d}.arrow"
