"""The disk side of mix & split: rows spool to an Arrow file, then an external bucket sort shuffles them.

Memory stays bounded by one bucket (about BUCKET_BYTES), however many rows the build has: rows are
read back batch by batch with ordinary reads (no memory map, so pages are not kept resident), routed
to per-(split, bucket) files by key range, and each bucket is sorted on its own.
"""

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from builder.split import GROUP_KEY, ORDER_KEY, bucket_of, sorted_by_order, split_bounds, split_of

BUCKET_BYTES = 96 << 20


def spool_batches(path: Path, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The spooled batches in write order, read one at a time."""
    with pa.OSFile(str(path), "rb") as source:
        reader = pa.ipc.open_file(source)
        for index in range(reader.num_record_batches):
            batch = reader.get_batch(index)
            yield batch.select(columns) if columns else batch


def bucket_count(path: Path) -> int:
    """A power of two that keeps each bucket near BUCKET_BYTES."""
    buckets = 1
    while path.stat().st_size / buckets > BUCKET_BYTES and buckets < 1024:
        buckets *= 2
    return buckets


def partition(spool: Path, fractions: dict[str, float], workdir: Path) -> dict[str, tuple[int, list[Path]]]:
    """Routes spooled rows to bucket files per split; returns each split's row count and buckets in order."""
    keys = pa.chunked_array([b.column(0) for b in spool_batches(spool, [GROUP_KEY])], pa.uint64())
    if not len(keys):
        return {}
    bounds = split_bounds(keys.combine_chunks(), fractions)
    names = [name for name, _ in bounds]
    buckets = bucket_count(spool)
    writers: dict[tuple[int, int], pa.ipc.RecordBatchStreamWriter] = {}
    counts: Counter = Counter()
    try:
        for batch in spool_batches(spool):
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


def shuffled(paths: list[Path]) -> Iterator[pa.Table]:
    """A split's rows in shuffle order, one sorted bucket at a time; each bucket file is removed after use."""
    for path in paths:
        with pa.OSFile(str(path), "rb") as source:
            table = pa.ipc.open_stream(source).read_all()
        path.unlink()
        yield sorted_by_order(table)


def _bucket_path(workdir: Path, split: int, bucket: int) -> Path:
    return workdir / f"bucket-{split}-{bucket:04d}.arrow"
