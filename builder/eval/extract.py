"""Indication extraction: a drug's 适应症 text split into indication phrases, and scored against gold labels.

QiZhenGPT scored models on drug indications by comparing the conditions named in an answer with an
expert list. Package-insert text is regular enough for rules: numbered items, a lead-in (本品用于…),
conditions joined by 、，；及和或, parentheses that name sub-types or aliases, and trailing words
(…患者, …的治疗) around the condition. Sentences about dosage, trials or cautions are dropped by cue.
"""

import re
from collections.abc import Callable, Iterable

from builder.eval.match import Matcher, load_synonyms
from builder.eval.sets import EvalItem
from builder.quality.normalize import SALT_PREFIXES

ENUMERATION = re.compile(r"(?:^|(?<=[\s。；;：:]))\s*(?:\d{1,2}\s*[、.．）)](?!\d)|[（(]\d{1,2}[）)]|[①-⑳])\s*")
SENTENCE = re.compile(r"[。\n!！?？]+")
CLAUSE = re.compile(r"[，,；;：:]")
CONJUNCTION = re.compile(r"[、/]|以及|及其他|及其它|和其他|和其它|(?<![累涉波危])及|(?<!缓)和|或者|或|与|并发|(?<=[病痛症])如|(?<=[症病菌属肠胃肝肾胆炎])等(?!$)")
PAREN = re.compile(r"[（(]([^（）()]*)[）)]")
NOT_SENTENCE = re.compile(r"相比|研究|(?<!抑制)试验|报道|评估|基于|尚无|尚未|未经|未在")
NEGATED_SENTENCE = re.compile(r"不需要|不推荐|不适用|自限|慎用|禁用|忌用")  # negates a whole sentence unless it also states a use
STATED_USE = re.compile(r"(?<![不禁慎])(?:适|可)?用于")
NOT_CLAUSE = re.compile(
    r"临床|剂量|\d\s*(?:mg|g|ml|毫克|克)|慎用|禁用|不推荐|不适用|不需要|应考虑|评估|基于|注意|由于|除非|"
    r"不能(?!手术|切除|(?:有效)?控制)|不应|不宜|应在|应按照|疗效|有效性|安全性|建议|必须|须(?:在|经|与|按|遵|注意|慎|用)|应用本品|首选|替代药|作为.*(?:用药|疗法)|可与|合用|联用|单独|"
    r"降低.*(?:风险|发生率|死亡率|水平)|可减少|增强|诊断|提高|效果|需要|在使用|包括接受|此外|作用|"
    r"^对(?!症)|^使|^减(?!轻)|^(?:可|能)?(?:降低|升高|减慢|延缓)|^消除|通常|^排泄|^由.*(?:引起|所致)|(?:引起|所致|导致)的?$|"
    r"^(?:当|在|以(?!及)|为|而|且|从而|因此|结果|这些|至于|特别是)|时$|通过|帮助|使用|接受|可能|进行(?!性)|应当|应(?:从|该)|用作|"
    r"^(?:本品|本方|本药)(?:系|为)|之剂|选用|常用|治之|上述|以上表现|[症证]见|为宜|[主次]症|^参见|不适宜"
)
EFFECTIVE = re.compile(  # 对反复发作的抑郁症也有预防作用: the condition the drug acts on
    r"^(?:本品|本药)?(?:也|还|亦)?对(.+?)(?:也|亦|还|均)?有(?:很?好的?|一定的?|较好的?)?(?:治疗|预防|防治)?[^，,]{0,6}(?:作用|疗效|效果|效)$")
COMBINED = re.compile(r"(?:与|和)[^，,。；]*?(?:联合|合并|配合)(?:应用|使用|用药|运用|治疗)(?:于)?")  # not 支气管炎合并肺气肿
LEAD_IN = re.compile(
    r"^(?:本品|本药|[^，,]{0,8}?(?:单药|片))?(?:还|亦|也|仅|限|主要|可|均|能|较好地?)*(?:可以|可|还)?(?:作为)?"
    r"(?:适用于|适用|用于|可用于|限用于|治疗|预防和治疗|预防|防治|对症治疗|缓解|缓和|减轻|控制|改善|诱导|抢救)*"
)
TRAILER = re.compile(
    r"(?:的|之)?(?:(?:长期|短期|对症|单药|联合|辅助|替代|抑制|预防|保守|姑息性?|附加|标准|[一二三]级)*(?:治疗|防治|预防)(?:作用)?|辅助用药|选用药物)$"
    r"|(?:成人|成年|儿童|病人|患者|人群|者)+$|(?:相关)?(?:的)?(?:症状和体征|体征和症状|症状|体征)$|等+$|的$"
    r"|等(?:[^等]{0,4}性)?(?:疾病|病|症)$"  # 急性心肌梗死等血栓性疾病: the example, not the class
)
PREFIX = re.compile(
    r"^(?:如|例如|包括|即|由|各种|各类|其他|其它|一些|下列(?:情况)?|以下|伴有|伴随|有|(?:临床)?表现为|"
    r"(?:\d+(?:[至~～-]\d+)?岁(?:以上|以下)?的?)?(?:成人|成年人?|儿童|青少年|妇女|男性|女性|病人|患者)(?:所患)?的?)+[：:]?"
)
SEVERE = re.compile(r"^严重的(?:各类|各种)?")
CAUSE = re.compile(r"(.+?)(?:所?引起的?|所致的?|导致的?|所?造成的|诱导的|诱发的)(.+)")
DRUG_CAUSE = re.compile(r"(?:药物|药品|药)$")
GENERIC = re.compile(r"^(?:.{0,4}疾病|各种疾病|感染|出血|各种出血|疼痛|症状|损害|诸症状)$")
QUALIFIED = re.compile(r"(.+?)(有关|相关|患者伴有|伴有)?的(.+)")
NOT_PHRASE = re.compile(  # who, when or how severe, but no condition; or no Chinese at all
    r"岁|^(?:成人|成年人?|儿童|青少年|妇女|男性|女性|老年人?|病人|患者|单纯|术前|术后|局部晚期|晚期|[一二三]线|维持|长期|严重|"
    r"急性期|慢性期|早期|初期|后期|轻度-中度)$|^[^\u4e00-\u9fff]*$|^[^\s]{1,4}(?<![变毒])性$|(?:部|周)$|^疾病"
)
NOT_INNER = re.compile(r"^(?:如|例如|伴|或|单独|无|包括|不伴|仅|限)|岁|含|以上|药|剂|[轻中重]度|型$|^[^、，]{1,8}性或[^、，]{1,8}性$")
RESTRICTED = re.compile(r"^(.+)的([^的、，,]+)$")
RESTRICTION = re.compile(r"复制|升高|增高|阳性|阴性|活跃|转移|代偿|活动性病变|不能手术|无法手术|不可切除|不耐受|疗效不佳|治疗无效")
CLASS_OF_EXAMPLES = re.compile(  # 轻至中度疼痛如头痛、牙痛: the examples are the uses, not their class
    r"(?:轻度|中度|重度|严重|轻至中度|中至重度|中-重度|中度至重度)的?(?:疼痛|出血|感染|过敏)(?=[，,]?\s*(?:如|例如))")
ONE_THING = re.compile(r"([\u4e00-\u9fff]{2})和(?=\1(?:组织|结构|附属器))")  # 皮肤和皮肤组织感染 names one group of infections
KEPT_AND = "\ue000"  # a 和 the conjunction split must not see
WHO = re.compile(r"患者|病人")
EXPOSURE = re.compile(  # what befalls a patient rather than what the drug treats: procedures, injuries, pregnancy, drugs
    r"手术|创伤|外伤|烧伤|失血|放疗|化疗|放射|照射|妊娠|流产|分娩|剥落|剥离|死胎|羊水|药物|过量|溶栓|透析|输血|移植|酒精|乙醇|毒物")
SHARED_CAUSE = re.compile(  # 失血、创伤及烧伤等引起的休克: a list of exposures joined to the cause names causes
    r"^[^、，,]+(?:、[^、，,]+)*(?:和|及|或|与)([^、和及或与]+?(?:所?引起|所致|导致|造成)的.+)$")
PHASES = "(?:急性期|慢性期|缓解期|发作期|活动期|稳定期)"  # a phase of a condition (骨关节炎急性期)
STAGES = "(?:局部晚期|晚期|早期|局部进展期)"  # a stage that opens a condition (局部晚期非小细胞肺癌)
BARE_STAGE = re.compile(rf"(?<=.){PHASES}$|^{PHASES}$")
STAGE = re.compile(rf"^{STAGES}$")
MODIFIER = re.compile(rf"^[^\s]{{1,5}}性$|^[急慢轻中重]$|^[轻中重]度$|^{STAGES}$")
LEADING_MODIFIER = re.compile(r"^(?:[^\s]{1,3}性|[轻中重]度)")
ORGANISMS = "(?:菌|菌属|病毒|支原体|衣原体)"
RUN_ON = re.compile(rf"(?<=..)(?:炎|溃疡|疱疹|皮疹)(?=[^性症炎、，]{{2}}[\u4e00-\u9fff]*(?:炎|疡|疹|病|症)$)(?!.*{ORGANISMS})")
HEADS = ("溃疡", "绞痛", "疼痛", "感染", "出血", "外伤", "关节炎", "炎", "癌", "病", "症", "痛")
CRITERIA = re.compile(r"符合(?:下列|下述|以下|如下)[^：:，,。]*?(?:条件|标准)的?")
INTRO = re.compile(r"^[^：:]*(?:下列|下述|如下|以下(?:疾病|情况|感染))[^：:]*[：:]")  # 用于下列感染： introduces the list after it
HEADING = re.compile(r"^[^：:，,、]{1,8}(?:疾病|状态|系统)[：:](?=.)")  # 皮肤疾病：天疱疮、…: the category names no use
USE = re.compile(r"^(.*?)(?:应用|适用|用)于")  # the clause's first 用于: what follows is what the drug is for
NEGATED = re.compile(r"不|禁|慎|勿|避免|无效")
POPULATION = re.compile(r"(?:患者|病人)中")
PATIENT = re.compile(r"(?<=.{2})(?:成人|成年|儿童)?(?:患者|病人).*$")  # 2型糖尿病成人患者改善血糖控制
CAUSED = re.compile(r"^(.+?)(?:所?引起|所?致|所?导致|所?造成)的")
SYMPTOMS = re.compile(r"(?:症状|体征)$")
DISEASE_END = re.compile(r"(?:症|病|炎|癌|瘤|不足|缺乏|障碍)$")
JOINED_ORGANS = re.compile(r"胃十二指肠")  # 胃十二指肠溃疡 names two ulcers
SHARED_HEAD = re.compile(  # 脑、子宫等外伤; 肺、肝等富有…的脏器的外伤: the organs share the head after 等
    r"((?:[\u4e00-\u9fff]{1,4}、)+[\u4e00-\u9fff]{1,4})等(?:[^、，,的]{0,16}?(?:脏器|器官|部位|组织)的)?"
    r"([\u4e00-\u9fff]{1,3}?)(?=$|或|和|及|、)")
DISEASE_CHAR = re.compile(r"[炎病症征癌瘤痛伤染血疡疹痹]$")
NAMES_CONDITION = re.compile(
    r"[炎病症征癌瘤痛伤染血疡疹痹肿]$|(?:菌|菌属|病毒|衰竭|腹水|障碍|不全|综合征|疾患|病变|损害|不良|异常|缺乏|不足|减退|亢进|"
    r"休克|中毒|梗死|梗塞|栓塞|硬化|结石)$")
NOT_CONDITION = re.compile(  # an effect, a time point, a drug or a drug class: not a condition
    r"(?:酶|蛋白|转氨|胆固醇|甘油三酯|抗原|病毒).*(?:升高|增高|降低|下降|阳性|阴性|活跃|复制)$|"
    r"^(?:学习|记忆|复发|再发|防止|替代|形成|自然|人工|产科|恐惧感?)$|(?:镇静|催眠|麻醉|镇痛|利尿|导泻)$|^不伴|^累及|(?:情况下|时间内|期间|开始|进展)$|本品|"
    r"^(?:降低|减少|减慢|促进|增加|提高|抑制|排泄|消除|接触|呈|具有|不能|无法|不可|恢复|补充|延长|因|为|舌[质苔红淡尖边体]|脉[浮沉细数弦滑迟缓紧濡]|苔)|[（）()其]|(?:后|以外|证据)$|作为|(?:药物?|剂|激素|类|素)$|"
    rf"^(?:{'|'.join(SALT_PREFIXES)})"
)
ABBREVIATION = re.compile(r"^[\x00-\x7f\s]+$")
MIN_PHRASE = 2
MAX_PHRASE = 24


def extract_indications(text: str) -> list[str]:
    """Splits a drug's indications text into indication phrases (package-insert style Chinese)."""
    phrases: list[str] = []
    for sentence in _sentences(text):
        inner = [found for found in PAREN.findall(sentence) if not (ABBREVIATION.match(found) or NOT_INNER.search(found))]
        parts = (CLASS_OF_EXAMPLES.sub("", PAREN.sub("", sentence)), *inner)
        for clause in [c for part in parts for c in CLAUSE.split(COMBINED.sub("", part))]:
            effective = EFFECTIVE.match(clause.strip())
            clause = effective.group(1) if effective else clause
            restricted = _restricted(_purpose(clause))
            if restricted:
                if restricted not in phrases:
                    phrases.append(restricted)
                continue
            clause = _listed(clause)
            if not clause:
                continue
            purpose = _purpose(clause)
            for phrase in _phrases(purpose):
                if ORGANISM.search(phrase):  # 敏感葡萄球菌属、链球菌属所致的…感染: an organism names its infection
                    infection = ORGANISM_INFECTION.search(clause)
                    phrase = phrase + (infection.group(1) if infection else "感染") if CAUSED_BY.search(clause) else ""
                if (MIN_PHRASE <= len(phrase) <= MAX_PHRASE and not NOT_PHRASE.search(phrase)
                        and not NOT_CONDITION.search(phrase) and phrase not in phrases):
                    phrases.append(phrase)
    return phrases


ORGANISM = re.compile(f"{ORGANISMS}$")
CAUSED_BY = re.compile(r"所致|引起|导致")
ORGANISM_INFECTION = re.compile(r"(?:所致|引起|导致)的?((?:严重|重症)?(?:侵袭性)?感染)(?:$|[，,；;。、])")
LIST_CAUSE = re.compile(r"(?:引起|所致|导致)的?$")
QUALIFYING_LIST = re.compile(r"^.*、[^、]*控制[^、的]*的([^、的]+)$")


def _listed(clause: str) -> str:
    """The clause without the list items that speak of dosage, trials or cautions; nothing when its first item
    does or its last names the list a cause (不宜用于A、B; 由A、B引起), since such a cue scopes over the list."""
    qualifier = QUALIFYING_LIST.match(clause)
    if qualifier:  # 饮食控制、减轻体重不能有效控制其高血糖的2型糖尿病: the list qualifies the condition after 的
        clause = qualifier.group(1)
    items = clause.split("、")
    if NOT_CLAUSE.search(items[0]) or LIST_CAUSE.search(items[-1]):
        return ""
    return "、".join(item for item in items if not NOT_CLAUSE.search(item))


def _sentences(text: str) -> list[str]:
    """Sentences and numbered items, without those that speak of dosage, trials or cautions."""
    items = ENUMERATION.split(JOINED_ORGANS.sub("胃、十二指肠", text))
    criteria = next((n for n, item in enumerate(items) if CRITERIA.search(item)), None)
    if criteria is not None:  # 用于符合下列条件的早泄患者：1、… lists who qualifies, not what is treated
        items = [*items[:criteria], CRITERIA.sub("", items[criteria])]
    sentences = [HEADING.sub("", INTRO.sub("", s.strip())) for item in items for s in SENTENCE.split(item)]
    return [s for s in sentences if s and not NOT_SENTENCE.search(s)
            and not (NEGATED_SENTENCE.search(s) and not STATED_USE.search(s))]


def _purpose(clause: str) -> str:
    """What a clause says the drug is for: the text after its first 用于 (nothing if that use is negated), and a
    condition that causes the symptoms listed after it (慢性肾炎所致的水肿、蛋白尿等症状) rather than the symptoms;
    a single condition after 引起的 (慢性肾病引起的贫血) is kept by _trim."""
    use = USE.match(clause)
    if use:
        if NEGATED.search(use.group(1)):
            return ""
        clause = clause[use.end():]
    caused = CAUSED.match(clause)
    if caused and DISEASE_END.search(_lead(caused.group(1))) and SYMPTOMS.search(clause):
        return caused.group(1)
    return clause


def _restricted(clause: str) -> str | None:
    """病毒复制活跃、转氨酶持续升高的慢性乙型肝炎 → 慢性乙型肝炎（病毒复制活跃、转氨酶持续升高）: when every item
    before the last 的 restricts the condition after it (a finding, a stage, 不能手术), the restriction is part of
    the indication and stays beside it, rather than being read as conditions or dropped."""
    found = RESTRICTED.match(TRAILER.sub("", _lead(clause)).strip())
    if not found:
        return None
    if NOT_CLAUSE.search(found.group(2)):
        return None
    items = [PREFIX.sub("", item).strip("的") for item in CONJUNCTION.split(found.group(1))]
    condition = _trim(found.group(2))
    if not all(RESTRICTION.search(item) for item in items) or not DISEASE_END.search(condition):
        return None
    return f"{condition}（{'、'.join(item for item in items if item)}）"


def _phrases(clause: str) -> list[str]:
    """A clause's conditions: lead-in and trailer trimmed, enumerations split and expanded."""
    led = _lead(clause)
    shared = SHARED_CAUSE.match(led)
    if shared and all(EXPOSURE.search(item) and not CAUSED_BY.search(item)
                      for item in CONJUNCTION.split(led[:shared.start(1)]) if item):
        led = shared.group(1)
    led = ONE_THING.sub(rf"\1{KEPT_AND}", led)
    parts = [_trim(p.replace(KEPT_AND, "和")) for p in CONJUNCTION.split(SHARED_HEAD.sub(_distribute, led))]
    parts = [run for part in parts for run in _unrun(part)]
    return [p for p in _expand(parts) if p]


def _distribute(found: re.Match) -> str:
    """脑、肺、子宫等外伤 → 脑外伤、肺外伤、子宫外伤: parts that name no condition share the head after 等."""
    parts = found.group(1).split("、")
    if any(DISEASE_CHAR.search(part) for part in parts):
        return found.group(0)
    return "、".join(part + found.group(2) for part in parts)


def _lead(phrase: str) -> str:
    """A clause without its lead-in (本品适用于, 可用于治疗, 如, 成人的)."""
    return PREFIX.sub("", LEAD_IN.sub("", phrase.strip(), count=1)).strip()


def _trim(phrase: str) -> str:
    """The condition alone: no lead-in, no 'of the treatment' trailer, no cause before 引起的; 严重的各类X
    keeps its severity as 严重X."""
    if POPULATION.search(phrase):  # 免疫缺陷患者中…的感染: who among the patients, not what is treated
        return ""
    phrase = PATIENT.sub("", phrase.strip())
    severe = SEVERE.match(phrase)
    if severe:
        return "严重" + _trim(phrase[severe.end():])
    for _ in range(3):
        before = phrase
        phrase = TRAILER.sub("", _lead(phrase)).strip()
        cause = CAUSE.match(phrase)
        if cause:  # 药物引起的锥体外系疾患 is 药源性锥体外系疾患: a drug as the cause is part of the condition
            phrase = (cause.group(1) + cause.group(2)
                      if ORGANISM.search(cause.group(1)) and ORGANISM_INFECTION.match("所致" + cause.group(2))
                      else cause.group(1) if GENERIC.match(cause.group(2))
                      else "药源性" + cause.group(2) if DRUG_CAUSE.search(cause.group(1)) else cause.group(2))
        qualified = QUALIFIED.match(phrase)
        if qualified:
            head, related, tail = qualified.groups()
            phrase = (head if (related and related.endswith("伴有")) or GENERIC.match(tail)
                      else tail if STAGE.match(tail) and not NAMES_CONDITION.search(head)
                      else head + tail if tail.endswith("期") else tail)
        if phrase == before:
            break
    return phrase


def _unrun(phrase: str) -> list[str]:
    """脉络膜炎交感性眼炎 → 脉络膜炎, 交感性眼炎: a list run together without separators, split after an
    inflammation, ulcer or rash when what follows is itself a condition of four characters or more."""
    found = RUN_ON.search(phrase)
    return [phrase[:found.end()], *_unrun(phrase[found.end():])] if found else [phrase]


def _shared_tail(part: str, following: str) -> str:
    """髋关节 before 膝关节置换手术 is 髋关节置换手术: the next part names another site of the word this one ends
    with (at most two characters before it), then goes on."""
    word = part[-2:]
    at = following.find(word, 1)
    tail = following[at + len(word):]
    return part + tail if len(part) >= 3 and 0 < at <= 2 and tail and "等" not in tail else ""


def _expand(parts: list[str]) -> list[str]:
    """急、慢性肝炎, 中、重度痤疮 and 胃、十二指肠溃疡: a bare modifier or organ borrows the head of the next part."""
    out: list[str] = []
    for index, part in enumerate(parts):
        following = next((p for p in parts[index + 1:] if len(p) >= MIN_PHRASE and not MODIFIER.match(p)), "")
        if following and MODIFIER.match(part) and (not STAGE.match(part) or NAMES_CONDITION.search(following)):
            leading = LEADING_MODIFIER.match(following)
            modifier = part if part[-1] in "性度期" else part + (leading.group(0)[-1] if leading else "性")
            out.append(modifier + following[leading.end() if leading else 0:])
        elif following and len(part) == 1:
            head = following if following in HEADS else next(
                (h for h in HEADS if following.endswith(h) and len(following) > len(h)), "")
            out.append(part + head if head else part)
        elif following and not NAMES_CONDITION.search(part) and (shared := _shared_tail(part, following)):
            out.append(shared)  # 择期髋关节或膝关节置换手术: 髋关节 borrows 置换手术
        elif BARE_STAGE.match(part) and out and BARE_STAGE.search(out[-1]):  # 骨关节炎急性期和慢性期
            out.append(BARE_STAGE.sub("", out[-1]) + part)
        elif part in HEADS and index and len(parts[index - 1]) == 1:
            continue  # 胆、肾、肠等绞痛: the organs before took this bare head
        else:
            out.append(part)
    return out


def _pair(extracted: list[str], gold: list[str], test: Callable[[str, str], bool]) -> int:
    """Matches counted greedily, each phrase and each gold label used at most once, in text order."""
    unused = list(range(len(gold)))
    for phrase in extracted:
        hit = next((i for i in unused if test(phrase, gold[i])), None)
        if hit is not None:
            unused.remove(hit)
    return len(gold) - len(unused)


def _scores(matched: int, extracted: int, gold: int) -> dict[str, float]:
    precision = matched / extracted if extracted else 0.0
    recall = matched / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def measure_extraction(items: Iterable[EvalItem], matcher: Matcher | None = None) -> dict:
    """Precision/recall/F1 of extract_indications(item.reference) against item.gold, over all items.

    Exact: an extracted phrase equals a gold label after strip. Normalised: the scorer would credit the gold
    label for an answer that says only the phrase (`builder.eval.match`: folding, spelling variants, synonyms,
    a core or phrase covering the label without dropping a distinguishing modifier), so extraction and scoring
    mean one thing by "names a label". Each phrase and each gold label is matched at most once, in text order.
    """
    matcher = matcher or Matcher(load_synonyms())
    n = gold_total = extracted_total = exact = normalised = 0
    for item in items:
        phrases = extract_indications(item.reference or "")
        gold = list(item.gold)
        n += 1
        gold_total += len(gold)
        extracted_total += len(phrases)
        exact += _pair(phrases, gold, lambda p, g: p.strip() == g.strip())
        normalised += _pair(phrases, gold, lambda p, g: matcher.match(g, p).how is not None)
    return {"items": n, "gold": gold_total, "extracted": extracted_total,
            "exact": _scores(exact, extracted_total, gold_total),
            "normalised": _scores(normalised, extracted_total, gold_total)}
