"""Field mapping: the names Chinese medical sources give their fields, mapped to the schema's fields."""

import re
import unicodedata

from builder.errors import UserError
from schemas import RECORD_MODELS

ALIASES: dict[str, dict[str, list[str]]] = {
    "drug": {
        "name": ["name", "名称", "药品", "药名", "药品名称", "通用名", "通用名称", "药物名称", "药材", "药材名称",
                 "title"],
        "aliases": ["aliases", "alias", "别名", "别称", "商品名", "其他名称", "异名"],
        "english_name": ["english_name", "英文名", "英文名称", "英文"],
        "category": ["category", "药品类型", "药品分类", "药物分类", "分类", "类别", "药材分类"],
        "dosage_form": ["dosage_form", "剂型", "性状剂型"],
        "specification": ["specification", "规格"],
        "ingredients": ["ingredients", "成分", "成份", "主要成分", "组成", "处方组成"],
        "indications": ["indications", "适应症", "适应证", "主治", "功能主治", "功能与主治", "适用症", "适应病症"],
        "usage_dosage": ["usage_dosage", "用法用量", "用法与用量", "用量用法", "用法"],
        "contraindications": ["contraindications", "禁忌", "禁忌证", "禁忌症"],
        "adverse_reactions": ["adverse_reactions", "不良反应", "副作用"],
        "precautions": ["precautions", "注意事项", "注意"],
        "interactions": ["interactions", "药物相互作用", "相互作用"],
        "pharmacology": ["pharmacology", "药理作用", "药理毒理", "药理"],
        "pharmacokinetics": ["pharmacokinetics", "药代动力学", "药动学"],
        "storage": ["storage", "贮藏", "储藏", "贮存"],
        "prescription": ["prescription", "处方类型", "处方药", "otc", "是否处方药"],
        "pregnancy_lactation": ["pregnancy_lactation", "孕妇及哺乳期妇女用药", "孕妇及哺乳期用药"],
        "pediatric_use": ["pediatric_use", "儿童用药"],
        "geriatric_use": ["geriatric_use", "老年用药", "老年患者用药"],
        "overdose": ["overdose", "药物过量"],
        "efficacy": ["efficacy", "功效", "功用", "功能"],
        "nature_meridian": ["nature_meridian", "性味归经", "性味"],
        "expert_comment": ["expert_comment", "专家点评"],
        "approval_number": ["approval_number", "批准文号"],
        "manufacturer": ["manufacturer", "生产企业", "生产厂家", "厂家"],
    },
    "disease": {
        "name": ["name", "名称", "疾病", "疾病名称", "病名", "title"],
        "aliases": ["aliases", "alias", "别名", "别称", "又名"],
        "department": ["department", "科室", "就诊科室", "所属科室"],
        "overview": ["overview", "简介", "概述", "疾病简介", "desc"],
        "symptoms": ["symptoms", "症状", "临床表现", "典型症状", "主要症状"],
        "causes": ["causes", "病因", "发病原因"],
        "exams": ["exams", "检查", "检查项目", "诊断检查", "相关检查"],
        "treatments": ["treatments", "治疗", "治疗方法", "治疗方式"],
        "drugs": ["drugs", "常用药物", "常用药品", "推荐药物", "药物治疗", "治疗药物"],
        "complications": ["complications", "并发症"],
        "prevention": ["prevention", "预防", "预防措施"],
        "diet": ["diet", "饮食", "饮食保健", "饮食建议", "宜吃", "饮食注意"],
        "susceptible_population": ["susceptible_population", "易感人群", "多发人群"],
        "transmission": ["transmission", "传染方式", "传播途径"],
        "prognosis": ["prognosis", "预后", "治愈率"],
    },
    "qa": {
        "question": ["question", "ask", "问", "问题", "提问", "病人提问", "患者提问", "query", "instruction", "prompt"],
        "answer": ["answer", "答", "回答", "医生回答", "回复", "response", "output", "reply"],
        "input": ["input", "context", "上下文"],
        "title": ["title", "标题"],
        "department": ["department", "科室", "就诊科室"],
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {"drug": ("name",), "disease": ("name",), "qa": ("question", "answer")}
_PUNCT = re.compile(r"[\s:：_\-·.（）()\[\]【】]+")


def normalise_key(key: str) -> str:
    """Field names match whatever their width, case, spacing or trailing colon."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", key)).lower()


def _builtin_table(kind: str) -> dict[str, str]:
    return {normalise_key(alias): field for field, aliases in ALIASES[kind].items() for alias in aliases}


BUILTIN = {kind: _builtin_table(kind) for kind in ALIASES}


def check_user_mapping(kind: str, mapping: dict[str, str], origin: str) -> None:
    """A user's mapping must name real fields of the kind; a typo here would silently drop data."""
    fields = set(RECORD_MODELS[kind].model_fields)
    for source_field, target in mapping.items():
        if target not in fields and target != "":
            raise UserError(
                f"--map {source_field}={target}: '{target}' is not a {kind} field",
                file=origin,
                remedy=f"use one of: {', '.join(sorted(fields))} (or an empty target to drop the column)",
            )


def resolve_columns(kind: str, columns: list[str], user: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Maps each source column to a schema field; returns (column -> field, unmapped columns).

    The user's mapping wins over the built-in table; an empty target drops a column on purpose.
    The first column to claim a field keeps it, so a second claimant is reported as unmapped.
    """
    table = BUILTIN[kind]
    user_norm = {normalise_key(k): v for k, v in user.items()}
    mapping: dict[str, str] = {}
    unmapped: list[str] = []
    for column in columns:
        key = normalise_key(column)
        target = user_norm[key] if key in user_norm else table.get(key)
        if target and target not in mapping.values():
            mapping[column] = target
        elif target != "":
            unmapped.append(column)
    return mapping, unmapped


def require_fields(kind: str, columns: list[str], mapping: dict[str, str], file: str) -> None:
    """A source that cannot supply a required field is a configuration error, not a pile of rejects."""
    missing = [f for f in REQUIRED[kind] if f not in mapping.values()]
    if missing:
        shown = ", ".join(columns) if columns else "(none)"
        example = next((c for c in columns if c not in mapping), columns[0] if columns else "COLUMN")
        raise UserError(
            f"cannot map required {kind} field(s) {', '.join(missing)}; its columns are: {shown}",
            file=file,
            field=missing[0],
            remedy=f"map one with --map {example}={missing[0]} (or a [mapping.{kind}] entry in the config); "
            "if the file has no header row, set header = false and columns = [...] for it in the config",
        )
