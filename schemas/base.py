"""What every knowledge-base record shares: a name, aliases, and text fields that are present or None."""

import re
import unicodedata
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ALIAS_SEPARATORS = re.compile(r"[、,，;；/|]+")
LEADING_MARKS = "，、；：,;:。！？ "
INGREDIENT_FIELDS = ("ingredients", "composition")  # where a kind lists what a product is made of
LABEL_FIELDS = ("specification", "dosage_form")  # where a drug label states amounts ("每片含阿司匹林0.2g")
PARTS = re.compile(r"[/／+＋、,，;；]")  # how a combination product's name joins its ingredients
COMBINATION = re.compile(r"^复方|[/／+＋]")
COMPONENTS = re.compile(r"[、,，;；\s]+|和|及|与")  # how a composition lists its parts
ENTRIES = re.compile(r"[；;。]")  # a label's entries: one form or strength each
AMOUNT = r"\(?[\d.]+\s*(?:mg|g|μg|ug|iu|万单位|单位|ml|克|毫克|微克|%)"
DOSED = re.compile(rf"([a-z\u4e00-\u9fff][a-z0-9\u4e00-\u9fff\-]*?)\s*{AMOUNT}", re.IGNORECASE)  # 尿嘧啶112mg
CONTAINS = re.compile(r"^(?:.*?[：:])?(?:每[^\d含]{0,3}含有?|含有?|内含|各含)?")
NAME_NOISE = re.compile(r"[\s\-·.,，、;；:：()（）\[\]【】\"“”'‘’]+")


def name_key(text: str) -> str:
    """A name as compared for sameness: width, case, spaces and punctuation do not make another name."""
    return NAME_NOISE.sub("", unicodedata.normalize("NFKC", text)).lower()


def _dosed(text: str) -> set[str]:
    """The names given with an amount ("每片含阿司匹林0.2g、咖啡因35mg" → 阿司匹林, 咖啡因); "每支5ml" names none."""
    names = {name_key(CONTAINS.sub("", found)) for found in DOSED.findall(unicodedata.normalize("NFKC", text))}
    return {name for name in names if name and not name.startswith("每")}


def components(ingredients: str = "", label: str = "") -> set[str]:
    """What a product is made of, when it is made of several: the items its ingredient list names (with amounts or
    without), else the names its label doses, if every entry of the label that names any names two or more. An
    entry headed 复方… describes another product (氯丙那林's label mentions a 复方 tablet holding it): it is skipped,
    and so is one that names nothing (a pack size, "每支5ml")."""
    listed = _dosed(ingredients) or {name_key(CONTAINS.sub("", part)) for part in COMPONENTS.split(
        unicodedata.normalize("NFKC", ingredients))} - {""}
    if len(listed) > 1:
        return listed
    entries = [names for entry in ENTRIES.split(label) if "复方" not in entry.partition("：")[0]
               and (names := _dosed(entry))]
    return set().union(*entries) if entries and all(len(names) > 1 for names in entries) else set()


def other_names(name: str, aliases: list[str], ingredients: str = "", label: str = "") -> list[str]:
    """The aliases that name this entity otherwise. Dropped: the name itself (however spaced or cased); for a
    combination product (a name with 复方, or one that joins names with / + 、) an alias that is a part its name
    joins or its name without 复方; and for a product made of several components (`components`), an alias that is
    one of them or the base of one (伪麻黄碱 of 盐酸伪麻黄碱): a product is not called by one of its ingredients."""
    own = name_key(name)
    parts = {name_key(part) for part in PARTS.split(name) if part.strip()} | {name_key(name.removeprefix("复方"))}
    combination = bool(COMBINATION.search(name)) or len(parts) > 2
    made_of: set[str] | None = None  # worked out only for an alias the texts mention: most records have none
    kept = []
    for alias in aliases:
        key = name_key(alias)
        if not key or key == own or combination and key in parts:
            continue
        if alias in ingredients or alias in label:
            made_of = components(ingredients, label) if made_of is None else made_of
            if any(part.endswith(key) for part in made_of):
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
        if not self.aliases:
            return self
        values = self.__dict__  # the fields a kind lacks are absent, without pydantic's __getattr__ raising for each
        texts = {fields: "；".join(value for field in fields if isinstance(value := values.get(field), str))
                 for fields in (INGREDIENT_FIELDS, LABEL_FIELDS)}
        kept = other_names(self.name, self.aliases, texts[INGREDIENT_FIELDS], texts[LABEL_FIELDS])
        if kept != self.aliases:
            object.__setattr__(self, "aliases", kept)
        return self

    @field_validator("*", mode="before")
    @classmethod
    def no_leading_clause_mark(cls, value: object) -> object:
        """A field's text never opens with a clause mark ("剂型::1.水丸" in a source would print "剂型：：")."""
        return value.lstrip(LEADING_MARKS) or None if isinstance(value, str) else value
