"""A disease record, with the fields disease knowledge bases carry."""

from pydantic import Field

from schemas.base import KBRecord

Text = str | None


class DiseaseRecord(KBRecord):
    """One disease; every field but the name is optional text."""

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
