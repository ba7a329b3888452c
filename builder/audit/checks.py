"""The checks of one answer against its source record; each returns the findings it makes.

An answer is read clause by clause as keys (`builder.audit.text`): a clause the record's text holds nowhere is
`not_in_record`; one it holds only outside the fields the template draws on is `wrong_field`. Every sentence of
those fields must be in the answer unless it is a whole placeholder (`deleted_sentence`); a value the source cut
off must not be closed with a terminal mark (`truncated_as_complete`); a field that only says "see X" must not be
the answer (`cross_reference_answer`); the names an answer gives as other names must not be the name itself
(`self_alias`) nor an ingredient of a combination product (`ingredient_alias`).
"""

import re
from dataclasses import dataclass

from builder.audit import text
from builder.audit.source import FRAME_FIELDS, Record

FINDINGS = ("not_in_record", "wrong_field", "deleted_sentence", "truncated_as_complete", "cross_reference_answer",
            "self_alias", "ingredient_alias", "no_source_record")
ALIAS_REACH = 8  # characters beyond the name within which a frame opens its list of other names
MIN_TELLING = 4  # key characters a text needs before where it is found (or not found) tells anything
COMPOSITION_FIELDS = ("ingredients", "composition", "dosage_form", "specification")  # where a record says what a unit holds


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an answer: what, in which field, the answer's text and the record's."""

    finding: str
    field: str | None
    answer_text: str
    record_text: str


@dataclass
class Keyed:
    """A record with its keys computed once: all it says, each field's text (with what a 参见X in it points to),
    each field's sentences, and the frame its answers may use."""

    record: Record
    all_text: str
    columns: dict[str, str]  # source column -> key
    fields: dict[str, str]  # field -> key of its raw and placed text, and of a cross-referenced record's
    sentences: dict[str, list[tuple[str, str]]]  # field -> (sentence, key), from the placed text
    name_key: str
    frame: list[str]  # the keys of its name, the name's pieces and its aliases
    composition: str
    parts: frozenset[str]  # keys of the names a combination product's name joins
    held: list[str]  # keys of the substances it says one unit holds


def keyed_records(records: list[Record]) -> list[Keyed]:
    """Keys of every record's texts, computed in one column operation."""
    texts: list[str] = []
    shapes = []
    for record in records:
        composition = "\n".join(dict.fromkeys(v for f in COMPOSITION_FIELDS
                                              for v in (record.raw.get(f), record.fields.get(f)) if v))
        parts = text.combination_parts(record.name)
        held = text.components(composition, bool(parts))
        aliases = [a for a in text.ALIAS_SPLIT.split(record.raw.get("aliases", "")) if a.strip()]
        cross = [(f, [v for v in (other.raw.get(f), other.fields.get(f)) if v]) for f, other in record.cross.items()]
        sentences = {f: text.sentences(value) for f, value in record.fields.items()}
        shapes.append((composition, parts, held, aliases, cross, sentences))
        texts += [record.name, *_pieces(record.name), *aliases, *parts, *held, *record.columns.values(),
                  *record.raw.values(), *record.fields.values(), *(v for _, values in cross for v in values),
                  *(s for found in sentences.values() for s in found)]
    found = iter(text.key_list(texts))
    keyed = []
    for record, (composition, parts, held, aliases, cross, sentences) in zip(records, shapes, strict=True):
        name_key = next(found)
        frame = [name_key, *(next(found) for _ in _pieces(record.name)), *(next(found) for _ in aliases)]
        part_keys = frozenset(next(found) for _ in parts) - {""}
        held_keys = [k for k in (next(found) for _ in held) if k]
        columns = {column: next(found) for column in record.columns}
        raw = {f: next(found) for f in record.raw}
        placed = {f: next(found) for f in record.fields}
        crossed = {f: "|".join(next(found) for _ in values) for f, values in cross}
        keyed_sentences = {f: [(s, next(found)) for s in found_] for f, found_ in sentences.items()}
        fields = {f: "|".join(k for k in (raw.get(f), placed.get(f), crossed.get(f)) if k)
                  for f in dict.fromkeys([*raw, *placed])}
        keyed.append(Keyed(record, "|".join([*columns.values(), *fields.values()]), columns, fields, keyed_sentences,
                           name_key, frame, composition, part_keys, held_keys))
    return keyed


def _pieces(name: str) -> list[str]:
    """The clauses of a name that holds clause marks (【别名】维生素B6；盐酸吡哆辛；…), as an answer's clauses cut it."""
    found = [piece for piece in text.CLAUSE_END.split(name) if piece.strip()]
    return found if len(found) > 1 else []


def check_answer(answer: str, answer_key: str, clause_keys: list[tuple[str, bool, str]],
                 alias_keys: list[tuple[str, str]], keyed: Keyed, fields: frozenset[str], frame: list[str]) -> list[Finding]:
    """Every finding of one answer against its record: `fields` are those its template draws on, `frame` the keys
    of the template's literal text, `alias_keys` the names the answer gives as other names, with their keys."""
    substance = sorted(fields - FRAME_FIELDS)
    framing = sorted({*keyed.frame, *frame} - {""}, key=len, reverse=True)
    return [*_clauses(clause_keys, keyed, substance, framing), *_deleted(answer, answer_key, keyed, substance),
            *_truncated(answer, keyed, substance), *_cross_references(answer, keyed, substance),
            *_aliases(alias_keys, keyed)]


@dataclass(frozen=True)
class Job:
    """One answer to check against one record: the fields its template draws on, the literal text framing it (the
    template's, a type's labels), keys the frame may also use (another record's names), and whether the names it
    gives as other names are this record's."""

    answer: str
    keyed: Keyed
    fields: frozenset[str]
    frame: tuple[str, ...]
    also: tuple[str, ...] = ()
    aliases: bool = True


def judge(jobs: list[Job]) -> list[list[Finding]]:
    """The findings of each job, its texts keyed in a few column operations; a job met again is checked once."""
    index: dict[tuple, int] = {}
    distinct: list[Job] = []
    for job in jobs:
        if _same(job) not in index:
            index[_same(job)] = len(distinct)
            distinct.append(job)
    outputs = [job.answer for job in distinct]
    keys = text.key_list(outputs)
    clauses = clause_keys(outputs)
    aliases = alias_keys(outputs, [job.keyed if job.aliases else None for job in distinct])
    frames = frame_keys(list(dict.fromkeys(job.frame for job in distinct)))
    found = [check_answer(job.answer, keys[i], clauses[i], aliases[i], job.keyed, job.fields,
                          [*frames[job.frame], *job.also]) for i, job in enumerate(distinct)]
    return [found[index[_same(job)]] for job in jobs]


def _same(job: Job) -> tuple:
    return job.answer, id(job.keyed), job.fields, job.frame, job.also, job.aliases


def frame_keys(frames: list[tuple[str, ...]]) -> dict[tuple[str, ...], list[str]]:
    """The keys of each frame's literal text, cut into clauses as answers are."""
    pieces = [text.literal_pieces(frame) for frame in frames]
    flat = iter(text.key_list([piece for found in pieces for piece in found]))
    return {frame: [next(flat) for _ in found] for frame, found in zip(frames, pieces, strict=True)}


def clause_keys(outputs: list[str]) -> list[list[tuple[str, bool, str]]]:
    """Each answer's clauses with whether each is a label, and their keys (one column operation for all)."""
    split = [text.clauses(output) for output in outputs]
    flat = text.key_list([clause for clauses in split for clause, _ in clauses])
    result, at = [], 0
    for clauses in split:
        result.append([(clause, label, flat[at + j]) for j, (clause, label) in enumerate(clauses)])
        at += len(clauses)
    return result


def alias_keys(outputs: list[str], records: list[Keyed | None]) -> list[list[tuple[str, str]]]:
    """The names each answer gives as other names of its entity, with their keys (one column operation for all)."""
    items = [text.alias_items(output, alias_reach(keyed)) if keyed else [] for output, keyed in zip(outputs, records,
                                                                                                   strict=True)]
    flat = iter(text.key_list([item for found in items for item in found]))
    return [[(item, next(flat)) for item in found] for found in items]


def alias_reach(keyed: Keyed) -> int:
    """How far into an answer its list of other names may open: just after the name, where a frame puts it."""
    return len(keyed.record.name) + ALIAS_REACH


def _clauses(clause_keys: list[tuple[str, bool, str]], keyed: Keyed, substance: list[str],
             framing: list[str]) -> list[Finding]:
    """not_in_record and wrong_field, clause by clause; labels before a "：" are the frame."""
    found = []
    allowed = "|".join(keyed.fields.get(f, "") for f in sorted(FRAME_FIELDS | set(substance)))
    for clause, before_colon, key in clause_keys:
        if not key:
            continue
        if missing := text.unexplained(key, keyed.all_text, framing):
            if before_colon and len(missing) <= text.MAX_LABEL:
                continue  # a label: 剂型：, X的不良反应：
            found.append(Finding("not_in_record", None, clause, _fields_text(keyed.record, substance)))
        elif len(elsewhere := text.unexplained(key, allowed, framing)) >= MIN_TELLING and not (
                before_colon and len(elsewhere) <= text.MAX_LABEL):
            column = next((c for c, k in keyed.columns.items() if elsewhere in k), None)
            found.append(Finding("wrong_field", column, clause, keyed.record.columns.get(column or "", "")))
    return found


def _deleted(answer: str, answer_key: str, keyed: Keyed, substance: list[str]) -> list[Finding]:
    """Sentences of the template's fields that the answer lacks, whole placeholders aside. A field the answer
    leaves out whole is no deletion when its value is damaged (cut off, or only a 参见X): leaving it out is the
    honest treatment; nor is a field that points to another entry, which the answer may follow instead."""
    found = []
    for f in substance:
        if f in keyed.record.cross:
            continue
        said = [(sentence, key) for sentence, key in keyed.sentences.get(f, []) if not text.is_placeholder(sentence, key)]
        missing = [sentence for sentence, key in said if key not in answer_key]
        left_out = all(key not in answer_key for _, key in said if len(key) >= MIN_TELLING)
        if not missing or left_out and text.damaged(keyed.record.fields[f]):
            continue
        found += [Finding("deleted_sentence", f, answer, sentence) for sentence in missing]
    return found


def deleted_count(answer: str, answer_key: str, keyed: Keyed, fields: frozenset[str]) -> int:
    """How many sentences of the fields an answer draws on it lacks, as `deleted_sentence` finds them: what a record
    holds that the answer could not have been made from it without."""
    return len(_deleted(answer, answer_key, keyed, sorted(fields - FRAME_FIELDS)))


def _truncated(answer: str, keyed: Keyed, substance: list[str]) -> list[Finding]:
    """A field the source cut off, shown in the answer with a terminal mark the source does not have there."""
    found = []
    for f in substance:
        value = keyed.record.fields.get(f)
        if not value or (cut := text.cut_at(value)) is None:
            continue
        stem, damage = value[:cut.start()].rstrip(), re.sub(r"\s", "", cut.group())
        tail = stem[-10:]
        at = answer.rfind(tail) if len(tail) >= 2 else -1
        if at < 0:
            continue
        after = re.sub(r"\s", "", answer[at + len(tail):])
        closed = after[len(damage):len(damage) + 1] if after.startswith(damage) else \
            after[:1] if damage[:1] not in text.TERMINAL else ""
        if closed and closed in text.TERMINAL:
            found.append(Finding("truncated_as_complete", f, f"…{tail}{after[:len(damage) + 1]}", f"…{value[-30:]}"))
    return found


def _cross_references(answer: str, keyed: Keyed, substance: list[str]) -> list[Finding]:
    """A field that only says "see X", given as the answer's substance."""
    found = []
    for f in substance:
        value = keyed.record.fields.get(f)
        target = text.cross_reference(value) if value else None
        if target and (shown := text.presented_reference(answer, target)):
            found.append(Finding("cross_reference_answer", f, shown, value or ""))
    return found


def _aliases(alias_keys: list[tuple[str, str]], keyed: Keyed) -> list[Finding]:
    """The answer's list of other names: never the name itself, never an ingredient of a combination product."""
    found = []
    for item, key in alias_keys:
        if key == keyed.name_key:
            found.append(Finding("self_alias", "aliases", item, keyed.record.name))
        elif key in keyed.parts or _ingredient(key, keyed.name_key, bool(keyed.parts), keyed.held):
            found.append(Finding("ingredient_alias", "aliases", item, f"{keyed.record.name}: {keyed.composition}"))
    return found


def _ingredient(alias: str, name: str, combination: bool, held: list[str]) -> bool:
    """Whether an alias names one of the substances a product holds rather than the product: never a fuller form of
    the name (酒石酸双氢可待因 of 双氢可待因); a part of the name only when the rest of the name is another
    substance the product holds (沙美特罗 of 沙美特罗替卡松, which also holds 丙酸氟替卡松)."""
    if name in alias or not any(substance.endswith(alias) for substance in held):
        return False
    if combination or alias not in name:
        return True
    rest = [piece for piece in name.split(alias) if len(piece) > 1]  # 右 of 右美沙芬 is no substance
    return any(piece in substance for piece in rest for substance in held if alias not in substance)


def _fields_text(record: Record, substance: list[str]) -> str:
    return "\n".join(f"{f}: {record.fields.get(f) or record.raw.get(f, '')}" for f in substance
                     if record.fields.get(f) or record.raw.get(f))
