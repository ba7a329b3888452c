"""PII scrubbing for Chinese medical text: contacts, ID and card numbers, record numbers, to typed placeholders.

Most answers hold no PII, so one cheap RE2 scan over the Arrow column picks the rows that might; only
those go through Python's `re`, whose lookarounds and validation callbacks (GB 11643 checksum, birth
date, Luhn) keep dosages, dates, lab values and other numbers as they are. Rules run in a fixed order:
links and e-mail first, then numbers announced by a cue word (QQ, 微信, 住院号), then bare numbers from
the most to the least checkable (ID number, bank card, mobile, landline).
"""

import datetime
import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from builder.kernels.scan import matching

PLACEHOLDERS: dict[str, str] = {
    "url": "[网址]",
    "email": "[邮箱]",
    "qq": "[QQ号]",
    "wechat": "[微信号]",
    "medical_record": "[病历号]",
    "inpatient": "[住院号]",
    "outpatient": "[门诊号]",
    "bed": "[床号]",
    "id_card": "[身份证号]",
    "bank_card": "[银行卡号]",
    "mobile": "[手机号]",
    "landline": "[电话号码]",
    "name": "[姓名]",
    "address": "[地址]",
    "birth_date": "[出生日期]",
    "plate": "[车牌号]",
}
RECORD_CUES = {"病历号": "medical_record", "病案号": "medical_record", "ID号": "medical_record",
               "住院号": "inpatient", "门诊号": "outpatient", "就诊卡号": "outpatient", "床号": "bed"}

TLD = r"(?i:com|cn|net|org|edu|gov|info)"  # bare domains only on these, so "E11.9" or "报告.pdf" stay
# RE2 candidates (no lookarounds): a digit run of 5+, a grouped number, a link or address, a cue word.
HAN = r"[\x{4e00}-\x{9fff}]"  # RE2 spelling; `_rule` turns it into Python's
# the common surnames that are not also common words' first character (于 高 白 方 金 石 马 …): a name after a weak
# cue (患者…) or before a title (…医生) must open with one of them
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡杜魏吕丁沈姚卢姜崔钟谭陆汪范"
            "廖贾夏韦邹孟熊秦邱尹薛闫段雷侯陶黎贺顾郝龚邵钱严覃武戴孔汤")
SURNAME = rf"(?:欧阳|司马|诸葛|上官|慕容|皇甫|令狐|[{SURNAMES}])"
WEAK_CUE = r"(?:患者|病人|病患|患儿|家属|联系人|收件人|就诊人)"
STRONG_CUE = r"(?:姓名|名字|签名|落款)"  # with a colon after it ("医生：" opens a question, not a name)
TITLE = r"(?:医生|大夫|主任|教授|护士长|护士|老师)"
GREETING = r"(?:尊敬的|亲爱的|感谢|谢谢|请问|咨询|您好|你好)"  # before a name and a title: "谢谢张伟医生"
PROVINCES = ("北京|天津|上海|重庆|河北|山西|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|海南|四川|贵州"
             "|云南|陕西|甘肃|青海|台湾|内蒙古|广西|西藏|宁夏|新疆|香港|澳门")
PLATE_REGIONS = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
STREET = r"(?:路|街|大街|大道|巷|弄|胡同)"
ESTATE = r"(?:小区|花园|公寓|新村|家园|大厦|苑)"
BIRTH_CUE = r"(?:出生日期|出生年月日|出生年月|出生于|出生|生日|生于)"
# RE2 candidates (no lookarounds): a digit run of 5+, a grouped number, a link or address, a cue word; digits and
# letters typed full width count as well (rules see the text folded to half width)
CANDIDATE = (
    rf"\d{{5}}|\d[- ]\d{{3}}|@|(?i:https?:|www\.)|\.{TLD}|[０-９Ａ-Ｚａ-ｚ＠]"
    r"|[Qq][Qq]|扣扣|Q号|微信|[VvWw][Xx]|[Vv]信|威信|病[历案]号|住院号|门诊号|床号|ID号|就诊卡号|\d号?床"
    rf"|{WEAK_CUE}[:：]?\s?{SURNAME}|{STRONG_CUE}[:：]|我叫|{GREETING}[，,]?\s?{SURNAME}|[-—－~～]\s*{SURNAME}"
    rf"|{STREET}\d|{ESTATE}\d|地址|住址|家住|住在|[{PLATE_REGIONS}][A-HJ-NP-ZＡ-Ｚ]|{BIRTH_CUE}"
)

BEFORE = r"(?<![0-9A-Za-z])"  # numbers glued to letters or digits are codes, not contacts
AFTER = r"(?![0-9A-Za-z])"
SEP = r"\s*(?:是|为)?\s*[:：]?\s*"  # between a cue and its value: "QQ：", "微信号是 ", "住院号为"
URL_CHAR = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
URL_END = r"[A-Za-z0-9\-_~/#=&%+]"  # a link does not end on the sentence's own punctuation
URL_PATH = rf"(?:/(?:{URL_CHAR}*{URL_END})?)?"
MOBILE = r"1[3-9]\d(?P<ms>[ -]?)\d{4}(?P=ms)\d{4}"
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
BANK_CUE = re.compile(r"银行卡|储蓄卡|信用卡|借记卡|卡号|账号|帐号|开户")


@dataclass(frozen=True)
class Rule:
    """A pattern whose named group `pii` is the part replaced, and the PII type of a match (None: keep it).

    `hint` (RE2 and `re` alike) is in every text the pattern can match, so a rule only runs where it may apply.
    """

    hint: str
    pattern: re.Pattern[str]
    classify: Callable[[re.Match[str]], str | None]


def valid_id_number(number: str) -> bool:
    """GB 11643: 18 characters, a real birth date at positions 7-14 and the weighted check character."""
    number = number.upper()
    if not re.fullmatch(r"\d{17}[\dX]", number) or not plausible_birth_date(number[6:14]):
        return False
    return ID_CHECK[sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True)) % 11] == number[17]


def plausible_birth_date(yyyymmdd: str) -> bool:
    """A calendar date from 1900 to today, so most 18-digit serials fail even before the checksum."""
    try:
        born = datetime.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return datetime.date(1900, 1, 1) <= born <= datetime.date.today()


def luhn_valid(number: str) -> bool:
    """The Luhn mod-10 check every bank card number carries in its last digit."""
    total = 0
    for i, digit in enumerate(map(int, reversed(number))):
        doubled = digit * 2 if i % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _digits(text: str) -> str:
    """The digits alone, for checks on numbers written in groups."""
    return re.sub(r"\D", "", text)


def _always(kind: str) -> Callable[[re.Match[str]], str]:
    """For rules whose pattern alone is proof enough."""
    return lambda match: kind


def _id_card(match: re.Match[str]) -> str | None:
    """Only numbers that pass GB 11643 (the last character may be x or X, groups may be spaced)."""
    return "id_card" if valid_id_number(_digits(match["pii"][:-1]) + match["pii"][-1]) else None


def _bank_card(match: re.Match[str]) -> str | None:
    """Luhn-valid 16-19 digits; an 18-digit one shaped like an ID (a mistyped ID) needs a card cue before it."""
    number = _digits(match["pii"])
    if not 16 <= len(number) <= 19 or not luhn_valid(number):
        return None
    looks_like_id = len(number) == 18 and number[0] != "0" and plausible_birth_date(number[6:14])
    cued = BANK_CUE.search(match.string, max(0, match.start() - 12), match.start())
    return "bank_card" if cued or not looks_like_id else None


def _record(match: re.Match[str]) -> str | None:
    """A record number holds a digit; the cue word names the type."""
    return RECORD_CUES[match["cue"]] if re.search(r"\d", match["pii"]) else None


# two characters that open a word, not a name, though their first is a surname ("根据患者陈述，", "周围医生")
NOT_NAMES = frozenset(
    "陈述 陈旧 黄疸 黄色 黄体 张力 周围 周身 周岁 周期 许多 许可 何时 何种 曾经 曾有 程度 范围 苏醒 黎明 严重 严格 汤药 段时 夏天 "
    "夏季 谢谢 钟点 顾虑 姜汤 丁香 杜绝 郑重 唐突 徐徐 胡乱 孙子 孔隙 武汉 钱财 邵阳 潘生 熊猫 林林 雷同 龚某 贾某 朱砂 蔡某 "
    "吴某 毛发 田间 宋体 罗汉 韩国 梁上 冯某 董事 袁某 蒋某 卢某 崔某 沈某 姚某 邹某 孟某 秦某 邱某 尹某 薛某 闫某 侯某 陶瓷 "
    "贺卡 郝某 覃某 戴上 汪某 廖某 夏某 韦某 谭某 陆续 陆某 魏某 吕某 邓某 曹某 彭某 肖某 杨梅".split()
)
NOT_FIRST = set("我你他她它您咱这那本该此其什怎哪谁多几不没很太也都就还")  # a pronoun or a question word: "我叫什么", "姓名：本人"
NOT_GIVEN = ("某", "氏", "先生", "女士", "同志", "医生", "医师", "护士", "老师", "大夫", "主任", "教授", "患者", "家属")


def _name(match: re.Match[str]) -> str | None:
    """A person's name: not two characters that open a common word, no stand-in name (某, 氏), no title in it."""
    name = match["pii"]
    if (name[:2] in NOT_NAMES or name[0] in NOT_FIRST or any(word in name[1:] for word in NOT_GIVEN)
            or not re.fullmatch(PY_HAN + "+", name)):
        return None
    return "name"


def _birth_date(match: re.Match[str]) -> str | None:
    """A date after a birth cue, if it is a date (month 1-12, day 1-31)."""
    parts = [int(p) for p in re.findall(r"\d+", match["pii"])]
    if len(parts) == 1:  # 19850612
        parts = [parts[0] // 10000, parts[0] // 100 % 100, parts[0] % 100]
    month, day = parts[1], parts[2] if len(parts) > 2 else 1
    return "birth_date" if 1 <= month <= 12 and 1 <= day <= 31 else None


def _plate(match: re.Match[str]) -> str | None:
    """A licence plate holds a digit after its region and letter; "苏ABCDE" is some other code."""
    return "plate" if re.search(r"\d", match["pii"][2:]) else None


def _rule(hint: str, pattern: str, classify: Callable[[re.Match[str]], str | None]) -> Rule:
    """ASCII digits and spaces, as in RE2, so the candidate scan and the rules agree on what a digit is; the rules
    read text folded to half width (`WIDTH`)."""
    return Rule(hint, re.compile(pattern, re.ASCII), classify)


PY_HAN = "[\u4e00-\u9fff]"
NAME_END = (r"(?=[，,。.、；;：:！!？?（(）)\s\x1f]|男|女|先生|女士|同志|岁|\d|$"  # what may follow a name in a sentence
            r"|签字|签名|同意|陪同|代诉|自诉|主诉|诉|说|称|表示|要求|反映|入院|就诊)")
ADMIN = (rf"(?:(?:{PROVINCES})(?:省|市|自治区|特别行政区)?)?(?:{PY_HAN}{{2,4}}?(?:市|州|盟))?"
         rf"(?:{PY_HAN}{{1,4}}?(?:区|县|旗))?(?:{PY_HAN}{{1,6}}?(?:镇|乡|街道))?")
BUILDING = r"(?:\d{1,3}(?:栋|幢|号楼|座))?(?:\d{1,2}单元)?(?:\d{1,5}(?:室|房))?"
ADDRESS = (rf"{ADMIN}(?:{PY_HAN}{{1,10}}?{STREET}\d{{1,5}}号(?:院)?(?:{PY_HAN}{{1,10}}?{ESTATE})?{BUILDING}"
           rf"|{PY_HAN}{{1,10}}?{ESTATE}\d{{1,3}}(?:栋|幢|号楼|座)(?:\d{{1,2}}单元)?(?:\d{{1,5}}室?)?)")
ADDRESS_CUE = "地址|住址|家住|住在|现住|寄到|送到|位于"
DATE = r"(?:19|20)\d{2}\s?(?:年\s?\d{1,2}\s?月(?:\s?\d{1,2}\s?[日号])?|[-./]\d{1,2}[-./]\d{1,2}|\d{4}(?!\d))"


RULES: tuple[Rule, ...] = (  # in this order: each rule sees the placeholders of the ones before
    _rule(r"(?i:https?://|www\.)", rf"(?P<pii>(?i:https?://){URL_CHAR}*{URL_END}"
          rf"|(?<![A-Za-z0-9.@/])(?i:www)\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+{URL_PATH})", _always("url")),
    _rule("@", r"(?<![A-Za-z0-9._%+-])(?P<pii>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
          r"(?![A-Za-z0-9])", _always("email")),
    _rule(rf"\.{TLD}", rf"(?<![A-Za-z0-9.@/_-])(?P<pii>(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+{TLD}"
          rf"(?![A-Za-z0-9-]){URL_PATH})", _always("url")),
    _rule("(?i:qq)|扣扣|Q号", rf"(?:(?<![A-Za-z])(?i:qq)|扣扣|Q(?=号))群?(?:号码?)?{SEP}(?P<pii>[1-9]\d{{4,10}})(?!\d)",
          _always("qq")),
    _rule("微信|威信|(?i:vx|wx)|[Vv]信", rf"(?:微信|威信|(?<![A-Za-z])(?i:vx|wx)|[Vv]信)(?:号码?)?{SEP}"
          rf"(?P<pii>{MOBILE}|[A-Za-z][-_A-Za-z0-9]{{5,19}})(?![-_A-Za-z0-9])", _always("wechat")),
    _rule("|".join(RECORD_CUES), rf"(?P<cue>{'|'.join(RECORD_CUES)})码?{SEP}(?P<pii>[A-Za-z0-9][-A-Za-z0-9]*床?)",
          _record),
    _rule(r"\d号?床", r"(?<![0-9A-Za-z.])(?P<pii>\d{1,3}号?床)(?![被单垫罩褥位])", _always("bed")),  # "12床", "3号床"
    _rule(BIRTH_CUE, rf"{BIRTH_CUE}(?:是|为|在|于)?[:：]?\s?(?P<pii>{DATE})", _birth_date),
    _rule("出生", rf"(?<!\d)(?P<pii>{DATE})\s?出生", _birth_date),
    _rule(f"[{PLATE_REGIONS}][A-Z]", rf"(?<![A-Za-z0-9])(?P<pii>[{PLATE_REGIONS}][A-HJ-NP-Z][·•\s-]?"
          r"(?:[DF][A-HJ-NP-Z0-9]{5}|[A-HJ-NP-Z0-9]{5}[DF]?|[A-HJ-NP-Z0-9]{4}[挂学警港澳]))(?![A-Za-z0-9])", _plate),
    _rule(ADDRESS_CUE, rf"(?:{ADDRESS_CUE})[:：]?\s?(?P<pii>{ADDRESS})", _always("address")),
    _rule(f"{STREET}\\d|{ESTATE}\\d", rf"(?<![\u4e00-\u9fff])(?P<pii>(?=(?:{PROVINCES})|{PY_HAN}{{2,4}}市){ADDRESS})",
          _always("address")),
    _rule(r"\d{6}", rf"{BEFORE}(?P<pii>[1-9]\d{{5}}(?P<is>[ -]?)(?:19|20)\d{{2}}[01]\d[0-3]\d(?P=is)\d{{3}}[\dXx])"
          rf"{AFTER}", _id_card),
    _rule(r"\d{4}[- ]?\d{4}", rf"{BEFORE}(?P<pii>\d{{16,19}}|\d{{4}}(?:[ -]\d{{4}}){{3}}(?:[ -]\d{{1,3}})?){AFTER}",
          _bank_card),
    _rule(r"1[3-9]\d[- ]?\d{4}", rf"{BEFORE}(?P<pii>(?:(?:\+86|86|[(（]\+?86[)）])[ -]?)?{MOBILE}){AFTER}",
          _always("mobile")),
    _rule(r"\d{3}[- ]?\d{3}", rf"{BEFORE}(?P<pii>(?:(?:[(（]0\d{{2,3}}[)）][ -]?|0\d{{2,3}}[- ])\d{{3,4}}[- ]?\d{{4}}"
          rf"|0(?:10|2\d|[3-9]\d{{2}})[2-9]\d{{6,7}})(?:转\d{{1,5}})?"  # area code, or one run of digits
          rf"|[48]00(?:[- ]?\d{{3}}[- ]?\d{{4}}|\d[- ]?\d{{3}}[- ]?\d{{3}})){AFTER}", _always("landline")),  # 400/800
    _rule(WEAK_CUE, rf"{WEAK_CUE}[:：]?\s?(?P<pii>{SURNAME}{PY_HAN}{{1,2}}){NAME_END}", _name),
    _rule(f"(?:{STRONG_CUE})[:：]|我叫", rf"(?:(?:{STRONG_CUE})[:：]\s?|我叫)(?P<pii>{PY_HAN}{{2,4}}?){NAME_END}", _name),
    _rule(GREETING, rf"{GREETING}[，,]?\s?(?P<pii>{SURNAME}{PY_HAN}{{1,2}}?)(?={TITLE})", _name),
    _rule("[-—－~～]", rf"[-—~～]{{1,2}}\s*(?P<pii>{SURNAME}{PY_HAN}{{1,2}}?)(?:{TITLE})?\s*(?=\x1f|$)", _name),  # a signature
)


WIDTH = {0xFF01 + i: 0x21 + i for i in range(94)} | {0x3000: 0x20}  # full-width ASCII and space, one for one
WIDEN = {half: full for full, half in WIDTH.items()}


def scrub_text(text: str, fake_key: bytes | None = None) -> tuple[str, Counter]:
    """Replaces every PII match in one string by its typed placeholder, or with `fake_key` (the build's seed and
    the conversation's id) by a fake of the same shape; counts what it replaced, per type."""
    folded = text.translate(WIDTH)
    return _scrub(text, [rule for rule in RULES if re.search(rule.hint, folded, re.ASCII)], fake_key)


def _scrub(text: str, rules: list[Rule], fake_key: bytes | None = None) -> tuple[str, Counter]:
    """Runs the rules that may apply, in order, on the text folded to half width (a number typed in full-width
    digits is the same number); each match is replaced in the text as written, whose characters line up with the
    folded text's one for one, so the rest keeps its width. A name found once is replaced wherever else the text
    repeats it. Fakes go in last, in place of marks no rule can match, so no rule reads a fake as PII."""
    counts: Counter = Counter()
    folded = text.translate(WIDTH)
    found: list[tuple[str, str]] = []  # (type, value as written), in the order their marks were made
    fakes = fake_key is not None and not SENTINELS.search(text)
    for rule in rules:
        spans = [(match.span("pii"), kind) for match in rule.pattern.finditer(folded)
                 if (kind := rule.classify(match)) is not None]
        if spans:
            counts.update(kind for _, kind in spans)
            news = [_mark(kind, text[start:end], found, fakes) for (start, end), kind in spans]
            text, folded = _replaced(text, spans, news), _replaced(folded, spans, news)
    for name in {value for kind, value in found if kind == "name"}:
        if name in text:
            counts["name"] += text.count(name)
            mark = _mark("name", name, found, fakes)
            text, folded = text.replace(name, mark), folded.replace(name, mark)
    if fakes and fake_key is not None:
        text = SENTINELS.sub(lambda m: fake(*found[ord(m[0]) - SENTINEL], fake_key), text)
    return text, counts


SENTINEL = 0xE000  # private-use characters: a text that holds one takes placeholders, not fakes
SENTINELS = re.compile("[\ue000-\uf8ff]")


def _mark(kind: str, value: str, found: list[tuple[str, str]], fakes: bool) -> str:
    """What stands in a PII value while the rules run: its placeholder, or a private-use mark its fake replaces."""
    found.append((kind, value))
    return chr(SENTINEL + len(found) - 1) if fakes else PLACEHOLDERS[kind]


def _replaced(text: str, spans: list[tuple[tuple[int, int], str]], news: list[str]) -> str:
    """The text with each span turned into its replacement."""
    pieces, last = [], 0
    for ((start, end), _), new in zip(spans, news, strict=True):
        pieces += [text[last:start], new]
        last = end
    return "".join(pieces) + text[last:]


FAKE_SURNAMES = "王李张刘陈杨黄赵吴周徐孙朱胡郭林罗郑梁宋唐韩冯邓曹彭肖田董袁潘蒋蔡杜魏吕丁沈姚卢姜崔钟"
FAKE_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧巧美红建平志鹏辉玲桂兰婷宇浩凯晨欣怡轩涵俊"
FAKE_PLACES = (("浙江省", "宁波市", "海曙区"), ("江苏省", "苏州市", "姑苏区"), ("四川省", "绵阳市", "涪城区"),
               ("湖南省", "株洲市", "芦淞区"), ("河北省", "保定市", "竞秀区"), ("福建省", "泉州市", "鲤城区"))
FAKE_STREETS = ("和平路", "建国路", "新华街", "胜利大道", "光华巷", "东风路", "青年路", "文化街")
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on a plate


def fake(kind: str, value: str, key: bytes) -> str:
    """A stand-in for a PII value: the same type and shape (separators, length, width; an ID number with its
    check character, a card number with its Luhn digit, a real calendar date), drawn from a generator seeded by
    `key` and the value, so one conversation names one person, number or place the same way throughout."""
    rng = random.Random(hashlib.blake2b(key + kind.encode() + value.encode(), digest_size=8).digest())
    half = value.translate(WIDTH)
    if kind == "name":
        return rng.choice(FAKE_SURNAMES) + "".join(rng.choice(FAKE_GIVEN) for _ in value[1:]) if len(value) < 4 \
            else rng.choice(("欧阳", "司马", "诸葛")) + "".join(rng.choice(FAKE_GIVEN) for _ in value[2:])
    if kind == "address":
        province, city, district = rng.choice(FAKE_PLACES)
        return f"{province}{city}{district}{rng.choice(FAKE_STREETS)}{rng.randint(1, 300)}号"
    if kind == "url":
        return rng.choice(("https://example.com/", "www.example.org", "example.cn"))
    if kind == "email":
        user, _, domain = half.partition("@")
        return _widened(_reshaped(user, rng) + "@" + domain, value)
    if kind == "wechat" and re.fullmatch(MOBILE, half):  # a WeChat id that is a phone number
        kind = "mobile"
    return _widened(_FAKES.get(kind, _reshaped)(half, rng), value)


def _reshaped(text: str, rng: random.Random, letters: str = "abcdefghijklmnopqrstuvwxyz", keep: str = "") -> str:
    """Each digit another digit (the first not 0), each letter another letter of the same case; the rest, and the
    characters in `keep`, kept."""
    out = []
    for i, c in enumerate(text):
        if c in keep:
            out.append(c)
        elif c.isdigit() and c.isascii():
            out.append(rng.choice("123456789" if i == 0 or not out or not out[-1].isdigit() else "0123456789"))
        elif c.isascii() and c.isalpha():
            pick = rng.choice(letters)
            out.append(pick.upper() if c.isupper() else pick.lower())
        else:
            out.append(c)
    return "".join(out)


def _poured(shape: str, chars: str) -> str:
    """`chars` in place of the digits and letters of `shape`, its separators kept ("110105 19491231 002X")."""
    it = iter(chars)
    return "".join(next(it) if c.isascii() and c.isalnum() else c for c in shape)


def _fake_id(half: str, rng: random.Random) -> str:
    born = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(24000))
    first17 = rng.choice(("110105", "310104", "440305", "510107", "330106")) + f"{born:%Y%m%d}" \
        + f"{rng.randrange(1000):03d}"
    check = ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]
    return _poured(half, first17 + (check.lower() if half[-1] == "x" else check))


def _fake_card(half: str, rng: random.Random) -> str:
    n = len(_digits(half))
    body = "62" + "".join(rng.choice("0123456789") for _ in range(n - 3))
    return _poured(half, body + next(d for d in "0123456789" if luhn_valid(body + d)))


def _fake_mobile(half: str, rng: random.Random) -> str:
    digits = _digits(half)
    core = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
    return _poured(half, digits[:-11] + core)  # a +86 prefix stays


def _fake_landline(half: str, rng: random.Random) -> str:
    digits = _digits(half)
    keep = 3 if digits[:3] in ("400", "800") or digits[:2] in ("01", "02") else 4  # the area code, or 400/800
    rest = rng.choice("23456789") + "".join(rng.choice("0123456789") for _ in range(len(digits) - keep - 1))
    return _poured(half, digits[:keep] + rest)


def _fake_birth(half: str, rng: random.Random) -> str:
    born = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(24000))
    if re.fullmatch(r"\d{8}", half):
        return f"{born:%Y%m%d}"
    parts = iter((f"{born.year}", f"{born.month}", f"{born.day}"))

    def part(match: re.Match[str]) -> str:  # "06" and "23" stay two digits, "6" takes what it needs
        return next(parts, "").zfill(len(match[0]))
    return re.sub(r"\d+", part, half)


_FAKES: dict[str, Callable[[str, random.Random], str]] = {
    "id_card": _fake_id, "bank_card": _fake_card, "mobile": _fake_mobile, "landline": _fake_landline,
    "birth_date": _fake_birth,
    "plate": lambda half, rng: half[:1] + _reshaped(half[1:], rng, PLATE_LETTERS, keep="DF"),  # D/F: new energy
}


def _widened(text: str, like: str) -> str:
    """`text` in the width of `like`: typed full width, a fake is full width too."""
    return text.translate(WIDEN) if like != like.translate(WIDTH) and len(text) == len(like) else text


FIELD = "\x1f"  # between a row's fields while they are scrubbed as one text; no rule reads across it


def scrub_columns(columns: list[pa.Array], among: list[pa.Array | None] | None = None,
                  fake_keys: list[bytes] | None = None) -> tuple[list[pa.Array], Counter]:
    """Scrubs the text columns of rows (a row's instruction, input and output: one conversation) together, so a
    name found in one field is replaced in all and a fake stands for the same value everywhere; nulls stay null.

    One RE2 scan per column picks the rows that may hold PII; on those few, one RE2 scan per rule picks the rules
    each row needs, so Python runs two or three patterns on a row rather than all of them. `among` (per column, or
    None): the rows a wider scan shared with other checks let through (it included CANDIDATE), to which that
    column's scan is narrowed. `fake_keys` (one per row) ask for fakes instead of placeholders (`fake`).
    """
    counts: Counter = Counter()
    masks = [matching(column, CANDIDATE, where) for column, where in zip(columns, among or [None] * len(columns),
                                                                          strict=True)]
    candidate = masks[0]
    for mask in masks[1:]:
        candidate = pc.or_(candidate, mask)
    if not pc.any(candidate).as_py():
        return columns, counts
    fields = list(zip(*(pc.filter(column, candidate).to_pylist() for column in columns), strict=True))
    texts = [FIELD.join(value or "" for value in row) for row in fields]
    folded = pa.array([text.translate(WIDTH) for text in texts], pa.string())
    hints = [pc.match_substring_regex(folded, rule.hint).to_pylist() for rule in RULES]
    keys = [fake_keys[i] for i in pc.indices_nonzero(candidate).to_pylist()] if fake_keys else [None] * len(texts)
    scrubbed: list[tuple[str | None, ...]] = []
    for row, text, key, *hits in zip(fields, texts, keys, *hints, strict=True):
        rules = [rule for rule, hit in zip(RULES, hits, strict=True) if hit]
        if text.count(FIELD) == len(row) - 1:
            text, found = _scrub(text, rules, key)
            parts: list[str | None] = list(text.split(FIELD))
        else:  # a field holds the separator itself: each field alone
            results = [_scrub(value or "", rules, key) for value in row]
            parts, found = [part for part, _ in results], sum((found for _, found in results), Counter())
        scrubbed.append(tuple(None if value is None else part for value, part in zip(row, parts, strict=True)))
        counts.update(found)
    return [pc.replace_with_mask(column, candidate, pa.array(new, column.type))
            for column, new in zip(columns, zip(*scrubbed, strict=True), strict=True)], counts
