"""A disease record, with the fields disease knowledge bases carry."""

from typing import ClassVar

from pydantic import Field

from schemas.base import KBRecord

Text = str | None


class DiseaseRecord(KBRecord):
    """One disease; every field but the name is optional text."""

    kind: ClassVar[str] = "disease"
    label: ClassVar[str] = "疾病"
    source_names: ClassVar[dict[str, tuple[str, ...]]] = {
        "name": ("name", "名称", "疾病", "疾病名称", "病名", "title"),
        "aliases": ("aliases", "alias", "别名", "别称", "又名"),
        "department": ("department", "科室", "就诊科室", "所属科室"),
        "overview": ("overview", "简介", "概述", "疾病简介", "desc"),
        "symptoms": ("symptoms", "症状", "临床表现", "典型症状", "主要症状"),
        "causes": ("causes", "病因", "发病原因"),
        "exams": ("exams", "检查", "检查项目", "诊断检查", "相关检查"),
        "treatments": ("treatments", "治疗", "治疗方法", "治疗方式"),
        "drugs": ("drugs", "常用药物", "常用药品", "推荐药物", "药物治疗", "治疗药物"),
        "complications": ("complications", "并发症"),
        "prevention": ("prevention", "预防", "预防措施"),
        "diet": ("diet", "饮食", "饮食保健", "饮食建议", "宜吃", "饮食注意"),
        "susceptible_population": ("susceptible_population", "易感人群", "多发人群"),
        "transmission": ("transmission", "传染方式", "传播途径"),
        "prognosis": ("prognosis", "预后", "治愈率"),
    }
    eval_questions: ClassVar[tuple[tuple[str, str], ...]] = (
        ("drugs", "哪些药物能治疗{name}？"),
        ("exams", "{name}需要做哪些检查？"),
        ("symptoms", "{name}的临床表现有哪些？"),
    )

    department: Text = Field(None, description="就诊科室")
    overview: Text = Field(None, description="简介 / 概述")
    symptoms: Text = Field(None, description="症状 / 临床表现")
    causes: Text = Field(None, description="病因")
    exams: Text = Field(None, description="检查")
    treatments: Text = Field(None, description="治疗方法")
    drugs: Text = Field(None, description="常用药物")
    complications: Text = Field(None, description="并发症")
    prevention: Text = Field(None, description="预防")
    diet: Text = Field(None, description="饮食")
    susceptible_population: Text = Field(None, description="易感人群")
    transmission: Text = Field(None, description="传染方式")
    prognosis: Text = Field(None, description="预后")
