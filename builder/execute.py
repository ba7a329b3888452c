"""Executors: where the units of read → quality run. Here, in forked worker processes, or on Dask.

The logic is the same everywhere (`builder.units.run_unit`); a unit gets its parts (a source name and a
byte range), reads its own shard of the input and leaves its rows in files, so no row data ever passes
through a pipe. Results are merged in a fixed order, so the output does not depend on the executor.
"""

import multiprocessing
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path

from builder.catalogue import Catalogue
from builder.config import BuildConfig
from builder.errors import UserError
from builder.read import Detected
from builder.units import Part, Progress, UnitResult, run_unit

SHARDS_PER_WORKER = 4  # more shards than workers, so a worker that finishes early takes another


def shards_per_source(config: BuildConfig) -> int:
    """How many shards a splittable source is cut into: one for one local worker."""
    if config.engine == "local" and config.workers == 1:
        return 1
    return config.workers * SHARDS_PER_WORKER


def execute(
    config: BuildConfig,
    units: list[list[Part]],
    detected: dict[str, Detected],
    folder: Path,
    catalogue: Catalogue,
    progress: Progress,
) -> list[UnitResult]:
    """Runs every unit; results come back in the order of `units`."""
    if config.engine == "dask":
        return _on_dask(config, units, detected, folder)
    if config.workers == 1 or len(units) == 1:
        return [run_unit(config, unit, detected, folder, catalogue, progress) for unit in units]
    return _forked(config, units, detected, folder, progress)


def _forked(
    config: BuildConfig, units: list[list[Part]], detected: dict[str, Detected], folder: Path, progress: Progress
) -> list[UnitResult]:
    """Worker processes forked from this one (spawned where fork is missing): only parts and paths go to them."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    advance = progress("read → quality")
    pool = ProcessPoolExecutor(min(config.workers, len(units)), mp_context=multiprocessing.get_context(method))
    try:
        futures = [pool.submit(run_unit, config, unit, detected, folder) for unit in units]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                advance(sum(part.counts.read for part in future.result().parts))
        return [future.result() for future in futures]
    finally:
        pool.shutdown(cancel_futures=True)


def _on_dask(config: BuildConfig, units: list[list[Part]], detected: dict[str, Detected], folder: Path) -> list[UnitResult]:
    """Units as Dask tasks, on the scheduler at `config.scheduler` or on a local cluster of `config.workers`.
    Every worker must see the inputs and the output's folder at the same paths (a shared file system)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise UserError("--engine dask needs Dask, which is not installed",
                        remedy="pip install 'qizhen-instructions[dask]' (or pip install '.[dask]' in the repo)") from exc
    if config.scheduler:
        try:
            client = Client(config.scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise UserError(f"cannot reach the Dask scheduler at {config.scheduler} ({exc})",
                            remedy="check the address given to --scheduler, or leave it out for a local cluster") from exc
        with client:
            return _gather(client, config, units, detected, folder)
    with LocalCluster(n_workers=config.workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        return _gather(client, config, units, detected, folder)


def _gather(client, config: BuildConfig, units: list[list[Part]], detected: dict[str, Detected],
            folder: Path) -> list[UnitResult]:
    futures = [client.submit(run_unit, config, unit, detected, folder, pure=False) for unit in units]
    return client.gather(futures)
