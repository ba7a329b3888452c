"""Matching gold labels against a model's answer: folding, synonyms, negation, label parts and their modifiers.

Matching, per gold label, on text folded with `builder.quality.normalize.fold` (width, case, punctuation,
spaces) and a few equal-length spelling variants (综合症/症候群→综合征, 食道→食管, 机能→功能,
一型/二型→1型/2型). The answer is split into clauses at 。！？；，： and line breaks, a label is never
matched across a clause boundary, and what `builder.eval.negation` excludes (negated scopes, causes such as
可导致X, contraindication and adverse-effect sections) is set aside: the audit shows such a label as a miss
with the negated span. Per label, the first of:

1. **exact** — the folded label occurs in the answer;
2. **synonym** — an alias of the label occurs: the label's group in the synonym table (the default
   `builder/eval/synonyms.toml`, extended by the user's TOML or CSV; groups are symmetric and overlapping
   groups merge), or the label with a table term inside it replaced by an alias (慢性乙肝 → 慢性乙型肝炎);
3. **loose** — either of those once the answer's parenthesised asides, 的 and 成人/成年 are dropped
   (严重的银屑病 for 严重银屑病, 慢性成人乙型肝炎 for 慢性乙型肝炎);
4. **contains** — the label's core (the label minus generic suffixes 症/病/征/综合征/感染/… and stage
   words 危重期/活跃期/…, never 急性期/慢性期; at least 3 characters, or 2 when only 症 was removed) stands
   as a whole term: a phrase ends after it or a generic suffix follows, but not the other of 病/综合征
   (帕金森 from 帕金森病 is not in 帕金森综合征) nor another stage, and 慢性肾 of 慢性肾病 is not in
   慢性肾炎; or a phrase of the answer (between punctuation, conjunctions and filler words such as
   用于/治疗/患者) lies inside the label, covers at least 70 % of it, and what it leaves out holds no
   distinguishing modifier (below);
5. **qualified** — a label ending in a qualifier (病毒复制活跃期, 肝功能代偿期, 远处转移) whose rest occurs
   while the qualifier's key word stands in the same sentence (代偿 not as 失代偿);
6. **distributed** — the label in two parts shared over a list: 胃、十二指肠溃疡 names 胃溃疡, 胆、肾、肠等绞痛
   names 肾绞痛, 择期髋关节或膝关节置换手术 names 择期膝关节置换手术, 镰刀菌属引起的严重感染 names
   镰刀菌属严重感染, 急、慢性肝炎 names 急性肝炎. The first part ends a list item (a separator 、/和/及/与/或/等
   or 引起/所致 follows it), or the second part starts one and the first opens a phrase; the second part
   ends a phrase (支原体或肺炎衣原体 does not name 支原体肺炎). Examples given
   after a term name it too: 骨性关节炎，如膝关节、肩、手 names 肩关节炎.

Modifiers are compared, not edit distance: no step credits 小细胞肺癌 for 非小细胞肺癌 (a hit right after
非 is refused unless the label starts with it), 原发性 for 继发性, 急性 for 慢性, 乙肝 for 丙肝, 1型 for
2型, 左 for 右, 上 for 下, 膝 for 髋, or 帕金森病 for 帕金森综合征; a short form may not drop one
(`builder.eval.modifiers`). An answer more specific than the label (原发性高血压 for 高血压) is credited.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from builder.errors import UserError
from builder.eval.modifiers import STAGES, SUFFIX_CONFLICTS, drops_modifier, occurrence
from builder.eval.negation import excluded_mask
from builder.quality.normalize import fold

DEFAULT_SYNONYMS = Path(__file__).parent / "synonyms.toml"  # package data of builder.eval
PHRASE_COVERAGE = 0.70
MIN_CORE = 3
MIN_CORE_AFTER_ZHENG = 2
MAX_GAP = 40  # characters between the two parts of a distributed label
CORE_SUFFIXES = sorted(
    {"综合征", "的辅助治疗", "的治疗", "感染", "疾病", "疾患", "病变", "症状", "症", "病", "征", *STAGES[:4]},
    key=len,
    reverse=True,
)
QUALIFIERS = (("病毒复制活跃期", ("复制", "活跃")), ("肝功能代偿期", ("代偿",)), ("远处转移", ("远处转移",)))
VARIANTS = (("综合症", "综合征"), ("症候群", "综合征"), ("食道", "食管"), ("机能", "功能"), ("一型", "1型"), ("二型", "2型"))

_CLAUSE = re.compile(r"[。！？!?；;，,：:\n\r]")
_SENTENCE = re.compile(r"[。！？!?；;\n\r]")
_PHRASE = re.compile(
    r"[、/（）()\[\]【】《》“”\"'‘’\s]|以及|及其|及|和|或者|或|与|并且|等|例如|比如|包括|可用于|适用于|用于|"
    r"的辅助治疗|的治疗|治疗|预防|缓解|改善|患者|病人|成年人|成年|成人|儿童|小儿|老年人|孕妇|引起的|所致的?|导致的?|伴有|伴|如|的")
_LOOSE_DROP = re.compile(r"[（(][^（()）]*[)）]|的|成年人|成人|成年")
_ITEM = "\x01"  # 、 in a folded view: fold drops it, the distributed step needs it
_AFTER_ITEM = re.compile(f"^(?:{_ITEM}|以及|或者|和|及|与|或|等|引起|所致|导致)")
_BEFORE_ITEM = re.compile(f"(?:{_ITEM}|以及|或者|和|及|与|或)$")
_EXAMPLES = re.compile(r"\W{0,2}(?:例如|比如|譬如|如|包括|尤其是)[:：]?")
_LIST = re.compile(r"、|，|,|以及|或者|和|及|与|或")
_KEEP, _DROP, _BREAK = 0, 1, 2


# ---------------------------------------------------------------- hits


@dataclass(frozen=True)
class LabelHit:
    """One gold label and where the answer names it; `how` is one of the steps above, None for a miss.

    `negated` is the answer's span that would have matched but sits in a negated context.
    """

    label: str
    matched: str | None
    how: str | None
    negated: str | None = None


# ---------------------------------------------------------------- synonyms


def load_synonyms(extra: Path | None = None) -> dict[str, set[str]]:
    """Folded term -> its aliases (folded, without itself): the default table plus the user's TOML or CSV.

    TOML: `groups = [["腱鞘炎", "踺鞘炎"], …]` and/or tables of `term = ["alias", …]` (any table
    name). CSV: one group a row, cells may also hold `a|b`; a first row of ASCII words is a header.
    """
    groups = _read_groups(DEFAULT_SYNONYMS)  # package data: missing means a broken install, not "no synonyms"
    if extra is not None:
        extra = Path(extra)
        if not extra.is_file():
            raise UserError("synonym file not found", file=extra, remedy="give a TOML or CSV synonym table")
        groups += _read_groups(extra)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for group in groups:
        keys = [k for k in (_canon(fold(t)) for t in group) if k]
        for k in keys:
            find(k)
        for a, b in pairwise(keys):
            parent[find(a)] = find(b)
    members: dict[str, set[str]] = defaultdict(set)
    for k in list(parent):
        members[find(k)].add(k)
    return {k: members[find(k)] - {k} for k in parent if len(members[find(k)]) > 1}


def _read_groups(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"not valid TOML: {exc}", file=path) from exc
        groups: list[list[str]] = []
        for key, value in data.items():
            if key == "groups" and isinstance(value, list):
                for group in value:
                    if not isinstance(group, list) or not all(isinstance(t, str) for t in group):
                        raise UserError("each entry of 'groups' must be a list of strings", file=path,
                                        field="groups")
                    groups.append(group)
            elif isinstance(value, dict):
                for term, aliases in value.items():
                    aliases = [aliases] if isinstance(aliases, str) else aliases
                    if not isinstance(aliases, list) or not all(isinstance(t, str) for t in aliases):
                        raise UserError("aliases must be a string or a list of strings", file=path,
                                        field=f"{key}.{term}")
                    groups.append([term, *aliases])
            else:
                raise UserError("expected 'groups = [[…]]' or tables of term = [aliases]", file=path, field=key)
        return groups
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        rows = list(csv.reader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
        if rows and all(re.fullmatch(r"[A-Za-z_ ]+", c.strip()) for c in rows[0] if c.strip()):
            rows = rows[1:]
        return [[t.strip() for c in row for t in c.split("|") if t.strip()] for row in rows]
    raise UserError("unknown synonym file type", file=path, remedy="use a .toml or .csv file")




# ---------------------------------------------------------------- the answer


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    return fold(ch)


def _canon(folded: str) -> str:
    for a, b in VARIANTS:
        folded = folded.replace(a, b)
    return folded


@dataclass(frozen=True)
class View:
    """One folded view of an answer: clause boundaries are \\x00, 、 is \\x01; `source` maps back to the text."""

    folded: str
    source: tuple[int, ...]


def _view(text: str, codes: list[int]) -> View:
    chars, source = ["\x00"], [-1]
    for i, ch in enumerate(text):
        if codes[i] == _DROP:
            continue
        if codes[i] == _BREAK or _CLAUSE.match(ch):
            if chars[-1] != "\x00":
                chars.append("\x00")
                source.append(-1)
            continue
        for f in _ITEM if ch == "、" else _fold_char(ch):
            chars.append(f)
            source.append(i)
    return View(_canon("".join(chars)), tuple(source))


class FoldedAnswer:
    """An answer folded for matching: strict, loose and negated views, and its phrases; spans map back."""

    __slots__ = ("excluded", "loose", "negated", "phrase_ends", "phrase_starts", "phrases", "strict", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.excluded = excluded = excluded_mask(text)
        drop = [False] * len(text)
        for m in _LOOSE_DROP.finditer(text):
            drop[m.start():m.end()] = [True] * (m.end() - m.start())
        self.strict = _view(text, [_BREAK if e else _KEEP for e in excluded])
        self.loose = _view(text, [_BREAK if e else _DROP if d else _KEEP for e, d in zip(excluded, drop, strict=True)])
        self.negated = _view(text, [_KEEP if e else _BREAK for e in excluded])
        self.phrases: list[tuple[str, int, int]] = []
        self.phrase_starts = {0}
        self.phrase_ends = {len(text)}
        last = 0
        for cut in [*_PHRASE.finditer(text), None]:
            end = cut.start() if cut else len(text)
            for a, b in _pieces(text, last, end, excluded):
                phrase = _canon(fold(text[a:b]))
                if len(phrase) >= 2:
                    self.phrases.append((phrase, a, b))
            last = cut.end() if cut else end
            self.phrase_starts.add(last)
            self.phrase_ends.add(end)
        self.phrase_starts.update(m.end() for m in _CLAUSE.finditer(text))
        self.phrase_ends.update(m.start() for m in _CLAUSE.finditer(text))

    def span(self, view: View, start: int, end: int) -> str:
        idx = [view.source[i] for i in range(start, end) if view.source[i] >= 0]
        return self.text[idx[0]: idx[-1] + 1] if idx else ""

    def says_in_sentence(self, index: int, word: str) -> bool:
        """Whether the sentence around a source index holds word, outside negation and not as 失+word."""
        begin = max((m.end() for m in _SENTENCE.finditer(self.text, 0, index)), default=0)
        end = (m.start() if (m := _SENTENCE.search(self.text, index)) else len(self.text))
        found = re.compile(f"(?<!失){word}").finditer(self.text, begin, end)
        return any(not any(self.excluded[w.start():w.end()]) for w in found)


def _pieces(text: str, start: int, end: int, excluded: list[bool]) -> list[tuple[int, int]]:
    """Pieces of text[start:end] outside excluded spans and clause boundaries."""
    pieces, begin = [], None
    for i in range(start, end + 1):
        inside = i < end and not excluded[i] and not _CLAUSE.match(text[i])
        if inside and begin is None:
            begin = i
        elif not inside and begin is not None:
            pieces.append((begin, i))
            begin = None
    return pieces


# ---------------------------------------------------------------- matching


@dataclass(frozen=True)
class Label:
    """A gold label prepared once: its folded key, aliases, core and the suffix the core dropped."""

    key: str
    aliases: tuple[str, ...]
    core: str | None
    dropped: str


class Matcher:
    """Matches gold labels against answers; built once per synonym table, labels cached."""

    def __init__(self, synonyms: dict[str, set[str]] | None = None) -> None:
        self.synonyms = synonyms or {}
        self._terms = sorted((t for t in self.synonyms if len(t) >= 2), key=len, reverse=True)
        self._labels: dict[str, Label] = {}

    def _label(self, label: str) -> Label:
        cached = self._labels.get(label)
        if cached is None:
            key = _canon(fold(label))
            aliases = set(self.synonyms.get(key, ()))
            for term in self._terms:
                if term != key and term in key:
                    aliases.update(key.replace(term, alt) for alt in self.synonyms[term])
            aliases.discard(key)
            core, dropped = _core(key)
            cached = Label(key, tuple(sorted(aliases, key=len, reverse=True)), core, dropped)
            self._labels[label] = cached
        return cached

    def match(self, label: str, answer: str | FoldedAnswer) -> LabelHit:
        ans = answer if isinstance(answer, FoldedAnswer) else FoldedAnswer(answer)
        lab = self._label(label)
        if not lab.key:
            return LabelHit(label, None, None)
        found = self._find(lab, ans)
        if found:
            return LabelHit(label, found[1], found[0])
        for needle in (lab.key, *lab.aliases, *([lab.core] if lab.core else [])):
            i = ans.negated.folded.find(needle)
            if i >= 0:
                return LabelHit(label, None, None, negated=ans.span(ans.negated, i, i + len(needle)))
        return LabelHit(label, None, None)

    def _find(self, lab: Label, ans: FoldedAnswer) -> tuple[str, str] | None:
        """(how, the answer's span) for the first step that finds the label, or None."""
        for how, view in (("exact", ans.strict), ("loose", ans.loose)):
            for needle in (lab.key, *lab.aliases):
                i = occurrence(view.folded, needle)
                if i is not None:
                    return ("synonym" if how == "exact" and needle != lab.key else how,
                            ans.span(view, i, i + len(needle)))
        if lab.core:
            for view in (ans.strict, ans.loose):
                i = _core_occurrence(lab.core, lab.dropped, view, ans)
                if i is not None:
                    return "contains", ans.span(view, i, i + len(lab.core))
        need = PHRASE_COVERAGE * len(lab.key)
        fits = [p for p in ans.phrases if len(p[0]) >= need and occurrence(lab.key, p[0]) is not None
                and not drops_modifier(lab.key, p[0])]
        if fits:
            best = max(fits, key=lambda p: len(p[0]))
            return "contains", ans.text[best[1]:best[2]]
        qualified = self._qualified(lab.key, ans)
        if qualified:
            return "qualified", qualified
        for needle in (lab.key, *lab.aliases):
            parts = _distributed(needle, ans)
            if parts:
                return "distributed", ans.span(ans.loose, *parts)
            example = _exemplified(needle, ans)
            if example:
                return "distributed", example
        return None

    def _qualified(self, key: str, ans: FoldedAnswer) -> str | None:
        for qualifier, words in QUALIFIERS:
            rest = key[: -len(qualifier)]
            if not key.endswith(qualifier) or len(rest) < MIN_CORE:
                continue
            inner = self._label(rest)
            for view in (ans.strict, ans.loose):
                for needle in (inner.key, *inner.aliases):
                    i = occurrence(view.folded, needle)
                    if i is not None and any(ans.says_in_sentence(view.source[i], w) for w in words):
                        return ans.span(view, i, i + len(needle))
        return None


def _core_occurrence(core: str, dropped: str, view: View, ans: FoldedAnswer) -> int | None:
    """Where the label's core stands in the view as a whole term: followed by a phrase end or a generic suffix
    that does not conflict (慢性肾 of 慢性肾病 is not in 慢性肾炎, 帕金森 of 帕金森病 not in 帕金森综合征)."""
    conflicts = SUFFIX_CONFLICTS.get(dropped, ())
    text = view.folded
    i = occurrence(text, core, conflicts)
    while i is not None:
        j = i + len(core)
        if (j == len(text) or text[j] in "\x00\x01" or view.source[j - 1] + 1 in ans.phrase_ends
                or text.startswith(tuple(CORE_SUFFIXES), j)):
            return i
        i = occurrence(text, core, conflicts, start=i + 1)
    return None


def _distributed(needle: str, ans: FoldedAnswer) -> tuple[int, int] | None:
    """The loose view's span of needle = a + b shared over a list item (see the module doc), or None."""
    text = ans.loose.folded
    if needle[-2:] not in text:  # every b below ends with these two characters: no b, no split (most answers)
        return None
    for k in range(1, len(needle) - 1):
        a, b = needle[:k], needle[k:]
        i = occurrence(text, a)
        while i is not None:
            opens = ans.loose.source[i] in ans.phrase_starts or text[i - 1] in "\x00\x01"
            gap_start = i + k
            window = text[gap_start: gap_start + MAX_GAP + len(b)].split("\x00", 1)[0]
            j = window.find(b, 1)
            while j > 0:
                gap, end = window[:j], gap_start + j + len(b)
                closes = ans.loose.source[end - 1] + 1 in ans.phrase_ends  # 肺炎 of 肺炎衣原体 ends no item
                if closes and ((_AFTER_ITEM.match(gap) and (k >= 2 or opens)) or (_BEFORE_ITEM.search(gap) and opens)):
                    return i, end
                j = window.find(b, j + 1)
            i = occurrence(text, a, start=i + 1)
    return None


def _exemplified(needle: str, ans: FoldedAnswer) -> str | None:
    """The answer's span where needle = a + b and the answer reads "b，如 …、a、…": 骨性关节炎，如膝关节、肩、手
    names 肩关节炎 (the examples are kinds or sites of b)."""
    text, strict = ans.text, ans.strict
    if needle[-2:] not in strict.folded:  # every b below ends with these two characters
        return None
    for k in range(1, len(needle) - 1):
        a, b = needle[:k], needle[k:]
        i = occurrence(strict.folded, b)
        while i is not None:
            end = strict.source[i + len(b) - 1] + 1
            cue = _EXAMPLES.match(text, end)
            if cue:
                stop = _SENTENCE.search(text, cue.end())
                listed = text[cue.end(): stop.start() if stop else len(text)].split("等", 1)[0]
                at = cue.end()
                for item in _LIST.split(listed):
                    at = text.index(item, at)
                    if _canon(fold(item)) == a and not any(ans.excluded[at: at + len(item)]):
                        return text[strict.source[i]: at + len(item)]
                    at += len(item)
            i = occurrence(strict.folded, b, start=i + 1)
    return None


def _core(key: str) -> tuple[str | None, str]:
    """The label without generic suffixes, if anything significant is left, and the last suffix removed."""
    core, last = key, ""
    for _ in range(3):
        suffix = next((s for s in CORE_SUFFIXES if core.endswith(s) and len(core) > len(s)), None)
        if not suffix:
            break
        core, last = core[: -len(suffix)], suffix
    if core == key:
        return None, ""
    least = MIN_CORE_AFTER_ZHENG if last == "症" else MIN_CORE
    return (core, last) if len(core) >= least else (None, "")
