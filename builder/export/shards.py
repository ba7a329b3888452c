"""Export: each shuffled bucket of a split becomes a Parquet shard (hub layout) and a shard of a `datasets`
DatasetDict, by `prepare_bucket` in any process; the trainer formats (`builder.export.formats`) are rendered from the
Arrow shards (`shard_rows`).

Everything is written into the build's temporary folder; `builder.run.outdir` swaps it into place at the very
end, so an interrupted or failed build leaves the previous output untouched.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from builder.export.chat import MaskChecks, check_rows
from builder.export.pretokenize import pretokenized
from builder.export.report import COLUMNS, Tally
from builder.hashing import hash64
from builder.mix.shuffle import bucket_rows
from builder.mix.split import sorted_by_order
from builder.rows import FEATURES, ROW_SCHEMA

# `datasets`' own description of the columns, as it writes it into its files; written here without importing
# `datasets` (a second of start-up), and read back with it by the tests.
HF_SCHEMA = pa.schema([field.with_nullable(True) for field in ROW_SCHEMA],
                      metadata={"huggingface": json.dumps({"info": {"features": FEATURES}})})
HF_INFO = {"description": "", "citation": "", "homepage": "", "license": "", "features": FEATURES}


ROW_GROUP = 100_000
DICTIONARY = ["input", "source", "kind", "template_id", "variant", "type", "system"]  # few distinct values; the text columns are
# nearly all distinct, and dictionary-encoding them first only to fall back costs a third of the write


@dataclass(frozen=True)
class OutputShard:
    """Where one bucket of a split goes: its index among the split's shards, and how many there are."""

    split: str
    index: int
    count: int

    def name(self, stem: str, suffix: str) -> str:
        return f"{stem}-{self.index:05d}-of-{self.count:05d}{suffix}"


@dataclass(frozen=True)
class Prepared:
    """A bucket written as its Parquet and Arrow shards."""

    rows: int
    arrow: Path
    parquet: tuple[str, str]  # the Parquet shard's path in the build and its sha256, hashed while in the page cache
    tally: Tally | None  # the report's counts of the bucket's rows, when the build writes a report
    masks: MaskChecks | None = None  # the chat templates' mask check of the bucket's rows, when asked for
    pretokenized: tuple[str, str] | None = None  # its pre-tokenized shard's path in the build and sha256


def prepare_bucket(spool: list[Path], routes: Path, bucket: int, shard: OutputShard, folder: Path,
                   report: bool, chat: tuple[tuple[str, ...], str | None] = ((), None),
                   pretokenize: tuple[Path, str | None] | None = None) -> Prepared:
    """Gathers one bucket's rows from the spool (`shuffle.bucket_rows`), sorts them into output order and writes
    them as a Parquet shard (hub layout) and a shard of the `datasets` Arrow files: the export of one bucket,
    runnable in any process."""
    table = sorted_by_order(bucket_rows(spool, routes, bucket)).cast(ROW_SCHEMA)
    parquet = Path("data", shard.name(shard.split, ".parquet"))
    pq.write_table(table, folder / parquet, row_group_size=ROW_GROUP, compression="zstd", use_dictionary=DICTIONARY)
    arrow = folder / "hf" / shard.split / shard.name("data", ".arrow")
    with pa.ipc.new_stream(str(arrow), HF_SCHEMA) as stream:
        stream.write_table(table.cast(HF_SCHEMA))
    rows, tally = table.num_rows, None
    templates, system = chat
    masks = check_rows(templates, table, system, parquet.as_posix()) if templates else None
    tokenized: tuple[str, str] | None = None
    if pretokenize is not None:
        ids = Path("pretokenized", shard.name(shard.split, ".parquet"))
        pq.write_table(pretokenized(table, pretokenize, templates[0], system, parquet.as_posix()), folder / ids,
                       compression="zstd")
        tokenized = (ids.as_posix(), sha256_file(folder / ids))
    if report:
        tally = Tally()
        for batch in table.select(COLUMNS).to_batches():
            tally.add_batch(batch, shard.split)
    del table
    pa.default_memory_pool().release_unused()  # a worker process lives on: give freed memory back
    return Prepared(rows, arrow, (parquet.as_posix(), sha256_file(folder / parquet)), tally, masks, tokenized)


def shard_rows(arrow: Path) -> pa.Table:
    """An Arrow shard's rows, memory-mapped from the page cache it was just written to: the trainer formats are
    rendered from it straight into their files, so their text is written once (not as pieces to copy)."""
    with pa.ipc.open_stream(pa.memory_map(str(arrow))) as stream:
        return stream.read_all()


def write_hf(splits: list[str], folder: Path) -> None:
    """The `DatasetDict.save_to_disk` layout around the Arrow shards `prepare_bucket` wrote in `datasets`'
    own schema. `save_to_disk` itself would read every page of the memory-mapped dataset back and hold
    them resident: memory would grow with the dataset. The fingerprint (`datasets`' cache key) is a hash of
    the split's shards.

    Empty splits are never given here: `load_from_disk` cannot read a split saved with no shards.
    """
    for name in splits:
        shards = sorted((folder / name).glob("data-*.arrow"))
        (folder / name / "dataset_info.json").write_text(json.dumps(HF_INFO), encoding="utf-8")
        state: dict[str, object] = {
            "_data_files": [{"filename": shard.name} for shard in shards],
            "_fingerprint": f"{hash64(name, *((s.name, s.stat().st_size) for s in shards)):016x}",
            "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
            "_output_all_columns": False, "_split": name,
        }
        (folder / name / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": splits}), encoding="utf-8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
