"""The disk side of mix & split: rows spool to Arrow files, then a bucket sort shuffles them.

Memory stays bounded by one bucket (about BUCKET_BYTES), however many rows the build has: the calling
process reads only the key columns and routes every row to a (split, bucket) by key range; each bucket's
task then gathers its own rows from the memory-mapped spool, sorts them, and writes one shard of the
split (`builder.export.shards.prepare_bucket`).
"""

import mmap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from builder.memory import release_pages
from builder.mix.split import GROUP_KEY, ORDER_KEY, order_keys, split_bounds, split_of
from builder.rows import ROW_SCHEMA

BUCKET_BYTES = 32 << 20


def spool_batches(paths: list[Path], columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """The spooled batches of the spool files in order, read one at a time. A few columns are read through
    a memory map, which touches only their pages, and the pages are let go after each batch (they stay in
    the page cache), so a task's memory holds one batch of the spool, not the files; whole batches with
    plain reads, which keep none resident."""
    for path in paths:
        if not columns:
            with pa.OSFile(str(path), "rb") as source:
                reader = pa.ipc.open_file(source)
                for index in range(reader.num_record_batches):
                    yield reader.get_batch(index)
            continue
        with path.open("rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)  # lives while its batches do
        reader = pa.ipc.open_file(pa.py_buffer(mapped))
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index).select(columns)
            release_pages(mapped)


def bucket_counts(rows: np.ndarray, text_bytes: int, shard_rows: int) -> np.ndarray:
    """Per split, a power of two that keeps its buckets near BUCKET_BYTES of text and at most about
    `shard_rows` rows, since each bucket becomes a shard. Counted from the rows, not the spool files, whose
    size depends on how they were batched."""
    share = text_bytes * rows / max(int(rows.sum()), 1)
    wanted = np.maximum(np.maximum(share / BUCKET_BYTES, rows / shard_rows), 1)
    return np.minimum(2 ** np.ceil(np.log2(wanted)), MAX_BUCKETS).astype(np.int64)


MAX_BUCKETS = 1024


def route(
    spool: list[Path],
    fractions: dict[str, float],
    routes: Path,
    copies: np.ndarray,
    seed: int,
    text_bytes: int,
    shard_rows: int,
    bounds: list[tuple[str, int]] | None = None,
) -> dict[str, tuple[int, list[int]]]:
    """Decides the split and bucket of every spooled row, each row `copies` times (0 drops it; an extra copy
    has its own order key, so its own place), and saves them to `routes` for `bucket_rows`. Reads only the
    key columns. Returns each split's row count and its buckets (`split * MAX_BUCKETS + bucket`) in order."""
    keys = spooled_column(spool, GROUP_KEY)
    kept = keys[copies > 0]
    if not len(kept):
        return {}
    bounds = bounds or split_bounds(pa.array(kept, pa.uint64()), fractions)
    names = [name for name, _ in bounds]
    splits = np.asarray(split_of(pa.array(keys, pa.uint64()), bounds)).astype(np.int32)
    del keys, kept
    buckets = bucket_counts(np.bincount(splits, weights=copies, minlength=len(names)), text_bytes, shard_rows)
    shifts = (64 - np.log2(buckets)).astype(np.uint64)

    def targets(order: np.ndarray, split: np.ndarray) -> np.ndarray:
        bucket = np.where(buckets[split] > 1, order >> np.minimum(shifts[split], np.uint64(63)), 0)
        return split * MAX_BUCKETS + bucket.astype(np.int32)  # 4 bytes a row: every task reads all of them

    target = np.where(copies > 0, targets(spooled_column(spool, ORDER_KEY), splits), np.int32(-1))
    extra_rows, extra_keys = _extra_copies(spool, copies, seed)
    extra_targets = targets(extra_keys, splits[extra_rows])
    np.savez(routes, target=target, extra_rows=extra_rows, extra_keys=extra_keys, extra_targets=extra_targets)
    found, sizes = np.unique(np.concatenate([target[target >= 0], extra_targets]), return_counts=True)
    return {name: (int(sizes[found // MAX_BUCKETS == split].sum()), found[found // MAX_BUCKETS == split].tolist())
            for split, name in enumerate(names) if (found // MAX_BUCKETS == split).any()}


def bucket_rows(spool: list[Path], routes: Path, bucket: int) -> pa.Table:
    """The rows `route` sent to one bucket, unsorted, with their order keys. The spool files are memory-mapped,
    so a bucket's task touches only the pages of its rows and no row passes through a pipe."""
    with np.load(routes) as saved:
        rows = np.flatnonzero(saved["target"] == bucket)
        mine = saved["extra_targets"] == bucket
        extra_rows, extra_keys = saved["extra_rows"][mine], saved["extra_keys"][mine]
    parts, start = [], 0
    for batch in spool_batches(spool, [*ROW_SCHEMA.names, ORDER_KEY]):
        end = start + batch.num_rows
        here = rows[np.searchsorted(rows, start):np.searchsorted(rows, end)] - start
        if len(here):
            parts.append(batch.take(pa.array(here)))
        copied = (extra_rows >= start) & (extra_rows < end)
        if copied.any():
            extra = batch.take(pa.array(extra_rows[copied] - start))
            parts.append(extra.set_column(extra.schema.get_field_index(ORDER_KEY), ORDER_KEY,
                                          pa.array(extra_keys[copied], pa.uint64())))
        start = end
    return pa.Table.from_batches(parts)


def spooled_column(spool: list[Path], name: str) -> np.ndarray:
    """One spooled column as a numpy array (copied out: a column read from an IPC file is a slice of its whole
    batch, which it would keep alive)."""
    return np.concatenate([np.array(batch.column(0)) for batch in spool_batches(spool, [name])] or
                          [np.zeros(0, np.uint64)])


def _extra_copies(spool: list[Path], copies: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows repeated by up-sampling, once per extra copy, and the order key of each of those copies."""
    rows, keys = [np.zeros(0, np.int64)], [np.zeros(0, np.uint64)]
    if copies.max(initial=0) > 1:
        start = 0
        for batch in spool_batches(spool, ["record_id", "template_id", "variant", "type"]):
            here = copies[start:start + batch.num_rows]
            for copy in range(1, int(here.max(initial=0))):
                chosen = np.flatnonzero(here > copy)
                rows.append(chosen + start)
                keys.append(order_keys(batch.take(pa.array(chosen)), seed, copy))
            start += batch.num_rows
    return np.concatenate(rows), np.concatenate(keys)
