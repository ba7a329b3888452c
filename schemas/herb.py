"""A Chinese materia medica record (中药 / 药材): a name plus the fields herb tables and monographs carry.

Herb tables scraped from the web drift: a column meant for 性味归经 holds 植物 or 无毒, a 分类 column holds a
toxicity note, a 性味 sentence or a site's disclaimer, and an 别名 column holds a 性味 sentence. A value is only
ever used for the field its column maps to (the user's mapping decides where a column goes), but a value that
evidently is not what its field holds is treated as missing, so no answer says "鸡内金的别名：味甘、性平": the
template asking about that field skips the record, and the build's coverage counts it ("category empty N").
"""

import re
from typing import ClassVar

from pydantic import Field, field_validator

from schemas.base import LEADING_MARKS, KBRecord

Text = str | None

TASTES = "甘苦辛酸咸淡涩甜"
NATURES = "寒热温凉平冷"
# 性味: "味苦、辛，性温", "性凉，味苦涩", "性苦，味寒" (labels swapped), or the bare monograph style "甘、苦，寒",
# also after a part named first ("根：苦，寒；叶：辛，凉")
NATURE_FLAVOUR = re.compile(
    rf"[味性]\s*[微大极]?[{TASTES}{NATURES}]"
    rf"|[{TASTES}](?:[、，,\s]*[微大]?[{TASTES}])*[，,、]\s*[微大]?[{NATURES}](?=$|[，。；;,\s])"
)
ORGANS = "肝心脾肺肾胃胆肠膀胱焦包络"
_CHANNEL = rf"[{ORGANS}大小二三四五手足太少阴阳明厥、，,和及与\s]"
# 归经: "归肝、胆、胃经", "入心、肝经", "归脾、胃、肺三经", or after a clause mark "肝、肾经"; never "归经草"
MERIDIAN = re.compile(
    rf"(?:归|入)(?={_CHANNEL}*[{ORGANS}]){_CHANNEL}{{1,24}}经(?=$|[，。；;,\s])"
    rf"|(?:^|[，。；;,])\s*[{ORGANS}大小三、]+经(?=$|[，。；;,\s])"
)
TOXICITY = re.compile(r"^(?:有|无|有?[小大微剧极])毒(?:\s*[（(]?《[^》]*》[）)]?)?。?$")  # 无毒《别录》, 有小毒; not a name starting with 毒
TOXIC_WORD = re.compile(r"[有无小大微剧极]毒")  # 根有毒，叶有小毒; not 清热解毒药
SOURCE_KINDS = frozenset({"植物", "动物", "矿物", "菌类", "藻类", "其他"})
TAXON_RANK = re.compile(r"^\S{1,10}[界门纲目科]$")  # 被子植物门, 双子叶植物纲, 菊科: a taxonomy column shifted in
NOTICE = re.compile(r"本词条|法律法规|保护动物|禁止捕猎|仅用于|科普")
ALIAS_MARKS = "、,，;；/|。"
OPENING, CLOSING = "（(《[【", "）)》]】"


def reads_as_nature_meridian(text: str) -> bool:
    """Text that states a taste and nature (性味) or the meridians entered (归经)."""
    return bool(NATURE_FLAVOUR.search(text) or MERIDIAN.search(text))


def split_outside_brackets(text: str) -> list[str]:
    """Names split on 、，；/| and 。 but never inside brackets: "山姜（《某本草》），土姜、野姜" is three names."""
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in OPENING:
            depth += 1
        elif char in CLOSING:
            depth = max(depth - 1, 0)
        if char in ALIAS_MARKS and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def balanced(text: str) -> bool:
    """A name cut off inside its brackets ("山茶（云") is damaged text, not a name."""
    depth = 0
    for char in text:
        depth += (char in OPENING) - (char in CLOSING)
        if depth < 0:
            return False
    return depth == 0


class HerbRecord(KBRecord):
    """One herb or other crude drug of Chinese medicine; every field but the name is optional text."""

    kind: ClassVar[str] = "herb"
    label: ClassVar[str] = "中药"
    source_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "name": ("name", "名称", "药材", "药材名", "药材名称", "中药", "中药名", "中药名称", "中药材", "药名", "title"),
        "aliases": ("aliases", "alias", "别名", "别称", "异名", "又名", "俗名"),
        "category": ("category", "药材分类", "中药分类", "分类", "类别", "药物分类", "功效分类"),
        "nature_meridian": ("nature_meridian", "性味归经", "性味与归经", "性味"),
        "meridians": ("meridians", "归经", "入经"),
        "toxicity": ("toxicity", "毒性"),
        "efficacy": ("efficacy", "功效", "功用", "功能", "功效与作用"),
        # 症状 in a herb table is what the herb treats (a herb has no symptoms of its own), so it is indications
        # here by default; a user's mapping still wins (`--map 症状=` drops it, `--map 症状=FIELD` moves it).
        "indications": ("indications", "主治", "症状", "主治病症", "主治病证", "主治症状", "功能主治", "功能与主治",
                        "适应症", "适应证", "临床应用"),
        "usage_dosage": ("usage_dosage", "用法用量", "用法与用量", "用量用法", "用法", "用量"),
        "precautions": ("precautions", "注意事项", "注意", "使用注意", "用药注意"),
        "contraindications": ("contraindications", "禁忌", "用药禁忌", "配伍禁忌", "禁忌证", "禁忌症"),
        "origin": ("origin", "来源", "药用部位", "基原", "药材来源", "入药部位"),
        "distribution": ("distribution", "产地", "分布", "产地分布", "生境分布", "主产地"),
        "processing": ("processing", "炮制", "炮制方法"),
        "storage": ("storage", "贮藏", "储藏", "贮存"),
    }
    eval_questions: ClassVar[tuple[tuple[str, str], ...]] = (
        ("indications", "{name}主治哪些病症？"),
        ("efficacy", "{name}有哪些功效？"),
    )

    category: Text = Field(None, description="药材分类: 植物 / 动物 / 矿物, or a 功效 class such as 清热药")
    nature_meridian: Text = Field(None, description="性味归经: taste, nature and the meridians entered")
    meridians: Text = Field(None, description="归经, when a source gives it apart from 性味")
    toxicity: Text = Field(None, description="毒性: 有毒 / 小毒 / 无毒 …, only as the record states it")
    efficacy: Text = Field(None, description="功效 / 功用")
    indications: Text = Field(None, description="主治 (a herb table's 症状: what the herb treats)")
    usage_dosage: Text = Field(None, description="用法用量")
    precautions: Text = Field(None, description="注意事项 / 使用注意")
    contraindications: Text = Field(None, description="禁忌 / 配伍禁忌")
    origin: Text = Field(None, description="来源 / 药用部位: the plant, animal or mineral and the part used")
    distribution: Text = Field(None, description="产地 / 分布")
    processing: Text = Field(None, description="炮制")
    storage: Text = Field(None, description="贮藏")

    @field_validator("aliases", mode="before")
    @classmethod
    def split_aliases(cls, value: object) -> object:
        """Names split outside brackets; a 性味 sentence, a class (植物) or a toxicity (无毒) is no name."""
        if value is None:
            return []
        if isinstance(value, str):
            if reads_as_nature_meridian(value):
                return []
            value = split_outside_brackets(value)
        if isinstance(value, list):
            names = (v.strip().strip(LEADING_MARKS) for v in value if isinstance(v, str))
            return list(dict.fromkeys(
                n for n in names
                if n and balanced(n) and n not in SOURCE_KINDS and not TOXICITY.match(n) and not NOTICE.search(n)
            ))
        return value

    @field_validator("nature_meridian", mode="before")
    @classmethod
    def nature_meridian_text(cls, value: object) -> object:
        """Kept when it states 性味 or 归经; 植物, 无毒, a place or a taxon in that column is not one."""
        return value if not isinstance(value, str) or reads_as_nature_meridian(value) else None

    @field_validator("category", mode="before")
    @classmethod
    def category_text(cls, value: object) -> object:
        """A class, not a 性味 sentence, a toxicity, a taxon rank, a notice or a sentence of prose."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        prose = len(text) > 30 or any(mark in text for mark in "。！？；;")
        if (prose or reads_as_nature_meridian(text) or TOXIC_WORD.search(text) or TAXON_RANK.match(text)
                or NOTICE.search(text)):
            return None
        return value

    @field_validator("toxicity", mode="before")
    @classmethod
    def toxicity_text(cls, value: object) -> object:
        """A statement about toxicity (有毒, 小毒, 无毒 …), not a class or a 性味 sentence put in its column."""
        return value if not isinstance(value, str) or "毒" in value else None
