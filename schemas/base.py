"""What every knowledge-base record shares: a name, aliases, and text fields that are present or None."""

import re
import unicodedata
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ALIAS_SEPARATORS = re.compile(r"[、,，;；/|]+")
LEADING_MARKS = "，、；：,;:。！？ "
COMPOSITION_FIELDS = ("ingredients", "composition")  # where a kind lists what a product is made of
PARTS = re.compile(r"[/／+＋、,，;；]")  # how a combination product's name joins its ingredients
COMBINATION = re.compile(r"^复方|[/／+＋]")
COMPONENTS = re.compile(r"[、,，;；\s]+|和|及|与")  # how a composition lists its parts
NAME_NOISE = re.compile(r"[\s\-·.,，、;；:：()（）\[\]【】\"“”'‘’]+")


def name_key(text: str) -> str:
    """A name as compared for sameness: width, case, spaces and punctuation do not make another name."""
    return NAME_NOISE.sub("", unicodedata.normalize("NFKC", text)).lower()


def other_names(name: str, aliases: list[str], composition: str = "") -> list[str]:
    """The aliases that name this entity otherwise. Dropped: the name itself (however spaced or cased); for a
    combination product (a name with 复方, or one that joins names with / + 、) an alias that is a part its name
    joins or its name without 复方; and for anything made of several parts (its composition lists two or more) an
    alias that is one of them: a product is not called by one of its ingredients."""
    own = name_key(name)
    parts = {name_key(part) for part in PARTS.split(name) if part.strip()} | {name_key(name.removeprefix("复方"))}
    combination = bool(COMBINATION.search(name)) or len(parts) > 2
    listed = name_key(composition) if len(COMPONENTS.split(composition.strip())) > 1 else ""
    kept = []
    for alias in aliases:
        key = name_key(alias)
        if not key or key == own or combination and key in parts or listed and key in listed:
            continue
        kept.append(alias)
    return kept


class KBRecord(BaseModel):
    """A knowledge-base entity; `name` is the only field every kind must carry.

    A subclass that sets `kind` is a record kind: found at start-up (`schemas.RECORD_MODELS`), read with
    `--kb KIND=PATH`, expanded through `templates/KIND.toml`. It declares the names sources give its fields
    (`source_names`), what its entity is called (`label`), and the questions an evaluation set asks of it.
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    source_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "name": ("name", "名称", "title"),
        "aliases": ("aliases", "alias", "别名", "别称", "异名", "又名"),
    }
    eval_questions: ClassVar[tuple[tuple[str, str], ...]] = ()
    eval_columns: ClassVar[tuple[str, str, str, str] | None] = None

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, description="通用名 / 疾病名称: the entity the questions are about")
    aliases: list[str] = Field(default_factory=list, description="别名: other names, split on 、，;/")

    @field_validator("aliases", mode="before")
    @classmethod
    def split_aliases(cls, value: object) -> object:
        """Sources give aliases as one string ("橘皮、贵老"); templates want a list without repeats."""
        if value is None:
            return []
        if isinstance(value, str):
            value = ALIAS_SEPARATORS.split(value)
        if isinstance(value, list):
            return list(dict.fromkeys(v.strip() for v in value if isinstance(v, str) and v.strip()))
        return value

    @model_validator(mode="after")
    def true_aliases(self) -> Self:
        """Aliases are other names of this entity: never the name itself, and for a combination product never one
        of its ingredients (复方阿司匹林 is not also called 阿司匹林 or 咖啡因). The model is frozen, so the list is
        replaced in place once, while it is being validated."""
        kept = other_names(self.name, self.aliases, " ".join(
            value for field in COMPOSITION_FIELDS if isinstance(value := getattr(self, field, None), str)))
        if kept != self.aliases:
            object.__setattr__(self, "aliases", kept)
        return self

    @field_validator("*", mode="before")
    @classmethod
    def no_leading_clause_mark(cls, value: object) -> object:
        """A field's text never opens with a clause mark ("剂型::1.水丸" in a source would print "剂型：：")."""
        return value.lstrip(LEADING_MARKS) or None if isinstance(value, str) else value
