"""Rows to the source records they came from, by the entity's name, never by the builder's record id.

A record id hashes the record as cleaned and validated, so recomputing it would take the builder's cleaning on
trust, and it changes whenever cleaning does. The name is what every row of a record carries: all rows of one
record id share the longest source name found in each of their texts (as keys: markup, width, spaces and
punctuation aside). Records the ledger rejected whole have no rows and are left out; when several records share
the name (a source may repeat a name with other content), the record ids take distinct records with the least
misfit in all (how much of their answers a record does not hold).
"""

from collections.abc import Callable
from dataclasses import dataclass
from itertools import permutations
from math import perm

from builder.audit.source import Record

MAX_OUTPUT_PREFIX = 200  # characters of an answer searched for the name when no question carries it


@dataclass(frozen=True)
class Group:
    """The rows of one record id: the keys of their questions and of their answers."""

    record_id: str
    questions: list[str]
    answers: list[str]


def name_index(records: list[Record], name_keys: list[str], rejected: set[int]) -> dict[str, list[Record]]:
    """Records by the key of their name, rejected ones left out."""
    index: dict[str, list[Record]] = {}
    for record, key in zip(records, name_keys, strict=True):
        if key and record.position not in rejected:
            index.setdefault(key, []).append(record)
    return index


def entity_key(group: Group, index: dict[str, list[Record]], longest: int) -> str | None:
    """The longest name of the index found in every row of the group (question or answer)."""
    texts = [f"{q}\x00{a}" for q, a in zip(group.questions, group.answers, strict=True)]
    for probe in (min(group.questions, key=len), min(group.answers, key=len)[:MAX_OUTPUT_PREFIX]):
        found = {probe[start:end] for start in range(len(probe))
                 for end in range(start + 1, min(len(probe), start + longest) + 1) if probe[start:end] in index}
        shared = [name for name in found if all(name in text for text in texts)]
        if shared:
            return max(shared, key=lambda name: (len(name), name))
    return None


def match_groups(groups: list[Group], index: dict[str, list[Record]],
                 misfit: Callable[[Group, Record], int]) -> dict[str, Record]:
    """Each record id's source record; ids whose name no record has are absent. `misfit` counts how much of a
    group's answers a record does not explain (lower fits better)."""
    longest = max(map(len, index), default=0)
    by_name: dict[str, list[Group]] = {}
    for group in groups:
        if (key := entity_key(group, index, longest)) is not None:
            by_name.setdefault(key, []).append(group)
    matched: dict[str, Record] = {}
    for key, named in by_name.items():
        candidates = index[key]
        if len(candidates) == 1:
            matched |= {group.record_id: candidates[0] for group in named}
            continue
        costs = [[misfit(group, record) for record in candidates] for group in named]
        for group, i in zip(named, _assignment(costs), strict=True):
            matched[group.record_id] = candidates[i]
    return matched


MAX_EXHAUSTIVE = 40_320  # assignments tried one by one (8!); beyond, each group takes its best record


def _assignment(costs: list[list[int]]) -> tuple[int, ...]:
    """For each group (row), the index of its record (column): distinct records with the least total misfit, the
    earliest records on a tie; each group's best when there are more groups than records, or too many to try."""
    groups, records = len(costs), len(costs[0])
    if records == 1 or groups > records or perm(records, groups) > MAX_EXHAUSTIVE:
        return tuple(min(range(records), key=lambda i: (row[i], i)) for row in costs)
    return min(permutations(range(records), groups), key=lambda chosen: (sum(costs[g][i] for g, i in enumerate(chosen)),
                                                                         chosen))
