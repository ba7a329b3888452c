"""Distinguishing modifiers: what keeps one disease name from crediting another that differs by a modifier.

`builder.eval.match` compares a label's parts, never edit distance; these are its checks. A hit right after
非 is no hit (小细胞肺癌 inside 非小细胞肺癌), nor one inside a longer number or Latin word (I型 inside II型);
a short form may not leave out a distinguishing modifier (原发/继发, 急性/慢性, 甲…戊型, 1型/2型, 左/右,
上/下, 膝/髋 …); a core may not go on with a conflicting suffix (帕金森 of 帕金森病 in 帕金森综合征).
"""

STAGES = ("危重期", "活跃期", "发作期", "稳定期", "急性期", "慢性期")  # the last two are never stripped: 急/慢 differ
SUFFIX_CONFLICTS = {"病": ("综合征",), "综合征": ("病",), **dict.fromkeys(STAGES[:4], STAGES)}
DISTINGUISHING = ("非", "原发", "继发", "急性", "慢性", "亚急性", "甲型", "乙型", "丙型", "丁型", "戊型", "甲肝",
                  "乙肝", "丙肝", "丁肝", "戊肝", "1型", "2型", "左", "右", "上", "下", "膝", "髋", "肩", "肘", "腕",
                  "踝", "良性", "恶性", "复杂性", "小细胞", "综合征")


def occurrence(text: str, needle: str, conflicts: tuple[str, ...] = (), start: int = 0) -> int | None:
    """The first place needle stands in text as itself: not right after 非 (非小细胞肺癌 is not 小细胞肺癌), not
    inside a longer number or Latin word (I型 in II型), not followed by a conflicting suffix."""
    i = text.find(needle, start)
    while i >= 0:
        j = i + len(needle)
        before, after = text[i - 1: i], text[j: j + 1]
        if not ((before == "非" and not needle.startswith("非"))
                or (needle[0].isascii() and needle[0].isalnum() and before.isascii() and before.isalnum())
                or (needle[-1].isascii() and needle[-1].isdigit() and after.isascii() and after.isdigit())
                or text.startswith(conflicts, j)):
            return i
        i = text.find(needle, i + 1)
    return None


def drops_modifier(key: str, phrase: str) -> bool:
    """Whether the part of the label a shorter phrase leaves out holds a distinguishing modifier."""
    left = key.replace(phrase, "\x00", 1)
    return any(m in left for m in DISTINGUISHING)
