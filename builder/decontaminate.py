"""Decontamination: keep evaluation entities and evaluation text out of training rows.

By entity: a knowledge-base record whose name or alias (as written, or stripped of dosage form and
salt) is an evaluation entity is held out whole, and any row whose folded text names one is removed.
By text: a row sharing a run of `ngram` folded characters with an evaluation question or reference
is removed. Names are matched with one RE2 alternation over whole columns; n-grams by hashing every
n-character run of the batch in numpy and looking the hashes up in the evaluation set's (a bit table,
then an exact search for the few candidates).
"""

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.evalsets import EvalSet
from builder.normalize import entity_keys, fold
from builder.shingles import shingle_hashes


BIT_MASK = (1 << 22) - 1  # 4 MiB of flags: few false candidates for up to ~10^5 evaluation n-grams


@dataclass(frozen=True)
class Hit:
    """Why a row is contaminated: the entity it names, or the evaluation text it shares."""

    reason: str
    detail: str
    entity: str | None = None


class Decontaminator:
    """Matchers built once from the evaluation sets, applied batch by batch."""

    def __init__(self, eval_sets: list[EvalSet], ngram: int) -> None:
        self.keys: dict[str, str] = {}
        texts: list[str] = []
        for eval_set in eval_sets:
            for item in eval_set.items:
                if item.entity:
                    self.keys.update({key: item.entity for key in entity_keys(item.entity)})
                texts += [t for t in (item.question, item.reference) if t]
        self.ngram = ngram
        self._longest_first = sorted(self.keys, key=len, reverse=True)
        self._names = "|".join(map(re.escape, self._longest_first)) or None
        self._grams = {int(h): t for t, h in _grams(texts, ngram)}
        self._gram_hashes = np.array(sorted(self._grams), np.uint64)
        self._bits = np.zeros(BIT_MASK + 1, bool)
        self._bits[self._gram_hashes & np.uint64(BIT_MASK)] = True

    @property
    def entities(self) -> list[str]:
        return sorted(set(self.keys.values()))

    def record_hit(self, name: str, aliases: list[str]) -> Hit | None:
        """A knowledge-base record that is itself an evaluation entity."""
        for key in sorted(entity_keys(name, aliases)):
            if key in self.keys:
                return Hit("eval_entity", f"{name} is evaluation entity {self.keys[key]}", self.keys[key])
        return None

    def _shared(self, hashes: np.ndarray) -> np.ndarray:
        """Which hashes are evaluation n-grams: a bit table on the low bits rules out nearly every hash in
        one cache-friendly lookup, and only the few left are looked up exactly."""
        maybe = np.flatnonzero(self._bits[hashes & np.uint64(BIT_MASK)])
        grams = self._gram_hashes
        found = np.minimum(np.searchsorted(grams, hashes[maybe]), len(grams) - 1)
        shared = np.zeros(len(hashes), bool)
        shared[maybe[grams[found] == hashes[maybe]]] = True
        return shared

    def row_hits(self, text: pa.Array) -> list[Hit | None]:
        """Per row (its folded text): the first evaluation entity it names, else shared evaluation text."""
        hits: list[Hit | None] = [None] * len(text)
        if self._names:
            named = pc.fill_null(pc.match_substring_regex(text, self._names), False)
            for index in pc.indices_nonzero(named).to_pylist():
                folded = text[index].as_py()
                key = next(k for k in self._longest_first if k in folded)
                hits[index] = Hit("eval_entity_mention", f"names evaluation entity {self.keys[key]} ({key})",
                                  self.keys[key])
        if len(self._gram_hashes):
            hashes, offsets = shingle_hashes(text, self.ngram)
            owner = np.repeat(np.arange(len(text)), np.diff(offsets))
            shared = self._shared(hashes)
            shared_hashes = hashes[shared]
            for index, first in zip(*np.unique(owner[shared], return_index=True), strict=True):
                if hits[index] is None:
                    gram = self._grams[int(shared_hashes[first])]
                    hits[index] = Hit("eval_text_overlap", f"shares '{gram}' with an evaluation text")
        return hits


def _grams(texts: list[str], ngram: int) -> list[tuple[str, int]]:
    """Every folded `ngram`-character run of the evaluation texts, with its hash."""
    grams = sorted({f[i:i + ngram] for f in map(fold, texts) for i in range(len(f) - ngram + 1)})
    hashes, _ = shingle_hashes(grams, ngram)
    return list(zip(grams, hashes.tolist(), strict=True))
