"""Scoring model answers the way QiZhenGPT did: how many expert-annotated indications an answer hits.

For each item (QiZhen: "{药品}的适应病症") the answer is matched against the item's gold labels, and
the item passes criterion 1 when at least one label is hit, criterion 2 when at least 1/2 of them
are, criterion 3 when at least 2/3 are (integer arithmetic, so 2 of 4 passes 2 and 2 of 3 passes 3).
A model's row is the fraction of items passing each criterion (QiZhen's best: 91.49/82.98/72.34 %).

How an answer hits a label (folding, synonyms, label parts and modifiers, negation) is `builder.eval.match`;
reading answer files is `builder.eval.answers`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from builder.eval.match import FoldedAnswer, LabelHit, Matcher

# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ItemScore:
    entity: str | None
    question: str | None
    gold: tuple[str, ...]
    hits: tuple[LabelHit, ...]
    n_hit: int
    criteria: tuple[bool, bool, bool]


@dataclass(frozen=True)
class ScoreResult:
    model: str
    items: tuple[ItemScore, ...]

    def summary(self) -> dict:
        """Fractions of the scored items (those with gold labels) passing each criterion."""
        scored = [item for item in self.items if item.gold]
        n = len(scored)
        out: dict[str, float] = {"n": n}
        for k in range(3):
            out[f"criterion_{k + 1}"] = sum(item.criteria[k] for item in scored) / n if n else 0.0
        if len(self.items) != n:
            out["unscored"] = len(self.items) - n
        return out


def criteria(n_hit: int, n_gold: int) -> tuple[bool, bool, bool]:
    """QiZhen's three criteria: at least one, at least 1/2, at least 2/3 of the gold labels hit."""
    if n_gold <= 0:
        return (False, False, False)
    return (n_hit >= 1, n_hit * 2 >= n_gold, n_hit * 3 >= 2 * n_gold)


# ---------------------------------------------------------------- scoring and reports


def score(eval_set, answers: dict[int, str], model: str, synonyms: dict[str, set[str]] | None = None) -> ScoreResult:
    """Scores one model's answers (item index -> answer text) against every item's gold labels."""
    missing = [i for i in range(len(eval_set.items)) if i not in answers]
    if missing:
        raise ValueError(f"{len(missing)} items have no answer (first: index {missing[0]}); use read_answers")
    matcher = Matcher(synonyms)
    items = []
    for index, item in enumerate(eval_set.items):
        answer = FoldedAnswer(answers[index] or "")
        hits = tuple(matcher.match(label, answer) for label in item.gold)
        n_hit = sum(h.how is not None for h in hits)
        items.append(ItemScore(item.entity, item.question, tuple(item.gold), hits, n_hit,
                               criteria(n_hit, len(item.gold))))
    return ScoreResult(model, tuple(items))


def format_table(results: list[ScoreResult]) -> str:
    """QiZhen's table: one row per model, the three criteria as percentages to 2 decimals."""
    header = ["模型", "评测标准1", "评测标准2", "评测标准3"]
    rows = []
    for result in results:
        s = result.summary()
        rows.append([result.model] + [f"{s[f'criterion_{k}'] * 100:.2f}%" for k in (1, 2, 3)])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_audit_csv(results: list[ScoreResult], path: Path) -> None:
    """One row per model and item: counts, criteria, each hit as label→span (how), and the misses."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "entity", "question", "n_gold", "n_hit", "criterion_1", "criterion_2",
                         "criterion_3", "hits", "misses"])
        for result in results:
            for item in result.items:
                hits = " | ".join(f"{h.label}→{h.matched} ({h.how})" for h in item.hits if h.how)
                misses = " | ".join(h.label + (f" (negated: {h.negated})" if h.negated else "")
                                    for h in item.hits if not h.how)
                writer.writerow([result.model, item.entity or "", item.question or "", len(item.gold), item.n_hit,
                                 *(int(c) for c in item.criteria), hits, misses])
