"""PII scrubbing for Chinese medical text: contacts, ID and card numbers, record numbers, to typed placeholders.

Most answers hold no PII, so one cheap RE2 scan over the Arrow column picks the rows that might; only
those go through Python's `re`, whose lookarounds and validation callbacks (GB 11643 checksum, birth
date, Luhn) keep dosages, dates, lab values and other numbers as they are. Rules run in a fixed order:
links and e-mail first, then numbers announced by a cue word (QQ, 微信, 住院号), then bare numbers from
the most to the least checkable (ID number, bank card, mobile, landline).
"""

import datetime
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

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
}
RECORD_CUES = {"病历号": "medical_record", "病案号": "medical_record", "ID号": "medical_record",
               "住院号": "inpatient", "门诊号": "outpatient", "就诊卡号": "outpatient", "床号": "bed"}

TLD = r"(?i:com|cn|net|org|edu|gov|info)"  # bare domains only on these, so "E11.9" or "报告.pdf" stay
# RE2 candidates (no lookarounds): a digit run of 5+, a grouped number, a link or address, a cue word.
CANDIDATE = (
    rf"\d{{5}}|\d[- ]\d{{3}}|@|(?i:https?:|www\.)|\.{TLD}"
    r"|[Qq][Qq]|扣扣|Q号|微信|[VvWw][Xx]|[Vv]信|威信|病[历案]号|住院号|门诊号|床号|ID号|就诊卡号|\d号?床"
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


def _rule(hint: str, pattern: str, classify: Callable[[re.Match[str]], str | None]) -> Rule:
    """ASCII digits and spaces, as in RE2, so the candidate scan and the rules agree on what a digit is."""
    return Rule(hint, re.compile(pattern, re.ASCII), classify)


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
    _rule(r"\d{6}", rf"{BEFORE}(?P<pii>[1-9]\d{{5}}(?P<is>[ -]?)(?:19|20)\d{{2}}[01]\d[0-3]\d(?P=is)\d{{3}}[\dXx])"
          rf"{AFTER}", _id_card),
    _rule(r"\d{4}[- ]?\d{4}", rf"{BEFORE}(?P<pii>\d{{16,19}}|\d{{4}}(?:[ -]\d{{4}}){{3}}(?:[ -]\d{{1,3}})?){AFTER}",
          _bank_card),
    _rule(r"1[3-9]\d[- ]?\d{4}", rf"{BEFORE}(?P<pii>(?:(?:\+86|86|[(（]\+?86[)）])[ -]?)?{MOBILE}){AFTER}",
          _always("mobile")),
    _rule(r"\d{3}[- ]?\d{3}", rf"{BEFORE}(?P<pii>(?:(?:[(（]0\d{{2,3}}[)）][ -]?|0\d{{2,3}}[- ])\d{{3,4}}[- ]?\d{{4}}"
          rf"|0(?:10|2\d|[3-9]\d{{2}})[2-9]\d{{6,7}})(?:转\d{{1,5}})?"  # area code, or one run of digits
          rf"|[48]00(?:[- ]?\d{{3}}[- ]?\d{{4}}|\d[- ]?\d{{3}}[- ]?\d{{3}})){AFTER}", _always("landline")),  # 400/800
)


def scrub_text(text: str) -> tuple[str, Counter]:
    """Replaces every PII match in one string by its typed placeholder; counts what it replaced, per type."""
    return _scrub(text, [rule for rule in RULES if re.search(rule.hint, text, re.ASCII)])


def _scrub(text: str, rules: list[Rule]) -> tuple[str, Counter]:
    """Runs the rules that may apply, in order (placeholders hold no digit, so no hint can appear late)."""
    counts: Counter = Counter()
    for rule in rules:
        text = rule.pattern.sub(partial(_replace, rule.classify, counts), text)
    return text, counts


def _replace(classify: Callable[[re.Match[str]], str | None], counts: Counter, match: re.Match[str]) -> str:
    """The match with its `pii` group turned into its type's placeholder (and counted), or as it was."""
    kind = classify(match)
    if kind is None:
        return match[0]
    counts[kind] += 1
    start, end = match.span("pii")
    return match.string[match.start():start] + PLACEHOLDERS[kind] + match.string[end:match.end()]


def scrub_array(values: pa.Array, among: pa.Array | None = None) -> tuple[pa.Array, Counter]:
    """Scrubs a string column; nulls stay null.

    One RE2 scan over the column picks the rows that may hold PII; on those few, one RE2 scan per rule
    picks the rules each row needs, so Python runs two or three patterns on a row rather than all of them.
    `among`, the rows a wider scan shared with other checks let through (it included CANDIDATE), narrows
    the first scan to them.
    """
    counts: Counter = Counter()
    candidate = matching(values, CANDIDATE, among)
    if not pc.any(candidate).as_py():
        return values, counts
    rows = pc.filter(values, candidate)
    hints = [pc.match_substring_regex(rows, rule.hint).to_pylist() for rule in RULES]
    scrubbed = []
    for text, *hits in zip(rows.to_pylist(), *hints, strict=True):
        text, found = _scrub(text, [rule for rule, hit in zip(RULES, hits, strict=True) if hit])
        scrubbed.append(text)
        counts.update(found)
    return pc.replace_with_mask(values, candidate, pa.array(scrubbed, values.type)), counts
