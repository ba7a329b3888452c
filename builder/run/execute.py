"""Executors: where the parallel work of a build runs. In this process, in forked worker processes, or on Dask.

Two stages run through an executor: the units of read → quality (`builder.run.units.run_unit`) and the
preparation of shuffled buckets for export (`builder.export.shards.prepare_bucket`). The logic is the same
everywhere; each call gets paths and settings, reads its own input (a shard of a source, a bucket)
and leaves its results in files, so no row data passes through a pipe. Results come back in call
order, so the output does not depend on the executor or on which worker finished first.
"""

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from builder.config import BuildConfig
from builder.errors import UserError
from builder.export.formats import json_lines
from builder.kernels.shingles import longest_shared, min_slots, text_keys
from builder.kernels.utf8 import edge_whitespace
from builder.quality.filters import han_counts, question_equals_answer
from builder.quality.normalize import fold_array

SHARDS_PER_WORKER = 8  # small shards: a worker free early (or beside the knowledge-base unit) takes another


class Executor(Protocol):
    def map(self, function: Callable, calls: Iterable[tuple]) -> Iterator:
        """`function(*call)` for each call, results in call order."""


class Inline:
    """This process, one call after another, as the caller asks for the results."""

    def map(self, function: Callable, calls: Iterable[tuple]) -> Iterator:
        return (function(*call) for call in calls)


class Pool:
    """Worker processes forked from this one (spawned where fork is missing), fresh for each stage: a
    worker's memory goes when its stage ends, not while this process works between stages."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def map(self, function: Callable, calls: Iterable[tuple]) -> Iterator:
        """Submits every call now, so the workers start while this process goes on; the pool shuts down once
        the results are read (or their iterator is dropped)."""
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method),
                                   initializer=die_with_parent, initargs=(os.getpid(),))
        try:
            results = pool.map(function, *zip(*calls, strict=True))
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
        return _collected(pool, results)


def die_with_parent(parent: int) -> None:
    """A worker ends when the build's process dies (killed, say, by the OOM killer) instead of living on,
    orphaned: the kernel signals it on Linux; elsewhere a thread watches for the parent to go."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    else:
        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)
        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # died before the signal was asked for
        os._exit(1)


def _collected(pool: ProcessPoolExecutor, results: Iterator) -> Iterator:
    try:
        yield from results
    finally:
        pool.shutdown(cancel_futures=True)


class _Future(Protocol):
    def result(self) -> Any: ...


class DaskClient(Protocol):
    """What `Dask` uses of a `distributed.Client` (an optional dependency)."""

    def submit(self, function: Callable, /, *args: Any, pure: bool = ...) -> _Future: ...


class Dask:
    """Tasks on a Dask cluster; every worker must see the inputs and the output's folder at the same paths."""

    def __init__(self, client: DaskClient) -> None:
        self.client = client

    def map(self, function: Callable, calls: Iterable[tuple]) -> Iterator:
        futures = [self.client.submit(function, *call, pure=False) for call in calls]
        return (future.result() for future in futures)


def shards_per_source(config: BuildConfig) -> int:
    """How many shards a splittable source is cut into."""
    return config.workers * SHARDS_PER_WORKER


@contextmanager
def executor_for(config: BuildConfig) -> Iterator[Executor]:
    """The executor the config asks for, open for the length of the `with` block."""
    if config.engine == "dask":
        with _dask_client(config) as client:
            yield Dask(client)
    elif config.workers == 1:
        yield Inline()
    else:
        load_kernels()
        yield Pool(config.workers)


def load_kernels() -> None:
    """Loads the compiled text loops, for the Arrow offset widths the stages give them, in this process before
    workers fork from it: they share its code pages instead of each loading (or compiling) its own copy."""
    strings = pa.array(["Ab 中文"])
    folded = fold_array(strings)  # large_string, like every folded column
    longest_shared(folded, 13, np.zeros(8, bool), np.zeros(1, np.uint64))
    min_slots(folded, 5, 8)
    for keyed in (strings, folded):
        text_keys(keyed)
    han_counts(strings)
    edge_whitespace(strings)
    question_equals_answer(folded)
    json_lines([strings], ["", ""], "", "", "\n")


@contextmanager
def _dask_client(config: BuildConfig) -> Iterator[DaskClient]:
    """A client of the scheduler at `config.scheduler`, or of a local cluster of `config.workers` processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise UserError("--engine dask needs Dask, which is not installed",
                        remedy="pip install 'qizhen-instructions[dask]' (or pip install '.[dask]' in the repo)") from exc
    if not config.scheduler:
        with LocalCluster(n_workers=config.workers, threads_per_worker=1, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            yield client
        return
    try:
        client = Client(config.scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {config.scheduler} ({exc})",
                        remedy="check the address given to --scheduler, or leave it out for a local cluster") from exc
    with client:
        yield client
