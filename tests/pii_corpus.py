"""A seeded corpus for the PII scrubber: patient/doctor sentences with planted PII, and near-misses that hold none.

Every planted value is generated to be valid (ID numbers with their GB 11643 check character, card numbers
with their Luhn digit), so a miss is the scrubber's fault; near-misses carry the numbers medical text is
full of (doses, dates, lab values, approval numbers) and numbers that fail the very checks PII must pass.
"""

import datetime
import random
import re
from dataclasses import dataclass

from builder.quality.pii import ID_CHECK, ID_WEIGHTS, PLACEHOLDERS, luhn_valid, valid_id_number

SLOT = re.compile(r"\{(\w+)\}")
CONTEXT = 4  # characters of literal text either side that must survive around a placeholder


@dataclass(frozen=True)
class Sample:
    """A sentence as literal pieces and planted (type, value) pieces; near-misses plant nothing."""

    pieces: tuple[str | tuple[str, str], ...]

    @property
    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p[1] for p in self.pieces)

    @property
    def expected(self) -> str:
        return "".join(p if isinstance(p, str) else PLACEHOLDERS[p[0]] for p in self.pieces)

    @property
    def planted(self) -> list[tuple[str, str]]:
        """Each planted type with the window (placeholder and literal neighbours) the scrubbed text must hold."""
        windows = []
        for i, piece in enumerate(self.pieces):
            if isinstance(piece, tuple):
                left = self.pieces[i - 1][-CONTEXT:] if i > 0 else ""
                right = self.pieces[i + 1][:CONTEXT] if i + 1 < len(self.pieces) else ""
                windows.append((piece[0], left + PLACEHOLDERS[piece[0]] + right))
        return windows


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def id_check_char(first17: str) -> str:
    return ID_CHECK[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def luhn_digit(body: str) -> str:
    return next(d for d in "0123456789" if luhn_valid(body + d))


def birth_date(rng: random.Random) -> str:
    day = datetime.date(1930, 1, 1) + datetime.timedelta(days=rng.randrange(31000))
    return day.strftime("%Y%m%d")


REGIONS = ("110105", "110108", "310104", "440305", "440106", "510107", "330106", "420106", "320102", "610113")


def id_card(rng: random.Random) -> str:
    first17 = rng.choice(REGIONS) + birth_date(rng) + digits(rng, 3)
    check = id_check_char(first17)
    number = first17 + (check.lower() if check == "X" and rng.random() < 0.5 else check)
    return f"{number[:6]} {number[6:14]} {number[14:]}" if rng.random() < 0.15 else number


def bank_card(rng: random.Random) -> str:
    prefix = rng.choice(("622202", "622848", "621700", "623058", "436742", "524094", "622588", "625910"))
    body = prefix + digits(rng, rng.randint(16, 19) - len(prefix) - 1)
    number = body + luhn_digit(body)
    if rng.random() < 0.4:
        return rng.choice(" -").join(number[i:i + 4] for i in range(0, len(number), 4))
    return number


def mobile_digits(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + digits(rng, 9)


def mobile(rng: random.Random) -> str:
    number = mobile_digits(rng)
    sep = rng.choice(("", "", "", " ", "-"))
    grouped = f"{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"
    return rng.choice(("", "", "", "+86 ", "+86-", "86", "+86", "(+86)")) + grouped


def landline(rng: random.Random) -> str:
    if rng.random() < 0.2:
        sep = rng.choice(("-", " ", ""))
        return f"{rng.choice(('400', '800'))}{sep}{digits(rng, 3)}{sep}{digits(rng, 4)}"
    area = rng.choice(("010", "021", "020", "022", "025", "027", "028", "0571", "0755", "0512", "0371", "0851"))
    local = rng.choice("2345678") + digits(rng, 7 if len(area) == 3 else rng.choice((6, 7)))
    form = rng.randrange(6)
    if form == 0:
        return f"({area}){local}"
    if form == 1:
        return f"（{area}）{local}"
    if form == 2:
        return f"{area} {local[:-4]} {local[-4:]}"
    if form == 3:
        return f"{area}-{local}转{digits(rng, rng.randint(2, 4))}"
    if form == 4:
        return f"{area}{local}"
    return f"{area}-{local}"


def email(rng: random.Random) -> str:
    user = rng.choice("abcdefghijklmnopqrstuvwxyz") + "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyz0123456789._") for _ in range(rng.randint(3, 12)))
    user = user.rstrip("._")
    domain = rng.choice(("163.com", "qq.com", "126.com", "gmail.com", "sina.cn", "hospital.org.cn", "pumch.cn",
                         "outlook.com", "yeah.net", "mail.sysu.edu.cn"))
    return f"{user}@{domain}"


def url(rng: random.Random) -> str:
    site = rng.choice(("haodf.com", "dxy.cn", "guahao.com", "chunyuyisheng.com", "yixue.com.cn", "wsjkw.gov.cn",
                       "120ask.com", "medlive.cn", "xyz-clinic.net"))
    path = rng.choice(("", "", f"/doctor/{digits(rng, 5)}.html", f"/article?id={digits(rng, 4)}",
                       f"/kb/{rng.choice(('gxy', 'tnb', 'gm'))}/", "/"))
    form = rng.randrange(4)
    if form == 0:
        return f"https://www.{site}{path}"
    if form == 1:
        return f"http://m.{site}{path}"
    if form == 2:
        return f"www.{site}{path}"
    return site + path


def qq(rng: random.Random) -> str:
    return rng.choice("123456789") + digits(rng, rng.randint(4, 10))


def wechat(rng: random.Random) -> str:
    if rng.random() < 0.3:
        number = mobile_digits(rng)
        sep = rng.choice(("", " ", "-"))
        return f"{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"
    tail = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
                   for _ in range(rng.randint(5, 13)))
    return rng.choice(("wxid_", "", "", "Dr", "zhang", "li")) + rng.choice("abcdefghijklmnopqrstuvwxyz") + tail


def record_code(rng: random.Random) -> str:
    form = rng.randrange(4)
    if form == 0:
        return rng.choice(("ZY", "MZ", "BA", "H")) + digits(rng, rng.randint(6, 10))
    if form == 1:
        return rng.choice("123456789") + digits(rng, rng.randint(5, 11))
    if form == 2:
        return f"{rng.choice(('MZ', 'ZY', 'A'))}-{digits(rng, rng.randint(4, 8))}"
    return rng.choice("ABCDEFGH") + digits(rng, 5)


def bed_number(rng: random.Random) -> str:
    return str(rng.randint(1, 120)) + rng.choice(("", "床", ""))


def loose_bed(rng: random.Random) -> str:
    return str(rng.randint(1, 99)) + rng.choice(("床", "号床"))


SURNAMES_USED = "王李张刘陈杨黄赵吴周徐孙朱胡郭林罗郑梁宋唐韩冯邓曹彭肖田董袁潘蒋蔡杜魏吕丁沈姚卢姜崔钟谭陆汪廖贾韦邹孟熊秦"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华慧巧美红建平志鹏辉玲桂兰婷宇浩凯晨欣怡子轩梓涵俊"


def person(rng: random.Random) -> str:
    surname = rng.choice(("欧阳", "司马", "诸葛")) if rng.random() < 0.05 else rng.choice(SURNAMES_USED)
    return surname + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


PROVINCE_CITY = (("浙江省", "杭州市", ("西湖区", "上城区", "滨江区")), ("广东省", "深圳市", ("南山区", "福田区")),
                 ("江苏省", "南京市", ("鼓楼区", "玄武区")), ("四川省", "成都市", ("武侯区", "锦江区")),
                 ("湖北省", "武汉市", ("洪山区", "江汉区")), ("", "北京市", ("朝阳区", "海淀区", "东城区")),
                 ("", "上海市", ("浦东新区", "徐汇区")), ("山东省", "青岛市", ("市南区", "崂山区")))
STREETS = ("文三路", "学院路", "人民路", "中山大道", "建设街", "解放西路", "长安街", "南京东路", "幸福巷", "光明胡同")
ESTATES = ("阳光花园", "翠苑", "金色家园", "锦绣小区", "东方公寓", "和平新村", "世纪大厦")


def address(rng: random.Random) -> str:
    province, city, districts = rng.choice(PROVINCE_CITY)
    head = (province if rng.random() < 0.7 else "") + city + rng.choice(districts)
    if rng.random() < 0.35:
        return head + f"{rng.choice(ESTATES)}{rng.randint(1, 30)}{rng.choice(('栋', '幢', '号楼'))}" \
            f"{rng.randint(1, 6)}单元{rng.randint(1, 32)}{rng.randint(1, 4):02d}室"
    tail = rng.choice(("", f"{rng.randint(1, 30)}栋{rng.randint(1, 5)}单元{rng.randint(101, 2504)}室",
                       f"{rng.randint(101, 1804)}室", f"{rng.choice(ESTATES)}{rng.randint(1, 20)}幢"))
    return head + rng.choice(STREETS) + f"{rng.randint(1, 999)}号" + tail


def loose_address(rng: random.Random) -> str:
    """After a cue, an address need not open with a province: a street and number, or an estate and building."""
    if rng.random() < 0.5:
        return rng.choice(STREETS) + f"{rng.randint(1, 999)}号" + rng.choice(("", f"{rng.randint(101, 1804)}室"))
    return f"{rng.choice(ESTATES)}{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元{rng.randint(101, 2504)}室"


def birth(rng: random.Random) -> str:
    born = datetime.date(1930, 1, 1) + datetime.timedelta(days=rng.randrange(31000))
    return rng.choice((f"{born.year}年{born.month}月{born.day}日", f"{born:%Y-%m-%d}", f"{born:%Y.%m.%d}",
                       f"{born:%Y/%m/%d}", f"{born:%Y%m%d}", f"{born.year}年{born.month:02d}月"))


def plate(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    head = rng.choice("京津沪渝冀豫云辽黑湘皖鲁苏浙赣鄂桂甘晋蒙陕吉闽贵粤川宁琼") + rng.choice(letters)
    sep = rng.choice(("", "", "·", " "))
    if rng.random() < 0.3:  # new energy: D or F, then five
        return head + sep + rng.choice("DF") + "".join(rng.choice(letters[:8] + "0123456789") for _ in range(5))
    return head + sep + "".join(rng.choice("0123456789" + letters[:6]) for _ in range(4)) + rng.choice("0123456789")


VALUES = {"id_card": id_card, "bank_card": bank_card, "mobile": mobile, "landline": landline, "email": email,
          "url": url, "qq": qq, "wechat": wechat, "medical_record": record_code, "inpatient": record_code,
          "outpatient": record_code, "bed": bed_number, "loose_bed": loose_bed, "name": person, "address": address,
          "loose_address": loose_address, "birth_date": birth, "plate": plate}
PLANTED_AS = {"loose_bed": "bed", "loose_address": "address"}

TEMPLATES = {
    "id_card": ("身份证号码{id_card}请核对", "患者身份证：{id_card}，医保已登记。", "我的身份证号是{id_card}，能帮忙挂号吗？",
                "身份证号 {id_card} 。", "（身份证{id_card}）", "登记信息：张某，男，{id_card}，已婚。",
                "家属身份证号为“{id_card}”"),
    "bank_card": ("退款请打到银行卡{bank_card}，谢谢", "卡号：{bank_card}（工商银行）", "我的储蓄卡是{bank_card}。",
                  "费用已转到{bank_card}这张卡上", "账号 {bank_card}，户名李某", "信用卡{bank_card}被扣了两次款！"),
    "mobile": ("我的手机号是{mobile}，麻烦医生回电", "联系电话：{mobile}。", "有问题打{mobile}找我", "手机{mobile}（微信同号）",
               "家属电话 {mobile}，随时联系。", "请拨打{mobile}预约复诊！", "电话:{mobile}", "患者王某，{mobile}，住朝阳区"),
    "landline": ("科室电话{landline}，工作日可咨询", "预约请拨打{landline}。", "医院总机：{landline}（24小时）",
                 "客服热线 {landline} ，周一至周五", "有疑问可致电{landline}咨询药师", "挂号电话:{landline}，或现场挂号。"),
    "email": ("检查报告发我邮箱{email}，谢谢", "邮箱：{email}。", "请把片子发到 {email} 吧", "联系方式（{email}）",
              "我的邮箱是{email}，麻烦医生看一下", "E-mail:{email}"),
    "url": ("详情见{url}，里面有说明", "可以在{url}上预约专家号。", "参考资料：{url}", "我在网上（{url}）查到的",
            "官网 {url} 有介绍", "医院网站是{url}吗？"),
    "qq": ("我的QQ：{qq}，方便的话加一下", "qq号{qq}，随时联系", "加我扣扣{qq}吧", "QQ号码是{qq}。", "Q号：{qq}，备注看病",
           "有事QQ {qq}", "病友QQ群：{qq}，欢迎加入！"),
    "wechat": ("加我微信：{wechat}，发片子给你", "微信号是{wechat}，备注姓名", "vx：{wechat}", "医生，我VX {wechat}，方便加一下吗",
               "wx:{wechat}，晚上联系", "V信{wechat}。", "我的微信{wechat}，谢谢医生！"),
    "medical_record": ("病历号：{medical_record}，请调出上次记录", "病案号{medical_record}。", "我的ID号:{medical_record}，麻烦查一下",
                       "病历号为 {medical_record}，检查单在系统里"),
    "inpatient": ("患者住院号：{inpatient}，请核对医嘱", "住院号{inpatient}，出院小结已打印。", "（住院号：{inpatient}）",
                  "住院号码 {inpatient}，明天手术"),
    "outpatient": ("门诊号：{outpatient}，挂的内分泌科", "就诊卡号{outpatient}，余额不足", "门诊号为{outpatient}。",
                   "我的门诊号 {outpatient} 查不到报告"),
    "bed": ("床号：{bed}，护士请注意", "患者住院号在病历上，床号{bed}。", "床号: {bed}，昨晚发热"),
    "loose_bed": ("{loose_bed}患者今晨体温38.5℃", "请去{loose_bed}换药", "{loose_bed}的病人需要吸氧，", "隔壁{loose_bed}家属说"),
    "name": ("患者{name}，男，45岁，主诉头痛3天。", "病人{name}，女，于今晨入院", "姓名：{name}，性别：女", "我叫{name}，今年32岁",
             "家属{name}签字同意手术。", "谢谢{name}医生的耐心解答！", "尊敬的{name}主任：您好", "患儿{name}，3岁，发热两天",
             "联系人：{name}（女儿）", "签名：{name}\n", "以上建议仅供参考。——{name}", "我叫{name}，在外院就诊过"),
    "address": ("家住{address}，近期咳嗽", "地址：{address}。", "我住在{address}，离医院远吗？", "寄到{address}，谢谢",
                "（{address}）", "，{address}，", "现住址：{address}，联系电话见病历"),
    "loose_address": ("家住{loose_address}，近期咳嗽", "地址：{loose_address}。", "请寄到{loose_address}，谢谢"),
    "birth_date": ("出生日期：{birth_date}，血型A", "生日是{birth_date}，今年体检", "患者出生于{birth_date}，足月顺产",
                   "出生年月：{birth_date}。", "我{birth_date}出生？不，我的生日{birth_date}"),
    "plate": ("车牌号{plate}，停在医院负一层", "我的车是{plate}，", "停车场登记：{plate}。", "（车牌{plate}）",
              "送病人来的{plate}挪一下车"),
}
WIDE = str.maketrans({chr(0x21 + i): chr(0xFF01 + i) for i in range(94)})  # ASCII to full width
MIXED = ("联系人电话{mobile}，邮箱{email}。", "姓名：李某，身份证{id_card}，手机{mobile}",
         "住院号：{inpatient}，床号：{bed}，科室电话{landline}", "加微信{wechat}或者QQ：{qq}都可以",
         "请将费用退至银行卡{bank_card}，有问题打{mobile}", "预约网址{url}，客服{landline}")
PER_TEMPLATE_KIND = 40
MIXED_COUNT = 60


def widen(value: str, rng: random.Random) -> str:
    """The value typed in full width, all of it or some characters: a phone or ID number keyboarded in a Chinese
    input method."""
    if rng.random() < 0.5:
        return value.translate(WIDE)
    return "".join(c.translate(WIDE) if rng.random() < 0.5 else c for c in value)


def plant(template: str, rng: random.Random, wide: float = 0.0) -> Sample:
    """Fills a template's slots with generated values (a loose bed number is planted as a bed, a loose address as
    an address); with probability `wide` a value is typed wholly or partly in full-width characters."""
    pieces: list[str | tuple[str, str]] = []
    for i, part in enumerate(SLOT.split(template)):
        if i % 2 == 0:
            pieces.append(part)
        else:
            value = VALUES[part](rng)
            pieces.append((PLANTED_AS.get(part, part), widen(value, rng) if rng.random() < wide else value))
    return Sample(tuple(pieces))


WIDE_SHARE = 0.2  # of planted values typed (partly) in full width


def pii_samples(rng: random.Random) -> list[Sample]:
    samples = [plant(rng.choice(templates), rng, WIDE_SHARE) for templates in TEMPLATES.values()
               for _ in range(PER_TEMPLATE_KIND)]
    return samples + [plant(rng.choice(MIXED), rng, WIDE_SHARE) for _ in range(MIXED_COUNT)]


def failed_id(rng: random.Random) -> str:
    """ID-shaped (region, real birth date) with a wrong check character."""
    first17 = rng.choice(REGIONS) + birth_date(rng) + digits(rng, 3)
    return first17 + rng.choice([c for c in "0123456789X" if c != id_check_char(first17)])


def failed_luhn(rng: random.Random) -> str:
    while True:
        number = rng.choice("123456789") + digits(rng, rng.randint(15, 18))
        if not luhn_valid(number) and not valid_id_number(number):
            return number


def long_run(rng: random.Random) -> str:
    """A phone number inside a longer digit run (barcode, order number): no digit boundary, no phone."""
    while True:
        run = rng.choice("123456789") + digits(rng, rng.randint(0, 5)) + mobile_digits(rng)
        run += digits(rng, rng.randint(1, 8))
        if not luhn_valid(run):  # a Luhn-valid run of 16-19 digits is a card number, by design
            return run


def day(rng: random.Random, sep: str) -> str:
    return f"{rng.randint(2015, 2024)}{sep}{rng.randint(1, 12):02d}{sep}{rng.randint(1, 28):02d}"


NEAR_MISSES = (
    lambda r: f"每次{r.choice(('0.5', '0.25', '1', '1.5'))}g，每日{r.randint(2, 4)}次，饭后服用。",
    lambda r: f"阿莫西林{r.choice((250, 500))}mg，一日3次，疗程{r.randint(5, 14)}天",
    lambda r: f"布洛芬混悬液每次{r.choice(('2.5', '5', '7.5'))}ml，间隔4-6小时",
    lambda r: f"复查时间：{day(r, '-')}，空腹抽血。",
    lambda r: f"{r.randint(2015, 2024)}年{r.randint(1, 12)}月{r.randint(1, 28)}日做的胃镜，提示浅表性胃炎",
    lambda r: f"报告日期{day(r, '')}，结果已出",
    lambda r: f"采样日期{day(r, r.choice('/.'))}",
    lambda r: f"{day(r, '-')} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00 入院",
    lambda r: f"上午{r.randint(7, 11)}:{r.choice(('00', '30'))}-{r.randint(12, 17)}:{r.choice(('00', '30'))}门诊出诊",
    lambda r: f"空腹血糖{r.randint(4, 15)}.{r.randint(0, 9)}mmol/L，餐后2小时{r.randint(6, 20)}.{r.randint(0, 9)}mmol/L",
    lambda r: f"白细胞{r.randint(3, 20)}.{r.randint(0, 9)}×10^9/L，血小板{r.randint(80, 450)}×10^9/L",
    lambda r: f"血压{r.randint(100, 190)}/{r.randint(60, 120)}mmHg，心率{r.randint(50, 130)}次/分",
    lambda r: f"肌酐清除率<{r.choice((30, 50, 60))}ml/min者慎用，eGFR {r.randint(20, 120)}ml/min/1.73m²",
    lambda r: f"国药准字H{r.choice(('2005', '2010', '1902'))}{r.randint(1000, 9999)}，请认准正品",
    lambda r: f"批准文号：国药准字Z{r.randint(10000000, 99999999)}",
    lambda r: f"生产批号：{day(r, '')}{r.randint(1, 99):02d}，有效期至{r.randint(2025, 2028)}年",
    lambda r: f"批号{r.randint(100000, 999999)}{r.choice('ABC')}，产品合格",
    lambda r: f"患者，{r.choice(('男', '女'))}，{r.randint(1, 95)}岁，主诉头痛{r.randint(2, 30)}天",
    lambda r: f"身高{r.randint(150, 190)}cm，体重{r.randint(40, 110)}.{r.randint(0, 9)}kg，BMI {r.randint(180, 350) / 10}",
    lambda r: f"手术费用大约{r.randint(10000, 99999)}元，医保报销{r.randint(50, 90)}%",
    lambda r: f"挂号费¥{r.randint(5, 500)}.00，药费{r.randint(100, 9999)}.{r.randint(0, 99):02d}元",
    lambda r: f"建议每天步行{r.randint(6000, 15000)}步，饮水{r.randint(1500, 3000)}ml",
    lambda r: f"诊断：原发性高血压（I10），2型糖尿病（E11.{r.randint(0, 9)}）",
    lambda r: f"ICD编码{r.choice(('J45.901', 'K29.501', 'N18.300', 'C34.900', 'I25.103'))}，已上报",
    lambda r: f"糖化血红蛋白{r.randint(5, 12)}.{r.randint(0, 9)}%，有效率{r.randint(60, 99)}.{r.randint(0, 9)}%",
    lambda r: f"{r.randint(2000, 2023)}年确诊，规律服药至今",
    lambda r: f"编号{failed_id(r)}的样本已送检",
    lambda r: f"证件号{failed_id(r)}核验未通过，请重新输入",
    lambda r: f"条码：{failed_luhn(r)}，请扫码",
    lambda r: f"流水号 {failed_luhn(r)} 已作废",
    lambda r: f"单号{r.choice('12')}{r.choice('012')}{r.randint(100000000, 999999999)}已签收",
    lambda r: f"{r.choice('23456789')}{r.randint(1000000000, 9999999999)}是标本编号",
    lambda r: f"订单号{long_run(r)}，已发货",
    lambda r: f"样本条码：{long_run(r)}",
    lambda r: f"参考范围{r.randint(30, 49) / 10}-{r.randint(50, 69) / 10}mmol/L，心率{r.randint(60, 80)}-100次/分",
    lambda r: f"QT间期{r.randint(380, 480)}ms，QRS波{r.randint(80, 120)}ms，PR间期{r.randint(120, 200)}ms",
    lambda r: f"邮编{r.randint(100000, 999999)}，地址详见病历",
    lambda r: f"住院{r.randint(3, 30)}天，门诊随访{r.randint(1, 12)}个月，{r.choice(('卧床休息', '床头抬高30°', '绝对卧床2周'))}",
    lambda r: f"{r.choice(('我关注了医院的微信公众号', '病友在QQ群里说', '住院号忘记了', '床号还没安排', '门诊号在挂号单上'))}，{r.randint(2, 9)}天后复查",
    lambda r: f"检查报告.pdf共{r.randint(2, 12)}页，CT值{r.randint(20, 60)}HU",
    lambda r: f"{r.randint(2, 6)}床被子不够，病房共{r.randint(20, 60)}张床位",
    lambda r: f"红细胞计数{r.randint(3, 6)}.{r.randint(0, 9)}×10^12/L，血红蛋白{r.randint(90, 160)}g/L",
    lambda r: f"剂量{r.randint(1, 3)}-{r.randint(4, 6)}片/次，{r.randint(1, 3)}次/日",
    lambda r: f"No.{r.randint(10000, 99999)}处方，第{r.randint(1, 5)}页",
    lambda r: f"根据患者陈述，{r.choice(('头痛', '腹痛', '胸闷'))}已{r.randint(2, 9)}天，患者常出现{r.choice(('乏力', '口干'))}",
    lambda r: f"患者{r.choice(('王某', '张某某', '李氏', '应', '可', '于2019年确诊'))}，{r.randint(2, 9)}天前发热",
    lambda r: f"{r.choice(('请问李医生', '王大夫您好', '感谢主治医生', '问过刘主任', '周围医生都说'))}，{r.randint(2, 9)}天后复查",
    lambda r: f"宝宝出生后{r.randint(1, 24)}小时内接种，出生体重{r.randint(25, 40) / 10}kg",
    lambda r: f"{r.randint(1980, 2010)}年出生，{r.randint(2015, 2024)}年{r.randint(1, 12)}月确诊",
    lambda r: f"家住{r.choice(('朝阳区', '农村', '山区', '城里', '附近'))}，去{r.choice(('浙江省人民医院', '北京协和医院'))}方便",
    lambda r: f"住院部{r.randint(1, 12)}号楼{r.randint(2, 20)}层，{r.randint(1, 9)}号诊室",
    lambda r: f"新{r.choice('ABC')}型流感，HbA1c {r.randint(5, 12)}.{r.randint(0, 9)}%，CD{r.randint(3, 8)}+ T细胞",
    lambda r: f"服药{r.randint(2, 9)}天后好转。——{r.choice(('以上仅供参考', '祝早日康复', '医生回复'))}",
    lambda r: f"医生：我{r.choice(('母亲', '父亲', '孩子'))}{r.randint(2, 9)}年前患糖尿病，药品学名叫什么？我叫不出名字",
    lambda r: f"每日３次，每次{r.choice(('１', '２'))}片，血压１４０／９０ｍｍＨｇ，１２０急救",
    lambda r: "空腹血糖７．８ｍｍｏｌ／Ｌ，复查日期２０２３－１０－１２，拨打１２０或１２３２０",
)
NEAR_MISS_PER_KIND = 12


def near_misses(rng: random.Random) -> list[Sample]:
    return [Sample((make(rng),)) for make in NEAR_MISSES for _ in range(NEAR_MISS_PER_KIND)]


def corpus(seed: int = 20240524) -> tuple[list[Sample], list[Sample]]:
    """Planted-PII samples and near-miss samples, the same for a seed."""
    rng = random.Random(seed)
    return pii_samples(rng), near_misses(rng)
