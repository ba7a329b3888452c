"""The disk side of mix & split: rows spool to an Arrow file, then an external bucket sort shuffles them.

Memory stays bounded by one bucket (about BUCKET_BYTES), however many rows the build has: rows are
read back batch by batch with ordinary reads (no memory map, so pages are not kept resident), routed
to per-(split, bucket) files by key range, and each bucket is sorted on its own and becomes one shard
of the split (`builder.export.prepare_bucket`).
"""

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from builder.split import (
    GROUP_KEY,
    ORDER_KEY,
    order_keys,
    split_bounds,
    split_of,
)

BUCKET_BYTES = 48 << 20


def spool_batches(paths: list[Path], columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The spooled batches of the spool files in order, read one at a time. A few columns are read through
    a memory map, which touches only their pages; whole batches with plain reads, which keep none resident."""
    for path in paths:
        with pa.memory_map(str(path)) if columns else pa.OSFile(str(path), "rb") as source:
            reader = pa.ipc.open_file(source)
            for index in range(reader.num_record_batches):
                batch = reader.get_batch(index)
                yield batch.select(columns) if columns else batch


def bucket_counts(rows: np.ndarray, text_bytes: int, shard_rows: int) -> np.ndarray:
    """Per split, a power of two that keeps its buckets near BUCKET_BYTES of text and at most about
    `shard_rows` rows, since each bucket becomes a shard. Counted from the rows, not the spool files, whose
    size depends on how they were batched."""
    share = text_bytes * rows / max(int(rows.sum()), 1)
    wanted = np.maximum(np.maximum(share / BUCKET_BYTES, rows / shard_rows), 1)
    return np.minimum(2 ** np.ceil(np.log2(wanted)), MAX_BUCKETS).astype(np.int64)


MAX_BUCKETS = 1024


def partition(
    spool: list[Path],
    fractions: dict[str, float],
    workdir: Path,
    copies: np.ndarray,
    seed: int,
    text_bytes: int,
    shard_rows: int,
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
    splits = np.asarray(split_of(pa.array(keys, pa.uint64()), bounds)).astype(np.int64)
    buckets = bucket_counts(np.bincount(splits, weights=copies, minlength=len(names)), text_bytes, shard_rows)
    shifts = (64 - np.log2(buckets)).astype(np.uint64)
    del keys, kept
    writers: dict[tuple[int, int], pa.ipc.RecordBatchStreamWriter] = {}
    counts: Counter = Counter()
    start = 0
    try:
        for batch in spool_batches(spool):
            end = start + batch.num_rows
            batch, split = _copied(batch, copies[start:end], splits[start:end], seed)
            start = end
            order = np.asarray(batch.column(ORDER_KEY))
            bucket = np.where(buckets[split] > 1, order >> np.minimum(shifts[split], np.uint64(63)), 0)
            target = split * MAX_BUCKETS + bucket.astype(np.int64)
            grouped = batch.take(pa.array(np.argsort(target, kind="stable")))
            values, sizes = np.unique(target, return_counts=True)
            offset = 0
            for value, count in zip(values.tolist(), sizes.tolist(), strict=True):
                key = divmod(value, MAX_BUCKETS)
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


def _copied(batch: pa.RecordBatch, copies: np.ndarray, splits: np.ndarray, seed: int) -> tuple[pa.RecordBatch, np.ndarray]:
    """The batch without dropped rows, with each repeated row's extra copies given their own order keys;
    and the split of each row of the result."""
    if (copies == 1).all():
        return batch, splits
    parts, split_parts = [batch.filter(pa.array(copies > 0))], [splits[copies > 0]]
    for copy in range(1, int(copies.max(initial=0))):
        extra = batch.filter(pa.array(copies > copy))
        keys = pa.array(order_keys(extra, seed, copy), pa.uint64())
        parts.append(extra.set_column(extra.schema.get_field_index(ORDER_KEY), ORDER_KEY, keys))
        split_parts.append(splits[copies > copy])
    merged = pa.Table.from_batches(parts, schema=batch.schema).combine_chunks().to_batches()
    return (merged[0] if merged else batch.slice(0, 0)), np.concatenate(split_parts)


def _bucket_path(workdir: Path, split: int, bucket: int) -> Path:
    return workdir / f"bucket-{split}-{bucket:04d}.arrow"
