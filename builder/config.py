"""One validated configuration for a build: what the TOML file says, with the command-line flags on top."""

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from builder.errors import UserError

Kind = Literal["drug", "disease", "qa"]
Format = Literal["auto", "csv", "json", "jsonl", "kv", "sharegpt", "alpaca", "messages"]
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = PROJECT_ROOT / "raw" / "sample.toml"


class Strict(BaseModel):
    """Unknown keys in a config file are typos; refuse them instead of ignoring them."""

    model_config = ConfigDict(extra="forbid")


class SourceConfig(Strict):
    """One input file and how to read it; `auto` settings are detected and recorded in the manifest."""

    path: Path
    kind: Kind
    name: str = ""
    format: Format = "auto"
    encoding: str | None = Field(None, description="utf-8, utf-8-sig or gb18030; detected when unset")
    header: bool | None = Field(None, description="CSV only: whether the first row names the columns")
    columns: list[str] | None = Field(None, description="CSV only: column names of a file without a header")
    delimiter: str | None = Field(None, description="CSV only: detected when unset")
    mapping: dict[str, str] = Field(default_factory=dict, description="source field -> schema field")
    license: str | None = None

    @model_validator(mode="after")
    def default_name(self) -> "SourceConfig":
        """A source is named after its file unless the user names it."""
        if not self.name:
            self.name = self.path.stem
        return self


class SplitConfig(Strict):
    """Fractions of records per split; they must add up to 1."""

    train: float = Field(0.9, ge=0, le=1)
    validation: float = Field(0.05, ge=0, le=1)
    test: float = Field(0.05, ge=0, le=1)

    @model_validator(mode="after")
    def sums_to_one(self) -> "SplitConfig":
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"split fractions add up to {total:g}, not 1")
        return self

    def fractions(self) -> dict[str, float]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


class BuildConfig(Strict):
    """Everything a build needs; the manifest records it so a build can be repeated."""

    sources: list[SourceConfig] = Field(default_factory=list)
    out: Path = Path("out/dataset")
    seed: int = 42
    split: SplitConfig = Field(default_factory=SplitConfig)
    templates: Path = PROJECT_ROOT / "templates"
    mapping: dict[Kind, dict[str, str]] = Field(default_factory=dict, description="per kind: source field -> field")
    variants: int = Field(1, ge=1, description="phrasings emitted per record and template")
    batch_size: int = Field(5000, gt=0)
    shard_rows: int = Field(500_000, gt=0, description="rows per Parquet shard")

    @field_validator("sources")
    @classmethod
    def unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"source names repeat: {', '.join(repeated)}; give each a distinct name")
        return sources

    def mapping_for(self, source: SourceConfig) -> dict[str, str]:
        """The user's mappings for one source: the kind's table, then the source's own on top."""
        return {**self.mapping.get(source.kind, {}), **source.mapping}


def load_config_file(path: Path) -> dict:
    """Reads a TOML config; relative paths in it are relative to the file's folder."""
    if not path.is_file():
        raise UserError("no such config file", file=path, remedy="check the path given to --config")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"not valid TOML ({exc})", file=path, remedy="fix the syntax") from exc
    base = path.resolve().parent
    for source in data.get("sources", []):
        if "path" in source:
            source["path"] = str((base / source["path"]).resolve())
    for key in ("out", "templates"):
        if key in data:
            data[key] = str((base / data[key]).resolve())
    return data


def build_config(data: dict, origin: str) -> BuildConfig:
    """Validates raw settings into a BuildConfig; a bad setting becomes one clear line."""
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise UserError(
            f"{first['msg']} (input: {first.get('input')!r})",
            file=origin,
            field=where,
            remedy=f"fix this setting ({exc.error_count()} problem(s) in all)",
        ) from exc
