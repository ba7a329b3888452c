"""A plug-in package adds components through entry points, and a build uses them: no edit of the builder.

The example plug-in (tests/plugin_example, walked through in CONTRIBUTING.md) is built as a wheel and installed
with the project's wheel into a new virtual environment (dependencies seen from this one, as in
test_install.py).
"""

import json
from pathlib import Path

import datasets
import pytest

from bench.fresh_install import REPO, build_wheel, make_venv, run_tool
from tests.conftest import write_jsonl

PLUGIN = Path(__file__).parent / "plugin_example"
QA = [
    {"question": "高血压患者平时饮食要注意什么？", "answer": "建议低盐饮食，每日食盐不超过5克，多吃新鲜蔬菜水果。"},
    {"question": "感冒发烧38度需要去医院吗？", "answer": "体温38度左右可先物理降温、多喝水，持续不退应及时就医。"},
    {"question": "胃痛吃什么药好？", "answer": "这个要具体看，想了解更多可预约付费咨询。"},  # not the built-in promotional
]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugins")
    wheels = [build_wheel(REPO, root / "dist"), build_wheel(PLUGIN, root / "dist")]
    return make_venv(root / "venv", wheels, reuse_deps=True)


def test_the_plugins_components_are_listed(venv: Path, tmp_path: Path) -> None:
    listed = run_tool(venv, tmp_path, "components").stdout
    assert "qa_text" in listed and "advertises" in listed and "plain_prompt_completion" in listed


def test_a_build_uses_the_plugins_reader_filter_and_format(venv: Path, tmp_path: Path) -> None:
    blocks = [f"问：{r['question']}\n答：{r['answer']}" for r in QA] + ["问：只有问题没有回答？"]
    (tmp_path / "qa.qa").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")  # read by the plug-in's reader
    args = ("build", "--qa", "qa.qa", "--split", "1,0,0", "--quiet")
    done = run_tool(venv, tmp_path, *args, "--out", "with", "--filter", "advertises", "--format", "plain_prompt_completion")
    assert done.returncode == 0, done.stderr
    rejects = [json.loads(line) for line in (tmp_path / "with" / "rejects.jsonl").read_text("utf-8").splitlines()]
    assert sorted((r["stage"], r["reason"], r["line"]) for r in rejects) == [("filter", "advertises", 7),
                                                                             ("read", "not_a_qa_pair", 10)]
    rows = datasets.load_dataset("json", data_files=str(tmp_path / "with" / "plain_prompt_completion" / "train.jsonl"),
                                 split="train").to_list()
    assert sorted(rows, key=lambda r: r["prompt"]) == sorted(
        ({"prompt": r["question"], "completion": r["answer"]} for r in QA[:2]), key=lambda r: r["prompt"])
    info = json.loads((tmp_path / "with" / "dataset_info.json").read_text(encoding="utf-8"))
    assert not any("plain_prompt_completion" in name for name in info)  # LLaMA-Factory does not read this format
    assert run_tool(venv, tmp_path, *args, "--out", "without").returncode == 0
    assert not (tmp_path / "without" / "plain_prompt_completion").exists()
    assert "付费咨询" in (tmp_path / "without" / "alpaca" / "train.json").read_text(encoding="utf-8")


def test_a_filter_that_is_not_installed_is_one_line(tmp_path: Path) -> None:
    from tests.conftest import run
    write_jsonl(tmp_path / "qa.jsonl", QA)
    result = run("build", "--qa", tmp_path / "qa.jsonl", "--out", tmp_path / "out", "--filter", "advertises")
    assert result.exit_code == 2 and "no installed plug-in filter 'advertises'" in result.stderr
