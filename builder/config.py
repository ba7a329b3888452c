"""One validated configuration for a build: what the TOML file says, with the command-line flags on top."""

import os
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from builder.errors import UserError
from schemas import RECORD_MODELS


def shipped(package: str) -> Path:
    """A folder of package data (the catalogue, the sample), wherever the tool is installed."""
    return Path(str(files(package)))


SHIPPED_TEMPLATES = shipped("builder.templates")
SAMPLE_CONFIG = shipped("builder.sample") / "sample.toml"
SAMPLE_OUT = Path("out/sample")


def usable_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count), so the default uses them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _known_kind(kind: str) -> str:
    """A kind is known when schemas/ (or a plug-in) defines it; the message lists the kinds there are."""
    if kind not in RECORD_MODELS:
        raise ValueError(f"unknown record kind '{kind}'; the kinds are: {', '.join(RECORD_MODELS)}")
    return kind


def _runnable(patterns: list[str], owner: str) -> list[str]:
    """Cleaning patterns are RE2 expressions (what Arrow runs); one that cannot run is refused when the config loads."""
    from builder.clean.rules import pattern_error
    for pattern in patterns:
        if (error := pattern_error(pattern)) is not None:
            raise ValueError(f"{owner}pattern {pattern!r} is not a valid regular expression ({error})")
    return patterns


class Strict(BaseModel):
    """Unknown keys in a config file are typos; refuse them instead of ignoring them."""

    model_config = ConfigDict(extra="forbid")


class SourceConfig(Strict):
    """One input file and how to read it; `auto` settings are detected and recorded in the manifest."""

    path: Path
    kind: str = Field(description="a record kind: a model in schemas/ (drug, disease, …) or qa")
    name: str = ""
    format: str = Field("auto", description="auto (detected), a reader's name (csv, json, jsonl, kv, a plug-in's), "
                                             "or a QA conversation format: sharegpt, alpaca, messages")
    encoding: str | None = Field(None, description="utf-8, utf-8-sig or gb18030; detected when unset")
    header: bool | None = Field(None, description="CSV only: whether the first row names the columns")
    columns: list[str] | None = Field(None, description="CSV only: column names of a file without a header")
    delimiter: str | None = Field(None, description="CSV only: detected when unset")
    mapping: dict[str, str] = Field(default_factory=dict, description="source field -> schema field")
    license: str | None = None
    weight: float | None = Field(None, gt=0, description="mixing: keep this fraction of records (>1 repeats them)")
    target: int | None = Field(None, gt=0, description="mixing: about this many rows, sampled by record")
    strip: list[str] = Field(default_factory=list, description="this source only: removed from every text value")
    drop: list[str] = Field(default_factory=list, description="this source only: a record any of whose values "
                                                              "matches is rejected (clean:drop_pattern)")

    @field_validator("strip", "drop")
    @classmethod
    def runnable_patterns(cls, patterns: list[str], info: ValidationInfo) -> list[str]:
        name = info.data.get("name") or Path(str(info.data.get("path", ""))).stem
        return _runnable(patterns, f"source '{name}': {info.field_name} ")

    @field_validator("kind")
    @classmethod
    def known_kind(cls, kind: str) -> str:
        return _known_kind(kind)

    @field_validator("format")
    @classmethod
    def known_format(cls, name: str) -> str:
        """Every format a reader can honour; any other value is refused, never ignored."""
        from builder.read import RECORD_FORMATS, known_readers
        choices = ["auto", *known_readers(), *RECORD_FORMATS]
        if name not in choices:
            raise ValueError(f"unknown input format '{name}'; the formats are: {', '.join(choices)}")
        return name

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

    group_by: Literal["entity", "record"] = Field(
        "entity", description="entity: all rows naming one drug or disease share a split; record: per record"
    )

    def fractions(self) -> dict[str, float]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


class DedupConfig(Strict):
    """Exact duplicates (normalised text) everywhere; near duplicates (MinHash LSH) in free-text QA."""

    exact: bool = True
    near: bool = True
    threshold: float = Field(0.8, gt=0, lt=1, description="estimated Jaccard of character n-grams")
    ngram: int = Field(5, ge=1, le=20)
    same_name: Literal["keep", "first"] = Field(
        "keep", description="records of one kind sharing a name: keep all, or keep the first (preferred) one"
    )


class FilterConfig(Strict):
    """Row filters; each removal names its reason. Lengths are in characters."""

    min_answer_chars: int = Field(2, ge=0)
    max_row_chars: int = Field(8000, gt=0)
    min_cjk_ratio: float = Field(0.2, ge=0, le=1, description="share of Chinese characters an answer needs")
    stray_punctuation: bool = True
    question_equals_answer: bool = True
    promotional: bool = Field(True, description="answers that push a product or a channel (links, contacts, phones)")
    spun_text: bool = Field(True, description="answers a synonym-swapping rewriter left (放柔 for 加重 …)")
    extra: list[str] = Field(default_factory=list, description="plug-in filters to run too, by name, in order")

    @field_validator("extra")
    @classmethod
    def installed(cls, names: list[str]) -> list[str]:
        from builder.registry import plugin_names
        missing = [name for name in names if name not in plugin_names("filters")]
        if missing:
            raise ValueError(f"no installed plug-in filter '{missing[0]}'; installed: "
                             f"{', '.join(plugin_names('filters')) or 'none'}")
        return names


class PIIConfig(Strict):
    """Scrubbing of personal data in free text, with typed placeholders or fakes of the same shape."""

    qa: bool = True
    records: bool = False
    mode: Literal["placeholder", "fake"] = Field(
        "placeholder", description="placeholder: `[姓名]`, `[身份证号]` …, nothing leads back; fake: a stand-in of the "
                                   "same shape (valid checksums), the same one throughout a conversation, drawn "
                                   "from the seed: pseudonymised, so still personal information under PIPL")


class DecontamConfig(Strict):
    """Evaluation sets whose entities and text must not leak into training rows."""

    eval_sets: list[Path] = Field(default_factory=list)
    mode: Literal["remove", "mark"] = "remove"
    ngram: int = Field(13, ge=5, description="characters of shared text that count as overlap")


class TokensConfig(Strict):
    """Token counts from a real tokenizer: per row in the build, p50/p95/p99/max in the manifest and the card, and a
    limit past which a row is dropped (never truncated)."""

    tokenizer: Path | None = Field(None, description="a Hugging Face tokenizer.json or its model folder, or a "
                                                     "tiktoken BPE file (NAME.tiktoken)")
    pattern: str | None = Field(None, description="tiktoken only: the split regex the BPE file was trained with "
                                                  "(default: Qwen's)")
    max_tokens: int | None = Field(None, gt=0, description="rows whose prompt and answer hold more tokens are dropped")
    pretokenize: bool = Field(False, description="also write pretokenized/: input_ids and labels (prompt masked) "
                                                 "under the first chat template")

    @model_validator(mode="after")
    def limit_needs_a_tokenizer(self) -> "TokensConfig":
        if self.max_tokens is not None and self.tokenizer is None:
            raise ValueError("max_tokens counts with a tokenizer: give one too (--tokenizer PATH)")
        return self


class TypeMix(Strict):
    """How many rows of one instruction type the build keeps: all (neither set), a share, or about a count."""

    weight: float | None = Field(None, gt=0, description="keep this fraction of the type's rows (>1 repeats them)")
    target: int | None = Field(None, gt=0, description="about this many rows of the type")


def _known_types(types: dict[str, TypeMix]) -> dict[str, TypeMix]:
    from builder.expand.types import type_names
    known = type_names()
    if unknown := [name for name in types if name not in known]:
        raise ValueError(f"unknown instruction type '{unknown[0]}'; the types are: {', '.join(known)}")
    if "single" not in types:
        raise ValueError("the `single` type is always built (it is what the other types are made from); thin it "
                         "with a weight or a target instead")
    return types


class CleanConfig(Strict):
    """Cleaning rules for every source: what becomes of a truncated value, and patterns (RE2) stripped from every
    text value or rejecting a record; a source's own `strip` and `drop` add to these."""

    truncated: Literal["skip", "keep"] = Field("skip", description="skip: the field is left out for that record; "
                                                                    "keep: kept as written (counted either way)")
    strip: list[str] = Field(default_factory=list, description="removed from every text value")
    drop: list[str] = Field(default_factory=list, description="a record any of whose values matches is rejected")

    @field_validator("strip", "drop")
    @classmethod
    def runnable_patterns(cls, patterns: list[str], info: ValidationInfo) -> list[str]:
        return _runnable(patterns, f"{info.field_name} ")


class BuildConfig(Strict):
    """Everything a build needs; the manifest records it so a build can be repeated."""

    sources: list[SourceConfig] = Field(default_factory=list)
    out: Path = Path("out/dataset")
    seed: int = 42
    split: SplitConfig = Field(default_factory=SplitConfig)
    templates: list[Path] = Field(default_factory=list, description="catalogue folders added to the shipped one: "
                                  "their templates add to it, and one with a shipped template's id replaces it")
    replace_templates: bool = Field(False, description="use only the `templates` folders, not the shipped catalogue")
    mapping: dict[str, dict[str, str]] = Field(default_factory=dict, description="per kind: source field -> field")
    variants: int = Field(1, ge=1, description="phrasings emitted per record and template")
    batch_size: int = Field(5000, gt=0)
    shard_rows: int = Field(500_000, gt=0, description="about the most rows in a Parquet shard")
    prefer: list[str] = Field(default_factory=list, description="source names, most preferred first")
    formats: list[str] = Field(
        default_factory=list, description="trainer formats beside Parquet, the HF dataset and the Alpaca JSON list: "
                                          "alpaca_jsonl, sharegpt, messages, or a plug-in's"
    )
    system_prompt: str | None = Field(None, description="system turn of the OpenAI messages format")
    name: str = Field("qizhen-instructions", description="dataset name in the card and dataset_info.json")
    license: str | None = Field(None, description="the dataset's licence for the card; default from the sources")
    report: bool = Field(True, description="write report/ (HTML with plots, stats.json) with every build")
    allow_empty: bool = Field(False, description="write a dataset with no rows instead of stopping with an error")
    workers: int = Field(default_factory=usable_cores, ge=1,
                         description="processes for read → quality (default: the usable cores); the output is the same "
                                     "for any number")
    engine: Literal["local", "dask"] = Field("local", description="where read → quality runs: here, or on Dask")
    scheduler: str | None = Field(None, description="Dask scheduler address; unset: a local cluster of `workers`")
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    pii: PIIConfig = Field(default_factory=PIIConfig)
    decontamination: DecontamConfig = Field(default_factory=DecontamConfig)
    clean: CleanConfig = Field(default_factory=CleanConfig)
    tokens: TokensConfig = Field(default_factory=TokensConfig)
    types: dict[str, TypeMix] = Field(default_factory=lambda: {"single": TypeMix()},
                                      description="instruction types to build, each with its mix: single (one "
                                                  "template, one record), grounded, consultation, choice, "
                                                  "preference, reverse, or a plug-in's")
    chat_templates: list[str] = Field(default_factory=list, description="chat templates (a shipped name or a .toml "
                                      "file) every exported row is rendered in, its loss mask checked")

    @field_validator("types")
    @classmethod
    def known_types(cls, types: dict[str, TypeMix]) -> dict[str, TypeMix]:
        return _known_types(types)

    @field_validator("mapping")
    @classmethod
    def mapped_kinds_exist(cls, mapping: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for kind in mapping:
            _known_kind(kind)
        return mapping

    @field_validator("sources")
    @classmethod
    def unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"source names repeat: {', '.join(repeated)}; give each a distinct name")
        return sources

    @model_validator(mode="after")
    def preferred_sources_exist(self) -> "BuildConfig":
        unknown = [name for name in self.prefer if name not in {s.name for s in self.sources}]
        if unknown:
            raise ValueError(f"prefer names unknown source(s) {', '.join(unknown)}")
        return self

    @field_validator("formats")
    @classmethod
    def known_formats(cls, names: list[str]) -> list[str]:
        """Every name a registered output format (built in or a plug-in's): none is ignored."""
        from builder.export.formats import choosable_formats
        unknown = [name for name in names if name not in choosable_formats()]
        if unknown:
            raise ValueError(f"unknown output format '{unknown[0]}'; the formats are: {', '.join(choosable_formats())}")
        return names

    @field_validator("templates", mode="before")
    @classmethod
    def one_or_more_folders(cls, value: object) -> object:
        """`templates = "dir"` in a config file, as before, or a list of folders."""
        return [value] if isinstance(value, str | Path) else value

    @model_validator(mode="after")
    def pretokenizing_needs_a_template(self) -> "BuildConfig":
        if self.tokens.pretokenize and not self.chat_templates:
            raise ValueError("pretokenize renders rows in a chat template: give one (--chat-template NAME)")
        if self.tokens.pretokenize and self.tokens.tokenizer is None:
            raise ValueError("pretokenize needs a tokenizer (--tokenizer PATH)")
        return self

    @model_validator(mode="after")
    def something_to_replace_with(self) -> "BuildConfig":
        if self.replace_templates and not self.templates:
            raise ValueError("replace_templates needs at least one templates folder")
        return self

    def catalogue_folders(self) -> list[Path]:
        """The folders the catalogue is read from, in order: the shipped one (unless replaced), then the user's."""
        return self.templates if self.replace_templates else [SHIPPED_TEMPLATES, *self.templates]

    def by_preference(self) -> list[SourceConfig]:
        """Sources in the order they are processed and win dedup: the preferred ones in the order given, then
        the rest by name, so that the order of the flags or of the config's entries changes nothing."""
        rank = {name: i for i, name in enumerate(self.prefer)}
        return sorted(self.sources, key=lambda s: (rank.get(s.name, len(rank)), s.name))

    def cleaning_for(self, source: SourceConfig) -> CleanConfig:
        """The cleaning rules for one source: the build's, with the source's own patterns after them."""
        return self.clean.model_copy(update={"strip": [*self.clean.strip, *source.strip],
                                             "drop": [*self.clean.drop, *source.drop]})

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
    if "out" in data:
        data["out"] = str((base / data["out"]).resolve())
    if "templates" in data:
        folders = data["templates"] if isinstance(data["templates"], list) else [data["templates"]]
        data["templates"] = [str((base / folder).resolve()) for folder in folders]
    decontamination = data.get("decontamination", {})
    if "eval_sets" in decontamination:
        decontamination["eval_sets"] = [str((base / p).resolve()) for p in decontamination["eval_sets"]]
    return data


def build_config(data: dict, origin: str) -> BuildConfig:
    """Validates raw settings into a BuildConfig; a bad setting becomes one clear line."""
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise UserError(
            f"{first['msg'].removeprefix('Value error, ')} (input: {first.get('input')!r})",
            file=origin,
            field=where,
            remedy=f"fix this setting ({exc.error_count()} problem(s) in all)",
        ) from exc
