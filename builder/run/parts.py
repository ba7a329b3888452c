"""A part of a unit: one shard of one source, the folder its rows spool to with its ledger and dedup index, and
what it hands back to the merge."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from builder.config import BuildConfig
from builder.ledger import SourceCounts
from builder.mix.split import with_keys
from builder.read import WHOLE, Shard
from builder.rows import SPOOL_SCHEMA, TEXT_COLUMNS

if TYPE_CHECKING:  # a unit's run state: `spooled` only reads and counts on it
    from builder.run.units import Run


@dataclass(frozen=True)
class Part:
    """One shard of one source."""

    source: str
    index: int
    shard: Shard = WHOLE


@dataclass
class PartResult:
    """What a part left in its folder (`rows.arrow`, ledger files, `index.npz`, `near.npy`) and its counts."""

    source: str
    index: int
    folder: Path
    rows: int
    text_bytes: int
    counts: SourceCounts


def part_folder(folder: Path, config: BuildConfig, part: Part) -> Path:
    """The part's own folder under the unit's, named by its source's rank and its index."""
    rank = next(rank for rank, s in enumerate(config.by_preference()) if s.name == part.source)
    where = folder / f"{rank:03d}.{part.index:05d}"  # source names may hold any character
    where.mkdir(parents=True)
    return where


def spooled(run: "Run", part: Part, produce: Callable[[Callable[[pa.Table], None]], None]) -> PartResult:
    """Runs `produce` with a function that spools the rows it is given into the part's folder."""
    config, where = run.config, run.ledger.folder
    assert where is not None, "a unit's ledger writes into its part's folder"
    with pa.OSFile(str(where / "rows.arrow"), "wb") as sink, pa.ipc.new_file(sink, SPOOL_SCHEMA) as spool:
        def emit(rows: pa.Table) -> None:
            spool.write_table(with_keys(rows, config.seed, config.split.group_by))
            run.spooled += rows.num_rows
            run.text_bytes += sum(pc.sum(pc.binary_length(rows[c])).as_py() or 0 for c in TEXT_COLUMNS)

        produce(emit)
    run.ledger.close()
    run.quality.duplicates.save(where)
    return PartResult(part.source, part.index, where, run.spooled, run.text_bytes, run.ledger.counts(part.source))
