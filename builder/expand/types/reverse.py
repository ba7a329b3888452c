"""Reverse questions: "哪些药可以用于治疗痛风？", answered with the knowledge base's entities whose extracted items of a
field (indications) include the condition, the answer saying it lists entities of this knowledge base, not all there
are. Only entities of one split's band are listed together (`sheet`), so one row per condition and band."""

import re
from collections.abc import Iterator

from pydantic import Field

from builder.expand.catalogue import Entry
from builder.expand.types.base import InstructionType, TypeRow, TypeSpec, TypeTally, text
from builder.expand.types.sheet import ITEMS, Entity, Sheet
from builder.hashing import hash64
from builder.quality.normalize import fold

CAUSED = re.compile(r"[^，。；;]*?(?:所致|引起|导致|造成|诱发)")  # a cause's rest of its clause: 胆石症引起的胆绞痛 treats
# the colic
DISEASE = re.compile(  # how the name of a disease or symptom ends: "治疗X" must name one, not an effect (镇咳, 化痰), a
    # sign of a syndrome (舌苔白腻, 量少色淡) or a body part (咽喉)
    r"(?:炎|病|症|癌|瘤|痛|热|咳|喘|出血|贫血|泻|便秘|疹|疮|伤|中毒|综合征|感染|衰竭|不全|失眠|水肿|结石|溃疡|"
    r"高血压|低血压|骨折|痢|疟|痹|痿|感冒|血症|梗死|梗塞|硬化|障碍|缺乏|增生|肥大|狭窄|麻痹|抽搐|惊厥|呕吐|眩晕|"
    r"头晕|耳鸣|瘙痒|脱发|不孕|不育|早泄|阳痿|遗精|黄疸|休克|失常|亢进|减退|紊乱|损伤|脱位|积液|结核|癫痫|痔)$")
EFFECT = re.compile(r"^[镇化止祛清补降利抗促解消通活安养益滋健和理温散宣平润][\u4e00-\u9fff]$")  # 镇咳, 止痛


class ReverseSpec(TypeSpec):
    texts = ("questions", "answer")
    sample = {"condition": "示例", "names": "甲、乙"}

    id: str = Field(description="the template id its rows carry (KIND.reverse_FIELD)")
    field: str = Field("indications", description="the field whose extracted items are the conditions")
    questions: list[str] = Field(min_length=1, description="phrasings: condition")
    answer: str = Field(description="condition, names (joined with 、)")
    min_records: int = Field(2, ge=1, description="a condition listed by fewer entities of a band is not asked")
    max_records: int = Field(10, ge=1, description="entities listed at most")



def stated_as_use(condition: str, text: str) -> bool:
    """The record writes the condition as it is (not one the extractor completed from a shared part: 急性和慢性白血病
    gives 急性白血病, which a reader could not find), at least once not as the cause of what the drug is for."""
    return any(not CAUSED.match(text, found.end()) for found in re.finditer(re.escape(condition), text))


class Reverse(InstructionType):
    name = "reverse"
    spec = ReverseSpec

    def check(self, spec: TypeSpec, entries: dict[str, Entry], kind: str) -> list[str]:
        assert isinstance(spec, ReverseSpec)
        return super().check(spec, entries, kind) + (
            [] if spec.field in ITEMS else [f"field '{spec.field}' has no extracted items ({', '.join(ITEMS)})"])

    def rows(self, sheet: Sheet, spec: TypeSpec, entries: dict[str, Entry], seed: int,
             tally: TypeTally) -> Iterator[TypeRow]:
        assert isinstance(spec, ReverseSpec)
        listed: dict[tuple[int, str], tuple[str, list[Entity]]] = {}
        named: dict[tuple[int, str], set[str]] = {}  # the entities and names listed so far: one record each
        for entity in sheet:
            said = entity.context.get(spec.field) or ""
            for item in entity.conditions(spec.field):
                if DISEASE.search(item) and not EFFECT.match(item) and stated_as_use(item, said):
                    place = (entity.band, fold(item))
                    _, members = listed.setdefault(place, (item, []))
                    taken = named.setdefault(place, set())
                    if entity.entity not in taken and not entity.keys & taken:
                        members.append(entity)
                        taken.update({entity.entity, *entity.keys})
        for (_band, key), (condition, members) in sorted(listed.items(), key=lambda x: x[0]):
            tally.looked_at += 1
            if len(members) < spec.min_records:
                tally.skip("too_few_records")
                continue
            members = sorted(members, key=lambda e: hash64(seed, "reverse", key, e.record_id))[:spec.max_records]
            variant = hash64(seed, "ask", key) % len(spec.questions)
            tally.rows += 1
            yield TypeRow(members[0], spec.id, variant, text(spec.questions[variant])(condition=condition),
                          text(spec.answer)(condition=condition, names="、".join(m.name for m in members)),
                          companions=members[1:])
