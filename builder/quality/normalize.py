"""Matching keys: text folded for comparison (dedup, decontamination, scoring), never for output.

Output keeps its Chinese punctuation; only keys fold width (NFKC), case, punctuation and spaces.
Entity names also lose dosage forms and salts, so 地屈孕酮片, 盐酸二甲双胍缓释片 and 双氯芬酸钠
meet 地屈孕酮, 二甲双胍 and 双氯芬酸 in a knowledge base. 硝酸 and 乳酸 are left alone (硝酸甘油,
乳酸菌素 are drugs, not salts), and so is a metal after 化 (氯化钾).
"""

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from builder.kernels.utf8 import code_point, ideograph, jit, utf8_buffers

NOT_WORD = (  # ASCII and CJK punctuation, symbols and spaces by range: RE2 runs ranges faster than \p{P}
    r"[\s!-/:-@\[-`{-~\x{A0}-\x{BF}\x{2000}-\x{206F}\x{2190}-\x{23FF}\x{2500}-\x{27BF}\x{3000}-\x{303F}"
    r"\x{FE30}-\x{FE4F}\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF20}\x{FF3B}-\x{FF40}\x{FF5B}-\x{FF65}\x{FFE0}-\x{FFEE}]+"
)
FOLD_END = 0x2FA20  # past the CJK compatibility ideographs, no character changes under NFKC or lower case
_NOT_WORD = re.compile(r"[\W_]+")

DOSAGE_FORMS = sorted(
    {
        "片", "胶囊", "软胶囊", "硬胶囊", "肠溶胶囊", "缓释胶囊", "颗粒", "冲剂", "注射液", "注射剂", "粉针剂", "口服液",
        "口服溶液", "溶液", "滴眼液", "眼膏", "滴耳液", "滴鼻液", "滴丸", "丸", "水丸", "蜜丸", "大蜜丸", "散", "膏", "软膏",
        "乳膏", "凝胶", "贴片", "贴剂", "贴膏", "栓", "阴道片", "阴道栓", "阴道泡腾片", "缓释片", "控释片", "肠溶片",
        "分散片", "咀嚼片", "泡腾片", "含片", "口腔崩解片", "薄膜衣片", "糖衣片", "糖浆", "混悬液", "干混悬剂", "混悬剂",
        "气雾剂", "喷雾剂", "吸入剂", "吸入气雾剂", "粉雾剂", "吸入粉雾剂", "冻干粉", "合剂", "酊", "搽剂", "洗剂",
        "胶丸", "微丸", "乳剂", "缓释颗粒", "片剂", "胶囊剂", "颗粒剂", "丸剂", "口服乳剂", "浸膏", "流浸膏",
    },
    key=len,
    reverse=True,
)
CORE_PREFIXES = ("注射用", "重组")  # how a drug is made or given, not which drug
PRODUCT_PREFIXES = ("复方", "小儿", "儿童")  # another product: 复方阿魏酸钠 is not 阿魏酸钠
FORM_PREFIXES = (*CORE_PREFIXES, *PRODUCT_PREFIXES)
SALT_PREFIXES = sorted(
    {"盐酸", "硫酸", "磷酸", "氢溴酸", "马来酸", "富马酸", "枸橼酸", "酒石酸", "甲磺酸", "苯磺酸", "甲苯磺酸", "苯甲酸",
     "琥珀酸", "醋酸", "门冬氨酸", "葡萄糖酸", "草酸", "甲硫酸", "依地酸", "二盐酸", "戊酸", "丙酸", "乙酸"},
    key=len,
    reverse=True,
)
SALT_SUFFIXES = ("二钠", "钠", "钾", "钙", "镁", "锌")  # not after 化: 氯化钾 and 碘化钾 are the drug itself
MIN_ENTITY = 2
ION_CORES = frozenset({"亚铁", "铁", "钙", "镁", "锌", "钾", "钠", "锂", "铋"})  # 富马酸亚铁 less its acid: every iron salt


def fold(text: str) -> str:
    """Width, case, punctuation and spaces folded away: the key two spellings share."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text)).lower()


def fold_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`fold` for an Arrow string column, character by character: each character becomes its NFKC form,
    lower-cased, with the punctuation, symbols and spaces of NOT_WORD dropped (`fold_table`), in one compiled
    pass. It differs from `fold` only where NFKC joins characters (a letter and a combining mark) and for
    rarer symbols outside NOT_WORD, which `fold`'s \\W drops."""
    data, offsets = utf8_buffers(values)
    table, starts = fold_table()
    folded, folded_offsets = _fold(data, offsets, table, starts)
    result = pa.Array.from_buffers(pa.large_string(), len(offsets) - 1,
                                   [None, pa.py_buffer(folded_offsets), pa.py_buffer(folded)])
    return result if not values.null_count else pc.if_else(pc.is_valid(values), result, None)


@lru_cache(maxsize=1)
def fold_table() -> tuple[np.ndarray, np.ndarray]:
    """What each code point below FOLD_END folds to, as UTF-8 in one buffer, and where each one's bytes start."""
    chars = ["" if 0xD800 <= p <= 0xDFFF else unicodedata.normalize("NFKC", chr(p)) for p in range(FOLD_END)]
    folded = pc.replace_substring_regex(pc.utf8_lower(pa.array(chars, pa.large_string())), NOT_WORD, "")
    starts = np.frombuffer(folded.buffers()[1], np.int64, FOLD_END + 1, folded.offset * 8)
    return np.frombuffer(folded.buffers()[2], np.uint8), starts


@jit
def _fold(data: np.ndarray, offsets: np.ndarray, table: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each character's bytes replaced by its entry in the table (kept as they are past its end): one pass
    to size the output, one to fill it. CJK ideographs (U+4E00..U+9FFF, most of the text) fold to themselves
    and skip the table."""
    end = len(starts) - 1
    folded_offsets = np.zeros(len(offsets), np.int64)
    size = 0
    for row in range(len(offsets) - 1):
        i = offsets[row]
        while i < offsets[row + 1]:
            if ideograph(data, i):
                size += 3
                i += 3
                continue
            cp, after = code_point(data, i)
            size += starts[cp + 1] - starts[cp] if cp < end else after - i
            i = after
        folded_offsets[row + 1] = size
    folded = np.empty(size, np.uint8)
    at = 0
    for row in range(len(offsets) - 1):
        i = offsets[row]
        while i < offsets[row + 1]:
            if ideograph(data, i):
                folded[at], folded[at + 1], folded[at + 2] = data[i], data[i + 1], data[i + 2]
                at += 3
                i += 3
                continue
            cp, after = code_point(data, i)
            if cp < end:
                for k in range(starts[cp], starts[cp + 1]):
                    folded[at] = table[k]
                    at += 1
            else:
                for k in range(i, after):
                    folded[at] = data[k]
                    at += 1
            i = after
    return folded, folded_offsets


def entity_name(name: str) -> str:
    """A drug or disease name without brackets, dosage form, salt and product prefix: the entity it names."""
    return _stripped(name, _FORM_PREFIX)


@lru_cache(maxsize=1 << 17)  # the link pre-pass asks for every name's core more than once
def entity_core(name: str) -> str:
    """A drug name without brackets, dosage form and salt only: the core an evaluation entity is held out by.
    Unlike `entity_name` it keeps 复方/小儿/儿童 (other products), and a bare ion is no core."""
    core = _stripped(name, _CORE_PREFIX)
    return fold(name) if core in ION_CORES else core


def _stripped(name: str, prefixes: re.Pattern) -> str:
    key = fold(_BRACKETED.sub("", name)) or fold(name)
    for _ in range(3):
        before = key
        key = _FORM_SUFFIX.sub("", key, count=1)
        key = prefixes.sub("", key, count=1)
        key = _SALT_PREFIX.sub("", key, count=1)
        salt = next((s for s in SALT_SUFFIXES if key.endswith(s)), "")
        if salt and not key[: -len(salt)].endswith("化") and len(key) - len(salt) >= MIN_ENTITY + 1:
            key = key[: -len(salt)]
        if key == before:
            break
    return key if len(key) >= MIN_ENTITY else fold(name)


def _alternatives(words: list[str] | tuple[str, ...]) -> str:
    return "|".join(map(re.escape, sorted(words, key=len, reverse=True)))


# The longest form or prefix that leaves at least MIN_ENTITY characters.
_BRACKETED = re.compile(r"[\[【(（][^\]】)）]*[\]】)）]")
_FORM_SUFFIX = re.compile(rf"(?<=.{{{MIN_ENTITY}}})(?:{_alternatives(DOSAGE_FORMS)})$")
_FORM_PREFIX = re.compile(rf"^(?:{_alternatives(FORM_PREFIXES)})(?=.{{{MIN_ENTITY}}})")
_CORE_PREFIX = re.compile(rf"^(?:{_alternatives(CORE_PREFIXES)})(?=.{{{MIN_ENTITY}}})")
_SALT_PREFIX = re.compile(rf"^(?:{_alternatives(SALT_PREFIXES)})(?=.{{{MIN_ENTITY}}})")


def key_text(value: str) -> str:
    """Text holding every key `entity_keys` makes of a value: its folded form, whole and without brackets."""
    return f"{fold(value)}\x1f{fold(_BRACKETED.sub('', value))}"


def entity_keys(name: str, aliases: Sequence[str] = ()) -> set[str]:
    """Every key an entity answers to: its name and aliases (an English name is one), as written and as cores."""
    keys: set[str] = set()
    for value in [name, *aliases]:
        if value:
            keys.update(k for k in (fold(value), entity_core(value)) if len(k) >= MIN_ENTITY)
    return keys
