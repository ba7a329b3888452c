"""Indication extraction on hand-written package-insert sentences, and the P/R/F1 arithmetic."""

import pytest

from builder.eval.extract import extract_indications, measure_extraction
from builder.eval.sets import EvalItem


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # enumerations: 1、 / 1. / ① / （1）
        ("1、原发性高血压。\n2、稳定型心绞痛。", ["原发性高血压", "稳定型心绞痛"]),
        ("1.反流性食管炎。2.十二指肠溃疡。", ["反流性食管炎", "十二指肠溃疡"]),
        ("①支气管哮喘；②慢性阻塞性肺疾病。", ["支气管哮喘", "慢性阻塞性肺疾病"]),
        ("（1）急性痛风性关节炎。（2）高尿酸血症。", ["急性痛风性关节炎", "高尿酸血症"]),
        # lead-ins and trailers
        ("本品用于治疗2型糖尿病。", ["2型糖尿病"]),
        ("本品主要用于缓解类风湿关节炎的症状和体征。", ["类风湿关节炎"]),
        ("本品适用于中重度慢性斑块状银屑病成人患者的治疗。", ["中重度慢性斑块状银屑病"]),
        ("可用于急性缺血性脑卒中的辅助治疗。", ["急性缺血性脑卒中"]),
        # separators 、 及 和 或 ， ；
        ("本品用于偏头痛、紧张性头痛和三叉神经痛。", ["偏头痛", "紧张性头痛", "三叉神经痛"]),
        ("适用于失眠症或焦虑症，也可用于惊恐障碍；以及癫痫的辅助治疗。", ["失眠症", "焦虑症", "惊恐障碍", "癫痫"]),
        # shared modifier or head: 急、慢性 / 胃、十二指肠
        ("本品用于急、慢性肝炎。", ["急性肝炎", "慢性肝炎"]),
        ("本品用于胃、十二指肠溃疡及慢性胃炎等。", ["胃溃疡", "十二指肠溃疡", "慢性胃炎"]),
        # parentheses: the outer term and the inner items; abbreviations dropped
        ("本品适用于急性冠脉综合征（不稳定性心绞痛、非ST段抬高心肌梗死或ST段抬高心肌梗死）患者。",
         ["急性冠脉综合征", "不稳定性心绞痛", "非ST段抬高心肌梗死", "ST段抬高心肌梗死"]),
        ("本品用于慢性阻塞性肺疾病（COPD）。", ["慢性阻塞性肺疾病"]),
        # causes: the condition after 引起的, or the cause before a generic head
        ("本品用于由敏感菌引起的急性扁桃体炎、咽炎。", ["急性扁桃体炎", "咽炎"]),
        ("本品用于缺铁引起的各种出血。", ["缺铁"]),
        # sentences that are not indications: efficacy, trials, dosage
        ("本品用于慢性心力衰竭。与依那普利相比，本品可降低心血管死亡的风险。每日剂量不超过200mg。", ["慢性心力衰竭"]),
        ("用于治疗2型糖尿病。在一项为期52周的研究中，本品降低了糖化血红蛋白。", ["2型糖尿病"]),
        # words that name who, not what
        ("本品用于成人及12岁以上儿童的季节性过敏性鼻炎。", ["季节性过敏性鼻炎"]),
        # a list introduced by 下列…：; shared modifiers of degree and long ones; organs sharing a bare head
        ("本品用于敏感菌所致的下列感染：肺炎、尿路感染。", ["肺炎", "尿路感染"]),
        ("本品用于中、重度痤疮。", ["中度痤疮", "重度痤疮"]),
        ("本品用于慢性特发性或外伤性耳鸣。", ["慢性特发性耳鸣", "外伤性耳鸣"]),
        ("本品用于胆、肾等绞痛。", ["胆绞痛", "肾绞痛"]),
        ("用于脑、子宫、舌等外伤或手术出血；肺炎、支气管炎等感染。",
         ["脑外伤", "子宫外伤", "舌外伤", "手术出血", "肺炎", "支气管炎", "感染"]),
        # what follows 用于 in mid-clause; patients and their goals cut off; 不能手术 is a qualifier
        ("配合胰岛素用于1型糖尿病。", ["1型糖尿病"]),
        ("本品用于焦虑障碍的治疗或用于缓解惊恐发作。", ["焦虑障碍", "惊恐发作"]),
        ("可用于2型糖尿病成人患者改善血糖控制。", ["2型糖尿病"]),
        ("用于不能手术的晚期胃癌。", ["晚期胃癌（不能手术）"]),
        # the condition that causes the symptoms; the one a 相关 phrase qualifies; 对…有…作用
        ("本品用于改善慢性肾炎所致的水肿、蛋白尿等症状。", ["慢性肾炎"]),
        ("用于与焦虑相关的失眠。", ["失眠"]),
        ("对反复发作的偏头痛也有预防作用。", ["偏头痛"]),
        # a list run together without separators; a category heading; a caution sentence
        ("用于过敏性结膜炎、脉络膜炎交感性眼炎、角膜边缘溃疡眼部带状疱疹。",
         ["过敏性结膜炎", "脉络膜炎", "交感性眼炎", "角膜边缘溃疡", "眼部带状疱疹"]),
        ("1、皮肤疾病：天疱疮、剥脱性皮炎。2、眼部疾病：虹膜炎。", ["天疱疮", "剥脱性皮炎", "虹膜炎"]),
        ("本品用于高血压。肾功能不全所致的高钾血症，慎用本品。", ["高血压"]),
        # one item of a list that speaks of a combination is dropped, not the list; a cue that opens or a
        # cause that closes it scopes over all of it
        ("用于系统性红斑狼疮、与化疗合用于肺结核、特发性血小板减少性紫癜。", ["系统性红斑狼疮", "特发性血小板减少性紫癜"]),
        ("本品不宜用于痛风、高尿酸血症。", []),
        ("急性鼻窦炎：由肺炎链球菌、流感嗜血杆菌或卡他莫拉菌引起。", ["急性鼻窦炎"]),
        # organisms before 所致 name their infections; a drug as the cause is part of the condition
        ("适用于葡萄球菌属、链球菌属所致的感染。", ["葡萄球菌属感染", "链球菌属感染"]),
        ("用于药物引起的锥体外系疾患。", ["药源性锥体外系疾患"]),
        # what the list qualifies: 不能有效控制…的; severity kept; progressive is no 进行 (carry out)
        ("适用于饮食控制、减轻体重不能有效控制其高血糖的2型糖尿病。", ["2型糖尿病"]),
        ("用于严重的各类红斑病、严重的银屑病。", ["严重红斑病", "严重银屑病"]),
        ("本品适用于进行性肌萎缩、心肌疾患等的辅助治疗。", ["进行性肌萎缩", "心肌疾患"]),
        ("用于甲状腺功能减退症的长期替代治疗。", ["甲状腺功能减退症"]),
        # restrictions stay beside the condition they restrict: findings, stages, failed treatment
        ("本品适用于病毒复制活跃、血清丙氨酸氨基转移酶(ALT)持续升高的慢性乙型肝炎的治疗。",
         ["慢性乙型肝炎（病毒复制活跃、血清丙氨酸氨基转移酶持续升高）"]),
        ("用于对其它治疗不耐受或疗效不佳的严重胃肠道动力性疾病。", ["严重胃肠道动力性疾病（对其它治疗不耐受、疗效不佳）"]),
        ("用于不能手术的晚期胃癌患者慎用的情况。", []),
        # a site shares the rest of the next part; stages share their condition; a stage after 的 borrows the next
        ("用于择期髋关节或膝关节置换手术。", ["择期髋关节置换手术", "膝关节置换手术"]),
        ("用于小细胞和非小细胞肺癌。", ["小细胞肺癌", "非小细胞肺癌"]),
        ("用于骨关节炎急性期和慢性期。", ["骨关节炎急性期", "骨关节炎慢性期"]),
        ("用于EGFR基因具有敏感突变的局部晚期或转移性非小细胞肺癌。", ["局部晚期非小细胞肺癌", "转移性非小细胞肺癌"]),
        # causes: a drug (诱导的 too) stays as 药源性; an organism names its infection with the severity given;
        # a list of exposures joined to the cause names causes, a list of conditions does not
        ("用于药物诱导的高泌乳激素症。", ["药源性高泌乳激素症"]),
        ("治疗由足放线病菌属和镰刀菌属引起的严重感染。", ["足放线病菌属严重感染", "镰刀菌属严重感染"]),
        ("用于失血、创伤及烧伤等引起的休克。", ["休克"]),
        ("适用于新生儿窒息及其他各种疾病引起的呼吸衰竭。", ["新生儿窒息", "呼吸衰竭"]),
        # 累及 is no conjunction; who among the patients is no condition; a class before its examples is dropped
        ("用于累及神经或心肌的旋毛虫病。", ["旋毛虫病"]),
        ("应主要用于治疗免疫缺陷患者中进行性的、可能威胁生命的感染。", []),
        ("缓解轻至中度疼痛，如头痛、牙痛。", ["头痛", "牙痛"]),
        # a lone modifier is no condition, but a degeneration or a toxicity is; skin and skin structures are one
        ("用于自身免疫性、黄斑变性、顺铂肾毒性。", ["黄斑变性", "顺铂肾毒性"]),
        ("用于复杂性皮肤和皮肤组织感染。", ["复杂性皮肤和皮肤组织感染"]),
        # not conditions: lab findings, effects, the drug itself
        ("用于转氨酶持续升高的慢性乙型肝炎、镇静、催眠。", ["慢性乙型肝炎"]),
        # not conditions: negated uses, reasons and reports, drugs and drug classes, effects, time points
        ("本品用于高血压。本品不适用于1型糖尿病。", ["高血压"]),
        ("本品用于高血压。由于已有报道发生低血压，且一些患者的头晕有自限性，应在医师指导下使用。", ["高血压"]),
        ("本品用于骨关节炎、外伤后引起的疼痛。", ["骨关节炎"]),
        ("本品（盐酸某某）用于高血压、降低总胆固醇。", ["高血压"]),
        # an example, not its class; 合并 inside a condition is no combination therapy; 系统性 is no 本品系
        ("用于急性心肌梗死等血栓性疾病。", ["急性心肌梗死"]),
        ("用于慢性支气管炎合并肺气肿等症。", ["慢性支气管炎合并肺气肿"]),
        ("用于系统性红斑狼疮、皮肌炎。本品系清热解毒之剂。", ["系统性红斑狼疮", "皮肌炎"]),
        # a list of who qualifies (符合下列条件的…患者：) is no list of conditions
        ("本品用于治疗符合下列全部条件的18至65岁女性偏头痛患者：\n1、每月发作4次以上。\n2、头痛持续4小时以上。", ["偏头痛"]),
        # traditional-medicine signs (症见, tongue and pulse) are not indications
        ("用于风热感冒，症见：发热，舌红，脉浮数。", ["风热感冒", "发热"]),
        ("用于精神萎靡，须发早白等症。须在医师指导下使用。", ["精神萎靡", "须发早白"]),
    ],
)
def test_extract_indications(text: str, expected: list[str]) -> None:
    assert extract_indications(text) == expected


def test_no_text_no_phrases() -> None:
    assert extract_indications("") == []
    assert extract_indications("本品在儿童患者中的安全性和有效性尚未确立。") == []


def item(reference: str, *gold: str) -> EvalItem:
    return EvalItem(entity="某药", kind="drug", question=None, reference=reference, gold=gold, position=0)


def test_measure_extraction_known_counts() -> None:
    items = [
        # extracts 高血压, 心绞痛: both exact
        item("本品用于高血压、心绞痛。", "高血压", "心绞痛"),
        # extracts 急性肝炎, 慢性肝炎: 慢性肝炎 exact; 急性肝炎 has no gold; gold 脂肪肝 unmatched
        item("本品用于急、慢性肝炎。", "慢性肝炎", "脂肪肝"),
        # extracts 支气管哮喘: no match, since it drops the gold label's modifier 过敏性 (the scorer's rule)
        item("本品用于支气管哮喘。", "过敏性支气管哮喘"),
        # extracts 高血压病: normalised only (a synonym in the scorer's table)
        item("本品用于高血压病。", "高血压"),
        # extracts ＣＯＰＤ急性加重: normalised only (width and case folded)
        item("本品用于ＣＯＰＤ急性加重。", "copd急性加重"),
    ]
    result = measure_extraction(items)
    assert (result["items"], result["gold"], result["extracted"]) == (5, 7, 7)
    assert result["exact"] == {"precision": 0.4286, "recall": 0.4286, "f1": 0.4286}
    assert result["normalised"] == {"precision": 0.7143, "recall": 0.7143, "f1": 0.7143}


def test_each_gold_label_matched_once() -> None:
    # both phrases fold-contain the one gold label; only one of them may claim it
    result = measure_extraction([item("本品用于慢性胃炎、慢性胃炎急性发作。", "慢性胃炎")])
    assert result["extracted"] == 2
    assert result["normalised"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667}


def test_short_containment_does_not_match() -> None:
    # 肝炎 is inside 慢性乙型肝炎 but only 2/6 of it: no match
    result = measure_extraction([item("本品用于肝炎。", "慢性乙型肝炎")])
    assert result["normalised"]["recall"] == 0.0
