"""Decontamination: keep evaluation entities and evaluation text out of training rows.

By entity: an evaluation entity is its name, its core (without salt and dosage form), and, through the
knowledge bases, every record named by one of those, with that record's aliases and English name, and so on
transitively (盐酸厄洛替尼片 → 厄洛替尼, alias 埃罗替尼 → the record 埃罗替尼). The links are worked out
once, before any row, from the records' names (`kb_names`, a pre-pass over the knowledge-base sources, which
validates only the records whose names as read hold a key that could concern them); every record answering
to one of those names is held out whole, and a row naming one is removed. A name counts
only on an entity boundary: inside a longer drug name that is not its own form or salt (氧氟沙星 in
左氧氟沙星) it is another drug. Names are found with one RE2 alternation over the batch, confirmed in Python
on the hits. By text: a row sharing a run of `ngram` folded characters with an evaluation text is a
candidate (a compiled hash pass, a bit table, then an exact search); it is removed only when the run it
shares with one evaluation text is a copied passage rather than the wording a drug class shares (氢氯噻嗪's
indications share 27 characters with 氯噻酮's): `min_run` characters or half the evaluation text for free text,
and both for a knowledge-base row, which is about its own, cleared record.
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from builder.eval.sets import EvalSet
from builder.kernels.scan import matching
from builder.kernels.shingles import longest_shared, shingle_hashes
from builder.ledger import Drop
from builder.quality.kbnames import KBNames, Named, alternation, kb_names
from builder.quality.normalize import MIN_ENTITY, entity_core, fold, fold_array, key_text
from builder.rows import row_text

BIT_MASK = (1 << 22) - 1  # 4 MiB of flags: few false candidates for up to ~10^5 evaluation n-grams
MIN_LATIN = 4  # a Latin key shorter than this (AMCHA is 5) names too many things to hold a row out by
DERIVED_PREFIXES = ("左", "右", "旋", "异丙", "东", "山", "去甲", "去氧")  # 左(旋)氧氟沙星, 异丙肌苷, 东莨菪碱: other drugs
DERIVED_SUFFIXES = ("碱", "酸", "亭")  # 莨菪碱, 肌苷酸: an alkaloid or acid of the thing, another substance
SEPARATOR = " · "  # between the evaluation item, the match type and the evidence in a drop's detail
CONTAMINATION = "contamination.jsonl"
LEDGER_FILES = ("rejects.jsonl", "removed_rows.jsonl", "marked.jsonl")


@dataclass(frozen=True)
class Link:
    """Why a key is held out: for which evaluation item, as what (name, core, alias, english, linked), and how."""

    item: str
    match: str
    evidence: str


class Decontaminator:
    """Matchers built once from the evaluation sets (and the knowledge bases' names), applied batch by batch."""

    def __init__(self, eval_sets: list[EvalSet], ngram: int, kb: KBNames | Iterable[Named] = ()) -> None:
        self.keys: dict[str, Link] = {}  # every held-out key, with why
        texts: list[tuple[str, str]] = []  # (item, text)
        for eval_set in eval_sets:
            for item in eval_set.items:
                if item.entity:
                    for key, match in ((entity_core(item.entity), "core"), (fold(item.entity), "name")):
                        if _usable(key):
                            self.keys[key] = Link(item.entity, match, f"{key} is {item.entity} without salt and form"
                                                  if match == "core" else item.entity)
                label = item.entity or item.question or ""
                texts += [(label, t) for t in (item.question, item.reference) if t]
        held, records = _reach(self.keys, kb if isinstance(kb, KBNames) else KBNames.of(kb))
        self.held_out_records = {record.record_id for record in held}
        self.held = held
        self.ngram = ngram
        self.min_run = 2 * ngram  # a copied passage in free text; a drug class shares shorter runs
        self._by_pair = _pair_index(self.keys)
        self._blockers = _blockers(self.keys, self._by_pair, records)
        self._names = alternation(_innermost(self.keys, self._by_pair))
        folded = fold_array(pa.array([t for _, t in texts], pa.string())).to_pylist()
        self._texts = [(item, f) for (item, _), f in zip(texts, folded, strict=True)]
        self._gram_places = _grams(self._texts, ngram)
        self._gram_hashes = np.unique(shingle_hashes(list(self._gram_places), ngram)[0]).astype(np.uint64)
        halves = [len(reference) // 2 for _, reference in self._texts]  # the least run a row must share (shared_run)
        self._least_free = min((min(self.min_run, max(ngram, half)) for half in halves), default=0)
        self._least_kb = min((max(self.min_run, half) for half in halves), default=0)
        self._bits = np.zeros(BIT_MASK + 1, bool)  # rules out nearly every shingle in one lookup
        self._bits[self._gram_hashes & np.uint64(BIT_MASK)] = True

    @property
    def entities(self) -> list[str]:
        return sorted({link.item for link in self.keys.values() if link.match in ("name", "core")})

    def record_hit(self, name: str, aliases: list[str]) -> tuple[str, Drop] | None:
        """A knowledge-base record answering to a held-out name: its evaluation item, and the drop. Its keys lie in
        its names' `key_text`, so a record none of whose names holds a held-out key is passed without making them."""
        values = [v for v in (name, *aliases) if v]
        if not any(next(_occurrences(key_text(v), self._by_pair), None) for v in values):
            return None
        for value in values:
            for key in (fold(value), entity_core(value)):
                if link := self.keys.get(key):
                    how = link.evidence if value == name else f"{name} lists {value} as an alias; {link.evidence}"
                    return link.item, _drop("eval_entity", link, how)
        return None

    def row_hits(self, text: pa.Array, free_text: bool = True) -> list[Drop | None]:
        """Per row (its folded text): the first held-out name it holds on an entity boundary, else a distinctive
        run shared with an evaluation text. A knowledge-base row (not `free_text`) is about its record, which
        `record_hit` has cleared: only a copy of half an evaluation text or more counts, not a drug class's wording."""
        hits: list[Drop | None] = [None] * len(text)
        if self._names:
            named = matching(text, self._names)
            for index in pc.indices_nonzero(named).to_pylist():
                folded = text[index].as_py()
                if named_at := self.named_in(folded):
                    key, at = named_at
                    context = folded[max(0, at - 8):at + len(key) + 8].replace("\x1f", " ")
                    hits[index] = _drop("eval_entity_mention", self.keys[key], f"names {key} in …{context}…")
        if len(self._gram_hashes):  # only a row whose run of shared shingles could be long enough is compared
            longest = longest_shared(text, self.ngram, self._bits, self._gram_hashes)
            for index in np.flatnonzero(longest >= (self._least_free if free_text else self._least_kb)).tolist():
                if hits[index] is None and (shared := self.shared_run(text[index].as_py(), free_text)):
                    item, run = shared
                    hits[index] = _drop("eval_text_overlap", Link(item, "text", ""), f"shares '{run}' "
                                        f"({len(run)} characters) with its evaluation text")
        return hits

    def named_in(self, folded: str) -> tuple[str, int] | None:
        """The first held-out key in a folded text that is not part of a longer, other drug name, and where."""
        for at, key in _occurrences(folded, self._by_pair):
            if not self._blocked(folded, at, key):
                return key, at
        return None

    def shared_run(self, folded: str, free_text: bool = True) -> tuple[str, str] | None:
        """The longest run a row shares with one evaluation text, if it is a copy: for free text `min_run`
        characters or half that text, for a knowledge-base row both. A shared run of `ngram` or more characters
        is a chain of shared n-grams on one diagonal (row position minus text position), followed here."""
        n = self.ngram
        chains: dict[tuple[int, int], tuple[int, int]] = {}  # (text, diagonal) -> its chain's start and last step
        longest: dict[int, tuple[int, int]] = {}  # text -> (characters, start in the row) of its longest chain
        for i in range(len(folded) - n + 1):
            for index, j in self._gram_places.get(folded[i:i + n], ()):
                start, last = chains.get((index, i - j), (i, i - 1))
                start = start if last == i - 1 else i
                chains[(index, i - j)] = (start, i)
                if i - start + n > longest.get(index, (0, 0))[0]:
                    longest[index] = (i - start + n, start)
        best: tuple[str, str] | None = None
        for index in sorted(longest):
            size, start = longest[index]
            item, reference = self._texts[index]
            half = len(reference) // 2
            least = min(self.min_run, max(n, half)) if free_text else max(self.min_run, half)
            if size >= least and (best is None or size > len(best[1])):
                best = item, folded[start:start + size]
        return best

    def _blocked(self, folded: str, at: int, key: str) -> bool:
        """A key inside a longer name of another drug: a known one from the knowledge bases, or a derived
        name (左/右/异丙/东 … before it)."""
        before, after = folded[at - 1:at], folded[at + len(key):at + len(key) + 1]
        if _latin(key[0]) and _latin(before) or _latin(key[-1]) and _latin(after):  # erlotinib in erlotinibum
            return True
        if any(folded.endswith(prefix, 0, at) for prefix in DERIVED_PREFIXES) or after in DERIVED_SUFFIXES:
            return True
        return any(folded.startswith(longer, at - offset) for longer, offset in self._blockers.get(key, ()))


def write_contamination(folder: Path) -> int:
    """`contamination.jsonl` from the build's ledger: one line per record or row decontamination removed or
    marked, with its evaluation item, match type and evidence. Returns the number of lines."""
    lines = [entry for name in LEDGER_FILES if (folder / name).exists()
             for line in (folder / name).open(encoding="utf-8") if "decontaminate" in line  # parse only those
             if (entry := json.loads(line))["stage"] == "decontaminate"]
    with (folder / CONTAMINATION).open("w", encoding="utf-8") as out:
        for entry in lines:
            out.write(json.dumps(contamination_entry(entry), ensure_ascii=False) + "\n")
    return len(lines)


def contamination_entry(entry: dict) -> dict:
    """A ledger entry of the decontaminate stage as a report line: what was removed, for which item, why."""
    item, match, evidence = entry["detail"].split(SEPARATOR, 2)
    return {"source": entry["source"], "record_id": entry["record_id"], "template_id": entry.get("template_id"),
            "variant": entry.get("variant"), "scope": "record" if entry["reason"] == "eval_entity" else "row",
            "eval_item": item, "match": match, "evidence": evidence}


def recheck(folder: Path, eval_paths: list[Path]) -> list[dict]:
    """The contamination of a finished build's rows (every split) by evaluation sets, as `contamination.jsonl`
    lines: a knowledge-base record held out (once, whatever rows it has), else each row naming a held-out name
    or copying evaluation text. The knowledge bases' names are read again from the build's inputs."""
    from builder.audit.source import check_inputs, open_build  # the audit's reading of a build, and its checks
    from builder.eval.sets import load_eval_set

    build = open_build(folder)
    check_inputs(build)
    decontaminator = Decontaminator([load_eval_set(p) for p in eval_paths], build.config.decontamination.ngram,
                                    kb_names(build.config, record_ids=True))
    rows = pa.concat_tables(pq.read_table(p) for p in sorted((folder / "data").glob("*.parquet")))
    records = {n.record_id: n for n in decontaminator.held}
    entries: dict[tuple, dict] = {}
    row_ids = rows.select(["source", "record_id", "template_id", "variant", "kind"]).to_pylist()
    shown = rows["companions"].to_pylist() if "companions" in rows.column_names else [[]] * rows.num_rows
    for index, (row, companions) in enumerate(zip(row_ids, shown, strict=True)):
        if (named := records.get(row["record_id"])) and (held := decontaminator.record_hit(named.name,
                                                                                          list(named.aliases))):
            entries.setdefault(("record", row["source"], row["record_id"]),
                               contamination_entry({**row, "template_id": None, "variant": None,
                                                    "reason": held[1].reason, "detail": held[1].detail}))
        for companion in companions:  # a row of a richer type that shows a held-out record
            if (named := records.get(companion)) and (held := decontaminator.record_hit(named.name,
                                                                                       list(named.aliases))):
                entries[("row", index)] = contamination_entry({**row, "reason": held[1].reason,
                                                               "detail": f"shows {named.name}: {held[1].detail}"})
    folded = fold_array(row_text(rows))
    for free_text in (True, False):
        rows_of_kind = np.flatnonzero(np.array([(r["kind"] == "qa") == free_text for r in row_ids], bool))
        hits = decontaminator.row_hits(folded.take(pa.array(rows_of_kind)), free_text=free_text)
        for index, hit in zip(rows_of_kind.tolist(), hits, strict=True):
            row = row_ids[index]
            if hit and row["record_id"] not in records:
                entries[("row", index)] = contamination_entry({**row, "reason": hit.reason, "detail": hit.detail})
    return sorted(entries.values(), key=_entry_order)


def _entry_order(entry: dict) -> tuple:
    return (entry["source"], entry["record_id"], entry["template_id"] or "", entry["variant"] or 0, entry["eval_item"])


def _drop(reason: str, link: Link, evidence: str) -> Drop:
    return Drop(stage="decontaminate", reason=reason, detail=SEPARATOR.join((link.item, link.match, evidence)))


def _latin(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _usable(key: str) -> bool:
    """Long enough to name one thing: two ideographs, or MIN_LATIN Latin letters and digits."""
    return len(key) >= (MIN_LATIN if key.isascii() else MIN_ENTITY)


def _reach(keys: dict[str, Link], index: KBNames) -> tuple[list[Named], list[Named]]:
    """`_close` over the records that could matter, fetched from the index until nothing more could: every record
    whose names hold a held-out key or a key of a held-out record (the ones a link or an ambiguity could turn on,
    and the longer names that block a key). Returns the records held out and those fetched."""
    base = dict(keys)
    searched: set[str] = set()
    fetched: dict[int, Named] = {}  # records by their place in the index
    while True:
        keys.clear()
        keys.update(base)
        records = [fetched[index] for index in sorted(fetched)]  # in reading order, as over every record
        held = _close(keys, records)
        wanted = (set(keys) | {key for record in held for key in _named_keys(record)}) - searched
        if not wanted:
            return held, records
        fetched.update(index.containing(wanted))
        searched |= wanted


def _close(keys: dict[str, Link], records: list[Named]) -> list[Named]:
    """Extends `keys` with every record linked to them through a name, alias or English name, transitively; returns
    the records held out."""
    by_key: dict[str, list[int]] = {}
    record_keys = [_named_keys(r) for r in records]
    for index, named in enumerate(record_keys):
        for key in named:
            by_key.setdefault(key, []).append(index)
    held: set[int] = set()
    frontier = sorted(keys)
    while frontier:
        reached = sorted({i for key in frontier for i in by_key.get(key, ()) if i not in held})
        held.update(reached)
        frontier = []
        for index in reached:
            record, named = records[index], record_keys[index]
            via = min((k for k in named if k in keys), key=lambda k: (named[k][1] != "name", k))  # by name first
            link, (via_value, via_role) = keys[via], named[via]
            for key, (value, role) in sorted(named.items()):
                if key not in keys and not _ambiguous([records[i] for i in by_key[key]]):
                    how = (f"{value} is the {role} name of {record.name}" if via_role == "name" else
                           f"{value} names record {record.name}, whose {via_role} name is {via_value}")
                    keys[key] = Link(link.item, role if via_role == "name" else "linked", f"{how} ({link.evidence})")
                    frontier.append(key)
    return [records[i] for i in sorted(held)]


def _ambiguous(records: list[Named]) -> bool:
    """A name several drugs answer to (records with English names neither of which starts the other: a brand
    reused, a class word): it is not followed, or one evaluation drug would hold out unrelated ones."""
    english = sorted({fold(r.english) for r in records if r.english} - {""}, key=len)
    return any(not longer.startswith(shorter) for i, shorter in enumerate(english) for longer in english[i + 1:])


def _named_keys(record: Named) -> dict[str, tuple[str, str]]:
    """A record's keys, each with the value it comes from and that value's role (name, alias, english)."""
    keys: dict[str, tuple[str, str]] = {}
    values = [(record.name, "name"), *((a, "alias") for a in record.aliases)]
    values += [(record.english, "english")] if record.english else []
    for value, role in values:
        for key in (fold(value), entity_core(value)):
            if _usable(key):
                keys.setdefault(key, (value, role))
    return keys


def _innermost(keys: Iterable[str], by_pair: dict[str, list[str]]) -> list[str]:
    """The keys holding no other key: a text holds some key if and only if it holds one of these, and RE2's
    alternation runs faster the fewer they are."""
    return sorted(k for k in keys if all(o == k for _at, o in _occurrences(k, by_pair)))


def _pair_index(keys: Iterable[str]) -> dict[str, list[str]]:
    """Keys by their first two characters, longest first: a text is scanned once, looking each pair up."""
    index: dict[str, list[str]] = {}
    for key in sorted(keys, key=lambda k: (-len(k), k)):
        index.setdefault(key[:2], []).append(key)
    return index


def _occurrences(text: str, by_pair: dict[str, list[str]]) -> Iterator[tuple[int, str]]:
    """(position, key) of every key in a text, in text order, longest first at each position."""
    for at in range(len(text) - 1):
        for key in by_pair.get(text[at:at + 2], ()):
            if text.startswith(key, at):
                yield at, key


def _blockers(keys: dict[str, Link], by_pair: dict[str, list[str]], records: list[Named]) -> dict[str, list]:
    """For each held-out key, the longer names of other drugs in the knowledge bases that hold it, and at which
    offset: 左氧氟沙星 for 氧氟沙星. A longer name whose core is held out (盐酸厄洛替尼片) is the same drug."""
    blockers: dict[str, set[tuple[str, int]]] = {}
    for record in records:
        for value in (record.name, *record.aliases):
            longer = fold(value)
            if longer in keys or entity_core(value) in keys:
                continue
            for offset, key in _occurrences(longer, by_pair):
                blockers.setdefault(key, set()).add((longer, offset))
    return {key: sorted(found) for key, found in blockers.items()}


def _grams(texts: list[tuple[str, str]], ngram: int) -> dict[str, tuple[tuple[int, int], ...]]:
    """Every folded `ngram`-character run of the evaluation texts (in sorted order), with where it stands: (text,
    position) pairs."""
    grams: dict[str, list[tuple[int, int]]] = {}
    for index, (_item, folded) in enumerate(texts):
        for i in range(len(folded) - ngram + 1):
            grams.setdefault(folded[i:i + ngram], []).append((index, i))
    return {gram: tuple(grams[gram]) for gram in sorted(grams)}


