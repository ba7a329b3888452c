"""LLaMA-Factory's `dataset_info.json` for a build: one entry per format and split whose file holds a row, with the
columns its rows have, file names relative to the build folder (put the file there and pass `dataset_dir: OUT`)."""

import json
from collections.abc import Iterable
from pathlib import Path

from builder.export.formats import PREFERENCE_FORMATS, formats_named


def dataset_info(out_dir: Path, formats: Iterable[str], name: str) -> dict:
    """LLaMA-Factory `dataset_info.json` entries, `{name}_{format}_{split}`, for each format named
    (a key of `known_formats`) and each preference format, and each split whose file exists in `out_dir` and
    holds a row; a file whose rows have the format's `keys` gets them as columns."""
    out_dir, entries = Path(out_dir), {}
    for spec in [*formats_named(formats), *PREFERENCE_FORMATS.values()]:
        if not spec.llama_factory:
            continue  # a format LLaMA-Factory does not read (a plug-in's, say) gets no entry
        format_name = spec.name
        for path in sorted((out_dir / spec.folder).glob(f"*{spec.suffix}")):
            if path.suffix != spec.suffix or not has_rows(path):
                continue  # alpaca/*.json must not match alpaca/*.jsonl, nor the reverse
            split = path.name[: -len(spec.suffix)]
            entry = {"file_name": path.relative_to(out_dir).as_posix(), **json.loads(json.dumps(spec.llama_factory))}
            if spec.keys and set(spec.keys) <= set(_first_row(path, spec.listed)):
                entry["columns"].update({key: key for key in spec.keys})
            entries[f"{name}_{format_name}_{split}"] = entry
    return entries


def write_dataset_info(out_dir: Path, formats: Iterable[str], name: str) -> Path:
    """Writes `dataset_info.json` into `out_dir` (file names in it are relative to `out_dir`)."""
    path = Path(out_dir) / "dataset_info.json"
    path.write_text(json.dumps(dataset_info(out_dir, formats, name), ensure_ascii=False, indent=2) + "\n",
                    encoding="utf-8")
    return path


def has_rows(path: Path) -> bool:
    """A JSONL file with a line, or a JSON list that is not empty (reads only the first bytes)."""
    with path.open("rb") as handle:
        head = b"".join(handle.read(64).split())
    return bool(head) and not head.startswith(b"[]")


def _first_row(path: Path, listed: bool) -> dict:
    """The first row of a file these writers wrote (a row per line; a JSON list opens with "[" on its own line)."""
    with path.open("rb") as handle:
        line = handle.readline()
        if listed:
            line = handle.readline()
    try:
        found = json.loads(line.rstrip().removesuffix(b","))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
