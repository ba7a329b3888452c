"""A drug record, with the fields package inserts and drug knowledge bases carry."""

from pydantic import Field

from schemas.base import KBRecord

Text = str | None


class DrugRecord(KBRecord):
    """One drug (Western or traditional); every field but the name is optional text."""

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
