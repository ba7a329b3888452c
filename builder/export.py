"""Export: the split rows as Parquet shards (hub layout), a `datasets` DatasetDict, and Alpaca JSON lists.

Everything is written into the build's temporary folder; `publish_atomically` swaps it into place
at the very end, so an interrupted or failed build leaves the previous output untouched.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from builder.errors import UserError
from builder.rows import ALPACA_COLUMNS

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


def write_parquet(table: pa.Table, folder: Path, split: str, shard_rows: int) -> list[Path]:
    """`data/<split>-00000-of-0000N.parquet`, the layout the hub and `load_dataset` understand."""
    folder.mkdir(parents=True, exist_ok=True)
    shards = max(1, -(-table.num_rows // shard_rows))
    paths = []
    for shard in range(shards):
        path = folder / f"{split}-{shard:05d}-of-{shards:05d}.parquet"
        pq.write_table(table.slice(shard * shard_rows, shard_rows), path, compression="zstd", row_group_size=100_000)
        paths.append(path)
    return paths


def write_alpaca(table: pa.Table, path: Path) -> None:
    """A JSON list of {instruction, input, output}, UTF-8 and not ASCII-escaped, written batch by batch."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dumps = json.JSONEncoder(ensure_ascii=False, indent=None).encode
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        first = True
        for batch in table.select(list(ALPACA_COLUMNS)).to_batches(max_chunksize=50_000):
            columns = [batch.column(i).to_pylist() for i in range(3)]
            for instruction, given, output in zip(*columns):
                out.write(("\n" if first else ",\n") + dumps({"instruction": instruction, "input": given, "output": output}))
                first = False
        out.write("\n]\n")


def write_hf(splits: dict[str, pa.Table], folder: Path) -> None:
    """`DatasetDict.save_to_disk`, fed Arrow tables directly (never row by row); empty splits are never written."""
    datasets.disable_progress_bars()
    dataset = datasets.DatasetDict(
        {name: datasets.Dataset(datasets.table.InMemoryTable(table), info=datasets.DatasetInfo(features=FEATURES))
         for name, table in splits.items() if table.num_rows}
    )
    dataset.save_to_disk(str(folder))


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
