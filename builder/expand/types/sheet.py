"""The sheet: every knowledge-base record the build kept, as the richer instruction types see it, and the search for
confusable records (same category, similar name, shared indications) that they show beside the right one.

A row may show only records of its own entity's split, or a test entity's text would be trained on: records are
grouped in bands, the split each entity falls in when the split fractions are cut on its group key, and companions
are drawn from the entity's own band (the pipeline then drops the rare row whose companion the exact split put
elsewhere: `builder.run.pipeline`).
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from builder.eval.extract import extract_indications
from builder.eval.match import FoldedAnswer
from builder.hashing import hash64
from builder.mix.split import END, group_keys
from builder.quality.normalize import entity_keys, fold

CONDITION = re.compile(r"[\u4e00-\u9fff]{2,14}")  # a condition's name alone: no figure, quote, clause or restriction
NOT_A_CONDITION = re.compile(  # what labels, cross-references and sentences about the drug leave behind
    r"适应|相同|参见|详见|本品|同上|治疗|效率|方法|结合|不良反应|用药|服用|剂量|应用|化疗|放疗"
    r"|见症|症见|^(?:但|可|并|且|兼|伴|见|久服|解毒|手术|妊娠)|(?:丸|片|剂|胶囊|颗粒|糖浆|注射液)$")
CANDIDATES = 64  # records looked at per key of the index (category, item, name piece): the nearest few are wanted
ITEMS: dict[str, Callable[[str], list[str]]] = {"indications": extract_indications}  # fields with an extractor


@dataclass(eq=False)
class Entity:
    """One kept record: where it was read, its entity, names and fields (the ones the types use)."""

    source: str
    position: int
    record_id: str
    entity: str
    name: str
    aliases: tuple[str, ...]
    category: str | None
    context: dict
    band: int = 0
    _items: dict[str, list[str]] = field(default_factory=dict)
    _views: dict[str, FoldedAnswer] = field(default_factory=dict)

    @cached_property
    def keys(self) -> frozenset[str]:
        """Every key its name and aliases answer to: two records sharing one are the same drug."""
        return frozenset(entity_keys(self.name, self.aliases))

    @cached_property
    def hashed(self) -> int:
        return hash64("sheet", self.record_id)

    def items(self, name: str) -> list[str]:
        """The field's extracted items (indications), extracted once."""
        if name not in self._items:
            text = self.context.get(name)
            self._items[name] = ITEMS[name](text) if text and name in ITEMS else []
        return self._items[name]

    def conditions(self, name: str) -> list[str]:
        """The extracted items that name a condition, as options and reverse questions show them: not what a
        cross-reference, label or sentence left (替加氟/尿嘧啶's "适应证与替加氟相同" extracts to 适应证, 替加氟相同)."""
        return [item for item in self.items(name) if CONDITION.fullmatch(item) and not NOT_A_CONDITION.search(item)]

    def view(self, name: str) -> FoldedAnswer:
        """The field's text folded as the scorer reads an answer, folded once."""
        if name not in self._views:
            self._views[name] = FoldedAnswer(self.context.get(name) or "")
        return self._views[name]


class Sheet:
    """The kept records of one kind, in the order they were read, and an index for confusables."""

    def __init__(self, seed: int, fractions: dict[str, float]) -> None:
        self.seed, self.fractions = seed, fractions
        self.entities: list[Entity] = []
        self._index: dict[str, list[int]] | None = None

    def add(self, entity: Entity) -> None:
        self.entities.append(entity)
        self._index = None

    def close(self) -> None:
        """Bands from the entities' group keys (as the split computes them), once every record is in."""
        if not self.entities:
            return
        keys = group_keys(pa.array([e.entity for e in self.entities]), self.seed)
        cuts = np.cumsum(list(self.fractions.values()))[:-1] * float(END)
        for entity, band in zip(self.entities, np.searchsorted(cuts, keys.astype(np.float64), side="right").tolist(),
                                strict=True):
            entity.band = band

    def __iter__(self) -> Iterator[Entity]:
        return iter(self.entities)

    def confusables(self, entity: Entity, accept: Callable[[Entity], bool], count: int,
                    salt: str = "") -> list[Entity]:
        """Up to `count` records of other entities of `entity`'s band that `accept` takes, nearest first: the same
        category, shared indications and name pieces score; ties, and the rest of the band, go by a seeded hash."""
        index = self._build_index()
        scores: dict[int, float] = {}
        for weight, keys in ((3.0, _category_keys(entity)), (2.0, _item_keys(entity)), (1.0, _name_keys(entity))):
            for key in keys:
                for other in index.get(key, ())[:CANDIDATES]:
                    scores[other] = scores.get(other, 0.0) + weight
        ranked = sorted(scores, key=lambda i: (-scores[i], hash64(self.seed, salt, entity.record_id,
                                                                  self.entities[i].record_id)))
        chosen: list[Entity] = []
        for at in ranked + self._fallback(entity, salt):
            candidate = self.entities[at]
            if len(chosen) == count:
                break
            if candidate.band == entity.band and self.distinct(entity, candidate) and candidate not in chosen \
                    and accept(candidate):
                chosen.append(candidate)
        return chosen

    @staticmethod
    def same_area(entity: Entity, other: Entity) -> bool:
        """Both records' category paths open with the same broadest part (呼吸系统药物), or one has none: two
        drugs of one area may well treat the same thing whether or not their records say so."""
        mine, theirs = _category_parts(entity), _category_parts(other)
        return not mine or not theirs or mine[0] == theirs[0]

    @staticmethod
    def distinct(entity: Entity, other: Entity) -> bool:
        """Two records of different entities, not one drug under two names."""
        return other.entity != entity.entity and not entity.keys & other.keys

    def _fallback(self, entity: Entity, salt: str) -> list[int]:
        """Some records of the band in seeded order, for an entity whose near neighbours do not serve."""
        start = hash64(self.seed, salt, entity.record_id) % len(self.entities)
        return [(start + step * 7919) % len(self.entities) for step in range(min(CANDIDATES, len(self.entities)))]

    def _build_index(self) -> dict[str, list[int]]:
        if self._index is None:
            index: dict[str, list[int]] = {}
            order = sorted(range(len(self.entities)), key=lambda i: self.entities[i].hashed)
            for i in order:
                entity = self.entities[i]
                for key in {*_category_keys(entity), *_item_keys(entity), *_name_keys(entity)}:
                    index.setdefault(key, []).append(i)
            self._index = index
        return self._index


def _category_parts(entity: Entity) -> list[str]:
    return [p for p in fold(entity.category or "").replace(",", "，").split("，") if p]


def _category_keys(entity: Entity) -> list[str]:
    """The most specific part of a category path ("皮肤科用药，角质溶解药" → 角质溶解药)."""
    parts = _category_parts(entity)
    return [f"c:{parts[-1]}"] if parts else []


def _item_keys(entity: Entity) -> list[str]:
    return [f"i:{fold(item)}" for item in entity.items("indications")] if "indications" in entity.context else []


def _name_keys(entity: Entity) -> list[str]:
    """Three-character pieces of the name: 头孢克肟 and 头孢克洛 share 头孢克."""
    name = fold(entity.name)
    return [f"n:{name[i:i + 3]}" for i in range(len(name) - 2)]
