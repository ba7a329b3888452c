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
TRIES = 24  # records put to a type's test per row: past that, a row is not worth the time its search takes
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
    _folded: dict[str, str] = field(default_factory=dict)
    _conditions: dict[str, list[str]] = field(default_factory=dict)
    _item_keys: dict[str, frozenset[str]] = field(default_factory=dict)
    near: list[int] | None = None  # the sheet's nearest records to this one (`Sheet._near`)

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

    def item_keys(self, name: str) -> frozenset[str]:
        """The field's extracted items, folded."""
        if name not in self._item_keys:
            self._item_keys[name] = frozenset(fold(item) for item in self.items(name))
        return self._item_keys[name]

    def conditions(self, name: str) -> list[str]:
        """The extracted items that name a condition, as options and reverse questions show them: not what a
        cross-reference, label or sentence left (替加氟/尿嘧啶's "适应证与替加氟相同" extracts to 适应证, 替加氟相同)."""
        if name not in self._conditions:
            self._conditions[name] = [item for item in self.items(name)
                                      if CONDITION.fullmatch(item) and not NOT_A_CONDITION.search(item)]
        return self._conditions[name]

    def folded(self, name: str) -> str:
        """The field's text folded (width, case, punctuation), folded once."""
        if name not in self._folded:
            self._folded[name] = fold(self.context.get(name) or "")
        return self._folded[name]

    def pieces(self, name: str) -> set[str]:
        """The field's folded text as two-character pieces, for comparing texts without extracted items."""
        folded = self.folded(name)
        return {folded[i:i + 2] for i in range(len(folded) - 1)}

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
        self._index: dict[str, np.ndarray] | None = None
        self._by_band: dict[int, list[int]] | None = None
        self._hashed: np.ndarray | None = None

    def add(self, entity: Entity) -> None:
        self.entities.append(entity)
        self._index = self._by_band = self._hashed = None

    def close(self) -> None:
        """Bands from the entities' group keys (as the split computes them), once every record is in."""
        if not self.entities:
            return
        keys = group_keys(pa.array([e.entity for e in self.entities]), self.seed)
        cuts = np.cumsum(list(self.fractions.values()))[:-1] * float(END)
        for entity, band in zip(self.entities, np.searchsorted(cuts, keys.astype(np.float64), side="right").tolist(),
                                strict=True):
            entity.band = band
        self._by_band = None

    def __iter__(self) -> Iterator[Entity]:
        return iter(self.entities)

    def confusables(self, entity: Entity, accept: Callable[[Entity], bool], count: int, salt: str = "",
                    near: bool = True) -> list[Entity]:
        """Up to `count` records of other entities of `entity`'s band (one record per entity) that `accept` takes.
        With `near`, nearest first (the same category, shared indications and name pieces score), then the rest of
        the band in a seeded order; without, only the seeded order (for records meant to be unlike it). At most
        TRIES records are put to `accept`: a record with no fitting neighbour among them gets fewer."""
        mix = hash64(self.seed, salt, entity.record_id)
        order = self._near(entity) if near else []
        chosen: list[Entity] = []
        tries = 0
        for at in [*order, *self._band_order(entity, mix)]:
            candidate = self.entities[at]
            if len(chosen) == count or tries == TRIES:
                break
            if candidate.band == entity.band and self.distinct(entity, candidate) \
                    and all(self.distinct(other, candidate) for other in chosen):
                tries += 1
                if accept(candidate):
                    chosen.append(candidate)
        return chosen

    def _near(self, entity: Entity) -> list[int]:
        """The records sharing most keys with the entity (as many as can be tried), the most shared first; ties in a
        seeded order. Worked out once per entity: every type asks."""
        if entity.near is None:
            index, empty = self._build_index(), np.zeros(0, np.int64)
            found = [(weight, index.get(key, empty)) for weight, keys in (
                (3, _category_keys(entity)), (2, _item_keys(entity)), (1, _name_keys(entity))) for key in keys]
            if not found:
                entity.near = []
                return entity.near
            others, at = np.unique(np.concatenate([ids for _, ids in found]), return_inverse=True)
            scores = np.bincount(at, weights=np.concatenate([np.full(len(ids), w) for w, ids in found]))
            tie = self._hashes()[others] ^ np.uint64(hash64(self.seed, entity.record_id))
            entity.near = others[np.lexsort((tie, -scores))[:4 * TRIES]].tolist()
        return entity.near

    def _hashes(self) -> np.ndarray:
        if self._hashed is None:
            self._hashed = np.array([e.hashed for e in self.entities], np.uint64)
        return self._hashed

    def _band_order(self, entity: Entity, mix: int) -> list[int]:
        """Records of the entity's band in a seeded order (a stride from a hashed start), as many as can be tried."""
        band = self._bands()[entity.band]
        start, stride = mix % len(band), 7919 if len(band) % 7919 else 1
        return [band[(start + step * stride) % len(band)] for step in range(min(len(band), 4 * TRIES))]

    def _bands(self) -> dict[int, list[int]]:
        if self._by_band is None:
            self._by_band = {}
            for at, entity in enumerate(self.entities):
                self._by_band.setdefault(entity.band, []).append(at)
        return self._by_band

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

    def _build_index(self) -> dict[str, np.ndarray]:
        """Per key (category, item, name piece), the first CANDIDATES records holding it in a seeded order."""
        if self._index is None:
            index: dict[str, list[int]] = {}
            for i in np.argsort(self._hashes(), kind="stable").tolist():
                entity = self.entities[i]
                for key in {*_category_keys(entity), *_item_keys(entity), *_name_keys(entity)}:
                    held = index.setdefault(key, [])
                    if len(held) < CANDIDATES:
                        held.append(i)
            self._index = {key: np.array(held, np.int64) for key, held in index.items()}
        return self._index


def _category_parts(entity: Entity) -> list[str]:
    return [p for p in fold(entity.category or "").replace(",", "，").split("，") if p]


def _category_keys(entity: Entity) -> list[str]:
    """The most specific part of a category path ("皮肤科用药，角质溶解药" → 角质溶解药)."""
    parts = _category_parts(entity)
    return [f"c:{parts[-1]}"] if parts else []


def _item_keys(entity: Entity) -> list[str]:
    return [f"i:{item}" for item in entity.item_keys("indications")]


def _name_keys(entity: Entity) -> list[str]:
    """Three-character pieces of the name: 头孢克肟 and 头孢克洛 share 头孢克."""
    name = fold(entity.name)
    return [f"n:{name[i:i + 3]}" for i in range(len(name) - 2)]
