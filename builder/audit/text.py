"""The audit's own reading of text, written apart from `builder.clean` so that it can catch cleaning's mistakes.

Answers and records are compared through keys: markup removed, entities decoded, width folded (NFKC), lower case,
and only letters, digits and the signs that change a dose or a range (. % ~ + - / < > = ± × ≥ ≤ °) kept, so that
whitespace, markup and punctuation never make a difference and every word, number and unit does.
"""

import html
import re

import pyarrow as pa
import pyarrow.compute as pc

from builder.kernels.scan import matching

TAG = r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|<!--.*?-->"
NOT_KEPT = r"[^\p{L}\p{N}.%~+\-/<>=±×≥≤°]"  # RE2, after NFKC: what a key drops
ENTITY = r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});"
CLAUSE_MARKS = "。；;！？!?\n，,、：:"
CLAUSE_END = re.compile(f"[{CLAUSE_MARKS}]")
UNKNOWN = r"尚不明确|不明确|尚不清楚|不清楚|尚未明确|不详|暂无资料|未知"
# where a field's sentences begin: after a terminal mark and at an item number (not a decimal's digits); a bracketed
# placeholder ("(尚不明确)") ends the item it stands in for
SENTENCE_START = re.compile(r"(?<=[。；;！？!?\n])|(?<![\d.．])(?=\d{1,2}[.．、](?!\d))|(?=[(（]\d{1,2}[)）])|(?=[①-⑳])")
BRACKETED_UNKNOWN = re.compile(rf"([(（](?:{UNKNOWN})[)）])")
LABEL_END = frozenset("：:")
MAX_LABEL = 12  # key characters besides the entity's names that a text before "：" may have to be a label
ENUMERATION = re.compile(r"^\s*(?:\d{1,2}\s*[.．、)）]|[(（]\s*\d{1,2}\s*[)）]|[①-⑳])\s*")
PLACEHOLDERS = frozenset({"尚不明确", "不明确", "尚不清楚", "不清楚", "尚未明确", "无", "暂无", "暂无资料", "无资料",
                          "不详", "未知", "待补充", "详见说明书", "见说明书", "null", "none", "na", "nan"})
# a package insert's section heading with nothing under it: 药物对哺乳的影响尚不明确 (with or without its colon)
EMPTY_SECTION = re.compile(rf"^药物对[^，。；,;]{{1,12}}的影响[：:]?\s*[(（]?(?:{UNKNOWN})[)）]?[。；;.]?$")
# a value its source cut off: a scraper mark (… ... [详细]), a soft mark or a dangling item number at the end, a
# Latin fragment where a lost superscript or subscript cut the text (半衰期(t, 抗H, 个体差异大。t), or ×10 (×10⁹)
SCRAPER_MARK = r"…+|\.{2,}|。{2,}|[\[【]\s*详细\s*[\]】]|详细\s*>+"
CUT_OFF = re.compile(rf"(?:{SCRAPER_MARK}|[，,、：:（(]|[。；;，,]\s*(?:\d{{1,2}}[.．、]|[(（]\d{{1,2}}[)）]?)|×\s*10"
                     r"|(?<=[\u4e00-\u9fff（(，。；：、,;:])\s*(?:\d+-)?[A-Za-zα-ωΑ-Ωμ]{1,2}\d{0,2})\s*$")
# what else shows a value stops short, though nothing of it can be told apart as damage: a bracket that never
# closes, a control character that stood for a lost superscript, a conjunction with nothing after it
OPEN_END = re.compile(r"(?:[(（][^)）。！？!?]*|[\x00-\x08\x0e-\x1f\x7f-\x9f]|(?<![白温缓调平])和|(?<!白)及|与|或|并|而|且)\s*$")
TERMINAL = frozenset("。！？!?")
# a value that only sends the reader elsewhere: 参见：华法林 / 见氢氯噻嗪项下 / 同右旋糖酐铁
NAME = r"[^。；;，,、：:\s]{1,30}"
CROSS_REFERENCE = re.compile(rf"^\s*(?:(?:参见|详见|见|同|请参[见阅])\s*[：:]\s*(?P<listed>{NAME}(?:\s*[，,、]\s*{NAME})*)"
                             rf"|(?:参见|详见|见(?![于效到好])|同(?![时样])|请参[见阅])(?P<target>{NAME}(?:、{NAME})*?))"
                             r"\s*(?:项下|条目?|的?相关内容)?\s*[。.；;]?\s*$")
ALIAS_LIST = re.compile(r"(?:又名|别名[：:]|别称[：:])(?P<items>[^）)。]*)")
ALIAS_SPLIT = re.compile(r"[、,，;；/|]+")
COMBINATION = re.compile(r"^复方|[/／+＋]")
NAME_PARTS = re.compile(r"[/／+＋、,，;；]")
# what one unit of a product holds, as records state it (每片含阿司匹林0.22g、咖啡因35mg): a substance and its amount
DOSED = re.compile(r"(?:^|[含、，,(（和及与：:;；\s])([^\W\d_含每](?:[^\W_含每]|-)*?)\s*[\d.]+\s*"
                   r"(?:mg|g|μg|ug|iu|万单位|单位|克|毫克|微克)", re.IGNORECASE)
NOT_SUBSTANCE = re.compile(r"[剂片丸粒袋支瓶吸喷次量为约共重]$")


def keys(values: pa.Array) -> pa.Array:
    """The comparison key of each text of a column (see the module docstring); null stays null."""
    values = pc.replace_substring_regex(values, TAG, "")
    has_entity = matching(values, ENTITY)
    if pc.any(has_entity).as_py():
        decoded = [html.unescape(html.unescape(v)) if h else v
                   for v, h in zip(values.to_pylist(), has_entity.to_pylist(), strict=True)]
        values = pa.array(decoded, pa.string())
    values = pc.utf8_lower(pc.utf8_normalize(values, "NFKC"))
    return pc.replace_substring_regex(values, NOT_KEPT, "")


def plain(value: str) -> str:
    """A record's text as a reader sees it (what the richer types extract items from): markup removed, entities
    decoded."""
    value = _TAG.sub("", value)
    return html.unescape(html.unescape(value)) if "&" in value else value


_TAG = re.compile(TAG, re.DOTALL)


def key_list(texts: list[str]) -> list[str]:
    """`keys` for a Python list of texts, in one column operation."""
    return keys(pa.array(texts, pa.string())).to_pylist() if texts else []


def clauses(text: str) -> list[tuple[str, bool]]:
    """The clauses of an answer, each with whether a "：" follows it (what may be a label: 剂型：, 口服给药：)."""
    found: list[tuple[str, bool]] = []
    start = 0
    for match in CLAUSE_END.finditer(text):
        piece = text[start:match.start()]
        if piece.strip():
            found.append((piece, match.group() in LABEL_END))
        start = match.end()
    if text[start:].strip():
        found.append((text[start:], False))
    return found


def sentences(text: str) -> list[str]:
    """A field's sentences and enumerated items, each without its item number."""
    pieces = SENTENCE_START.split(BRACKETED_UNKNOWN.sub("\\1\n", text))
    return [ENUMERATION.sub("", piece) for piece in pieces if piece.strip()]


def is_placeholder(sentence: str, key: str) -> bool:
    """A sentence that says nothing: markup or punctuation only, a placeholder, a labelled placeholder
    ("药物对哺乳的影响：尚不明确。"), or a fragment of a few Latin letters that is source damage (…。t, (尚不明确)CS)."""
    if not key or (len(key) <= 3 and key.isascii() and key.isalpha()):
        return True
    bare = re.sub(r"[\s。；;！？!?，,、.()（）\[\]【】]", "", re.split(r"[：:]", sentence)[-1]).lower()
    return bare in PLACEHOLDERS or EMPTY_SECTION.match(sentence.strip()) is not None


def unexplained(clause_key: str, record_key: str, frame: list[str]) -> str:
    """The pieces of a clause that neither the record nor the frame explains: the clause is cut where the frame
    speaks (`frame`: keys of the entity's names and aliases and of the template's literal text, longest first), and
    each piece is looked for in the record."""
    if clause_key in record_key:
        return ""
    for piece in frame:
        clause_key = clause_key.replace(piece, "\0")
    return "".join(piece for piece in clause_key.split("\0") if piece and piece not in record_key)


def literal_pieces(literal: tuple[str, ...]) -> list[str]:
    """A template's literal text as the clauses an answer's are compared with."""
    return [piece for text in literal for piece in CLAUSE_END.split(text) if piece.strip()]


def cut_at(value: str) -> re.Match[str] | None:
    """Where a value's source cut it off or it stops short (its damaged end), or None when it ends whole."""
    return CUT_OFF.search(value) or OPEN_END.search(value)


def damaged(value: str) -> bool:
    """Whether a value is no whole answer: cut off, stopping short, or only a cross-reference; a builder may leave
    such a field out of an answer whole."""
    return bool(cut_at(value) or cross_reference(value))


def cross_reference(value: str) -> str | None:
    """The entry a value only points to (参见：华法林 → 华法林), or None when it says something itself."""
    match = CROSS_REFERENCE.match(value)
    return (match["listed"] or match["target"]) if match else None


def presented_reference(answer: str, target: str) -> str | None:
    """Where an answer gives a cross-reference to `target` as a field's whole text (禁忌：参见：华法林。), not inside a
    sentence that says more (参见苯海拉明，尤其适用于…)."""
    first = re.split(r"[，,、]", target)[0]
    pattern = (rf"(?:^|[：:。；;！？!?])\s*((?:参见|详见|见|同|请参[见阅])\s*[：:]?\s*{re.escape(first)}"
               r"[^。；;！？!?]*?)\s*(?=[。；;！？!?]|$)")
    return next((m.group(1) for m in re.finditer(pattern, answer) if cross_reference(m.group(1))), None)


def alias_items(answer: str, within: int) -> list[str]:
    """The names an answer lists as other names of its entity: the list after 又名 or 别名： when it opens within
    the first `within` characters, where a frame puts it (a record's own text may say 又名 too)."""
    match = ALIAS_LIST.search(answer)
    if match is None or match.start() > within:
        return []
    return [item.strip() for item in ALIAS_SPLIT.split(match["items"]) if item.strip()]


def combination_parts(name: str) -> list[str]:
    """The names a combination product's name joins (对乙酰氨基酚/可待因, 复方阿司匹林 → 阿司匹林); [] otherwise."""
    if not COMBINATION.search(name):
        return []
    return [part for part in (*NAME_PARTS.split(name), name.removeprefix("复方")) if part.strip()]


def components(composition: str, combination: bool) -> list[str]:
    """The substances a record says one unit of the product holds, with amounts, from each item that lists two or
    more; an item about another compound preparation (3.复方氯丙那林片：每片含…) is not this product's, unless the
    product is itself a combination."""
    found: list[str] = []
    for item in sentences(composition):
        label = item.split("：", 1)[0] if "：" in item else ""
        if not combination and COMBINATION.search(label.replace("复方", "/")):
            continue
        named = list(dict.fromkeys(m.group(1) for m in DOSED.finditer(item) if not NOT_SUBSTANCE.search(m.group(1))))
        if len(named) > 1:
            found += named
    return list(dict.fromkeys(found))
