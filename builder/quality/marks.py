"""Marks a free-text answer should not carry: promotion of a product or a channel, and word-spun text.

A mark is a label and RE2 patterns that must all match. One pass over the whole column with the marks'
hints (short patterns their matches contain) finds the few rows that may carry one, and only those go through
the marks one by one, so a removal names every mark it found. The patterns aim at precision: an answer that
names a drug, a dose, a lab value or a short hotline (120, 12320), or sends the patient to a hospital, carries
none of them.
"""

import re
from dataclasses import dataclass
from functools import cached_property

import pyarrow as pa
import pyarrow.compute as pc

from builder.kernels.scan import matching

D = "[0-9０-９]"  # a digit, half or full width
NO_DIGIT = "(?:^|$|[^0-9０-９])"
NO_WORD = "(?:^|$|[^0-9０-９A-Za-z.])"  # not inside a longer number, code, word or decimal


@dataclass(frozen=True)
class Mark:
    """What a detail calls the mark, the patterns that must all match for a text to carry it, and a hint: a short
    pattern every text the first one matches also matches, so that the pre-scan over every row stays a small,
    fast automaton."""

    label: str
    patterns: tuple[str, ...]
    hint: str


@dataclass(frozen=True)
class Marks:
    """Marks checked together: per text, the labels of those it carries."""

    marks: tuple[Mark, ...]

    @property
    def prescan(self) -> str:
        """Every mark's hint in one alternation: a row no mark can match fails it in one pass."""
        return "|".join(f"(?:{mark.hint})" for mark in self.marks)

    def details(self, values: pa.Array, among: pa.Array | None = None) -> pa.Array:
        """Per text, the labels of the marks it carries joined by ", ", or null when it carries none; `among`
        limits the work to the rows a wider scan shared with other checks (`candidates`) let through. The few rows
        left after this set's own pre-scan are matched in Python, each mark's patterns compiled once: an Arrow regex
        call compiles its pattern every time, which for dozens of marks cost more than the rows themselves."""
        passed = matching(values, self.prescan, among)
        found = pa.nulls(len(values), pa.string())
        if not pc.any(passed).as_py():
            return found
        compiled = self.compiled
        labels = [", ".join(label for label, patterns in compiled if all(p.search(text) for p in patterns)) or None
                  for text in values.filter(passed).to_pylist()]
        return pc.replace_with_mask(found, passed, pa.array(labels, pa.string()))

    @cached_property
    def compiled(self) -> tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]:
        return tuple((mark.label, tuple(map(re.compile, mark.patterns))) for mark in self.marks)


def prescan(*sets: Marks) -> str:
    """One alternation of the hints of every mark of these sets."""
    return "|".join(marks.prescan for marks in sets)


def candidates(values: pa.Array, *sets: Marks) -> pa.Array:
    """The rows a mark of any of these sets may match, found in one RE2 pass over the column."""
    return matching(values, prescan(*sets))


def mark(label: str, *patterns: str, hint: str | None = None) -> Mark:
    """A mark with its patterns written one after another; its hint is the first pattern unless given."""
    return Mark(label, patterns, patterns[0] if hint is None else hint)


PROMOTIONAL = Marks((
    mark("url", r"(?i:https?://|www\.)|(?:^|[^@A-Za-z0-9._%+-])(?i:[a-z0-9][a-z0-9-]*\.)+(?i:com|cn|net|org|cc|info)"
                r"(?:$|[^A-Za-z0-9-])"
                r"|\[网址\]|网址[:：]|(?:我们|我院|本院)(?:医院)?的?(?:网址|网站|官网)",
         hint=r"(?i:http|www\.)|\.(?i:com|cn|net|org|cc|info)|网址|网站|官网"),
    mark("contact_handle", r"\[(?:微信号|QQ号|邮箱)\]|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
                           r"|(?:^|[^A-Za-z])(?i:微信|威信|v信|vx|wx|qq|扣扣|q号)(?:号码?|群)?\s*(?:是|为)?\s*[:：]?\s*"
                           r"[A-Za-z0-9][-_A-Za-z0-9]{4,19}"
                           r"|加(?:我|医生|好友)?的?(?i:微信|威信|v信|vx|wx|qq|扣扣)|(?i:微信|qq|扣扣)上?(?:联系|加|找|私聊)我"
                           r"|私信(?:我|给我|联系)|私聊我|(?:关注|搜索|添加)(?:我的|我们的)?(?:微信)?公众号|公众号[:：“\"「《]",
         hint=r"微信|威信|扣扣|(?i:v信|vx|wx|qq|q号)|@|私信|私聊|公众号|邮箱"),
    mark("phone", r"\[(?:手机号|电话号码)\]"
                  rf"|{NO_WORD}(?:\+?86[- ]?)?1[3-9]{D}[- ]?{D}{{4}}[- ]?{D}{{4}}{NO_WORD}"
                  rf"|{NO_DIGIT}(?:[(（]0{D}{{2,3}}[)）][- ]?|0{D}{{2,3}}[-－ ]){D}{{7,8}}{NO_DIGIT}"
                  rf"|{NO_WORD}0(?:10|2{D}|[3-9]{D}{{2}})[2-9]{D}{{6,7}}{NO_DIGIT}"
                  rf"|{NO_WORD}[48]00[-－ ]?{D}{{3}}[-－ ]?{D}{{4}}{NO_DIGIT}"
                  rf"|(?:电话|热线|致电|拨打|座机|手机|联系方式)(?:号码?)?\s*(?:是|为)?\s*[:：]?\s*{D}{{7,}}",
         hint=rf"手机号|电话号码|{D}{{7}}|{D}[- －]{D}"),  # seven digits in a row, or digits around a separator
    mark("channel", r"点\.?击[^。！？!?\n]{0,15}(?:咨询|交流|对话|按钮|图标|专家|医生|详情|查看|链接|进入|头像|我)"
                    r"|在线(?:专家|医生|人员|客服|咨询|交流|对话|答疑)|在线(?:与|和)我|(?:与|和)我们?的?在线"
                    r"|(?:与|和)我们?(?:直接)?(?:实施|进行)?(?:对话|交流|细谈)|(?:与|和)我们联系|联系我们"
                    r"|打电话(?:进行)?咨询我|咨询热线|寄给我们|找我们的?专家",
         hint=r"点\.?击|在线|(?:与|和)我|联系我们|打电话|咨询热线|寄给我们|找我们"),
    mark("hospital", r"我院|本院|我们的(?:专家|医生|在线)"
                     r"|(?:我们|咱们)(?:医院|诊所)的?(?:用|采用|采取|专家|特色|开展|引进|研发|独家|专利|治疗|救治)",
         hint=r"我院|本院|我们的|(?:我们|咱们)(?:医院|诊所)"),
    mark("brand_pitch", r"请认准|认准[^。！？]{0,8}(?:品牌|牌子|商标|标志|防伪)|旗舰店|专卖店|专营店|厂家直销"
                        r"|限时(?:优惠|特价|抢购|折扣|促销)|优惠价|特价|包邮|扫(?:码|一扫)(?:关注|购买|下单|咨询|添加|领取)"
                        r"|扫[^。！？]{0,4}二维码|商城|下单|订购|购买链接|(?:客户|用户|顾客)(?:反馈|好评|评价)|好评率"
                        r"|免费(?:领取|试用|赠送|寄送)|买[一二三1-3]送[一二三1-3]|疗程装|货到付款|招商加盟"
                        r"|正品(?:保证|保障)|保证正品",
         hint=r"认准|旗舰店|专卖店|专营店|厂家直销|限时|优惠价|特价|包邮|扫|商城|下单|订购|购买链接|客户|用户|顾客|好评率"
              r"|免费|送|疗程装|货到付款|招商加盟|正品"),
    mark("cure_pitch", r"传统中药|祖传|秘方|良方|专方|(?:中药|独家)配方|我院|本院|药店即可买到",
         r"见效快|疗效确切|奇效|药到病除|百治百好|包治|(?:快速|彻底)(?:自愈|根治|治愈)|不(?:病发|复发|反冲)"
         r"|独到见解|疗效独特|确切疗效|最好最权威|奇方|临床实践累积|彻底(?:清除|消除)|快速修补|直击病灶"
         r"|很多患者(?:使用|治疗)后|西医[^。！？]{0,8}没有?(?:特效药|有效的?治疗|根治)"),
))

# Collocations a synonym-swapping "rewriter" leaves and a writer of Chinese does not: each label is the spun word
# and, in brackets, the word it replaced. None of them occurs in the drug or herb knowledge bases of ../shared/data.
SPUN = Marks((
    mark("放柔(加重)", r"放柔"),
    mark("提示音(提示)", r"提示音[^响后起的声，。、；,.;\s]", hint="提示音"),
    mark("扭动(蠕动)", r"(?:胃肠道?|肠道|肠胃|胃)扭动"),
    mark("进行咨询我(咨询)", r"的进行咨询|进行咨询我|为(?:您|你)购买"),
    mark("购买的资料(提供)", r"(?:你|您)所?购买的(?:资料|病情|信息|仔细检查|情况|数据|材料|实验报告|检测结果|检查|症状)"
                         r"|根据(?:你|您)所?购买"),
    mark("麻醉疫苗(注射)", r"麻醉(?:一支|三针|疫苗|乙肝|国产疫苗|免疫球蛋白)|(?:疫苗|球蛋白)麻醉"),
    mark("散播(传播)", r"(?:母婴|血液|碰触|截断|横向)散播"),
    mark("碰触(接触)", r"碰触(?:散播|传染|感染)|生活碰触|密切碰触|性碰触"),
    mark("擅长病情(适合)", r"擅长(?:你|您|自己|患者)?的?病情"),
    mark("决定一家(选择)", r"决定一家(?:权威|专业|正规|三甲)|决定大品牌"),
    mark("出售一台(购买)", r"出售一台|为老人出售"),
    mark("预防工作(预防)", r"预防工作(?:乙肝|癌症|动脉|骨质|作用|闹肚子)"),
    mark("监测数据(监测)", r"监测数据(?:血糖|血压|AFP)"),
    mark("打击食物(刺激)", r"辛辣打击|打击(?:性|行)?食物|打击寒冷|打击油炸"),
    mark("排便过饱(进食)", r"排便(?:过饱|极冷)"),
    mark("拥有范畴(属于)", r"拥有.{0,4}范畴", hint="范畴"),
    mark("超越目的(达到)", r"超越.{0,6}的目的|超越治疗效果", hint="超越"),
    mark("驯化(繁殖)", r"拷贝与驯化"),
    mark("配合动用(使用)", r"(?:互相|中药)配合动用"),
    mark("放慢康复(加快)", r"放慢康复"),
    mark("抗衡疾病(战胜)", r"抗衡疾病的信念"),
    mark("带给的(带来)", r"对患者们?带给的"),
    mark("避忌就诊(讳疾忌医)", r"避忌就诊"),
    mark("配置救治(辅助治疗)", r"配置救治|做为配置"),
    mark("理解救治(接受)", r"理解(?:对症|专业|正规)(?:救治|下药)|在理解(?:对症|专业|正规)治疗"),
    mark("生存护理(生活)", r"生存护理：|生存要规律"),
    mark("护理上班(工作)", r"护理上班"),
    mark("性别歧视(歧视)", r"性别歧视乙肝"),
))
