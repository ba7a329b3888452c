"""Export: the split rows as Parquet shards (hub layout) and a `datasets` DatasetDict; buckets are sorted
and rendered for the trainer formats (`builder.formats`) by `prepare_bucket`, in any process.

Everything is written into the build's temporary folder; `publish_atomically` swaps it into place
at the very end, so an interrupted or failed build leaves the previous output untouched.
"""

import hashlib
import os
import shutil
import json
from dataclasses import dataclass
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from builder.errors import UserError
from builder.formats import formats_named
from builder.rows import ROW_SCHEMA
from builder.split import sorted_by_order

FEATURES = datasets.Features(
    {
        "instruction": datasets.Value("string"),
        "input": datasets.Value("string"),
        "output": datasets.Value("string"),
        "source": datasets.Value("string"),
        "kind": datasets.Value("string"),
        "record_id": datasets.Value("string"),
        "template_id": datasets.Value("string"),
        "variant": datasets.Value("int32"),
    }
)

HF_SCHEMA = FEATURES.arrow_schema  # with the `huggingface` metadata `datasets` writes into its own files


class SplitWriter:
    """Writes one split, table by table, as Parquet shards and a `datasets` Arrow file."""

    def __init__(self, folder: Path, split: str, rows: int, shard_rows: int) -> None:
        self.folder, self.split, self.shard_rows = folder, split, shard_rows
        self.shards = max(1, -(-rows // shard_rows))
        self._parquet: pq.ParquetWriter | None = None
        self._shard, self._in_shard = -1, 0
        (folder / "data").mkdir(parents=True, exist_ok=True)
        self.arrow_path = folder / f".{split}.arrow"
        self._arrow = pa.ipc.new_stream(str(self.arrow_path), HF_SCHEMA)

    def write(self, table: pa.Table) -> None:
        table = table.cast(ROW_SCHEMA)
        self._arrow.write_table(table.cast(HF_SCHEMA))
        while table.num_rows:
            if self._parquet is None or self._in_shard == self.shard_rows:
                self._next_shard()
            take = min(table.num_rows, self.shard_rows - self._in_shard)
            self._parquet.write_table(table.slice(0, take), row_group_size=ROW_GROUP)
            self._in_shard += take
            table = table.slice(take)

    def _next_shard(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        self._shard, self._in_shard = self._shard + 1, 0
        path = self.folder / "data" / f"{self.split}-{self._shard:05d}-of-{self.shards:05d}.parquet"
        self._parquet = pq.ParquetWriter(path, ROW_SCHEMA, compression="zstd")

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        self._arrow.close()


ROW_GROUP = 100_000


@dataclass(frozen=True)
class Prepared:
    """A bucket in output order (an Arrow file of output rows) and rendered in each trainer format."""

    table: Path
    rows: int
    pieces: dict[str, Path]


def prepare_bucket(bucket: Path, formats: list[str], system: str | None) -> Prepared:
    """Sorts one bucket into output order and renders it in every trainer format: the part of the export
    that runs in any process. Writing Parquet and the Arrow stream, file by file, stays with the caller."""
    with pa.OSFile(str(bucket), "rb") as source:
        table = sorted_by_order(pa.ipc.open_stream(source).read_all())
    bucket.unlink()
    path = bucket.with_suffix(".sorted.arrow")
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    pieces = {}
    for spec in formats_named(formats):
        pieces[spec.name] = bucket.with_suffix(f".{spec.name}")
        pieces[spec.name].write_bytes(spec.render(table, system))
    return Prepared(path, table.num_rows, pieces)


def read_prepared(prepared: Prepared) -> pa.Table:
    """The sorted rows of a prepared bucket; its file is removed."""
    with pa.OSFile(str(prepared.table), "rb") as source:
        table = pa.ipc.open_file(source).read_all()
    prepared.table.unlink()
    return table


def write_hf(arrow_files: dict[str, Path], folder: Path) -> None:
    """The `DatasetDict.save_to_disk` layout, with each split's Arrow stream (written table by table in
    `datasets`' own schema) moved in as its one shard. `save_to_disk` itself would read every page of the
    memory-mapped file back and hold them resident: memory would grow with the dataset.

    Empty splits are never given here: `load_from_disk` cannot read a split saved with no shards.
    """
    info = datasets.DatasetInfo(features=FEATURES)
    for name, path in arrow_files.items():
        shard = folder / name / "data-00000-of-00001.arrow"
        shard.parent.mkdir(parents=True)
        path.rename(shard)
        dataset = datasets.Dataset.from_file(str(shard), info=info, split=name)
        dataset.info.write_to_directory(str(shard.parent))
        state = {"_data_files": [{"filename": shard.name}], "_fingerprint": dataset._fingerprint,
                 "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
                 "_output_all_columns": False, "_split": name}
        (shard.parent / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(arrow_files)}), encoding="utf-8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prepare_output(out: Path) -> Path:
    """A fresh temporary folder beside `out`; refuses to replace a folder that is not a build."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "manifest.json").is_file())):
        raise UserError("exists and is not a previous build (no manifest.json)", file=out,
                        remedy="choose an empty or new folder for --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def publish_atomically(tmp: Path, out: Path) -> None:
    """Swaps the finished build into place with renames; the old build is removed only afterwards."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
