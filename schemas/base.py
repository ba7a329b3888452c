"""What every knowledge-base record shares: a name, aliases, and text fields that are present or None."""

import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALIAS_SEPARATORS = re.compile(r"[、,，;；/|]+")
LEADING_MARKS = "，、；：,;:。！？ "


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

    @field_validator("*", mode="before")
    @classmethod
    def no_leading_clause_mark(cls, value: object) -> object:
        """A field's text never opens with a clause mark ("剂型::1.水丸" in a source would print "剂型：：")."""
        return value.lstrip(LEADING_MARKS) or None if isinstance(value, str) else value
