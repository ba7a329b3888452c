"""Scoring on QiZhen's real evaluation set (read in place from ../shared/data, never copied)."""

from pathlib import Path

import pytest

from builder.eval.match import load_synonyms
from builder.eval.score import format_table, score
from builder.eval.sets import load_eval_set

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
EVAL = SHARED / "eval" / "药品适应症评测数据集.csv"

pytestmark = pytest.mark.skipif(not EVAL.is_file(), reason=f"real evaluation set {EVAL} is absent (it lives beside the repo)")


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
    assert mine["criterion_1"] >= 0.95
    assert mine["criterion_1"] >= mine["criterion_2"] >= mine["criterion_3"] >= 0.8
    assert none == {"n": 94, "criterion_1": 0.0, "criterion_2": 0.0, "criterion_3": 0.0}
    assert other["criterion_1"] < 0.4 and other["criterion_1"] < mine["criterion_1"] / 4
    assert other["criterion_3"] < 0.2
