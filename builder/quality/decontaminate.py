"""Decontamination: keep evaluation entities and evaluation text out of training rows.

By entity: a knowledge-base record whose name or alias (as written, or stripped of dosage form and
salt) is an evaluation entity is held out whole, and any row whose folded text names one is removed.
By text: a row sharing a run of `ngram` folded characters with an evaluation question or reference
is removed. Names are matched with one RE2 alternation over whole columns; n-grams by hashing every
n-character run of the batch in a compiled loop and looking the hashes up in the evaluation set's (a bit
table, then an exact search for the few candidates).
"""

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.eval.sets import EvalSet
from builder.kernels.shingles import first_shared, shingle_hashes
from builder.ledger import Drop
from builder.quality.normalize import entity_keys, fold_array, key_text

BIT_MASK = (1 << 22) - 1  # 4 MiB of flags: few false candidates for up to ~10^5 evaluation n-grams


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
        self._names_here = re.compile(self._names) if self._names else None
        self._grams = {int(h): t for t, h in _grams(texts, ngram)}
        self._gram_hashes = np.array(sorted(self._grams), np.uint64)
        self._bits = np.zeros(BIT_MASK + 1, bool)  # rules out nearly every shingle in one lookup
        self._bits[self._gram_hashes & np.uint64(BIT_MASK)] = True

    @property
    def entities(self) -> list[str]:
        return sorted(set(self.keys.values()))

    def record_hit(self, name: str, aliases: list[str]) -> tuple[str, Drop] | None:
        """A knowledge-base record that is itself an evaluation entity: that entity, and the drop. Its keys lie in its names' `key_text`,
        so a record whose names hold no evaluation key is passed without making its keys (most records)."""
        if not self._names_here or not any(self._names_here.search(key_text(v)) for v in (name, *aliases) if v):
            return None
        for key in sorted(entity_keys(name, aliases)):
            if key in self.keys:
                entity = self.keys[key]
                return entity, _drop("eval_entity", f"{name} is evaluation entity {entity}")
        return None

    def row_hits(self, text: pa.Array) -> list[Drop | None]:
        """Per row (its folded text): the first evaluation entity it names, else shared evaluation text."""
        hits: list[Drop | None] = [None] * len(text)
        if self._names:
            named = pc.fill_null(pc.match_substring_regex(text, self._names), False)
            for index in pc.indices_nonzero(named).to_pylist():
                folded = text[index].as_py()
                key = next(k for k in self._longest_first if k in folded)
                hits[index] = _drop("eval_entity_mention", f"names evaluation entity {self.keys[key]} ({key})")
        if len(self._gram_hashes):
            found = first_shared(text, self.ngram, self._bits, self._gram_hashes)
            for index in np.flatnonzero(found >= 0).tolist():
                if hits[index] is None:
                    shared = self._grams[int(self._gram_hashes[found[index]])]
                    hits[index] = _drop("eval_text_overlap", f"shares '{shared}' with an evaluation text")
        return hits


def _drop(reason: str, detail: str) -> Drop:
    return Drop(stage="decontaminate", reason=reason, detail=detail)


def _grams(texts: list[str], ngram: int) -> list[tuple[str, int]]:
    """Every folded `ngram`-character run of the evaluation texts (folded as rows are), with its hash."""
    folded = fold_array(pa.array(texts, pa.string())).to_pylist()
    grams = sorted({f[i:i + ngram] for f in folded for i in range(len(f) - ngram + 1)})
    hashes, _ = shingle_hashes(grams, ngram)
    return list(zip(grams, hashes.tolist(), strict=True))
