"""Damage in a knowledge base's source text, detected over whole columns and never dressed up as an answer.

- **Truncated** values: cut off mid-word (a lone letter whose sub- or superscript was lost: "…个体差异大。t",
  "维生素B", "(长效β"), inside an open bracket, after a comma, colon or conjunction ("…增强和"), at a control
  character that stood for a lost superscript, or ending in a scraper's mark ("…", "...", "[详细]", "更多>>").
  By default the field is skipped for that record (null); `truncated = "keep"` keeps the text as it is.
- **Cross-references**: a whole value that only points elsewhere ("参见：华法林", "同氢氯噻嗪。") is no answer and
  becomes null; a value with content that also mentions 参见 stays.
- **Unit damage**: "mg/m", "U/m" (m² whose ² was lost), "×10/L" (10⁹/L whose exponent was lost) cannot be
  repaired, so the value is kept and counted, for the report to say so.

Only prose fields are judged: a name may end in one letter (放线菌素D) or a conjunction (白及), and QA text is
conversation, where a trailing comma is how people write.
"""

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from builder.clean.counts import count
from builder.clean.placeholders import RESIDUE
from builder.kernels.scan import matching, spread

LETTER = "A-Za-zα-ωΑ-Ω"
# a letter or two where a lost sub- or superscript cut the text (半衰期(t, 5-HT, CO, 抗H, 鼠抗CD20): after Chinese
# text or punctuation, never after another letter, a digit or a space
CUT_LETTER = rf"[\x{{3400}}-\x{{9fff}}。，、；：:,;（(【\[](?:\d+-)?[{LETTER}]{{1,2}}\d{{0,2}}$"
WHOLE_NAMES = (r"(?:维生素|辅酶)(?:[ACDEK]|AD|[A-Z]\d{1,2})$|(?:蛋白|抗原|毒素|前列腺素|血友病|肝炎)[A-Za-z]\d{0,2}$"
               r"|(?:干扰素|因子|受体)[αβγ]$")  # names that end so, not in a lost subscript (维生素B12, not 维生素B)
CONJUNCTION = (r"(?:^|[^温缓中调平饱柔祥融谐附暖])和$|(?:^|[^白])及$|与$|或$|(?:^|[^合])并$|而$|但$|且$"
               r"|(?:^|[^自])如$|于$|以及$|或者$|及其$")
TRUNCATED = (
    r"[(（](?:[^)）]*[^)）。！？!?])?$|[\[【](?:[^\]】]*[^\]】。！？!?])?$|《[^》]*$"  # a bracket that never closes
    r"|[，、：:,]$"  # a clause or a label with nothing after it
    r"|[。；;，,]\s*(?:\d{1,2}[.．、]|[(（]\d{1,2}[)）]?)$"  # an item number with nothing after it
    r"|×10$"  # an exponent cut off
    rf"|(?:{RESIDUE})$"  # a scraper's mark where the text was cut
)
CONTROLS = r"\x00-\x08\x0e-\x1f\x7f-\x9f"
ENDS_IN_CONTROL = rf"[^。！？!?\s{CONTROLS}]\s*[{CONTROLS}]+\s*$"  # a superscript lost where the text stops
NAME = r"[^\s，、,。；;：:！？!?]+"
PLAIN_NAME = r"[^\s，、,。；;：:！？!?用服饮食时样类效光于到为是有可应能不等其一]+"  # a name, not a clause
SEE, SAME = r"(?:请?参见|详见|请见|参看|参阅)", r"(?:见|同)"
ALSO = r"(?:的?(?:相关|有关)内容|项下)?\s*[。.]?\s*$"
CROSS_REFERENCE = (  # a list after a colon (参见：A，B，C), or 、 between names; 同/见 alone before one plain name
    rf"^\s*(?:(?:{SEE}|{SAME})[：:]\s*{NAME}(?:\s*[，、,]\s*{PLAIN_NAME})*"
    rf"|{SEE}\s*{NAME}(?:\s*、\s*{PLAIN_NAME})*|{SAME}{PLAIN_NAME}){ALSO}"
)
CROSS_REFERENCE_START = ("参", "详见", "请", "见", "同")
UNIT_DAMAGE = r"[A-Za-zμ]/(?:c?m|mm)(?:[^A-Za-z0-9²³]|$)|×10\s?/"
UNIT_HINT = r"[A-Za-zμ]/(?:c?m|mm)|×10"  # what every value with unit damage holds, cheaper to look for


def judge(values: pa.Array, prose: pa.Array, cut: pa.Array, hints: pa.Array, keep_truncated: bool,
          tally: Counter) -> pa.Array:
    """Among the values `prose` marks, cross-references and truncated values become null (truncated ones are kept
    when `keep_truncated`); each is counted by reason, and so are values with unit damage. `cut`: values that
    ended in a control character before cleaning removed it; `hints`: values that hold `UNIT_HINT` (a superset
    of those with unit damage)."""
    cross = matching(values, CROSS_REFERENCE, pc.and_(prose, _starts_like_cross_reference(values)))
    values = _null_where(values, cross, "cross_reference", tally)
    truncated = pc.or_(pc.and_(prose, cut), _truncated(values, prose))
    values = _null_where(values, truncated, "truncated", tally, keep=keep_truncated)
    count(tally, "unit_damage", matching(values, UNIT_DAMAGE, pc.and_(prose, hints)))
    return values


def _truncated(values: pa.Array, prose: pa.Array) -> pa.Array:
    """Prose values whose end shows they were cut off. Cleaned values carry no trailing space, and nearly all that
    end in "。" are whole, so only the others take the patterns."""
    open_end = pc.and_(prose, pc.fill_null(pc.invert(pc.ends_with(values, "。")), False))
    if not pc.any(open_end).as_py():
        return open_end
    ends = pc.filter(values, open_end)
    letter = pc.and_not(pc.match_substring_regex(ends, CUT_LETTER), pc.match_substring_regex(ends, WHOLE_NAMES))
    cut = pc.or_(letter, pc.or_(pc.match_substring_regex(ends, TRUNCATED), pc.match_substring_regex(ends, CONJUNCTION)))
    return spread(open_end, cut)


def _starts_like_cross_reference(values: pa.Array) -> pa.Array:
    """Values opening with a pointer's first characters: a byte comparison, far cheaper than any pattern."""
    starts = [pc.starts_with(values, start) for start in CROSS_REFERENCE_START]
    mask = starts[0]
    for start in starts[1:]:
        mask = pc.or_(mask, start)
    return pc.fill_null(mask, False)


def _null_where(values: pa.Array, mask: pa.Array, reason: str, tally: Counter, keep: bool = False) -> pa.Array:
    if not count(tally, reason, mask) or keep:
        return values
    return pc.if_else(mask, pa.scalar(None, pa.string()), values)
