"""Dosage perturbation: the "rejected" answer of a preference (DPO) pair is the record's 用法用量 with one dose or
frequency made wrong, so a model learns to prefer the amount and schedule the package insert states.

Only a number a reader takes as an amount (a number and a dose unit) or as how often (一日N次, 每N小时) is changed,
and only its digits: the rest of the text stays byte-identical, so the pair differs in nothing but the error. List
markers, ages, body weights, durations, concentrations, specifications (每片0.5g) and diluent volumes are left
alone; an expression the patterns cannot place for sure is skipped rather than guessed at.
"""

import re
from dataclasses import dataclass
from decimal import Decimal

_MASK = (1 << 64) - 1
_D = "[0-9０-９]"
_NUM = rf"{_D}+(?:[.．]{_D}+)?"
_SEP = r"～~〜\-－—–至到"
_CN_DIGITS = "一二两三四五六七八九十"
_NUMCH = "0-9０-９.．" + _CN_DIGITS + "百第隔"
_COUNT_UNITS = "片|粒|袋|丸|支|滴|喷|揿|贴|包|瓶|勺|汤匙|格|枚"
_UNITS = "万单位|万IU|万U|单位|mcg|μg|µg|ug|mg|mL|ml|IU|U|L|g|ｍｇ|ｍｌ|ｍＬ|ｇ|毫克|微克|克|毫升|" + _COUNT_UNITS
_PER = r"(?:/(?:kg|m2|m²)(?:[·/]?(?:d|日|天))?|/[（(]kg[·.]?(?:d|日|天)[)）]|/(?:次|日|天|d))?"
_RANGE = rf"(?P<a>{_NUM})(?:(?P<sep>万?\s*[{_SEP}]\s*)(?P<b>{_NUM}))?"  # 万 for 40万～80万单位
_CN_RANGE = rf"(?P<a>[半{_CN_DIGITS}])(?:(?P<sep>[{_SEP}])(?P<b>[{_CN_DIGITS}]))?"
_INT = rf"{_D}{{1,2}}|二十四|十二|[{_CN_DIGITS}]"
_INT_RANGE = rf"(?P<a>{_INT})(?:(?P<sep>\s*[{_SEP}]\s*)(?P<b>{_INT}))?"
_TAIL = rf"(?![A-Za-zＡ-Ｚａ-ｚ/／%％·半])(?!\s*[{_SEP}×*])"  # no concentration (mg/ml), unit word, "1片半" or "1片至2片"

# A number right after a letter (维生素B12), digit, "/" or "×" (10mg×24片) is part of a name or specification.
_DOSE = re.compile(rf"(?<![0-9０-９.．,A-Za-zＡ-Ｚａ-ｚ×*/{_SEP}])(?P<num>{_RANGE})[ ]?(?P<unit>{_UNITS}){_PER}{_TAIL}")
_CN_DOSE = re.compile(rf"(?<=[次服各日天用为])(?P<num>{_CN_RANGE})(?P<unit>{_COUNT_UNITS}){_TAIL}")
_FREQ = re.compile(rf"(?:(?:每|(?<![{_NUMCH}])[一1１])\s*[日天]|(?<![^\s，,。；;：:、（(])日)\s*(?P<num>{_INT_RANGE})\s*次")
_HOURS = re.compile(rf"每\s*(?:隔\s*)?(?P<num>{_INT_RANGE})\s*(?:个\s*)?(?:小时|h(?![A-Za-z]))")

# 每片0.5g, 每5ml含…, 规格: a specification of the product, not an amount to take
_SPEC_BEFORE = re.compile(rf"(?:每(?:{_COUNT_UNITS}|盒|板|毫升|ml|mL)?|含有?|规格[：:]?|相当于|浓度为?)\s*$")
_SOLVENT = ("%", "稀释", "溶解", "溶于", "溶媒", "注射用水", "氯化钠", "葡萄糖", "混合")  # a volume of diluent
_VOLUME = {"ml", "mL", "L", "ｍｌ", "ｍＬ", "毫升"}
_FACTORS = (Decimal(2), Decimal(3), Decimal(5), Decimal(10), Decimal("0.5"))
_SWAP = {1: 3, 2: 4, 3: 1, 4: 2}  # the first choice for a count: a clearly different regimen
_COUNTS = (1, 2, 3, 4, 6)
_HOURS_CHOICES = (4, 6, 8, 12, 24)
_FULL = str.maketrans("０１２３４５６７８９．", "0123456789.")
_TO_FULL = str.maketrans("0123456789", "０１２３４５６７８９")
_CN_VALUE = {c: i for i, c in enumerate("一二三四五六七八九十", 1)} | {"两": 2}


@dataclass(frozen=True)
class Perturbation:
    """One changed expression: `text` is the whole text with `before` (at its place) replaced by `after`."""

    text: str
    before: str
    after: str
    what: str  # "dose" or "frequency"


def _value(s: str) -> Decimal:
    """A number as written: ASCII or full-width digits, 半, or a Chinese numeral up to 九十九."""
    if s == "半":
        return Decimal("0.5")
    if s[0] not in _CN_VALUE:
        return Decimal(s.translate(_FULL))
    if "十" not in s:
        return Decimal(_CN_VALUE[s])
    tens, _, ones = s.partition("十")
    return Decimal((_CN_VALUE[tens] if tens else 1) * 10 + (_CN_VALUE[ones] if ones else 0))


def _cn(v: Decimal) -> str | None:
    """A value in Chinese numerals (两 for two, as in 两片/两次), or None if it has no short form."""
    if v == Decimal("0.5"):
        return "半"
    if v != v.to_integral_value() or not 1 <= v <= 99:
        return None
    n, digits = int(v), "一二三四五六七八九"
    if n == 2:
        return "两"
    if n < 10:
        return digits[n - 1]
    return ("" if n < 20 else digits[n // 10 - 1]) + "十" + (digits[n % 10 - 1] if n % 10 else "")


def _write(v: Decimal, like: str) -> str | None:
    """`v` in the style of `like`: Chinese stays Chinese, full-width stays full-width, no float noise (0.5, not 0.50)."""
    if like[0] in _CN_VALUE or like == "半":
        return _cn(v)
    s = format(v.normalize(), "f")
    if any(c in like for c in "０１２３４５６７８９．"):
        s = s.translate(_TO_FULL).replace(".", "．" if "．" in like else ".")
    return s


Pairs = list[tuple[Decimal, Decimal | None]]


def _ranges(a: Decimal, b: Decimal | None, scaled: Pairs) -> Pairs:
    """Keep the new values that are positive and, for a range, do not overlap the old one (1～2片 never 2～4片)."""
    return [(x, y) for x, y in scaled if x > 0 and (b is None or y is None or y < a or x > b)]


def _whole(*values: Decimal | None) -> bool:
    """Whether every given value is an integer: tablets and capsules are counted, not divided."""
    return all(v is None or v == v.to_integral_value() for v in values)


def _options(m: re.Match[str], what: str, unit: str) -> list[str]:
    """The replacements for the number part of `m`, in a fixed order a key indexes."""
    a_s, sep, b_s = m.group("a"), m.group("sep") or "", m.group("b")
    a, b = _value(a_s), (_value(b_s) if b_s else None)
    pairs: Pairs
    if what == "dose" and "万" in sep and not unit.startswith("万"):
        return []  # 40万～80单位: the two ends are not in one unit
    if what == "dose":
        pairs = _ranges(a, b, [(a * f, None if b is None else b * f) for f in _FACTORS])
        if _whole(a, b) and re.fullmatch(_COUNT_UNITS, unit):  # 1粒÷2 is no dose anyone takes
            pairs = [(x, y) for x, y in pairs if _whole(x, y)]
    elif b is None:
        n = int(a)
        pairs = [(Decimal(c), None) for c in dict.fromkeys([_SWAP.get(n, 1), *_COUNTS]) if c != n] \
            if what == "frequency" else [(Decimal(h), None) for h in _HOURS_CHOICES if h != n]
    elif what == "frequency":  # a range of counts moves by its own width or triples: 1～2次 -> 3～4次, 3～6次
        width = b - a + 1
        pairs = _ranges(a, b, [(a + width, b + width), (a - width, b - width), (a * 3, b * 3)])
    else:  # a range of hours doubles or halves: 每4～6小时 -> 每8～12小时
        pairs = [(x, y) for x, y in _ranges(a, b, [(a * 2, b * 2), (a / 2, b / 2)]) if _whole(x, y)]
    out = []
    for x, y in pairs:
        new_a, new_b = _write(x, a_s), ("" if y is None else _write(y, b_s))
        if new_a is not None and new_b is not None:
            out.append(new_a + (sep + new_b if b_s else ""))
    return out


def _skip_dose(text: str, m: re.Match[str]) -> bool:
    """A specification (每片0.5g) or a diluent volume (溶于5%葡萄糖250ml) is not a dose of the drug."""
    if _SPEC_BEFORE.search(text[max(0, m.start() - 4):m.start()]):
        return True
    if m.group("unit") not in _VOLUME:
        return False
    left = max(text.rfind(p, 0, m.start()) for p in "，,。；;\n") + 1
    right = min((i for i in (text.find(p, m.end()) for p in "，,。；;\n") if i >= 0), default=len(text))
    return any(word in text[left:right] for word in _SOLVENT)


def candidates(text: str) -> list[tuple[re.Match[str], str, list[str]]]:
    """Every changeable expression with its replacements, left to right, none overlapping (the audit reads them
    to check a rejected answer)."""
    found = []
    for pattern, what in ((_DOSE, "dose"), (_CN_DOSE, "dose"), (_FREQ, "frequency"), (_HOURS, "hours")):
        for m in pattern.finditer(text):
            if what == "dose" and _skip_dose(text, m):
                continue
            options = _options(m, what, m.group("unit") if what == "dose" else "")
            if options:
                found.append((m, "frequency" if what == "hours" else what, options))
    found.sort(key=lambda c: (c[0].start(), -c[0].end()))
    kept: list[tuple[re.Match[str], str, list[str]]] = []
    for c in found:
        if not kept or c[0].start() >= kept[-1][0].end():
            kept.append(c)
    return kept


def perturb_dosage(text: str, key: int) -> Perturbation | None:
    """`text` with one dose or frequency changed, chosen by `key` (the same text and key, the same change), or None
    when the text states no dose or frequency that can be changed safely (遵医嘱, 适量)."""
    found = candidates(text)
    if not found:
        return None
    key &= _MASK
    m, what, options = found[key % len(found)]
    new = options[(key // len(found)) % len(options)]
    start, end, num_start, num_end = m.start(), m.end(), m.start("num"), m.end("num")
    before = text[start:end]
    after = text[start:num_start] + new + text[num_end:end]
    return Perturbation(text[:start] + after + text[end:], before, after, what)
