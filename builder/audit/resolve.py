"""Every record id a build's rows name, as the row's record or as one they show (a companion), to the source record it
stands for, by the evidence the rows give: the questions and answers about it, the material blocks and listed names
that show it by name, and the options, rejected answers and reverse questions that only show a field of it (`match`
does the matching by name, this module by content where no name is given).

An id whose rows are in a source is looked for in that source; an id only shown beside other records (a companion
may come from any source of its kind) is looked for in every source of the kind, among the records no other id took.

Among the records of its name, an id takes one that can have made all its rows show: every clause of its answers
in the record's text, every sentence of the fields an answer, a material block or a rejected answer draws on in that
text (as `deleted_sentence` looks), every piece of an option and every condition a reverse row lists it for among
the record's extracted items. A source may repeat a name with other content, and the id is a hash of one of them:
of those that can have made the rows, the one whose extracted items give the options as the builder takes them
(`Entity.conditions`) comes first, then the one whose sentences the evidence leaves fewest unsaid.
"""

from collections import Counter
from dataclasses import dataclass, field

from builder.audit import text
from builder.audit.checks import Keyed, deleted_count, keyed_records
from builder.audit.match import Group, match_groups, name_index
from builder.audit.source import Build, Record, read_records
from builder.expand.types.sheet import Entity
from builder.quality.normalize import entity_name, fold


@dataclass
class SourceRecords:
    """One source's records as the audit read them, with their keys, and the positions the ledger rejected whole."""

    source: str
    kind: str
    records: list[Record]
    keyed: list[Keyed]
    rejected: set[int]


SINGLE, OWN, SHOWN = 0, 1, 2  # evidence from its single rows, its rows of other types, rows that show it
CAP = 10_000  # each lesser measure of a misfit (options not as the builder takes them, sentences unsaid) only breaks
# ties of the greater (what the record cannot have made)
ITEMS, TEXT, ITEM = "items", "text", "item"  # what a row shows of a record's field: items (an option), its text (a
# rejected answer), one item (a reverse row's condition)


@dataclass
class Evidence:
    """What the rows say about one record id: its kind, the source of its own rows (None when it is only shown),
    (question, answer) texts that name it, by how direct they are, and what rows show of its fields (`Probe`). Only
    the most direct texts give its name, so that a row showing a record under a wrong name cannot take that record's
    own rows away from it; all of them say what the record must hold. `drawn` are the answers (and material blocks)
    made from fields of the record, with those fields: every sentence of them must be in the answer."""

    kind: str
    source: str | None = None
    tiers: dict[int, list[tuple[str, str]]] = field(default_factory=dict)
    probes: list["Probe"] = field(default_factory=list)
    drawn: list[tuple[str, frozenset[str]]] = field(default_factory=list)

    def add(self, tier: int, question: str, answer: str) -> None:
        self.tiers.setdefault(tier, []).append((question, answer))

    @property
    def said(self) -> list[tuple[str, str]]:
        """The most direct evidence: what names the record."""
        return self.tiers[min(self.tiers)] if self.tiers else []

    @property
    def everything(self) -> list[tuple[str, str]]:
        """All evidence, most direct first, and the texts it shows of a field: what the record must hold."""
        return [*(pair for tier in sorted(self.tiers) for pair in self.tiers[tier]),
                *(("", p.shown) for p in self.probes if p.mode == TEXT)]


@dataclass(frozen=True)
class Probe:
    """What a row shows of a record's field beside its name, or without it: the first `count` extracted items of a
    field (ITEMS, a choice option), a field's text (TEXT, a rejected answer's substance) or one of its extracted
    items (ITEM, the condition a reverse row lists the record for; it tells records of one name apart, but no
    record by itself)."""

    mode: str
    field: str
    shown: str
    count: int = 0


@dataclass(frozen=True)
class Found:
    """A record id's source record."""

    source: str
    keyed: Keyed


def as_entity(source: str, kind: str, keyed: Keyed, record_id: str = "") -> Entity:
    """A record as the types see it (`Entity`), built from the re-read text with its markup removed."""
    record = keyed.record
    name = text.plain(record.name)
    context = {f: text.plain(v) for f, v in record.fields.items()}
    return Entity(source, record.position, record_id, f"{kind}:{entity_name(name)}", name,
                  tuple(text.plain(a) for a in record.aliases), context.get("category"), context)


class Entities(dict):
    """Records as the types see them, made once per search (by the record's `Keyed`, which outlives the search)."""

    def of(self, pool: SourceRecords, keyed: Keyed) -> Entity:
        if id(keyed) not in self:
            self[id(keyed)] = as_entity(pool.source, pool.kind, keyed)
        return self[id(keyed)]


@dataclass
class Told:
    """One id's evidence as keys: the clauses of all of it, all of it joined, the answers drawn from fields (answer,
    its key, the fields) and the probes of extracted items."""

    clauses: list[str]
    whole: str
    drawn: list[tuple[str, str, frozenset[str]]]
    probes: list[Probe]


def read_pools(build: Build, sources: list[str], rejected: dict[str, set[int]]) -> dict[str, SourceRecords]:
    """The records of each source named, read once, with cross-references linked."""
    found = {}
    for name in sources:
        records = read_records(build, name)
        link_cross_references(records)
        found[name] = SourceRecords(name, build.sources[name].kind, records, keyed_records(records),
                                    rejected.get(name, set()))
    return found


def resolve(evidence: dict[str, Evidence], by_source: dict[str, SourceRecords]) -> dict[str, Found]:
    """Each record id's source record; ids no record fits are absent. An id is matched by the name its most direct
    evidence gives, among the records of that name by how much of all it shows each cannot have made (`_misfit`);
    an id shown only by content (a choice option, a rejected answer), to the record left whose field holds it best."""
    ids = sorted(evidence)
    said = [pair for i in ids for pair in evidence[i].said]
    every = [answer for i in ids for _, answer in evidence[i].everything]
    keys = iter(text.key_list([t for pair in said for t in pair]))
    clauses = iter(text.key_list([c for answer in every for c, _ in text.clauses(answer)]))
    wholes = iter(text.key_list(every))
    drawn = iter(text.key_list([answer for i in ids for answer, _ in evidence[i].drawn]))
    groups: dict[str, Group] = {}
    told: dict[str, Told] = {}
    for i in ids:
        groups[i] = Group(i, [], [])
        for _ in evidence[i].said:
            groups[i].questions.append(next(keys))
            groups[i].answers.append(next(keys))
        everything = evidence[i].everything
        told[i] = Told([next(clauses) for _, answer in everything for _ in text.clauses(answer)],
                       "|".join(next(wholes) for _ in everything),
                       [(answer, next(drawn), fields) for answer, fields in evidence[i].drawn],
                       [p for p in evidence[i].probes if p.mode != TEXT])
    groups = {i: g for i, g in groups.items() if g.questions}
    entities = Entities()
    found: dict[str, Found] = {}
    for pool in by_source.values():
        mine = [groups[i] for i in ids if i in groups and evidence[i].source == pool.source]
        found |= _matched(mine, [pool], told, set(), entities)
    for kind in sorted({e.kind for e in evidence.values()}):
        pools = [p for p in by_source.values() if p.kind == kind]
        shown = [groups[i] for i in ids if i in groups and i not in found and evidence[i].kind == kind]
        found |= _matched(shown, pools, told, {id(f.keyed.record) for f in found.values()}, entities)
        probed = {i: alone for i in ids if i not in found and evidence[i].kind == kind
                  and (alone := [p for p in evidence[i].probes if p.mode != ITEM])}
        found |= by_content(probed, pools, {id(f.keyed.record) for f in found.values()}, entities)
    return found


def _matched(groups: list[Group], chosen: list[SourceRecords], told: dict[str, Told], taken: set[int],
             entities: Entities) -> dict[str, Found]:
    """The records of `chosen` sources (those not `taken`) the groups' ids stand for."""
    if not groups or not chosen:
        return {}
    index: dict[str, list[Record]] = {}
    whole: dict[int, tuple[SourceRecords, Keyed]] = {}
    for pool in chosen:
        rejected = pool.rejected | {r.position for r in pool.records if id(r) in taken}
        for name, records in name_index(pool.records, [k.name_key for k in pool.keyed], rejected).items():
            index.setdefault(name, []).extend(records)
        whole |= {id(k.record): (pool, k) for k in pool.keyed}

    def misfit(group: Group, record: Record) -> int:
        pool, keyed = whole[id(record)]
        return _misfit(told[group.record_id], pool, keyed, entities)

    return {i: Found(whole[id(record)][0].source, whole[id(record)][1])
            for i, record in match_groups(groups, index, misfit).items()}


def _misfit(told: Told, pool: SourceRecords, keyed: Keyed, entities: Entities) -> int:
    """How far a record is from having made what an id's rows show, lower fitting better: first what it cannot have
    made (clauses its text does not hold, sentences of a field an answer draws on that the answer lacks, pieces of
    an option or a listed condition that none of its extracted items is), then options and conditions it holds but
    the builder would not have taken from it, then its sentences the evidence leaves unsaid."""
    impossible = sum(key not in keyed.all_text for key in told.clauses)
    impossible += sum(deleted_count(answer, key, keyed, fields) for answer, key, fields in told.drawn)
    inexact = 0
    for probe in told.probes:
        lacking, off = _fit(entities.of(pool, keyed), probe)
        impossible, inexact = impossible + lacking, inexact + off
    unsaid = sum(_unsaid(said, told.whole) for said in keyed.sentences.values())
    return (impossible * CAP + min(inexact, CAP - 1)) * CAP + min(unsaid, CAP - 1)


def _fit(entity: Entity, probe: Probe) -> tuple[int, int]:
    """How much of what an option (ITEMS) or a reverse row (ITEM) shows of a record's field its extracted items
    lack (pieces none of them is), and how far it is from what the builder takes from them (`Entity.conditions`:
    an option lists the first `count`, a reverse row asks one of them); (0, 0) for a record it was made from."""
    items = entity.items(probe.field)
    conditions = entity.conditions(probe.field)
    if probe.mode == ITEM:
        shown = fold(probe.shown)
        return (int(not shown or shown not in {fold(item) for item in items}),
                int(shown not in {fold(condition) for condition in conditions}))
    pieces = [fold(piece) for piece in probe.shown.split("、")]
    known = {fold(piece) for item in items for piece in (item, *item.split("、"))}
    lacking = sum(not piece or piece not in known for piece in pieces)
    first = conditions[:probe.count or len(pieces)]
    if "".join(pieces) == fold("、".join(first)):
        return lacking, 0
    return lacking, 1 + sum(fold(condition) not in pieces for condition in first)


def _unsaid(sentences: list[tuple[str, str]], told: str) -> int:
    """The sentences of a field the evidence does not say, when it says any of the field (a field the evidence
    never speaks of tells nothing about which record it is)."""
    said = [key in told for sentence, key in sentences if not text.is_placeholder(sentence, key)]
    return said.count(False) if any(said) else 0


def by_content(probes: dict[str, list[Probe]], pools: list[SourceRecords], taken: set[int],
               entities: Entities) -> dict[str, Found]:
    """Ids shown only by what a field holds, each to a record left whose field holds all of it (extracted items as
    options list them, or a text's clauses as keys): the closest fits first (what the record says besides, items
    other than those the builder takes), then source and file order."""
    if not probes:
        return {}
    left = [(pool, k) for pool in pools for k in pool.keyed
            if id(k.record) not in taken and k.record.position not in pool.rejected]
    texts = [p.shown for found in probes.values() for p in found if p.mode == TEXT]
    shown = iter(zip(text.key_list(texts), _clause_lists(texts), strict=True))
    fits = []
    for record_id, claims in probes.items():
        checks = [(p, next(shown) if p.mode == TEXT else None) for p in claims]
        for at, (pool, keyed) in enumerate(left):
            costs = [_cost(pool, keyed, probe, keys, entities) for probe, keys in checks]
            if None not in costs:
                fits.append((sum(c for c in costs if c is not None), at, record_id))
    options = Counter(record_id for _, _, record_id in fits)
    found: dict[str, Found] = {}
    used: set[int] = set()
    for _, _, at, record_id in sorted((cost, options[i], at, i) for cost, at, i in fits):
        if record_id not in found and at not in used:
            used.add(at)
            found[record_id] = Found(left[at][0].source, left[at][1])
    return found


def _clause_lists(texts: list[str]) -> list[list[str]]:
    split = [[c for c, _ in text.clauses(t)] for t in texts]
    flat = iter(text.key_list([c for found in split for c in found]))
    return [[next(flat) for _ in found] for found in split]


def _cost(pool: SourceRecords, keyed: Keyed, probe: Probe, keys: tuple[str, list[str]] | None,
          entities: Entities) -> int | None:
    """How far the record's field is from what a probe shows, or None when the field does not hold it."""
    if keys is not None:
        whole, clause_keys = keys
        held = keyed.fields.get(probe.field, "")
        if not whole or not all(key in held for key in clause_keys if key):
            return None
        return sum(key not in whole for sentence, key in keyed.sentences.get(probe.field, [])
                   if not text.is_placeholder(sentence, key))
    lacking, off = _fit(entities.of(pool, keyed), probe)
    return None if lacking else off  # 0: the option is the record's first items, as the builder lists them


def link_cross_references(records: list[Record]) -> None:
    """A field that only says "参见X" points to X's record when the source has one: X's same field may then stand in
    the answer (the builder may follow the reference), and the field is not expected sentence by sentence."""
    pointers = [(record, f, target) for record in records for f, value in record.fields.items()
                if (target := text.cross_reference(value))]
    if not pointers:
        return
    names = text.key_list([record.name for record in records])
    by_name: dict[str, Record] = {}
    for record, key in zip(records, names, strict=True):
        by_name.setdefault(key, record)
    for (record, f, _), key in zip(pointers, text.key_list([t for _, _, t in pointers]), strict=True):
        if (other := by_name.get(key)) is not None and other is not record and f in other.fields:
            record.cross[f] = other
