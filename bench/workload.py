"""Deterministic synthetic workload for benchmarking ``build-instructions``.

Everything here is synthesised from small hand-written vocabularies combined by a
seeded RNG; no text is taken from any real data set. The output only mimics the
*shape* of the real sources:

* ``drugs.json``: a JSON array of strings, each ``名称\\n键:值\\n键:值…`` (CareGPT
  drug knowledge-base layout: first line the name, then one ``key:value`` per line
  split on the first half-width ``:``, values with full-width punctuation).
* ``qa.jsonl``: one ``{"question": …, "answer": …}`` object per line.

Planted quirks (so the builder's cleaning steps have work to do):

* drugs: ~2% values are ``尚不明确。``, ~2% records lack 适应证, ~0.3% records are
  exact duplicates, a few names repeat with different content, ~1% records carry
  药理作用, enumerations ``1.…2.…`` / ``(1)…``.
* qa: ~3% exact duplicate lines, ~1% lines with planted PII (11-digit mobile
  numbers, e-mail addresses) inside sentences.

Same ``seed`` and ``scale`` give byte-identical files.

Usage: ``python bench/workload.py OUT_DIR [--scale F] [--seed N]``
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from pathlib import Path

N_DRUGS = 30_000
N_QA = 560_000

# --------------------------------------------------------------------------- vocab

# Syllables for invented drug names (transliteration-style characters).
_NAME_SYL = list(
    "阿莫西林头孢克洛氨苄普利沙坦地平美托奥拉唑兰索他汀非诺贝特布芬双氯"
    "羟甲乙丙丁硝氟哌嗪咪替尼卡马多巴胺维格列吡罗昔康依那培帕瑞伐曲酮左"
    "右氧硫磺嘧啶呋喃吲哚苯酯胍雷舒尿肝肌苷肽宁泰达福司芦丁伏戈"
)
_NAME_SUFFIX = [
    "素", "霉素", "沙星", "替尼", "洛尔", "地平", "普利", "沙坦", "他汀", "拉唑",
    "西林", "胺", "酮", "酸", "韦", "松", "平", "定", "嗪", "泮", "肽", "单抗",
    "洛芬", "卡因", "尼定", "硝唑", "康唑", "霉素B", "醇", "苷",
]
_NAME_PREFIX = ["盐酸", "硫酸", "复方", "注射用", "[重组]", "醋酸", "马来酸", "左旋"]
_LATIN_SYL = [
    "a", "mo", "xi", "cil", "lin", "ce", "fa", "clor", "pra", "zo", "sar", "tan",
    "di", "pine", "me", "to", "pro", "lol", "ni", "ti", "ra", "ole", "sta", "tin",
    "flu", "bu", "fen", "ka", "ver", "do", "pa", "mine", "gli", "pi", "zide", "ro",
]
_CATEGORY = [
    ("心血管系统药物", ["抗高血压药", "抗心绞痛药", "抗心律失常药", "调血脂药", "抗心力衰竭药"]),
    ("抗微生物药物", ["青霉素类", "头孢菌素类", "喹诺酮类", "大环内酯类", "抗真菌药", "抗病毒药"]),
    ("消化系统药物", ["抑酸药", "胃黏膜保护药", "止吐药", "泻药", "止泻药", "肝胆疾病用药"]),
    ("呼吸系统药物", ["镇咳药", "祛痰药", "平喘药"]),
    ("神经系统药物", ["镇静催眠药", "抗癫痫药", "抗帕金森病药", "镇痛药", "抗抑郁药"]),
    ("血液系统药物", ["抗贫血药", "抗血小板药", "抗凝血药", "促进白细胞增生药"]),
    ("内分泌系统药物", ["降血糖药", "甲状腺疾病用药", "肾上腺皮质激素类药"]),
    ("抗肿瘤药物", ["烷化剂", "抗代谢药", "分子靶向药", "骨髓功能恢复药"]),
    ("皮肤科用药", ["抗感染药", "止痒药", "角质溶解药"]),
    ("维生素及矿物质", ["水溶性维生素", "脂溶性维生素", "微量元素"]),
]
_FORMS = ["片剂", "胶囊", "注射液", "注射剂(粉)", "颗粒剂", "口服溶液", "缓释片", "肠溶片", "软膏", "滴眼液", "栓剂", "气雾剂"]
_UNITS = ["mg", "g", "ml", "μg", "万单位"]
_DISEASE = [
    "高血压", "原发性高血压", "稳定型心绞痛", "慢性心力衰竭", "心房颤动", "高脂血症",
    "2型糖尿病", "甲状腺功能亢进症", "急性支气管炎", "慢性阻塞性肺疾病", "支气管哮喘",
    "社区获得性肺炎", "上呼吸道感染", "尿路感染", "急性肾盂肾炎", "胃溃疡", "十二指肠溃疡",
    "反流性食管炎", "功能性消化不良", "急性胃肠炎", "慢性乙型肝炎", "胆囊炎", "类风湿关节炎",
    "骨关节炎", "痛风", "骨质疏松症", "缺铁性贫血", "巨幼细胞贫血", "白细胞减少症",
    "血小板减少性紫癜", "深静脉血栓", "癫痫", "帕金森病", "偏头痛", "失眠", "抑郁症",
    "焦虑症", "带状疱疹", "单纯疱疹", "真菌性阴道炎", "湿疹", "银屑病", "痤疮",
    "结膜炎", "中耳炎", "扁桃体炎", "牙周炎", "前列腺增生", "非小细胞肺癌", "乳腺癌",
]
_SYMPTOM = [
    "头痛", "头晕", "恶心", "呕吐", "腹泻", "便秘", "腹痛", "腹胀", "皮疹", "瘙痒", "乏力",
    "失眠", "嗜睡", "口干", "心悸", "胸闷", "咳嗽", "咳痰", "发热", "食欲减退", "视物模糊",
    "耳鸣", "水肿", "肌肉酸痛", "关节疼痛", "月经不调", "脱发", "多汗", "尿频", "鼻塞",
]
_SEVERE = [
    "过敏性休克", "血管神经性水肿", "粒细胞缺乏", "肝功能异常", "肾功能损害", "QT间期延长",
    "史蒂文斯-约翰逊综合征", "间质性肺炎", "横纹肌溶解", "消化道出血", "低血糖反应", "癫痫发作",
]
_POP = [
    "孕妇", "哺乳期妇女", "儿童", "新生儿", "老年患者", "肝功能不全者", "肾功能不全者",
    "严重心功能不全者", "有出血倾向者", "驾驶员及高空作业者", "过敏体质者", "癫痫病史者",
]
_ORGAN = ["肝", "肾", "血常规", "心电图", "血糖", "血压", "电解质", "甲状腺", "凝血"]
_EFFECT = [
    "增强本药的疗效", "降低本药的血药浓度", "增加出血风险", "增加肾毒性", "延长QT间期",
    "导致血压过度降低", "减弱后者的作用", "增加中枢抑制作用", "升高后者的血药浓度",
    "诱发低血糖", "加重胃肠道反应", "影响本药的吸收",
]
_ROUTE = ["口服给药", "静脉滴注", "静脉注射", "肌内注射", "外用", "滴眼", "直肠给药"]
_FREQ = ["每天1次", "每天2次", "每天3次", "每8小时1次", "每12小时1次", "睡前服用1次"]
_PHARM = [
    "本药通过抑制相关酶的活性发挥作用", "本药可选择性阻断受体", "本药能促进细胞增殖与分化",
    "本药可抑制细菌细胞壁的合成", "本药可降低血管外周阻力", "本药能减少胃酸分泌",
]
_DUR = ["两天", "三天", "一周", "半个月", "一个月", "三个月", "半年", "一年多", "好几年"]
_PERSON = ["我", "我妈妈", "我爸爸", "孩子", "我老公", "我老婆", "家里老人", "我朋友"]
_AGE = [f"{n}岁" for n in (3, 5, 8, 12, 16, 22, 25, 28, 31, 35, 40, 46, 52, 58, 63, 70, 78)]
_ADVICE = [
    "建议到正规医院就诊，完善相关检查后明确诊断",
    "平时注意休息，避免劳累和熬夜",
    "饮食宜清淡，多吃新鲜蔬菜水果，忌辛辣刺激食物",
    "可以在医生指导下服用药物治疗",
    "注意保持良好的心态，避免情绪激动",
    "如果症状持续加重，应及时复诊",
    "适当进行体育锻炼，增强体质",
    "治疗期间戒烟限酒",
    "定期复查，根据检查结果调整治疗方案",
    "不要自行购买药物服用，以免延误病情",
    "注意个人卫生，勤换衣物",
    "多喝温开水，保证充足的睡眠",
]
_CAUSE = [
    "这种情况考虑是{d}引起的可能性比较大",
    "根据你的描述，可能与{d}有关",
    "{s}和{s2}是{d}的常见表现",
    "{d}的发生与遗传、环境及生活习惯等多种因素有关",
    "出现{s}的原因很多，需要排除{d}",
    "{d}早期症状不明显，随着病情进展可出现{s}",
]
_TREAT = [
    "可以口服{n}治疗，{f}",
    "一般可选用{n}，疗程{t}",
    "急性期可以使用{n}控制症状",
    "在医生指导下服用{n}，同时配合{n2}",
    "{n}对{d}有较好的疗效，但需注意{s}等不良反应",
]
_QOPEN = [
    "{p}最近{t}一直{s}",
    "{p}{a}，{s}{t}了",
    "{p}有{d}{t}了",
    "{p}{a}，前几天开始{s}，还伴有{s2}",
    "医生你好，{p}{s}{t}了",
    "{p}被查出{d}",
]
_QMID = [
    "吃了点药也没什么效果", "晚上睡不好觉", "去医院做了检查说没什么问题",
    "以前没有这种情况", "有时候还会{s}", "早上起来比较明显", "工作压力比较大",
    "饮食也不太规律", "家里有{d}病史", "吃过{n}", "最近体重下降了",
    "平时喜欢喝酒", "一着急就{s}",
]
_QEND = [
    "请问这是怎么回事？", "该怎么办？", "需要做什么检查？", "吃什么药好？",
    "严重吗？", "{d}能治好吗？", "{n}能吃吗？", "平时饮食要注意什么？",
    "{d}有哪些症状？", "{d}的病因是什么？", "孕妇可以用{n}吗？",
]
_MAIL_DOMAIN = ["163.com", "qq.com", "126.com", "gmail.com", "sina.com", "outlook.com"]
_MOBILE_PREFIX = ["130", "131", "135", "136", "138", "139", "150", "152", "158", "186", "188", "199"]


def _check_vocab_safe() -> None:
    """The JSONL writer formats strings directly; vocab must need no JSON escaping."""
    pools = [_NAME_SYL, _NAME_SUFFIX, _NAME_PREFIX, _DISEASE, _SYMPTOM, _SEVERE, _POP,
             _ADVICE, _CAUSE, _TREAT, _QOPEN, _QMID, _QEND, _PERSON, _DUR, _AGE]
    for pool in pools:
        for s in pool:
            assert '"' not in s and "\\" not in s and "\n" not in s, s


# --------------------------------------------------------------------------- drugs


class _DrugGen:
    def __init__(self, rng: random.Random):
        self.r = rng

    def name(self) -> str:
        r = self.r
        n = r.choice((2, 2, 3, 3, 3, 4))
        stem = "".join(r.choices(_NAME_SYL, k=n)) + r.choice(_NAME_SUFFIX)
        x = r.random()
        if x < 0.12:
            stem = r.choice(_NAME_PREFIX) + stem
        elif x < 0.15:
            stem = f"{stem}{r.choice('ABCDEK')}{r.randint(1, 12)}"
        elif x < 0.17:
            stem = f"{stem}/{''.join(r.choices(_NAME_SYL, k=2))}{r.choice(_NAME_SUFFIX)}"
        return stem

    def english(self) -> str:
        r = self.r
        w = "".join(r.choices(_LATIN_SYL, k=r.randint(2, 5))).capitalize()
        if r.random() < 0.3:
            w += " " + r.choice(["Hydrochloride", "Sodium", "Sulfate", "Tablets", "Injection"])
        return w

    def _enum(self, parts: list[str]) -> str:
        r = self.r
        if len(parts) == 1:
            return parts[0]
        style = r.random()
        if style < 0.7:
            return "".join(f"{i}.{p}" for i, p in enumerate(parts, 1))
        if style < 0.9:
            return "".join(f"({i}){p}" for i, p in enumerate(parts, 1))
        return "".join(f"{'①②③④⑤⑥⑦⑧⑨⑩'[i]}{p}" for i, p in enumerate(parts[:10]))

    def _k(self, lo: int, hi: int) -> int:
        return self.r.randint(lo, hi)

    def indication(self) -> str:
        r = self.r
        parts = []
        for _ in range(r.choice((1, 1, 2, 2, 3, 4))):
            ds = "、".join(r.sample(_DISEASE, self._k(1, 4)))
            t = r.random()
            if t < 0.2:
                parts.append(f"用于{ds}的治疗。")
            elif t < 0.4:
                parts.append(f"适用于{ds}。")
            elif t < 0.6:
                parts.append(f"用于防治各种原因引起的{ds}等。")
            elif t < 0.8:
                parts.append(f"可用于{ds}，也可作为{r.choice(_DISEASE)}的辅助治疗。")
            else:
                parts.append(f"用于对本药敏感的病原体所致的{ds}。")
        return self._enum(parts)

    def contraindication(self) -> str:
        r = self.r
        parts = ["对本药及其成分过敏者禁用。"]
        for _ in range(self._k(0, 3)):
            parts.append(f"{'、'.join(r.sample(_POP, self._k(1, 3)))}禁用。")
        return self._enum(parts) if len(parts) > 2 else "".join(parts)

    def precautions(self) -> str:
        r = self.r
        parts = []
        for _ in range(self._k(1, 7)):
            t = r.randrange(7)
            if t == 0:
                parts.append(f"{'、'.join(r.sample(_POP, self._k(1, 3)))}慎用。")
            elif t == 1:
                parts.append(f"用药期间应定期检查{'、'.join(r.sample(_ORGAN, self._k(1, 3)))}功能。")
            elif t == 2:
                parts.append(f"用药期间如出现{r.choice(_SYMPTOM)}、{r.choice(_SYMPTOM)}等症状，应立即停药并就医。")
            elif t == 3:
                parts.append(f"本药不宜与{self.name()}同时使用，必要时应间隔{self._k(2, 6)}小时以上。")
            elif t == 4:
                parts.append("长期大剂量使用可能导致耐药性，应在医师指导下按疗程用药。")
            elif t == 5:
                parts.append(f"{r.choice(_POP)}用药时应减量，并密切监测{r.choice(_ORGAN)}指标。")
            else:
                parts.append("本药注射时应缓慢推注，不能与其他药物混合注射。")
        return self._enum(parts)

    def adverse(self) -> str:
        r = self.r
        parts = []
        for _ in range(self._k(1, 5)):
            t = r.randrange(4)
            if t == 0:
                parts.append(f"可见{'、'.join(r.sample(_SYMPTOM, self._k(2, 5)))}等，一般较轻，停药后可自行消失。")
            elif t == 1:
                parts.append(f"偶见{'、'.join(r.sample(_SEVERE, self._k(1, 3)))}，一旦发生应立即停药。")
            elif t == 2:
                parts.append(f"{r.choice(('消化系统', '神经系统', '皮肤', '血液系统', '心血管系统'))}："
                             f"{'、'.join(r.sample(_SYMPTOM, self._k(1, 4)))}。")
            else:
                parts.append(f"少数患者可出现{r.choice(_SYMPTOM)}。")
        return self._enum(parts)

    def dosage(self) -> str:
        r = self.r
        parts = []
        for _ in range(r.choice((1, 1, 2, 2, 3))):
            route = r.choice(_ROUTE)
            dose = r.choice((5, 10, 20, 25, 50, 100, 125, 250, 500))
            unit = r.choice(_UNITS[:3])
            if r.random() < 0.5:
                parts.append(
                    f"{route}：(1)成人：每次{dose}～{dose * 2}{unit}，{r.choice(_FREQ)}，"
                    f"疗程{r.choice(_DUR)}。(2)儿童：每次{dose // 2 or 1}{unit}/kg，{r.choice(_FREQ)}。")
            else:
                parts.append(f"{route}：每次{dose}{unit}，{r.choice(_FREQ)}。")
        if len(parts) == 1:
            return parts[0]
        return "".join(f"{i}.{p}" for i, p in enumerate(parts, 1))

    def interaction(self) -> str:
        r = self.r
        parts = [f"与{self.name()}合用可{r.choice(_EFFECT)}。" for _ in range(self._k(1, 5))]
        return self._enum(parts)

    def form(self) -> str:
        r = self.r
        parts = []
        for f in r.sample(_FORMS, r.choice((1, 1, 1, 2, 3))):
            u = r.choice(_UNITS)
            sizes = "，".join(f"{r.choice((1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500))}{u}"
                             for _ in range(self._k(1, 3)))
            parts.append(f"{f}：{sizes}。")
        return self._enum(parts)

    def category(self) -> str:
        top, subs = self.r.choice(_CATEGORY)
        return f"{top}，{self.r.choice(subs)}"

    def alias(self) -> str:
        r = self.r
        names = [self.name() for _ in range(self._k(1, 3))]
        if r.random() < 0.4:
            names.append(self.english())
        return "；".join(names)

    def pharm(self) -> str:
        return "".join(f"{p}。" for p in self.r.sample(_PHARM, self._k(1, 3)))

    def record(self, name: str) -> str:
        r = self.r
        unknown = "尚不明确。"
        lines = [name]

        def add(key: str, prob: float, fn, can_unknown: bool = True) -> None:
            if r.random() < prob:
                v = unknown if (can_unknown and r.random() < 0.03) else fn()
                lines.append(f"{key}:{v}")

        add("药品类型", 0.98, self.category, False)
        add("英文名", 0.5, self.english, False)
        add("别名", 0.45, self.alias, False)
        add("剂型", 0.92, self.form, False)
        add("适应证", 0.98, self.indication)
        add("禁忌证", 0.6, self.contraindication)
        add("注意事项", 0.8, self.precautions)
        add("不良反应", 0.6, self.adverse)
        add("用法用量", 0.99, self.dosage)
        add("药物相互作用", 0.5, self.interaction)
        add("药理作用", 0.01, self.pharm, False)
        return "\n".join(lines)


def gen_drugs(n: int, seed: int) -> list[str]:
    rng = random.Random(f"drugs-{seed}")
    g = _DrugGen(rng)
    out: list[str] = []
    for _ in range(n):
        x = rng.random()
        if out and x < 0.003:  # exact duplicate of an earlier record
            out.append(out[rng.randrange(len(out))])
        elif out and x < 0.006:  # name repeats, different content
            prev = out[rng.randrange(len(out))]
            out.append(g.record(prev.split("\n", 1)[0]))
        else:
            out.append(g.record(g.name()))
    return out


# --------------------------------------------------------------------------- QA


def _fill(r: random.Random, tmpl: str, names: list[str]) -> str:
    return tmpl.format(
        p=r.choice(_PERSON), a=r.choice(_AGE), t=r.choice(_DUR), s=r.choice(_SYMPTOM),
        s2=r.choice(_SYMPTOM), d=r.choice(_DISEASE), n=r.choice(names), n2=r.choice(names),
        f=r.choice(_FREQ),
    )


def _build_qa_pools(r: random.Random) -> tuple[list[str], list[str], list[str], list[str]]:
    g = _DrugGen(r)
    names = [g.name() for _ in range(400)]
    q_open = [_fill(r, r.choice(_QOPEN), names) + "，" for _ in range(3000)]
    q_mid = [_fill(r, r.choice(_QMID), names) + "，" for _ in range(2000)]
    q_end = [_fill(r, r.choice(_QEND), names) for _ in range(2000)]
    a_sent: list[str] = []
    for _ in range(12000):
        kind = r.random()
        if kind < 0.35:
            s = _fill(r, r.choice(_CAUSE), names)
        elif kind < 0.65:
            s = _fill(r, r.choice(_TREAT), names)
        else:
            s = r.choice(_ADVICE)
        a_sent.append(s + r.choice(("。", "。", "，", "；")))
    return q_open, q_mid, q_end, a_sent


def _pii(r: random.Random) -> str:
    if r.random() < 0.6:
        num = r.choice(_MOBILE_PREFIX) + "".join(r.choices("0123456789", k=8))
        return r.choice((f"我的电话是{num}，", f"方便的话请打{num}联系我，", f"手机{num}，"))
    user = "".join(r.choices("abcdefghijklmnopqrstuvwxyz", k=r.randint(4, 9))) + str(r.randint(1, 999))
    mail = f"{user}@{r.choice(_MAIL_DOMAIN)}"
    return r.choice((f"我的邮箱是{mail}，", f"结果可以发到{mail}，", f"邮箱{mail}，"))


def write_qa(path: Path, n: int, seed: int) -> int:
    r = random.Random(f"qa-{seed}")
    q_open, q_mid, q_end, a_sent = _build_qa_pools(r)
    choice, choices, rand, randint = r.choice, r.choices, r.random, r.randint
    reservoir: list[str] = []
    RES = 8192
    buf: list[str] = []
    written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for _ in range(n):
            x = rand()
            if reservoir and x < 0.03:
                line = choice(reservoir)
            else:
                q = choice(q_open) + "".join(choices(q_mid, k=randint(0, 6))) + choice(q_end)
                a = "".join(choices(a_sent, k=randint(3, 15)))
                a = a[:-1] + "。"
                if x > 0.99:  # planted PII inside a sentence
                    if rand() < 0.5:
                        cut = q.find("，") + 1
                        q = q[:cut] + _pii(r) + q[cut:]
                    else:
                        cut = a.find("。") + 1
                        a = a[:cut] + _pii(r) + a[cut:]
                line = f'{{"question": "{q}", "answer": "{a}"}}\n'
                if len(reservoir) < RES:
                    reservoir.append(line)
                elif x < 0.05:
                    reservoir[randint(0, RES - 1)] = line
            buf.append(line)
            if len(buf) >= 50_000:
                f.write("".join(buf))
                written += len(buf)
                buf.clear()
        f.write("".join(buf))
        written += len(buf)
    return written


# --------------------------------------------------------------------------- evaluation set


N_EVAL = 94  # as many drugs as QiZhen's evaluation set


def write_eval(path: Path, drugs: list[str], seed: int) -> int:
    """An evaluation set in QiZhen's CSV layout (药品, 药品适应症, 医学专家标注的适应病症, instruction) for
    drugs of the workload that have 适应证, so the builder's decontamination has entities and text to hold out."""
    rng = random.Random(f"eval-{seed}")
    found = {}
    for block in drugs:
        lines = block.split("\n")
        text = next((line.split(":", 1)[1] for line in lines[1:] if line.startswith("适应证:")), "")
        if text and "尚不明确" not in text:
            found.setdefault(lines[0], text)
    chosen = rng.sample(sorted(found), min(N_EVAL, len(found)))
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["药品", "药品适应症", "医学专家标注的适应病症", "instruction"])
        for name in chosen:
            labels = [p for p in re.split(r"[，。；、]", found[name]) if p][:4]
            writer.writerow([name, found[name], "|".join(labels), f"{name}的适应病症"])
    return len(chosen)


# --------------------------------------------------------------------------- main


def generate(out_dir: Path, scale: float = 1.0, seed: int = 0) -> dict:
    """Write ``drugs.json``, ``qa.jsonl`` and ``eval.csv`` under ``out_dir``; return a summary dict."""
    _check_vocab_safe()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_drugs = max(1, round(N_DRUGS * scale))
    n_qa = max(1, round(N_QA * scale))
    t0 = time.perf_counter()
    drugs = gen_drugs(n_drugs, seed)
    drugs_path = out_dir / "drugs.json"
    with open(drugs_path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(drugs, ensure_ascii=False, indent=0))
        f.write("\n")
    n_eval = write_eval(out_dir / "eval.csv", drugs, seed)
    t1 = time.perf_counter()
    qa_path = out_dir / "qa.jsonl"
    n_qa_written = write_qa(qa_path, n_qa, seed)
    t2 = time.perf_counter()
    return {
        "out_dir": str(out_dir),
        "scale": scale,
        "seed": seed,
        "drugs": n_drugs,
        "qa": n_qa_written,
        "eval": n_eval,
        "drugs_bytes": drugs_path.stat().st_size,
        "qa_bytes": qa_path.stat().st_size,
        "drugs_s": round(t1 - t0, 3),
        "qa_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = 30K drugs + 560K QA lines")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    info = generate(args.out_dir, args.scale, args.seed)
    print(json.dumps(info, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
