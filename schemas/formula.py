"""A formula record (方剂): a named prescription of Chinese medicine with the fields formula books carry."""

from typing import ClassVar

from pydantic import Field

from schemas.base import KBRecord

Text = str | None


class FormulaRecord(KBRecord):
    """One formula (方剂); every field but the name is optional text."""

    kind: ClassVar[str] = "formula"
    label: ClassVar[str] = "方剂"
    source_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "name": ("name", "名称", "方剂", "方名", "方剂名", "方剂名称", "title"),
        "aliases": ("aliases", "alias", "别名", "异名", "又名", "别称"),
        "category": ("category", "分类", "类别", "方剂分类"),
        "source_text": ("source_text", "出处", "方源", "出自", "方剂出处", "来源"),
        "ingredients": ("ingredients", "组成", "方剂组成", "药物组成", "处方组成", "组方", "处方", "配方"),
        "usage": ("usage", "用法", "用法用量", "用法与用量", "用量用法", "煎服法"),
        "efficacy": ("efficacy", "功用", "功效", "功能"),
        "indications": ("indications", "主治", "主治病证", "主治病症", "功能主治", "功能与主治", "适应症", "适应证"),
        "analysis": ("analysis", "方解", "方义", "方论"),
        "compatibility": ("compatibility", "配伍特点", "配伍", "配伍意义"),
        "modifications": ("modifications", "加减", "加减化裁", "随证加减", "加减法", "化裁"),
        "clinical_use": ("clinical_use", "临床应用", "运用", "临床运用", "现代运用", "现代应用"),
        "precautions": ("precautions", "注意事项", "使用注意", "注意"),
        "contraindications": ("contraindications", "禁忌", "用药禁忌", "禁忌证", "禁忌症"),
        "song": ("song", "方歌", "歌诀"),
    }
    eval_questions: ClassVar[tuple[tuple[str, str], ...]] = (("indications", "{name}主治哪些病证？"),)

    category: Text = Field(None, description="分类: 解表剂, 和解剂, 补益剂 …")
    source_text: Text = Field(None, description="出处: the book the formula comes from, e.g. 《伤寒论》")
    ingredients: Text = Field(None, description="组成: the herbs and their amounts")
    usage: Text = Field(None, description="用法: how it is prepared and taken")
    efficacy: Text = Field(None, description="功用 / 功效")
    indications: Text = Field(None, description="主治: the patterns and conditions it treats")
    analysis: Text = Field(None, description="方解: the role of each ingredient")
    compatibility: Text = Field(None, description="配伍特点")
    modifications: Text = Field(None, description="加减 / 加减化裁")
    clinical_use: Text = Field(None, description="临床应用 / 运用")
    precautions: Text = Field(None, description="注意事项 / 使用注意")
    contraindications: Text = Field(None, description="禁忌")
    song: Text = Field(None, description="方歌: the mnemonic verse")
