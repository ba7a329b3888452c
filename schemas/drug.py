"""A drug record, with the fields package inserts and drug knowledge bases carry."""

import re
from typing import ClassVar

from pydantic import Field, model_validator

from schemas.base import KBRecord

Text = str | None
FORM_WORDS = re.compile(r"片|胶囊|颗粒|丸|散|膏|丹|注射|针|液|剂|糖浆|酊|栓|贴|滴|喷|气雾|粉|霜|凝胶|乳|锭|茶|露|胶")
STRENGTH = re.compile(r"\d\s*(?:mg|g|ml|μg|ug|iu|u\b|万单位|%|克|毫克|毫升|微克)", re.IGNORECASE)
PER_UNIT = re.compile(r"每[一]?(?:片|粒|袋|支|丸|瓶|包|贴|枚|盒|揿|喷|小袋|大袋)")


def strength_only(text: str) -> bool:
    """A 剂型 value that states only a strength ("每袋装6g", "0.25g"): a number with its unit and no dosage form,
    once "每袋"-style counting units are set aside (they name a package, not a form)."""
    return bool(STRENGTH.search(text)) and not FORM_WORDS.search(PER_UNIT.sub("", text))


class DrugRecord(KBRecord):
    """One drug (Western or traditional); every field but the name is optional text."""

    kind: ClassVar[str] = "drug"
    label: ClassVar[str] = "药品"
    source_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "name": ("name", "名称", "药品", "药名", "药品名称", "通用名", "通用名称", "药物名称", "药材", "药材名称", "title"),
        "aliases": ("aliases", "alias", "别名", "别称", "商品名", "其他名称", "异名"),
        "english_name": ("english_name", "英文名", "英文名称", "英文"),
        "category": ("category", "药品类型", "药品分类", "药物分类", "分类", "类别", "药材分类"),
        "dosage_form": ("dosage_form", "剂型", "性状剂型"),
        "specification": ("specification", "规格"),
        "ingredients": ("ingredients", "成分", "成份", "主要成分", "组成", "处方组成"),
        "indications": ("indications", "适应症", "适应证", "主治", "功能主治", "功能与主治", "适用症", "适应病症"),
        "usage_dosage": ("usage_dosage", "用法用量", "用法与用量", "用量用法", "用法"),
        "contraindications": ("contraindications", "禁忌", "禁忌证", "禁忌症"),
        "adverse_reactions": ("adverse_reactions", "不良反应", "副作用"),
        "precautions": ("precautions", "注意事项", "注意"),
        "interactions": ("interactions", "药物相互作用", "相互作用"),
        "pharmacology": ("pharmacology", "药理作用", "药理毒理", "药理"),
        "pharmacokinetics": ("pharmacokinetics", "药代动力学", "药动学"),
        "storage": ("storage", "贮藏", "储藏", "贮存"),
        "prescription": ("prescription", "处方类型", "处方药", "otc"),  # not 是否处方药: its 是/否 is no category
        "pregnancy_lactation": ("pregnancy_lactation", "孕妇及哺乳期妇女用药", "孕妇及哺乳期用药"),
        "pediatric_use": ("pediatric_use", "儿童用药"),
        "geriatric_use": ("geriatric_use", "老年用药", "老年患者用药"),
        "overdose": ("overdose", "药物过量"),
        "efficacy": ("efficacy", "功效", "功用", "功能"),
        "nature_meridian": ("nature_meridian", "性味归经", "性味"),
        "expert_comment": ("expert_comment", "专家点评"),
        "approval_number": ("approval_number", "批准文号"),
        "manufacturer": ("manufacturer", "生产企业", "生产厂家", "厂家"),
    }
    eval_questions: ClassVar[tuple[tuple[str, str], ...]] = (("indications", "{name}的适应病症"),)
    eval_columns: ClassVar[tuple[str, str, str, str] | None] = ("药品", "药品适应症", "自动抽取的适应病症", "instruction")

    @model_validator(mode="before")
    @classmethod
    def strength_is_not_a_form(cls, data: object) -> object:
        """Sources put a strength in 剂型 ("每袋装6g"); asked "是什么剂型", it would answer with a strength. Such a
        value is the record's 规格: it joins `specification` (unless that already says it) and 剂型 is left empty."""
        if not isinstance(data, dict) or not isinstance(form := data.get("dosage_form"), str) or not form.strip():
            return data
        if not strength_only(form):
            return data
        spec = data.get("specification")
        joined = form if not isinstance(spec, str) or not spec.strip() else spec if form in spec else f"{spec}；{form}"
        return {**data, "dosage_form": None, "specification": joined}

    english_name: Text = Field(None, description="英文名")
    category: Text = Field(None, description="药品类型 / 药品分类")
    dosage_form: Text = Field(None, description="剂型")
    specification: Text = Field(None, description="规格")
    ingredients: Text = Field(None, description="成分 / 组成")
    indications: Text = Field(None, description="适应证 / 适应症 / 主治 / 功能主治")
    usage_dosage: Text = Field(None, description="用法用量")
    contraindications: Text = Field(None, description="禁忌 / 禁忌证")
    adverse_reactions: Text = Field(None, description="不良反应")
    precautions: Text = Field(None, description="注意事项")
    interactions: Text = Field(None, description="药物相互作用")
    pharmacology: Text = Field(None, description="药理作用 / 药理毒理")
    pharmacokinetics: Text = Field(None, description="药代动力学 / 药动学")
    storage: Text = Field(None, description="贮藏")
    prescription: Text = Field(None, description="处方类型: 处方药 / 非处方药, only as the record states it")
    pregnancy_lactation: Text = Field(None, description="孕妇及哺乳期妇女用药")
    pediatric_use: Text = Field(None, description="儿童用药")
    geriatric_use: Text = Field(None, description="老年用药")
    overdose: Text = Field(None, description="药物过量")
    efficacy: Text = Field(None, description="功效 / 功用 (traditional medicine)")
    nature_meridian: Text = Field(None, description="性味归经 (traditional medicine)")
    expert_comment: Text = Field(None, description="专家点评")
    approval_number: Text = Field(None, description="批准文号")
    manufacturer: Text = Field(None, description="生产企业")
