"""An examination record (检查 / 检验项目): a test or procedure with the fields exam knowledge bases carry."""

from typing import ClassVar

from pydantic import Field

from schemas.base import KBRecord

Text = str | None


class ExamRecord(KBRecord):
    """One examination or laboratory test; every field but the name is optional text."""

    kind: ClassVar[str] = "exam"
    label: ClassVar[str] = "检查项目"
    source_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "name": ("name", "名称", "检查", "检查项目", "检查名称", "检查项目名称", "检验项目", "项目", "项目名称", "title"),
        "aliases": ("aliases", "alias", "别名", "别称", "又名", "简称", "缩写", "英文缩写"),
        "english_name": ("english_name", "英文名", "英文名称", "英文"),
        "category": ("category", "分类", "类别", "检查分类", "检查类别", "检查类型"),
        "department": ("department", "科室", "检查科室", "所属科室", "就诊科室"),
        "overview": ("overview", "简介", "概述", "介绍", "检查简介"),
        "purpose": ("purpose", "目的", "检查目的", "作用"),
        "indications": ("indications", "适应证", "适应症", "适用范围", "适宜人群", "适用人群", "检查指征"),
        "contraindications": ("contraindications", "禁忌证", "禁忌症", "禁忌", "不适宜人群", "不宜人群", "禁忌人群"),
        "preparation": ("preparation", "检查前准备", "检查准备", "准备", "准备事项"),
        "procedure": ("procedure", "检查方法", "检查过程", "检查流程", "检查步骤", "操作方法", "方法"),
        "reference_range": ("reference_range", "正常值", "参考值", "参考范围", "参考区间", "正常值范围", "正常参考值"),
        "clinical_significance": ("clinical_significance", "临床意义", "结果解读", "结果分析", "异常结果", "意义"),
        "precautions": ("precautions", "注意事项", "注意"),
        "risks": ("risks", "不良反应", "风险", "不良反应与风险", "并发症"),
    }
    eval_questions: ClassVar[tuple[tuple[str, str], ...]] = (
        ("clinical_significance", "{name}的临床意义是什么？"),
        ("indications", "哪些情况需要做{name}？"),
    )

    english_name: Text = Field(None, description="英文名")
    category: Text = Field(None, description="分类: 实验室检查, 影像学检查, 内镜检查 …")
    department: Text = Field(None, description="检查科室")
    overview: Text = Field(None, description="简介")
    purpose: Text = Field(None, description="检查目的")
    indications: Text = Field(None, description="适应证 / 适宜人群")
    contraindications: Text = Field(None, description="禁忌证 / 不适宜人群")
    preparation: Text = Field(None, description="检查前准备")
    procedure: Text = Field(None, description="检查方法 / 检查过程")
    reference_range: Text = Field(None, description="正常值 / 参考值 / 参考范围")
    clinical_significance: Text = Field(None, description="临床意义: what an abnormal result may indicate")
    precautions: Text = Field(None, description="注意事项")
    risks: Text = Field(None, description="不良反应与风险")
