"""Matching gold labels against a model's answer: folding, synonyms, negated contexts, fuzzy windows.

Matching, per gold label, on text folded with `builder.quality.normalize.fold` (width, case, punctuation,
spaces) and a few equal-length spelling variants (综合症/症候群→综合征, 食道→食管, 机能→功能,
一型/二型→1型/2型):

1. the answer is split into clauses at 。！？；，： and line breaks; a label is never matched across
   a clause boundary, and the parts of clauses in a negated context (below) are set aside;
2. **exact** — the folded label occurs in the answer;
3. **synonym** — an alias of the label occurs: the label's group in the synonym table (the default
   `builder/eval/synonyms.toml`, extended by the user's TOML or CSV; groups are symmetric and overlapping
   groups merge), or the label with a synonym-table term inside it replaced by an alias of that term
   (急性非特异性踺鞘炎 → 急性非特异性腱鞘炎);
4. **contains** — long and short forms, either way: the answer contains the label's core, the label
   minus generic suffixes (症/病/征/综合征/感染/疾病/疾患/症状/的治疗, and stage words such as
   急性期/慢性期/危重期/活跃期); the core must keep 3 characters, or 2 when only 症 was removed
   (抑郁症 → 抑郁, but not 血清病 → 血清 or 肠道感染 → 肠道); or a phrase of the answer (a piece
   between punctuation, conjunctions 和/及/或/与/以及 and filler words such as 用于/治疗/患者/等/的)
   is contained in the label and covers at least 70 % of it (ST段抬高心肌梗死 for 非ST段抬高心肌梗死,
   原发性高血压 for 轻度原发性高血压);
5. **fuzzy** — for labels of at least 4 characters, a window of the answer, at least as long as the
   label and with the same numbers, whose `difflib.SequenceMatcher` ratio to the label is at least
   0.85 (2·matches / total length): one inserted character passes from 4 characters up, one changed
   character from 7 up (急性非特异性腱鞘炎 for 急性非特异性踺鞘炎), and 急、慢性肝炎 hits 急性肝炎;
   a dropped character does not (性肝炎 is not 慢性肝炎, 型糖尿病 not 1型糖尿病).

Negation: a hit inside a negated context does not count (the audit shows it as a miss with the
negated span). Negated are: the rest of the clause after 不用于/不能用于/不可用于/不宜用于/不应用于/
不得用于/禁止用于/禁用于/忌用于/不适用于/不适合/不推荐用于/不能使用 ("本品不适用于治疗1型糖尿病"); the clause
before 禁用/忌用/禁服 ("糖尿病患者禁用", "对本品过敏者禁用"); 对…无效; and from the clause holding
禁忌 to the end of its sentence, or, when 禁忌… is a heading ending in a colon, through the lines
under it up to the next heading. 慎用 is not negation.

Fast enough for thousands of items in pure Python: fuzzy windows are only compared after a
character-count bound says they could reach the threshold.
"""

from __future__ import annotations

import csv
import difflib
import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from builder.errors import UserError
from builder.quality.normalize import fold

DEFAULT_SYNONYMS = Path(__file__).parent / "synonyms.toml"  # package data of builder.eval
FUZZY_THRESHOLD = 0.85
FUZZY_MIN_LABEL = 4
PHRASE_COVERAGE = 0.70
MIN_CORE = 3
MIN_CORE_AFTER_ZHENG = 2
CORE_SUFFIXES = sorted(
    {"综合征", "的辅助治疗", "的治疗", "感染", "疾病", "疾患", "病变", "症状", "症", "病", "征",
     "急性期", "慢性期", "危重期", "活跃期", "发作期", "稳定期"},
    key=len,
    reverse=True,
)
VARIANTS = (("综合症", "综合征"), ("症候群", "综合征"), ("食道", "食管"), ("机能", "功能"), ("一型", "1型"),
            ("二型", "2型"))

_CLAUSE = re.compile(r"[。！？!?；;，,：:\n\r]")
_SENTENCE = re.compile(r"[。！？!?；;\n\r]")
_PHRASE = re.compile(
    r"[、/（）()\[\]【】《》“”\"'‘’\s]|以及|及其|及|和|或者|或|与|并且|等|例如|比如|包括|可用于|适用于|用于|"
    r"的辅助治疗|的治疗|治疗|预防|缓解|改善|患者|病人|引起的|所致的?|导致的?|伴有|伴|如|的")
_PREFIX_NEGATION = re.compile(
    r"(?:不能|不可|不宜|不应|不得|禁止|禁|忌|不)(?:适)?用于|(?:不能|不可|不宜|不应|不得|禁止)(?:使用|服用)|"
    r"不适合(?:用于)?|不推荐(?:用于)?")
_POSTFIX_NEGATION = re.compile(r"(?:禁用|忌用|禁服)(?!于)")
_INEFFECTIVE = re.compile(r"对([^。！？!?；;，,\n]*?)无效")
_CONTRAINDICATION = re.compile(r"禁忌")
_DIGITS = re.compile(r"\d+")
_HEADING = re.compile(r"^\W*[\u4e00-\u9fff]{2,8}\W*[：:]")


# ---------------------------------------------------------------- hits


@dataclass(frozen=True)
class LabelHit:
    """One gold label and where the answer names it; `how` is exact|synonym|contains|fuzzy, None for a miss.

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


# ---------------------------------------------------------------- matching


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    return fold(ch)


def _canon(folded: str) -> str:
    for a, b in VARIANTS:
        folded = folded.replace(a, b)
    return folded


class FoldedAnswer:
    """An answer folded for matching, its positive and negated text, and phrases; spans map back."""

    __slots__ = ("negated", "negated_map", "phrases", "positive", "positive_map", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        negated = _negated_mask(text)
        pos_chars: list[str] = []
        pos_map: list[int] = []
        neg_chars: list[str] = []
        neg_map: list[int] = []
        self.phrases: list[tuple[str, int, int]] = []
        start = 0
        for boundary in [m.start() for m in _CLAUSE.finditer(text)] + [len(text)]:
            state = None
            for i in range(start, boundary):
                chars, cmap = (neg_chars, neg_map) if negated[i] else (pos_chars, pos_map)
                if state is not negated[i]:
                    chars.append("\x00")
                    cmap.append(-1)
                    state = negated[i]
                for f in _fold_char(text[i]):
                    chars.append(f)
                    cmap.append(i)
            start = boundary + 1
        self.positive = _canon("".join(pos_chars))
        self.positive_map = pos_map
        self.negated = _canon("".join(neg_chars))
        self.negated_map = neg_map
        last = 0
        for m in list(_PHRASE.finditer(text)) + [None]:
            end = m.start() if m else len(text)
            for piece in _split_mask(text, last, end, negated):
                phrase = _canon(fold(text[piece[0]:piece[1]]))
                if len(phrase) >= 2:
                    self.phrases.append((phrase, piece[0], piece[1]))
            last = m.end() if m else end

    def span(self, start: int, end: int, negated: bool = False) -> str:
        cmap = self.negated_map if negated else self.positive_map
        idx = [cmap[i] for i in range(start, end) if cmap[i] >= 0]
        return self.text[idx[0]: idx[-1] + 1] if idx else ""


def _split_mask(text: str, start: int, end: int, negated: list[bool]) -> list[tuple[int, int]]:
    """Pieces of text[start:end] outside negation and clause boundaries."""
    pieces, begin = [], None
    for i in range(start, end + 1):
        inside = i < end and not negated[i] and not _CLAUSE.match(text[i])
        if inside and begin is None:
            begin = i
        elif not inside and begin is not None:
            pieces.append((begin, i))
            begin = None
    return pieces


def _negated_mask(text: str) -> list[bool]:
    mask = [False] * len(text)

    def mark(a: int, b: int) -> None:
        for i in range(max(a, 0), min(b, len(text))):
            mask[i] = True

    def clause_end(i: int) -> int:
        m = _CLAUSE.search(text, i)
        return m.start() if m else len(text)

    def clause_start(i: int) -> int:
        starts = [m.end() for m in _CLAUSE.finditer(text, 0, i)]
        return starts[-1] if starts else 0

    if not any(c in text for c in "不禁忌无"):
        return mask
    for m in _PREFIX_NEGATION.finditer(text):
        mark(m.start(), clause_end(m.end()))
    for m in _POSTFIX_NEGATION.finditer(text):
        mark(clause_start(m.start()), m.end())
    for m in _INEFFECTIVE.finditer(text):
        mark(m.start(), m.end())
    for m in _CONTRAINDICATION.finditer(text):
        begin = clause_start(m.start())
        s = _SENTENCE.search(text, m.end())
        end = s.start() if s else len(text)
        if text[begin:end].rstrip().endswith(("：", ":")) or not text[m.end():end].strip("：: *#"):
            # a heading: the lines under it, up to the next heading or a blank line
            pos = end
            while pos < len(text):
                nl = text.find("\n", pos + 1)
                nl = len(text) if nl < 0 else nl
                line = text[pos:nl].strip()
                if pos > end and (not line or _HEADING.match(line)):
                    break
                pos = nl
            end = pos
        mark(begin, end)
    return mask


class Matcher:
    """Matches gold labels against answers; built once per synonym table, labels cached."""

    def __init__(self, synonyms: dict[str, set[str]] | None = None) -> None:
        self.synonyms = synonyms or {}
        self._terms = sorted((t for t in self.synonyms if len(t) >= 2), key=len, reverse=True)
        self._labels: dict[str, tuple] = {}

    def _label(self, label: str) -> tuple:
        cached = self._labels.get(label)
        if cached is None:
            key = _canon(fold(label))
            aliases = set(self.synonyms.get(key, ()))
            for term in self._terms:
                if term != key and term in key:
                    aliases.update(key.replace(term, alt) for alt in self.synonyms[term])
            aliases.discard(key)
            cached = (key, tuple(sorted(aliases, key=len, reverse=True)), _core(key))
            self._labels[label] = cached
        return cached

    def match(self, label: str, answer: str | FoldedAnswer) -> LabelHit:
        ans = answer if isinstance(answer, FoldedAnswer) else FoldedAnswer(answer)
        key, aliases, core = self._label(label)
        if not key:
            return LabelHit(label, None, None)
        found = self._find(key, aliases, core, ans.positive, ans.phrases)
        if found:
            how, start, end, phrase_span = found
            return LabelHit(label, ans.text[phrase_span[0]:phrase_span[1]] if phrase_span else ans.span(start, end), how)
        found = self._find(key, aliases, core, ans.negated, ())
        if found:
            return LabelHit(label, None, None, negated=ans.span(found[1], found[2], negated=True))
        return LabelHit(label, None, None)

    def _find(self, key: str, aliases: tuple, core: str | None, text: str, phrases) -> tuple | None:
        if not text.strip("\x00"):
            return None
        i = text.find(key)
        if i >= 0:
            return "exact", i, i + len(key), None
        for alias in aliases:
            i = text.find(alias)
            if i >= 0:
                return "synonym", i, i + len(alias), None
        if core:
            i = text.find(core)
            if i >= 0:
                return "contains", i, i + len(core), None
        need = PHRASE_COVERAGE * len(key)
        best = max((p for p in phrases if len(p[0]) >= need and p[0] in key), key=lambda p: len(p[0]), default=None)
        if best:
            return "contains", 0, 0, (best[1], best[2])
        if len(key) >= FUZZY_MIN_LABEL:
            window = _fuzzy(key, text)
            if window:
                return "fuzzy", window[0], window[1], None
        return None


def _core(key: str) -> str | None:
    """The label without generic suffixes, if anything significant is left."""
    core, last = key, None
    for _ in range(3):
        suffix = next((s for s in CORE_SUFFIXES if core.endswith(s) and len(core) > len(s)), None)
        if not suffix:
            break
        core, last = core[: -len(suffix)], suffix
    if core == key:
        return None
    least = MIN_CORE_AFTER_ZHENG if last == "症" else MIN_CORE
    return core if len(core) >= least else None


def _fuzzy(key: str, text: str) -> tuple[int, int] | None:
    """The best window of text with SequenceMatcher ratio >= FUZZY_THRESHOLD to key, or None."""
    n, length, t = len(text), len(key), FUZZY_THRESHOLD
    low, high = length, int(length * (2 - t) / t)  # never shorter: 性肝炎 is not 慢性肝炎
    digits = _DIGITS.findall(key)
    chars = set(key)
    prefix = [0]
    for ch in text:
        prefix.append(prefix[-1] + (ch in chars))
    if min(prefix[-1], length) * 2 < t * (length + low):
        return None
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(key)
    best, best_ratio = None, t
    for width in range(low, min(high, n) + 1):
        need = t * (length + width) / 2
        for start in range(n - width + 1):
            if prefix[start + width] - prefix[start] < need:
                continue
            window = text[start:start + width]
            if "\x00" in window or _DIGITS.findall(window) != digits:
                continue
            matcher.set_seq1(window)
            if matcher.real_quick_ratio() < best_ratio or matcher.quick_ratio() < best_ratio:
                continue
            ratio = matcher.ratio()
            if ratio >= best_ratio and (best is None or ratio > best_ratio or width < best[1] - best[0]):
                best, best_ratio = (start, start + width), ratio
    return best
