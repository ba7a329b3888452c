"""Values that say nothing: placeholders ("尚不明确", "无", "详见说明书"…), web disclaimers and scraper residue.

They leave only whole. A whole value of that kind becomes null; a whole enumerated item of that kind
("9.药物对哺乳的影响：尚不明确。", a label and a placeholder, nothing else) is removed only when it is the last item,
so no numbering gap is left behind: an item with others after it is kept as written. A sentence that states
anything and mentions an unknown ("2.孕妇禁用，哺乳期妇女用药尚不明确。") is clinical content and is never touched.
"""

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from builder.clean.counts import count
from builder.kernels.scan import matching, spread

PLACEHOLDERS = frozenset(
    {"尚不明确", "不明确", "尚未明确", "尚不清楚", "不清楚", "无", "暂无", "暂无资料", "无资料", "尚无资料", "暂无数据",
     "不详", "未知", "待补充", "详见说明书", "见说明书", "请详见说明书", "-", "--", "—", "/", "null", "none", "n/a", "na",
     "nan"}
)
BARE = pa.array(sorted(PLACEHOLDERS))
PLACEHOLDER_TRAILER = "。.；;，,！!"
PLACEHOLDER_WRAP = "()（）[]【】 "
PLACEHOLDER_MAX = max(map(len, PLACEHOLDERS)) + 8
WORDS = "尚不明确|尚未明确|不明确|尚不清楚|不清楚|暂无资料|暂无数据|尚无资料|无资料|暂无|不详|未知|待补充|请?详见说明书|见说明书|无"
PLACEHOLDER = rf"(?:[(（](?:{WORDS})[)）]|(?:{WORDS}))"
# a notice a web page puts under every entry ("本词条仅用于中医药知识的科普，…均须遵守国家的相关法律法规。")
DISCLAIMER_LEAD = "本词条|本条目|本文|本站|本网站|本页面?|以上内容|以上信息|本内容"
DISCLAIMER = (rf"(?:{DISCLAIMER_LEAD})[^。！!\n]*?"
              r"(?:仅用于|仅供|仅作|不能作为|不作为|不构成|不能代替|不能替代|不可替代|均须遵守)[^。！!\n]*")
RESIDUE = (  # what a scraper leaves: a link's words, an ellipsis
    r"\[详细\]|【详细】|\[更多\]|【更多】|详细\s*>+|更多\s*>+|>>+|查看更多|查看详情|点击查看|展开全部|阅读全文"
    r"|…+|\.{2,}"
)
MARKER = r"(?:\d{1,2}[.．、]|[(（]\d{1,2}[)）]|[①-⑳])"
LABEL = r"[^。；;：:，,！？!?\n]+[：:]"  # a label is only a label: no clause before its colon
ITEM_END = r"\s*[。；;.．！!]?\s*$"
BOUNDARY = r"(^|[。；;！!\n)）])\s*"  # where an item may start; kept, so the text before it stays as it was
LAST_ITEM = {  # the last item of a value, by what makes it empty
    "placeholder_item": rf"{BOUNDARY}{MARKER}\s*(?:{LABEL}\s*)?{PLACEHOLDER}{ITEM_END}",
    "disclaimer": rf"{BOUNDARY}{MARKER}\s*{DISCLAIMER}{ITEM_END}",
}
ENDS_LIKE_PLACEHOLDER = rf"(?:{WORDS})[)）]?{ITEM_END}"
WHOLE = {  # whole values, by what they are
    "placeholder": rf"^\s*(?:{LABEL}\s*)?{PLACEHOLDER}{ITEM_END}",
    "disclaimer": rf"^\s*(?:{DISCLAIMER}[。！!]?\s*)+$",
    "scraper_residue": rf"^\s*(?:(?:{RESIDUE})\s*)+$",
}


def empty_out(values: pa.Array, hints: pa.Array, tally: Counter) -> pa.Array:
    """Last items that say nothing removed, then values that say nothing to null. `hints`: values that may hold a
    disclaimer (a superset); with the values that end like a placeholder, only they take the regex passes."""
    ends = matching(values, ENDS_LIKE_PLACEHOLDER)
    candidates = pc.or_(ends, hints)
    if pc.any(candidates).as_py():
        values = pc.replace_with_mask(values, candidates, _drop_last_items(pc.filter(values, candidates), tally))
    return _null_empty_values(values, {"placeholder": ends, "disclaimer": hints}, tally)


def _drop_last_items(values: pa.Array, tally: Counter) -> pa.Array:
    """Removes last items that only hold a placeholder or a disclaimer, one at a time from the end, so a run of
    them goes and an item with another after it never does."""
    for _ in range(16):
        changed = False
        for reason, pattern in LAST_ITEM.items():
            hit = matching(values, pattern)
            if count(tally, reason, hit):
                values = pc.replace_substring_regex(values, pattern, "\\1", max_replacements=1)
                changed = True
        if not changed:
            break
    return pc.utf8_rtrim_whitespace(values)


def _null_empty_values(values: pa.Array, masks: dict[str, pa.Array], tally: Counter) -> pa.Array:
    """Values that say nothing become null: empty ones, placeholders (bare, bracketed or after a label), web
    disclaimers and scraper residue. Only short values (by byte length, read from the offsets) can be bare ones;
    `masks` (the values each pattern may match) keep the regexes to a few values."""
    short = pc.fill_null(pc.less_equal(pc.binary_length(values), 4 * PLACEHOLDER_MAX), False)
    gone = pc.and_not(short, short)
    for reason, mask in {"scraper_residue": short, **masks}.items():
        hit = matching(values, WHOLE[reason], pc.and_not(mask, gone))
        if count(tally, reason, hit):
            gone = pc.or_(gone, hit)
    short = pc.and_not(short, gone)
    if pc.any(short).as_py():
        candidates = pc.filter(values, short)
        folded = pc.utf8_lower(pc.utf8_trim(pc.utf8_rtrim(candidates, characters=PLACEHOLDER_TRAILER),
                                            characters=PLACEHOLDER_WRAP))
        tiny = pc.less_equal(pc.utf8_length(candidates), PLACEHOLDER_MAX)
        empty = pc.and_(tiny, pc.equal(pc.utf8_length(folded), 0))
        bare = pc.and_(tiny, pc.is_in(folded, value_set=BARE))
        count(tally, "placeholder", bare)
        gone = pc.or_(gone, spread(short, pc.or_(empty, bare)))
    return pc.if_else(gone, pa.scalar(None, pa.string()), values) if pc.any(gone).as_py() else values
