"""PII scrubbing on the real QA corpora in ../shared/data (read in place, never copied): real doctor–patient
text is full of what the new types look for (患者…, 医生：…, dates, 路/号), so every replacement they make there
was read and judged, and any other is a new judgement to make.
"""

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from builder.quality.pii import scrub_text

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TOYHOM = SHARED / "qa" / "toyhom_样例_内科5000-6000.csv"
SFT = SHARED / "qa" / "medicalgpt_sft_1k.jsonl"
NEW_TYPES = ("name", "address", "birth_date", "plate")
JUDGED = {  # each replacement of a new type in the two files, as (type, the text around it), read and judged
    ("name", "医生我叫窦磊，糖尿病患者"),  # the asker's own name
    ("address", "我去天津市和平区和平路26号这家医院"),  # a street address, though a hospital's
}

pytestmark = pytest.mark.skipif(not (TOYHOM.is_file() and SFT.is_file()),
                                reason="the shared QA corpora (../shared/data/qa) are absent")


def texts() -> list[str]:
    found: list[str] = []
    with TOYHOM.open(encoding="gb18030", errors="replace", newline="") as handle:
        for row in csv.reader(handle):
            found += row
    for line in SFT.read_text(encoding="utf-8").splitlines():
        for value in json.loads(line).values():  # strings, or conversation turns
            turns = value if isinstance(value, list) else [value]
            found += [t for turn in turns for t in (turn.values() if isinstance(turn, dict) else [turn])
                      if isinstance(t, str)]
    return found


def test_new_types_replace_only_what_was_judged_pii() -> None:
    replaced = Counter()
    for text in texts():
        out, counts = scrub_text(text)
        for kind in NEW_TYPES:
            if counts[kind]:
                replaced[kind] += counts[kind]
                assert any(k == kind and around in text for k, around in JUDGED), f"new {kind}: {text[:120]!r}"
    assert replaced == Counter(kind for kind, _ in JUDGED)
