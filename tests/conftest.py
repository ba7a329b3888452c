"""Shared fixtures: small input files the tests write themselves, and a way to run the real CLI."""

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
from click.testing import CliRunner, Result

from builder.cli import main
from tests.wheels import fetched_wheel, unpacked

DRUG_BLOCKS = [
    "阿莫西林\n药品类型:抗感染药，青霉素类\n别名:羟氨苄青霉素\n适应证:用于敏感菌所致的呼吸道感染、泌尿生殖道感染。\n禁忌证:对青霉素类药物过敏者禁用。\n用法用量:口服。成人一次0.5g，每6～8小时1次。",
    "布洛芬\n药品类型:解热镇痛药\n适应证:<p>用于缓解轻至中度疼痛&ldquo;如头痛&rdquo;、关节痛。</p>\n禁忌证:尚不明确。\n不良反应:1.胃肠道反应。2.头痛、头晕。",
    "对乙酰氨基酚\n禁忌证:尚不明确。\n别名:无",
]
QA_ROWS = [
    {"question": "高血压患者平时饮食要注意什么？", "answer": "建议低盐饮食，每日食盐不超过5克，多吃新鲜蔬菜水果。"},
    {"question": "感冒发烧38度需要去医院吗？", "answer": "体温38度左右可先物理降温、多喝水，持续不退或出现呼吸困难应及时就医。"},
    {"question": "\u3000胃痛吃什么药好？\u3000", "answer": "暂无"},
]


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list, encoding: str = "utf-8") -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding=encoding)
    return path


@pytest.fixture
def drug_file(tmp_path: Path) -> Path:
    return write_json(tmp_path / "drugs.json", DRUG_BLOCKS)


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "qa.jsonl", QA_ROWS)


def run(*args: str) -> Result:
    """Runs the real command in-process, as a user would type it (stderr kept apart)."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def llamafactory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """LLaMA-Factory's own code from its wheel (see tests/test_trainers.py), its `extras` too (the converter logs)."""
    pytest.importorskip("peft", reason="LLaMA-Factory's argument classes need peft: pip install '.[train]'")
    folder = tmp_path_factory.mktemp("llamafactory")
    wheel = fetched_wheel("llamafactory==0.9.5", folder)
    with unpacked(wheel, folder / "src", ("llamafactory", "llamafactory.data", "llamafactory.hparams",
                                          "llamafactory.extras")) as root:
        yield root
