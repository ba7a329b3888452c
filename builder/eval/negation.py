"""Which characters of an answer give no credit: negated scopes, causes, contraindication and adverse-effect sections.

An answer that says a drug does not treat X, may cause X, or is contraindicated in X does not name X as an
indication, so `builder.eval.match` sets these characters aside (the audit still shows them as negated).

- **Negation** (scope: from the cue to the end of its clause, at 。！？；，： or a line break):
  并不/并非/而非/绝不/不是/不在/未在 …, a modal or 不/没有/禁/非 with a verb of use (不治疗, 不应该用于, 不宜使用,
  禁用于, 没有用于 …), and 没有/尚无/缺乏 …证据. When nothing but 本品/使用/患者 … follows the cue in
  its clause ("高血压患者禁用", "高血压不是本品的适应症"), the scope runs back to the clause start instead.
- **Weak negation** (不能, 没有, 无法, 未经, 不伴有 …) usually modifies the patients, not the indication
  ("不能手术的肝细胞癌", "未经治疗的高血压"): its scope ends at the first 的, 或, 、 or closing parenthesis as well.
- **Ineffective** (无效, 不起作用, 没有效果, 疗效不佳 …): back to the nearest 对 in the clause, or the clause start.
- **Cause** (可导致/引起/诱发/引发/造成 X, 可加重 X (not 急性加重), not "…引起的 X", which names the
  indication, nor a bare 引起 X after an indication verb in its sentence): scoped like weak negation.
- **Sections**: from the clause holding 禁忌, 不良反应 or 副作用 to the end of its sentence, or, when it is a
  heading ending in a colon, through the lines under it up to the next heading ("X是其不良反应" included);
  not 不良反应/副作用 after an indication verb in its clause ("用于减轻化疗的副作用").

Single characters that are also parts of disease names (非小细胞, 无排卵, 不育, 未分化, 心功能不全) are
never cues on their own. 慎用 is not negation.
"""

from __future__ import annotations

import re

_USE = r"(?:用于|适用于?|适合|适于|适宜|治疗|缓解|改善|预防|防治|根治|治愈|推荐|建议|使用|服用|应用|作为|针对|用)"
_STRONG = re.compile(
    r"并不|并非|并未|并没有|而非|而不是|绝不|决不|从不|不是|不属于|不包括|不在|未在|不能证明|无助于|无益于|"
    r"(?:未被?|未获)(?:批准|推荐|证实|证明)|"
    rf"(?:不能够?|不可以?|不宜|不应该?|不应当|不得|不要|不必|不会|不建议|不推荐|不主张|不再|禁止|禁|忌|无法|没有|尚未|"
    rf"从未|非|不)被?{_USE}|"
    r"(?:不宜|不推荐|不建议|不适合|不主张|禁用|忌用|禁服)|"
    r"(?:没有|尚无|并无|缺乏|无)(?:任何|确切|明确|充分|足够|可靠)?(?:证据|研究|数据|资料)|"
    r"非(?:本品|本药)?的?适应[症证]")
_WEAK = re.compile(r"不能|不可(?!逆)|没有|无法|未经|未能|尚无|不伴有?")
_CAUSE = re.compile(r"(?P<modal>可能|可|会|能|易|容易|常)?(?:导致|引起|诱发|引发|造成|致使)(?![的了])|"
                    r"(?P<worsen>(?:可能|可|会|能|易)加重)(?![的了])")
_INDICATION = re.compile(r"用于|适用|治疗|防治|预防|控制|缓解|改善")
_INEFFECTIVE = re.compile(r"无效|不起作用|没有?(?:作用|效果|疗效)|无(?:明显|显著)?(?:作用|效果|疗效)|"
                          r"(?:效果|疗效)不(?:佳|好|明显|确切)")
_SECTION = re.compile(r"禁忌|不良反应|副作用")
_CLAUSE = re.compile(r"[。！？!?；;，,：:\n\r]")
_SENTENCE = re.compile(r"[。！？!?；;\n\r]")
_WEAK_END = re.compile(r"[的或、）)]")
_HEADING = re.compile(r"^\W*[\u4e00-\u9fff]{2,8}\W*[：:]")
_INSIGNIFICANT = re.compile(r"本品|本药|该药|此药|使用|服用|应用|治疗|患者|病人|者|的|适应[症证]|之列|范围|[\W\d_]")
_CUE_CHARS = frozenset("不禁忌无没未非并而导引诱造加致缺尚良副")


def excluded_mask(text: str) -> list[bool]:
    """Per character of text: True where it is negated, a cause, or in a contraindication/adverse-effect section."""
    mask = [False] * len(text)
    if not _CUE_CHARS.intersection(text):
        return mask

    def mark(a: int, b: int) -> None:
        for i in range(max(a, 0), min(b, len(text))):
            mask[i] = True

    for m in _STRONG.finditer(text):
        end = _clause_end(text, m.end())
        if _INSIGNIFICANT.sub("", text[m.end():end]):
            mark(m.start(), end)
        else:
            mark(_clause_start(text, m.start()), m.end())
    for m in [*_WEAK.finditer(text), *(c for c in _CAUSE.finditer(text) if _is_cause(text, c))]:
        end = _clause_end(text, m.end())
        stop = _WEAK_END.search(text, m.end(), end)
        mark(m.start(), stop.start() if stop else end)
    for m in _INEFFECTIVE.finditer(text):
        begin = _clause_start(text, m.start())
        to = text.rfind("对", begin, m.start())
        mark(to if to >= 0 else begin, m.end())
    for m in _SECTION.finditer(text):
        begin = _clause_start(text, m.start())
        if m.group() == "禁忌" or not _INDICATION.search(text, begin, m.start()):  # 用于减轻化疗的副作用 is one
            mark(begin, _section_end(text, m.end()))
    return mask


def _is_cause(text: str, m: re.Match[str]) -> bool:
    """可导致X always; a bare 引起X not after an indication in its sentence (控制…洋地黄引起心律失常 names one)."""
    if m.group("modal") or m.group("worsen"):
        return True
    begin = max((s.end() for s in _SENTENCE.finditer(text, 0, m.start())), default=0)
    return not _INDICATION.search(text, begin, m.start())


def _clause_end(text: str, i: int) -> int:
    m = _CLAUSE.search(text, i)
    return m.start() if m else len(text)


def _clause_start(text: str, i: int) -> int:
    starts = [m.end() for m in _CLAUSE.finditer(text, 0, i)]
    return starts[-1] if starts else 0


def _section_end(text: str, i: int) -> int:
    """The sentence's end, or for a heading ("禁忌症：") the lines under it up to the next heading or blank line."""
    begin = _clause_start(text, i)
    s = _SENTENCE.search(text, i)
    end = s.start() if s else len(text)
    if not (text[begin:end].rstrip().endswith(("：", ":")) or not text[i:end].strip("：: *#")):
        return end
    pos = end
    while pos < len(text):
        nl = text.find("\n", pos + 1)
        nl = len(text) if nl < 0 else nl
        line = text[pos:nl].strip()
        if pos > end and (not line or _HEADING.match(line)):
            break
        pos = nl
    return pos
