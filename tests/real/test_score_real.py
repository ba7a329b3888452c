"""Scoring on QiZhen's real evaluation set (read in place from ../shared/data, never copied)."""

import re
from pathlib import Path

import pytest

from builder.eval.match import Matcher, load_synonyms
from builder.eval.score import format_table, score
from builder.eval.sets import load_eval_set

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EVAL = SHARED / "eval" / "药品适应症评测数据集.csv"

pytestmark = pytest.mark.skipif(not EVAL.is_file(), reason=f"real evaluation set {EVAL} is absent (it lives beside the repo)")

CLAUSE_MARK = re.compile(r"[，,；;：:。]")
SWAPS = {"原发": "继发", "继发": "原发", "急性": "慢性", "慢性": "急性", "1型": "2型", "2型": "1型", "左": "右",
         "右": "左", "膝": "髋", "髋": "膝", "甲型": "乙型", "乙型": "丙型", "丙型": "乙型", "上呼吸道": "下呼吸道"}


def test_own_text_scores_high_empty_zero_and_shuffled_low() -> None:
    eval_set = load_eval_set(EVAL)
    items = eval_set.items
    n = len(items)
    assert n == 94 and sum(len(i.gold) for i in items) == 442
    synonyms = load_synonyms()
    own = score(eval_set, {i: item.reference or "" for i, item in enumerate(items)}, "own label text", synonyms)
    empty = score(eval_set, dict.fromkeys(range(n), ""), "empty answers", synonyms)
    rotated = score(eval_set, {i: items[(i + 1) % n].reference or "" for i in range(n)}, "rotated by one", synonyms)
    print("\n" + format_table([own, empty, rotated]))
    mine, none, other = own.summary(), empty.summary(), rotated.summary()
    assert mine["n"] == none["n"] == other["n"] == 94
    assert min(mine["criterion_1"], mine["criterion_2"], mine["criterion_3"]) >= 0.98  # an expert gives 100 %
    assert none == {"n": 94, "criterion_1": 0.0, "criterion_2": 0.0, "criterion_3": 0.0}
    assert other["criterion_1"] < 0.4 and other["criterion_1"] < mine["criterion_1"] / 4
    assert other["criterion_3"] < 0.2


@pytest.mark.parametrize("form", ["本品并不治疗{}。", "本品对{}无效。", "没有证据表明本品可用于{}。", "本品可导致{}。",
                                  "{}是其常见不良反应。", "{}患者禁用。"])
def test_every_real_label_negated_or_as_a_cause_scores_no_hit(form: str) -> None:
    eval_set = load_eval_set(EVAL)
    answers = {i: "".join(form.format(label) for label in item.gold) for i, item in enumerate(eval_set.items)}
    result = score(eval_set, answers, "negated", load_synonyms())
    # a scope ends with its clause: the one label holding a comma (痛经，阿片瘾毒戒绝症状) is two clauses
    hits = [h for item in result.items for h in item.hits if h.how and not CLAUSE_MARK.search(h.label)]
    assert not hits, hits[:5]


def test_real_labels_with_a_modifier_swapped_never_match() -> None:
    matcher = Matcher(load_synonyms())
    pattern = re.compile("|".join(sorted(SWAPS, key=len, reverse=True)))
    labels = sorted({g for item in load_eval_set(EVAL).items for g in item.gold if pattern.search(g)})
    swapped = [(label, pattern.sub(lambda m: SWAPS[m.group()], label, count=1)) for label in labels]
    assert len(swapped) >= 30
    wrong = [(a, b) for a, b in swapped if matcher.match(a, f"用于{b}。").how or matcher.match(b, f"用于{a}。").how]
    assert not wrong
